//! Who is looking at a page: the session cookie read into a [`Caller`], and
//! the CSRF checks every form goes through.
//!
//! Pages read only the session cookie, never API keys: a browser signs in on
//! `/login`. The cookie is `HttpOnly` and `SameSite=Lax` (sent on links from
//! elsewhere, not on cross-site form posts); every form also carries the
//! session's CSRF token, and the sign-in form, which has no session yet, a
//! token paired with a short-lived cookie.

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use secrecy::SecretString;
use serde::Serialize;

use crate::error::ServiceError;
use crate::service::auth::{Principal, Session};
use crate::service::{Caller, Wharf};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "wharf_session";
/// The sign-in form's CSRF cookie.
pub const LOGIN_COOKIE: &str = "wharf_login";

/// A page's visitor: anonymous, or a signed-in user.
pub struct Visitor {
    /// Who is asking, for access checks.
    pub caller: Caller,
    /// The live session, if signed in.
    pub session: Option<Session>,
    /// The session cookie's token, if one was sent.
    pub token: Option<SecretString>,
}

/// What every page shows of its visitor.
#[derive(Debug, Clone, Serialize)]
pub struct VisitorView {
    pub signed_in: bool,
    pub username: Option<String>,
    pub is_admin: bool,
    pub csrf: Option<String>,
}

impl Visitor {
    /// The visitor as templates see them.
    pub fn view(&self) -> VisitorView {
        VisitorView {
            signed_in: self.session.is_some(),
            username: match &self.caller.principal {
                Principal::User { username, .. } => Some(username.clone()),
                _ => None,
            },
            is_admin: self.caller.is_admin(),
            csrf: self.session.as_ref().map(|s| s.csrf_token.clone()),
        }
    }

    /// Checks a form's CSRF token against the session's.
    pub fn check_csrf(&self, presented: &str) -> Result<(), ServiceError> {
        match &self.session {
            Some(session) if same(presented, &session.csrf_token) => Ok(()),
            Some(_) => Err(ServiceError::Forbidden(
                "The form has expired; reload the page and try again.".to_owned(),
            )),
            None => Err(ServiceError::Forbidden(
                "Your session has ended; sign in again.".to_owned(),
            )),
        }
    }

    /// Refuses anyone but a signed-in administrator.
    pub fn require_admin(&self) -> Result<(), ServiceError> {
        if self.caller.is_admin() {
            Ok(())
        } else if self.session.is_none() {
            Err(ServiceError::AuthenticationRequired)
        } else {
            Err(ServiceError::Forbidden(
                "Only administrators can open this page.".to_owned(),
            ))
        }
    }
}

/// Compares two tokens in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A cookie with the attributes every Wharf cookie has.
pub fn cookie(
    req: &HttpRequest,
    name: &'static str,
    value: String,
    max_age: time::Duration,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(req.connection_info().scheme() == "https")
        .max_age(max_age)
        .finish()
}

impl FromRequest for Visitor {
    type Error = ServiceError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token: Option<SecretString> = req
            .cookie(SESSION_COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|v| !v.is_empty())
            .map(Into::into);
        let wharf = req.app_data::<web::Data<Wharf>>().cloned();
        Box::pin(async move {
            let wharf =
                wharf.ok_or_else(|| ServiceError::internal(anyhow::anyhow!("no app state")))?;
            let session = match &token {
                Some(token) => wharf.auth.session(token).await?,
                None => None,
            };
            let principal = session
                .as_ref()
                .map_or(Principal::Anonymous, |s| s.principal.clone());
            Ok(Self {
                caller: Caller {
                    principal,
                    challenge_anonymous: false,
                },
                session,
                token,
            })
        })
    }
}
