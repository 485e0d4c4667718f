//! Long-running operations: what was asked, who holds it (a lease), how far
//! it got and how it ended.
//!
//! A worker claims one with a conditional update: a queued operation, or a
//! running one whose lease has run out because its process died. The update
//! re-checks the condition on the row it changes, so when two processes pick
//! the same row only one changes it. Every later write names the lease
//! owner, so a worker that lost its lease cannot overwrite the new holder.

use chrono::{DateTime, Utc};

use super::{Db, with_pool};

/// An operation to store, queued.
#[derive(Debug, Clone)]
pub struct NewOperation<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub request_json: &'a str,
    pub requested_by: &'a str,
}

/// A stored operation.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OperationRow {
    pub id: String,
    pub kind: String,
    pub state: String,
    pub request_json: String,
    pub requested_by: String,
    pub attempts: i32,
    pub bytes_done: i64,
    pub bytes_total: Option<i64>,
    pub http_status: Option<i32>,
    pub result_json: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, kind, state, request_json, requested_by, attempts, bytes_done, \
    bytes_total, http_status, result_json, error_code, error_message, created_at, started_at, \
    finished_at";

/// How an operation ended.
#[derive(Debug, Clone)]
pub struct Outcome<'a> {
    /// `succeeded` or `failed`.
    pub state: &'a str,
    pub http_status: u16,
    pub result_json: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub bytes_done: i64,
    pub bytes_total: Option<i64>,
}

/// Stores a queued operation.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(db: &Db, operation: &NewOperation<'_>) -> Result<(), sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query(
            "INSERT INTO operations (id, kind, state, request_json, requested_by, created_at) \
             VALUES ($1, $2, 'queued', $3, $4, $5)",
        )
        .bind(operation.id)
        .bind(operation.kind)
        .bind(operation.request_json)
        .bind(operation.requested_by)
        .bind(Utc::now())
        .execute(pool)
        .await
        .map(|_| ())
    })
}

/// The operation `id`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn find(db: &Db, id: &str) -> Result<Option<OperationRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM operations WHERE id = $1");
    with_pool!(db, |pool| {
        sqlx::query_as::<_, OperationRow>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await
    })
}

/// Operations newest first, optionally only in `state` and of `kind`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    db: &Db,
    state: Option<&str>,
    kind: Option<&str>,
    limit: i64,
) -> Result<Vec<OperationRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM operations \
         WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR kind = $2) \
         ORDER BY created_at DESC, id LIMIT $3"
    );
    with_pool!(db, |pool| {
        sqlx::query_as::<_, OperationRow>(&sql)
            .bind(state)
            .bind(kind)
            .bind(limit)
            .fetch_all(pool)
            .await
    })
}

/// How many operations there are of each kind in each state.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn count_by_kind_and_state(db: &Db) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query_as::<_, (String, String, i64)>(
            "SELECT kind, state, COUNT(*) FROM operations GROUP BY kind, state ORDER BY kind, state",
        )
        .fetch_all(pool)
        .await
    })
}

/// Claims the oldest operation that is queued, or running on a lease that
/// has run out, for `owner` until `lease_until`; `None` when there is none.
/// Two processes that pick the same row both try it; the loser (its update
/// finds the row no longer claimable) tries the next one.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn claim(
    db: &Db,
    owner: &str,
    lease_until: DateTime<Utc>,
) -> Result<Option<OperationRow>, sqlx::Error> {
    const CLAIMABLE: &str = "(state = 'queued' OR (state = 'running' AND lease_expires_at < $1))";
    let update = format!(
        "UPDATE operations SET state = 'running', lease_owner = $2, lease_expires_at = $3, \
             attempts = attempts + 1, started_at = COALESCE(started_at, $1) \
         WHERE id = (SELECT id FROM operations WHERE {CLAIMABLE} ORDER BY created_at, id LIMIT 1) \
           AND {CLAIMABLE} \
         RETURNING {COLUMNS}"
    );
    let any_left = format!("SELECT COUNT(*) FROM operations WHERE {CLAIMABLE}");
    for _ in 0..8 {
        let now = Utc::now();
        // Read first: an idle server's workers poll, and an update that finds
        // nothing still takes `SQLite`'s write lock from the uploads.
        let left: i64 = with_pool!(db, |pool| {
            sqlx::query_scalar(&any_left)
                .bind(now)
                .fetch_one(pool)
                .await
        })?;
        if left == 0 {
            return Ok(None);
        }
        let claimed = with_pool!(db, |pool| {
            sqlx::query_as::<_, OperationRow>(&update)
                .bind(now)
                .bind(owner)
                .bind(lease_until)
                .fetch_optional(pool)
                .await
        })?;
        if claimed.is_some() {
            return Ok(claimed);
        }
    }
    Ok(None)
}

/// Extends `owner`'s lease and records progress; `false` when the lease was
/// lost (another process took the operation over).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn renew(
    db: &Db,
    id: &str,
    owner: &str,
    lease_until: DateTime<Utc>,
    bytes_done: i64,
    bytes_total: Option<i64>,
) -> Result<bool, sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query(
            "UPDATE operations SET lease_expires_at = $3, bytes_done = $4, bytes_total = $5 \
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(owner)
        .bind(lease_until)
        .bind(bytes_done)
        .bind(bytes_total)
        .execute(pool)
        .await
        .map(|done| done.rows_affected() == 1)
    })
}

/// Records how `owner`'s operation ended; `false` when the lease was lost.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn finish(
    db: &Db,
    id: &str,
    owner: &str,
    outcome: &Outcome<'_>,
) -> Result<bool, sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query(
            "UPDATE operations SET state = $3, http_status = $4, result_json = $5, \
                 error_code = $6, error_message = $7, finished_at = $8, \
                 bytes_done = $9, bytes_total = $10, \
                 lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(owner)
        .bind(outcome.state)
        .bind(i32::from(outcome.http_status))
        .bind(outcome.result_json)
        .bind(outcome.error_code)
        .bind(outcome.error_message)
        .bind(Utc::now())
        .bind(outcome.bytes_done)
        .bind(outcome.bytes_total)
        .execute(pool)
        .await
        .map(|done| done.rows_affected() == 1)
    })
}

/// Puts `owner`'s operation back in the queue (the process is stopping), so
/// that the next worker takes it at once instead of after the lease.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn release(db: &Db, id: &str, owner: &str) -> Result<(), sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query(
            "UPDATE operations SET state = 'queued', lease_owner = NULL, \
                 lease_expires_at = NULL, attempts = attempts - 1 \
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(owner)
        .execute(pool)
        .await
        .map(|_| ())
    })
}
