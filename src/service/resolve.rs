//! Finding the version a request means: an exact version or the latest by a
//! rule, through the resolved-version cache, with a 404 that names what is
//! missing. A leaf: it depends on nothing else in `service` but the cache and
//! access checks, so assembly and serving can both build on it.

use super::model::{Feed, VersionDetail};
use crate::db::{self, packages::PackageKey};
use crate::domain::{LatestRule, PackageId, Permission, Version};
use crate::error::ServiceError;

use super::cache::ResolveKeyRef;
use super::{Caller, Wharf, access};

/// Which version of a package a request means.
#[derive(Debug, Clone)]
pub enum VersionSelector {
    /// This version (build metadata ignored when matching).
    Exact(Version),
    /// The latest by this rule.
    Latest(LatestRule),
}

impl VersionSelector {
    /// Parses a version argument that may also be `latest`, `latest-stable`
    /// or `latest-unstable` (`ProGet`'s words in pgutil and the promotion API).
    pub fn parse(version: &str) -> Result<Self, ServiceError> {
        Ok(match version.to_ascii_lowercase().as_str() {
            "latest" => Self::Latest(LatestRule::StableElsePrerelease),
            "latest-stable" => Self::Latest(LatestRule::StableOnly),
            "latest-unstable" => Self::Latest(LatestRule::Any),
            _ => Self::Exact(Version::parse(version)?),
        })
    }
}

/// Finds the version `selector` picks, or a 404 naming what is missing.
#[tracing::instrument(level = "debug", skip(wharf, feed), fields(feed = %feed.name, package = %id))]
pub async fn resolve(
    wharf: &Wharf,
    feed: &Feed,
    id: &PackageId,
    selector: &VersionSelector,
) -> Result<VersionDetail, ServiceError> {
    let (group_lower, name_lower) = (id.group.lower(), id.name.lower());
    let key = PackageKey {
        feed_id: feed.id,
        group_lower: &group_lower,
        name_lower: &name_lower,
    };
    // Tagged so an exact version's key and a latest rule never collide.
    let selector_key = match selector {
        VersionSelector::Exact(version) => [&[0u8][..], &version.precedence_key()].concat(),
        VersionSelector::Latest(rule) => vec![1, *rule as u8],
    };
    let cache_key = ResolveKeyRef {
        feed_id: feed.id,
        group_lower: &group_lower,
        name_lower: &name_lower,
        selector: &selector_key,
    };
    let found = wharf
        .caches
        .version(cache_key, || async {
            match selector {
                VersionSelector::Exact(version) => {
                    db::packages::find_version(&wharf.db, key, &version.precedence_key()).await
                }
                VersionSelector::Latest(rule) => {
                    db::packages::find_latest(&wharf.db, key, *rule).await
                }
            }
        })
        .await?;
    found
        .map(VersionDetail::from)
        .ok_or_else(|| match selector {
            VersionSelector::Exact(version) => ServiceError::NotFound(format!(
                "The package {id} version {version} was not found in feed '{}'.",
                feed.name
            )),
            VersionSelector::Latest(LatestRule::StableOnly) => ServiceError::NotFound(format!(
                "The package {id} has no stable version in feed '{}'.",
                feed.name
            )),
            VersionSelector::Latest(_) => ServiceError::NotFound(format!(
                "The package {id} was not found in feed '{}'.",
                feed.name
            )),
        })
}

/// Checks that the caller holds `permission` on the feed `feed_name`, then
/// finds the version `selector` picks: the whole of a download-style request.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn resolve_for(
    wharf: &Wharf,
    caller: &Caller,
    feed_name: &str,
    id: &PackageId,
    selector: &VersionSelector,
    permission: Permission,
) -> Result<(Feed, VersionDetail), ServiceError> {
    let feed = access::feed_for(wharf, caller, feed_name, permission).await?;
    let row = resolve(wharf, &feed, id, selector).await?;
    Ok((feed, row))
}
