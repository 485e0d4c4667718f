//! JSON shapes of the Universal Feed API, with `ProGet`'s field names,
//! rendered from the service's read models.
//!
//! Each shape is a type here, serialised as it is sent and described in
//! `/openapi.json` from the same definition (`ToSchema`), so the document
//! cannot drift from the wire.
//!
//! A version object is the version's `upack.json` properties plus server
//! fields; a package object is its latest version's manifest with `version`
//! replaced by `latestVersion`, plus `versions` (highest first). The empty
//! group is omitted, as `ProGet` does; clients read a missing group as empty.
//! pgutil's package API, the management API and promotions have their own
//! shapes, also here.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::domain::FeedScope;
use crate::service::model::{ApiKeySummary, Feed, PackageSummary, Promotion, VersionDetail};
use crate::service::operations::Operation;
use crate::service::publish::Published;
use crate::upack::FileEntry;

/// A timestamp as the API writes it: RFC 3339 in UTC with milliseconds.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The group as the API writes it: absent when empty.
fn group_of(group: &str) -> Option<String> {
    (!group.is_empty()).then(|| group.to_owned())
}

/// A manifest's properties without those the server writes itself, so that
/// a flattened manifest never repeats a key.
fn other_properties(version: &VersionDetail, server_fields: &[&str]) -> Map<String, Value> {
    let mut properties = version.manifest();
    for field in ["group", "name"].iter().chain(server_fields) {
        properties.remove(*field);
    }
    properties
}

/// One version of a package: its `upack.json` properties (`title`,
/// `description`, `dependencies`, any others) plus what the server knows.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionObject {
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    name: String,
    version: String,
    /// When it was published (RFC 3339, UTC).
    published: String,
    /// The stored file's size in bytes.
    size: i64,
    downloads: i64,
    sha1: String,
    sha256: String,
    is_virtual: bool,
    is_local: bool,
    is_cached: bool,
    /// The files under `package/`, with `includeFileList=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    file_list: Option<Vec<FileEntry>>,
    /// The other `upack.json` properties, as uploaded.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    manifest: Map<String, Value>,
}

const VERSION_FIELDS: [&str; 10] = [
    "version",
    "published",
    "size",
    "downloads",
    "sha1",
    "sha256",
    "isVirtual",
    "isLocal",
    "isCached",
    "fileList",
];

/// A `versions` entry.
pub fn version_object(version: &VersionDetail, include_file_list: bool) -> VersionObject {
    VersionObject {
        group: group_of(version.group()),
        name: version.name().to_owned(),
        version: version.version().to_owned(),
        published: timestamp(version.published_at()),
        size: version.size_bytes(),
        downloads: version.downloads(),
        sha1: version.sha1().to_owned(),
        sha256: version.sha256().to_owned(),
        is_virtual: version.is_virtual(),
        is_local: true,
        is_cached: false,
        file_list: include_file_list.then(|| version.files()),
        manifest: other_properties(version, &VERSION_FIELDS),
    }
}

/// A package: its latest version's `upack.json` properties with
/// `latestVersion` instead of `version`, every version (highest first) and
/// the downloads of all of them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageObject {
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    name: String,
    latest_version: String,
    /// Every version, highest first.
    versions: Vec<String>,
    downloads: i64,
    is_local: bool,
    is_cached: bool,
    /// The latest version's other `upack.json` properties.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    manifest: Map<String, Value>,
}

/// A `packages` entry.
pub fn package_object(package: &PackageSummary) -> PackageObject {
    let latest = package.latest();
    PackageObject {
        group: group_of(latest.group()),
        name: latest.name().to_owned(),
        latest_version: latest.version().to_owned(),
        versions: package
            .versions()
            .iter()
            .map(|v| v.version().to_owned())
            .collect(),
        downloads: package.total_downloads(),
        is_local: true,
        is_cached: false,
        manifest: other_properties(
            latest,
            &[
                "versions",
                "version",
                "downloads",
                "latestVersion",
                "isLocal",
                "isCached",
            ],
        ),
    }
}

/// `PackageVersionInfo`, as pgutil reads it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// The package URL, `pkg:universal/[<group>/]<name>@<version>`.
    purl: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    name: String,
    version: String,
    total_downloads: i64,
    downloads: i64,
    published: String,
    size: i64,
    listed: bool,
    allow_download: bool,
    deprecated: bool,
    sha1: String,
    sha256: String,
}

