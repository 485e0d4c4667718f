-- Every change of the change log is announced on the channel wharf_changes,
-- with the new generation as its payload. Each process LISTENs and clears
-- its caches on the announcement (at commit, so never before the change is
-- visible), instead of polling the counter; it polls only while its
-- listening connection is being re-established.
CREATE FUNCTION wharf_announce_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('wharf_changes', NEW.generation::text);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER change_log_announce
    AFTER UPDATE ON change_log
    FOR EACH ROW EXECUTE FUNCTION wharf_announce_change();
