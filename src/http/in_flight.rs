//! Counting requests in flight, from their first byte to the last byte of
//! their response, so that a stopping server can wait for them.
//!
//! actix-server's own graceful stop is not enough: a worker also ends when
//! the accept thread, stopping first, drops its side of the connection
//! channel, and whichever it notices first wins, so an upload in the middle
//! of its body was sometimes cut (seen in `crash.rs` about one run in four).
//! Wharf therefore stops accepting, waits here until nothing is in flight,
//! and only then stops the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::watched_body::BodyWatcher;

/// The number of requests in flight, shared by every worker; in the app's
/// data, where the outermost middleware (`access_log`) starts each count.
#[derive(Clone, Default)]
pub struct InFlight(Arc<AtomicUsize>);

/// One request in flight; dropping it (with the response body) ends the count.
pub struct Counted(Arc<AtomicUsize>);

impl BodyWatcher for Counted {}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl InFlight {
    /// How many requests are in flight now.
    pub fn now(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Waits until no request is in flight, or `limit` has passed; returns
    /// how many were still in flight.
    pub async fn drained(&self, limit: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + limit;
        while self.now() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.now()
    }

    /// Counts one more request, until the returned count is dropped.
    pub fn start(&self) -> Counted {
        self.0.fetch_add(1, Ordering::AcqRel);
        Counted(self.0.clone())
    }
}
