//! Hearing other processes' writes as `PostgreSQL` announces them.
//!
//! Several processes behind a load balancer each cache feeds, keys and
//! resolved versions; a delete or a revoked key in one must reach the others
//! within a second. Polling the change log ten times a second per process
//! does that at a steady cost and a 100 ms delay; listening costs nothing
//! between changes and hears them at commit. The listener is one connection
//! that can drop (a database restart, a proxy's idle timeout), and changes
//! announced while it is down are lost, so: while it is down the poller runs
//! (`Caches::is_listening` is false), and each time it comes back the
//! generation is read once before polling rests again.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::cache::Caches;
use crate::db::{
    Db,
    changes::{self, Heard},
};

/// Pause before listening again after the connection was lost.
const RELISTEN_DELAY: Duration = Duration::from_millis(500);

/// Follows announced changes until `stop`; returns at once on `SQLite`,
/// which announces nothing (the poller does the work there).
pub async fn follow(db: Db, caches: Arc<Caches>, stop: CancellationToken) {
    loop {
        let outcome = tokio::select! {
            () = stop.cancelled() => None,
            outcome = listen_until_lost(&db, &caches) => Some(outcome),
        };
        caches.set_listening(false);
        match outcome {
            None | Some(Ok(false)) => return,
            Some(Ok(true)) => tracing::warn!(
                "the connection listening for other processes' changes was lost; polling until it is back"
            ),
            Some(Err(error)) => tracing::warn!(
                %error,
                "cannot listen for other processes' changes; polling until it works"
            ),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(RELISTEN_DELAY) => {}
        }
    }
}

/// Listens until the connection is lost (`Ok(true)`); `Ok(false)` when the
/// database has no announcements.
async fn listen_until_lost(db: &Db, caches: &Caches) -> Result<bool, sqlx::Error> {
    let Some(mut listener) = changes::listen(db).await? else {
        return Ok(false);
    };
    // Changes made before the listener was up were not announced to it.
    caches.check_remote_changes().await?;
    caches.set_listening(true);
    loop {
        match listener.next().await? {
            Heard::Generation(generation) => caches.observe_generation(generation),
            Heard::OwnGeneration(generation) => {
                db.local_writes().note_own_generation(generation);
                caches.observe_generation(generation);
            }
            Heard::MaybeMissed => {
                caches.set_listening(false);
                caches.check_remote_changes().await?;
                return Ok(true);
            }
        }
    }
}
