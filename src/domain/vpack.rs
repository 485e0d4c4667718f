//! The `contents` and `metaContents` of a virtual package manifest.
//!
//! Each item names a source and where its content goes:
//!
//! - a package id string `group/name:version[:sha1]` (also `group:name:version[:sha1]`),
//!   whose `package/` content goes to the root of `package/`;
//! - an absolute `http(s)` URL string, a file placed by its base name;
//! - an object with `source` (an id string, a package object
//!   `{group, name, version, hash, packagePath}`, a file object `{url, hash}`
//!   or an asset object `{feed, asset}`) and `virtualPath` (or `targetPath`,
//!   as some docs spell it), plus an optional `type` (`virtualDirectory`, the
//!   default, or `virtualFile`).
//!
//! This parses syntax only; whether a referenced package exists is checked
//! when the virtual package is assembled.

use serde_json::{Map, Value};

use super::{DomainError, GroupName, PackageId, PackageName, Version};

/// Where the content of an item comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentSource {
    /// A package in the same feed.
    Package {
        /// Group and name.
        id: PackageId,
        /// The exact version.
        version: Version,
        /// Expected SHA-1 of the package file, lowercase hex.
        sha1: Option<String>,
        /// Folder of the referenced archive to take content from.
        package_path: String,
    },
    /// A file fetched from a URL.
    Url {
        /// Absolute `http`/`https` URL.
        url: String,
        /// Expected SHA-1 of the file, lowercase hex.
        sha1: Option<String>,
    },
    /// A file from a `ProGet` asset directory (not supported by Wharf).
    Asset {
        /// The asset directory.
        feed: String,
        /// The path inside it.
        asset: String,
    },
}

/// One item of `contents` or `metaContents`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentItem {
    /// Where the content comes from.
    pub source: ContentSource,
    /// Target path relative to the item's root (`package/` for `contents`,
    /// the archive root for `metaContents`), `/`-separated, no leading or
    /// trailing slash; empty means the root itself.
    pub virtual_path: String,
    /// Whether `virtual_path` names a file (rather than a directory).
    pub is_file: bool,
}

impl ContentItem {
    /// A short description of the source for error messages.
    pub fn describe(&self) -> String {
        match &self.source {
            ContentSource::Package { id, version, .. } => format!("{id}:{version}"),
            ContentSource::Url { url, .. } => url.clone(),
            ContentSource::Asset { feed, asset } => format!("asset {feed}/{asset}"),
        }
    }
}

/// The parsed content lists of a virtual manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VirtualContents {
    /// Items whose content goes under `package/`.
    pub contents: Vec<ContentItem>,
    /// Items whose content goes under the archive root.
    pub meta_contents: Vec<ContentItem>,
}

impl VirtualContents {
    /// Parses `contents` (required, at least one item) and `metaContents`.
    pub fn parse(manifest: &Map<String, Value>) -> Result<Self, DomainError> {
        let contents = match manifest.get("contents") {
            Some(value) => parse_list("contents", value)?,
            None => {
                return Err(DomainError::invalid(
                    "contents",
                    "is required for a virtual package",
                ));
            }
        };
        if contents.is_empty() {
            return Err(DomainError::invalid(
                "contents",
                "must list at least one item",
            ));
        }
        let meta_contents = match manifest.get("metaContents") {
            Some(value) => parse_list("metaContents", value)?,
            None => Vec::new(),
        };
        for (index, item) in meta_contents.iter().enumerate() {
            let path = item.virtual_path.to_ascii_lowercase();
            if path == "upack.json" || path == "package" || path.starts_with("package/") {
                return Err(DomainError::invalid(
                    "metaContents",
                    format!("item {index} may not target upack.json or package/"),
                ));
            }
        }
        Ok(Self {
            contents,
            meta_contents,
        })
    }

    /// Every item, `contents` first.
    pub fn all(&self) -> impl Iterator<Item = (bool, &ContentItem)> {
        self.contents
            .iter()
            .map(|item| (false, item))
            .chain(self.meta_contents.iter().map(|item| (true, item)))
    }
}

fn parse_list(field: &'static str, value: &Value) -> Result<Vec<ContentItem>, DomainError> {
    let Value::Array(items) = value else {
        return Err(DomainError::invalid(field, "must be an array"));
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            parse_item(item)
                .map_err(|rule| DomainError::invalid(field, format!("item {index} {rule}")))
        })
        .collect()
}

