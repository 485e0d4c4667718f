//! The cache of assembled virtual packages.
//!
//! Each assembly belongs to the virtual package version it was built for and
//! goes with it (`ON DELETE CASCADE`); a version keeps only its newest
//! assembly, so superseded ones (a reference was replaced) leave their blob to
//! `wharf gc` instead of accumulating.

use std::future::Future;

use chrono::Utc;

use super::{Db, TxError, with_pool};

/// A cached assembly: the blob holding the assembled `.upack`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssemblyRow {
    pub cache_key: String,
    pub blob_sha256: String,
    pub sha1: String,
    pub size_bytes: i64,
}

/// Finds a cached assembly.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn find(db: &Db, cache_key: &str) -> Result<Option<AssemblyRow>, sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query_as::<_, AssemblyRow>(
            "SELECT cache_key, blob_sha256, sha1, size_bytes FROM assemblies WHERE cache_key = $1",
        )
        .bind(cache_key)
        .fetch_optional(pool)
        .await
    })
}

/// Records the assembly of version `version_id`, replacing any older one of
/// that version. Pins the blob row first and runs `ensure_bytes` with it pinned
/// unless the row holds the bytes (see [`super::blobs`]). A concurrent identical assembly may have won, which
/// is fine.
#[tracing::instrument(skip(db, row, ensure_bytes), fields(cache_key = %row.cache_key))]
pub async fn store<F, Fut, E>(
    db: &Db,
    row: &AssemblyRow,
    version_id: i64,
    ensure_bytes: F,
) -> Result<(), TxError<E>>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let now = Utc::now();
    with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        let row_holds_bytes: bool = sqlx::query_scalar(super::blobs::PIN)
            .bind(&row.blob_sha256)
            .bind(&row.sha1)
            .bind(row.size_bytes)
            .bind(now)
            .bind(None::<&[u8]>)
            .fetch_one(&mut *tx)
            .await?;
        if !row_holds_bytes && let Err(e) = ensure_bytes().await {
            tx.rollback().await?;
            return Err(TxError::Outside(e));
        }
        sqlx::query(
            "INSERT INTO assemblies (cache_key, version_id, blob_sha256, sha1, size_bytes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (cache_key) DO NOTHING",
        )
        .bind(&row.cache_key)
        .bind(version_id)
        .bind(&row.blob_sha256)
        .bind(&row.sha1)
        .bind(row.size_bytes)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM assemblies WHERE version_id = $1 AND cache_key <> $2")
            .bind(version_id)
            .bind(&row.cache_key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    })
}

/// How many assemblies are cached (for tests and reports).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM assemblies")
            .fetch_one(pool)
            .await
    })
}
