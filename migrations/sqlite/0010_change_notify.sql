-- PostgreSQL's 0010 announces changes of the change log to listening
-- processes (LISTEN/NOTIFY). SQLite has no such channel: every process on its
-- file polls the counter, so nothing changes here; the file keeps both
-- backends' migration versions the same.
SELECT 1;
