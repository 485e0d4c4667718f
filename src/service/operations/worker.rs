//! The worker loop: claim an operation, run it while a keeper renews its
//! lease (with the progress so far), record how it ended; put it back in the
//! queue when the process stops.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::db::operations::{self as rows, OperationRow, Outcome};
use crate::error::OrInternal;
use crate::service::Wharf;

use super::{Failure, Kind, Progress, RunResult, State, export, pull};

/// Runs one claimed operation to its end.
async fn run(wharf: &Wharf, operation: &OperationRow, progress: &Progress) -> RunResult {
    let request: Value = serde_json::from_str(&operation.request_json)
        .map_err(|e| Failure::new("internal", 500, format!("The request cannot be read: {e}")))?;
    match Kind::parse(&operation.kind) {
        Some(Kind::Export) => export::run(wharf, &request, operation.attempts, progress).await,
        Some(Kind::Pull) => pull::run(wharf, &request, &operation.requested_by, progress).await,
        None => Err(Failure::new(
            "unknown_kind",
            500,
            format!("This server does not run '{}' operations.", operation.kind),
        )),
    }
}

/// A worker: claims and runs operations until `stop` is cancelled. Between
/// operations it waits for a new one to be queued (in this process) or for
/// the poll interval (another process may have queued one).
pub async fn work(wharf: Wharf, owner: String, stop: CancellationToken) {
    const POLL: Duration = Duration::from_millis(500);
    while !stop.is_cancelled() {
        let queued = wharf.operations_queued.notified();
        match claim_and_run(&wharf, &owner, &stop).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(error) => tracing::warn!(
                error = format!("{error:#}"),
                "operation worker round failed"
            ),
        }
        tokio::select! {
            () = stop.cancelled() => {}
            () = queued => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Claims one operation and runs it, renewing its lease meanwhile; `false`
/// when there was none to claim.
async fn claim_and_run(
    wharf: &Wharf,
    owner: &str,
    stop: &CancellationToken,
) -> anyhow::Result<bool> {
    let settings = &wharf.settings.operations;
    let lease = Duration::from_secs(settings.lease_seconds);
    let lease_until = || Utc::now() + lease;
    let Some(operation) = rows::claim(&wharf.db, owner, lease_until()).await? else {
        return Ok(false);
    };
    let id = operation.id.clone();
    tracing::info!(operation = %id, kind = %operation.kind, attempt = operation.attempts, "operation started");
    let max_attempts = i32::try_from(settings.max_attempts).unwrap_or(i32::MAX);
    let progress = Arc::new(Progress::default());
    let outcome = if operation.attempts > max_attempts {
        Err(Failure::new(
            "interrupted",
            500,
            format!(
                "The operation was interrupted {max_attempts} times (the process running it stopped); it is not run again."
            ),
        ))
    } else {
        let keeper = keep_lease(wharf, &id, owner, lease, &progress);
        tokio::select! {
            outcome = run(wharf, &operation, &progress) => outcome,
            () = keeper => {
                tracing::warn!(operation = %id, "lost the lease of a running operation; another process runs it now");
                return Ok(true);
            }
            () = stop.cancelled() => {
                rows::release(&wharf.db, &id, owner).await?;
                tracing::info!(operation = %id, "operation put back in the queue: this process is stopping");
                return Ok(true);
            }
        }
    };
    let (state, http_status, result, failure) = match &outcome {
        Ok((status, result)) => (State::Succeeded, *status, Some(result.to_string()), None),
        Err(failure) => (State::Failed, failure.http_status, None, Some(failure)),
    };
    let recorded = rows::finish(
        &wharf.db,
        &id,
        owner,
        &Outcome {
            state: state.as_str(),
            http_status,
            result_json: result.as_deref(),
            error_code: failure.map(|f| f.code.as_str()),
            error_message: failure.map(|f| f.message.as_str()),
            bytes_done: progress.snapshot().0,
            bytes_total: progress.snapshot().1,
        },
    )
    .await
    .or_internal("recording an operation's outcome")?;
    if recorded {
        tracing::info!(operation = %id, state = state.as_str(), error = failure.map(|f| f.message.as_str()), "operation ended");
    }
    Ok(true)
}

/// Renews the lease a third of its length apart, with the progress so far;
/// returns only when the lease was lost.
async fn keep_lease(wharf: &Wharf, id: &str, owner: &str, lease: Duration, progress: &Progress) {
    // Often enough that a poller sees progress, and the lease never lapses.
    let mut tick = tokio::time::interval((lease / 3).min(Duration::from_secs(1)));
    tick.tick().await;
    loop {
        tick.tick().await;
        let (done, total) = progress.snapshot();
        match rows::renew(&wharf.db, id, owner, Utc::now() + lease, done, total).await {
            Ok(true) => {}
            Ok(false) => return,
            // The database is away: keep working; the next renewal may reach it.
            Err(error) => tracing::warn!(error = %error, "cannot renew an operation's lease"),
        }
    }
}
