//! Group commit: the uploads of this process reach the database through one
//! queue, and whatever is queued when the database is free goes in one
//! transaction.
//!
//! Each commit is a flush of the database's log (`SQLite`'s WAL with
//! `synchronous = FULL`, `PostgreSQL`'s WAL), so one commit per upload makes
//! many small uploads wait on the disk, and on `SQLite` concurrent writers also
//! wait on each other's lock, sleeping in its busy handler. Here an upload
//! queues its version and waits for its own answer; the first upload to find
//! no committer running starts one, which takes everything queued (up to
//! [`MAX_BATCH`]), stores it with `db::packages::store_batch` (a conflict is
//! only that upload's 409), commits, answers each, and
//! goes on while uploads keep arriving. An upload waits for at most the batch
//! in progress and its own; there is no timer. An upload is answered only
//! after the commit that holds it, so a 201 is as durable as before.
//!
//! The committer is a task of its own, not part of any request, so a client
//! that goes away does not strand the uploads queued behind it.

use std::sync::{Mutex, PoisonError};

use tokio::sync::oneshot;

use crate::blob::BlobKey;
use crate::db::packages::{NewVersion, Pending, StoreOutcome};
use crate::db::{self, HeldConnection, TxError};
use crate::error::ServiceError;
use crate::service::Wharf;
use crate::service::blob_bytes::{self, BytesSource};

/// The most versions one transaction carries: enough that a burst shares
/// few flushes, few enough that a batch holds the write lock briefly.
const MAX_BATCH: usize = 64;

/// A version waiting to be committed.
struct Job {
    new: NewVersion,
    replace_existing: bool,
    key: BlobKey,
    /// The upload's spooled file, kept until the commit: the bytes are
    /// written again from it if `wharf gc` took the stored copy meanwhile.
    /// `None` for a small upload, whose bytes its blob's row holds.
    spool: Option<tempfile::TempPath>,
    answer: oneshot::Sender<Result<StoreOutcome, ServiceError>>,
}

impl Job {
    fn bytes_source(&self) -> BytesSource<'_> {
        match &self.spool {
            Some(path) => BytesSource::File(path),
            None => BytesSource::Row,
        }
    }
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    committing: bool,
}

/// This process's queue of versions to commit.
#[derive(Default)]
pub struct CommitQueue {
    queue: Mutex<Queue>,
}

