//! Browser sessions: the SHA-256 of a cookie's token, whose user it signs
//! in, the session's CSRF token, and when it ends.

use chrono::{DateTime, Utc};

use super::users::UserRow;
use super::{Db, with_pool};

/// A session to store.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub token_sha256: &'a str,
    pub user_id: i64,
    pub csrf_token: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// A live session with its user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Stores a session.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(db: &Db, session: &NewSession<'_>) -> Result<(), sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query(
            "INSERT INTO sessions (token_sha256, user_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session.token_sha256)
        .bind(session.user_id)
        .bind(session.csrf_token)
        .bind(Utc::now())
        .bind(session.expires_at)
        .execute(pool)
        .await
        .map(|_| ())
    })
}

/// The session whose token hashes to `token_sha256`, if it has not ended.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn find_live(db: &Db, token_sha256: &str) -> Result<Option<SessionRow>, sqlx::Error> {
    const SQL: &str = "SELECT u.id, u.username, u.password_hash, u.permissions, u.feed_scope, \
        u.created_at, s.csrf_token, s.expires_at \
        FROM sessions s JOIN users u ON u.id = s.user_id \
        WHERE s.token_sha256 = $1 AND s.expires_at > $2";
    with_pool!(db, |pool| {
        sqlx::query_as::<_, SessionRow>(SQL)
            .bind(token_sha256)
            .bind(Utc::now())
            .fetch_optional(pool)
            .await
    })
}

/// Ends a session (signing out); ending one that is gone is not an error.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(db: &Db, token_sha256: &str) -> Result<(), sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1")
            .bind(token_sha256)
            .execute(pool)
            .await
            .map(|_| ())
    })
}

/// Removes sessions that have ended; returns how many.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete_ended(db: &Db) -> Result<u64, sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(Utc::now())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })
}
