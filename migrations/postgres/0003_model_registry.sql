-- Schema version 3: the model registry — named models, immutable versions, movable aliases.
CREATE TABLE model_versions (
    name           TEXT NOT NULL,
    version        BIGINT NOT NULL,
    run_id         TEXT NOT NULL REFERENCES runs(id),
    checkpoint_id  TEXT NOT NULL REFERENCES checkpoints(id),
    created_at     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE model_aliases (
    name     TEXT NOT NULL,
    alias    TEXT NOT NULL,
    version  BIGINT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (name, alias),
    FOREIGN KEY (name, version) REFERENCES model_versions(name, version)
);
