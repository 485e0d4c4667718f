//! The query string, read the way the real clients write it.
//!
//! Values are form-decoded (`+` is a space). A key may appear bare
//! (`?latest`) or with no value (`?group=`); both count as present with an
//! empty value. Booleans are case-insensitive (`includeFileList=True`).
//! Keys match case-insensitively.

use crate::domain::{DomainError, LatestRule};

/// A parsed query string.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: &str) -> Self {
        Self(
            form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `key`, `Some("")` for a bare or empty key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Every key and value, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The value of `key` when it is present and not empty.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// A boolean flag: absent is `false`, bare or empty is `true`.
    pub fn flag(&self, key: &'static str) -> Result<bool, DomainError> {
        match self.get(key).map(str::to_ascii_lowercase).as_deref() {
            None | Some("false" | "0") => Ok(false),
            Some("" | "true" | "1") => Ok(true),
            Some(_) => Err(DomainError::Invalid {
                field: key,
                rule: "must be true or false".to_owned(),
            }),
        }
    }

    /// The `latest` rule, if the request asks for the latest version.
    /// `latest=false` is the same as no `latest`.
    pub fn latest(&self) -> Result<Option<LatestRule>, DomainError> {
        match self.get("latest") {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(None),
            Some(v) => LatestRule::parse(v).map(Some),
        }
    }

    /// A `version` value. Form decoding turns a literal `+` into a space, and
    /// a space is never valid in a version, so it is read back as `+`.
    pub fn version(&self) -> Option<String> {
        self.non_empty("version").map(|v| v.replace(' ', "+"))
    }

    /// A `count` value, if present and a whole number.
    pub fn count(&self) -> Result<Option<i64>, DomainError> {
        match self.non_empty("count") {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(Some)
                .ok_or_else(|| DomainError::Invalid {
                    field: "count",
                    rule: "must be a whole number".to_owned(),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_and_valueless_keys_are_present_and_empty() {
        let q = Query::parse("latest&group=&contentOnly");
        assert_eq!(q.get("latest"), Some(""));
        assert_eq!(q.get("group"), Some(""));
        assert_eq!(q.non_empty("group"), None);
        assert!(q.flag("contentOnly").unwrap());
        assert!(!q.flag("includeFileList").unwrap());
    }

    #[test]
    fn booleans_and_latest_forms_parse() {
        assert!(
            Query::parse("includeFileList=True")
                .flag("includeFileList")
                .unwrap()
        );
        assert!(
            !Query::parse("includeFileList=False")
                .flag("includeFileList")
                .unwrap()
        );
        assert!(
            Query::parse("includeFileList=maybe")
                .flag("includeFileList")
                .is_err()
        );
        assert_eq!(
            Query::parse("latest=true").latest().unwrap(),
            Some(LatestRule::StableElsePrerelease)
        );
        assert_eq!(
            Query::parse("latest=any").latest().unwrap(),
            Some(LatestRule::Any)
        );
        assert_eq!(Query::parse("latest=false").latest().unwrap(), None);
        assert_eq!(Query::parse("x=1").latest().unwrap(), None);
    }

    #[test]
    fn version_keeps_build_metadata_however_it_was_encoded() {
        assert_eq!(
            Query::parse("version=1.0.0%2Bb").version().unwrap(),
            "1.0.0+b"
        );
        assert_eq!(
            Query::parse("version=1.0.0+b").version().unwrap(),
            "1.0.0+b"
        );
    }
}
