//! Logging setup. Logs go to stderr so that stdout stays for what commands
//! print on purpose (a new API key, a feed list).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `WHARF_LOG` (or `RUST_LOG`) sets the
/// filter; one that does not parse is an error, not a warning followed by
/// silence.
pub fn init() -> anyhow::Result<()> {
    let (variable, filter) = match std::env::var("WHARF_LOG") {
        Ok(filter) => ("WHARF_LOG", filter),
        Err(_) => match std::env::var("RUST_LOG") {
            Ok(filter) => ("RUST_LOG", filter),
            Err(_) => ("", "info,sqlx=warn".to_owned()),
        },
    };
    let filter = EnvFilter::builder().parse(&filter).map_err(|e| {
        anyhow::anyhow!(
            "{variable} is not a valid log filter ('{filter}': {e}); use levels such as 'info' or 'warn,wharf=debug'"
        )
    })?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    Ok(())
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
