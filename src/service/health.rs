//! Whether this process can serve: what `/health`, `/health/live` and
//! `/health/ready` report.
//!
//! Liveness and readiness are different questions for an orchestrator:
//! live means "do not restart me" (the process answers at all); ready means
//! "send me traffic" (the database and the blob store answer). A process
//! whose bucket is unreachable is alive but not ready: restarting it would
//! not bring the bucket back.

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

/// What `/health/ready` reports.
#[derive(Debug, Clone, Copy)]
pub struct Readiness {
    /// Whether the database answered.
    pub database_ok: bool,
    /// Whether the blob store answered.
    pub storage_ok: bool,
}

impl Readiness {
    /// Whether this process should be sent traffic.
    pub fn ready(&self) -> bool {
        self.database_ok && self.storage_ok
    }
}

/// Longest a readiness check waits for either dependency.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Checks the database and the blob store at once, each within
/// [`READY_TIMEOUT`]. The reasons of failures go to the log.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn ready(wharf: &Wharf) -> Readiness {
    let (database, storage) = tokio::join!(
        tokio::time::timeout(READY_TIMEOUT, wharf.db.ping()),
        tokio::time::timeout(READY_TIMEOUT, wharf.blobs.probe()),
    );
    let database_ok = match database {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            tracing::error!(%error, "readiness check: the database cannot be reached");
            false
        }
        Err(_) => {
            tracing::error!("readiness check: the database did not answer within 5 s");
            false
        }
    };
    let storage_ok = match storage {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            tracing::error!(
                error = format!("{error:#}"),
                location = wharf.blobs.location(),
                "readiness check: the blob store cannot be reached"
            );
            false
        }
        Err(_) => {
            tracing::error!(
                location = wharf.blobs.location(),
                "readiness check: the blob store did not answer within 5 s"
            );
            false
        }
    };
    Readiness {
        database_ok,
        storage_ok,
    }
}
