//! The HTTP surface: routing, extractors and wire shapes.
//!
//! A handler extracts (caller, address, query), calls one service function
//! and maps the result; errors become responses through the table in
//! `crate::error`. No SQL and no file access here.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};

pub use access_log::AccessLog;

pub use endpoint::{Audience, Route};
use endpoint::{Endpoint, Routes};

mod access_log;
mod body;
mod connectors;
pub mod credentials;
mod download;
mod endpoint;
pub mod expect;
mod health;
pub mod in_flight;
mod management;
pub mod openapi;
mod operations;
mod packages_api;
pub mod pages;
mod promotion;
pub mod query;
pub mod tail;
mod upack;
mod wire;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    register(&mut Routes::new(cfg, &mut Vec::new()));
}

/// Every route the server answers, as registered by `configure`.
pub fn route_table() -> Vec<Route> {
    let mut table = Vec::new();
    let _ = actix_web::App::new().configure(|cfg| register(&mut Routes::new(cfg, &mut table)));
    table
}

fn register(routes: &mut Routes) {
    upack::routes(routes);
    routes
        .add(Endpoint::new("/health").get(health::health))
        .add(Endpoint::new("/health/json").get(health::health))
        .add(Endpoint::new("/openapi.json").get(openapi::document));
    management::routes(routes);
    connectors::routes(routes);
    packages_api::routes(routes);
    promotion::routes(routes);
    operations::routes(routes);
    routes.for_browsers(pages::routes);
    routes.default_service(not_found);
}

/// The request's declared `Content-Length`, if it has a valid one.
fn content_length(req: &actix_web::HttpRequest) -> Option<u64> {
    req.headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// No route serves this address: a page for a browser, a sentence for others.
async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    let wants_html = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        return pages::not_found_page();
    }
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("There is no such endpoint.")
}

/// Copies the request id that `TracingLogger` assigned into an
/// `x-request-id` response header, so a client can quote it and an operator
/// can find the request's log lines.
pub async fn request_id_header(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(ToString::to_string);
    let mut response = next.call(req).await?;
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(response)
}

/// An operation as `GET /api/operations/<id>` answers, for `wharf op show`.
pub fn operation_json(operation: &crate::service::operations::Operation) -> serde_json::Value {
    serde_json::to_value(wire::operation_object(operation)).unwrap_or_default()
}
