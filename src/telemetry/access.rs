//! The access log: one line per request, written off the request path.
//!
//! A request only copies its line's fields into its thread's buffer (a
//! [`record`]); a thread of its own formats what has gathered and writes
//! it, in one `write` call per interval, however slow stderr is (a
//! terminal, a pipe into a log shipper, a full disk): see
//! [`super::line_writer`]. When a buffer is full the line is dropped and
//! counted (`wharf_access_log_dropped_lines_total` in `/metrics`): a log
//! that falls behind must not slow serving down. Lines from different
//! threads may be written slightly out of order; their timestamps are not.
//!
//! The line is Wharf's own and not a `tracing` event because formatting an
//! event through the subscriber (span fields, a lock on stderr, a syscall
//! per line) cost a quarter of the manifest fetch's throughput. It never
//! holds a secret: the path is logged without its query string (`?key=` is
//! a way to authenticate) and the caller by key id or user name.

use std::cell::Cell;
use std::io::Write;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::DateTime;
use serde::Serialize;

use super::line_writer::{LineWriter, WriterGuard};
use crate::config::LogFormat;

mod record;

/// Bytes of records that may wait for the writer in each thread's buffer
/// before new ones are dropped: some 30,000 lines, seconds at full speed.
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

impl CallerName<'_> {
    /// The name in parts, written one after the other: the key's prefix is
    /// a part of its own, so that naming a key copies nothing.
    fn parts(&self) -> [&str; 2] {
        match self {
            Self::Key(id) => ["key:", id],
            Self::User(name) => ["", name],
        }
    }
}

impl Serialize for CallerName<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let [prefix, name] = self.parts();
        s.collect_str(&format_args!("{prefix}{name}"))
    }
}

fn milliseconds<S: serde::Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(rounded_milliseconds(*duration))
}

/// Milliseconds with microsecond precision.
fn rounded_milliseconds(duration: Duration) -> f64 {
    let micros = u32::try_from(duration.as_micros()).unwrap_or(u32::MAX);
    f64::from(micros) / 1000.0
}

/// Whole microseconds, as the line and its record count time.
fn whole_micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The process's access log.
pub struct AccessLog {
    writer: LineWriter,
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

/// Starts the writer thread on stderr, formatting lines in `format`, and
/// makes it the process's access log.
pub(super) fn install(format: LogFormat) -> std::io::Result<WriterGuard> {
    let (writer, guard) = LineWriter::start(
        "wharf-access-log",
        std::io::stderr(),
        BUFFER_BYTES_PER_THREAD,
        move |records, text| {
            record::decode_each(records, |entry, stamp| {
                push_line(text, entry, format, stamp);
            });
        },
    )?;
    let _ = ACCESS_LOG.set(AccessLog { writer });
    Ok(guard)
}

impl AccessLog {
    /// Hands one line's fields to the writer thread, stamped now; never
    /// waits for the output.
    pub fn write(&self, entry: &Entry<'_>) {
        let now = SystemTime::now();
        self.writer
            .send(|records| record::encode(records, entry, now));
    }

