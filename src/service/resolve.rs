//! Finding the version a request means: an exact version or the latest by a
//! rule, through the resolved-version cache, with a 404 that names what is
//! missing. A leaf: it depends on nothing else in `service` but the cache and
//! access checks, so assembly and serving can both build on it.

use super::model::{Feed, VersionDetail};
use crate::db::{self, packages::PackageKey};
use crate::domain::{LatestRule, PackageId, Permission, Version};
use crate::error::ServiceError;

use super::{Caller, Wharf, access};

/// What a resolved version is cached under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolveKey {
    pub feed_id: i64,
    pub group_lower: String,
    pub name_lower: String,
    /// The precedence key of an exact version, or a tag for a latest rule.
    pub selector: Vec<u8>,
}

/// A [`ResolveKey`] borrowed from the request: what a lookup is made with,
/// so that a hit copies nothing. Hashes as the owned key does (its fields in
/// the same order, each hashing as its owned form).
#[derive(Debug, Clone, Copy, Hash)]
pub struct ResolveKeyRef<'a> {
    pub feed_id: i64,
    pub group_lower: &'a str,
    pub name_lower: &'a str,
    pub selector: &'a [u8],
}

impl quick_cache::Equivalent<ResolveKey> for ResolveKeyRef<'_> {
    fn equivalent(&self, key: &ResolveKey) -> bool {
        self.feed_id == key.feed_id
            && self.group_lower == key.group_lower
            && self.name_lower == key.name_lower
            && self.selector == key.selector
    }
}

impl From<ResolveKeyRef<'_>> for ResolveKey {
    fn from(key: ResolveKeyRef<'_>) -> Self {
        Self {
            feed_id: key.feed_id,
            group_lower: key.group_lower.to_owned(),
            name_lower: key.name_lower.to_owned(),
            selector: key.selector.to_owned(),
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::expiring_cache::ExpiringCache;
    use std::time::Duration;

    #[test]
    fn a_borrowed_resolve_key_finds_its_owned_form() {
        let cache: ExpiringCache<ResolveKey, u8> =
            ExpiringCache::entries(10, Duration::from_secs(60));
        let borrowed = ResolveKeyRef {
            feed_id: 7,
            group_lower: "tools/build",
            name_lower: "app",
            selector: &[0, 1, 2],
        };
        cache.insert(borrowed.into(), 1);
        assert_eq!(cache.get(&borrowed), Some(1), "same hash, equivalent");
        let other_selector = ResolveKeyRef {
            selector: &[0, 1],
            ..borrowed
        };
        assert_eq!(cache.get(&other_selector), None);
        let other_feed = ResolveKeyRef {
            feed_id: 8,
            ..borrowed
        };
        assert_eq!(cache.get(&other_feed), None);
    }
}
