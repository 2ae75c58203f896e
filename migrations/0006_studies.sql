-- Schema version 6: studies (a design of cells × seeds, each an ordinary run) and the fair queue.
-- A study's runs carry its id, their cell and seed; a yoked control waits for the run whose effect
-- trace it replays (`after_run`). `leased_at` (the last lease) lets the queue serve the group
-- (a study, or a single run) it served least recently.
CREATE TABLE studies (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    experiment_id    TEXT NOT NULL REFERENCES experiments(id),
    name             TEXT NOT NULL,
    design           TEXT NOT NULL,
    cells            TEXT NOT NULL,
    metrics          TEXT NOT NULL,
    control_cell     INTEGER NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at       REAL NOT NULL
);
CREATE INDEX studies_by_experiment ON studies(experiment_id, seq);
ALTER TABLE runs ADD COLUMN study_id TEXT REFERENCES studies(id);
ALTER TABLE runs ADD COLUMN study_cell INTEGER;
ALTER TABLE runs ADD COLUMN study_seed INTEGER;
ALTER TABLE runs ADD COLUMN after_run TEXT;
ALTER TABLE runs ADD COLUMN leased_at REAL;
CREATE INDEX runs_by_study ON runs(study_id, study_cell, study_seed);
