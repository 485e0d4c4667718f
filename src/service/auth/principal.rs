//! What a client presents ([`Credential`]) and whom it turns out to be
//! ([`Principal`]).

use secrecy::{ExposeSecret, SecretString};

use super::KEY_PREFIX;
use crate::domain::Grant;

/// Credentials as presented by a client.
#[derive(Debug, Clone)]
pub enum Credential {
    /// Nothing was presented.
    None,
    /// An API key (`X-ApiKey`, `?key=`, Basic `api:<key>`). pgutil's
    /// `user:password` pseudo-key also arrives here.
    ApiKey(SecretString),
    /// A web session's cookie token.
    Session(SecretString),
    /// HTTP Basic with a user name and a password.
    UserPassword {
        /// The user name.
        username: String,
        /// The password.
        password: SecretString,
    },
}

/// The API key `credential` presents, if it is plainly one: not a password,
/// a session, or pgutil's `user:password` pseudo-key (see `verify`).
pub(super) fn presented_key(credential: &Credential) -> Option<&str> {
    match credential {
        Credential::ApiKey(key) => plain_key(key.expose_secret()),
        Credential::UserPassword { username, password } if username.eq_ignore_ascii_case("api") => {
            Some(password.expose_secret())
        }
        _ => None,
    }
}

/// `text`, presented as an API key, if it is plainly one: not pgutil's
/// `user:password` pseudo-key.
pub(super) fn plain_key(text: &str) -> Option<&str> {
    (text.starts_with(KEY_PREFIX) || !text.contains(':')).then_some(text)
}

/// Who is calling, once credentials are verified.
#[derive(Debug, Clone)]
pub enum Principal {
    /// No credentials.
    Anonymous,
    /// An API key.
    Key {
        /// Its public id (shared with the cached key: no copy per request).
        id: std::sync::Arc<str>,
        /// What it may do (shared with the cached key: no copy per request).
        grant: std::sync::Arc<Grant>,
    },
    /// A user.
    User {
        /// The user name.
        username: String,
        /// What the user may do.
        grant: std::sync::Arc<Grant>,
    },
}

impl Principal {
    /// Who this is, for audit records: `key:<id>`, the user name, or `anonymous`.
    pub fn describe(&self) -> String {
        match self {
            Self::Anonymous => "anonymous".to_owned(),
            Self::Key { id, .. } => format!("key:{id}"),
            Self::User { username, .. } => username.clone(),
        }
    }

    /// The grant, if the caller authenticated.
    pub fn grant(&self) -> Option<&Grant> {
        match self {
            Self::Anonymous => None,
            Self::Key { grant, .. } | Self::User { grant, .. } => Some(grant),
        }
    }
}
