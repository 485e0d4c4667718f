//! Creating, listing and revoking API keys.

use secrecy::{ExposeSecret, SecretString};

use crate::db::{self, api_keys::NewApiKey};

use super::model::ApiKeySummary;
use crate::domain::{FeedName, FeedScope, Grant};
use crate::error::ServiceError;

use super::{Wharf, auth};

/// A request for a new key.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// A label for people.
    pub name: String,
    /// Comma-separated permissions (`view,download` or `admin`).
    pub permissions: String,
    /// Feeds the key is limited to; empty means all feeds.
    pub feeds: Vec<String>,
    /// Use this key text instead of generating one (first admin key).
    pub fixed_key: Option<SecretString>,
    /// When the key stops working; never if `None`.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A created key; the key text exists only here and is shown once.
#[derive(Debug)]
pub struct CreatedKey {
    /// The public id.
    pub id: String,
    /// The key itself.
    pub key: SecretString,
}

/// Creates a key, storing only its argon2id hash.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(wharf: &Wharf, new: NewKey) -> Result<CreatedKey, ServiceError> {
    let permissions = Grant::parse_permissions(&new.permissions)?;
    if permissions.contains(&crate::domain::Permission::Admin) && !new.feeds.is_empty() {
        return Err(ServiceError::BadRequest(
            "An admin key applies to every feed; it cannot be limited to feeds.".to_owned(),
        ));
    }
    for feed in &new.feeds {
        FeedName::parse(feed)?;
        if db::feeds::find(&wharf.db, &feed.to_ascii_lowercase())
            .await?
            .is_none()
        {
            return Err(ServiceError::BadRequest(format!(
                "There is no feed named '{feed}'; create it first, or leave it out of the key's feeds."
            )));
        }
    }
    let scope = if new.feeds.is_empty() {
        FeedScope::All
    } else {
        FeedScope::Only(new.feeds.iter().map(|f| f.to_ascii_lowercase()).collect())
    };
    let grant = Grant { permissions, scope };
    let (id, key) = match new.fixed_key {
        Some(key) => {
            if key.expose_secret().trim() != key.expose_secret() {
                return Err(ServiceError::BadRequest(
                    "An API key may not begin or end with white space (it would not survive a header).".to_owned(),
                ));
            }
            if key.expose_secret().trim().len() < 8 {
                return Err(ServiceError::BadRequest(
                    "An API key must be at least 8 characters long.".to_owned(),
                ));
            }
            (auth::public_id(key.expose_secret()).into_owned(), key)
        }
        None => auth::generate_key(),
    };
    let secret_hash = wharf.auth.hash(key.expose_secret()).await?;
    let scope = grant.scope.to_stored();
    let stored = db::api_keys::insert(
        &wharf.db,
        &NewApiKey {
            id: &id,
            name: &new.name,
            secret_hash: &secret_hash,
            permissions: &grant.permissions_to_stored(),
            feed_scope: scope.as_deref(),
            expires_at: new.expires_at,
        },
    )
    .await?;
    if !stored {
        return Err(ServiceError::Conflict(
            "That API key already exists.".to_owned(),
        ));
    }
    Ok(CreatedKey { id, key })
}

/// Every key (without secrets: only hashes are stored).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(wharf: &Wharf) -> Result<Vec<ApiKeySummary>, ServiceError> {
    Ok(db::api_keys::list(&wharf.db)
        .await?
        .into_iter()
        .map(ApiKeySummary::from)
        .collect())
}

/// Revokes a key by its public id. Takes effect at once: every request reads
/// the key's row, so no cached verification outlives it.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke(wharf: &Wharf, id: &str) -> Result<(), ServiceError> {
    if db::api_keys::delete(&wharf.db, id).await? {
        Ok(())
    } else {
        Err(ServiceError::NotFound(format!(
            "No API key has the id '{id}'."
        )))
    }
}
