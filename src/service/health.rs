//! Whether this process can serve: what `/health` reports.

use crate::db::Backend;

use super::Wharf;

/// The state of the process's dependencies.
#[derive(Debug, Clone, Copy)]
pub struct Health {
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    /// Whether the database answered.
    pub database_ok: bool,
}

/// Checks the database with one round trip. A failure's reason (which
/// names hosts and users) goes to the log, not to the caller.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn check(wharf: &Wharf) -> Health {
    let database = match wharf.db.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let database_ok = match wharf.db.ping().await {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(%error, "health check: the database cannot be reached");
            false
        }
    };
    Health {
        database,
        database_ok,
    }
}
