-- Announcements also name the writing connection's application_name, which
-- starts with a tag unique to each Wharf process ("wharf-<12 hex>"): a
-- process that hears its own package writes announced back need not clear
-- the caches it already cleared by feed when it wrote them. Processes that
-- read only the generation see a payload they cannot parse as a number and
-- read the generation from the table instead: nothing is missed.
CREATE OR REPLACE FUNCTION wharf_announce_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('wharf_changes',
        NEW.generation::text || ' ' || coalesce(current_setting('application_name', true), ''));
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
