//! The `upack.json` manifest, and the virtual-package manifest that extends it.
//!
//! A manifest is kept as the whole JSON object (custom properties such as
//! `_deployTarget` are passed through to listings), plus the three identity
//! fields parsed into their types. A manifest with a `contents` property is a
//! virtual package; its syntax is checked here, its references at assembly.

use serde_json::{Map, Value};

use super::{DomainError, GroupName, PackageId, PackageName, Version, VirtualContents};

/// Deepest JSON nesting accepted in a manifest. `serde_json` stops at 128 levels
/// on its own; this lower, named limit is what the error message quotes.
pub const MAX_MANIFEST_DEPTH: usize = 64;

/// A validated package manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Group and name.
    pub id: PackageId,
    /// The version as written.
    pub version: Version,
    /// Whether the manifest describes a virtual package (has `contents`).
    pub is_virtual: bool,
    /// Every property of the document, in document order.
    pub properties: Map<String, Value>,
}

impl Manifest {
    /// Parses and validates manifest bytes (UTF-8 JSON, an optional BOM allowed).
    pub fn parse(bytes: &[u8]) -> Result<Self, DomainError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = std::str::from_utf8(bytes)
            .map_err(|_| DomainError::invalid("upack.json", "must be UTF-8 text"))?;
        if nesting_depth(text) > MAX_MANIFEST_DEPTH {
            return Err(DomainError::invalid(
                "upack.json",
                format!("may nest JSON at most {MAX_MANIFEST_DEPTH} levels deep"),
            ));
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| DomainError::invalid("upack.json", format!("is not valid JSON ({e})")))?;
        let Value::Object(properties) = value else {
            return Err(DomainError::invalid("upack.json", "must be a JSON object"));
        };
        Self::from_properties(properties)
    }

    /// Validates an already parsed JSON object.
    pub fn from_properties(properties: Map<String, Value>) -> Result<Self, DomainError> {
        let group = match properties.get("group") {
            None | Some(Value::Null) => GroupName::empty(),
            Some(Value::String(g)) => GroupName::parse(g)?,
            Some(_) => return Err(DomainError::invalid("group", "must be a string")),
        };
        let name = match properties.get("name") {
            Some(Value::String(n)) => PackageName::parse(n)?,
            None | Some(Value::Null) => return Err(DomainError::invalid("name", "is required")),
            Some(_) => return Err(DomainError::invalid("name", "must be a string")),
        };
        let version = match properties.get("version") {
            Some(Value::String(v)) => Version::parse(v)?,
            None | Some(Value::Null) => {
                return Err(DomainError::invalid("version", "is required"));
            }
            Some(_) => return Err(DomainError::invalid("version", "must be a string")),
        };
        let is_virtual = properties.contains_key("contents");
        if is_virtual {
            VirtualContents::parse(&properties)?;
        }
        Ok(Self {
            id: PackageId::new(group, name),
            version,
            is_virtual,
            properties,
        })
    }

    /// What search matches besides the name: title and description, lower-cased.
    pub fn search_text(&self) -> String {
        search_text_of(&self.properties)
    }

    /// The manifest as compact JSON, for storage.
    pub fn to_json(&self) -> String {
        Value::Object(self.properties.clone()).to_string()
    }
}

/// Title and description of a manifest object, lower-cased, for search.
pub fn search_text_of(properties: &Map<String, Value>) -> String {
    let text = |key: &str| properties.get(key).and_then(Value::as_str).unwrap_or("");
    format!("{} {}", text("title"), text("description")).to_lowercase()
}

/// The deepest bracket nesting in a JSON text, counted without parsing (so
/// that hostile input cannot make the parser recurse before we refuse it).
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_manifest_parses() {
        let m = Manifest::parse(br#"{"name":"my-app","version":"1.3.9"}"#).unwrap();
        assert_eq!(m.id.to_string(), "my-app");
        assert_eq!(m.version.to_string(), "1.3.9");
        assert!(!m.is_virtual);
    }

    #[test]
    fn a_bom_and_crlf_are_tolerated() {
        let m = Manifest::parse(
            b"\xEF\xBB\xBF{\r\n\t\"name\": \"x\",\r\n\t\"version\": \"0.1.1\"\r\n}",
        )
        .unwrap();
        assert_eq!(m.id.name.as_str(), "x");
    }

    #[test]
    fn missing_or_empty_identity_fields_name_the_field() {
        let cases = [
            (r#"{"version":"1.0.0"}"#, "name is required."),
            (r#"{"name":"","version":""}"#, "name is required."),
            (r#"{"name":"a"}"#, "version is required."),
            (r#"{"name":"a","version":1}"#, "version must be a string."),
            (r"[1]", "upack.json must be a JSON object."),
        ];
        for (json, message) in cases {
            assert_eq!(
                Manifest::parse(json.as_bytes()).unwrap_err().to_string(),
                message
            );
        }
    }

    #[test]
    fn contents_makes_a_virtual_package_and_is_syntax_checked() {
        let m =
            Manifest::parse(br#"{"name":"v","version":"1.0.0","contents":["g/a:1.0.0"]}"#).unwrap();
        assert!(m.is_virtual);
        for bad in [r#""x""#, "[]", "[1]", r#"[{"targetPath":"x"}]"#] {
            let json = format!(r#"{{"name":"v","version":"1.0.0","contents":{bad}}}"#);
            let err = Manifest::parse(json.as_bytes()).unwrap_err().to_string();
            assert!(err.starts_with("contents "), "{bad}: {err}");
        }
    }

    #[test]
    fn deep_nesting_and_invalid_utf8_are_refused() {
        let deep = format!(
            r#"{{"name":"a","version":"1.0.0","x":{}{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(
            Manifest::parse(deep.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("nest")
        );
        assert!(
            Manifest::parse(b"{\"name\":\"\xff\"}")
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );
    }
}
