-- Wharf schema, SQLite dialect. Keep in step with ../postgres/0001_initial.sql:
-- same tables, same columns, same constraints, native types per backend.

CREATE TABLE feeds (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL,
    name_lower      TEXT    NOT NULL UNIQUE,
    description     TEXT    NOT NULL DEFAULT '',
    anonymous_read  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TEXT    NOT NULL
);

-- One row per stored blob; the bytes live in the blob store under sha256.
CREATE TABLE blobs (
    sha256      TEXT    PRIMARY KEY,
    sha1        TEXT    NOT NULL,
    size_bytes  INTEGER NOT NULL,
    created_at  TEXT    NOT NULL
);

CREATE TABLE packages (
    id           INTEGER PRIMARY KEY,
    feed_id      INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    group_name   TEXT    NOT NULL,
    group_lower  TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    name_lower   TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    UNIQUE (feed_id, group_lower, name_lower)
);

-- precedence_key: bytes that sort in SemVer precedence order and ignore build
-- metadata (see domain::Version::precedence_key). Unique per package, it is
-- the version identity; indexed with is_stable, it makes "latest" one lookup.
CREATE TABLE package_versions (
    id              INTEGER PRIMARY KEY,
    package_id      INTEGER NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    version         TEXT    NOT NULL,
    precedence_key  BLOB    NOT NULL,
    is_stable       BOOLEAN NOT NULL,
    is_virtual      BOOLEAN NOT NULL,
    container       TEXT    NOT NULL,
    manifest_json   TEXT    NOT NULL,
    file_list_json  TEXT    NOT NULL,
    blob_sha256     TEXT    NOT NULL REFERENCES blobs (sha256),
    published_at    TEXT    NOT NULL,
    downloads       INTEGER NOT NULL DEFAULT 0,
    UNIQUE (package_id, precedence_key)
);
CREATE INDEX package_versions_latest ON package_versions (package_id, is_stable, precedence_key);
CREATE INDEX package_versions_blob ON package_versions (blob_sha256);

-- API keys: only an argon2id PHC string of the key is stored; id is the
-- public part of the key that finds the row in one lookup.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_hash   TEXT NOT NULL,
    permissions   TEXT NOT NULL,
    feed_scope    TEXT,
    created_at    TEXT NOT NULL,
    expires_at    TEXT,
    last_used_at  TEXT
);

CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    username        TEXT NOT NULL,
    username_lower  TEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL,
    permissions     TEXT NOT NULL,
    feed_scope      TEXT,
    created_at      TEXT NOT NULL
);
