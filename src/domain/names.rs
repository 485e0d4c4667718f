//! Feed, group and package names, with the character and length rules of the
//! Universal Package format. Matching is case-insensitive everywhere, so each
//! type exposes its lower-cased form for lookups while keeping the original
//! casing for display.

use std::fmt;

use super::DomainError;

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// The rule feed and package names share: 1 to `max_chars` characters of
/// `[0-9A-Za-z._-]`.
fn check_simple_name(
    value: &str,
    field: &'static str,
    max_chars: usize,
) -> Result<(), DomainError> {
    if value.is_empty() {
        return Err(DomainError::invalid(field, "is required"));
    }
    if value.len() > max_chars {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max_chars} characters long"),
        ));
    }
    if !value.chars().all(is_name_char) {
        return Err(DomainError::invalid(
            field,
            "may contain only letters, digits, '.', '_' and '-'",
        ));
    }
    if only_dots(value) {
        return Err(DomainError::invalid(
            field,
            "may not consist only of dots (it could not be addressed in a URL)",
        ));
    }
    Ok(())
}

/// `.`, `..`, `...`: a path segment that URLs normalise away or up.
fn only_dots(segment: &str) -> bool {
    segment.chars().all(|c| c == '.')
}

/// A feed name: 1-100 characters of `[0-9A-Za-z._-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeedName(String);

impl FeedName {
    /// Longest accepted feed name.
    pub const MAX_CHARS: usize = 100;

    /// Parses a feed name.
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        check_simple_name(value, "feed", Self::MAX_CHARS)?;
        Ok(Self(value.to_owned()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for case-insensitive matching.
    pub fn lower(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for FeedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A package name: 1-50 characters of `[0-9A-Za-z._-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackageName(String);

impl PackageName {
    /// Longest accepted package name.
    pub const MAX_CHARS: usize = 50;

    /// Parses a package name.
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        check_simple_name(value, "name", Self::MAX_CHARS)?;
        Ok(Self(value.to_owned()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for case-insensitive matching.
    pub fn lower(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A package group: 0-250 characters of `[0-9A-Za-z._/-]`, with no leading,
/// trailing or doubled `/`. The empty group is valid and common.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct GroupName(String);

impl GroupName {
    /// Longest accepted group.
    pub const MAX_CHARS: usize = 250;

    /// Parses a group.
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        if value.len() > Self::MAX_CHARS {
            return Err(DomainError::invalid(
                "group",
                format!("must be at most {} characters long", Self::MAX_CHARS),
            ));
        }
        if !value.chars().all(|c| is_name_char(c) || c == '/') {
            return Err(DomainError::invalid(
                "group",
                "may contain only letters, digits, '.', '_', '-' and '/'",
            ));
        }
        if value.starts_with('/') || value.ends_with('/') {
            return Err(DomainError::invalid(
                "group",
                "may not start or end with '/'",
            ));
        }
        if value.contains("//") {
            return Err(DomainError::invalid("group", "may not contain '//'"));
        }
        if !value.is_empty() && value.split('/').any(only_dots) {
            return Err(DomainError::invalid(
                "group",
                "may not have a part made only of dots, such as '.' or '..' (it could not be addressed in a URL)",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The empty group.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Whether this is the empty group.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The group as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for case-insensitive matching.
    pub fn lower(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A package's identity inside a feed: its group and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackageId {
    /// The group, possibly empty.
    pub group: GroupName,
    /// The name.
    pub name: PackageName,
}

impl PackageId {
    /// Builds an id from its parsed parts.
    pub fn new(group: GroupName, name: PackageName) -> Self {
        Self { group, name }
    }

    /// Parses the segments of a path tail: every segment but the last is the
    /// group, the last is the name.
    pub fn from_segments(segments: &[String]) -> Result<Self, DomainError> {
        let Some((name, group)) = segments.split_last() else {
            return Err(DomainError::invalid("name", "is required"));
        };
        Ok(Self::new(
            GroupName::parse(&group.join("/"))?,
            PackageName::parse(name)?,
        ))
    }
}

impl fmt::Display for PackageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{}/{}", self.group, self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_rules_are_enforced_with_a_sentence_naming_the_field() {
        for bad in [
            "/a", "a/", "a//b", "a b", "ä", ".", "..", "a/./b/..", "a/.../b",
        ] {
            let err = GroupName::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("group "), "{bad}: {err}");
        }
        assert!(GroupName::parse(&"a".repeat(251)).is_err());
        assert!(GroupName::parse(&"a".repeat(250)).is_ok());
        assert!(GroupName::parse("").unwrap().is_empty());
        assert_eq!(
            GroupName::parse("a/b.c/d_e-f").unwrap().as_str(),
            "a/b.c/d_e-f"
        );
    }

    #[test]
    fn name_rules_are_enforced() {
        assert_eq!(
            PackageName::parse("").unwrap_err().to_string(),
            "name is required."
        );
        assert!(PackageName::parse(&"n".repeat(51)).is_err());
        assert!(PackageName::parse("a/b").is_err());
        for dots in [".", "..", "..."] {
            assert!(PackageName::parse(dots).is_err(), "{dots}");
            assert!(FeedName::parse(dots).is_err(), "{dots}");
        }
        assert!(PackageName::parse("..a").is_ok());
        assert!(GroupName::parse("a/.b/c..").is_ok());
        assert_eq!(
            PackageName::parse("My.Pkg_1-x").unwrap().lower(),
            "my.pkg_1-x"
        );
    }

    #[test]
    fn package_id_splits_segments_into_group_and_name() {
        let segs: Vec<String> = ["a", "b", "c", "pkg"]
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        let id = PackageId::from_segments(&segs).unwrap();
        assert_eq!(id.group.as_str(), "a/b/c");
        assert_eq!(id.name.as_str(), "pkg");
        assert_eq!(id.to_string(), "a/b/c/pkg");
        assert!(PackageId::from_segments(&[]).is_err());
    }
}
