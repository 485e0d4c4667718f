//! A response body that carries something along until it is done: a
//! request's in-flight count (`in_flight`), its access-log line and its
//! `/metrics` figures (`access_log`). The watcher hears of each chunk sent
//! and is dropped with the body, when its last byte has gone or the client
//! went away. The body keeps its own type (no boxing on the hot path).

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use bytes::Bytes;

/// What a [`WatchedBody`] carries.
pub trait BodyWatcher {
    /// `bytes` more body bytes are being sent.
    fn sent(&mut self, _bytes: usize) {}
}

/// A watcher that may be absent (a log or count that is off).
impl<W: BodyWatcher> BodyWatcher for Option<W> {
    fn sent(&mut self, bytes: usize) {
        if let Some(watcher) = self {
            watcher.sent(bytes);
        }
    }
}

/// Two watchers hear the same body.
impl<A: BodyWatcher, B: BodyWatcher> BodyWatcher for (A, B) {
    fn sent(&mut self, bytes: usize) {
        self.0.sent(bytes);
        self.1.sent(bytes);
    }
}

pin_project_lite::pin_project! {
    /// `body`, with `watcher` kept alive until it is done.
    pub struct WatchedBody<B, W> {
        #[pin]
        body: B,
        watcher: W,
    }
}

impl<B, W> WatchedBody<B, W> {
    /// Wraps `body`.
    pub fn new(body: B, watcher: W) -> Self {
        Self { body, watcher }
    }
}

impl<B: MessageBody, W: BodyWatcher> MessageBody for WatchedBody<B, W> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let polled = this.body.poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            this.watcher.sent(chunk.len());
        }
        polled
    }

    /// Keeps actix's shortcut for a body that is one buffer (most API
    /// answers): the watcher is dropped as the buffer is handed to the
    /// connection's writer.
    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let Self { body, mut watcher } = self;
        match body.try_into_bytes() {
            Ok(bytes) => {
                watcher.sent(bytes.len());
                Ok(bytes)
            }
            Err(body) => Err(Self { body, watcher }),
        }
    }
}
