//! The management API as `pgutil` and scripts call it: feeds, API keys,
//! health and version. Shapes follow `ProGet` (`ProGetFeed`, `ApiKeyInfo`).
//!
//! Managing needs the `admin` permission; listing feeds shows each caller the
//! feeds it may view.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::endpoint::{Endpoint, Routes};
use super::wire;
use crate::domain::Permission;
use crate::error::ServiceError;
use crate::service::{Caller, Wharf, feeds, keys};

use super::query::Query;

pub fn routes(routes: &mut Routes) {
    use Method as M;
    routes
        .scope("/api/management/feeds", |routes| {
            routes
                .add(Endpoint::new("/create").each(&[M::POST, M::PUT], create_feed))
                .add(Endpoint::new("/get/{name}").get(get_feed))
                .add(Endpoint::new("/list").get(list_feeds))
                .add(Endpoint::new("/update/{name}").each(&[M::POST, M::PUT], update_feed))
                .add(Endpoint::new("/delete/{name}").each(&[M::DELETE, M::POST], delete_feed));
        })
        .scope("/api/api-keys", |routes| {
            routes
                .add(Endpoint::new("/create").each(&[M::POST, M::PUT], create_key))
                .add(Endpoint::new("/list").get(list_keys))
                .add(Endpoint::new("/delete").each(&[M::POST, M::DELETE], delete_key));
        })
        .add(Endpoint::new("/api/version").get(version));
}

pub(super) fn require_admin(caller: &Caller) -> Result<(), ServiceError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(caller.refuse(Permission::Admin))
    }
}

/// Parses a JSON body, answering 400 with serde's reason when it does not fit.
pub(super) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ServiceError> {
    serde_json::from_slice(body).map_err(|e| {
        ServiceError::BadRequest(format!("The request body is not the expected JSON ({e})."))
    })
}

/// `scheme://host` of this request, as the client addressed the server.
fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// The feed fields Wharf reads from a create or update request; `ProGet`'s
/// other fields are accepted and ignored.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct FeedInput {
    name: Option<String>,
    feed_type: Option<String>,
    description: Option<String>,
    /// Wharf's own field: anonymous callers may view and download.
    allow_anonymous_read: Option<bool>,
}

fn check_feed_type(feed_type: Option<&str>) -> Result<(), ServiceError> {
    match feed_type {
        None => Ok(()),
        Some(t)
            if ["universal", "upack"]
                .iter()
                .any(|u| t.eq_ignore_ascii_case(u)) =>
        {
            Ok(())
        }
        Some(t) => Err(ServiceError::BadRequest(format!(
            "feedType must be 'universal'; Wharf does not serve '{t}' feeds."
        ))),
    }
}

#[utoipa::path(
    method(post, put), path = "/api/management/feeds/create", tag = "management", security(("apiKeyHeader" = []), ("apiKeyQuery" = []), ("basic" = [])),
    request_body(content = FeedInput, description = "`ProGetFeed` fields; those Wharf does not use are accepted and ignored."),
    responses(
        (status = 200, description = "The feed created.", body = wire::FeedObject),
        (status = 409, description = "A feed of that name exists.", content_type = "text/plain", body = String),
        super::openapi::Refusals,
    )
)]
pub(super) async fn create_feed(
    req: HttpRequest,
    body: web::Bytes,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    require_admin(&caller)?;
    let input: FeedInput = parse_body(&body)?;
    let name = input
        .name
        .ok_or_else(|| ServiceError::BadRequest("name is required.".to_owned()))?;
    check_feed_type(input.feed_type.as_deref())?;
    let feed = feeds::create(
        &wharf,
        &name,
        input.description.as_deref().unwrap_or(""),
        input.allow_anonymous_read.unwrap_or(false),
    )
    .await?;
    Ok(HttpResponse::Ok().json(wire::feed_object(&base_url(&req), &feed)))
}

