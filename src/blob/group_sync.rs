//! Group sync: the durability of many concurrent writes for the price of one
//! flush.
//!
//! A blob written to the local store must be on disk (its data and its
//! directory entry) before the database may refer to it. Syncing each file
//! and its directory costs two flushes per upload, and with many small
//! uploads in flight those flushes are most of the work. Instead a writer
//! links its file into place and asks for a sync: the first writer to ask
//! while no flush is running starts one `syncfs` on the store's filesystem
//! (every dirty file and directory entry on it, so every writer that asked
//! before it began), and every writer that asks while it runs joins the next
//! round. A writer waits for at most the flush in progress and its own; there
//! is no timer.
//!
//! The flush runs on the blocking pool and finishes even if the writer that
//! started it is dropped (a client gone away): it records the outcome in its
//! round and wakes everyone, so no round is left without a flusher. A failed
//! flush fails every writer of its round (nothing they wrote may be
//! acknowledged), and the next round starts afresh.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::Notify;

/// One flush and the writers waiting for it.
#[derive(Default)]
struct Round {
    /// Set once, when the flush has finished: `Err` holds its error's text.
    outcome: OnceLock<Result<(), Arc<str>>>,
}

#[derive(Default)]
struct State {
    /// The round new writers join; taken by its flusher when the flush begins.
    next: Option<Arc<Round>>,
    /// Whether a flush is running.
    flushing: bool,
}

/// Flushes the filesystem holding `root` once for every group of writers.
pub(super) struct GroupSync {
    root: Arc<std::fs::File>,
    state: Mutex<State>,
    finished: Notify,
}

impl GroupSync {
    /// Syncs the filesystem that holds the open directory `root`.
    pub(super) fn new(root: std::fs::File) -> Arc<Self> {
        Arc::new(Self {
            root: Arc::new(root),
            state: Mutex::default(),
            finished: Notify::new(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is two plain fields, consistent after every statement.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns once everything written to the filesystem before the call is
    /// durable.
    pub(super) async fn sync(self: &Arc<Self>) -> std::io::Result<()> {
        let round = self.state().next.get_or_insert_with(Arc::default).clone();
        loop {
            let finished = self.finished.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            if let Some(outcome) = round.outcome.get() {
                return outcome.clone().map_err(|e| {
                    std::io::Error::other(format!("flushing the blob store failed: {e}"))
                });
            }
            if self.start_flush_of(&round) {
                let this = self.clone();
                let round = round.clone();
                // Not awaited: the flush completes its round on its own.
                drop(tokio::task::spawn_blocking(move || this.flush(&round)));
            }
            finished.await;
        }
    }

    /// Whether the caller should flush `round`: it is the round writers are
    /// joining and no flush is running. Makes it the running one if so.
    fn start_flush_of(&self, round: &Arc<Round>) -> bool {
        let mut state = self.state();
        let is_next = state.next.as_ref().is_some_and(|n| Arc::ptr_eq(n, round));
        if !is_next || state.flushing {
            return false;
        }
        state.flushing = true;
        state.next = None;
        true
    }

    /// Blocking: flushes, records the outcome, and wakes every waiter.
    fn flush(&self, round: &Round) {
        let outcome = flush_filesystem(&self.root).map_err(|e| Arc::from(e.to_string()));
        if let Err(error) = &outcome {
            tracing::error!(%error, "flushing the blob store failed; the uploads waiting for it fail");
        }
        let _ = round.outcome.set(outcome);
        self.state().flushing = false;
        self.finished.notify_waiters();
    }
}

/// Flushes the whole filesystem `dir` is on: data, inodes and directory
/// entries, with write-back errors reported (Linux 5.8 and later).
#[cfg(target_os = "linux")]
fn flush_filesystem(dir: &std::fs::File) -> std::io::Result<()> {
    rustix::fs::syncfs(dir).map_err(std::io::Error::from)
}

/// Elsewhere there is no per-filesystem flush: flush them all.
#[cfg(not(target_os = "linux"))]
fn flush_filesystem(_dir: &std::fs::File) -> std::io::Result<()> {
    rustix::fs::sync();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writers_share_flushes_and_all_return() {
        let dir = tempfile::tempdir().unwrap();
        let sync = GroupSync::new(std::fs::File::open(dir.path()).unwrap());
        let writers: Vec<_> = (0..64)
            .map(|i| {
                let (sync, path) = (sync.clone(), dir.path().join(format!("f{i}")));
                tokio::spawn(async move {
                    std::fs::write(&path, b"bytes").unwrap();
                    sync.sync().await
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap().unwrap();
        }
        let state = sync.state();
        assert!(
            !state.flushing && state.next.is_none(),
            "no round is left behind"
        );
    }

    #[tokio::test]
    async fn a_writer_dropped_while_flushing_leaves_no_round_behind() {
        let dir = tempfile::tempdir().unwrap();
        let sync = GroupSync::new(std::fs::File::open(dir.path()).unwrap());
        // Started and dropped at once: its flush still runs and finishes.
        let dropped = sync.sync();
        tokio::pin!(dropped);
        let _ = futures_util::poll!(dropped.as_mut());
        tokio::time::timeout(std::time::Duration::from_secs(10), sync.sync())
            .await
            .expect("a later writer is not stuck behind a dropped one")
            .unwrap();
    }
}
