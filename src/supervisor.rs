//! The background tasks of a serving process, started and stopped together.
//!
//! Each task is a loop that does one round of work per tick and is told to
//! stop through a shared cancellation token; on stop it gets to finish the
//! round it is in and run its last round (the download counter flushes what
//! it holds), and [`Supervisor::shutdown`] waits for all of them. The cache
//! poller, the download-count flusher and, later, operation workers live here,
//! so nothing runs detached from the process's lifetime.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Runs named periodic tasks until shut down.
#[derive(Debug, Default)]
pub struct Supervisor {
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

impl Supervisor {
    /// Runs `round` every `every`, and once more when the supervisor stops.
    /// A round's failure is logged and the next round runs as usual.
    pub fn every<F, Fut>(&mut self, name: &'static str, every: Duration, mut round: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send,
    {
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let stopping = tokio::select! {
                    () = stop.cancelled() => true,
                    _ = tick.tick() => false,
                };
                if let Err(error) = round().await {
                    tracing::warn!(
                        task = name,
                        error = format!("{error:#}"),
                        "background task round failed"
                    );
                }
                if stopping {
                    tracing::debug!(task = name, "background task stopped");
                    return;
                }
            }
        });
    }

    /// Runs `task` until it returns; it is handed the stop signal and is
    /// expected to return soon after the signal (an operation worker puts
    /// its operation back in the queue).
    pub fn until_stopped<F, Fut>(&mut self, name: &'static str, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let future = task(self.stop.clone());
        self.tasks.spawn(async move {
            future.await;
            tracing::debug!(task = name, "background task stopped");
        });
    }

    /// Stops every task after its last round and waits for them.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn tasks_run_periodically_and_once_more_at_shutdown() {
        let rounds = Arc::new(AtomicUsize::new(0));
        let mut supervisor = Supervisor::default();
        let counted = rounds.clone();
        supervisor.every("count", Duration::from_secs(3600), move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                anyhow::Ok(())
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            rounds.load(Ordering::SeqCst),
            1,
            "the first tick is immediate"
        );
        supervisor.shutdown().await;
        assert_eq!(rounds.load(Ordering::SeqCst), 2, "a last round at shutdown");
    }
}
