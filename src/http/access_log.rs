//! The outermost middleware, the one every request passes: it gets an id
//! (sent back as `x-request-id`), a failure's cause is logged with that id,
//! one access-log line is written when the response body has been sent, and
//! the request is counted in `/metrics` (`telemetry::request_metrics`) then
//! too, and among the requests in flight until then (`in_flight`). One
//! middleware rather than one per concern: each layer costs every request a
//! boxed future.
//!
//! The `request` span that events inside a request carry is at `debug`:
//! at `info` every request paid for spans it almost never needed (with
//! `resolve`'s, 5% of the manifest fetch). A request that fails with a 5xx gets its cause
//! logged here, at `error`, with its id, method and path, whatever the
//! level; the access line with the same id says who asked and how long
//! it took.
//!
//! The line is written when the body is done, not when the handler
//! returns, so that a download's duration and byte count are the
//! transfer's. It is formatted only when the access log is on (see
//! `telemetry`), and handed to the log's writer thread: the request never
//! waits for a write.

use std::cell::Cell;
use std::net::IpAddr;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode, Uri};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use futures_util::StreamExt;
use tracing::Instrument;

use super::client_address::client_address;
use super::endpoint::RoutePattern;
use super::in_flight::InFlight;
use super::pages::PageError;
use super::watched_body::{BodyWatcher, WatchedBody};
use crate::error::ServiceError;
use crate::service::Wharf;
use crate::service::auth::Principal;
use crate::telemetry::access::{self, AccessLog, CallerName, Entry};
use crate::telemetry::request_metrics::{self, RequestMetrics};

/// The request's id: a random UUID, in the `request` span, the access log
/// and the `x-request-id` response header; kept as text, formatted once.
#[derive(Debug, Clone, Copy)]
pub struct RequestId([u8; uuid::fmt::Hyphenated::LENGTH]);

impl RequestId {
    fn new() -> Self {
        let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
        uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
        Self(text)
    }

    /// The id as text.
    fn as_str(&self) -> &str {
        // Written by `encode_lower`: hexadecimal digits and hyphens.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who the request authenticated as, for the access log (never a secret):
/// a key's shared id or a user's name, nothing formatted per request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CallerLabel {
    Key(std::sync::Arc<str>),
    User(String),
}

impl CallerLabel {
    fn name(&self) -> CallerName<'_> {
        match self {
            Self::Key(id) => CallerName::Key(id),
            Self::User(name) => CallerName::User(name),
        }
    }
}

thread_local! {
    /// Who the request being polled on this thread authenticated as, if it
    /// has: see [`NotingCaller`].
    static NOTED_CALLER: Cell<Option<CallerLabel>> = const { Cell::new(None) };
}

/// Notes who the request being served authenticated as, for its
/// access-log line.
pub fn note_caller(principal: &Principal) {
    if access::get().is_none() {
        return;
    }
    let label = match principal {
        Principal::Anonymous => return,
        Principal::Key { id, .. } => CallerLabel::Key(id.clone()),
        Principal::User { username, .. } => CallerLabel::User(username.clone()),
    };
    NOTED_CALLER.set(Some(label));
}

/// A request's handling, polled with its own slot for who it
/// authenticated as in [`NOTED_CALLER`], as a span is entered: the slot is
/// put in place for each poll and taken back after, so requests that take
/// turns on one worker thread never see each other's caller. Noting the
/// caller in the request's extensions instead cost a boxed insert and a
/// removal per request, a tenth of the access log's cost.
struct NotingCaller<'a, F> {
    handling: F,
    noted: &'a mut Option<CallerLabel>,
}

impl<F: Future + Unpin> Future for NotingCaller<'_, F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = &mut *self;
        let outer = NOTED_CALLER.replace(this.noted.take());
        let polled = std::pin::Pin::new(&mut this.handling).poll(cx);
        *this.noted = NOTED_CALLER.replace(outer);
        polled
    }
}

