//! How often each hot-path cache answers, for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Hits and misses of one cache, for `/metrics`.
#[derive(Debug, Default)]
pub struct HitCounts {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl HitCounts {
    pub(super) fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Hits and misses so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

/// Hits and misses of each cache, by name.
#[derive(Debug, Default)]
pub(super) struct CacheCounts {
    pub(super) feeds: HitCounts,
    pub(super) keys: HitCounts,
    pub(super) versions: HitCounts,
    pub(super) listings: HitCounts,
    pub(super) small_blobs: HitCounts,
    pub(super) connectors: HitCounts,
}
