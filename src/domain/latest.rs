//! Which version `?latest` means.

use super::DomainError;

/// The rule used to pick "the latest" version of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatestRule {
    /// The highest stable version; if there is none, the highest prerelease.
    /// This is what bare `?latest` and `latestVersion` in listings mean.
    StableElsePrerelease,
    /// The highest stable version only (`latest=stable`).
    StableOnly,
    /// The highest version, prereleases included (`latest=any|unstable`).
    Any,
}

impl LatestRule {
    /// Parses the value of a `latest` query parameter. A bare or empty flag and
    /// `true` (any case) mean the default rule.
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        match value.to_ascii_lowercase().as_str() {
            "" | "true" => Ok(Self::StableElsePrerelease),
            "stable" => Ok(Self::StableOnly),
            "any" | "unstable" => Ok(Self::Any),
            _ => Err(DomainError::invalid(
                "latest",
                "must be empty, 'true', 'stable', 'any' or 'unstable'",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_forms_parse() {
        for (value, rule) in [
            ("", LatestRule::StableElsePrerelease),
            ("True", LatestRule::StableElsePrerelease),
            ("stable", LatestRule::StableOnly),
            ("ANY", LatestRule::Any),
            ("unstable", LatestRule::Any),
        ] {
            assert_eq!(LatestRule::parse(value).unwrap(), rule, "{value}");
        }
        assert!(LatestRule::parse("false").is_err());
    }
}