impl CommitQueue {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        // Two plain fields, consistent after every statement.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Stores `new` (its bytes already in the store under `key`, from `spool`,
/// or in `new`'s blob content) in the next group commit and returns its
/// outcome once that has committed.
pub(super) async fn commit(
    wharf: &Wharf,
    new: NewVersion,
    replace_existing: bool,
    key: BlobKey,
    spool: Option<tempfile::TempPath>,
) -> Result<StoreOutcome, ServiceError> {
    let (answer, answered) = oneshot::channel();
    let start_committer = {
        let mut queue = wharf.commits.queue();
        queue.jobs.push(Job {
            new,
            replace_existing,
            key,
            spool,
            answer,
        });
        !std::mem::replace(&mut queue.committing, true)
    };
    if start_committer {
        tokio::spawn(run_committer(wharf.clone()));
    }
    answered.await.map_err(|_| {
        ServiceError::internal(anyhow::anyhow!("the committer stopped without an answer"))
    })?
}

/// Commits batches until the queue is empty, on one connection kept while
/// batches keep coming (taking one from the pool tests it first: a round
/// trip per batch). A connection whose batch failed goes back to the pool,
/// which tests it before anyone uses it again.
async fn run_committer(wharf: Wharf) {
    let mut connection: Option<HeldConnection> = None;
    loop {
        let batch = {
            let mut queue = wharf.commits.queue();
            if queue.jobs.is_empty() {
                queue.committing = false;
                return;
            }
            next_batch(&mut queue.jobs)
        };
        let held = match connection.take() {
            Some(held) => held,
            None => match wharf.db.hold_connection().await {
                Ok(held) => held,
                Err(error) => {
                    // No connection to be had: the database is unavailable.
                    tracing::error!(%error, versions = batch.len(), "a group commit found no database connection");
                    for job in batch {
                        let _ = job.answer.send(Err(ServiceError::Unavailable));
                    }
                    continue;
                }
            },
        };
        connection = commit_batch(&wharf, held, batch).await;
    }
}

/// Takes up to [`MAX_BATCH`] jobs from the front of `jobs`, in order, leaving
/// a job whose version is already in the batch (the same version uploaded
/// twice at once) for a later batch, after the first.
fn next_batch(jobs: &mut Vec<Job>) -> Vec<Job> {
    let mut keys = std::collections::HashSet::new();
    let mut batch = Vec::new();
    let mut later = Vec::new();
    for job in jobs.drain(..) {
        let pending = Pending {
            new: &job.new,
            replace_existing: job.replace_existing,
        };
        let (package, precedence) = pending.version_key();
        if batch.len() < MAX_BATCH && keys.insert((package, precedence.to_vec())) {
            batch.push(job);
        } else {
            later.push(job);
        }
    }
    *jobs = later;
    batch
}

/// Commits `batch` on `connection`, and gives the connection back unless the
/// batch failed.
#[tracing::instrument(level = "debug", skip_all, fields(versions = batch.len()))]
async fn commit_batch(
    wharf: &Wharf,
    mut connection: HeldConnection,
    batch: Vec<Job>,
) -> Option<HeldConnection> {
    let pending: Vec<Pending<'_>> = batch
        .iter()
        .map(|job| Pending {
            new: &job.new,
            replace_existing: job.replace_existing,
        })
        .collect();
    let stored = db::packages::store_batch(&wharf.db, &mut connection, &pending, |index| {
        let job = &batch[index];
        blob_bytes::ensure(wharf, &job.key, job.bytes_source())
    })
    .await;
    drop(pending);
    match stored {
        Ok(outcomes) => {
            for (job, outcome) in batch.into_iter().zip(outcomes) {
                let _ = job.answer.send(outcome);
            }
            return Some(connection);
        }
        Err(error) if db::is_unavailable(&error) => {
            tracing::error!(%error, versions = batch.len(), "a group commit failed: the database is unavailable");
            for job in batch {
                let _ = job.answer.send(Err(ServiceError::Unavailable));
            }
        }
        Err(error) => {
            // One version may be what failed: store each on its own, so that
            // only that one fails.
            tracing::warn!(%error, versions = batch.len(), "a group commit failed; storing its versions one by one");
            drop(connection);
            for job in batch {
                let outcome = store_alone(wharf, &job).await;
                let _ = job.answer.send(outcome);
            }
        }
    }
    None
}

/// Stores one job's version in a transaction of its own.
async fn store_alone(wharf: &Wharf, job: &Job) -> Result<StoreOutcome, ServiceError> {
    let stored =
        db::packages::store_version(&wharf.db, &job.new, job.replace_existing, None, || {
            blob_bytes::ensure(wharf, &job.key, job.bytes_source())
        })
        .await;
    match stored {
        Err(TxError::Db(e)) if db::is_unique_violation(&e) => Ok(StoreOutcome::AlreadyExists),
        stored => Ok(stored?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::packages::BlobRef;
    use crate::domain::{Container, Manifest};

    fn job(name: &str, version: &str) -> Job {
        let manifest =
            Manifest::parse(format!(r#"{{"name":"{name}","version":"{version}"}}"#).as_bytes())
                .unwrap();
        let blob = BlobRef {
            sha256: "ab".repeat(32),
            sha1: "cd".repeat(20),
            size_bytes: 1,
            content: None,
        };
        Job {
            new: NewVersion::new(1, &manifest, Container::Zip, "[]".to_owned(), blob),
            replace_existing: true,
            key: BlobKey::from_digest([0xab; 32]),
            spool: None,
            answer: oneshot::channel().0,
        }
    }

    fn names(jobs: &[Job]) -> Vec<String> {
        jobs.iter()
            .map(|j| {
                format!(
                    "{:?}",
                    Pending {
                        new: &j.new,
                        replace_existing: true
                    }
                    .version_key()
                )
            })
            .collect()
    }

    #[test]
    fn a_version_queued_twice_waits_for_the_next_batch_in_order() {
        let mut jobs = vec![
            job("a", "1.0.0"),
            job("A", "1.0.0"),
            job("b", "1.0.0"),
            job("a", "1.0.0"),
        ];
        let expected_later = names(&jobs[1..2]);
        let first = next_batch(&mut jobs);
        assert_eq!(names(&first).len(), 2, "a and b");
        assert_eq!(names(&jobs).len(), 2, "A and the second a wait");
        assert_eq!(names(&jobs)[..1], expected_later[..], "in their order");
        let second = next_batch(&mut jobs);
        assert_eq!(second.len(), 1, "still one of package a per batch");
        assert_eq!(next_batch(&mut jobs).len(), 1);
        assert!(jobs.is_empty());
    }

    #[test]
    fn a_batch_takes_at_most_max_batch_jobs() {
        let mut jobs: Vec<Job> = (0..MAX_BATCH + 5)
            .map(|n| job(&format!("p{n}"), "1.0.0"))
            .collect();
        assert_eq!(next_batch(&mut jobs).len(), MAX_BATCH);
        assert_eq!(jobs.len(), 5);
    }
}
