//! Logging setup. Logs go to stderr so that stdout stays for what commands
//! print on purpose (a new API key, a feed list).
//!
//! Two kinds of lines share stderr: events (warnings, errors, start and
//! stop), written where they happen, and the access log, one line per
//! request, written by a thread of its own ([`access`]) so that serving
//! never waits for the terminal or the disk.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

pub mod access;
mod line_writer;
pub mod request_metrics;

/// The default filter: events at `info` and above, the access log
/// (`wharf::access`) included, and `sqlx`'s per-query lines left out.
const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// Keeps the access log's writer thread alive; dropping it writes what is
/// still buffered. Hold it until the process ends.
#[must_use = "dropping the guard stops the access log"]
pub struct Guard {
    _access_log: Option<line_writer::WriterGuard>,
}

/// Installs the global subscriber and, when the filter lets
/// `wharf::access` through at `info` (it does by default; `WHARF_LOG=warn`
/// or `wharf::access=off` turn it off), the access log. `WHARF_LOG` (or
/// `RUST_LOG`) sets the filter; one that does not parse is an error, not a
/// warning followed by silence.
pub fn init(settings: &LogSettings) -> anyhow::Result<Guard> {
    let (variable, filter) = match std::env::var("WHARF_LOG") {
        Ok(filter) => ("WHARF_LOG", filter),
        Err(_) => match std::env::var("RUST_LOG") {
            Ok(filter) => ("RUST_LOG", filter),
            Err(_) => ("", DEFAULT_FILTER.to_owned()),
        },
    };
    let filter = EnvFilter::builder().parse(&filter).map_err(|e| {
        anyhow::anyhow!(
            "{variable} is not a valid log filter ('{filter}': {e}); use levels such as 'info' or 'warn,wharf=debug'"
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match settings.format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if installed.is_err() {
        // A subscriber is already set (a test harness): keep it, and leave
        // the access log off rather than write past its filter.
        return Ok(Guard { _access_log: None });
    }
    if !tracing::enabled!(target: "wharf::access", tracing::Level::INFO) {
        return Ok(Guard { _access_log: None });
    }
    let guard = access::install(settings.format)
        .map_err(|e| anyhow::anyhow!("cannot start the access log's writer thread: {e}"))?;
    Ok(Guard {
        _access_log: Some(guard),
    })
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