/// Gives the request its id and span, sends the id back, and logs the
/// request when its body is done.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = RequestId::new();
    let metrics = request_metrics::get();
    if let Some(metrics) = metrics {
        count_received_bytes(&mut req, metrics);
    }
    let in_flight = req.app_data::<InFlight>().map(InFlight::start);
    let line = access::get().map(|log| PendingLine::new(log, &req, id, started));
    let span = tracing::debug_span!("request", id = %id);
    let mut caller = None;
    let handling = NotingCaller {
        handling: next.call(req),
        noted: &mut caller,
    };
    let mut response = match handling.instrument(span).await {
        Ok(response) => response,
        Err(error) => {
            let status = error.as_response_error().status_code();
            if let Some(metrics) = metrics {
                metrics.record(metrics.slot(None), status.as_u16(), started.elapsed(), 0);
            }
            if let Some(mut line) = line {
                line.status = status;
                line.caller = caller;
            }
            return Err(error);
        }
    };
    if response.status().is_server_error() {
        log_failure(id, &response);
    }
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    let line = line.map(|mut line| {
        line.status = response.status();
        line.caller = caller;
        line
    });
    let counted = metrics.map(|metrics| PendingCount {
        metrics,
        slot: metrics.slot(
            response
                .request()
                .app_data::<RoutePattern>()
                .map(|route| &*route.0),
        ),
        status: response.status().as_u16(),
        started,
        bytes: 0,
    });
    Ok(response.map_body(|_, body| WatchedBody::new(body, (line, (counted, in_flight)))))
}

/// Counts a request's body bytes as the handler reads them. Only requests
/// that have a body pay for the wrapped stream.
fn count_received_bytes(req: &mut ServiceRequest, metrics: &'static RequestMetrics) {
    let headers = req.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0");
    if !has_body {
        return;
    }
    let counted = req.take_payload().inspect(move |chunk| {
        if let Ok(chunk) = chunk {
            metrics.received(chunk.len() as u64);
        }
    });
    let boxed: actix_http::BoxedPayloadStream = Box::pin(counted);
    req.set_payload(actix_web::dev::Payload::from(boxed));
}

/// A request's figures for `/metrics`, recorded when its body is done.
struct PendingCount {
    metrics: &'static RequestMetrics,
    slot: usize,
    status: u16,
    started: Instant,
    bytes: u64,
}

impl Drop for PendingCount {
    fn drop(&mut self) {
        self.metrics
            .record(self.slot, self.status, self.started.elapsed(), self.bytes);
    }
}

impl BodyWatcher for PendingCount {
    fn sent(&mut self, bytes: usize) {
        self.bytes += bytes as u64;
    }
}

/// Logs why a request failed with a 5xx, if the handler said why.
fn log_failure<B>(id: RequestId, response: &ServiceResponse<B>) {
    let Some(error) = response.response().error() else {
        return;
    };
    let service_error = error
        .as_error::<ServiceError>()
        .or_else(|| error.as_error::<PageError>().map(|page| &page.0));
    if let Some(cause) = service_error.and_then(ServiceError::internal_cause) {
        let request = response.request();
        tracing::error!(
            request_id = %id,
            method = %request.method(),
            path = request.path(),
            error = format!("{cause:#}"),
            "request failed"
        );
    }
}

/// Logs a request answered before it reached the application (an upload
/// refused at `Expect: 100-continue`).
pub fn log_refused(wharf: &Wharf, req: &actix_http::Request, error: &ServiceError, id: &str) {
    let status = error.status_code();
    if let Some(cause) = error.internal_cause() {
        tracing::error!(
            request_id = id,
            method = %req.method(),
            path = req.path(),
            error = format!("{cause:#}"),
            "upload screening failed"
        );
    }
    if let Some(log) = access::get() {
        let user_agent = req.headers().get(header::USER_AGENT);
        log.write(&Entry {
            client: client_address(wharf, req.peer_addr(), req.headers()),
            method: req.method().as_str(),
            path: req.path(),
            status: status.as_u16(),
            bytes: 0,
            duration_ms: std::time::Duration::ZERO,
            caller: None,
            user_agent: user_agent.and_then(|v| v.to_str().ok()),
            request_id: id,
        });
    }
}

