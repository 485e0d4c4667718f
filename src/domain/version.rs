//! Package versions: `SemVer` 2.0 with Wharf's identity rule.
//!
//! Two versions are the *same version* when `SemVer` precedence says they are
//! equal, i.e. build metadata is ignored (`1.0.0+a` == `1.0.0+b`), so a request
//! for `1.0.0` finds `1.0.0+a`. The stored string keeps the build metadata.
//!
//! [`Version::precedence_key`] turns precedence into bytes that sort the same
//! way under a plain byte comparison (`SQLite` `BLOB`, `PostgreSQL` `BYTEA`). The
//! database can then find "the latest version" with one indexed
//! `ORDER BY precedence_key DESC LIMIT 1`, however many versions a package has,
//! and enforce version identity with a unique index on the same column.

use std::cmp::Ordering;
use std::fmt;

use super::DomainError;

/// A parsed `SemVer` 2.0 version, as written by the publisher.
#[derive(Debug, Clone)]
pub struct Version(semver::Version);

impl Version {
    /// Longest accepted version string.
    pub const MAX_CHARS: usize = 128;

    /// Parses a strict `SemVer` 2.0 version (three numeric parts, optional
    /// prerelease and build metadata, no `v` prefix, no leading zeros).
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        if value.is_empty() {
            return Err(DomainError::invalid("version", "is required"));
        }
        if value.len() > Self::MAX_CHARS {
            return Err(DomainError::invalid(
                "version",
                format!("must be at most {} characters long", Self::MAX_CHARS),
            ));
        }
        semver::Version::parse(value).map(Self).map_err(|_| {
            DomainError::invalid(
                "version",
                format!(
                    "'{}' is not a SemVer 2.0 version (major.minor.patch[-prerelease][+build], e.g. 1.2.3)",
                    value.escape_debug()
                ),
            )
        })
    }

    /// Whether this is a prerelease (has a `-...` part).
    pub fn is_prerelease(&self) -> bool {
        !self.0.pre.is_empty()
    }

    /// Compares by `SemVer` precedence (build metadata ignored).
    pub fn cmp_precedence(&self, other: &Self) -> Ordering {
        self.0.cmp_precedence(&other.0)
    }

    /// Bytes whose lexicographic order is `SemVer` precedence, and which are equal
    /// exactly when two versions are the same version (build metadata ignored).
    ///
    /// Layout: major, minor and patch as 8-byte big-endian integers; then `0xFF`
    /// for a release, or `0x01` followed by each prerelease identifier and a
    /// `0x00` end marker. A numeric identifier is `0x01`, its digit count and its
    /// digits (`SemVer` forbids leading zeros, so longer means larger); an
    /// alphanumeric one is `0x02`, its bytes and `0x00`. The end marker sorts
    /// below any identifier, so a shorter list that is a prefix sorts first.
    pub fn precedence_key(&self) -> Vec<u8> {
        let mut key = Vec::with_capacity(25 + self.0.pre.len() * 2);
        for part in [self.0.major, self.0.minor, self.0.patch] {
            key.extend_from_slice(&part.to_be_bytes());
        }
        if self.0.pre.is_empty() {
            key.push(0xFF);
            return key;
        }
        key.push(0x01);
        for identifier in self.0.pre.as_str().split('.') {
            if identifier.bytes().all(|b| b.is_ascii_digit()) {
                key.push(0x01);
                // Version strings are at most MAX_CHARS long, so this fits a byte.
                key.push(u8::try_from(identifier.len()).unwrap_or(u8::MAX));
                key.extend_from_slice(identifier.as_bytes());
            } else {
                key.push(0x02);
                key.extend_from_slice(identifier.as_bytes());
                key.push(0x00);
            }
        }
        key.push(0x00);
        key
    }

    /// The version as written, including build metadata.
    pub fn as_semver(&self) -> &semver::Version {
        &self.0
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp_precedence(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_precedence(other)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn semver_precedence_chain_from_the_spec_holds_for_keys_and_ordering() {
        let chain = [
            "1.0.0-2",
            "1.0.0-a",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.2.0",
            "1.10.0",
            "2.0.0-rc.1",
            "2.0.0",
        ];
        for pair in chain.windows(2) {
            let (a, b) = (v(pair[0]), v(pair[1]));
            assert!(a < b, "{a} < {b}");
            assert!(a.precedence_key() < b.precedence_key(), "key {a} < {b}");
        }
    }

    #[test]
    fn build_metadata_does_not_change_identity() {
        assert_eq!(v("1.0.0+a"), v("1.0.0+b"));
        assert_eq!(v("1.0.0+a").precedence_key(), v("1.0.0").precedence_key());
        assert_eq!(v("1.0.0+build.5").to_string(), "1.0.0+build.5");
        assert_ne!(
            v("1.0.0-RC").precedence_key(),
            v("1.0.0-rc").precedence_key()
        );
    }

    #[test]
    fn non_semver_strings_are_refused_with_a_sentence_naming_the_field() {
        for bad in [
            "1.0",
            "v1.0.0",
            "01.0.0",
            "1.0.0-",
            "1.0.0 ",
            "",
            "1.0.0-a..b",
        ] {
            let err = Version::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("version "), "{bad:?}: {err}");
        }
    }

    fn arb_identifier() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u64..100_000).prop_map(|n| n.to_string()),
            "[A-Za-z-][0-9A-Za-z-]{0,6}",
        ]
    }

    fn arb_version() -> impl Strategy<Value = String> {
        (
            0u64..5,
            0u64..20,
            0u64..1_000_000,
            proptest::collection::vec(arb_identifier(), 0..4),
            proptest::option::of("[0-9A-Za-z]{1,5}"),
        )
            .prop_map(|(a, b, c, pre, build)| {
                let mut s = format!("{a}.{b}.{c}");
                if !pre.is_empty() {
                    s.push('-');
                    s.push_str(&pre.join("."));
                }
                if let Some(build) = build {
                    s.push('+');
                    s.push_str(&build);
                }
                s
            })
    }

    proptest! {
        #[test]
        fn precedence_key_order_agrees_with_semver_precedence(a in arb_version(), b in arb_version()) {
            let (a, b) = (v(&a), v(&b));
            prop_assert_eq!(
                a.precedence_key().cmp(&b.precedence_key()),
                a.as_semver().cmp_precedence(b.as_semver())
            );
        }

        #[test]
        fn display_round_trips(a in arb_version()) {
            prop_assert_eq!(v(&a).to_string(), a);
        }
    }
}
