//! Long-running operations over HTTP: request an export (202 with the
//! operation and its `Location`), then poll `GET /api/operations/<id>`,
//! which answers 200 whatever the operation's outcome.

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::body::body_fields;
use super::endpoint::{Endpoint, Routes};
use super::query::Query;
use super::wire;
use crate::error::ServiceError;
use crate::service::operations::{self, Kind, State, export, pull};
use crate::service::{Caller, Wharf};

pub fn routes(routes: &mut Routes) {
    routes.scope("/api/operations", |routes| {
        routes
            .add(Endpoint::new("").get(list))
            .add(Endpoint::new("/export").on(Method::POST, request_export))
            .add(Endpoint::new("/pull").on(Method::POST, request_pull))
            .add(Endpoint::new("/{id}").get(show));
    });
}

/// `GET /api/operations/<id>`.
#[utoipa::path(
    method(get, head), path = "/api/operations/{id}", tag = "operations",
    params(("id" = String, Path, description = "The operation's id, from its request's answer.")),
    responses(
        (status = 200, description = "The operation, whatever its outcome.", body = wire::OperationObject),
        (status = 404, description = "No operation has this id (or its feed is not visible to the caller).", content_type = "text/plain", body = String),
        (status = 403, description = "Missing credentials.", content_type = "text/plain", body = String),
    )
)]
pub(super) async fn show(
    id: web::Path<String>,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let operation = operations::find(&wharf, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(wire::operation_object(&operation)))
}

/// `GET /api/operations?state=&kind=&count=`.
#[utoipa::path(
    method(get, head), path = "/api/operations", tag = "operations",
    params(
        ("state" = Option<String>, Query, description = "Only `queued`, `running`, `succeeded` or `failed` ones."),
        ("kind" = Option<String>, Query, description = "Only this kind (`export` or `pull`)."),
        ("count" = Option<i64>, Query, description = "At most this many (default 100)."),
    ),
    responses(
        (status = 200, description = "Operations newest first, those on feeds the caller may view.", body = Vec<wire::OperationObject>),
        super::openapi::Refusals,
    )
)]
pub(super) async fn list(
    query: Query,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let state = match query.non_empty("state") {
        Some(name) => Some(State::parse(name).ok_or_else(|| {
            ServiceError::BadRequest(format!(
                "state must be queued, running, succeeded or failed, not '{name}'."
            ))
        })?),
        None => None,
    };
    let kind = match query.non_empty("kind") {
        Some(name) => Some(Kind::parse(name).ok_or_else(|| {
            ServiceError::BadRequest(format!("kind must be export or pull, not '{name}'."))
        })?),
        None => None,
    };
    let limit = query.count()?.unwrap_or(100);
    let found = operations::list(&wharf, &caller, state, kind, limit).await?;
    Ok(HttpResponse::Ok().json(found.iter().map(wire::operation_object).collect::<Vec<_>>()))
}

/// `POST /api/operations/export`: fields from the query, a JSON object or a
/// form (the body wins).
#[utoipa::path(
    post, path = "/api/operations/export", tag = "operations",
    params(
        ("feed" = Option<String>, Query, description = "The feed (or in the body)."),
        ("group" = Option<String>, Query, description = "The package's group."),
        ("name" = Option<String>, Query, description = "The package's name."),
        ("version" = Option<String>, Query, description = "The version; or `latest`."),
        ("latest" = Option<String>, Query, description = "Bare or `true`: the latest version."),
        ("containerUri" = Option<String>, Query, description = "`file:///<directory>` under `export.allowed_roots`, or `s3://<bucket>/<folder>` in `export.allowed_buckets`."),
        ("overwriteExisting" = Option<bool>, Query, description = "Replace files already there (default false: the operation fails with `blob_exists`)."),
    ),
    request_body(description = "The same fields as a JSON object or a form, instead of the query.", content(("application/json"), ("application/x-www-form-urlencoded"))),
    responses(
        (status = 202, description = "Queued; `Location` is the operation's status address.", body = wire::OperationObject,
            headers(("Location" = String, description = "/api/operations/<id>"))),
        super::openapi::Refusals,
    )
)]
pub(super) async fn request_export(
    req: HttpRequest,
    body: web::Bytes,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let mut query = Query::parse(req.query_string());
    if !body.is_empty() {
        query = query.with_fields_first(body_fields(&req, &body)?);
    }
    let required = |key: &str| {
        query
            .non_empty(key)
            .map(str::to_owned)
            .ok_or_else(|| ServiceError::BadRequest(format!("{key} is required.")))
    };
    let wants_latest = query.latest()?.is_some()
        || query
            .get("version")
            .is_some_and(|v| v.eq_ignore_ascii_case("latest"));
    let version = if wants_latest {
        None
    } else {
        Some(required("version").map_err(|_| {
            ServiceError::BadRequest("Give a version, or latest=true for the latest.".to_owned())
        })?)
    };
    let operation = export::request(
        &wharf,
        &caller,
        export::ExportRequest {
            feed: required("feed")?,
            group: query.get("group").unwrap_or_default().to_owned(),
            name: required("name")?,
            version,
            container_uri: required("containerUri")?,
            overwrite_existing: query.flag("overwriteExisting")?,
        },
    )
    .await?;
    Ok(HttpResponse::Accepted()
        .insert_header((
            header::LOCATION,
            format!("/api/operations/{}", operation.id),
        ))
        .json(wire::operation_object(&operation)))
}

/// `POST /api/operations/pull`: one `{feed, group, name, version, source}`
/// or an array of them (at most `pull::MAX_BATCH`); every one is checked
/// before any is queued.
#[utoipa::path(
    post, path = "/api/operations/pull", tag = "operations",
    request_body(description = "A JSON object `{feed, group, name, version, source}` (group, version and source optional) or an array of them. `source` must equal one of the feed's connector URLs exactly; without it the first connector is used; without `version` the latest.", content(("application/json"))),
    responses(
        (status = 202, description = "Queued: the operation (an array of them for an array); `Location` is the (first) operation's status address.", body = wire::OperationObject,
            headers(("Location" = String, description = "/api/operations/<id>"))),
        (status = 400, description = "`{code, message}` with code `unknown_source`, `no_connector` or `excluded_by_connector`; or a sentence for another malformed request.", content_type = "application/json"),
        super::openapi::Refusals,
    )
)]
pub(super) async fn request_pull(
    body: web::Bytes,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ServiceError::BadRequest(format!("The request body is not JSON ({e}).")))?;
    let is_batch = value.is_array();
    let requests: Vec<pull::PullRequest> = if is_batch {
        serde_json::from_value(value)
    } else {
        serde_json::from_value(value).map(|one| vec![one])
    }
    .map_err(|e| {
        ServiceError::BadRequest(format!(
            "Each package to pull is {{feed, group, name, version, source}} ({e})."
        ))
    })?;
    let queued = pull::request(&wharf, &caller, requests).await?;
    let location = format!("/api/operations/{}", queued[0].id);
    let mut answer = HttpResponse::Accepted();
    answer.insert_header((header::LOCATION, location));
    let objects: Vec<_> = queued.iter().map(wire::operation_object).collect();
    Ok(if is_batch {
        answer.json(objects)
    } else {
        answer.json(&objects[0])
    })
}
