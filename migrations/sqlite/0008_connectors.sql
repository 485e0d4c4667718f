-- Connectors: the remote Universal Feed API feeds a feed may pull packages
-- from, in order. Names are unique across feeds: the management API
-- addresses a connector by its name alone. Credentials are stored sealed
-- (XChaCha20-Poly1305 with the key in connectors.secret_key), never in clear.
CREATE TABLE connectors (
    id                 INTEGER PRIMARY KEY,
    feed_id            INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    name               TEXT    NOT NULL,
    name_lower         TEXT    NOT NULL,
    position           INTEGER NOT NULL,
    url                TEXT    NOT NULL,
    credentials_sealed TEXT,
    timeout_seconds    INTEGER NOT NULL,
    include_patterns   TEXT    NOT NULL DEFAULT '',
    exclude_patterns   TEXT    NOT NULL DEFAULT '',
    created_at         TEXT    NOT NULL,
    UNIQUE (name_lower)
);
