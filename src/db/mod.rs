//! The only place with SQL.
//!
//! [`Db`] is either a `SQLite` pool (the zero-setup default) or a `PostgreSQL` pool
//! (production), chosen from the database URL. Each query is written once, in the
//! portable subset both accept (`$1` placeholders, `RETURNING`, `ON CONFLICT`,
//! lower-cased match columns, byte-comparable sort keys), and [`with_pool!`]
//! compiles the same block once per backend so every query is type-checked
//! against both drivers. Queries are checked at run time, not by `query!`
//! macros, so building needs no database; the test suite runs every storage
//! behaviour on both backends instead.
//!
//! Modules are small and shaped after what they store (`feeds`, `packages`,
//! `api_keys`, `users`), not one trait with every method.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub mod api_keys;
pub mod assemblies;
pub mod blobs;
pub mod changes;
pub mod connectors;
pub mod feeds;
pub mod first_start;
pub mod listings;
pub mod local_writes;
pub mod operations;
pub mod packages;
pub mod promotions;
pub mod sessions;
pub mod store;
pub mod users;

/// Runs `$body` with `$pool` bound to the concrete pool of either backend.
///
/// The block is expanded twice, once per match arm, so the same SQL and bind
/// chain is compiled for `SqlitePool` and for `PgPool`. It may `.await` and may
/// hold a whole transaction (`let mut tx = $pool.begin().await?; ...`).
macro_rules! with_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db.pool() {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Runs `$body` with `$conn` bound to the driver's connection inside a
/// [`HeldConnection`], as [`with_pool!`] does for the pool.
macro_rules! with_connection {
    ($held:expr, |$conn:ident| $body:expr) => {
        match $held {
            $crate::db::HeldConnection::Sqlite($conn) => $body,
            $crate::db::HeldConnection::Postgres($conn) => $body,
        }
    };
}
pub(crate) use with_connection;

/// A connection taken from the pool and kept, for a writer that runs many
/// transactions in a row (the group committer): taking one from the pool
/// tests it first, a round trip to the database per transaction otherwise.
#[derive(Debug)]
pub enum HeldConnection {
    /// A `SQLite` connection.
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    /// A `PostgreSQL` connection.
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

/// A connection pool on one of the two supported databases.
#[derive(Clone, Debug)]
pub enum Pool {
    /// The embedded default.
    Sqlite(SqlitePool),
    /// The production database.
    Postgres(PgPool),
}

/// The database: a pool, and the counts of cache-affecting writes this
/// process has made through it (see [`local_writes`] and [`changes`]).
#[derive(Clone, Debug)]
pub struct Db {
    pool: Pool,
    local_writes: std::sync::Arc<local_writes::LocalWrites>,
}

/// Which backend a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `SQLite`.
    Sqlite,
    /// `PostgreSQL`.
    Postgres,
}

/// One sentence for a failed connection: the server, the database and user,
/// and the cause in words (the driver's text once, not its whole chain).
fn postgres_unreachable(options: &PgConnectOptions, error: &sqlx::Error) -> anyhow::Error {
    let cause = match error {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "the connection was refused (is PostgreSQL running and listening there?)".to_owned()
        }
        sqlx::Error::Io(io) if io.to_string().contains("lookup address") => {
            "the host name is unknown".to_owned()
        }
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::Tls(tls) => format!("TLS failed: {tls}"),
        other => other.to_string(),
    };
    anyhow::anyhow!(
        "cannot connect to PostgreSQL at {}:{} (database '{}', user '{}'): {cause}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("(default)"),
        options.get_username(),
    )
}

impl Db {
    /// Connects to `url` (`sqlite://...` or `postgres://...`), creating a `SQLite`
    /// file if needed, with at most `max_connections` in its pool (16 on
    /// `PostgreSQL`, 8 on `SQLite` by default). Does not run migrations.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn connect(url: &str, max_connections: Option<u32>) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| anyhow::anyhow!("the PostgreSQL URL cannot be read: {e}"))?;
            // The process's tag first: PostgreSQL cuts names at 63 bytes.
            let writer = local_writes::new_writer_tag();
            let application_name = match options.get_application_name() {
                Some(theirs) => format!("{writer} {theirs}"),
                None => writer.clone(),
            };
            let options = options.application_name(&application_name);
            // One connection first, so that a failure names the server and
            // its cause (the pool would only report a timeout).
            sqlx::Connection::close(
                <sqlx::PgConnection as sqlx::Connection>::connect_with(&options)
                    .await
                    .map_err(|e| postgres_unreachable(&options, &e))?,
            )
            .await
            .ok();
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.unwrap_or(16))
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await?;
            Ok(Self::new(Pool::Postgres(pool), writer))
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| anyhow::anyhow!("the SQLite URL cannot be read: {e}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a committed upload survives power loss, not just a crash.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(15));
            let file = options.get_filename().display().to_string();
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections.unwrap_or(8))
                .acquire_timeout(Duration::from_secs(15))
                .connect_with(options)
                .await
                .map_err(|e| anyhow::anyhow!("cannot open the SQLite database {file}: {e}"))?;
            Ok(Self::new(
                Pool::Sqlite(pool),
                local_writes::new_writer_tag(),
            ))
        } else {
            anyhow::bail!(
                "database URL must start with sqlite:// or postgres://, not '{}'",
                url.split(':').next().unwrap_or_default()
            )
        }
    }

    fn new(pool: Pool, writer: String) -> Self {
        Self {
            pool,
            local_writes: std::sync::Arc::new(local_writes::LocalWrites::new(writer)),
        }
    }

    /// A connection out of the pool, kept until dropped (see [`HeldConnection`]).
    pub async fn hold_connection(&self) -> Result<HeldConnection, sqlx::Error> {
        match &self.pool {
            Pool::Sqlite(pool) => pool.acquire().await.map(HeldConnection::Sqlite),
            Pool::Postgres(pool) => pool.acquire().await.map(HeldConnection::Postgres),
        }
    }

    /// The pool, for the queries of this module (and tests that inspect tables).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Connections open in the pool, and how many of them are idle.
    pub fn connections(&self) -> (u32, usize) {
        match &self.pool {
            Pool::Sqlite(pool) => (pool.size(), pool.num_idle()),
            Pool::Postgres(pool) => (pool.size(), pool.num_idle()),
        }
    }

    /// The backend behind this pool.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the embedded migrations of this backend.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            Pool::Postgres(pool) => {
                sqlx::migrate!("migrations/postgres").run(pool).await?;
                listings::prepare_trigram_indexes(pool).await?;
            }
        }
        Ok(())
    }

    /// The cache-affecting writes this process has made; its caches compare
    /// them on every access, so a process reads its own writes at once
    /// (other processes learn of them through the change log).
    pub fn local_writes(&self) -> &local_writes::LocalWrites {
        &self.local_writes
    }

    /// A trivial round trip, for `/health`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        with_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))
    }

    /// Closes every connection.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await);
    }
}

/// The error of a transaction that also does work outside the database (the
/// blob store) before it commits: the database's, or that work's own.
#[derive(Debug, thiserror::Error)]
pub enum TxError<E> {
    /// A statement failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// The work outside the database failed; the transaction was rolled back.
    #[error("{0}")]
    Outside(E),
}

/// Whether an error is a unique-constraint violation.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// Whether an error means the database could not be reached (as opposed to a
/// query that failed), so the caller can answer 503 rather than 500.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_backends_have_the_same_migration_versions() {
        let names = |dir: &str| {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let sqlite = names("migrations/sqlite");
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, names("migrations/postgres"));
    }
}
