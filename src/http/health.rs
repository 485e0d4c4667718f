//! `GET /health`: whether this process can serve, as JSON (`ProGet`'s field names).

use actix_web::{HttpResponse, web};

use super::wire;
use crate::service::{Wharf, health};

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
