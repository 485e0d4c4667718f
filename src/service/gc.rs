//! Garbage collection of blobs that no version references.
//!
//! Unreferenced blobs appear when a version or feed is deleted, when an
//! upload's transaction loses a race, or when the process dies between the
//! blob write and the commit. A blob younger than the grace period is kept,
//! because an upload in flight may be about to commit a reference to it (a
//! put that finds its blob already present refreshes its time for the same
//! reason).

use std::time::Duration;

use chrono::Utc;

use crate::db;
use crate::error::ServiceError;

use super::Wharf;

/// What a collection did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs found in the store.
    pub examined: usize,
    /// Blobs deleted.
    pub deleted: usize,
    /// Unreferenced blobs kept because they are younger than the grace period.
    pub kept_young: usize,
    /// Spool files left by uploads that never finished (a killed process).
    pub spool_files_deleted: usize,
}

/// Deletes blobs that no version references and that are older than `grace`.
pub async fn collect(wharf: &Wharf, grace: Duration) -> Result<GcReport, ServiceError> {
    db::assemblies::delete_orphaned(&wharf.db).await?;
    let stored = wharf.blobs.list().await.map_err(ServiceError::internal)?;
    let referenced = db::packages::referenced_blobs(&wharf.db).await?;
    let cutoff = Utc::now() - chrono::Duration::from_std(grace).map_err(ServiceError::internal)?;
    let mut report = GcReport {
        examined: stored.len(),
        ..GcReport::default()
    };
    for blob in stored {
        let sha256 = blob.key.to_hex();
        if referenced.contains(&sha256) {
            continue;
        }
        if blob.last_modified > cutoff {
            report.kept_young += 1;
            continue;
        }
        // The row delete re-checks references atomically; a row that is still
        // referenced (a version stored since the listing) keeps its bytes.
        let row_deleted = db::packages::delete_blob_row_if_unreferenced(&wharf.db, &sha256).await?;
        if row_deleted || !db::packages::blob_row_exists(&wharf.db, &sha256).await? {
            wharf
                .blobs
                .delete(&blob.key)
                .await
                .map_err(ServiceError::internal)?;
            report.deleted += 1;
            tracing::info!(blob = %sha256, "unreferenced blob deleted");
        }
    }
    report.spool_files_deleted = sweep_spool(wharf, grace)?;
    Ok(report)
}

/// Deletes spool files older than `grace`: an upload in progress writes to its
/// file continuously, so only a dead process leaves an old one behind.
fn sweep_spool(wharf: &Wharf, grace: Duration) -> Result<usize, ServiceError> {
    let Ok(entries) = std::fs::read_dir(wharf.temp_dir()) else {
        return Ok(0);
    };
    let mut deleted = 0;
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified.elapsed().unwrap_or_default() >= grace);
        if old && entry.path().is_file() && std::fs::remove_file(entry.path()).is_ok() {
            deleted += 1;
        }
    }
    if deleted > 0 {
        tracing::info!(deleted, "stale spool files deleted");
    }
    Ok(deleted)
}
