//! Creating, listing and deleting users who sign in with a password.

use crate::db;
use crate::domain::{FeedName, FeedScope, Grant};
use crate::error::ServiceError;

use super::Wharf;
use super::model::UserSummary;

/// Creates a user with an argon2id-hashed password.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    wharf: &Wharf,
    username: &str,
    password: &str,
    permissions: &str,
    feeds: &[String],
) -> Result<(), ServiceError> {
    let valid_name = !username.is_empty()
        && username.len() <= 100
        && !username.eq_ignore_ascii_case("api")
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if !valid_name {
        return Err(ServiceError::BadRequest(
            "A user name is 1 to 100 letters, digits, '.', '_', '-' or '@', and not 'api'."
                .to_owned(),
        ));
    }
    if password.len() < 8 {
        return Err(ServiceError::BadRequest(
            "A password must be at least 8 characters long.".to_owned(),
        ));
    }
    let permissions = Grant::parse_permissions(permissions)?;
    for feed in feeds {
        FeedName::parse(feed)?;
    }
    let scope = if feeds.is_empty() {
        FeedScope::All
    } else {
        FeedScope::Only(feeds.iter().map(|f| f.to_ascii_lowercase()).collect())
    };
    let grant = Grant { permissions, scope };
    // The hash covers the lower-cased name too, so a hash cannot be moved to
    // another user's row.
    let hash = wharf
        .auth
        .hash(&format!("{}:{password}", username.to_lowercase()))
        .await?;
    let scope = grant.scope.to_stored();
    if db::users::insert(
        &wharf.db,
        username,
        &hash,
        &grant.permissions_to_stored(),
        scope.as_deref(),
    )
    .await?
    {
        Ok(())
    } else {
        Err(ServiceError::Conflict(format!(
            "A user named '{username}' already exists."
        )))
    }
}

/// Every user.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(wharf: &Wharf) -> Result<Vec<UserSummary>, ServiceError> {
    Ok(db::users::list(&wharf.db)
        .await?
        .into_iter()
        .map(UserSummary::from)
        .collect())
}

/// Deletes a user.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(wharf: &Wharf, username: &str) -> Result<(), ServiceError> {
    if db::users::delete(&wharf.db, username).await? {
        Ok(())
    } else {
        Err(ServiceError::NotFound(format!(
            "No user is named '{username}'."
        )))
    }
}
