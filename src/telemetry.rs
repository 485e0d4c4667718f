//! Logging setup. Logs go to stderr so that stdout stays for what commands
//! print on purpose (a new API key, a feed list).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `WHARF_LOG` (or `RUST_LOG`) sets the filter.
pub fn init() {
    let filter = std::env::var("WHARF_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info,sqlx=warn".to_owned());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Runs blocking work on the blocking pool, inside the caller's span.
pub async fn spawn_blocking_in_span<F, R>(work: F) -> Result<R, tokio::task::JoinError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work)).await
}
