//! `GET /health`: whether this process can serve, as JSON (ProGet's field names).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::db::Backend;
use crate::service::Wharf;

pub async fn health(wharf: web::Data<Wharf>) -> HttpResponse {
    let database = match wharf.db.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    // The driver's text names hosts and users: it goes to the log, and
    // callers (anonymous ones included) get a sentence.
    let (status, details) = match wharf.db.ping().await {
        Ok(()) => ("OK", ""),
        Err(error) => {
            tracing::error!(%error, "health check: the database cannot be reached");
            (
                "Error",
                "The database cannot be reached; the server log has the reason.",
            )
        }
    };
    let body = json!({
        "applicationName": "Wharf",
        "versionNumber": env!("CARGO_PKG_VERSION"),
        "database": database,
        "databaseStatus": status,
        "databaseStatusDetails": details,
        "serviceStatus": status,
    });
    if status == "OK" {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
