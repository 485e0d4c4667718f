//! Storing many versions in one transaction: the group commit's statements.
//!
//! The same steps as [`super::store_version`], each one multi-row statement
//! for the whole batch, so that a batch costs a handful of round trips and
//! one commit (one flush of the database's log) however many uploads it
//! carries. A conflict (`ON CONFLICT DO NOTHING`) is only that upload's.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use chrono::Utc;

use super::{BlobRef, NewVersion, StoreOutcome};
use crate::db::{Db, HeldConnection, with_connection};

/// A package's address as the unique index on packages has it: feed,
/// lower-cased group and name.
type PackageKey = (i64, String, String);

/// A package's id and address, as `RETURNING id, feed_id, group_lower,
/// name_lower` gives it.
type PackageRow = (i64, i64, String, String);

/// Package ids by address.
fn by_package_key(rows: Vec<PackageRow>) -> HashMap<PackageKey, i64> {
    rows.into_iter()
        .map(|(id, feed_id, group, name)| ((feed_id, group, name), id))
        .collect()
}

/// One version of a batch for [`store_batch`].
#[derive(Debug, Clone, Copy)]
pub struct Pending<'a> {
    /// The version.
    pub new: &'a NewVersion,
    /// Whether it may replace a version with the same precedence.
    pub replace_existing: bool,
}

impl Pending<'_> {
    /// What no two versions of one batch may share: feed, package and
    /// precedence (see [`store_batch`]).
    pub fn version_key(&self) -> (PackageKey, &[u8]) {
        (self.new.package_key(), &self.new.precedence_key)
    }
}

