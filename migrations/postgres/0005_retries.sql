-- Schema version 5: retries after infrastructure failures (see ../0005_retries.sql).
ALTER TABLE runs ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN not_before DOUBLE PRECISION;
