-- Long-running operations (export to storage; pull from remote feeds),
-- requested over HTTP, answered 202 at once and polled. A worker claims a
-- queued operation, or a running one whose lease ran out (its process died),
-- by a conditional update, so each runs in one place at a time even with
-- several processes; it renews the lease while it works.
CREATE TABLE operations (
    id                TEXT        PRIMARY KEY,
    kind              TEXT        NOT NULL,
    state             TEXT        NOT NULL,
    request_json      TEXT        NOT NULL,
    requested_by      TEXT        NOT NULL,
    attempts          INTEGER     NOT NULL DEFAULT 0,
    lease_owner       TEXT,
    lease_expires_at  TIMESTAMPTZ,
    bytes_done        BIGINT      NOT NULL DEFAULT 0,
    bytes_total       BIGINT,
    http_status       INTEGER,
    result_json       TEXT,
    error_code        TEXT,
    error_message     TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    started_at        TIMESTAMPTZ,
    finished_at       TIMESTAMPTZ
);
CREATE INDEX operations_claim ON operations (state, created_at);
CREATE INDEX operations_created ON operations (created_at);
