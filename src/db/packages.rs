//! Packages, their versions, and the blob rows they point at.

use chrono::{DateTime, Utc};

use super::{Db, with_pool};
use crate::domain::{Container, LatestRule};

pub use super::store::{BlobRef, NewVersion, Pending, StoreOutcome, store_batch, store_version};

/// One version of a package, joined with its package and blob.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    pub id: i64,
    pub package_id: i64,
    pub group_name: String,
    pub name: String,
    pub version: String,
    pub is_stable: bool,
    pub is_virtual: bool,
    /// `zip` or `json`: how the stored bytes are framed.
    #[sqlx(try_from = "String")]
    pub container: Container,
    pub manifest_json: String,
    pub file_list_json: String,
    pub search_text: String,
    pub blob_sha256: String,
    pub sha1: String,
    pub size_bytes: i64,
    pub published_at: DateTime<Utc>,
    pub downloads: i64,
    /// The connector this version was fetched from on demand, when it is a
    /// cached copy; `None` for a version published here.
    pub cached_from: Option<String>,
}

/// The columns of [`VersionRow`] and the joins that produce them.
macro_rules! select_versions {
    () => {
        "SELECT v.id, v.package_id, p.group_name, p.name, v.version, v.is_stable, v.is_virtual, \
         v.container, v.manifest_json, v.file_list_json, v.search_text, v.blob_sha256, b.sha1, b.size_bytes, \
         v.published_at, v.downloads, v.cached_from \
         FROM package_versions v \
         JOIN packages p ON p.id = v.package_id \
         JOIN blobs b ON b.sha256 = v.blob_sha256 "
    };
}

pub(super) use select_versions;

/// Where clause selecting the one package `(feed_id, group_lower, name_lower)`.
macro_rules! of_package {
    () => {
        "WHERE v.package_id = (SELECT id FROM packages \
         WHERE feed_id = $1 AND group_lower = $2 AND name_lower = $3) "
    };
}

/// A package's address: feed, lower-cased group and name.
#[derive(Debug, Clone, Copy)]
pub struct PackageKey<'a> {
    pub feed_id: i64,
    pub group_lower: &'a str,
    pub name_lower: &'a str,
}

/// Finds the version whose precedence key is `precedence_key`.
#[tracing::instrument(level = "debug", skip(db, precedence_key))]
pub async fn find_version(
    db: &Db,
    package: PackageKey<'_>,
    precedence_key: &[u8],
) -> Result<Option<VersionRow>, sqlx::Error> {
    const SQL: &str = concat!(
        select_versions!(),
        of_package!(),
        "AND v.precedence_key = $4"
    );
    with_pool!(db, |pool| {
        sqlx::query_as::<_, VersionRow>(SQL)
            .bind(package.feed_id)
            .bind(package.group_lower)
            .bind(package.name_lower)
            .bind(precedence_key)
            .fetch_optional(pool)
            .await
    })
}

/// Finds the latest version by `rule`: one backward scan of the
/// `(package_id, is_stable, precedence_key)` index, whatever the version count.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn find_latest(
    db: &Db,
    package: PackageKey<'_>,
    rule: LatestRule,
) -> Result<Option<VersionRow>, sqlx::Error> {
    const STABLE_ELSE_PRERELEASE: &str = concat!(
        select_versions!(),
        of_package!(),
        "ORDER BY v.is_stable DESC, v.precedence_key DESC LIMIT 1"
    );
    const STABLE_ONLY: &str = concat!(
        select_versions!(),
        of_package!(),
        "AND v.is_stable = TRUE ORDER BY v.precedence_key DESC LIMIT 1"
    );
    const ANY: &str = concat!(
        select_versions!(),
        of_package!(),
        "ORDER BY v.precedence_key DESC LIMIT 1"
    );
    let sql = match rule {
        LatestRule::StableElsePrerelease => STABLE_ELSE_PRERELEASE,
        LatestRule::StableOnly => STABLE_ONLY,
        LatestRule::Any => ANY,
    };
    with_pool!(db, |pool| {
        sqlx::query_as::<_, VersionRow>(sql)
            .bind(package.feed_id)
            .bind(package.group_lower)
            .bind(package.name_lower)
            .fetch_optional(pool)
            .await
    })
}

/// Deletes one version. Returns `false` if it was already gone.
///
/// The package row stays even when this was its last version: every listing
/// goes through versions, so an empty package is invisible, and deleting the
/// row would race a concurrent upload of the same package (on `PostgreSQL` the
/// two transactions would lock the package and version rows in opposite
/// orders, and a stale `NOT EXISTS` could cascade away a version that had just
/// been committed).
#[tracing::instrument(level = "debug", skip(db))]
pub async fn delete_version(db: &Db, feed_id: i64, version_id: i64) -> Result<bool, sqlx::Error> {
    with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM package_versions WHERE id = $1")
            .bind(version_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        let generation: i64 = sqlx::query_scalar(super::changes::BUMP_RETURNING)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        db.local_writes().note_feeds([feed_id], generation);
        Ok(deleted)
    })
}

/// Adds download counts, `(version id, count)`, in one transaction.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn add_downloads(db: &Db, counts: &[(i64, i64)]) -> Result<(), sqlx::Error> {
    with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        for (id, count) in counts {
            sqlx::query("UPDATE package_versions SET downloads = downloads + $1 WHERE id = $2")
                .bind(count)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    })?;
    // Counts are not shared through the generation (that would clear every
    // cache on every flush); this process sees its own counts at once.
    db.local_writes().note_all_feeds();
    Ok(())
}
