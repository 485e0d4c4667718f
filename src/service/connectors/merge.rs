//! Listings of a feed with connectors: what the feed holds, merged with
//! what its remotes list, as the Universal Feed API's JSON objects.
//!
//! A version or package is identified by group and name ignoring case (and
//! version by precedence, build metadata ignored). What the feed holds wins:
//! its object is kept as it is (`isLocal`, `isCached` saying whether it was
//! published here or fetched); a remote object for something the feed lacks
//! is added with `isLocal: false, isCached: false`, the first connector's
//! when several list it. A package both hold lists the versions of both,
//! and its `latestVersion` is the latest of them all. The order is the
//! feed's: packages by group and name, versions highest first.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::domain::{LatestRule, Version};

type Object = Map<String, Value>;

fn text<'a>(object: &'a Object, key: &str) -> &'a str {
    object.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Group and name, lower-cased.
fn package_of(object: &Object) -> (String, String) {
    (
        text(object, "group").to_ascii_lowercase(),
        text(object, "name").to_ascii_lowercase(),
    )
}

fn version_of(object: &Object, key: &str) -> Option<Version> {
    Version::parse(text(object, key)).ok()
}

/// Marks a remote's object as what the feed does not hold.
fn as_remote(mut object: Object) -> Object {
    object.insert("isLocal".to_owned(), Value::Bool(false));
    object.insert("isCached".to_owned(), Value::Bool(false));
    object
}

/// By package, then highest version first.
fn package_then_version(a: &Object, b: &Object) -> Ordering {
    package_of(a)
        .cmp(&package_of(b))
        .then_with(|| version_of(b, "version").cmp(&version_of(a, "version")))
}

/// A `versions` listing merged: the feed's versions, and each remote
/// version it lacks.
pub fn versions(local: Vec<Object>, remote: Vec<Object>) -> Vec<Object> {
    let key = |o: &Object| {
        let (group, name) = package_of(o);
        (
            group,
            name,
            version_of(o, "version").map(|v| v.precedence_key()),
        )
    };
    let mut seen: std::collections::HashSet<_> = local.iter().map(key).collect();
    let mut merged = local;
    for object in remote {
        if version_of(&object, "version").is_some() && seen.insert(key(&object)) {
            merged.push(as_remote(object));
        }
    }
    merged.sort_by(package_then_version);
    merged
}

/// A `packages` (or `search`) listing merged: the feed's packages with the
/// versions remotes add, and each remote package it lacks.
pub fn packages(local: Vec<Object>, remote: Vec<Object>) -> Vec<Object> {
    let mut merged = local;
    let mut index: HashMap<(String, String), usize> = merged
        .iter()
        .enumerate()
        .map(|(at, o)| (package_of(o), at))
        .collect();
    for object in remote {
        let package = package_of(&object);
        if let Some(&at) = index.get(&package) {
            let versions = version_list(&merged[at])
                .into_iter()
                .chain(version_list(&object));
            set_versions(&mut merged[at], versions.collect());
        } else {
            index.insert(package, merged.len());
            merged.push(as_remote(object));
        }
    }
    merged.sort_by_key(package_of);
    merged
}

/// A package object's versions: `versions`, else its `latestVersion`.
fn version_list(object: &Object) -> Vec<Version> {
    match object.get("versions").and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .filter_map(|v| Version::parse(v.as_str()?).ok())
            .collect(),
        None => version_of(object, "latestVersion").into_iter().collect(),
    }
}

/// Writes `versions` (deduplicated, highest first) and the latest of them.
fn set_versions(object: &mut Object, mut versions: Vec<Version>) {
    versions.sort_by(|a, b| b.cmp(a));
    versions.dedup_by(|a, b| a == b);
    if let Some(latest) = LatestRule::StableElsePrerelease.pick(&versions) {
        object.insert(
            "latestVersion".to_owned(),
            Value::String(latest.to_string()),
        );
    }
    object.insert(
        "versions".to_owned(),
        Value::Array(
            versions
                .iter()
                .map(|v| Value::String(v.to_string()))
                .collect(),
        ),
    );
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn objects(value: Value) -> Vec<Object> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_remote_version_the_feed_lacks_is_added_as_remote_in_order() {
        let local = objects(json!([
            {"group": "g", "name": "app", "version": "1.0.0", "isLocal": true, "isCached": false},
        ]));
        let remote = objects(json!([
            {"group": "G", "name": "App", "version": "1.0.0", "sha1": "remote"},
            {"group": "g", "name": "app", "version": "2.0.0", "isLocal": true},
            {"name": "tool", "version": "0.1.0"},
            {"group": "g", "name": "app", "version": "not a version"},
        ]));
        let merged = versions(local, remote);
        let seen: Vec<(&str, &str, bool)> = merged
            .iter()
            .map(|o| (text(o, "name"), text(o, "version"), o["isLocal"] == true))
            .collect();
        assert_eq!(
            seen,
            // No group sorts first, as the feed lists it.
            [
                ("tool", "0.1.0", false),
                ("app", "2.0.0", false),
                ("app", "1.0.0", true)
            ]
        );
        assert!(
            merged[2].get("sha1").is_none(),
            "the feed's own object wins"
        );
        assert_eq!(merged[1]["isCached"], false);
    }

    #[test]
    fn a_package_both_hold_lists_every_version_and_the_latest_of_all() {
        let local = objects(json!([
            {"name": "app", "latestVersion": "1.0.0", "versions": ["1.0.0"], "isLocal": true, "downloads": 7},
        ]));
        let remote = objects(json!([
            {"name": "APP", "latestVersion": "3.0.0-rc.1", "versions": ["3.0.0-rc.1", "2.0.0", "1.0.0"]},
            {"group": "a", "name": "lib", "latestVersion": "0.2.0", "versions": ["0.2.0"]},
        ]));
        let merged = packages(local, remote);
        assert_eq!(merged.len(), 2);
        let (app, lib) = (&merged[0], &merged[1]);
        assert_eq!(
            (text(lib, "name"), lib["isLocal"].clone()),
            ("lib", json!(false))
        );
        assert_eq!(app["versions"], json!(["3.0.0-rc.1", "2.0.0", "1.0.0"]));
        assert_eq!(app["latestVersion"], "2.0.0", "stable before a prerelease");
        assert_eq!(app["downloads"], 7);
        assert_eq!(app["isLocal"], true);
    }
}