#[utoipa::path(
    method(get, head), path = "/api/management/feeds/get/{name}", tag = "management", security(("apiKeyHeader" = []), ("apiKeyQuery" = []), ("basic" = [])),
    params(("name" = String, Path, description = "The feed's name.")),
    responses((status = 200, description = "The feed.", body = wire::FeedObject), super::openapi::Refusals)
)]
pub(super) async fn get_feed(
    req: HttpRequest,
    name: web::Path<String>,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let feed = crate::service::access::feed_for(&wharf, &caller, &name, Permission::View).await?;
    Ok(HttpResponse::Ok().json(wire::feed_object(&base_url(&req), &feed)))
}

#[utoipa::path(
    method(get, head), path = "/api/management/feeds/list", tag = "management",
    responses((status = 200, description = "The feeds the caller may view.", body = Vec<wire::FeedObject>), super::openapi::Refusals)
)]
pub(super) async fn list_feeds(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let visible: Vec<wire::FeedObject> = feeds::list(&wharf)
        .await?
        .iter()
        .filter(|feed| caller.may(Permission::View, feed))
        .map(|feed| wire::feed_object(&base_url(&req), feed))
        .collect();
    Ok(HttpResponse::Ok().json(visible))
}

#[utoipa::path(
    method(post, put), path = "/api/management/feeds/update/{name}", tag = "management", security(("apiKeyHeader" = []), ("apiKeyQuery" = []), ("basic" = [])),
    params(("name" = String, Path, description = "The feed's name.")),
    request_body(content = FeedInput, description = "The fields to change."),
    responses((status = 200, description = "The feed as changed.", body = wire::FeedObject), super::openapi::Refusals)
)]
pub(super) async fn update_feed(
    req: HttpRequest,
    name: web::Path<String>,
    body: web::Bytes,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    require_admin(&caller)?;
    let input: FeedInput = parse_body(&body)?;
    check_feed_type(input.feed_type.as_deref())?;
    if input
        .name
        .as_ref()
        .is_some_and(|n| !n.eq_ignore_ascii_case(&name))
    {
        return Err(ServiceError::BadRequest(
            "Renaming a feed is not supported.".to_owned(),
        ));
    }
    let feed = feeds::update(
        &wharf,
        &name,
        input.description.as_deref(),
        input.allow_anonymous_read,
    )
    .await?;
    Ok(HttpResponse::Ok().json(wire::feed_object(&base_url(&req), &feed)))
}

#[utoipa::path(
    method(delete, post), path = "/api/management/feeds/delete/{name}", tag = "management", security(("apiKeyHeader" = []), ("apiKeyQuery" = []), ("basic" = [])),
    params(("name" = String, Path, description = "The feed's name.")),
    responses((status = 200, description = "Deleted, with its packages."), super::openapi::Refusals)
)]
pub(super) async fn delete_feed(
    name: web::Path<String>,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    require_admin(&caller)?;
    feeds::delete(&wharf, &name).await?;
    Ok(HttpResponse::Ok().finish())
}

/// The `ApiKeyInfo` fields Wharf reads.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct KeyInput {
    #[serde(rename = "type")]
    key_type: Option<String>,
    key: Option<String>,
    display_name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    system_apis: Vec<String>,
    #[serde(default)]
    package_permissions: Vec<String>,
    feed: Option<String>,
    expiration: Option<chrono::DateTime<chrono::Utc>>,
}

/// Maps `ProGet`'s key permission names to Wharf's. Feed keys use `view`
/// (View/Download), `add`, `promote` and `delete` (Overwrite/Delete); system
/// keys `full-control` or `feeds`. Wharf's own names are accepted too.
fn permissions_of(input: &KeyInput) -> Result<Vec<&'static str>, ServiceError> {
    let mut permissions = Vec::new();
    for api in &input.system_apis {
        match api.to_ascii_lowercase().as_str() {
            "full-control" | "admin" => permissions.push("admin"),
            "feeds" => {
                permissions.extend(["view", "download", "add", "overwrite", "delete", "promote"]);
            }
            other => {
                return Err(ServiceError::BadRequest(format!(
                    "systemApis '{other}' is not supported; use 'full-control' or 'feeds'."
                )));
            }
        }
    }
    for permission in &input.package_permissions {
        match permission.to_ascii_lowercase().as_str() {
            "view" => permissions.extend(["view", "download"]),
            "download" => permissions.push("download"),
            "add" => permissions.push("add"),
            "promote" => permissions.push("promote"),
            "delete" => permissions.extend(["delete", "overwrite"]),
            "overwrite" => permissions.push("overwrite"),
            other => {
                return Err(ServiceError::BadRequest(format!(
                    "packagePermissions '{other}' is not one of view, add, promote or delete."
                )));
            }
        }
    }
    if permissions.is_empty() {
        return Err(ServiceError::BadRequest(
            "An API key needs systemApis or packagePermissions.".to_owned(),
        ));
    }
    Ok(permissions)
}

