//! Which version `?latest` means.

use super::{DomainError, Version};

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

impl LatestRule {
    /// The version this rule picks from `candidates` (the database applies
    /// the same rule with one indexed `ORDER BY`; this is its definition).
    pub fn pick<'a>(
        self,
        candidates: impl IntoIterator<Item = &'a Version>,
    ) -> Option<&'a Version> {
        let (mut stable, mut any): (Option<&Version>, Option<&Version>) = (None, None);
        for version in candidates {
            if any.is_none_or(|best| version > best) {
                any = Some(version);
            }
            if !version.is_prerelease() && stable.is_none_or(|best| version > best) {
                stable = Some(version);
            }
        }
        match self {
            Self::StableElsePrerelease => stable.or(any),
            Self::StableOnly => stable,
            Self::Any => any,
        }
    }
}

impl LatestRule {
    /// The item this rule picks from `highest_first`, a package's versions in
    /// descending precedence as listings hold them (the same rule as [`pick`](Self::pick),
    /// without comparing versions again).
    pub fn pick_ordered<T>(
        self,
        highest_first: &[T],
        is_stable: impl Fn(&T) -> bool,
    ) -> Option<&T> {
        let stable = highest_first.iter().find(|item| is_stable(item));
        match self {
            Self::StableElsePrerelease => stable.or_else(|| highest_first.first()),
            Self::StableOnly => stable,
            Self::Any => highest_first.first(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pick_ordered_agrees_with_pick() {
        let versions: Vec<Version> = ["3.0.0-rc.1", "2.1.0", "2.0.0", "1.0.0-beta"]
            .iter()
            .map(|v| Version::parse(v).unwrap())
            .collect();
        let only_prereleases = [versions[0].clone(), versions[3].clone()];
        for rule in [
            LatestRule::StableElsePrerelease,
            LatestRule::StableOnly,
            LatestRule::Any,
        ] {
            for list in [&versions[..], &only_prereleases[..]] {
                assert_eq!(
                    rule.pick_ordered(list, |v| !v.is_prerelease()),
                    rule.pick(list),
                    "{rule:?} {list:?}"
                );
            }
        }
    }

    fn arb_version() -> impl Strategy<Value = Version> {
        (
            0u64..4,
            0u64..4,
            0u64..4,
            proptest::option::of("(alpha|beta|rc|0|[1-9][0-9]?)(\\.(0|[1-9]|[a-z]{1,3}))?"),
        )
            .prop_map(|(a, b, c, pre)| {
                let text = match pre {
                    Some(pre) => format!("{a}.{b}.{c}-{pre}"),
                    None => format!("{a}.{b}.{c}"),
                };
                Version::parse(&text).unwrap()
            })
    }

    proptest! {
        #[test]
        fn the_latest_rule_is_the_maximum_of_its_candidate_set(versions in proptest::collection::vec(arb_version(), 0..12)) {
            // Brute force: an element no other candidate exceeds.
            fn maximum<'a>(set: &[&'a Version]) -> Option<&'a Version> {
                set.iter().copied().find(|v| set.iter().all(|o| *o <= *v))
            }
            let stable: Vec<&Version> = versions.iter().filter(|v| !v.is_prerelease()).collect();
            let all: Vec<&Version> = versions.iter().collect();
            prop_assert_eq!(LatestRule::Any.pick(&versions), maximum(&all));
            prop_assert_eq!(LatestRule::StableOnly.pick(&versions), maximum(&stable));
            prop_assert_eq!(
                LatestRule::StableElsePrerelease.pick(&versions),
                if stable.is_empty() { maximum(&all) } else { maximum(&stable) }
            );
        }
    }

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
