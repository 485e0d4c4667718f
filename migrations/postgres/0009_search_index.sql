-- SQLite's 0009 adds an index covering search_text for its search. On
-- PostgreSQL search uses the trigram indexes made at start when pg_trgm is
-- available (db::listings::prepare_trigram_indexes), so nothing changes here;
-- the file keeps both backends' migration versions the same.
SELECT 1;
