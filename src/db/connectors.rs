//! Connectors: a feed's remote feeds, in order, with sealed credentials.
//! Each write bumps the change log: processes cache each feed's connectors.

use chrono::{DateTime, Utc};

use super::changes::BUMP;
use super::{Db, with_pool};

/// A stored connector.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectorRow {
    pub id: i64,
    pub feed_id: i64,
    pub name: String,
    pub position: i32,
    pub url: String,
    pub credentials_sealed: Option<String>,
    pub timeout_seconds: i32,
    pub include_patterns: String,
    pub exclude_patterns: String,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, feed_id, name, position, url, credentials_sealed, timeout_seconds, \
    include_patterns, exclude_patterns, created_at";

/// What a connector is made of, to create or replace one.
#[derive(Debug, Clone)]
pub struct ConnectorFields<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub credentials_sealed: Option<&'a str>,
    pub timeout_seconds: i32,
    pub include_patterns: &'a str,
    pub exclude_patterns: &'a str,
}

/// Adds a connector after the feed's others; `None` when a connector of
/// that name (any case) exists.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(
    db: &Db,
    feed_id: i64,
    fields: &ConnectorFields<'_>,
) -> Result<Option<ConnectorRow>, sqlx::Error> {
    let sql = format!(
        "INSERT INTO connectors (feed_id, name, name_lower, position, url, credentials_sealed, \
             timeout_seconds, include_patterns, exclude_patterns, created_at) \
         VALUES ($1, $2, $3, \
             (SELECT COALESCE(MAX(position), 0) + 1 FROM connectors WHERE feed_id = $1), \
             $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (name_lower) DO NOTHING \
         RETURNING {COLUMNS}"
    );
    let inserted = with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        let row = sqlx::query_as::<_, ConnectorRow>(&sql)
            .bind(feed_id)
            .bind(fields.name)
            .bind(fields.name.to_ascii_lowercase())
            .bind(fields.url)
            .bind(fields.credentials_sealed)
            .bind(fields.timeout_seconds)
            .bind(fields.include_patterns)
            .bind(fields.exclude_patterns)
            .bind(Utc::now())
            .fetch_optional(&mut *tx)
            .await?;
        if row.is_some() {
            sqlx::query(BUMP).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(row)
    })?;
    if inserted.is_some() {
        db.local_writes().note_settings();
    }
    Ok(inserted)
}

/// The feed's connectors, in order.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_for_feed(db: &Db, feed_id: i64) -> Result<Vec<ConnectorRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM connectors WHERE feed_id = $1 ORDER BY position, id");
    with_pool!(db, |pool| {
        sqlx::query_as::<_, ConnectorRow>(&sql)
            .bind(feed_id)
            .fetch_all(pool)
            .await
    })
}

/// The connector named `name_lower`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn find(db: &Db, name_lower: &str) -> Result<Option<ConnectorRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM connectors WHERE name_lower = $1");
    with_pool!(db, |pool| {
        sqlx::query_as::<_, ConnectorRow>(&sql)
            .bind(name_lower)
            .fetch_optional(pool)
            .await
    })
}

/// Every connector, by feed and order.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(db: &Db) -> Result<Vec<ConnectorRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM connectors ORDER BY feed_id, position, id");
    with_pool!(db, |pool| {
        sqlx::query_as::<_, ConnectorRow>(&sql)
            .fetch_all(pool)
            .await
    })
}

/// Replaces a connector's fields (its name and place stay); `false` when
/// there is no such connector.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update(db: &Db, id: i64, fields: &ConnectorFields<'_>) -> Result<bool, sqlx::Error> {
    let updated = with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE connectors SET url = $2, credentials_sealed = $3, timeout_seconds = $4, \
                 include_patterns = $5, exclude_patterns = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(fields.url)
        .bind(fields.credentials_sealed)
        .bind(fields.timeout_seconds)
        .bind(fields.include_patterns)
        .bind(fields.exclude_patterns)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if updated {
            sqlx::query(BUMP).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(updated)
    })?;
    if updated {
        db.local_writes().note_settings();
    }
    Ok(updated)
}

/// Deletes the connector named `name_lower`; `false` when there is none.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(db: &Db, name_lower: &str) -> Result<bool, sqlx::Error> {
    super::changes::delete_and_bump(
        db,
        "DELETE FROM connectors WHERE name_lower = $1",
        name_lower,
    )
    .await
}
