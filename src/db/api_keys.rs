//! API keys. Only the argon2id PHC string of a key is stored; `id` is the
//! public part of the key, so verification needs one primary-key lookup.

use chrono::{DateTime, Utc};

use super::{Db, with_pool};

/// A stored API key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    /// argon2id PHC string of the whole key.
    pub secret_hash: String,
    pub permissions: String,
    pub feed_scope: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, name, secret_hash, permissions, feed_scope, created_at, expires_at, last_used_at";

/// A key to store.
#[derive(Debug, Clone)]
pub struct NewApiKey<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub secret_hash: &'a str,
    pub permissions: &'a str,
    pub feed_scope: Option<&'a str>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Stores a key; `false` if the id is taken.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(db: &Db, key: &NewApiKey<'_>) -> Result<bool, sqlx::Error> {
    let result = with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        let created = sqlx::query(
            "INSERT INTO api_keys (id, name, secret_hash, permissions, feed_scope, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(key.id)
        .bind(key.name)
        .bind(key.secret_hash)
        .bind(key.permissions)
        .bind(key.feed_scope)
        .bind(Utc::now())
        .bind(key.expires_at)
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

/// Finds a key by its public id.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn find(db: &Db, id: &str) -> Result<Option<ApiKeyRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1");
    with_pool!(db, |pool| {
        sqlx::query_as::<_, ApiKeyRow>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await
    })
}

/// Every key, oldest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(db: &Db) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id");
    with_pool!(db, |pool| sqlx::query_as::<_, ApiKeyRow>(&sql)
        .fetch_all(pool)
        .await)
}

/// Number of keys.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM api_keys")
            .fetch_one(pool)
            .await
    })
}

/// Deletes (revokes) a key; `false` if there was none.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    super::changes::delete_and_bump(db, "DELETE FROM api_keys WHERE id = $1", id).await
}

/// Records that a key was just verified.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn touch(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(Utc::now())
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ())
    })
}
