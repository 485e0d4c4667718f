//! Signing in on the web pages: a session per sign-in, stored as the SHA-256
//! of the cookie's random token, with its own CSRF token.
//!
//! A session stands for its user: the user's row is read with the session on
//! every request, so deleting the user or changing their permissions takes
//! effect at once. A cookie naming no live session is no credential at all
//! (the visitor is anonymous); browsers keep stale cookies, and that is not
//! an attack worth counting.

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};

use crate::db::{self, sessions::NewSession};
use crate::error::ServiceError;

use super::secrets::{random_token, token_digest};
use super::{Authenticator, Credential, Principal};

/// A live session: who it signs in, and the token its forms must carry.
#[derive(Debug, Clone)]
pub struct Session {
    /// The signed-in user.
    pub principal: Principal,
    /// The value every form of this session must send back.
    pub csrf_token: String,
}

/// A session just begun, with the token for its cookie.
#[derive(Debug)]
pub struct SignedIn {
    /// The cookie's value (shown to nobody else, stored only as a hash).
    pub token: SecretString,
    /// The session.
    pub session: Session,
    /// How long the cookie should last.
    pub lifetime: chrono::Duration,
}

impl Authenticator {
    /// Checks a user's name and password (with the same failure limit and
    /// equal-work rules as Basic authentication) and begins a session.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn sign_in(
        &self,
        username: &str,
        password: SecretString,
        address: Option<std::net::IpAddr>,
    ) -> Result<SignedIn, ServiceError> {
        let credential = Credential::UserPassword {
            username: username.to_owned(),
            password,
        };
        let principal = self.authenticate(&credential, address).await?;
        let refused = || ServiceError::Forbidden(super::INVALID_PASSWORD.to_owned());
        if !matches!(principal, Principal::User { .. }) {
            return Err(refused());
        }
        let user = db::users::find(&self.db, username)
            .await?
            .ok_or_else(refused)?;
        let token = random_token();
        let csrf_token = random_token();
        db::sessions::insert(
            &self.db,
            &NewSession {
                token_sha256: &token_digest(&token),
                user_id: user.id,
                csrf_token: &csrf_token,
                expires_at: Utc::now() + self.session_lifetime,
            },
        )
        .await?;
        tracing::info!(user = %user.username, "signed in");
        Ok(SignedIn {
            token: token.into(),
            session: Session {
                principal,
                csrf_token,
            },
            lifetime: self.session_lifetime,
        })
    }

    /// The live session a cookie's token names, if any.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn session(&self, token: &SecretString) -> Result<Option<Session>, ServiceError> {
        let Some(row) =
            db::sessions::find_live(&self.db, &token_digest(token.expose_secret())).await?
        else {
            return Ok(None);
        };
        let grant = super::grant_of_user(&row.user)?;
        Ok(Some(Session {
            principal: Principal::User {
                username: row.user.username,
                grant,
            },
            csrf_token: row.csrf_token,
        }))
    }

    /// Ends the session a cookie's token names.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn sign_out(&self, token: &SecretString) -> Result<(), ServiceError> {
        db::sessions::delete(&self.db, &token_digest(token.expose_secret())).await?;
        Ok(())
    }

    /// Removes ended sessions (run now and then by the supervisor).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn remove_ended_sessions(&self) -> Result<u64, ServiceError> {
        Ok(db::sessions::delete_ended(&self.db).await?)
    }
}
