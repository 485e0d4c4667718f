//! Feeds: named collections of packages.

use chrono::{DateTime, Utc};

use super::{Db, with_pool};

/// A stored feed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FeedRow {
    pub id: i64,
    pub name: String,
    pub name_lower: String,
    pub description: String,
    /// Anonymous callers may view and download.
    pub anonymous_read: bool,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, name_lower, description, anonymous_read, created_at";

/// Finds a feed by lower-cased name.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn find(db: &Db, name_lower: &str) -> Result<Option<FeedRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM feeds WHERE name_lower = $1");
    with_pool!(db, |pool| {
        sqlx::query_as::<_, FeedRow>(&sql)
            .bind(name_lower)
            .fetch_optional(pool)
            .await
    })
}

/// Creates a feed; `None` when a feed of that name (any case) exists.
#[tracing::instrument(level = "debug", skip(db, description))]
pub async fn insert(
    db: &Db,
    name: &str,
    description: &str,
    anonymous_read: bool,
) -> Result<Option<FeedRow>, sqlx::Error> {
    let sql = format!(
        "INSERT INTO feeds (name, name_lower, description, anonymous_read, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name_lower) DO NOTHING RETURNING {COLUMNS}"
    );
    let result = with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        let created = sqlx::query_as::<_, FeedRow>(&sql)
            .bind(name)
            .bind(name.to_ascii_lowercase())
            .bind(description)
            .bind(anonymous_read)
            .bind(Utc::now())
            .fetch_optional(&mut *tx)
            .await?;
        if created.is_some() {
            sqlx::query(super::changes::BUMP).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(created)
    })?;
    if result.is_some() {
        db.local_writes().note_settings();
    }
    Ok(result)
}

/// Changes a feed's description and anonymous access (each when given);
/// `None` if there is no such feed.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update(
    db: &Db,
    name_lower: &str,
    description: Option<&str>,
    anonymous_read: Option<bool>,
) -> Result<Option<FeedRow>, sqlx::Error> {
    let sql = format!(
        "UPDATE feeds SET description = COALESCE($2, description), \
         anonymous_read = COALESCE($3, anonymous_read) WHERE name_lower = $1 RETURNING {COLUMNS}"
    );
    let result = with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        let updated = sqlx::query_as::<_, FeedRow>(&sql)
            .bind(name_lower)
            .bind(description)
            .bind(anonymous_read)
            .fetch_optional(&mut *tx)
            .await?;
        if updated.is_some() {
            sqlx::query(super::changes::BUMP).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(updated)
    })?;
    if result.is_some() {
        db.local_writes().note_settings();
    }
    Ok(result)
}

/// Every feed, by name.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(db: &Db) -> Result<Vec<FeedRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM feeds ORDER BY name_lower");
    with_pool!(db, |pool| sqlx::query_as::<_, FeedRow>(&sql)
        .fetch_all(pool)
        .await)
}

/// Deletes a feed with its packages and versions; `false` if there was none.
/// Blobs stay until `wharf gc` finds them unreferenced.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn delete(db: &Db, name_lower: &str) -> Result<bool, sqlx::Error> {
    super::changes::delete_and_bump(db, "DELETE FROM feeds WHERE name_lower = $1", name_lower).await
}

/// Number of feeds.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM feeds")
            .fetch_one(pool)
            .await
    })
}
