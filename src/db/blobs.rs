//! Blob rows: the liveness record that writers and `wharf gc` agree on.
//!
//! The bytes live in the blob store, which has no transactions and (on object
//! storage) no way to refresh a file's time, so the database decides whether
//! bytes may be deleted. (A small blob's bytes may live in its row instead,
//! its `content`: they come and go with the row, and a writer that finds its
//! pinned row holding them has nothing to check.) The protocol, for every
//! backend:
//!
//! - **A writer** that stores a reference to a blob (a version, an assembly)
//!   first *pins* the blob's row, in the same transaction: an upsert that
//!   creates it or sets `used_at`, which also locks the row until commit. With
//!   the row pinned it makes sure the bytes are in the store (writing them again
//!   from its own copy if they are not), then inserts the reference and commits.
//! - **gc** deletes a blob in one transaction per blob: it locks the row (a
//!   placeholder row is inserted first for bytes that have none, so there is
//!   always a row to lock), deletes it by a conditional statement (no version,
//!   no assembly refers to it, not used since the cutoff), deletes the bytes,
//!   and only then commits.
//!
//! A writer that pins while gc holds the row waits for gc to commit, finds the
//! row gone, creates it, and then finds the bytes gone and writes them again.
//! gc that locks while a writer holds the row waits for the writer to commit,
//! and its conditional delete then sees the reference and deletes nothing. A
//! gc that dies between deleting the bytes and committing leaves a row without
//! bytes, which is why a writer checks the bytes on every pin, not only when
//! it created the row. On `SQLite` the transactions take the database's write
//! lock with their first statement, which serialises the same steps.

use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::future::Future;

use super::{Db, TxError, with_pool};

/// What pinning does to a row that exists: refresh `used_at`, and give it
/// the bytes to hold if it holds none (one text for [`PIN`] and
/// [`PIN_CONFLICT`]).
macro_rules! pin_on_conflict {
    () => {
        "ON CONFLICT (sha256) DO UPDATE SET used_at = excluded.used_at, \
         content = COALESCE(blobs.content, excluded.content)"
    };
}

/// Pins the row of blob `sha256` inside a writer's transaction (see the module
/// docs), giving it the bytes `$5` to hold when it holds none and `$5` is not
/// NULL, and answers whether the row holds its bytes (then the writer need
/// not look for them in the store). The first statement of every writing
/// transaction, so that `SQLite` takes its write lock at once.
pub(crate) const PIN: &str = concat!(
    "INSERT INTO blobs (sha256, sha1, size_bytes, created_at, used_at, content) \
     VALUES ($1, $2, $3, $4, $4, $5) ",
    pin_on_conflict!(),
    " RETURNING content IS NOT NULL"
);

/// The `ON CONFLICT` clause of [`PIN`] and what it returns, for the many-row
/// form of it.
pub(crate) const PIN_CONFLICT: &str = concat!(
    " ",
    pin_on_conflict!(),
    " RETURNING sha256, content IS NOT NULL"
);

/// The bytes blob `sha256` holds in its row, if it holds them there (small
/// uploads; see `service::blob_bytes`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn content(db: &Db, sha256: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query_scalar::<_, Option<Vec<u8>>>("SELECT content FROM blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(pool)
            .await
            .map(Option::flatten)
    })
}

/// The SHA-256 of every blob whose row holds its bytes.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn rows_with_content(db: &Db) -> Result<HashSet<String>, sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query_scalar::<_, String>("SELECT sha256 FROM blobs WHERE content IS NOT NULL")
            .fetch_all(pool)
            .await
            .map(|hashes| hashes.into_iter().collect())
    })
}

/// Rows of blobs that nothing refers to and that were last used before `cutoff`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn unreferenced_before(
    db: &Db,
    cutoff: DateTime<Utc>,
) -> Result<Vec<String>, sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query_scalar::<_, String>(
            "SELECT sha256 FROM blobs b WHERE b.used_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM package_versions v WHERE v.blob_sha256 = b.sha256) \
             AND NOT EXISTS (SELECT 1 FROM assemblies a WHERE a.blob_sha256 = b.sha256)",
        )
        .bind(cutoff)
        .fetch_all(pool)
        .await
    })
}

/// How many rows are unreferenced but used since `cutoff` (kept by the grace period).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn count_unreferenced_since(db: &Db, cutoff: DateTime<Utc>) -> Result<i64, sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM blobs b WHERE b.used_at >= $1 \
             AND NOT EXISTS (SELECT 1 FROM package_versions v WHERE v.blob_sha256 = b.sha256) \
             AND NOT EXISTS (SELECT 1 FROM assemblies a WHERE a.blob_sha256 = b.sha256)",
        )
        .bind(cutoff)
        .fetch_one(pool)
        .await
    })
}

/// The SHA-256 of every blob that has a row.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn all_rows(db: &Db) -> Result<HashSet<String>, sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query_scalar::<_, String>("SELECT sha256 FROM blobs")
            .fetch_all(pool)
            .await
            .map(|hashes| hashes.into_iter().collect())
    })
}

/// Deletes blob `sha256` if nothing refers to it and it was not used since
/// `cutoff`: locks its row, deletes it by a conditional statement, runs
/// `delete_bytes` and commits only if that succeeded (see the module docs).
/// Returns whether the blob was deleted.
#[tracing::instrument(skip(db, delete_bytes))]
pub async fn delete_if_unreferenced<F, Fut, E>(
    db: &Db,
    sha256: &str,
    cutoff: DateTime<Utc>,
    delete_bytes: F,
) -> Result<bool, TxError<E>>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    // Bytes without a row (a crash between the blob write and the commit)
    // get a placeholder, so that there is a row for writers to wait on. It is
    // deleted again in this transaction; nobody else ever sees it.
    const PLACEHOLDER: &str = "INSERT INTO blobs (sha256, sha1, size_bytes, created_at, used_at) \
        VALUES ($1, '', 0, $2, $2) ON CONFLICT (sha256) DO NOTHING";
    // Locks the row, waiting for a writer that has pinned it to commit.
    const LOCK: &str = "UPDATE blobs SET used_at = used_at WHERE sha256 = $1 AND used_at < $2";
    // Decides on what is committed once the lock is held.
    const DELETE: &str = "DELETE FROM blobs WHERE sha256 = $1 AND used_at < $2 \
        AND NOT EXISTS (SELECT 1 FROM package_versions WHERE blob_sha256 = $1) \
        AND NOT EXISTS (SELECT 1 FROM assemblies WHERE blob_sha256 = $1)";
    let long_ago = DateTime::<Utc>::UNIX_EPOCH;
    with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query(PLACEHOLDER)
            .bind(sha256)
            .bind(long_ago)
            .execute(&mut *tx)
            .await?;
        let locked = sqlx::query(LOCK)
            .bind(sha256)
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if locked == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let deleted = sqlx::query(DELETE)
            .bind(sha256)
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        match delete_bytes().await {
            Ok(()) => {
                tx.commit().await?;
                Ok(true)
            }
            Err(e) => {
                tx.rollback().await?;
                Err(TxError::Outside(e))
            }
        }
    })
}
