//! Download counts without a database write per download.
//!
//! Downloads are counted in memory and flushed every few seconds (and when
//! the server stops) as `downloads = downloads + n` increments, which compose
//! across processes: no read-modify-write, no lost update. A flush that fails
//! puts its counts back for the next one.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::db::{self, Db};

/// Pending download counts per version id.
#[derive(Debug, Default)]
pub struct DownloadCounter {
    pending: Mutex<HashMap<i64, i64>>,
}

impl DownloadCounter {
    /// Counts one download of a version.
    pub fn record(&self, version_id: i64) {
        if let Ok(mut pending) = self.pending.lock() {
            *pending.entry(version_id).or_default() += 1;
        }
    }

    /// Writes the pending counts to the database.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn flush(&self, db: &Db) -> Result<(), sqlx::Error> {
        let batch: Vec<(i64, i64)> = match self.pending.lock() {
            Ok(mut pending) => pending.drain().collect(),
            Err(_) => return Ok(()),
        };
        if batch.is_empty() {
            return Ok(());
        }
        if let Err(error) = db::packages::add_downloads(db, &batch).await {
            if let Ok(mut pending) = self.pending.lock() {
                for (id, count) in batch {
                    *pending.entry(id).or_default() += count;
                }
            }
            return Err(error);
        }
        Ok(())
    }
}

/// Writes the download counts waiting in this process.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn flush(wharf: &super::Wharf) -> anyhow::Result<()> {
    wharf
        .downloads
        .flush(&wharf.db)
        .await
        .map_err(|e| anyhow::Error::new(e).context("writing download counts"))
}
