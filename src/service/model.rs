//! Read models: what the service layer hands to its callers (the JSON API,
//! the web pages, the CLI) instead of database rows.
//!
//! Rows are shaped by tables and joins; these types are shaped by what a
//! caller shows. A version wraps the cached row behind accessors, so the
//! download path pays nothing for the seam, and a page and a JSON endpoint
//! read the same package through the same methods. Secrets (key hashes) never
//! leave the service layer.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::db::{
    api_keys::ApiKeyRow, feeds::FeedRow, packages::VersionRow, promotions, users::UserRow,
};
use crate::domain::{Container, FeedScope, LatestRule};
use crate::upack::FileEntry;

/// A feed and its settings.
#[derive(Debug, Clone)]
pub struct Feed {
    /// Its number, stable for the feed's life.
    pub id: i64,
    /// Its name as created (addresses match it ignoring case).
    pub name: String,
    name_lower: String,
    /// Free text shown with it.
    pub description: String,
    /// Anonymous callers may view and download.
    pub anonymous_read: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl Feed {
    /// Its name in lower case, as scopes and addresses compare it.
    pub fn name_lower(&self) -> &str {
        &self.name_lower
    }
}

impl From<FeedRow> for Feed {
    fn from(row: FeedRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            name_lower: row.name_lower,
            description: row.description,
            anonymous_read: row.anonymous_read,
            created_at: row.created_at,
        }
    }
}

/// A feed with its size, for an overview.
#[derive(Debug, Clone)]
pub struct FeedSummary {
    /// The feed.
    pub feed: Feed,
    /// How many packages it holds.
    pub package_count: i64,
    /// How many versions, over all its packages.
    pub version_count: i64,
}

/// One stored version of a package.
#[derive(Debug, Clone)]
pub struct VersionDetail {
    pub(in crate::service) row: Arc<VersionRow>,
}

impl From<Arc<VersionRow>> for VersionDetail {
    fn from(row: Arc<VersionRow>) -> Self {
        Self { row }
    }
}

impl From<VersionRow> for VersionDetail {
    fn from(row: VersionRow) -> Self {
        Arc::new(row).into()
    }
}

impl VersionDetail {
    /// The group as stored (empty for none).
    pub fn group(&self) -> &str {
        &self.row.group_name
    }

    /// The package name as stored.
    pub fn name(&self) -> &str {
        &self.row.name
    }

    /// The version as published.
    pub fn version(&self) -> &str {
        &self.row.version
    }

    /// Not a prerelease.
    pub fn is_stable(&self) -> bool {
        self.row.is_stable
    }

    /// A virtual package (a `.vpack` manifest, assembled on download).
    pub fn is_virtual(&self) -> bool {
        self.row.is_virtual
    }

    /// The version, parsed (`None` only for a row written behind Wharf's back).
    pub fn parsed_version(&self) -> Option<crate::domain::Version> {
        crate::domain::Version::parse(&self.row.version).ok()
    }

    /// A copy fetched on demand from a connector, not published here.
    pub fn is_cached(&self) -> bool {
        self.row.cached_from.is_some()
    }

    /// How the stored bytes are framed.
    pub fn container(&self) -> Container {
        self.row.container
    }

    /// SHA-1 of the stored bytes, hex.
    pub fn sha1(&self) -> &str {
        &self.row.sha1
    }

    /// SHA-256 of the stored bytes, hex (also their blob key).
    pub fn sha256(&self) -> &str {
        &self.row.blob_sha256
    }

    /// Size of the stored bytes.
    pub fn size_bytes(&self) -> i64 {
        self.row.size_bytes
    }

    /// When it was published.
    pub fn published_at(&self) -> DateTime<Utc> {
        self.row.published_at
    }

    /// Downloads counted so far (written in batches, so a moment behind).
    pub fn downloads(&self) -> i64 {
        self.row.downloads
    }

