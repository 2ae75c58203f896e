-- Schema version 2: a run's results summary (accuracy matrix, transfer, reward-task measures), as JSON.
ALTER TABLE runs ADD COLUMN summary TEXT;
