//! Garbage collection of blobs that nothing references.
//!
//! Unreferenced blobs appear when a version or feed is deleted, when a
//! version is overwritten, when an assembly is superseded, when an upload's
//! transaction loses a race, or when the process dies between the blob write
//! and the commit. Deciding and deleting follow the protocol in `db::blobs`:
//! each blob is deleted in its own transaction that holds the blob's row,
//! so a writer that starts relying on the same bytes either waits for the
//! delete and stores them again, or makes gc keep them. Nothing here trusts a
//! file's modification time to mean "in use".
//!
//! The grace period is an operator's safety margin, not part of the protocol:
//! rows used since the cutoff, and stored bytes without a row that are younger
//! than it, are kept.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::blob::BlobKey;
use crate::db::{self, TxError};
use crate::error::{OrInternal, ServiceError};

use super::Wharf;

/// What a collection did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs found: files in the store, and rows holding their bytes.
    pub examined: usize,
    /// Blobs deleted.
    pub deleted: usize,
    /// Unreferenced blobs kept because they are younger than the grace period.
    pub kept_young: usize,
    /// Spool files left by uploads that never finished (a killed process).
    pub spool_files_deleted: usize,
}

/// The points at which a test can pause a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcStep {
    /// gc has decided, from its listing, that the blob is garbage, and has
    /// not yet touched its row.
    Decided,
    /// gc holds the blob's row and has deleted it (uncommitted), and is about
    /// to delete the bytes.
    RowDeleted,
}

/// A test-only hook: called with each step and the blob's SHA-256; gc waits
/// for the returned future.
pub type GcHook =
    Arc<dyn Fn(GcStep, String) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Deletes blobs that nothing references and that are older than `grace`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn collect(wharf: &Wharf, grace: Duration) -> Result<GcReport, ServiceError> {
    collect_with_hook(wharf, grace, None).await
}

/// [`collect`], pausing at each [`GcStep`] for `hook` (tests).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn collect_with_hook(
    wharf: &Wharf,
    grace: Duration,
    hook: Option<GcHook>,
) -> Result<GcReport, ServiceError> {
    let cutoff =
        Utc::now() - chrono::Duration::from_std(grace).or_internal("in collect_with_hook")?;
    let stored = wharf.blobs.list().await.map_err(|e| {
        ServiceError::internal(e.context("listing the blob store for garbage collection"))
    })?;
    let rows = db::blobs::all_rows(&wharf.db).await?;
    let rows_holding_bytes = db::blobs::rows_with_content(&wharf.db).await?;
    let mut candidates = db::blobs::unreferenced_before(&wharf.db, cutoff).await?;
    let stored_hashes: std::collections::HashSet<String> =
        stored.iter().map(|blob| blob.key.to_hex()).collect();
    let mut report = GcReport {
        examined: stored_hashes.union(&rows_holding_bytes).count(),
        kept_young: usize::try_from(db::blobs::count_unreferenced_since(&wharf.db, cutoff).await?)
            .unwrap_or_default(),
        ..GcReport::default()
    };
    // Bytes without a row: left by a crash between blob write and commit, or
    // an upload about to commit (which would store them again if needed).
    for blob in stored {
        let sha256 = blob.key.to_hex();
        if rows.contains(&sha256) {
            continue;
        }
        if blob.last_modified > cutoff {
            report.kept_young += 1;
        } else {
            candidates.push(sha256);
        }
    }
    for sha256 in candidates {
        let Some(key) = BlobKey::from_hex(&sha256) else {
            continue;
        };
        if let Some(hook) = &hook {
            hook(GcStep::Decided, sha256.clone()).await;
        }
        let deleted = db::blobs::delete_if_unreferenced(&wharf.db, &sha256, cutoff, || async {
            if let Some(hook) = &hook {
                hook(GcStep::RowDeleted, sha256.clone()).await;
            }
            wharf.blobs.delete(&key).await
        })
        .await
        .map_err(|e| match e {
            TxError::Db(e) => ServiceError::from(e),
            TxError::Outside(e) => {
                ServiceError::internal(e.context(format!("deleting the bytes of blob {sha256}")))
            }
        })?;
        if deleted {
            report.deleted += 1;
            tracing::info!(blob = %sha256, "unreferenced blob deleted");
        }
    }
    report.spool_files_deleted = sweep_spool(wharf, grace);
    Ok(report)
}

/// Removes temporary files that dead processes left (see `scratch`).
fn sweep_spool(wharf: &Wharf, grace: Duration) -> usize {
    let deleted = super::scratch::sweep(&wharf.settings.temp_dir(), grace);
    if deleted > 0 {
        tracing::info!(deleted, "stale spool files deleted");
    }
    deleted
}
