//! `wharf op list|show|wait`: follow long-running operations from a shell.
//! `wait` draws a progress bar on standard error and exits non-zero when the
//! operation failed, so a build script can chain it
//! (`wharf op wait "$ID" && deploy`).

use std::io::Write as _;
use std::time::Duration;

use clap::Subcommand;

use crate::service::operations::{self, Kind, Operation, State};
use crate::service::{Caller, Wharf};

#[derive(Debug, Subcommand)]
pub enum OpCommand {
    /// List operations, newest first.
    List {
        /// Only queued, running, succeeded or failed ones.
        #[arg(long)]
        state: Option<String>,
        /// Only this kind (export).
        #[arg(long)]
        kind: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        count: i64,
    },
    /// Show one operation as JSON, as the API answers.
    Show {
        /// The operation's id.
        id: String,
    },
    /// Wait for an operation to end, showing its progress; exit 1 if it failed.
    Wait {
        /// The operation's id.
        id: String,
        /// Give up (exit 2) after this many seconds; 0 waits for ever.
        #[arg(long, default_value_t = 0)]
        timeout_seconds: u64,
    },
}

pub async fn op(wharf: &Wharf, command: OpCommand) -> anyhow::Result<()> {
    let operator = Caller::operator();
    match command {
        OpCommand::List { state, kind, count } => {
            let state = state
                .map(|s| {
                    State::parse(&s).ok_or_else(|| {
                        anyhow::anyhow!(
                            "--state must be queued, running, succeeded or failed, not '{s}'"
                        )
                    })
                })
                .transpose()?;
            let kind = kind
                .map(|k| {
                    Kind::parse(&k)
                        .ok_or_else(|| anyhow::anyhow!("--kind must be export, not '{k}'"))
                })
                .transpose()?;
            let found = operations::list(wharf, &operator, state, kind, count).await?;
            if found.is_empty() {
                println!("No operations.");
            }
            for operation in found {
                println!("{}", one_line(&operation));
            }
        }
        OpCommand::Show { id } => {
            let operation = operations::find(wharf, &operator, &id).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&crate::http::operation_json(&operation))?
            );
        }
        OpCommand::Wait {
            id,
            timeout_seconds,
        } => {
            let started = std::time::Instant::now();
            loop {
                let operation = operations::find(wharf, &operator, &id).await?;
                draw(&operation);
                if operation.state.is_final() {
                    eprintln!();
                    println!("{}", one_line(&operation));
                    if operation.state == State::Failed {
                        std::process::exit(1);
                    }
                    return Ok(());
                }
                if timeout_seconds > 0 && started.elapsed() > Duration::from_secs(timeout_seconds) {
                    eprintln!();
                    eprintln!(
                        "operation {id} is still {} after {timeout_seconds} s",
                        operation.state.as_str()
                    );
                    std::process::exit(2);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
    Ok(())
}

/// `<id> <kind> <state> <created>` and how it ended.
fn one_line(operation: &Operation) -> String {
    let ending = match (&operation.error, operation.http_status) {
        (Some(error), _) => format!(" {} ({}): {}", error.http_status, error.code, error.message),
        (None, Some(status)) => format!(" {status}"),
        (None, None) => String::new(),
    };
    format!(
        "{} {} {} {}{ending}",
        operation.id,
        operation.kind,
        operation.state.as_str(),
        operation.created_at.format("%Y-%m-%d %H:%M:%S"),
    )
}

/// A progress bar on standard error, redrawn in place.
fn draw(operation: &Operation) {
    const WIDTH: i64 = 30;
    let (done, total) = (operation.bytes_done, operation.bytes_total);
    let bar = match total {
        Some(total) if total > 0 => {
            let filled = usize::try_from(done.clamp(0, total) * WIDTH / total).unwrap_or(0);
            let empty = usize::try_from(WIDTH).unwrap_or(0) - filled;
            format!(
                "[{}{}] {:>3}% {} / {}",
                "#".repeat(filled),
                " ".repeat(empty),
                done.clamp(0, total) * 100 / total,
                mib(done),
                mib(total)
            )
        }
        _ => format!("[{:30}] {}", "", mib(done)),
    };
    eprint!("\r{} {:<9} {bar}", operation.id, operation.state.as_str());
    std::io::stderr().flush().ok();
}

fn mib(bytes: i64) -> String {
    #[allow(clippy::cast_precision_loss)] // a display figure
    let value = bytes as f64 / (1024.0 * 1024.0);
    format!("{value:.1} MiB")
}
