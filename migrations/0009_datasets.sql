-- Schema version 9: uploaded data sets. The file lives under <data-dir>/datasets/<id>; this row
-- is written only after the file is complete, validated and renamed into place (a row never
-- points at a missing file). `description` is the validated summary as JSON (format, sample
-- shape, features, classes, counts). A run names its data set in its spec (`data.dataset`); the
-- generated column lets the store refuse to delete a data set a queued or running run uses.
CREATE TABLE datasets (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    format       TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    bytes        INTEGER NOT NULL,
    description  TEXT NOT NULL,
    created_at   REAL NOT NULL
);

ALTER TABLE runs ADD COLUMN dataset_id TEXT GENERATED ALWAYS AS (json_extract(spec, '$.data.dataset')) VIRTUAL;
CREATE INDEX runs_by_dataset ON runs(dataset_id, state);
