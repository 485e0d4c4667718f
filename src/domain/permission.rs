//! Permissions held by an API key or a user, and the feeds they apply to.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use super::DomainError;

/// One thing a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// List, search and read version metadata.
    View,
    /// Download packages, files and virtual manifests.
    Download,
    /// Upload new packages.
    Add,
    /// Replace an existing version on upload.
    Overwrite,
    /// Delete versions.
    Delete,
    /// Promote packages into a feed.
    Promote,
    /// Everything, on every feed, plus feeds, keys, users and operations.
    Admin,
}

impl Permission {
    /// Every permission, in display order.
    pub const ALL: [Permission; 7] = [
        Self::View,
        Self::Download,
        Self::Add,
        Self::Overwrite,
        Self::Delete,
        Self::Promote,
        Self::Admin,
    ];

    /// The name used in configuration, the CLI and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Download => "download",
            Self::Add => "add",
            Self::Overwrite => "overwrite",
            Self::Delete => "delete",
            Self::Promote => "promote",
            Self::Admin => "admin",
        }
    }
}

impl FromStr for Permission {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                DomainError::invalid(
                    "permissions",
                    format!(
                        "must be a comma-separated list of view, download, add, overwrite, delete, promote or admin ('{}' is none of them)",
                        s.escape_debug()
                    ),
                )
            })
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The feeds a grant applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedScope {
    /// Every feed, including feeds created later.
    All,
    /// Only these feeds, by lower-cased name.
    Only(BTreeSet<String>),
}

impl FeedScope {
    /// Parses the stored form: `None` or empty means all feeds, otherwise a
    /// comma-separated list of feed names.
    pub fn parse(stored: Option<&str>) -> Self {
        match stored.map(str::trim) {
            None | Some("") => Self::All,
            Some(list) => Self::Only(
                list.split(',')
                    .map(|f| f.trim().to_ascii_lowercase())
                    .filter(|f| !f.is_empty())
                    .collect(),
            ),
        }
    }

    /// The stored form (`None` for all feeds).
    pub fn to_stored(&self) -> Option<String> {
        match self {
            Self::All => None,
            Self::Only(feeds) => Some(feeds.iter().cloned().collect::<Vec<_>>().join(",")),
        }
    }

    /// Whether the scope covers the feed with this lower-cased name.
    pub fn covers(&self, feed_lower: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(feeds) => feeds.contains(feed_lower),
        }
    }
}

/// What a caller may do: a set of permissions over a scope of feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The permissions held.
    pub permissions: BTreeSet<Permission>,
    /// Where the feed permissions apply. `admin` applies everywhere regardless.
    pub scope: FeedScope,
}

impl Grant {
    /// Parses a comma-separated permission list (`view,download` or `admin`).
    pub fn parse_permissions(list: &str) -> Result<BTreeSet<Permission>, DomainError> {
        let set: BTreeSet<Permission> = list
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        if set.is_empty() {
            return Err(DomainError::invalid(
                "permissions",
                "must name at least one permission",
            ));
        }
        Ok(set)
    }

    /// The stored form of the permission set.
    pub fn permissions_to_stored(&self) -> String {
        self.permissions
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether the grant includes the administrator permission.
    pub fn is_admin(&self) -> bool {
        self.permissions.contains(&Permission::Admin)
    }

    /// Whether the grant allows `permission` on the feed `feed_lower`.
    pub fn allows(&self, permission: Permission, feed_lower: &str) -> bool {
        self.is_admin() || (self.permissions.contains(&permission) && self.scope.covers(feed_lower))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_respect_scope_and_admin_covers_everything() {
        let grant = Grant {
            permissions: Grant::parse_permissions("view, Download").unwrap(),
            scope: FeedScope::parse(Some("Main,other")),
        };
        assert!(grant.allows(Permission::Download, "main"));
        assert!(!grant.allows(Permission::Download, "third"));
        assert!(!grant.allows(Permission::Add, "main"));
        let admin = Grant {
            permissions: Grant::parse_permissions("admin").unwrap(),
            scope: FeedScope::parse(Some("main")),
        };
        assert!(admin.allows(Permission::Delete, "anything"));
        assert!(
            Grant::parse_permissions("view,fly")
                .unwrap_err()
                .to_string()
                .contains("'fly'")
        );
    }
}
