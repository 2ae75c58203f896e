-- Schema version 8: progress events (see ../0008_progress_events.sql). PostgreSQL can alter the
-- kind constraint in place; ids are untouched.
ALTER TABLE run_events DROP CONSTRAINT run_events_kind_check;
ALTER TABLE run_events ADD CONSTRAINT run_events_kind_check CHECK (kind IN ('state', 'progress', 'checkpoint', 'metric'));

-- Only while the same attempt keeps running: a state change reports its progress itself.
CREATE FUNCTION neuromod_run_progress() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    PERFORM neuromod_add_event(NEW.id, 'progress', json_build_object('completed', NEW.progress_completed, 'total', NEW.progress_total), NEW.updated_at);
    RETURN NULL;
END $$;
CREATE TRIGGER run_events_progress AFTER UPDATE OF progress_completed, progress_total ON runs FOR EACH ROW
WHEN (NEW.state = 'running' AND OLD.state = 'running' AND NEW.attempt = OLD.attempt
      AND (NEW.progress_completed IS DISTINCT FROM OLD.progress_completed OR NEW.progress_total IS DISTINCT FROM OLD.progress_total))
EXECUTE FUNCTION neuromod_run_progress();
