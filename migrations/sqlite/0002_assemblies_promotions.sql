-- Assembled virtual packages, cached by the content that went into them
-- (the vpack's bytes and every referenced blob): cache_key is a SHA-256 over
-- those hashes, so a changed reference is a different key, never a stale hit.
CREATE TABLE assemblies (
    cache_key     TEXT    PRIMARY KEY,
    vpack_sha256  TEXT    NOT NULL,
    blob_sha256   TEXT    NOT NULL,
    sha1          TEXT    NOT NULL,
    size_bytes    INTEGER NOT NULL,
    created_at    TEXT    NOT NULL
);
CREATE INDEX assemblies_vpack ON assemblies (vpack_sha256);

-- Who promoted which version from which feed to which, and why.
CREATE TABLE promotions (
    id            INTEGER PRIMARY KEY,
    from_feed     TEXT    NOT NULL,
    to_feed       TEXT    NOT NULL,
    group_name    TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    promoted_by   TEXT    NOT NULL,
    comments      TEXT    NOT NULL,
    promoted_at   TEXT    NOT NULL
);
CREATE INDEX promotions_package ON promotions (name, group_name);
