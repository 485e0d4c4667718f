//! The query string, read the way the real clients write it.
//!
//! Values are form-decoded (`+` is a space). `latest` may be bare (`?latest`);
//! every other valueless key (`?group&name`, a bare `?contentOnly`, which
//! ProGet.Net sends on every plain download) means absent, while `group=`
//! (with `=`) is present and empty, the empty group (CONTRACT.md section 3).
//! Booleans are case-insensitive (`includeFileList=True`). Keys match
//! case-insensitively.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

use crate::domain::{DomainError, LatestRule};

/// A parsed query string: each key with its value, `None` for a bare key.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, Option<String>)>);

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: &str) -> Self {
        Self(
            raw.split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| match pair.split_once('=') {
                    Some((key, value)) => (form_decode(key), Some(form_decode(value))),
                    None => (form_decode(pair), None),
                })
                .collect(),
        )
    }

    /// The first value given for `key` (`Some("")` for `key=`); a bare key
    /// has no value and counts as absent.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .find_map(|(_, v)| v.as_deref())
    }

    /// The query with `fields` (from a request body) placed before its own
    /// pairs, so that a field given in both places is read from the body.
    #[must_use]
    pub fn with_fields_first(self, fields: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut pairs: Vec<_> = fields.into_iter().map(|(k, v)| (k, Some(v))).collect();
        pairs.extend(self.0);
        Self(pairs)
    }

    /// Whether `key` appears at all, bare or with a value.
    fn present(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k.eq_ignore_ascii_case(key))
    }

    /// Every key and value, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref().unwrap_or_default()))
    }

    /// The value of `key` when it is present and not empty.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// A boolean flag: absent or bare is `false`; empty is `true`.
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
            None if self.present("latest") => Ok(Some(LatestRule::StableElsePrerelease)),
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

/// Form-decodes one key or value: `+` is a space, `%XX` a byte; invalid
/// UTF-8 is replaced, as `form_urlencoded` does. (A value may itself
/// contain `=`, as base64 keys do.)
fn form_decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

impl FromRequest for Query {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::parse(req.query_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_keys_are_absent_but_latest_and_an_explicit_empty_value_count() {
        let q = Query::parse("latest&group=&contentOnly&name");
        assert_eq!(q.latest().unwrap(), Some(LatestRule::StableElsePrerelease));
        assert_eq!(q.get("group"), Some(""));
        assert_eq!(q.non_empty("group"), None);
        assert_eq!(q.get("contentOnly"), None);
        assert_eq!(q.get("name"), None);
        assert!(!q.flag("contentOnly").unwrap());
        assert!(
            Query::parse("includeFileList=")
                .flag("includeFileList")
                .unwrap()
        );
        assert!(!q.flag("includeFileList").unwrap());
        let spaced = Query::parse("term=a+b%2Bc&group&group=x&key=abc%3D=");
        assert_eq!(spaced.get("term"), Some("a b+c"));
        assert_eq!(spaced.get("key"), Some("abc=="), "a value keeps its '='");
        assert_eq!(spaced.get("group"), Some("x"));
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
