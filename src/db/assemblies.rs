//! The cache of assembled virtual packages.

use chrono::Utc;

use super::{Db, with_pool};

/// A cached assembly: the blob holding the assembled `.upack`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssemblyRow {
    pub cache_key: String,
    pub blob_sha256: String,
    pub sha1: String,
    pub size_bytes: i64,
}

/// Finds a cached assembly.
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

/// Records an assembly; a concurrent identical one may have won, which is fine.
pub async fn insert(db: &Db, row: &AssemblyRow, vpack_sha256: &str) -> Result<(), sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query(
            "INSERT INTO assemblies (cache_key, vpack_sha256, blob_sha256, sha1, size_bytes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (cache_key) DO NOTHING",
        )
        .bind(&row.cache_key)
        .bind(vpack_sha256)
        .bind(&row.blob_sha256)
        .bind(&row.sha1)
        .bind(row.size_bytes)
        .bind(Utc::now())
        .execute(pool)
        .await
        .map(|_| ())
    })
}

/// Forgets assemblies of virtual packages no version holds any more; returns
/// how many were forgotten (their blobs then become garbage).
pub async fn delete_orphaned(db: &Db) -> Result<u64, sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query(
            "DELETE FROM assemblies WHERE NOT EXISTS \
             (SELECT 1 FROM package_versions WHERE blob_sha256 = assemblies.vpack_sha256)",
        )
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })
}
