//! `GET /health`: whether this process can serve, as JSON (`ProGet`'s field names).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::service::{Wharf, health};

pub async fn health(wharf: web::Data<Wharf>) -> HttpResponse {
    let health = health::check(&wharf).await;
    let (status, details) = if health.database_ok {
        ("OK", "")
    } else {
        (
            "Error",
            "The database cannot be reached; the server log has the reason.",
        )
    };
    let body = json!({
        "applicationName": "Wharf",
        "versionNumber": env!("CARGO_PKG_VERSION"),
        "database": health.database,
        "databaseStatus": status,
        "databaseStatusDetails": details,
        "serviceStatus": status,
    });
    if health.database_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
