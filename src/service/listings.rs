//! Listings of a feed's packages and versions, and the cache of their
//! rendered forms.
//!
//! The service decides what a listing holds (which rows, the search match,
//! grouping into packages) and what it is cached under; the caller decides
//! only how it looks (JSON for the API, HTML for a page). A cached listing is
//! kept until any write in the deployment clears the listing cache (see
//! `cache`), so a rendering is always of the current data.

use bytes::Bytes;

use crate::db::{self, listings::VersionFilter};
use crate::domain::{GroupName, PackageName};
use crate::error::ServiceError;

use super::Wharf;
use super::model::{Feed, PackageSummary, VersionDetail};

/// What a listing asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Listing {
    /// Packages, in group and name order, each with all its versions.
    Packages {
        group: Option<GroupName>,
        name: Option<PackageName>,
        /// Most packages to include.
        limit: Option<i64>,
        /// Packages to skip first (for pages).
        offset: Option<i64>,
    },
    /// Packages whose name, title or description (of the latest version)
    /// contains `term`, ignoring case; `offset` of them skipped, at most
    /// `limit` kept.
    Search {
        term: String,
        group: Option<GroupName>,
        limit: usize,
        offset: usize,
    },
    /// The feed's numbers of packages and versions and its groups.
    Overview,
    /// Versions, by package then highest first.
    Versions {
        group: Option<GroupName>,
        name: Option<PackageName>,
        /// Most versions to include.
        limit: Option<i64>,
    },
}

/// What a listing holds: packages for `Packages` and `Search`, versions
/// for `Versions`.
#[derive(Debug, Clone)]
pub enum Listed {
    Packages(Vec<PackageSummary>),
    Versions(Vec<VersionDetail>),
    Overview(FeedOverview),
}

/// What a feed holds, in numbers, and its groups.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FeedOverview {
    pub package_count: i64,
    pub version_count: i64,
    /// The groups that hold packages, in order; the empty group first when
    /// any package has none.
    pub groups: Vec<String>,
}

impl Listed {
    /// The packages listed (none for a listing of versions).
    pub fn into_packages(self) -> Vec<PackageSummary> {
        match self {
            Self::Packages(packages) => packages,
            Self::Versions(_) | Self::Overview(_) => Vec::new(),
        }
    }

    /// The versions listed (none for a listing of packages).
    pub fn into_versions(self) -> Vec<VersionDetail> {
        match self {
            Self::Versions(versions) => versions,
            Self::Packages(_) | Self::Overview(_) => Vec::new(),
        }
    }
}

/// What a rendered listing is cached under: the feed, the listing, and the
/// name of the rendering (one listing may be rendered several ways).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListingKey {
    feed_id: i64,
    listing: Listing,
    rendering: &'static str,
}

impl ListingKey {
    /// The feed listed.
    pub fn feed_id(&self) -> i64 {
        self.feed_id
    }
}

/// The listing `listing` of `feed`, read from the database.
#[tracing::instrument(level = "debug", skip(wharf, feed), fields(feed = %feed.name))]
pub async fn list(wharf: &Wharf, feed: &Feed, listing: &Listing) -> Result<Listed, ServiceError> {
    let lower = |g: &Option<GroupName>| g.as_ref().map(GroupName::lower);
    let name_lower = |n: &Option<PackageName>| n.as_ref().map(PackageName::lower);
    Ok(match listing {
        Listing::Packages {
            group,
            name,
            limit,
            offset,
        } => {
            let filter = VersionFilter {
                group_lower: lower(group),
                name_lower: name_lower(name),
                package_limit: *limit,
                package_offset: *offset,
                ..VersionFilter::default()
            };
            Listed::Packages(PackageSummary::group(versions(wharf, feed, &filter).await?))
        }
        Listing::Search {
            term,
            group,
            limit,
            offset,
        } => {
            // Plain ASCII terms narrow the candidates in SQL first (a
            // superset: any manifest text); the exact, Unicode-aware match
            // of `PackageSummary::matches` decides.
            let plain = !term.is_empty()
                && term
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || " .-".contains(c));
            let filter = VersionFilter {
                group_lower: lower(group),
                contains: plain.then(|| term.to_ascii_lowercase()),
                ..VersionFilter::default()
            };
            let packages = PackageSummary::group(versions(wharf, feed, &filter).await?);
            Listed::Packages(
                packages
                    .into_iter()
                    .filter(|package| package.matches(term))
                    .skip(*offset)
                    .take(*limit)
                    .collect(),
            )
        }
        Listing::Overview => {
            let (package_count, version_count) =
                db::listings::count_in_feed(&wharf.db, feed.id).await?;
            Listed::Overview(FeedOverview {
                package_count,
                version_count,
                groups: db::listings::groups_in_feed(&wharf.db, feed.id).await?,
            })
        }
        Listing::Versions { group, name, limit } => {
            let filter = VersionFilter {
                group_lower: lower(group),
                name_lower: name_lower(name),
                version_limit: *limit,
                ..VersionFilter::default()
            };
            Listed::Versions(versions(wharf, feed, &filter).await?)
        }
    })
}

/// The listing `listing` of `feed` as `render` shows it, from the listing
/// cache, rendering it on a miss. `rendering` names the rendering, so two
/// renderings of one listing are cached apart.
#[tracing::instrument(level = "debug", skip(wharf, feed, render), fields(feed = %feed.name))]
pub async fn rendered<R>(
    wharf: &Wharf,
    feed: &Feed,
    listing: Listing,
    rendering: &'static str,
    render: R,
) -> Result<Bytes, ServiceError>
where
    R: FnOnce(Listed) -> Result<Bytes, ServiceError>,
{
    let key = ListingKey {
        feed_id: feed.id,
        listing,
        rendering,
    };
    let listing = key.listing.clone();
    wharf
        .caches
        .listing(key, || async { render(list(wharf, feed, &listing).await?) })
        .await
}

async fn versions(
    wharf: &Wharf,
    feed: &Feed,
    filter: &VersionFilter,
) -> Result<Vec<VersionDetail>, ServiceError> {
    Ok(db::listings::list_versions(&wharf.db, feed.id, filter)
        .await?
        .into_iter()
        .map(VersionDetail::from)
        .collect())
}
