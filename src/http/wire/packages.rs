//! Versions and packages: the Universal Feed API's objects (a version's
//! manifest properties plus server fields), pgutil's `PackageVersionInfo`,
//! what an upload stored, and a feed's metadata.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::timestamp;
use crate::service::model::{Feed, PackageSummary, VersionDetail};
use crate::service::publish::Published;
use crate::upack::FileEntry;

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
        is_local: !version.is_cached(),
        is_cached: version.is_cached(),
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
        is_local: package.versions().iter().any(|v| !v.is_cached()),
        is_cached: package.versions().iter().any(VersionDetail::is_cached),
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
