-- One counter, bumped by every write that changes what a cached read could
-- return (feeds, keys, users, versions). Each process polls it and clears its
-- in-process caches when it moves, so a write in another process (the CLI,
-- another server) reaches every cache within the poll interval.
CREATE TABLE change_log (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    generation  BIGINT  NOT NULL
);
INSERT INTO change_log (id, generation) VALUES (1, 0);