/// Stores `batch` in one transaction of a few multi-row statements (find
/// the versions that exist among those that may not replace one, pin every
/// other version's blob row, make sure its bytes are there unless its row
/// holds them, upsert every package, insert or replace every version),
/// whatever its size, and returns each version's outcome in order. A version
/// found to exist is refused before anything of it is written. `ensure_bytes(i)` runs with the blob row
/// of `batch[i]` pinned, as in [`store_version`]; a version whose bytes
/// cannot be ensured is left out and reported.
///
/// No two versions may share a [`Pending::version_key`] (the caller splits
/// them over batches): one statement cannot both insert and replace the
/// same row. The outer error means a statement or the commit failed, and
/// nothing of the batch is stored; the caller then stores the versions one
/// by one, so that one bad version fails alone. The transaction runs on
/// `connection`, a connection of `db`'s pool that the caller keeps from one
/// batch to the next.
#[tracing::instrument(level = "debug", skip_all, fields(versions = batch.len()))]
pub async fn store_batch<F, Fut, E>(
    db: &Db,
    connection: &mut HeldConnection,
    batch: &[Pending<'_>],
    ensure_bytes: F,
) -> Result<Vec<Result<StoreOutcome, E>>, sqlx::Error>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let now = Utc::now();
    with_connection!(connection, |connection| {
        let mut tx = sqlx::Connection::begin(&mut **connection).await?;
        let mut outcomes: Vec<Option<Result<StoreOutcome, E>>> =
            batch.iter().map(|_| None).collect();

        // Versions that exist, for uploads that may not replace them: found
        // for the whole batch at once (one statement when their packages
        // are new, two otherwise), instead of one query per upload.
        let may_not_replace: Vec<&NewVersion> = batch
            .iter()
            .filter(|p| !p.replace_existing)
            .map(|p| p.new)
            .collect();
        if !may_not_replace.is_empty() {
            let mut find = sqlx::QueryBuilder::new(
                "SELECT id, feed_id, group_lower, name_lower FROM packages WHERE ",
            );
            for (index, new) in may_not_replace.iter().enumerate() {
                let (feed_id, group_lower, name_lower) = new.package_key();
                find.push(if index == 0 {
                    "(feed_id = "
                } else {
                    " OR (feed_id = "
                })
                .push_bind(feed_id)
                .push(" AND group_lower = ")
                .push_bind(group_lower)
                .push(" AND name_lower = ")
                .push_bind(name_lower)
                .push(")");
            }
            let known = by_package_key(
                find.build_query_as::<PackageRow>()
                    .fetch_all(&mut *tx)
                    .await?,
            );
            let candidates: Vec<(i64, &[u8])> = may_not_replace
                .iter()
                .filter_map(|new| {
                    let id = known.get(&new.package_key())?;
                    Some((*id, new.precedence_key.as_slice()))
                })
                .collect();
            if !candidates.is_empty() {
                let mut find = sqlx::QueryBuilder::new(
                    "SELECT package_id, precedence_key FROM package_versions WHERE ",
                );
                for (index, (package_id, precedence_key)) in candidates.iter().enumerate() {
                    find.push(if index == 0 {
                        "(package_id = "
                    } else {
                        " OR (package_id = "
                    })
                    .push_bind(*package_id)
                    .push(" AND precedence_key = ")
                    .push_bind(*precedence_key)
                    .push(")");
                }
                let existing: HashSet<(i64, Vec<u8>)> = find
                    .build_query_as::<(i64, Vec<u8>)>()
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .collect();
                for (pending, outcome) in batch.iter().zip(&mut outcomes) {
                    let new = pending.new;
                    let exists = !pending.replace_existing
                        && known.get(&new.package_key()).is_some_and(|id| {
                            existing.contains(&(*id, new.precedence_key.clone()))
                        });
                    if exists {
                        *outcome = Some(Ok(StoreOutcome::AlreadyExists));
                    }
                }
            }
        }

        let mut blobs: Vec<&BlobRef> = Vec::new();
        let mut seen_blobs = HashSet::new();
        let mut packages: Vec<&NewVersion> = Vec::new();
        let mut seen_packages = HashSet::new();
        for (pending, _) in batch.iter().zip(&outcomes).filter(|(_, o)| o.is_none()) {
            let new = pending.new;
            if seen_blobs.insert(new.blob.sha256.as_str()) {
                blobs.push(&new.blob);
            }
            if seen_packages.insert(new.package_key()) {
                packages.push(new);
            }
        }
        if blobs.is_empty() {
            // Every version of the batch exists: nothing to write.
            tx.rollback().await?;
            return Ok(outcomes.into_iter().flatten().collect());
        }

        let mut pin = sqlx::QueryBuilder::new(
            "INSERT INTO blobs (sha256, sha1, size_bytes, created_at, used_at, content) ",
        );
        pin.push_values(&blobs, |mut row, blob| {
            row.push_bind(&blob.sha256)
                .push_bind(&blob.sha1)
                .push_bind(blob.size_bytes)
                .push_bind(now)
                .push_bind(now)
                .push_bind(blob.content.as_deref());
        });
        pin.push(crate::db::blobs::PIN_CONFLICT);
        let rows_holding_bytes: HashSet<String> = pin
            .build_query_as::<(String, bool)>()
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .filter_map(|(sha256, holds_bytes)| holds_bytes.then_some(sha256))
            .collect();

        for (index, pending) in batch.iter().enumerate() {
            if outcomes[index].is_some() || rows_holding_bytes.contains(&pending.new.blob.sha256) {
                continue;
            }
            outcomes[index] = ensure_bytes(index).await.err().map(Err);
        }

        let mut upsert = sqlx::QueryBuilder::new(
            "INSERT INTO packages (feed_id, group_name, group_lower, name, name_lower, created_at) ",
        );
        upsert.push_values(&packages, |mut row, new| {
            row.push_bind(new.feed_id)
                .push_bind(&new.group)
                .push_bind(new.group.to_ascii_lowercase())
                .push_bind(&new.name)
                .push_bind(new.name.to_ascii_lowercase())
                .push_bind(now);
        });
        upsert.push(
            " ON CONFLICT (feed_id, group_lower, name_lower) DO UPDATE SET feed_id = excluded.feed_id \
             RETURNING id, feed_id, group_lower, name_lower",
        );
        let package_ids = by_package_key(
            upsert
                .build_query_as::<PackageRow>()
                .fetch_all(&mut *tx)
                .await?,
        );

        let mut stored: HashSet<(i64, Vec<u8>)> = HashSet::new();
        for replace_existing in [false, true] {
            let versions: Vec<(i64, &NewVersion)> = batch
                .iter()
                .zip(&outcomes)
                .filter(|(p, outcome)| p.replace_existing == replace_existing && outcome.is_none())
                .map(|(p, _)| {
                    package_ids
                        .get(&p.new.package_key())
                        .map(|id| (*id, p.new))
                        .ok_or_else(|| sqlx::Error::RowNotFound)
                })
                .collect::<Result<_, _>>()?;
            if versions.is_empty() {
                continue;
            }
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO package_versions (package_id, version, precedence_key, is_stable, \
                 is_virtual, container, manifest_json, file_list_json, blob_sha256, published_at, \
                 search_text, cached_from) ",
            );
            insert.push_values(&versions, |mut row, (package_id, new)| {
                row.push_bind(*package_id)
                    .push_bind(&new.version)
                    .push_bind(&new.precedence_key)
                    .push_bind(new.is_stable)
                    .push_bind(new.is_virtual)
                    .push_bind(new.container.as_str())
                    .push_bind(&new.manifest_json)
                    .push_bind(&new.file_list_json)
                    .push_bind(&new.blob.sha256)
                    .push_bind(now)
                    .push_bind(&new.search_text)
                    .push_bind(&new.cached_from);
            });
            insert.push(if replace_existing {
                " ON CONFLICT (package_id, precedence_key) DO UPDATE SET version = excluded.version, \
                  search_text = excluded.search_text, \
                  is_virtual = excluded.is_virtual, container = excluded.container, \
                  manifest_json = excluded.manifest_json, file_list_json = excluded.file_list_json, \
                  blob_sha256 = excluded.blob_sha256, published_at = excluded.published_at, \
                  cached_from = excluded.cached_from \
                  RETURNING package_id, precedence_key"
            } else {
                " ON CONFLICT (package_id, precedence_key) DO NOTHING RETURNING package_id, precedence_key"
            });
            stored.extend(
                insert
                    .build_query_as::<(i64, Vec<u8>)>()
                    .fetch_all(&mut *tx)
                    .await?,
            );
        }
        let generation: Option<i64> = if stored.is_empty() {
            None
        } else {
            Some(
                sqlx::query_scalar(crate::db::changes::BUMP_RETURNING)
                    .fetch_one(&mut *tx)
                    .await?,
            )
        };
        tx.commit().await?;
        if let Some(generation) = generation {
            // Every feed of the batch: a superset of those written is safe.
            let feeds = batch.iter().map(|pending| pending.new.feed_id);
            db.local_writes().note_feeds(feeds, generation);
        }
        Ok(batch
            .iter()
            .zip(outcomes)
            .map(|(pending, outcome)| {
                outcome.unwrap_or_else(|| {
                    let new = pending.new;
                    let stored = package_ids
                        .get(&new.package_key())
                        .is_some_and(|id| stored.contains(&(*id, new.precedence_key.clone())));
                    Ok(if stored {
                        StoreOutcome::Stored
                    } else {
                        StoreOutcome::AlreadyExists
                    })
                })
            })
            .collect())
    })
}
