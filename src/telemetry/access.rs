//! The access log: one line per request, written off the request path.
//!
//! A request only formats its line into its thread's buffer; a thread of
//! its own writes what has gathered, in few `write` calls, however slow
//! stderr is (a terminal, a pipe into a log shipper, a full disk): see
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

/// Starts the writer thread on stderr and makes it the process's access log.
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
    /// Buffers one line; never waits for the output.
    pub fn write(&self, entry: &Entry<'_>) {
        let now = SystemTime::now();
        self.writer
            .send(|buffer| push_line(buffer, entry, self.format, now));
    }

    /// Lines dropped because the writer fell behind.
    pub fn dropped_lines(&self) -> u64 {
        self.writer.dropped_lines()
    }
}

thread_local! {
    /// The second last stamped on this thread and its text up to the
    /// seconds (`2026-11-30T21:51:20`): formatting a date is most of a
    /// line's cost, and a busy thread stamps many lines in the same second.
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
    let micros = u64::try_from(entry.duration_ms.as_micros()).unwrap_or(u64::MAX);
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
mod tests {
    use super::*;

    /// One line, newline included, in `format`, stamped `now`.
    fn format_line(entry: &Entry<'_>, format: LogFormat, now: SystemTime) -> Vec<u8> {
        let mut line = Vec::new();
        push_line(&mut line, entry, format, now);
        line
    }

    fn entry<'a>(user_agent: Option<&'a str>, caller: Option<CallerName<'a>>) -> Entry<'a> {
        Entry {
            client: Some("192.0.2.7".parse().unwrap()),
            method: "GET",
            path: "/upack/main/download-vpack/manifests/release",
            status: 200,
            bytes: 512,
            duration_ms: Duration::from_micros(1_234),
            caller,
            user_agent,
            request_id: "7d5c",
        }
    }

    fn at() -> SystemTime {
        DateTime::parse_from_rfc3339("2026-11-30T21:51:20.121323Z")
            .unwrap()
            .into()
    }

    #[test]
    fn a_text_line_has_every_field_as_key_value() {
        let line = format_line(
            &entry(
                Some("upack/3.1 (Linux)"),
                Some(CallerName::Key("ab12cd34ef56")),
            ),
            LogFormat::Text,
            at(),
        );
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "2026-11-30T21:51:20.121323Z  INFO wharf::access: client=192.0.2.7 method=GET \
             path=/upack/main/download-vpack/manifests/release status=200 bytes=512 \
             duration_ms=1.234 caller=key:ab12cd34ef56 user_agent=\"upack/3.1 (Linux)\" \
             request_id=7d5c\n"
        );
    }

    #[test]
    fn a_text_line_shows_an_ipv6_client_and_a_missing_one() {
        let mut v6 = entry(None, None);
        v6.client = Some("2001:db8::7".parse().unwrap());
        let line = String::from_utf8(format_line(&v6, LogFormat::Text, at())).unwrap();
        assert!(line.contains(" client=2001:db8::7 method=GET "), "{line}");
        let mut unknown = entry(None, None);
        unknown.client = None;
        let line = String::from_utf8(format_line(&unknown, LogFormat::Text, at())).unwrap();
        assert!(line.contains(" client=- method=GET "), "{line}");
    }

    #[test]
    fn text_values_that_could_forge_a_field_or_a_line_are_quoted() {
        let line = format_line(
            &entry(Some("evil\" status=500\nfake line"), None),
            LogFormat::Text,
            at(),
        );
        let line = String::from_utf8(line).unwrap();
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(
            line.contains(r#"user_agent="evil\" status=500\u{a}fake line""#),
            "{line}"
        );
        assert!(line.contains(" caller=- "), "{line}");
    }

    #[test]
    fn the_caller_is_a_key_by_id_or_a_user_quoted_like_any_value() {
        let text = |caller| {
            let line = format_line(&entry(None, Some(caller)), LogFormat::Text, at());
            String::from_utf8(line).unwrap()
        };
        assert!(text(CallerName::Key("ab12")).contains(" caller=key:ab12 "));
        let user = text(CallerName::User("mallory status=500"));
        assert!(user.contains(r#" caller="mallory status=500" "#), "{user}");
        assert!(text(CallerName::User("")).contains(r#" caller="" "#));
        let json = format_line(
            &entry(None, Some(CallerName::Key("ab12"))),
            LogFormat::Json,
            at(),
        );
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["caller"], "key:ab12");
    }

    #[test]
    fn a_json_line_is_one_object_with_the_same_fields() {
        let line = format_line(
            &entry(Some("pgutil"), Some(CallerName::User("ci-bot"))),
            LogFormat::Json,
            at(),
        );
        assert_eq!(line.last(), Some(&b'\n'));
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "timestamp": "2026-11-30T21:51:20.121323Z",
                "level": "INFO",
                "target": "wharf::access",
                "client": "192.0.2.7",
                "method": "GET",
                "path": "/upack/main/download-vpack/manifests/release",
                "status": 200,
                "bytes": 512,
                "duration_ms": 1.234,
                "caller": "ci-bot",
                "user_agent": "pgutil",
                "request_id": "7d5c",
            })
        );
    }

    #[test]
    fn the_timestamp_follows_the_clock_across_seconds_and_days() {
        for text in [
            "2026-11-30T23:59:59.999999Z",
            "2026-12-01T00:00:00.000001Z",
            "2026-12-01T00:00:00.500000Z",
            "2026-11-30T23:59:59.000000Z",
        ] {
            let at = DateTime::parse_from_rfc3339(text).unwrap().into();
            let mut stamp = Vec::new();
            push_timestamp(&mut stamp, at);
            assert_eq!(String::from_utf8(stamp).unwrap(), text);
        }
    }

    #[test]
    fn the_text_duration_is_milliseconds_with_three_decimals() {
        for (micros, shown) in [
            (0, "0.000"),
            (999, "0.999"),
            (1_000, "1.000"),
            (61_000_042, "61000.042"),
        ] {
            let mut line_entry = entry(None, None);
            line_entry.duration_ms = Duration::from_micros(micros);
            let line = String::from_utf8(format_line(&line_entry, LogFormat::Text, at())).unwrap();
            assert!(line.contains(&format!(" duration_ms={shown} ")), "{line}");
        }
    }
}
