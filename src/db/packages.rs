//! Packages, their versions, and the blob rows they point at.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::promotions::NewPromotion;
use super::{Db, TxError, with_pool};
use crate::domain::{Container, LatestRule, Manifest};

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
}

/// The columns of [`VersionRow`] and the joins that produce them.
macro_rules! select_versions {
    () => {
        "SELECT v.id, v.package_id, p.group_name, p.name, v.version, v.is_stable, v.is_virtual, \
         v.container, v.manifest_json, v.file_list_json, v.search_text, v.blob_sha256, b.sha1, b.size_bytes, \
         v.published_at, v.downloads \
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
#[tracing::instrument(skip(db, precedence_key))]
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
#[tracing::instrument(skip(db))]
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

/// The blob a new version points at.
#[derive(Debug, Clone)]
pub struct BlobRef {
    pub sha256: String,
    pub sha1: String,
    pub size_bytes: i64,
}

/// A version to store, with the blob it points at. Built only by
/// [`NewVersion::new`], so identity, precedence, stability and search text
/// always come from the manifest the same way.
#[derive(Debug, Clone)]
pub struct NewVersion {
    feed_id: i64,
    group: String,
    name: String,
    version: String,
    precedence_key: Vec<u8>,
    is_stable: bool,
    is_virtual: bool,
    container: Container,
    manifest_json: String,
    file_list_json: String,
    /// Lower-cased title and description (see `Manifest::search_text`).
    search_text: String,
    blob: BlobRef,
}

impl NewVersion {
    /// The version `manifest` describes, in feed `feed_id`, stored as
    /// `container` in `blob`, with its `package/` files listed as JSON.
    pub fn new(
        feed_id: i64,
        manifest: &Manifest,
        container: Container,
        file_list_json: String,
        blob: BlobRef,
    ) -> Self {
        Self {
            feed_id,
            group: manifest.id.group.as_str().to_owned(),
            name: manifest.id.name.as_str().to_owned(),
            version: manifest.version.to_string(),
            precedence_key: manifest.version.precedence_key(),
            is_stable: !manifest.version.is_prerelease(),
            is_virtual: manifest.is_virtual,
            container,
            manifest_json: manifest.to_json(),
            file_list_json,
            search_text: manifest.search_text(),
            blob,
        }
    }
}

/// What storing a version did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// The version is stored (new, or replacing the old one when allowed).
    Stored,
    /// The version exists and replacing it was not allowed; nothing changed.
    AlreadyExists,
}

/// Stores a version in one short transaction: blob row, package row, version
/// row. The unique index on `(package_id, precedence_key)` decides between a
/// new version and a conflict, so concurrent uploads cannot both win.
///
/// The first statement pins the blob row (see [`super::blobs`]), which also
/// makes `SQLite` take its write lock at once instead of failing a
/// read-to-write upgrade; `ensure_bytes` then runs with the row pinned and must
/// make sure the blob's bytes are in the store. With `promotion`, the promotion
/// record is written in the same transaction.
#[tracing::instrument(skip_all, fields(package.name = %new.name, version = %new.version))]
pub async fn store_version<F, Fut, E>(
    db: &Db,
    new: &NewVersion,
    replace_existing: bool,
    promotion: Option<&NewPromotion<'_>>,
    ensure_bytes: F,
) -> Result<StoreOutcome, TxError<E>>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    // The no-op update makes RETURNING yield the id of an existing package too.
    const UPSERT_PACKAGE: &str = "INSERT INTO packages \
        (feed_id, group_name, group_lower, name, name_lower, created_at) \
        VALUES ($1, $2, $3, $4, $5, $6) \
        ON CONFLICT (feed_id, group_lower, name_lower) DO UPDATE SET feed_id = excluded.feed_id \
        RETURNING id";
    const INSERT_VERSION: &str = "INSERT INTO package_versions \
        (package_id, version, precedence_key, is_stable, is_virtual, container, manifest_json, \
         file_list_json, blob_sha256, published_at, search_text) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
        ON CONFLICT (package_id, precedence_key) DO NOTHING RETURNING id";
    const REPLACE_VERSION: &str = "INSERT INTO package_versions \
        (package_id, version, precedence_key, is_stable, is_virtual, container, manifest_json, \
         file_list_json, blob_sha256, published_at, search_text) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
        ON CONFLICT (package_id, precedence_key) DO UPDATE SET version = excluded.version, \
          search_text = excluded.search_text, \
          is_virtual = excluded.is_virtual, container = excluded.container, \
          manifest_json = excluded.manifest_json, file_list_json = excluded.file_list_json, \
          blob_sha256 = excluded.blob_sha256, published_at = excluded.published_at \
        RETURNING id";
    const INSERT_PROMOTION: &str = "INSERT INTO promotions \
        (from_feed, to_feed, group_name, name, version, promoted_by, comments, promoted_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    let now = Utc::now();
    with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query(super::blobs::PIN)
            .bind(&new.blob.sha256)
            .bind(&new.blob.sha1)
            .bind(new.blob.size_bytes)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if let Err(e) = ensure_bytes().await {
            tx.rollback().await?;
            return Err(TxError::Outside(e));
        }
        let package_id: i64 = sqlx::query_scalar(UPSERT_PACKAGE)
            .bind(new.feed_id)
            .bind(&new.group)
            .bind(new.group.to_ascii_lowercase())
            .bind(&new.name)
            .bind(new.name.to_ascii_lowercase())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let stored: Option<i64> = sqlx::query_scalar(if replace_existing {
            REPLACE_VERSION
        } else {
            INSERT_VERSION
        })
        .bind(package_id)
        .bind(&new.version)
        .bind(&new.precedence_key)
        .bind(new.is_stable)
        .bind(new.is_virtual)
        .bind(new.container.as_str())
        .bind(&new.manifest_json)
        .bind(&new.file_list_json)
        .bind(&new.blob.sha256)
        .bind(now)
        .bind(&new.search_text)
        .fetch_optional(&mut *tx)
        .await?;
        if stored.is_some() {
            sqlx::query(super::changes::BUMP).execute(&mut *tx).await?;
            if let Some(promotion) = promotion {
                sqlx::query(INSERT_PROMOTION)
                    .bind(promotion.from_feed)
                    .bind(promotion.to_feed)
                    .bind(&new.group)
                    .bind(&new.name)
                    .bind(&new.version)
                    .bind(promotion.promoted_by)
                    .bind(promotion.comments)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            db.note_local_write();
            Ok(StoreOutcome::Stored)
        } else {
            tx.rollback().await?;
            Ok(StoreOutcome::AlreadyExists)
        }
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
#[tracing::instrument(skip(db))]
pub async fn delete_version(db: &Db, version_id: i64) -> Result<bool, sqlx::Error> {
    with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM package_versions WHERE id = $1")
            .bind(version_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        sqlx::query(super::changes::BUMP).execute(&mut *tx).await?;
        tx.commit().await?;
        db.note_local_write();
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
    db.note_local_write();
    Ok(())
}