/// What the line will say, gathered as the request goes; written on drop.
/// Nothing in it is copied: the URI and the user agent share the request's
/// bytes, the method is a constant, the caller is what the handling noted.
struct PendingLine {
    log: &'static AccessLog,
    started: Instant,
    id: RequestId,
    client: Option<IpAddr>,
    method: Method,
    uri: Uri,
    user_agent: Option<HeaderValue>,
    status: StatusCode,
    caller: Option<CallerLabel>,
    bytes: u64,
}

impl PendingLine {
    fn new(log: &'static AccessLog, req: &ServiceRequest, id: RequestId, started: Instant) -> Self {
        Self {
            log,
            started,
            id,
            client: match req.app_data::<web::Data<Wharf>>() {
                Some(wharf) => client_address(wharf, req.peer_addr(), req.headers()),
                None => req.peer_addr().map(|a| a.ip()),
            },
            method: req.method().clone(),
            uri: req.uri().clone(),
            user_agent: req.headers().get(header::USER_AGENT).cloned(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
            caller: None,
            bytes: 0,
        }
    }
}

impl Drop for PendingLine {
    fn drop(&mut self) {
        self.log.write(&Entry {
            client: self.client,
            method: self.method.as_str(),
            path: self.uri.path(),
            status: self.status.as_u16(),
            bytes: self.bytes,
            duration_ms: self.started.elapsed(),
            caller: self.caller.as_ref().map(CallerLabel::name),
            user_agent: self.user_agent.as_ref().and_then(|v| v.to_str().ok()),
            request_id: self.id.as_str(),
        });
    }
}

/// The line hears of each chunk sent and is written when the body is done
/// (or dropped: a client that went away).
impl BodyWatcher for PendingLine {
    fn sent(&mut self, bytes: usize) {
        self.bytes += bytes as u64;
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    use super::*;

    /// A request's handling as the tests drive it: notes `caller` (if
    /// any), then waits once, as a handler does for the database, before
    /// it finishes.
    struct Handling {
        caller: Option<CallerLabel>,
        waited: bool,
    }

    impl Future for Handling {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            if let Some(caller) = self.caller.take() {
                NOTED_CALLER.set(Some(caller));
            }
            if std::mem::replace(&mut self.waited, true) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    fn poll<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
        Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn requests_taking_turns_on_one_thread_each_keep_their_own_caller() {
        let key = CallerLabel::Key("ab12".into());
        let user = CallerLabel::User("ci-bot".into());
        let outside = CallerLabel::User("outside any request".into());
        NOTED_CALLER.set(Some(outside.clone()));
        let (mut keyed_noted, mut anonymous_noted, mut user_noted) = (None, None, None);
        let mut keyed = NotingCaller {
            handling: Handling {
                caller: Some(key.clone()),
                waited: false,
            },
            noted: &mut keyed_noted,
        };
        let mut anonymous = NotingCaller {
            handling: Handling {
                caller: None,
                waited: false,
            },
            noted: &mut anonymous_noted,
        };
        let mut by_user = NotingCaller {
            handling: Handling {
                caller: Some(user.clone()),
                waited: false,
            },
            noted: &mut user_noted,
        };
        // The keyed request notes its caller and waits; the others run in
        // the pause, one noting nobody, one a user, then all finish.
        assert!(poll(&mut keyed).is_pending());
        assert!(poll(&mut anonymous).is_pending());
        assert!(poll(&mut by_user).is_pending());
        assert!(poll(&mut anonymous).is_ready());
        assert!(poll(&mut keyed).is_ready());
        assert!(poll(&mut by_user).is_ready());
        assert_eq!(keyed_noted, Some(key));
        assert_eq!(anonymous_noted, None);
        assert_eq!(user_noted, Some(user));
        assert_eq!(
            NOTED_CALLER.take(),
            Some(outside),
            "the thread's own slot is untouched"
        );
    }
}
