//! Long-running operations: requested, answered at once with an id, run in
//! the background by workers under the supervisor, and polled.
//!
//! An operation is a row (see `db::operations`): what was asked, its state
//! (`queued`, `running`, `succeeded`, `failed`), its progress, and how it
//! ended: an HTTP status, a result or an error with a code and a sentence.
//! Permissions are checked when it is requested; the worker then does what
//! was allowed. A worker claims an operation with a lease it renews while it
//! works, so each operation runs in one process at a time; when a process
//! dies, its operation is taken over once the lease runs out and run again,
//! up to `operations.max_attempts` runs, then failed with a sentence. A
//! process that stops puts its operations back in the queue.
//!
//! Each kind is a module (`export`) that checks a request and runs it;
//! `worker` claims, runs and records them.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::db::operations::{self as rows, NewOperation, OperationRow};
use crate::domain::Permission;
use crate::error::ServiceError;

use super::{Caller, Wharf, access};

pub mod export;
pub mod pull;
mod worker;

pub use worker::work;

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Writes a package and its manifest into a container.
    Export,
    /// Fetches a package from a connector and stores it.
    Pull,
}

impl Kind {
    /// Its name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Export => "export",
            Self::Pull => "pull",
        }
    }

    /// The kind named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "export" => Some(Self::Export),
            "pull" => Some(Self::Pull),
            _ => None,
        }
    }
}

/// Where an operation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl State {
    /// Its name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// The state named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|state| state.as_str() == name)
    }

    /// Whether it has ended.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// Why an operation failed: a stable code, a sentence, and the HTTP status
/// the same failure would have had as a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: String,
    pub message: String,
    pub http_status: u16,
}

impl Failure {
    /// A failure with `code`, `http_status` and `message`.
    pub fn new(code: &str, http_status: u16, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            http_status,
        }
    }
}

impl From<ServiceError> for Failure {
    fn from(error: ServiceError) -> Self {
        use actix_web::ResponseError;
        let status = error.status_code();
        let code = match (&error, status.as_u16()) {
            (ServiceError::Refused { code, .. }, _) => code,
            (_, 400) => "bad_request",
            (_, 403) => "forbidden",
            (_, 404) => "not_found",
            (_, 409) => "conflict",
            (_, 413) => "too_large",
            _ => "internal",
        };
        if let ServiceError::Internal(cause) = &error {
            tracing::error!(error = format!("{cause:#}"), "operation failed");
        }
        Self::new(code, status.as_u16(), error.to_string())
    }
}

/// An operation as its status call shows it.
#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    pub kind: String,
    pub state: State,
    /// The feed it concerns (who may view the feed may see the operation).
    pub feed: String,
    pub requested_by: String,
    pub attempts: i32,
    pub bytes_done: i64,
    pub bytes_total: Option<i64>,
    /// The status the outcome would have had as a request, once ended.
    pub http_status: Option<u16>,
    pub result: Option<Value>,
    pub error: Option<Failure>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<OperationRow> for Operation {
    fn from(row: OperationRow) -> Self {
        let request: Value = serde_json::from_str(&row.request_json).unwrap_or(Value::Null);
        let error = row.error_code.map(|code| Failure {
            code,
            message: row.error_message.unwrap_or_default(),
            http_status: row
                .http_status
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(500),
        });
        Self {
            id: row.id,
            kind: row.kind,
            state: State::parse(&row.state).unwrap_or(State::Failed),
            feed: request["feed"].as_str().unwrap_or_default().to_owned(),
            requested_by: row.requested_by,
            attempts: row.attempts,
            bytes_done: row.bytes_done,
            bytes_total: row.bytes_total,
            http_status: row.http_status.and_then(|s| u16::try_from(s).ok()),
            result: row
                .result_json
                .and_then(|json| serde_json::from_str(&json).ok()),
            error,
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
        }
    }
}

/// Stores a queued operation of `kind` for `request` (a JSON object with at
/// least `feed`), asked for by `caller`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn enqueue(
    wharf: &Wharf,
    caller: &Caller,
    kind: Kind,
    request: &Value,
) -> Result<Operation, ServiceError> {
    let id = uuid::Uuid::new_v4().to_string();
    let request_json = request.to_string();
    let requested_by = caller.principal.describe();
    rows::insert(
        &wharf.db,
        &NewOperation {
            id: &id,
            kind: kind.as_str(),
            request_json: &request_json,
            requested_by: &requested_by,
        },
    )
    .await?;
    wharf.operations_queued.notify_waiters();
    find(wharf, caller, &id).await
}

/// The operation `id`, if the caller may view its feed (else, like an
/// unknown id, 404).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn find(wharf: &Wharf, caller: &Caller, id: &str) -> Result<Operation, ServiceError> {
    let missing = || ServiceError::NotFound(format!("There is no operation '{id}'."));
    let operation = Operation::from(rows::find(&wharf.db, id).await?.ok_or_else(missing)?);
    if may_view(wharf, caller, &operation).await {
        Ok(operation)
    } else {
        Err(missing())
    }
}

/// Operations newest first (at most `limit`), only in `state` and of `kind`
/// when given, that the caller may view.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    wharf: &Wharf,
    caller: &Caller,
    state: Option<State>,
    kind: Option<Kind>,
    limit: i64,
) -> Result<Vec<Operation>, ServiceError> {
    let rows = rows::list(
        &wharf.db,
        state.map(State::as_str),
        kind.map(Kind::as_str),
        limit,
    )
    .await?;
    let mut visible = Vec::new();
    for operation in rows.into_iter().map(Operation::from) {
        if may_view(wharf, caller, &operation).await {
            visible.push(operation);
        }
    }
    Ok(visible)
}

async fn may_view(wharf: &Wharf, caller: &Caller, operation: &Operation) -> bool {
    caller.is_admin()
        || access::feed_for(wharf, caller, &operation.feed, Permission::View)
            .await
            .is_ok()
}

/// The progress of a running operation, shared with the lease keeper that
/// writes it with each renewal.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicI64,
    total: AtomicI64,
}

impl Progress {
    /// Sets how many bytes there are in all.
    pub fn set_total(&self, total: u64) {
        self.total
            .store(i64::try_from(total).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// Adds `bytes` to what is done.
    pub fn add(&self, bytes: usize) {
        self.done
            .fetch_add(i64::try_from(bytes).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    fn snapshot(&self) -> (i64, Option<i64>) {
        let total = self.total.load(Ordering::Relaxed);
        (
            self.done.load(Ordering::Relaxed),
            (total > 0).then_some(total),
        )
    }
}

/// The work of one run: a result (with its HTTP status) or a failure.
pub type RunResult = Result<(u16, Value), Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_becomes_a_failure_with_its_code_and_status() {
        let cases = [
            (
                ServiceError::Refused {
                    code: "unknown_source",
                    message: "u.".into(),
                },
                "unknown_source",
                400,
            ),
            (ServiceError::BadRequest("b.".into()), "bad_request", 400),
            (ServiceError::NotFound("n.".into()), "not_found", 404),
            (ServiceError::Conflict("c.".into()), "conflict", 409),
            (ServiceError::PayloadTooLarge("p.".into()), "too_large", 413),
            (
                ServiceError::internal(anyhow::anyhow!("hidden")),
                "internal",
                500,
            ),
        ];
        for (error, code, status) in cases {
            let sentence = error.to_string();
            let failure = Failure::from(error);
            assert_eq!((failure.code.as_str(), failure.http_status), (code, status));
            assert_eq!(failure.message, sentence);
        }
    }
}
