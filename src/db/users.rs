//! Users who authenticate with a name and a password (argon2id PHC string).

use chrono::{DateTime, Utc};

use super::{Db, with_pool};

/// A stored user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub permissions: String,
    pub feed_scope: Option<String>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, username, password_hash, permissions, feed_scope, created_at";

/// Creates a user; `false` if the name (any case) is taken.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(
    db: &Db,
    username: &str,
    password_hash: &str,
    permissions: &str,
    feed_scope: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let result = with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        let created = sqlx::query(
            "INSERT INTO users (username, username_lower, password_hash, permissions, feed_scope, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username_lower) DO NOTHING",
        )
        .bind(username)
        .bind(username.to_lowercase())
        .bind(password_hash)
        .bind(permissions)
        .bind(feed_scope)
        .bind(Utc::now())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if created {
            sqlx::query(super::changes::BUMP).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(created)
    })?;
    if result {
        db.local_writes().note_settings();
    }
    Ok(result)
}

/// Finds a user by name, ignoring case.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn find(db: &Db, username: &str) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE username_lower = $1");
    with_pool!(db, |pool| {
        sqlx::query_as::<_, UserRow>(&sql)
            .bind(username.to_lowercase())
            .fetch_optional(pool)
            .await
    })
}

/// Every user, by name.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(db: &Db) -> Result<Vec<UserRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM users ORDER BY username_lower");
    with_pool!(db, |pool| sqlx::query_as::<_, UserRow>(&sql)
        .fetch_all(pool)
        .await)
}

/// Deletes a user; `false` if there was none.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(db: &Db, username: &str) -> Result<bool, sqlx::Error> {
    super::changes::delete_and_bump(
        db,
        "DELETE FROM users WHERE username_lower = $1",
        &username.to_lowercase(),
    )
    .await
}
