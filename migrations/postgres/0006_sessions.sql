-- Browser sessions of users who signed in on the web pages. The cookie holds
-- a random token; only its SHA-256 is stored, so a copy of the database does
-- not sign anyone in. Deleting a user ends their sessions.
CREATE TABLE sessions (
    token_sha256  TEXT        PRIMARY KEY,
    user_id       BIGINT      NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token    TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
