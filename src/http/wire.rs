//! JSON shapes of the Universal Feed API, with `ProGet`'s field names,
//! rendered from the service's read models.
//!
//! A version object is the version's `upack.json` properties plus server
//! fields; a package object is its latest version's manifest with `version`
//! replaced by `latestVersion`, plus `versions` (highest first). The empty
//! group is omitted, as `ProGet` does; clients read a missing group as empty.

use serde_json::{Map, Value, json};

use crate::service::model::{PackageSummary, VersionDetail};

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

/// Serialises a value for the listing cache.
pub fn to_bytes(value: &Value) -> bytes::Bytes {
    // A `Value` always serialises: its keys are strings.
    bytes::Bytes::from(value.to_string())
}
