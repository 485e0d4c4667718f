//! Writes: upload and delete.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use crate::domain::Permission;
use crate::error::ServiceError;
use crate::service::packages::{self};
use crate::service::publish::{self, UploadHints};
use crate::service::{Caller, Wharf, access};

use super::super::wire;

use super::super::query::Query;
use super::super::tail;
use super::address::Address;

/// `DELETE|POST delete/<group>/<name>/<version>`.
#[utoipa::path(
    method(delete, post), path = "/upack/{feed}/delete/{tail}", tag = "upack",
    params(super::super::openapi::PackagePath),
    responses(
        (status = 200, description = "Deleted; the sentence names the version.", content_type = "text/plain", body = String),
        super::super::openapi::Refusals,
    )
)]
pub(in crate::http) async fn delete(
    address: Address,
    query: Query,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    if query.latest()?.is_some() {
        return Err(ServiceError::BadRequest(
            "Delete needs an exact version (.../<name>/<version>); ?latest is not accepted."
                .to_owned(),
        ));
    }
    let (id, selector) = address.package_version(&Query::default())?;
    let (feed, row) = packages::resolve_for(
        &wharf,
        &caller,
        &address.feed,
        &id,
        &selector,
        Permission::Delete,
    )
    .await
    .map_err(|error| match error {
        // ProGet's text, which scripts look for: "package not found".
        ServiceError::NotFound(_) => {
            ServiceError::NotFound(format!("Delete failed: package not found ({id})."))
        }
        other => other,
    })?;
    packages::delete(&wharf, &feed, &row).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!("Deleted {id} {}.", row.version())))
}

/// `PUT|POST upload[/<group>/<name>[/<version>]]` and `PUT /upack/<feed>`:
/// the body is the package, whatever the declared content type.
#[utoipa::path(
    method(put, post), path = "/upack/{feed}/upload", tag = "upack",
    params(
        super::super::openapi::FeedPath,
        ("name" = Option<String>, Query, description = "Name, group, version and any other field: merged into `upack.json`."),
    ),
    request_body(description = "A `.upack` (zip with `upack.json`), a zipped `.vpack`, a JSON virtual package manifest, a plain zip with `name` and `version` in the query, or a JSON or form body with `content-b64`.", content(("application/octet-stream"), ("application/json"), ("application/x-www-form-urlencoded"))),
    responses(
        (status = 201, description = "Stored.", body = wire::StoredPackage),
        (status = 409, description = "The version exists and the key lacks `overwrite`.", content_type = "text/plain", body = String),
        (status = 413, description = "Larger than `limits.max_upload_bytes`.", content_type = "text/plain", body = String),
        super::super::openapi::Refusals,
    )
)]
pub(in crate::http) async fn upload(
    req: HttpRequest,
    address: Address,
    query: Query,
    body: web::Payload,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let declared_length = super::super::content_length(&req);
    let max_bytes = wharf.settings.limits.max_upload_bytes;
    if declared_length.is_some_and(|length| length > max_bytes) {
        // Checked after authentication, so strangers cannot probe the limit.
        access::feed_for(&wharf, &caller, &address.feed, Permission::Add).await?;
        return Err(publish::too_large(max_bytes));
    }
    let is_upload_path = tail::raw_tail_after(req.uri().path(), 2).starts_with("upload");
    let form_body = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let mut hints = UploadHints {
        path_segments: if is_upload_path {
            address.segments.clone()
        } else {
            Vec::new()
        },
        form_body,
        declared_length,
        ..UploadHints::default()
    };
    let fields = query.pairs().filter(|(_, v)| !v.is_empty()).map(|(k, v)| {
        // A literal `+` in a version was form-decoded to a space.
        let v = if k.eq_ignore_ascii_case("version") {
            v.replace(' ', "+")
        } else {
            v.to_owned()
        };
        (k.to_owned(), Value::String(v))
    });
    hints.add_fields(fields.collect::<Vec<_>>())?;
    let published = publish::publish(&wharf, &caller, &address.feed, body, hints).await?;
    Ok(HttpResponse::Created().json(wire::stored_package(&published)))
}
