-- Schema version 5: retries after infrastructure failures. `failures` counts the interruptions a
-- run suffered (crashes, I/O errors; not graceful shutdowns); a requeued run is not leased before
-- `not_before` (capped exponential backoff).
ALTER TABLE runs ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN not_before REAL;