fn parse_item(item: &Value) -> Result<ContentItem, String> {
    match item {
        Value::String(text) => {
            let source = parse_source_string(text)?;
            let is_file = matches!(source, ContentSource::Url { .. });
            Ok(ContentItem {
                source,
                virtual_path: String::new(),
                is_file,
            })
        }
        Value::Object(object) => {
            let source = match object.get("source") {
                Some(Value::String(text)) => parse_source_string(text)?,
                Some(Value::Object(source)) => parse_source_object(source)?,
                _ => return Err("must have a 'source' (a package id or an object)".to_owned()),
            };
            let path = match object
                .get("virtualPath")
                .or_else(|| object.get("targetPath"))
            {
                None | Some(Value::Null) => "",
                Some(Value::String(path)) => path.as_str(),
                Some(_) => return Err("has a virtualPath that is not a string".to_owned()),
            };
            let virtual_path = normalize_path(path)?;
            let declared_file = object
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| !t.eq_ignore_ascii_case("virtualDirectory"));
            // A file source always lands as one file at its path.
            let is_file = declared_file
                || (matches!(
                    source,
                    ContentSource::Url { .. } | ContentSource::Asset { .. }
                ) && !virtual_path.is_empty());
            Ok(ContentItem {
                source,
                virtual_path,
                is_file,
            })
        }
        _ => Err("must be a package id string or an object with a 'source'".to_owned()),
    }
}

fn parse_source_string(text: &str) -> Result<ContentSource, String> {
    let text = text.trim();
    if text.starts_with("http://") || text.starts_with("https://") {
        return Ok(ContentSource::Url {
            url: text.to_owned(),
            sha1: None,
        });
    }
    let parts: Vec<&str> = text.split(':').collect();
    let bad = || {
        format!(
            "'{}' is not a package id (group/name:version[:sha1])",
            text.escape_debug()
        )
    };
    let (group_and_name, group_override, version, sha1) = match parts.as_slice() {
        [id, version] => (*id, None, *version, None),
        [id, version, sha1] if Version::parse(version).is_ok() => {
            (*id, None, *version, Some(*sha1))
        }
        [group, name, version] => (*name, Some(*group), *version, None),
        [group, name, version, sha1] => (*name, Some(*group), *version, Some(*sha1)),
        _ => return Err(bad()),
    };
    let (group, name) = match group_override {
        Some(group) => (group, group_and_name),
        None => group_and_name
            .rsplit_once('/')
            .unwrap_or(("", group_and_name)),
    };
    Ok(ContentSource::Package {
        id: PackageId::new(
            GroupName::parse(group).map_err(|e| format!("has an invalid id ({e})"))?,
            PackageName::parse(name).map_err(|e| format!("has an invalid id ({e})"))?,
        ),
        version: Version::parse(version).map_err(|_| bad())?,
        sha1: sha1.map(parse_sha1).transpose()?,
        package_path: "package/".to_owned(),
    })
}

fn parse_source_object(source: &Map<String, Value>) -> Result<ContentSource, String> {
    let text = |key: &str| source.get(key).and_then(Value::as_str).map(str::trim);
    if let Some(url) = text("url") {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "has a url that is not absolute http(s): '{}'",
                url.escape_debug()
            ));
        }
        return Ok(ContentSource::Url {
            url: url.to_owned(),
            sha1: text("hash").map(parse_sha1).transpose()?,
        });
    }
    if let (Some(feed), Some(asset)) = (text("feed"), text("asset")) {
        return Ok(ContentSource::Asset {
            feed: feed.to_owned(),
            asset: asset.to_owned(),
        });
    }
    let name = text("name").ok_or("has a source object without 'name', 'url' or 'asset'")?;
    let version = text("version").ok_or("has a package source without 'version'")?;
    let package_path = match text("packagePath").unwrap_or("package/") {
        "" | "/" => String::new(),
        path => format!("{}/", normalize_path(path)?),
    };
    Ok(ContentSource::Package {
        id: PackageId::new(
            GroupName::parse(text("group").unwrap_or("")).map_err(|e| e.to_string())?,
            PackageName::parse(name).map_err(|e| e.to_string())?,
        ),
        version: Version::parse(version).map_err(|e| e.to_string())?,
        sha1: text("hash").map(parse_sha1).transpose()?,
        package_path,
    })
}

fn parse_sha1(hash: &str) -> Result<String, String> {
    if hash.len() == 40 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hash.to_ascii_lowercase())
    } else {
        Err(format!(
            "has a hash that is not 40 hex digits: '{}'",
            hash.escape_debug()
        ))
    }
}

