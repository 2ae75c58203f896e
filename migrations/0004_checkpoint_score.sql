-- Schema version 4: every checkpoint carries the run's selection metric at its step (when the
-- summary had one), so the "best" checkpoint can be chosen for serving and kept by retention.
ALTER TABLE checkpoints ADD COLUMN score REAL;
ALTER TABLE checkpoints ADD COLUMN score_metric TEXT;
CREATE INDEX checkpoints_by_score ON checkpoints(run_id, score);
