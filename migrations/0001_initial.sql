-- Neuromod schema, version 1: experiments, runs, metric series, checkpoints, idempotency keys.

CREATE TABLE experiments (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    created_at   REAL NOT NULL
);

CREATE TABLE runs (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,
    experiment_id       TEXT NOT NULL REFERENCES experiments(id),
    state               TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    spec                TEXT NOT NULL,
    spec_hash           TEXT NOT NULL,
    attempt             INTEGER NOT NULL DEFAULT 0,
    progress_completed  INTEGER NOT NULL DEFAULT 0,
    progress_total      INTEGER NOT NULL DEFAULT 0,
    progress_unit       TEXT NOT NULL DEFAULT 'steps',
    created_at          REAL NOT NULL,
    started_at          REAL,
    finished_at         REAL,
    updated_at          REAL NOT NULL,
    failure_reason      TEXT,
    cancel_requested    INTEGER NOT NULL DEFAULT 0,
    lease_owner         TEXT,
    lease_expires_at    REAL
);
CREATE INDEX runs_by_state ON runs(state, seq);
CREATE INDEX runs_by_experiment ON runs(experiment_id, seq);

CREATE TABLE metric_points (
    run_id  TEXT NOT NULL REFERENCES runs(id),
    key     TEXT NOT NULL,
    step    INTEGER NOT NULL,
    value   REAL NOT NULL,
    time    REAL NOT NULL,
    PRIMARY KEY (run_id, key, step)
) WITHOUT ROWID;

CREATE TABLE checkpoints (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    run_id      TEXT NOT NULL REFERENCES runs(id),
    step        INTEGER NOT NULL,
    file        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    created_at  REAL NOT NULL
);
CREATE INDEX checkpoints_by_run ON checkpoints(run_id, step);

CREATE TABLE idempotency_keys (
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    created_at    REAL NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
