-- Schema version 7: a run's events, in one global order, for GET /v1/runs/{id}/events (SSE).
-- Written by triggers in the same transaction as what they report, so an event exists exactly
-- when its change does: state changes (and the run's creation), checkpoints, and metric points
-- (the stream batches consecutive points into one message). `seq` is the event id clients resume
-- from with Last-Event-ID; AUTOINCREMENT never reuses an id.
CREATE TABLE run_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('state', 'checkpoint', 'metric')),
    data        TEXT NOT NULL,
    created_at  REAL NOT NULL
);
CREATE INDEX run_events_by_run ON run_events(run_id, seq);

CREATE TRIGGER run_events_created AFTER INSERT ON runs BEGIN
    INSERT INTO run_events(run_id, kind, data, created_at)
    VALUES (NEW.id, 'state', json_object('state', NEW.state, 'attempt', NEW.attempt), NEW.created_at);
END;

CREATE TRIGGER run_events_state AFTER UPDATE OF state, attempt ON runs
WHEN NEW.state IS NOT OLD.state OR NEW.attempt IS NOT OLD.attempt BEGIN
    INSERT INTO run_events(run_id, kind, data, created_at)
    VALUES (NEW.id, 'state', json_object('state', NEW.state, 'attempt', NEW.attempt,
            'progress', json_object('completed', NEW.progress_completed, 'total', NEW.progress_total),
            'failure_reason', NEW.failure_reason), NEW.updated_at);
END;

CREATE TRIGGER run_events_checkpoint AFTER INSERT ON checkpoints BEGIN
    INSERT INTO run_events(run_id, kind, data, created_at)
    VALUES (NEW.run_id, 'checkpoint', json_object('id', NEW.id, 'step', NEW.step, 'size', NEW.size,
            'sha256', NEW.sha256, 'score', NEW.score, 'score_metric', NEW.score_metric), NEW.created_at);
END;

CREATE TRIGGER run_events_metric AFTER INSERT ON metric_points BEGIN
    INSERT INTO run_events(run_id, kind, data, created_at)
    VALUES (NEW.run_id, 'metric', json_object('key', NEW.key, 'step', NEW.step, 'value', NEW.value), NEW.time);
END;