/// Normalizes a target path: `\` as `/`, no leading or trailing slash, no
/// empty, `.` or `..` components.
fn normalize_path(path: &str) -> Result<String, String> {
    let normalized = path.replace('\\', "/");
    let parts: Vec<&str> = normalized
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.iter().any(|p| *p == ".." || p.contains(':')) {
        return Err(format!("has an unsafe path '{}'", path.escape_debug()));
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<VirtualContents, DomainError> {
        let Value::Object(map) = serde_json::from_str(json).unwrap() else {
            panic!()
        };
        VirtualContents::parse(&map)
    }

    fn package(item: &ContentItem) -> (String, String, Option<String>) {
        match &item.source {
            ContentSource::Package {
                id, version, sha1, ..
            } => (id.to_string(), version.to_string(), sha1.clone()),
            other => panic!("not a package: {other:?}"),
        }
    }

    #[test]
    fn id_strings_in_every_documented_form_parse() {
        let parsed = parse(
            r#"{"contents":["HDARS.Web:1.3.9", "a/b/ABlast:2.2.1:AB60BF74FC8147CA41BD53BDB1DEFC3AAE35BC91",
                "inedox:AWS:3.1.0-CI.2", "g:n:1.0.0:ab60bf74fc8147ca41bd53bdb1defc3aae35bc91", "https://x.test/f.png"]}"#,
        )
        .unwrap();
        assert_eq!(
            package(&parsed.contents[0]),
            ("HDARS.Web".into(), "1.3.9".into(), None)
        );
        assert_eq!(
            package(&parsed.contents[1]),
            (
                "a/b/ABlast".into(),
                "2.2.1".into(),
                Some("ab60bf74fc8147ca41bd53bdb1defc3aae35bc91".into())
            )
        );
        assert_eq!(
            package(&parsed.contents[2]),
            ("inedox/AWS".into(), "3.1.0-CI.2".into(), None)
        );
        assert_eq!(package(&parsed.contents[3]).0, "g/n");
        assert!(matches!(
            parsed.contents[4].source,
            ContentSource::Url { .. }
        ));
        assert!(parsed.contents[4].is_file);
    }

    #[test]
    fn objects_with_virtual_or_target_paths_parse() {
        let parsed = parse(
            r#"{"contents":[{"source":"P:2.0.1","targetPath":"custom\\plugin/"},
                {"source":{"name":"Q","version":"1.0.0","packagePath":"package/bin"},"virtualPath":"/bin"},
                {"source":{"url":"http://h.test/logo.png"},"virtualPath":"common/logo/logo.png"},
                {"source":{"feed":"assets","asset":"logos/a.png"},"virtualPath":"common/a.png"}],
               "metaContents":[{"source":"M:1.0.0","virtualPath":"docs"}]}"#,
        )
        .unwrap();
        assert_eq!(parsed.contents[0].virtual_path, "custom/plugin");
        assert!(!parsed.contents[0].is_file);
        let ContentSource::Package { package_path, .. } = &parsed.contents[1].source else {
            panic!()
        };
        assert_eq!(package_path, "package/bin/");
        assert!(parsed.contents[2].is_file);
        assert!(matches!(
            parsed.contents[3].source,
            ContentSource::Asset { .. }
        ));
        assert_eq!(parsed.meta_contents[0].virtual_path, "docs");
    }

    #[test]
    fn malformed_items_name_the_list_and_index() {
        for (json, expected) in [
            (
                r#"{"contents":[]}"#,
                "contents must list at least one item.",
            ),
            (r#"{"contents":"x"}"#, "contents must be an array."),
            (
                r#"{"contents":["justaname"]}"#,
                "contents item 0 'justaname' is not a package id",
            ),
            (r#"{"contents":["a:1.0.0", 5]}"#, "contents item 1 must be"),
            (
                r#"{"contents":[{"source":"a:1.0.0","virtualPath":"../x"}]}"#,
                "unsafe path",
            ),
            (r#"{"contents":["a:1.0.0:nothex"]}"#, "not 40 hex digits"),
            (
                r#"{"contents":["a:1.0.0"],"metaContents":[{"source":"b:1.0.0","virtualPath":"package/x"}]}"#,
                "may not target",
            ),
            (
                r#"{"contents":[{"source":{"url":"ftp://x"}}]}"#,
                "not absolute http(s)",
            ),
        ] {
            let err = parse(json).unwrap_err().to_string();
            assert!(err.contains(expected), "{json}: {err}");
        }
    }
}
