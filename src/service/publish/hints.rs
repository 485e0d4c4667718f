//! What an upload request says besides the package itself: the path tail,
//! the query string, or the fields of a JSON or form body. Identity given
//! here must agree with the package's manifest; other properties are merged
//! into it.

use serde_json::{Map, Value};

use crate::domain::{GroupName, Manifest, PackageName, Version};
use crate::error::ServiceError;

/// Metadata the request gave besides the package itself (path tail, query
/// string, or the fields of a JSON or form body). Identity given here must
/// agree with the package's manifest; other properties are merged into it.
#[derive(Debug, Clone, Default)]
pub struct UploadHints {
    /// Decoded path segments after `/upload`.
    pub path_segments: Vec<String>,
    /// `group`.
    pub group: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// Other manifest properties (`title`, `description`, `dependencies`, ...).
    pub properties: Map<String, Value>,
    /// The body was declared as form fields (`application/x-www-form-urlencoded`).
    pub form_body: bool,
    /// The body's declared `Content-Length`: a body that ends before it is an
    /// incomplete message (RFC 9112 section 6.3), never a package.
    pub declared_length: Option<u64>,
    /// Not a request field: the connector the package was fetched from on
    /// demand, which stores it as a cached copy rather than a local one.
    pub cached_from: Option<String>,
}

/// Query and form keys that are not manifest properties.
const CONTROL_KEYS: [&str; 7] = [
    "key",
    "group",
    "name",
    "version",
    "content-b64",
    "content-url",
    "api_key",
];

impl UploadHints {
    /// Adds request fields (query string or body), refusing a field given
    /// twice with different values.
    pub fn add_fields(
        &mut self,
        fields: impl IntoIterator<Item = (String, Value)>,
    ) -> Result<(), ServiceError> {
        for (key, value) in fields {
            let lower = key.to_ascii_lowercase();
            let text = || match &value {
                Value::String(s) => Ok(s.clone()),
                _ => Err(ServiceError::BadRequest(format!("{key} must be a string."))),
            };
            let slot = match lower.as_str() {
                "group" => Some(&mut self.group),
                "name" => Some(&mut self.name),
                "version" => Some(&mut self.version),
                _ => None,
            };
            if let Some(slot) = slot {
                let given = text()?;
                if slot.as_ref().is_some_and(|old| *old != given) {
                    return Err(ServiceError::BadRequest(format!(
                        "{key} is given twice with different values."
                    )));
                }
                *slot = Some(given);
                continue;
            }
            if CONTROL_KEYS.contains(&lower.as_str()) {
                continue;
            }
            let value = if lower == "dependencies" {
                match value {
                    Value::String(list) => Value::Array(
                        list.split(',')
                            .map(str::trim)
                            .filter(|d| !d.is_empty())
                            .map(|d| Value::String(d.to_owned()))
                            .collect(),
                    ),
                    other => other,
                }
            } else {
                value
            };
            if self.properties.get(&key).is_some_and(|old| *old != value) {
                return Err(ServiceError::BadRequest(format!(
                    "{key} is given twice with different values."
                )));
            }
            self.properties.insert(key, value);
        }
        Ok(())
    }

    /// Identity read from the path of a plain-zip upload:
    /// `<group...>/<name>/<version>` or `<group...>/<name>`.
    pub(super) fn identity_from_path(&self) -> Result<UploadHints, ServiceError> {
        let mut from_path = UploadHints::default();
        let segments = &self.path_segments;
        if let Some((last, rest)) = segments.split_last() {
            let fields: Vec<(String, Value)> = match rest.split_last() {
                Some((name, group)) if Version::parse(last).is_ok() => vec![
                    ("group".into(), Value::String(group.join("/"))),
                    ("name".into(), Value::String(name.clone())),
                    ("version".into(), Value::String(last.clone())),
                ],
                _ => vec![
                    ("group".into(), Value::String(rest.join("/"))),
                    ("name".into(), Value::String(last.clone())),
                ],
            };
            from_path.add_fields(fields)?;
        }
        Ok(from_path)
    }
}

/// Checks that identity given in the path or query agrees with the manifest.
/// The path tail is `<group...>/<name>` or `<group...>/<name>/<version>`.
pub(super) fn check_hints(manifest: &Manifest, hints: &UploadHints) -> Result<(), ServiceError> {
    let mismatch = |what: &str, given: &str, actual: &str| {
        ServiceError::BadRequest(format!(
            "The request names {what} '{given}' but the package's upack.json says '{actual}'."
        ))
    };
    if let Some(name) = &hints.name
        && !PackageName::parse(name)?
            .lower()
            .eq(&manifest.id.name.lower())
    {
        return Err(mismatch("name", name, manifest.id.name.as_str()));
    }
    if let Some(group) = &hints.group
        && GroupName::parse(group)?.lower() != manifest.id.group.lower()
    {
        return Err(mismatch("group", group, manifest.id.group.as_str()));
    }
    if let Some(version) = &hints.version
        && Version::parse(version)? != manifest.version
    {
        return Err(mismatch("version", version, &manifest.version.to_string()));
    }
    let segments = &hints.path_segments;
    if segments.is_empty() {
        return Ok(());
    }
    let id_matches = |segs: &[String]| {
        segs.last()
            .is_some_and(|n| n.eq_ignore_ascii_case(manifest.id.name.as_str()))
            && segs[..segs.len() - 1]
                .join("/")
                .eq_ignore_ascii_case(manifest.id.group.as_str())
    };
    let with_version = segments.len() >= 2
        && Version::parse(&segments[segments.len() - 1]).is_ok_and(|v| v == manifest.version)
        && id_matches(&segments[..segments.len() - 1]);
    if id_matches(segments) || with_version {
        Ok(())
    } else {
        Err(mismatch(
            "package",
            &segments.join("/"),
            &format!("{}/{}", manifest.id, manifest.version),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::parse(br#"{"group":"a/b","name":"Pkg","version":"1.0.0+x"}"#).unwrap()
    }

    fn segs(path: &str) -> UploadHints {
        UploadHints {
            path_segments: path.split('/').map(str::to_owned).collect(),
            ..UploadHints::default()
        }
    }

    #[test]
    fn path_hints_must_agree_with_the_manifest() {
        assert!(check_hints(&manifest(), &segs("a/b/pkg")).is_ok());
        assert!(check_hints(&manifest(), &segs("A/b/Pkg/1.0.0")).is_ok());
        assert!(check_hints(&manifest(), &segs("a/b/pkg/2.0.0")).is_err());
        assert!(check_hints(&manifest(), &segs("other")).is_err());
        let query = UploadHints {
            name: Some("other".into()),
            ..UploadHints::default()
        };
        let err = check_hints(&manifest(), &query).unwrap_err().to_string();
        assert!(err.contains("name 'other'"), "{err}");
    }
}
