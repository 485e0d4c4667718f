//! The HTTP surface: routing, extractors and wire shapes.
//!
//! A handler extracts (caller, address, query), calls one service function
//! and maps the result; errors become responses through the table in
//! `crate::error`. No SQL and no file access here.

use actix_web::{HttpResponse, web};

pub use endpoint::{Audience, Route};
use endpoint::{Endpoint, Routes};

pub mod access_log;
mod body;
mod client_address;
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
mod watched_body;
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
        .add(Endpoint::new("/health/live").get(health::live))
        .add(Endpoint::new("/health/ready").get(health::ready))
        .add(Endpoint::new("/metrics").get(health::metrics))
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

/// An operation as `GET /api/operations/<id>` answers, for `wharf op show`.
pub fn operation_json(operation: &crate::service::operations::Operation) -> serde_json::Value {
    serde_json::to_value(wire::operation_object(operation)).unwrap_or_default()
}
