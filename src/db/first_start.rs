//! One process at a time prepares a new database.
//!
//! Several replicas started together on an empty `PostgreSQL` database would
//! each find no feed and each create the feed `default` and a first key: all
//! but one would fail on the unique name. The first-start check and the
//! creation run under a session advisory lock instead; the others wait,
//! then find the database prepared. (Migrations have their own lock, taken
//! by sqlx.) The lock lives on a connection of its own, outside the pool, so
//! that a process dying while holding it releases it with its session.
//! `SQLite` is one machine's file and needs none.

use sqlx::Connection;

use super::{Db, Pool};

/// The advisory lock's key: `hashtext('wharf: first start')`, computed by
/// the server so that the text is the documentation.
const LOCK: &str = "SELECT pg_advisory_lock(hashtext('wharf: first start'))";
const UNLOCK: &str = "SELECT pg_advisory_unlock(hashtext('wharf: first start'))";

/// Held while this process prepares a new database; [`FirstStartLock::release`]
/// lets the next one in (dropping it does too, by closing its connection).
#[derive(Debug)]
pub struct FirstStartLock(Option<sqlx::PgConnection>);

/// Waits until no other process is preparing the database.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn lock(db: &Db) -> Result<FirstStartLock, sqlx::Error> {
    match db.pool() {
        Pool::Sqlite(_) => Ok(FirstStartLock(None)),
        Pool::Postgres(pool) => {
            let mut connection = pool.acquire().await?.detach();
            sqlx::query(LOCK).execute(&mut connection).await?;
            Ok(FirstStartLock(Some(connection)))
        }
    }
}

impl FirstStartLock {
    /// Lets the next process in.
    pub async fn release(self) -> Result<(), sqlx::Error> {
        if let Some(mut connection) = self.0 {
            sqlx::query(UNLOCK).execute(&mut connection).await?;
            connection.close().await?;
        }
        Ok(())
    }
}
