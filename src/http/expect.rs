//! `Expect: 100-continue` on uploads: the caller's credentials, its `add`
//! permission on the feed and the declared size are checked *before* the
//! server invites the body, so that a refused upload costs the client a round
//! trip, not the transfer of a package.
//!
//! actix-http calls this for every request that carries the expectation,
//! before routing; a refusal is sent as the final response and the body is
//! never read. Requests that are not uploads pass straight through.

use actix_web::http::{Method, header};
use actix_web::{HttpMessage, HttpResponse, ResponseError};

use crate::domain::Permission;
use crate::error::ServiceError;
use crate::service::{Caller, Wharf, access, publish};

use super::{credentials, tail};

/// Checks an upload that asks for `100 Continue`; passes any other request.
pub async fn screen(
    wharf: &Wharf,
    req: actix_http::Request,
) -> Result<actix_http::Request, actix_web::Error> {
    let Some(feed) = upload_feed(req.method(), req.path()) else {
        return Ok(req);
    };
    match check(wharf, &req, &feed).await {
        Ok(()) => Ok(req),
        Err(error) => {
            let request_id = uuid::Uuid::new_v4().to_string();
            super::access_log::log_refused(wharf, &req, &error, &request_id);
            let mut response: HttpResponse = error.error_response();
            if let Ok(value) = header::HeaderValue::from_str(&request_id) {
                response
                    .headers_mut()
                    .insert(header::HeaderName::from_static("x-request-id"), value);
            }
            Err(actix_web::error::InternalError::from_response(error, response).into())
        }
    }
}

async fn check(wharf: &Wharf, req: &actix_http::Request, feed: &str) -> Result<(), ServiceError> {
    let credential = credentials::credential_from(req.headers(), req.uri().query().unwrap_or(""));
    let address = super::client_address::client_address(wharf, req.peer_addr(), req.headers());
    let principal = wharf.auth.authenticate(&credential, address).await?;
    let caller = Caller {
        principal,
        challenge_anonymous: wharf.settings.auth.challenge,
    };
    access::feed_for(wharf, &caller, feed, Permission::Add).await?;
    let max_bytes = wharf.settings.limits.max_upload_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_bytes) {
        return Err(publish::too_large(max_bytes));
    }
    Ok(())
}

/// The feed an upload request goes to, if this is one: `PUT|POST
/// /upack/<feed>/upload[...]`, `PUT /upack/<feed>[/]`, and pgutil's `PUT|POST
/// /api/packages/<feed>/upload[...]`.
fn upload_feed(method: &Method, path: &str) -> Option<String> {
    if *method != Method::PUT && *method != Method::POST {
        return None;
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let feed = match segments.as_slice() {
        ["upack", feed] if *method == Method::PUT => feed,
        ["upack", feed, "upload", ..] | ["api", "packages", feed, "upload", ..] => feed,
        _ => return None,
    };
    tail::decode_segment(feed).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_addresses_are_recognised() {
        let put = Method::PUT;
        assert_eq!(upload_feed(&put, "/upack/f/upload").as_deref(), Some("f"));
        assert_eq!(upload_feed(&put, "/upack/f%2Dx/").as_deref(), Some("f-x"));
        assert_eq!(
            upload_feed(&Method::POST, "/api/packages/f/upload/x.upack").as_deref(),
            Some("f")
        );
        assert_eq!(upload_feed(&Method::POST, "/upack/f"), None);
        assert_eq!(upload_feed(&Method::GET, "/upack/f/upload"), None);
        assert_eq!(upload_feed(&put, "/upack/f/packages"), None);
    }
}
