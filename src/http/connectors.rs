//! `/api/management/connectors/...`: a feed's remote feeds, for
//! administrators. Shapes follow `ProGet`'s connector JSON: `filters` holds
//! name patterns, an exclusion prefixed with `!`; credentials go in as
//! `apiKey`, or `username` and `password`, and never come out.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::endpoint::{Endpoint, Routes};
use super::management::{parse_body, require_admin};
use super::query::Query;
use super::wire;
use crate::error::ServiceError;
use crate::service::connectors::{self, ConnectorSpec, Credentials};
use crate::service::{Caller, Wharf};

pub fn routes(routes: &mut Routes) {
    use Method as M;
    routes.scope("/api/management/connectors", |routes| {
        routes
            .add(Endpoint::new("/create").each(&[M::POST, M::PUT], create))
            .add(Endpoint::new("/get/{name}").get(get))
            .add(Endpoint::new("/list").get(list))
            .add(Endpoint::new("/update/{name}").each(&[M::POST, M::PUT], update))
            .add(Endpoint::new("/delete/{name}").each(&[M::DELETE, M::POST], delete));
    });
}

/// The connector fields Wharf reads; `ProGet`'s others (`feedType`,
/// metadata cache settings) are accepted and ignored.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ConnectorInput {
    /// Unique across feeds; made from the feed and the URL's host if absent.
    name: Option<String>,
    /// The feed it serves (create only).
    feed: Option<String>,
    /// The remote feed's Universal Feed API address, kept exactly as given.
    url: Option<String>,
    /// Seconds (default 30).
    timeout: Option<i32>,
    /// Name patterns with `*`; `!pattern` excludes.
    filters: Option<Vec<String>>,
    api_key: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

impl ConnectorInput {
    fn credentials(&self) -> Result<Option<Credentials>, ServiceError> {
        match (&self.api_key, &self.username, &self.password) {
            (Some(key), None, None) => Ok(Some(Credentials::ApiKey(key.clone()))),
            (None, Some(username), Some(password)) => Ok(Some(Credentials::Basic {
                username: username.clone(),
                password: password.clone(),
            })),
            (None, None, None) => Ok(None),
            _ => Err(ServiceError::BadRequest(
                "Give either apiKey, or username and password.".to_owned(),
            )),
        }
    }

    /// The spec, with what the body leaves out taken from `current`.
    fn spec(&self, current: Option<&connectors::Connector>) -> Result<ConnectorSpec, ServiceError> {
        let url = match (&self.url, current) {
            (Some(url), _) => url.clone(),
            (None, Some(current)) => current.url.clone(),
            (None, None) => return Err(ServiceError::BadRequest("url is required.".to_owned())),
        };
        let (include, exclude) = match (&self.filters, current) {
            (Some(filters), _) => {
                let (exclude, include): (Vec<_>, Vec<_>) =
                    filters.iter().partition(|f| f.starts_with('!'));
                (
                    include.into_iter().cloned().collect(),
                    exclude.iter().map(|f| f[1..].to_owned()).collect(),
                )
            }
            (None, Some(current)) => (current.include.clone(), current.exclude.clone()),
            (None, None) => (Vec::new(), Vec::new()),
        };
        Ok(ConnectorSpec {
            url,
            timeout_seconds: self.timeout.or(current.map(|c| c.timeout_seconds)),
            include,
            exclude,
            credentials: self.credentials()?,
        })
    }
}

const ADMIN_ONLY: &str = "Administrators only.";

#[utoipa::path(
    method(post, put), path = "/api/management/connectors/create", tag = "management",
    request_body(content = ConnectorInput, description = "`feed` and `url` are required."),
    responses(
        (status = 200, description = "The connector created.", body = wire::ConnectorObject),
        (status = 409, description = "A connector of that name exists.", content_type = "text/plain", body = String),
        super::openapi::Refusals,
    ),
    description = ADMIN_ONLY
)]
pub(super) async fn create(
    body: web::Bytes,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    require_admin(&caller)?;
    let input: ConnectorInput = parse_body(&body)?;
    let feed = input
        .feed
        .clone()
        .ok_or_else(|| ServiceError::BadRequest("feed is required.".to_owned()))?;
    let created =
        connectors::create(&wharf, &feed, input.name.as_deref(), &input.spec(None)?).await?;
    Ok(HttpResponse::Ok().json(wire::connector_object(&created)))
}

#[utoipa::path(
    method(get, head), path = "/api/management/connectors/get/{name}", tag = "management",
    params(("name" = String, Path, description = "The connector's name.")),
    responses((status = 200, description = "The connector.", body = wire::ConnectorObject), super::openapi::Refusals),
    description = ADMIN_ONLY
)]
pub(super) async fn get(
    name: web::Path<String>,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    require_admin(&caller)?;
    let connector = connectors::get(&wharf, &name).await?;
    Ok(HttpResponse::Ok().json(wire::connector_object(&connector)))
}

#[utoipa::path(
    method(get, head), path = "/api/management/connectors/list", tag = "management",
    params(("feed" = Option<String>, Query, description = "Only this feed's, in order.")),
    responses((status = 200, description = "Connectors by feed, in order.", body = Vec<wire::ConnectorObject>), super::openapi::Refusals),
    description = ADMIN_ONLY
)]
pub(super) async fn list(
    query: Query,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    require_admin(&caller)?;
    let found = connectors::list(&wharf, query.non_empty("feed")).await?;
    Ok(HttpResponse::Ok().json(found.iter().map(wire::connector_object).collect::<Vec<_>>()))
}

#[utoipa::path(
    method(post, put), path = "/api/management/connectors/update/{name}", tag = "management",
    params(("name" = String, Path, description = "The connector's name.")),
    request_body(content = ConnectorInput, description = "The fields to change; credentials are kept unless new ones are given."),
    responses((status = 200, description = "The connector as changed.", body = wire::ConnectorObject), super::openapi::Refusals),
    description = ADMIN_ONLY
)]
pub(super) async fn update(
    name: web::Path<String>,
    body: web::Bytes,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    require_admin(&caller)?;
    let input: ConnectorInput = parse_body(&body)?;
    let current = connectors::get(&wharf, &name).await?;
    let changed = connectors::update(&wharf, &name, &input.spec(Some(&current))?).await?;
    Ok(HttpResponse::Ok().json(wire::connector_object(&changed)))
}

#[utoipa::path(
    method(delete, post), path = "/api/management/connectors/delete/{name}", tag = "management",
    params(("name" = String, Path, description = "The connector's name.")),
    responses((status = 200, description = "Deleted."), super::openapi::Refusals),
    description = ADMIN_ONLY
)]
pub(super) async fn delete(
    name: web::Path<String>,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    require_admin(&caller)?;
    connectors::delete(&wharf, &name).await?;
    Ok(HttpResponse::Ok().finish())
}
