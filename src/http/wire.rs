//! JSON shapes of the Universal Feed API, with `ProGet`'s field names,
//! rendered from the service's read models.
//!
//! A version object is the version's `upack.json` properties plus server
//! fields; a package object is its latest version's manifest with `version`
//! replaced by `latestVersion`, plus `versions` (highest first). The empty
//! group is omitted, as `ProGet` does; clients read a missing group as empty.
//! pgutil's package API, the management API and promotions have their own
//! shapes, also here.

use serde_json::{Map, Value, json};

use crate::domain::FeedScope;
use crate::service::model::{ApiKeySummary, Feed, PackageSummary, Promotion, VersionDetail};

fn set_identity(object: &mut Map<String, Value>, version: &VersionDetail) {
    if version.group().is_empty() {
        object.remove("group");
    } else {
        object.insert("group".into(), json!(version.group()));
    }
    object.insert("name".into(), json!(version.name()));
}

/// A timestamp as the API writes it: RFC 3339 in UTC with milliseconds.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A `versions` entry.
pub fn version_object(version: &VersionDetail, include_file_list: bool) -> Value {
    let mut object = version.manifest();
    set_identity(&mut object, version);
    object.insert("version".into(), json!(version.version()));
    object.insert("published".into(), json!(timestamp(version.published_at())));
    object.insert("size".into(), json!(version.size_bytes()));
    object.insert("downloads".into(), json!(version.downloads()));
    object.insert("sha1".into(), json!(version.sha1()));
    object.insert("sha256".into(), json!(version.sha256()));
    object.insert("isVirtual".into(), json!(version.is_virtual()));
    object.insert("isLocal".into(), json!(true));
    object.insert("isCached".into(), json!(false));
    if include_file_list {
        object.insert("fileList".into(), json!(version.files()));
    }
    Value::Object(object)
}

/// A `packages` entry.
pub fn package_object(package: &PackageSummary) -> Value {
    let latest = package.latest();
    let mut object = latest.manifest();
    object.remove("version");
    set_identity(&mut object, latest);
    object.insert("latestVersion".into(), json!(latest.version()));
    object.insert(
        "versions".into(),
        json!(
            package
                .versions()
                .iter()
                .map(VersionDetail::version)
                .collect::<Vec<_>>()
        ),
    );
    object.insert("downloads".into(), json!(package.total_downloads()));
    object.insert("isLocal".into(), json!(true));
    object.insert("isCached".into(), json!(false));
    Value::Object(object)
}

/// `PackageVersionInfo`, as pgutil reads it.
pub fn version_info(version: &VersionDetail) -> Value {
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
    let mut info = json!({
        "purl": purl,
        "name": version.name(),
        "version": version.version(),
        "totalDownloads": version.downloads(),
        "downloads": version.downloads(),
        "published": timestamp(version.published_at()),
        "size": version.size_bytes(),
        "listed": true,
        "allowDownload": true,
        "deprecated": false,
        "sha1": version.sha1(),
        "sha256": version.sha256(),
    });
    if !version.group().is_empty() {
        info["group"] = json!(version.group());
    }
    info
}

/// `ProGetFeed` JSON for a feed.
pub fn feed_object(base_url: &str, feed: &Feed) -> Value {
    json!({
        "name": feed.name,
        "feedType": "universal",
        "description": feed.description,
        "active": true,
        "alternateNames": [],
        "endpointUrl": format!("{base_url}/upack/{}/", feed.name),
        "allowAnonymousRead": feed.anonymous_read,
    })
}

/// `ProGet`'s API key JSON (never the key itself).
pub fn key_object(key: &ApiKeySummary) -> Value {
    let feeds = match &key.scope {
        FeedScope::All => None,
        FeedScope::Only(feeds) => Some(feeds.iter().cloned().collect::<Vec<_>>().join(",")),
    };
    let is_admin = key.is_admin();
    json!({
        "id": key.id,
        "type": if is_admin { "System" } else if feeds.is_some() { "Feed" } else { "Other" },
        "displayName": key.name,
        "feed": feeds,
        "packagePermissions": key.permissions,
        "systemApis": if is_admin { vec!["full-control"] } else { Vec::new() },
        "expiration": key.expires_at,
        "lastUsed": key.last_used_at,
        "created": key.created_at,
        "logging": "None",
    })
}

/// Promotions grouped by package version, as `/api/promotions/list` answers.
pub fn promotions_by_version(promotions: &[Promotion]) -> Value {
    let mut grouped: Vec<Value> = Vec::new();
    for promotion in promotions {
        let record = json!({
            "fromFeed": promotion.from_feed,
            "toFeed": promotion.to_feed,
            "date": timestamp(promotion.promoted_at),
            "user": promotion.promoted_by,
            "comments": promotion.comments,
        });
        let existing = grouped.iter_mut().find(|g| {
            g["group"] == promotion.group
                && g["package"] == promotion.name
                && g["version"] == promotion.version
        });
        match existing {
            Some(group) => {
                if let Some(list) = group["promotions"].as_array_mut() {
                    list.push(record);
                }
            }
            None => grouped.push(json!({
                "group": promotion.group,
                "package": promotion.name,
                "packageType": "upack",
                "version": promotion.version,
                "promotions": [record],
            })),
        }
    }
    Value::Array(grouped)
}

/// Serialises a value for the listing cache.
pub fn to_bytes(value: &Value) -> bytes::Bytes {
    // A `Value` always serialises: its keys are strings.
    bytes::Bytes::from(value.to_string())
}
