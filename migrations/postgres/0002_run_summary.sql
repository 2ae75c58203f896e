-- Schema version 2: a run's results summary, as JSON text.
ALTER TABLE runs ADD COLUMN summary TEXT;
