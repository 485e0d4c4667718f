//! JSON shapes of the Universal Feed API, with `ProGet`'s field names.
//!
//! A version object is the version's `upack.json` properties plus server
//! fields; a package object is its latest version's manifest with `version`
//! replaced by `latestVersion`, plus `versions` (highest first). The empty
//! group is omitted, as `ProGet` does; clients read a missing group as empty.

use serde_json::{Map, Value, json};

use crate::domain::LatestRule;
use crate::service::packages::VersionRow;
use crate::upack::FileEntry;

fn manifest_of(row: &VersionRow) -> Map<String, Value> {
    match serde_json::from_str(&row.manifest_json) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn set_identity(object: &mut Map<String, Value>, row: &VersionRow) {
    if row.group_name.is_empty() {
        object.remove("group");
    } else {
        object.insert("group".into(), json!(row.group_name));
    }
    object.insert("name".into(), json!(row.name));
}

/// A `versions` entry.
pub fn version_object(row: &VersionRow, include_file_list: bool) -> Value {
    let mut object = manifest_of(row);
    set_identity(&mut object, row);
    object.insert("version".into(), json!(row.version));
    object.insert(
        "published".into(),
        json!(
            row.published_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ),
    );
    object.insert("size".into(), json!(row.size_bytes));
    object.insert("downloads".into(), json!(row.downloads));
    object.insert("sha1".into(), json!(row.sha1));
    object.insert("sha256".into(), json!(row.blob_sha256));
    object.insert("isVirtual".into(), json!(row.is_virtual));
    object.insert("isLocal".into(), json!(true));
    object.insert("isCached".into(), json!(false));
    if include_file_list {
        let files: Vec<FileEntry> = serde_json::from_str(&row.file_list_json).unwrap_or_default();
        object.insert("fileList".into(), json!(files));
    }
    Value::Object(object)
}

/// A `packages` entry from one package's versions, highest first.
pub fn package_object(versions: &[&VersionRow]) -> Option<Value> {
    // latestVersion follows the default latest rule; rows arrive highest first.
    let latest = *LatestRule::StableElsePrerelease.pick_ordered(versions, |v| v.is_stable)?;
    let mut object = manifest_of(latest);
    object.remove("version");
    set_identity(&mut object, latest);
    object.insert("latestVersion".into(), json!(latest.version));
    object.insert(
        "versions".into(),
        json!(
            versions
                .iter()
                .map(|v| v.version.as_str())
                .collect::<Vec<_>>()
        ),
    );
    object.insert(
        "downloads".into(),
        json!(versions.iter().map(|v| v.downloads).sum::<i64>()),
    );
    object.insert("isLocal".into(), json!(true));
    object.insert("isCached".into(), json!(false));
    Some(Value::Object(object))
}

/// Groups rows (ordered by package, highest version first) into package objects.
pub fn package_objects(rows: &[VersionRow]) -> Vec<Value> {
    rows.chunk_by(|a, b| a.package_id == b.package_id)
        .filter_map(|chunk| package_object(&chunk.iter().collect::<Vec<_>>()))
        .collect()
}

/// Whether a package object matches a search term: a case-insensitive
/// substring of its name, title or description. An empty term matches all.
pub fn matches_term(package: &Value, term: &str) -> bool {
    let term = term.to_lowercase();
    term.is_empty()
        || ["name", "title", "description"].iter().any(|field| {
            package
                .get(*field)
                .and_then(Value::as_str)
                .is_some_and(|text| text.to_lowercase().contains(&term))
        })
}
