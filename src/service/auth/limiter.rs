//! The per-address limit on failed authentications.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::ServiceError;

/// Counts failed authentications per client address in fixed one-minute
/// windows. Refusing early also refuses the argon2 work (and memory) a stream
/// of wrong keys would cost.
pub(super) struct FailureLimiter {
    max_per_window: u32,
    windows: moka::sync::Cache<std::net::IpAddr, Arc<Mutex<(Instant, u32)>>>,
    /// When this limiter was made, and the last failure (in milliseconds
    /// after it, plus one; zero for none): while no failure is recent, a
    /// check looks nothing up.
    started: Instant,
    last_failure: AtomicU64,
}

const FAILURE_WINDOW: Duration = Duration::from_secs(60);

impl FailureLimiter {
    pub(super) fn new(max_per_window: u32) -> Self {
        Self {
            max_per_window,
            windows: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(FAILURE_WINDOW)
                .build(),
            started: Instant::now(),
            last_failure: AtomicU64::new(0),
        }
    }

    fn now_millis(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX) + 1
    }

    /// Whether any address failed within the last window.
    fn any_recent_failure(&self) -> bool {
        let last = self.last_failure.load(Ordering::Acquire);
        let window = u64::try_from(FAILURE_WINDOW.as_millis()).unwrap_or(u64::MAX);
        last != 0 && self.now_millis().saturating_sub(last) <= window
    }

    fn window(&self, address: std::net::IpAddr) -> Arc<Mutex<(Instant, u32)>> {
        self.windows
            .get_with(address, || Arc::new(Mutex::new((Instant::now(), 0))))
    }

    /// Refuses `address` while it is over the limit. An address without a
    /// failure has no window (a lookup, not an insertion, for every keyed
    /// request).
    pub(super) fn check(&self, address: Option<std::net::IpAddr>) -> Result<(), ServiceError> {
        let Some(window) = address
            .filter(|_| self.max_per_window > 0 && self.any_recent_failure())
            .and_then(|address| self.windows.get(&address))
        else {
            return Ok(());
        };
        let Ok(mut window) = window.lock() else {
            return Ok(());
        };
        let elapsed = window.0.elapsed();
        if elapsed >= FAILURE_WINDOW {
            *window = (Instant::now(), 0);
        } else if window.1 >= self.max_per_window {
            return Err(ServiceError::TooManyAttempts {
                retry_after_seconds: FAILURE_WINDOW.saturating_sub(elapsed).as_secs().max(1),
            });
        }
        Ok(())
    }

    pub(super) fn record_failure(&self, address: Option<std::net::IpAddr>) {
        if let Some(address) = address.filter(|_| self.max_per_window > 0)
            && let Ok(mut window) = self.window(address).lock()
        {
            window.1 += 1;
            self.last_failure
                .store(self.now_millis(), Ordering::Release);
        }
    }
}
