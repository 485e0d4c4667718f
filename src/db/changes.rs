//! The change counter that keeps in-process caches honest across processes.
//!
//! Every write that could change a cached read runs [`BUMP`] in its own
//! transaction, so the change and the counter move together, and then tells
//! its `Db` (`Db::local_writes`), so this process's caches see it at once.
//! Other processes hear of it: on `PostgreSQL` the counter's change is
//! announced on a channel (migration 0010) that each process [`listen`]s to;
//! on `SQLite`, and while a listening connection is being re-established,
//! they poll [`generation`].

use super::{Db, Pool, with_pool};

/// The channel `PostgreSQL` announces changes on (migration 0010).
const CHANNEL: &str = "wharf_changes";

/// A connection that hears announced changes, and whose writes are this
/// process's.
#[derive(Debug)]
pub struct ChangeListener(sqlx::postgres::PgListener, Db);

/// What a [`ChangeListener`] heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// The change log reached this generation, by another process's write.
    Generation(i64),
    /// The change log reached this generation by this process's write.
    OwnGeneration(i64),
    /// Announcements may have been missed (the connection was lost, or an
    /// announcement did not say its generation): read the generation.
    MaybeMissed,
}

/// Starts listening for announced changes; `None` on `SQLite`, which has no
/// channel (its processes poll).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn listen(db: &Db) -> Result<Option<ChangeListener>, sqlx::Error> {
    match db.pool() {
        Pool::Sqlite(_) => Ok(None),
        Pool::Postgres(pool) => {
            let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
            listener.listen(CHANNEL).await?;
            Ok(Some(ChangeListener(listener, db.clone())))
        }
    }
}

impl ChangeListener {
    /// Waits for the next announcement: the generation, then the writer's
    /// `application_name` (migration 0012).
    pub async fn next(&mut self) -> Result<Heard, sqlx::Error> {
        let Some(announced) = self.0.try_recv().await? else {
            return Ok(Heard::MaybeMissed);
        };
        let (generation, writer) = announced
            .payload()
            .split_once(' ')
            .unwrap_or((announced.payload(), ""));
        Ok(match generation.parse() {
            Ok(generation) if self.1.local_writes().is_own_writer(writer) => {
                Heard::OwnGeneration(generation)
            }
            Ok(generation) => Heard::Generation(generation),
            Err(_) => Heard::MaybeMissed,
        })
    }
}

/// The statement every cache-affecting write runs in its transaction.
pub(crate) const BUMP: &str = "UPDATE change_log SET generation = generation + 1 WHERE id = 1";

/// [`BUMP`], answering the generation it made (package writes record it,
/// see [`super::local_writes`]).
pub(crate) const BUMP_RETURNING: &str =
    "UPDATE change_log SET generation = generation + 1 WHERE id = 1 RETURNING generation";

/// The current generation.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn generation(db: &Db) -> Result<i64, sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query_scalar::<_, i64>("SELECT generation FROM change_log WHERE id = 1")
            .fetch_one(pool)
            .await
    })
}

/// Runs `delete` (one statement with one text parameter, `key`) and, when it
/// deleted something, bumps the generation in the same transaction; tells `db`
/// of the write. Returns whether anything was deleted.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn delete_and_bump(db: &Db, delete: &str, key: &str) -> Result<bool, sqlx::Error> {
    let deleted = with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        let deleted = sqlx::query(delete)
            .bind(key)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if deleted {
            sqlx::query(BUMP).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(deleted)
    })?;
    if deleted {
        db.local_writes().note_settings();
    }
    Ok(deleted)
}