/// pgutil's view of a version.
pub fn version_info(version: &VersionDetail) -> VersionInfo {
    let purl = if version.group().is_empty() {
        format!("pkg:universal/{}@{}", version.name(), version.version())
    } else {
        format!(
            "pkg:universal/{}/{}@{}",
            version.group(),
            version.name(),
            version.version()
        )
    };
    VersionInfo {
        purl,
        group: group_of(version.group()),
        name: version.name().to_owned(),
        version: version.version().to_owned(),
        total_downloads: version.downloads(),
        downloads: version.downloads(),
        published: timestamp(version.published_at()),
        size: version.size_bytes(),
        listed: true,
        allow_download: true,
        deprecated: false,
        sha1: version.sha1().to_owned(),
        sha256: version.sha256().to_owned(),
    }
}

/// `ProGetFeed`: a feed as the management API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedObject {
    name: String,
    /// Always `universal`.
    feed_type: &'static str,
    description: String,
    active: bool,
    alternate_names: Vec<String>,
    /// The feed's Universal Feed API address.
    endpoint_url: String,
    allow_anonymous_read: bool,
}

/// A feed as the management API shows it.
pub fn feed_object(base_url: &str, feed: &Feed) -> FeedObject {
    FeedObject {
        name: feed.name.clone(),
        feed_type: "universal",
        description: feed.description.clone(),
        active: true,
        alternate_names: Vec::new(),
        endpoint_url: format!("{base_url}/upack/{}/", feed.name),
        allow_anonymous_read: feed.anonymous_read,
    }
}

/// `ProGet`'s API key information (never the key itself, but for `key` in
/// the answer to `create`, the one time it is shown).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyObject {
    id: String,
    /// `System` (admin), `Feed` (limited to feeds) or `Other`.
    #[serde(rename = "type")]
    kind: &'static str,
    display_name: String,
    /// The feeds it is limited to, comma-separated; absent for every feed.
    feed: Option<String>,
    package_permissions: Vec<String>,
    system_apis: Vec<String>,
    expiration: Option<DateTime<Utc>>,
    last_used: Option<DateTime<Utc>>,
    created: DateTime<Utc>,
    logging: &'static str,
    /// The key, in the answer to `create` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

/// A key as the management API shows it.
pub fn key_object(key: &ApiKeySummary) -> ApiKeyObject {
    let feeds = match &key.scope {
        FeedScope::All => None,
        FeedScope::Only(feeds) => Some(feeds.iter().cloned().collect::<Vec<_>>().join(",")),
    };
    let is_admin = key.is_admin();
    ApiKeyObject {
        id: key.id.clone(),
        kind: if is_admin {
            "System"
        } else if feeds.is_some() {
            "Feed"
        } else {
            "Other"
        },
        display_name: key.name.clone(),
        feed: feeds,
        package_permissions: key.permissions.clone(),
        system_apis: if is_admin {
            vec!["full-control".to_owned()]
        } else {
            Vec::new()
        },
        expiration: key.expires_at,
        last_used: key.last_used_at,
        created: key.created_at,
        logging: "None",
        key: None,
    }
}

/// A newly created key, with the key text shown this once.
pub fn created_key_object(key: &ApiKeySummary, secret: &str) -> ApiKeyObject {
    ApiKeyObject {
        key: Some(secret.to_owned()),
        ..key_object(key)
    }
}

/// The answer to an upload: what was stored.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredPackage {
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    name: String,
    version: String,
    sha1: String,
    sha256: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_virtual: Option<bool>,
}

/// What an upload stored, as the Universal Feed API answers.
pub fn stored_package(published: &Published) -> StoredPackage {
    StoredPackage {
        group: Some(published.group.clone()),
        name: published.name.clone(),
        version: published.version.clone(),
        sha1: published.sha1.clone(),
        sha256: published.sha256.clone(),
        size: published.size_bytes,
        is_virtual: Some(published.is_virtual),
    }
}

/// What an upload stored, as pgutil's package API answers (no `isVirtual`).
pub fn stored_package_for_pgutil(published: &Published) -> StoredPackage {
    StoredPackage {
        is_virtual: None,
        ..stored_package(published)
    }
}

/// `GET /upack/<feed>/meta`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedMetadata {
    api_version: &'static str,
    version: &'static str,
    name: String,
    description: String,
    package_count: i64,
    package_version_count: i64,
    /// The optional parts of the API this feed offers.
    services: [&'static str; 4],
}

/// A feed's metadata and the API services it offers.
pub fn feed_metadata(feed: &Feed, package_count: i64, version_count: i64) -> FeedMetadata {
    FeedMetadata {
        api_version: "1.3.0",
        version: "1.3.0",
        name: feed.name.clone(),
        description: feed.description.clone(),
        package_count,
        package_version_count: version_count,
        services: [
            "VirtualPackages",
            "UploadPackage",
            "Delete",
            "DownloadContents",
        ],
    }
}

/// `GET /api/packages/<feed>`: the feed as pgutil sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedInfo {
    id: i64,
    name: String,
    /// Always `universal`.
    feed_type: &'static str,
    /// Always `upack`.
    package_type: &'static str,
}

