//! The stylesheet, script and icon, embedded in the binary and served with
//! an `ETag` so browsers revalidate instead of downloading again.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ServiceError;

/// Name, content type and bytes of each asset.
const ASSETS: [(&str, &str, &[u8]); 3] = [
    (
        "wharf.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../web/static/wharf.css"),
    ),
    (
        "wharf.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/static/wharf.js"),
    ),
    (
        "wharf.svg",
        "image/svg+xml",
        include_bytes!("../../../web/static/wharf.svg"),
    ),
];

/// `GET /static/<file>`.
pub async fn asset(
    req: HttpRequest,
    file: web::Path<String>,
) -> Result<HttpResponse, ServiceError> {
    let Some((_, content_type, bytes)) = ASSETS.iter().find(|(name, _, _)| *name == file.as_str())
    else {
        return Err(ServiceError::NotFound(format!(
            "There is no asset '{file}'."
        )));
    };
    let etag = format!("\"{}\"", &hex::encode(sha2::Sha256::digest(bytes))[..16]);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"));
    if fresh {
        return Ok(response.finish());
    }
    Ok(response.content_type(*content_type).body(*bytes))
}

use sha2::Digest as _;
