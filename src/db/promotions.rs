//! The audit trail of promotions: who copied which version between feeds,
//! and why. A promotion is recorded in the transaction that stores the
//! promoted version (`packages::store_version`).

use chrono::{DateTime, Utc};

use super::{Db, with_pool};
use crate::domain::PromotionFilter;

/// A promotion to record with the version it stores.
#[derive(Debug, Clone)]
pub struct NewPromotion<'a> {
    pub from_feed: &'a str,
    pub to_feed: &'a str,
    pub promoted_by: &'a str,
    pub comments: &'a str,
}

/// A recorded promotion.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PromotionRow {
    pub from_feed: String,
    pub to_feed: String,
    pub group_name: String,
    pub name: String,
    pub version: String,
    pub promoted_by: String,
    pub comments: String,
    pub promoted_at: DateTime<Utc>,
}

/// Lists promotions, oldest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_promotions(
    db: &Db,
    filter: &PromotionFilter,
) -> Result<Vec<PromotionRow>, sqlx::Error> {
    const SQL: &str = "SELECT from_feed, to_feed, group_name, name, version, promoted_by, comments, promoted_at \
        FROM promotions WHERE ($1 IS NULL OR LOWER(from_feed) = LOWER($1)) \
        AND ($2 IS NULL OR LOWER(to_feed) = LOWER($2)) AND ($3 IS NULL OR LOWER(group_name) = LOWER($3)) \
        AND ($4 IS NULL OR LOWER(name) = LOWER($4)) AND ($5 IS NULL OR version = $5) \
        ORDER BY promoted_at, id";
    with_pool!(db, |pool| {
        sqlx::query_as::<_, PromotionRow>(SQL)
            .bind(filter.from_feed.as_deref())
            .bind(filter.to_feed.as_deref())
            .bind(filter.group.as_deref())
            .bind(filter.name.as_deref())
            .bind(filter.version.as_deref())
            .fetch_all(pool)
            .await
    })
}
