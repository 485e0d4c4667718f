//! Long-running operations, as their status call answers.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::timestamp;
use crate::service::operations::Operation;

/// How far a running operation got.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationProgress {
    bytes_done: i64,
    /// Absent until known.
    bytes_total: Option<i64>,
}

/// Why an operation failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationError {
    /// Stable, for scripts: `blob_exists`, `not_found`, `interrupted`, ...
    code: String,
    /// One sentence for a person.
    message: String,
}

/// A long-running operation, as its status call answers (200 whatever the
/// operation's outcome).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationObject {
    id: String,
    /// `export` or `pull`.
    kind: String,
    /// `queued`, `running`, `succeeded` or `failed`.
    state: &'static str,
    progress: OperationProgress,
    /// Once ended: the status the outcome would have had as a request.
    http_status_code: Option<u16>,
    /// Once succeeded: what was done (an export lists the files written).
    #[schema(value_type = Option<Object>)]
    result: Option<Value>,
    /// Once failed: why.
    error: Option<OperationError>,
    /// `key:<id>`, a user name, or `anonymous`.
    requested_by: String,
    /// Runs so far (more than one after a process stopped while running it).
    attempts: i32,
    created_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
}

/// An operation as the API shows it.
pub fn operation_object(operation: &Operation) -> OperationObject {
    OperationObject {
        id: operation.id.clone(),
        kind: operation.kind.clone(),
        state: operation.state.as_str(),
        progress: OperationProgress {
            bytes_done: operation.bytes_done,
            bytes_total: operation.bytes_total,
        },
        http_status_code: operation.http_status,
        result: operation.result.clone(),
        error: operation.error.as_ref().map(|failure| OperationError {
            code: failure.code.clone(),
            message: failure.message.clone(),
        }),
        requested_by: operation.requested_by.clone(),
        attempts: operation.attempts,
        created_at: timestamp(operation.created_at),
        started_at: operation.started_at.map(timestamp),
        finished_at: operation.finished_at.map(timestamp),
    }
}
