//! Promotion and repackaging endpoints (`/api/promotions/...`,
//! `/api/repackaging/repackage`). Bodies may be JSON or form fields.

use std::collections::HashMap;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};

use super::endpoint::{Endpoint, Routes};
use crate::domain::{GroupName, PackageId, PackageName, PromotionFilter};
use crate::error::ServiceError;
use crate::service::{Caller, Wharf, promotion};

use super::body::body_fields;
use super::query::Query;
use super::wire;

pub fn routes(routes: &mut Routes) {
    routes
        .add(Endpoint::new("/api/promotions/promote").on(Method::POST, promote))
        .add(Endpoint::new("/api/promotions/list").get(list))
        .add(Endpoint::new("/api/repackaging/repackage").on(Method::POST, repackage));
}

fn required<'a>(fields: &'a HashMap<String, String>, key: &str) -> Result<&'a str, ServiceError> {
    fields
        .get(&key.to_ascii_lowercase())
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ServiceError::BadRequest(format!("{key} is required.")))
}

fn package_id(fields: &HashMap<String, String>, name_key: &str) -> Result<PackageId, ServiceError> {
    let group = fields.get("group").map_or("", String::as_str);
    Ok(PackageId::new(
        GroupName::parse(group)?,
        PackageName::parse(required(fields, name_key)?)?,
    ))
}

/// `POST /api/promotions/promote` `{fromFeed, toFeed, group, name, version, comments}`.
#[utoipa::path(
    post, path = "/api/promotions/promote", tag = "promotion",
    request_body(description = "A JSON object or a form: `fromFeed`, `toFeed`, `group`, `name`, `version`, `comments`.", content(("application/json"), ("application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "The version as stored in the target feed.", body = wire::VersionObject),
        (status = 409, description = "The version exists in the target feed.", content_type = "text/plain", body = String),
        super::openapi::Refusals,
    )
)]
pub(super) async fn promote(
    req: HttpRequest,
    body: web::Bytes,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let fields = body_fields(&req, &body)?;
    let id = package_id(&fields, "name")?;
    let promoted = promotion::promote(
        &wharf,
        &caller,
        required(&fields, "fromFeed")?,
        required(&fields, "toFeed")?,
        &id,
        required(&fields, "version")?,
        fields.get("comments").map_or("", String::as_str),
    )
    .await?;
    Ok(HttpResponse::Ok().json(wire::version_object(&promoted, false)))
}

/// `GET /api/promotions/list?fromFeed=&toFeed=&group=&package=&version=`:
/// promotions grouped by package version.
#[utoipa::path(
    method(get, head), path = "/api/promotions/list", tag = "promotion",
    params(
        ("fromFeed" = Option<String>, Query, description = "Promoted from this feed."),
        ("toFeed" = Option<String>, Query, description = "Promoted to this feed."),
        ("group" = Option<String>, Query, description = "The package's group."),
        ("package" = Option<String>, Query, description = "The package's name (also `name`)."),
        ("version" = Option<String>, Query, description = "The version."),
    ),
    responses((status = 200, description = "Promotions grouped by version.", body = Vec<wire::PromotedVersion>), super::openapi::Refusals)
)]
pub(super) async fn list(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let query = Query::parse(req.query_string());
    let owned = |key: &str| query.non_empty(key).map(str::to_owned);
    let filter = PromotionFilter {
        from_feed: owned("fromFeed"),
        to_feed: owned("toFeed"),
        group: query.get("group").map(str::to_owned),
        name: owned("package").or_else(|| owned("name")),
        version: owned("version"),
    };
    let rows = promotion::list(&wharf, &caller, &filter).await?;
    Ok(HttpResponse::Ok().json(wire::promotions_by_version(&rows)))
}

/// `POST /api/repackaging/repackage` `{feed, group, name, version, newVersion, comments, toFeed}`
/// (the form variant says `packageName`).
#[utoipa::path(
    post, path = "/api/repackaging/repackage", tag = "promotion",
    request_body(description = "A JSON object or a form: `feed`, `group`, `name` (form: `packageName`), `version`, `newVersion`, `comments`, `toFeed`.", content(("application/json"), ("application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "The new version.", body = wire::VersionObject),
        (status = 409, description = "The new version exists.", content_type = "text/plain", body = String),
        super::openapi::Refusals,
    )
)]
pub(super) async fn repackage(
    req: HttpRequest,
    body: web::Bytes,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let fields = body_fields(&req, &body)?;
    let name_key = if fields.contains_key("packagename") {
        "packageName"
    } else {
        "name"
    };
    let id = package_id(&fields, name_key)?;
    let repackaged = promotion::repackage(
        &wharf,
        &caller,
        required(&fields, "feed")?,
        fields
            .get("tofeed")
            .map(String::as_str)
            .filter(|f| !f.is_empty()),
        &id,
        required(&fields, "version")?,
        required(&fields, "newVersion")?,
        fields.get("comments").map_or("", String::as_str),
    )
    .await?;
    Ok(HttpResponse::Ok().json(wire::version_object(&repackaged, false)))
}
