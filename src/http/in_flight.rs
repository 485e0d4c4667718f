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

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use super::watched_body::{BodyWatcher, WatchedBody};

/// The number of requests in flight, shared by every worker.
#[derive(Clone, Default)]
pub struct InFlight(Arc<AtomicUsize>);

/// One request in flight; dropping it ends the count.
pub struct Counted(Arc<AtomicUsize>);

impl BodyWatcher for Counted {}

/// A response body that holds its request's count until it ends.
pub type CountedBody<B> = WatchedBody<B, Counted>;

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

    fn start(&self) -> Counted {
        self.0.fetch_add(1, Ordering::AcqRel);
        Counted(self.0.clone())
    }
}

/// The middleware: counts the request until its response body is done.
/// The body keeps its own type (no boxing on the hot path).
pub async fn count<B: MessageBody>(
    in_flight: InFlight,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<CountedBody<B>>, actix_web::Error> {
    let counted = in_flight.start();
    let response = next.call(req).await?;
    Ok(response.map_body(move |_, body| WatchedBody::new(body, counted)))
}
