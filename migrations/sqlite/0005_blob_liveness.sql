-- Blob rows become the liveness record gc and writers agree on (see
-- db::blobs): every writer that relies on a blob upserts its row first, in
-- the transaction that stores the reference, and sets used_at; gc deletes a
-- row only by a conditional statement and deletes the bytes before it commits.
ALTER TABLE blobs ADD COLUMN used_at TEXT NOT NULL DEFAULT '';
UPDATE blobs SET used_at = created_at;

-- Assemblies are a cache: rebuilt on demand. Each belongs to the virtual
-- package version it was built for (deleted with it) and points at a blob row
-- (so gc sees the reference), and its key no longer needs URL sources fetched.
-- Old rows are dropped; their blobs become garbage for gc.
DROP TABLE assemblies;
CREATE TABLE assemblies (
    cache_key    TEXT    PRIMARY KEY,
    version_id   INTEGER NOT NULL REFERENCES package_versions (id) ON DELETE CASCADE,
    blob_sha256  TEXT    NOT NULL REFERENCES blobs (sha256),
    sha1         TEXT    NOT NULL,
    size_bytes   INTEGER NOT NULL,
    created_at   TEXT    NOT NULL
);
CREATE INDEX assemblies_version ON assemblies (version_id);
CREATE INDEX assemblies_blob ON assemblies (blob_sha256);
