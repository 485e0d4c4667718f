//! The background tasks of a serving process, started and stopped together.
//!
//! Each task is a loop that does one round of work per tick and is told to
//! stop through a shared cancellation token; on stop it gets to finish the
//! round it is in and run its last round (the download counter flushes what
//! it holds), and [`Supervisor::shutdown`] waits for all of them. The cache
//! poller, the download-count flusher and the operation workers live here,
//! so nothing runs detached from the process's lifetime.
//!
//! Work that must yield to requests (operations: a pull hashes, inspects and
//! stores thousands of packages) runs on a runtime of its own whose threads,
//! blocking ones included, are scheduled as Linux's `SCHED_IDLE`: a request
//! thread that wakes takes the core at once instead of at the next scheduler
//! tick (on 2 cores, a lower `nice` alone still left a request waiting a
//! 4 ms tick behind a pull: case O of `bench/run`), and the background work
//! takes the cores the requests leave. It is never starved outright (the
//! kernel still gives it a sliver), so leases are renewed on a saturated
//! machine. Where the policy cannot be set, the threads run at nice
//! [`BACKGROUND_NICENESS`].

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How much lower the background runtime's threads are scheduled (the
/// `nice` value they run at; request threads stay at the process's).
pub const BACKGROUND_NICENESS: i32 = 10;

/// Runs named periodic tasks until shut down.
#[derive(Debug, Default)]
pub struct Supervisor {
    stop: CancellationToken,
    tasks: JoinSet<()>,
    /// The lower-priority runtime, made when the first task needs it.
    background: Option<tokio::runtime::Runtime>,
}

/// Lowers the calling thread's CPU priority (Linux schedules threads one by
/// one): the idle policy, and a lower nice where that cannot be had. Failing
/// to is not worth stopping for: the work runs as before.
fn lower_this_threads_priority() {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    let priority = thread_priority::ThreadPriority::Min;
    if let Err(error) = set_thread_priority_and_policy(thread_native_id(), priority, idle) {
        tracing::debug!(?error, "could not schedule a background thread as idle");
    }
    // After the policy, which resets it.
    let thread = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(thread), BACKGROUND_NICENESS) {
        tracing::debug!(%error, "could not lower a background thread's priority");
    }
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

    /// Like [`until_stopped`](Self::until_stopped), on the lower-priority
    /// background runtime (one thread, and its own blocking pool).
    pub fn until_stopped_in_background<F, Fut>(
        &mut self,
        name: &'static str,
        task: F,
    ) -> std::io::Result<()>
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if self.background.is_none() {
            self.background = Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("wharf-background")
                    .on_thread_start(lower_this_threads_priority)
                    .enable_all()
                    .build()?,
            );
        }
        let Some(background) = &self.background else {
            return Ok(());
        };
        let future = task(self.stop.clone());
        self.tasks.spawn_on(
            async move {
                future.await;
                tracing::debug!(task = name, "background task stopped");
            },
            background.handle(),
        );
        Ok(())
    }

    /// Stops every task after its last round and waits for them.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // Dropping a runtime waits for its threads, which an async context
        // must not; every task has ended or is abandoned by now.
        if let Some(background) = self.background.take() {
            background.shutdown_background();
        }
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

    use thread_priority::unix::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};

    /// The calling thread's scheduling policy and nice value.
    fn this_threads_scheduling() -> (ThreadSchedulePolicy, i32) {
        let policy = thread_priority::unix::thread_schedule_policy().unwrap();
        let nice = rustix::process::getpriority_process(Some(rustix::thread::gettid()));
        (policy, nice.unwrap())
    }

    #[tokio::test]
    async fn background_tasks_run_at_a_lower_priority_and_stop_with_the_rest() {
        let mut supervisor = Supervisor::default();
        let (seen, observed) = tokio::sync::oneshot::channel();
        supervisor
            .until_stopped_in_background("priority probe", move |stop| async move {
                let blocking = tokio::task::spawn_blocking(this_threads_scheduling)
                    .await
                    .unwrap();
                seen.send((this_threads_scheduling(), blocking)).unwrap();
                stop.cancelled().await;
            })
            .unwrap();
        let (own, blocking) = observed.await.unwrap();
        let base = rustix::process::getpriority_process(None).unwrap();
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        let lowered = (idle, base + BACKGROUND_NICENESS);
        assert_eq!(
            (own, blocking),
            (lowered, lowered),
            "the runtime's worker and blocking threads are scheduled as idle, at a lower nice"
        );
        assert_ne!(
            this_threads_scheduling().0,
            idle,
            "the caller's thread is left alone"
        );
        supervisor.shutdown().await;
    }
}
