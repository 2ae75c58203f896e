-- Schema version 4: every checkpoint carries the run's selection metric at its step.
ALTER TABLE checkpoints ADD COLUMN score DOUBLE PRECISION;
ALTER TABLE checkpoints ADD COLUMN score_metric TEXT;
CREATE INDEX checkpoints_by_score ON checkpoints(run_id, score);
