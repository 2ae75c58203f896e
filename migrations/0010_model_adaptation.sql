-- Schema version 10: served models that keep learning from feedback (issue 17).
-- An adapted snapshot is a checkpoint of the base version's run (origin 'adaptation': never
-- resumed from, listed or pruned as the run's own) and a model version whose parent is the
-- version it adapted from.
ALTER TABLE checkpoints ADD COLUMN origin TEXT NOT NULL DEFAULT 'training';
ALTER TABLE model_versions ADD COLUMN origin TEXT NOT NULL DEFAULT 'registered';
ALTER TABLE model_versions ADD COLUMN parent_version INTEGER;

-- One adaptation policy per alias: the version it began from (the consolidation anchor), whether
-- it is active or frozen (and why), and how many updates it has made.
CREATE TABLE model_adaptations (
    name          TEXT NOT NULL,
    alias         TEXT NOT NULL,
    generation    TEXT NOT NULL,          -- a new id each time adaptation (re)starts
    policy        TEXT NOT NULL,          -- JSON (AdaptationPolicy)
    canary        TEXT,                   -- JSON {"inputs": [[...]], "labels": [...]} or NULL
    base_version  INTEGER NOT NULL,
    state         TEXT NOT NULL,          -- active | frozen
    reason        TEXT,
    updates       INTEGER NOT NULL DEFAULT 0,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL,
    PRIMARY KEY (name, alias)
) WITHOUT ROWID;

-- The audit trail of adaptation: started, snapshot, shift_detected, frozen, alias_moved, stopped.
CREATE TABLE model_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    alias       TEXT,
    kind        TEXT NOT NULL,
    version     INTEGER,
    data        TEXT NOT NULL,            -- a JSON object
    created_at  REAL NOT NULL
);
CREATE INDEX model_events_by_name ON model_events(name, seq);