    /// The manifest's properties (`upack.json` or the `.vpack`), as
    /// published; unknown properties kept.
    pub fn manifest(&self) -> Map<String, Value> {
        match serde_json::from_str(&self.row.manifest_json) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// A text property of the manifest (`title`, `description`, ...).
    pub fn manifest_text(&self, property: &str) -> Option<String> {
        self.manifest()
            .get(property)
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    /// The archive's entries (empty for a virtual package).
    pub fn files(&self) -> Vec<FileEntry> {
        serde_json::from_str(&self.row.file_list_json).unwrap_or_default()
    }

    /// The `.upack` file name a download of it is saved as.
    pub fn file_name(&self, extension: &str) -> String {
        format!("{}.{}.{extension}", self.row.name, self.row.version)
    }

    /// Whether two values are versions of the same package.
    fn same_package(&self, other: &Self) -> bool {
        self.row.package_id == other.row.package_id
    }
}

/// A package: its versions, highest first.
#[derive(Debug, Clone)]
pub struct PackageSummary {
    versions: Vec<VersionDetail>,
}

impl PackageSummary {
    /// Groups versions (ordered by package, highest version first) into packages.
    pub(in crate::service) fn group(versions: Vec<VersionDetail>) -> Vec<Self> {
        let mut packages: Vec<Self> = Vec::new();
        for version in versions {
            match packages.last_mut() {
                Some(package) if package.versions[0].same_package(&version) => {
                    package.versions.push(version);
                }
                _ => packages.push(Self {
                    versions: vec![version],
                }),
            }
        }
        packages
    }

    /// The version `latest` means: the highest stable one, else the highest.
    pub fn latest(&self) -> &VersionDetail {
        self.latest_by(LatestRule::StableElsePrerelease)
            .unwrap_or(&self.versions[0])
    }

    /// The latest version by `rule` (none when only prereleases exist and
    /// the rule wants a stable one).
    pub fn latest_by(&self, rule: LatestRule) -> Option<&VersionDetail> {
        rule.pick_ordered(&self.versions, VersionDetail::is_stable)
    }

    /// Every version, highest first.
    pub fn versions(&self) -> &[VersionDetail] {
        &self.versions
    }

    /// Downloads of all its versions.
    pub fn total_downloads(&self) -> i64 {
        self.versions.iter().map(VersionDetail::downloads).sum()
    }

    /// Whether its name, title or description (of the latest version)
    /// contains `term`, ignoring case. An empty term matches all.
    pub fn matches(&self, term: &str) -> bool {
        let term = term.to_lowercase();
        let latest = self.latest();
        term.is_empty()
            || latest.name().to_lowercase().contains(&term)
            || ["title", "description"].iter().any(|property| {
                latest
                    .manifest_text(property)
                    .is_some_and(|text| text.to_lowercase().contains(&term))
            })
    }
}

/// An API key as listed: never its secret or hash.
#[derive(Debug, Clone)]
pub struct ApiKeySummary {
    /// Its public id (the part before the secret).
    pub id: String,
    /// What its owner called it.
    pub name: String,
    /// The permissions it grants, as stored (`view`, `download`, `admin`, ...).
    pub permissions: Vec<String>,
    /// The feeds it is limited to.
    pub scope: FeedScope,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used (written in batches).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKeySummary {
    /// Whether it grants administration.
    pub fn is_admin(&self) -> bool {
        self.permissions.iter().any(|p| p == "admin")
    }
}

impl From<ApiKeyRow> for ApiKeySummary {
    fn from(row: ApiKeyRow) -> Self {
        Self {
            scope: FeedScope::parse(row.feed_scope.as_deref()),
            permissions: row.permissions.split(',').map(str::to_owned).collect(),
            id: row.id,
            name: row.name,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
        }
    }
}

/// A recorded promotion of a version from one feed to another.
#[derive(Debug, Clone)]
pub struct Promotion {
    pub from_feed: String,
    pub to_feed: String,
    pub group: String,
    pub name: String,
    pub version: String,
    pub promoted_by: String,
    pub comments: String,
    pub promoted_at: DateTime<Utc>,
}

impl From<promotions::PromotionRow> for Promotion {
    fn from(row: promotions::PromotionRow) -> Self {
        Self {
            from_feed: row.from_feed,
            to_feed: row.to_feed,
            group: row.group_name,
            name: row.name,
            version: row.version,
            promoted_by: row.promoted_by,
            comments: row.comments,
            promoted_at: row.promoted_at,
        }
    }
}

/// A user as listed: never the password hash.
#[derive(Debug, Clone)]
pub struct UserSummary {
    /// The name they sign in with.
    pub username: String,
    /// The permissions they hold, as stored.
    pub permissions: Vec<String>,
    /// The feeds they are limited to.
    pub scope: FeedScope,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
}

impl From<UserRow> for UserSummary {
    fn from(row: UserRow) -> Self {
        Self {
            permissions: row.permissions.split(',').map(str::to_owned).collect(),
            scope: FeedScope::parse(row.feed_scope.as_deref()),
            username: row.username,
            created_at: row.created_at,
        }
    }
}
