//! Creating, listing and deleting feeds.

use super::Caller;
use super::model::{Feed, FeedSummary};
use crate::db;
use crate::domain::FeedName;
use crate::domain::Permission;
use crate::error::ServiceError;

use super::Wharf;

/// Creates a feed. `public` lets anonymous callers view and download.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    wharf: &Wharf,
    name: &str,
    description: &str,
    public: bool,
) -> Result<Feed, ServiceError> {
    let name = FeedName::parse(name)?;
    db::feeds::insert(&wharf.db, name.as_str(), description, public)
        .await?
        .map(Feed::from)
        .ok_or_else(|| ServiceError::Conflict(format!("A feed named '{name}' already exists.")))
}

/// The feed named `name` (any case), or a 404 naming it.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn find(wharf: &Wharf, name: &str) -> Result<Feed, ServiceError> {
    wharf
        .caches
        .feed(&wharf.db, &name.to_ascii_lowercase())
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("The feed '{name}' does not exist.")))
}

/// Every feed.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(wharf: &Wharf) -> Result<Vec<Feed>, ServiceError> {
    Ok(db::feeds::list(&wharf.db)
        .await?
        .into_iter()
        .map(Feed::from)
        .collect())
}

/// Deletes a feed and its packages (blobs wait for `wharf gc`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(wharf: &Wharf, name: &str) -> Result<(), ServiceError> {
    if db::feeds::delete(&wharf.db, &name.to_ascii_lowercase()).await? {
        Ok(())
    } else {
        Err(ServiceError::NotFound(format!(
            "The feed '{name}' does not exist."
        )))
    }
}

/// Changes a feed's description and anonymous access (each when given).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update(
    wharf: &Wharf,
    name: &str,
    description: Option<&str>,
    public: Option<bool>,
) -> Result<Feed, ServiceError> {
    db::feeds::update(&wharf.db, &name.to_ascii_lowercase(), description, public)
        .await?
        .map(Feed::from)
        .ok_or_else(|| ServiceError::NotFound(format!("The feed '{name}' does not exist.")))
}

/// Whether the database is new: no feed and no API key yet (first start).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn is_new_installation(wharf: &Wharf) -> Result<bool, ServiceError> {
    Ok(db::feeds::count(&wharf.db).await? == 0 && db::api_keys::count(&wharf.db).await? == 0)
}

/// The feeds `caller` may view, with their sizes, by name.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn visible_to(wharf: &Wharf, caller: &Caller) -> Result<Vec<FeedSummary>, ServiceError> {
    let mut summaries = Vec::new();
    for feed in list(wharf).await? {
        if caller.may(Permission::View, &feed) {
            let (package_count, version_count) =
                db::listings::count_in_feed(&wharf.db, feed.id).await?;
            summaries.push(FeedSummary {
                feed,
                package_count,
                version_count,
            });
        }
    }
    Ok(summaries)
}
