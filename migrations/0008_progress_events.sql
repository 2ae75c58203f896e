-- Schema version 8: progress events. A running run's progress (written with each heartbeat,
-- about once a second, and at each checkpoint) becomes a `progress` event of its stream, so a
-- client sees steps advance between metric points. The kind constraint of run_events admits it:
-- SQLite cannot alter a CHECK, so the table is rebuilt (rows, ids and the id counter kept) and
-- the triggers that write it are recreated.
DROP TRIGGER run_events_created;
DROP TRIGGER run_events_state;
DROP TRIGGER run_events_checkpoint;
DROP TRIGGER run_events_metric;

CREATE TABLE run_events_v8 (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('state', 'progress', 'checkpoint', 'metric')),
    data        TEXT NOT NULL,
    created_at  REAL NOT NULL
);
INSERT INTO run_events_v8(seq, run_id, kind, data, created_at) SELECT seq, run_id, kind, data, created_at FROM run_events;
DROP TABLE run_events;
ALTER TABLE run_events_v8 RENAME TO run_events;
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

-- Only while the same attempt keeps running: a state change reports its progress itself.
CREATE TRIGGER run_events_progress AFTER UPDATE OF progress_completed, progress_total ON runs
WHEN NEW.state = 'running' AND OLD.state = 'running' AND NEW.attempt = OLD.attempt
     AND (NEW.progress_completed IS NOT OLD.progress_completed OR NEW.progress_total IS NOT OLD.progress_total) BEGIN
    INSERT INTO run_events(run_id, kind, data, created_at)
    VALUES (NEW.id, 'progress', json_object('completed', NEW.progress_completed, 'total', NEW.progress_total), NEW.updated_at);
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