#[utoipa::path(
    method(post, put), path = "/api/api-keys/create", tag = "management", security(("apiKeyHeader" = []), ("apiKeyQuery" = []), ("basic" = [])),
    request_body(content = KeyInput, description = "`ApiKeyInfo` fields: `type` (`System`, `Feed`, `Personal` or `Other`), `packagePermissions` or `systemApis`, `feed`, `displayName`, `expiration`, and `key` to choose the key."),
    responses(
        (status = 200, description = "The key created, with `key` shown this once.", body = wire::ApiKeyObject),
        super::openapi::Refusals,
    )
)]
pub(super) async fn create_key(
    body: web::Bytes,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    require_admin(&caller)?;
    let input: KeyInput = parse_body(&body)?;
    let permissions = permissions_of(&input)?;
    let feeds: Vec<String> = input.feed.iter().cloned().collect();
    if input
        .key_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("feed"))
        && feeds.is_empty()
    {
        return Err(ServiceError::BadRequest(
            "A Feed API key needs a feed.".to_owned(),
        ));
    }
    let name = input.display_name.or(input.description).unwrap_or_default();
    let created = keys::create(
        &wharf,
        keys::NewKey {
            name: name.clone(),
            permissions: permissions.join(","),
            feeds,
            fixed_key: input.key.map(Into::into),
            expires_at: input.expiration,
        },
    )
    .await?;
    let row = keys::list(&wharf)
        .await?
        .into_iter()
        .find(|k| k.id == created.id)
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("created key not found")))?;
    // The key text is shown here once; only its hash is stored.
    Ok(HttpResponse::Ok().json(wire::created_key_object(&row, created.key.expose_secret())))
}

#[utoipa::path(
    method(get, head), path = "/api/api-keys/list", tag = "management", security(("apiKeyHeader" = []), ("apiKeyQuery" = []), ("basic" = [])),
    responses((status = 200, description = "Every key, never its secret.", body = Vec<wire::ApiKeyObject>), super::openapi::Refusals)
)]
pub(super) async fn list_keys(
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    require_admin(&caller)?;
    let keys: Vec<wire::ApiKeyObject> = keys::list(&wharf)
        .await?
        .iter()
        .map(wire::key_object)
        .collect();
    Ok(HttpResponse::Ok().json(keys))
}

#[utoipa::path(
    method(post, delete), path = "/api/api-keys/delete", tag = "management", security(("apiKeyHeader" = []), ("apiKeyQuery" = []), ("basic" = [])),
    params(("id" = String, Query, description = "The key's id, as listed.")),
    responses((status = 200, description = "Revoked."), super::openapi::Refusals)
)]
pub(super) async fn delete_key(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    require_admin(&caller)?;
    let query = Query::parse(req.query_string());
    let id = query.non_empty("id").ok_or_else(|| {
        ServiceError::BadRequest("The id parameter is required (?id=<key id>).".to_owned())
    })?;
    keys::revoke(&wharf, id).await?;
    Ok(HttpResponse::Ok().finish())
}

/// `GET /api/version`: old clients (the Jenkins plugin) check that the text
/// starts with `ProGet`.
#[utoipa::path(
    method(get, head), path = "/api/version", tag = "server",
    responses((status = 200, description = "`ProGet-compatible Wharf <version>`.", content_type = "text/plain", body = String))
)]
pub(super) async fn version() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!(
            "ProGet-compatible Wharf {}",
            env!("CARGO_PKG_VERSION")
        ))
}
