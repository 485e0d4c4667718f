//! Who may do what on which feed, and what a refusal may reveal.
//!
//! A caller who may not view a feed learns nothing about it: a private feed
//! and a feed that does not exist are refused with the same 403 (or 401 when
//! challenging anonymous callers). Only a caller who could view a feed of that
//! name is told it does not exist (404).

use super::model::Feed;
use crate::domain::{FeedName, Permission};
use crate::error::ServiceError;

use super::Wharf;
use super::auth::Principal;

/// An authenticated caller, with what it takes to phrase refusals.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who is calling.
    pub principal: Principal,
    /// Whether anonymous callers are challenged (401) rather than refused.
    pub challenge_anonymous: bool,
}

impl Caller {
    /// The operator at the command line: an administrator.
    pub fn operator() -> Self {
        Self {
            principal: Principal::Key {
                id: "command-line".into(),
                grant: std::sync::Arc::new(crate::domain::Grant {
                    permissions: std::iter::once(Permission::Admin).collect(),
                    scope: crate::domain::FeedScope::All,
                }),
            },
            challenge_anonymous: false,
        }
    }

    /// Whether the caller holds `permission` on `feed`, counting the feed's
    /// anonymous read access.
    pub fn may(&self, permission: Permission, feed: &Feed) -> bool {
        let anonymous_ok =
            feed.anonymous_read && matches!(permission, Permission::View | Permission::Download);
        anonymous_ok
            || self
                .principal
                .grant()
                .is_some_and(|g| g.allows(permission, feed.name_lower()))
    }

    /// Whether the caller holds `permission` on every feed (no scope limit).
    pub fn may_everywhere(&self, permission: Permission) -> bool {
        self.principal.grant().is_some_and(|g| {
            g.is_admin()
                || (g.permissions.contains(&permission) && g.scope == crate::domain::FeedScope::All)
        })
    }

    /// Whether the caller is an administrator.
    pub fn is_admin(&self) -> bool {
        self.principal
            .grant()
            .is_some_and(crate::domain::Grant::is_admin)
    }

    /// The refusal for a missing permission.
    pub fn refuse(&self, permission: Permission) -> ServiceError {
        match self.principal {
            Principal::Anonymous if self.challenge_anonymous => {
                ServiceError::AuthenticationRequired
            }
            Principal::Anonymous => ServiceError::Forbidden(format!(
                "This request needs an API key or user with the {permission} permission on this feed."
            )),
            _ => ServiceError::Forbidden(format!(
                "The API key or user does not have the {permission} permission on this feed."
            )),
        }
    }
}

/// Finds the feed named `name` and checks that the caller holds `permission`
/// on it, without revealing a feed the caller may not view.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn feed_for(
    wharf: &Wharf,
    caller: &Caller,
    name: &str,
    permission: Permission,
) -> Result<Feed, ServiceError> {
    let lower = name.to_ascii_lowercase();
    let feed = match FeedName::parse(name) {
        Ok(_) => wharf.caches.feed(&wharf.db, &lower).await?,
        Err(_) => None,
    };
    // Only a caller who could view a feed of this name learns it is missing;
    // anyone else gets the refusal a private feed would get.
    let could_view = || {
        caller
            .principal
            .grant()
            .is_some_and(|g| g.allows(Permission::View, &lower))
    };
    match feed {
        Some(feed) if caller.may(permission, &feed) => Ok(feed),
        None if could_view() => Err(ServiceError::NotFound(format!(
            "The feed '{name}' does not exist."
        ))),
        Some(_) | None => Err(caller.refuse(permission)),
    }
}
