//! Storing versions: one in its own transaction, or a batch of them in one
//! transaction (group commit).
//!
//! Every stored version is the same four steps: pin the blob row (see
//! [`super::blobs`]), make sure the bytes are there (in that row itself for a
//! small upload, else in the store), upsert the package, and insert (or
//! replace) the version, where the unique index on `(package_id,
//! precedence_key)` decides races. [`store_version`] runs them in a
//! transaction of their own (a promotion adds its record to it).
//! [`store_batch`] (`batch`) runs them for many uploads in one transaction,
//! one multi-row statement per step.

use std::future::Future;

use chrono::{DateTime, Utc};

mod batch;

pub use batch::{Pending, store_batch};

use super::promotions::NewPromotion;
use super::{Db, TxError, with_pool};
use crate::domain::{Container, Manifest};
/// The blob a new version points at.
#[derive(Debug, Clone)]
pub struct BlobRef {
    pub sha256: String,
    pub sha1: String,
    pub size_bytes: i64,
    /// The bytes themselves, for a small blob kept in its row rather than in
    /// the blob store (see `service::blob_bytes`); `None` for bytes in the
    /// store.
    pub content: Option<bytes::Bytes>,
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
    /// The connector it was fetched from, when it is a cached copy.
    cached_from: Option<String>,
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
            cached_from: None,
        }
    }

    /// The same version, marked as a cached copy fetched from `connector`.
    #[must_use]
    pub fn cached_from(mut self, connector: Option<String>) -> Self {
        self.cached_from = connector;
        self
    }
}

impl NewVersion {
    /// Its package's address as the unique index on packages has it: feed,
    /// lower-cased group and name.
    fn package_key(&self) -> (i64, String, String) {
        (
            self.feed_id,
            self.group.to_ascii_lowercase(),
            self.name.to_ascii_lowercase(),
        )
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

const UPSERT_PACKAGE: &str = "INSERT INTO packages \
    (feed_id, group_name, group_lower, name, name_lower, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6) \
    ON CONFLICT (feed_id, group_lower, name_lower) DO UPDATE SET feed_id = excluded.feed_id \
    RETURNING id";
const INSERT_VERSION: &str = "INSERT INTO package_versions \
    (package_id, version, precedence_key, is_stable, is_virtual, container, manifest_json, \
     file_list_json, blob_sha256, published_at, search_text, cached_from) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
    ON CONFLICT (package_id, precedence_key) DO NOTHING RETURNING id";
const REPLACE_VERSION: &str = "INSERT INTO package_versions \
    (package_id, version, precedence_key, is_stable, is_virtual, container, manifest_json, \
     file_list_json, blob_sha256, published_at, search_text, cached_from) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
    ON CONFLICT (package_id, precedence_key) DO UPDATE SET version = excluded.version, \
      search_text = excluded.search_text, \
      is_virtual = excluded.is_virtual, container = excluded.container, \
      manifest_json = excluded.manifest_json, file_list_json = excluded.file_list_json, \
      blob_sha256 = excluded.blob_sha256, published_at = excluded.published_at, \
      cached_from = excluded.cached_from \
    RETURNING id";
const INSERT_PROMOTION: &str = "INSERT INTO promotions \
    (from_feed, to_feed, group_name, name, version, promoted_by, comments, promoted_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// The statements of one stored version on connection `$conn`, in the
/// caller's transaction or savepoint: pin the blob row, run `$ensure_bytes`
/// (with the row pinned, unless it holds the bytes), upsert the package, insert or replace the version.
/// Evaluates to `Result<StoreOutcome, TxError<E>>`; nothing is committed or
/// rolled back here. A macro, not a function, so that the same text compiles
/// against both drivers' connections (see `with_pool!`).
macro_rules! store_one {
    ($conn:expr, $new:expr, $replace_existing:expr, $now:expr, $ensure_bytes:expr) => {
        async {
            let (new, now): (&NewVersion, DateTime<Utc>) = ($new, $now);
            let row_holds_bytes: bool = sqlx::query_scalar(super::blobs::PIN)
                .bind(&new.blob.sha256)
                .bind(&new.blob.sha1)
                .bind(new.blob.size_bytes)
                .bind(now)
                .bind(new.blob.content.as_deref())
                .fetch_one(&mut *$conn)
                .await?;
            if !row_holds_bytes {
                $ensure_bytes.await.map_err(TxError::Outside)?;
            }
            let package_id: i64 = sqlx::query_scalar(UPSERT_PACKAGE)
                .bind(new.feed_id)
                .bind(&new.group)
                .bind(new.group.to_ascii_lowercase())
                .bind(&new.name)
                .bind(new.name.to_ascii_lowercase())
                .bind(now)
                .fetch_one(&mut *$conn)
                .await?;
            let stored: Option<i64> = sqlx::query_scalar(if $replace_existing {
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
            .bind(&new.cached_from)
            .fetch_optional(&mut *$conn)
            .await?;
            Ok(if stored.is_some() {
                StoreOutcome::Stored
            } else {
                StoreOutcome::AlreadyExists
            })
        }
    };
}

/// Stores a version in one short transaction: blob row, package row, version
/// row. The unique index on `(package_id, precedence_key)` decides between a
/// new version and a conflict, so concurrent uploads cannot both win.
///
/// The first statement pins the blob row (see [`super::blobs`]), which also
/// makes `SQLite` take its write lock at once instead of failing a
/// read-to-write upgrade; `ensure_bytes` then runs with the row pinned and must
/// make sure the blob's bytes are in the store (it is not called when the row
/// holds them, as a small upload's does: `BlobRef::content`). With `promotion`, the promotion
/// record is written in the same transaction.
#[tracing::instrument(level = "debug", skip_all, fields(package.name = %new.name, version = %new.version))]
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
    let now = Utc::now();
    with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        let outcome = store_one!(tx, new, replace_existing, now, ensure_bytes()).await;
        if outcome.as_ref().is_ok_and(|o| *o == StoreOutcome::Stored) {
            let generation: i64 = sqlx::query_scalar(super::changes::BUMP_RETURNING)
                .fetch_one(&mut *tx)
                .await?;
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
            db.local_writes().note_feeds([new.feed_id], generation);
        } else {
            tx.rollback().await?;
        }
        outcome
    })
}
