//! The access log: one line per request, written off the request path.
//!
//! A request formats its line into its thread's buffer; a thread of its
//! own writes what has gathered, a few `write` calls per interval, however
//! slow stderr is (a terminal, a pipe into a log shipper, a full disk): see
//! [`super::line_writer`]. The line is formatted where it is made because
//! handing its fields over instead (a binary record the writer formatted)
//! cost more in all: encoding and decoding the record came on top of the
//! same formatting, and on a server whose cores are all busy the total is
//! what serving loses. When a buffer is full the line is dropped and
//! counted (`wharf_access_log_dropped_lines_total` in `/metrics`): a log
//! that falls behind must not slow serving down. Lines from different
//! threads may be written slightly out of order; their timestamps are not.
//!
//! The line is Wharf's own and not a `tracing` event because formatting an
//! event through the subscriber (span fields, a lock on stderr, a syscall
//! per line) cost a quarter of the manifest fetch's throughput. It never
//! holds a secret: the path is logged without its query string (`?key=` is
//! a way to authenticate) and the caller by key id or user name.

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::line_writer::{LineWriter, WriterGuard};
use crate::config::LogFormat;

mod text;

/// Bytes of lines that may wait for the writer in each thread's buffer
/// before new ones are dropped: some 20,000 lines, seconds at full speed.
const BUFFER_BYTES_PER_THREAD: usize = 4 << 20;

/// What one line says about one request.
#[derive(Debug, Clone, Serialize)]
pub struct Entry<'a> {
    /// The client's address, if the connection had one.
    pub client: Option<IpAddr>,
    /// The request method.
    pub method: &'a str,
    /// The path, without the query string.
    pub path: &'a str,
    /// The response status.
    pub status: u16,
    /// Body bytes sent (headers not counted).
    pub bytes: u64,
    /// From the request's arrival to its body's last byte handed to the
    /// connection, in milliseconds.
    #[serde(serialize_with = "milliseconds")]
    pub duration_ms: Duration,
    /// Who asked; `None` when anonymous.
    pub caller: Option<CallerName<'a>>,
    /// The client's `User-Agent`.
    pub user_agent: Option<&'a str>,
    /// The id also sent as `x-request-id`.
    pub request_id: &'a str,
}

/// Who made a request, as its line names them: never a secret.
#[derive(Debug, Clone, Copy)]
pub enum CallerName<'a> {
    /// An API key, by its public id: written `key:<id>`.
    Key(&'a str),
    /// A user, by name.
    User(&'a str),
}

impl Serialize for CallerName<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Key(id) => s.collect_str(&format_args!("{}{id}", text::KEY_PREFIX)),
            Self::User(name) => s.serialize_str(name),
        }
    }
}

fn milliseconds<S: serde::Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(rounded_milliseconds(*duration))
}

/// Milliseconds with microsecond precision.
fn rounded_milliseconds(duration: Duration) -> f64 {
    let micros = u32::try_from(whole_micros(duration)).unwrap_or(u32::MAX);
    f64::from(micros) / 1000.0
}

/// Whole microseconds, as the line counts time.
fn whole_micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The process's access log.
pub struct AccessLog {
    writer: LineWriter,
    format: LogFormat,
}

static ACCESS_LOG: OnceLock<AccessLog> = OnceLock::new();

/// The access log, if logging is set up and lets it through.
pub fn get() -> Option<&'static AccessLog> {
    ACCESS_LOG.get()
}

/// Lines dropped because the writer fell behind, since the process started.
pub fn dropped_lines() -> u64 {
    get().map_or(0, AccessLog::dropped_lines)
}

/// Starts the writer thread on stderr and makes it the process's access
/// log, its lines in `format`.
pub(super) fn install(format: LogFormat) -> std::io::Result<WriterGuard> {
    let (writer, guard) = LineWriter::start(
        "wharf-access-log",
        std::io::stderr(),
        BUFFER_BYTES_PER_THREAD,
    )?;
    let _ = ACCESS_LOG.set(AccessLog { writer, format });
    Ok(guard)
}

impl AccessLog {
    /// Formats one line, stamped now, into this thread's buffer for the
    /// writer thread; never waits for the output.
    pub fn write(&self, entry: &Entry<'_>) {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.writer
            .send(|lines| push_line(lines, entry, self.format, whole_micros(stamp)));
    }

    /// Lines dropped because the writer fell behind.
    pub fn dropped_lines(&self) -> u64 {
        self.writer.dropped_lines()
    }
}

/// Appends `entry`'s line, stamped `stamp` (µs since the Unix epoch), in
/// `format`, newline included.
fn push_line(line: &mut Vec<u8>, entry: &Entry<'_>, format: LogFormat, stamp: u64) {
    match format {
        LogFormat::Text => text::push_text_line(line, entry, stamp),
        LogFormat::Json => {
            #[derive(Serialize)]
            struct Line<'a> {
                timestamp: &'a str,
                level: &'static str,
                target: &'static str,
                #[serde(flatten)]
                entry: &'a Entry<'a>,
            }
            let mut timestamp = Vec::with_capacity(27);
            text::push_timestamp(&mut timestamp, stamp);
            let line_fields = Line {
                timestamp: std::str::from_utf8(&timestamp).unwrap_or_default(),
                level: "INFO",
                target: "wharf::access",
                entry,
            };
            // Serializing borrowed strings and numbers into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *line, &line_fields);
        }
    }
    line.push(b'\n');
}

#[cfg(test)]
mod tests;
