-- PostgreSQL's 0012 names the writer in its change announcements. SQLite
-- announces nothing (its processes poll the counter), so nothing changes
-- here; the file keeps both backends' migration versions the same.
SELECT 1;