/// The feed as pgutil sees it.
pub fn feed_info(feed: &Feed) -> FeedInfo {
    FeedInfo {
        id: feed.id,
        name: feed.name.clone(),
        feed_type: "universal",
        package_type: "upack",
    }
}

/// `GET /health`: whether this process can serve (`ProGet`'s field names).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    application_name: &'static str,
    version_number: &'static str,
    /// `sqlite` or `postgres`.
    database: &'static str,
    /// `OK` or `Error`.
    database_status: &'static str,
    /// Empty, or a sentence saying what is wrong (the log has the reason).
    database_status_details: &'static str,
    /// `OK` or `Error`.
    service_status: &'static str,
}

/// The health answer for a database that is (or is not) reachable.
pub fn health(database: &'static str, database_ok: bool) -> Health {
    let (status, details) = if database_ok {
        ("OK", "")
    } else {
        (
            "Error",
            "The database cannot be reached; the server log has the reason.",
        )
    };
    Health {
        application_name: "Wharf",
        version_number: env!("CARGO_PKG_VERSION"),
        database,
        database_status: status,
        database_status_details: details,
        service_status: status,
    }
}

/// One promotion of a version.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionRecord {
    from_feed: String,
    to_feed: String,
    /// When (RFC 3339, UTC).
    date: String,
    /// Who promoted it.
    user: String,
    comments: String,
}

/// A version and its promotions.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotedVersion {
    group: String,
    package: String,
    /// Always `upack`.
    package_type: &'static str,
    version: String,
    promotions: Vec<PromotionRecord>,
}

/// Promotions grouped by package version, as `/api/promotions/list` answers.
pub fn promotions_by_version(promotions: &[Promotion]) -> Vec<PromotedVersion> {
    let mut grouped: Vec<PromotedVersion> = Vec::new();
    for promotion in promotions {
        let record = PromotionRecord {
            from_feed: promotion.from_feed.clone(),
            to_feed: promotion.to_feed.clone(),
            date: timestamp(promotion.promoted_at),
            user: promotion.promoted_by.clone(),
            comments: promotion.comments.clone(),
        };
        let existing = grouped.iter_mut().find(|g| {
            g.group == promotion.group
                && g.package == promotion.name
                && g.version == promotion.version
        });
        match existing {
            Some(group) => group.promotions.push(record),
            None => grouped.push(PromotedVersion {
                group: promotion.group.clone(),
                package: promotion.name.clone(),
                package_type: "upack",
                version: promotion.version.clone(),
                promotions: vec![record],
            }),
        }
    }
    grouped
}

/// Serialises a shape for the listing cache.
pub fn to_bytes<T: Serialize>(value: &T) -> bytes::Bytes {
    // The shapes here always serialise: their maps have string keys.
    bytes::Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

/// How far a running operation got.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationProgress {
    bytes_done: i64,
    /// Absent until known.
    bytes_total: Option<i64>,
}

/// Why an operation failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationError {
    /// Stable, for scripts: `blob_exists`, `not_found`, `interrupted`, ...
    code: String,
    /// One sentence for a person.
    message: String,
}

/// A long-running operation, as its status call answers (200 whatever the
/// operation's outcome).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationObject {
    id: String,
    /// `export`.
    kind: String,
    /// `queued`, `running`, `succeeded` or `failed`.
    state: &'static str,
    progress: OperationProgress,
    /// Once ended: the status the outcome would have had as a request.
    http_status_code: Option<u16>,
    /// Once succeeded: what was done (an export lists the files written).
    #[schema(value_type = Option<Object>)]
    result: Option<Value>,
    /// Once failed: why.
    error: Option<OperationError>,
    /// `key:<id>`, a user name, or `anonymous`.
    requested_by: String,
    /// Runs so far (more than one after a process stopped while running it).
    attempts: i32,
    created_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
}

/// An operation as the API shows it.
pub fn operation_object(operation: &Operation) -> OperationObject {
    OperationObject {
        id: operation.id.clone(),
        kind: operation.kind.clone(),
        state: operation.state.as_str(),
        progress: OperationProgress {
            bytes_done: operation.bytes_done,
            bytes_total: operation.bytes_total,
        },
        http_status_code: operation.http_status,
        result: operation.result.clone(),
        error: operation.error.as_ref().map(|failure| OperationError {
            code: failure.code.clone(),
            message: failure.message.clone(),
        }),
        requested_by: operation.requested_by.clone(),
        attempts: operation.attempts,
        created_at: timestamp(operation.created_at),
        started_at: operation.started_at.map(timestamp),
        finished_at: operation.finished_at.map(timestamp),
    }
}
