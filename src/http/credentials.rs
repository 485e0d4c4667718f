//! Reading credentials from a request, in the forms the clients use:
//! `X-ApiKey: <key>` (also pgutil's `X-ApiKey: user:password`), HTTP Basic
//! `api:<key>` or `<user>:<password>`, and `?key=<key>`; and, for reading
//! requests only, the web session cookie, so that a signed-in browser
//! downloads with exactly its user's permissions. A cookie never authorizes
//! a write through the API: browsers send cookies on cross-site requests,
//! and only the pages' forms carry a CSRF token.

use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use futures_util::future::{Either, LocalBoxFuture, Ready, ready};

use crate::error::ServiceError;
use crate::service::auth::Principal;
use crate::service::{Caller, Credential, Wharf};

use super::client_address::client_address;
use super::pages::visitor::SESSION_COOKIE;
use super::query::Query;

/// The header upack and pgutil send their key in. A constant: looked up by
/// text, the name would be parsed and copied on every request.
const X_API_KEY: header::HeaderName = header::HeaderName::from_static("x-apikey");

/// The credential a request presents (the first found, in the order above).
pub fn credential_of(req: &HttpRequest) -> Credential {
    let credential = credential_from(req.headers(), req.query_string());
    let reading = matches!(*req.method(), Method::GET | Method::HEAD);
    if matches!(credential, Credential::None)
        && reading
        && let Some(cookie) = req.cookie(SESSION_COOKIE)
        && !cookie.value().is_empty()
    {
        return Credential::Session(cookie.value().to_owned().into());
    }
    credential
}

/// The credential in these headers and query string (for requests that are
/// not yet an `HttpRequest`, such as one waiting for `100 Continue`).
pub fn credential_from(headers: &header::HeaderMap, query: &str) -> Credential {
    if let Some(key) = api_key_header(headers) {
        return Credential::ApiKey(key.to_owned().into());
    }
    if let Some(credential) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_authorization)
    {
        return credential;
    }
    if let Some(key) = Query::parse(query).non_empty("key") {
        return Credential::ApiKey(key.to_owned().into());
    }
    Credential::None
}

/// The key in the `X-ApiKey` header, trimmed, if one is there.
fn api_key_header(headers: &header::HeaderMap) -> Option<&str> {
    headers
        .get(X_API_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

fn parse_authorization(value: &str) -> Option<Credential> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(Credential::ApiKey(rest.trim().to_owned().into()));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (username, password) = text.split_once(':')?;
    Some(Credential::UserPassword {
        username: username.to_owned(),
        password: password.to_owned().into(),
    })
}

/// The caller, at once when no credential or a recently verified key is
/// presented (no future to build, box and poll), otherwise after the
/// database and argon2 have had their say.
impl FromRequest for Caller {
    type Error = ServiceError;
    type Future = Either<
        Ready<Result<Self, Self::Error>>,
        LocalBoxFuture<'static, Result<Self, Self::Error>>,
    >;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(wharf) = req.app_data::<web::Data<Wharf>>() else {
            return Either::Left(ready(Err(ServiceError::internal(anyhow::anyhow!(
                "no app state"
            )))));
        };
        let address = client_address(wharf, req.peer_addr(), req.headers());
        let answered = |principal: Principal| {
            super::access_log::note_caller(&principal);
            Either::Left(ready(Ok(Caller {
                principal,
                challenge_anonymous: wharf.settings.auth.challenge,
            })))
        };
        // The usual keyed request: `X-ApiKey` comes first among the
        // credential forms, and its key is checked where it lies.
        let header_key = api_key_header(req.headers());
        if let Some(principal) =
            header_key.and_then(|key| wharf.auth.authenticate_recent_key(key, address))
        {
            return answered(principal);
        }
        let credential = credential_of(req);
        if header_key.is_none()
            && let Some(principal) = wharf.auth.authenticate_recent(&credential, address)
        {
            return answered(principal);
        }
        let wharf = wharf.clone();
        Either::Right(Box::pin(async move {
            let principal = wharf.auth.authenticate(&credential, address).await?;
            super::access_log::note_caller(&principal);
            Ok(Caller {
                principal,
                challenge_anonymous: wharf.settings.auth.challenge,
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use secrecy::ExposeSecret;

    fn key_of(credential: Credential) -> String {
        match credential {
            Credential::ApiKey(key) => key.expose_secret().to_owned(),
            other => panic!("expected a key, got {other:?}"),
        }
    }

    #[test]
    fn every_credential_form_is_read() {
        let header = TestRequest::default()
            .insert_header(("X-ApiKey", "k1"))
            .to_http_request();
        assert_eq!(key_of(credential_of(&header)), "k1");
        let query = TestRequest::with_uri("/x?key=k2").to_http_request();
        assert_eq!(key_of(credential_of(&query)), "k2");
        let basic = base64::engine::general_purpose::STANDARD.encode("api:k3");
        let basic = TestRequest::default()
            .insert_header(("Authorization", format!("Basic {basic}")))
            .to_http_request();
        match credential_of(&basic) {
            Credential::UserPassword { username, password } => {
                assert_eq!(username, "api");
                assert_eq!(password.expose_secret(), "k3");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            credential_of(&TestRequest::default().to_http_request()),
            Credential::None
        ));
    }
}
