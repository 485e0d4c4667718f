//! What a monitor asks this process: `GET /health`, whether it can serve,
//! as JSON (`ProGet`'s field names); `GET /health/live` and
//! `GET /health/ready`, an orchestrator's two questions; `GET /metrics`, its
//! figures for Prometheus.

use actix_web::{HttpResponse, web};

use super::wire;
use crate::error::ServiceError;
use crate::service::{Wharf, health, metrics};

#[utoipa::path(
    method(get, head), path = "/health", tag = "server",
    responses(
        (status = 200, description = "The database answers.", body = wire::Health),
        (status = 503, description = "The database does not answer.", body = wire::Health),
    )
)]
pub async fn health(wharf: web::Data<Wharf>) -> HttpResponse {
    let health = health::check(&wharf).await;
    let body = wire::health(health.database, health.database_ok);
    if health.database_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

#[utoipa::path(
    method(get, head), path = "/health/live", tag = "server",
    responses((status = 200, description = "The process answers (it needs no restart).", content_type = "text/plain")),
)]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("OK")
}

#[utoipa::path(
    method(get, head), path = "/health/ready", tag = "server",
    responses(
        (status = 200, description = "The database and the blob store answer: send traffic.", body = wire::Readiness),
        (status = 503, description = "The database or the blob store does not answer (the log says why).", body = wire::Readiness),
    )
)]
pub async fn ready(wharf: web::Data<Wharf>) -> HttpResponse {
    let readiness = health::ready(&wharf).await;
    let body = wire::readiness(readiness.database_ok, readiness.storage_ok);
    if readiness.ready() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// The process's figures for a Prometheus scraper (no secrets, no names of
/// feeds or packages, so no credentials asked).
#[utoipa::path(
    method(get, head), path = "/metrics", tag = "server",
    responses((status = 200, description = "Figures in the OpenMetrics text format.", content_type = "application/openmetrics-text")),
)]
pub async fn metrics(wharf: web::Data<Wharf>) -> Result<HttpResponse, ServiceError> {
    let text = metrics::render(&wharf).await?;
    Ok(HttpResponse::Ok()
        .content_type(metrics::CONTENT_TYPE)
        .body(text))
}
