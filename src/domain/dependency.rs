//! Dependency strings in a manifest's `dependencies`, read as the reference
//! client reads them (upack-protocol.md section 3.4): split on `:` into at
//! most three parts; one part is an id (group and name split at the last
//! `/`); two parts are `id:range` when the second is `*` or a version range,
//! otherwise `group:name`; three parts are `group:name:range`.

/// One dependency: which package, and which versions of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The group, empty for none.
    pub group: String,
    /// The package name.
    pub name: String,
    /// The version or range as written; `None` for any version.
    pub range: Option<String>,
}

impl Dependency {
    /// Reads a dependency string; `None` when it names no package.
    pub fn parse(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.trim().splitn(3, ':').collect();
        let (id_group, id_name, range) = match parts.as_slice() {
            [id] => split_id(id).map(|(g, n)| (g, n, None))?,
            [first, second] if is_range(second) => {
                split_id(first).map(|(g, n)| (g, n, Some(*second)))?
            }
            [group, name] => ((*group).to_owned(), (*name).to_owned(), None),
            [group, name, range] => ((*group).to_owned(), (*name).to_owned(), Some(*range)),
            _ => return None,
        };
        if id_name.is_empty() {
            return None;
        }
        Some(Self {
            group: id_group,
            name: id_name,
            range: range
                .filter(|r| !r.is_empty() && *r != "*")
                .map(str::to_owned),
        })
    }
}

fn split_id(id: &str) -> Option<(String, String)> {
    let id = id.trim_matches('/');
    if id.is_empty() {
        return None;
    }
    Some(match id.rsplit_once('/') {
        Some((group, name)) => (group.to_owned(), name.to_owned()),
        None => (String::new(), id.to_owned()),
    })
}

fn is_range(text: &str) -> bool {
    text == "*" || text.starts_with(['[', '(']) || semver::Version::parse(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::unnecessary_wraps)]
    fn dep(group: &str, name: &str, range: Option<&str>) -> Option<Dependency> {
        Some(Dependency {
            group: group.into(),
            name: name.into(),
            range: range.map(Into::into),
        })
    }

    #[test]
    fn every_documented_form_is_read() {
        assert_eq!(Dependency::parse("tool"), dep("", "tool", None));
        assert_eq!(Dependency::parse("a/b/tool"), dep("a/b", "tool", None));
        assert_eq!(Dependency::parse("acme:tool"), dep("acme", "tool", None));
        assert_eq!(
            Dependency::parse("a/b/tool:1.2.3"),
            dep("a/b", "tool", Some("1.2.3"))
        );
        assert_eq!(Dependency::parse("a/b/tool:*"), dep("a/b", "tool", None));
        assert_eq!(
            Dependency::parse("initrode/vendors-common:ast-common:2.0.0"),
            dep("initrode/vendors-common", "ast-common", Some("2.0.0"))
        );
        assert_eq!(
            Dependency::parse("tool:[1.0.0,2.0.0)"),
            dep("", "tool", Some("[1.0.0,2.0.0)"))
        );
        assert_eq!(Dependency::parse(""), None);
        assert_eq!(Dependency::parse("group:"), None);
    }
}