    /// Lines dropped because the writer fell behind.
    pub fn dropped_lines(&self) -> u64 {
        self.writer.dropped_lines()
    }
}

thread_local! {
    /// The second last stamped on this thread (the writer's) and its text
    /// up to the seconds (`2026-11-30T21:51:20`): formatting a date is most
    /// of a line's cost, and a busy server logs many lines in one second.
    static SECOND: Cell<(i64, [u8; 19])> = const { Cell::new((i64::MIN, [0; 19])) };
}

/// Appends `now` as RFC 3339 in UTC with microseconds
/// (`2026-11-30T21:51:20.121323Z`). The calendar is worked out only when
/// the second changes.
fn push_timestamp(line: &mut Vec<u8>, now: SystemTime) {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
    let (mut second, mut text) = SECOND.get();
    if second != seconds {
        second = seconds;
        if let Some(date) = DateTime::from_timestamp(seconds, 0) {
            // Writing into the 19-byte array only fails on a year past 9999.
            let mut slot: &mut [u8] = &mut text;
            let _ = write!(slot, "{}", date.format("%Y-%m-%dT%H:%M:%S"));
        }
        SECOND.set((second, text));
    }
    line.extend_from_slice(&text);
    line.push(b'.');
    push_zero_padded(line, since_epoch.subsec_micros(), 6);
    line.push(b'Z');
}

/// Appends `value` in decimal with at least `width` digits.
fn push_zero_padded(line: &mut Vec<u8>, value: u32, width: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(value);
    line.extend(std::iter::repeat_n(
        b'0',
        width.saturating_sub(digits.len()),
    ));
    line.extend_from_slice(digits.as_bytes());
}

/// Appends `value` in decimal.
fn push_integer(line: &mut Vec<u8>, value: impl itoa::Integer) {
    line.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends one line, newline included, in `format`, stamped `now`.
fn push_line(line: &mut Vec<u8>, entry: &Entry<'_>, format: LogFormat, now: SystemTime) {
    match format {
        LogFormat::Text => text_line(line, now, entry),
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
            push_timestamp(&mut timestamp, now);
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

/// The text form: the layout of the other log lines, then `key=value` pairs
/// (values quoted when they hold spaces, quotes or control characters).
/// Numbers are written without `core::fmt` (itself a tenth of the line).
fn text_line(line: &mut Vec<u8>, now: SystemTime, entry: &Entry<'_>) {
    push_timestamp(line, now);
    line.extend_from_slice(b"  INFO wharf::access: client=");
    match entry.client {
        Some(IpAddr::V4(ip)) => {
            for (n, octet) in ip.octets().into_iter().enumerate() {
                if n > 0 {
                    line.push(b'.');
                }
                push_integer(line, octet);
            }
        }
        Some(ip) => {
            let _ = write!(line, "{ip}");
        }
        None => line.push(b'-'),
    }
    push_pair(line, " method=", entry.method);
    push_pair(line, " path=", entry.path);
    line.extend_from_slice(b" status=");
    push_integer(line, entry.status);
    line.extend_from_slice(b" bytes=");
    push_integer(line, entry.bytes);
    let micros = whole_micros(entry.duration_ms);
    line.extend_from_slice(b" duration_ms=");
    push_integer(line, micros / 1000);
    line.push(b'.');
    // Below 1000: fits.
    push_zero_padded(line, u32::try_from(micros % 1000).unwrap_or(0), 3);
    let caller = entry.caller.as_ref().map_or(["-", ""], CallerName::parts);
    push_pair_of_parts(line, " caller=", caller);
    push_pair(line, " user_agent=", entry.user_agent.unwrap_or("-"));
    push_pair(line, " request_id=", entry.request_id);
}

/// ` key=value`, the value quoted and escaped only when it holds spaces,
/// quotes, `=`, backslashes, control or non-ASCII characters, or nothing.
fn push_pair(line: &mut Vec<u8>, key: &str, value: &str) {
    push_pair_of_parts(line, key, [value, ""]);
}

/// [`push_pair`] for a value given in two parts, as if they were one.
fn push_pair_of_parts(line: &mut Vec<u8>, key: &str, value: [&str; 2]) {
    line.extend_from_slice(key.as_bytes());
    let [first, second] = value;
    if !(first.is_empty() && second.is_empty()) && all_plain(first) && all_plain(second) {
        line.extend_from_slice(first.as_bytes());
        line.extend_from_slice(second.as_bytes());
        return;
    }
    line.push(b'"');
    for c in value.iter().flat_map(|part| part.chars()) {
        match c {
            '"' => line.extend_from_slice(b"\\\""),
            '\\' => line.extend_from_slice(b"\\\\"),
            c if c.is_control() => {
                let _ = write!(line, "\\u{{{:x}}}", u32::from(c));
            }
            c => {
                let mut utf8 = [0; 4];
                line.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
    line.push(b'"');
}

/// Whether `byte` may stand in a value unquoted.
const fn is_plain(byte: u8) -> bool {
    byte.is_ascii_graphic() && !matches!(byte, b'"' | b'\\' | b'=')
}

/// Whether every byte of `text` may stand unquoted. No early exit, so that
/// many bytes are compared at a time (byte by byte: 2/5 of the line's cost).
fn all_plain(text: &str) -> bool {
    text.bytes()
        .fold(true, |plain, byte| plain & is_plain(byte))
}

#[cfg(test)]
mod tests;
