//! The access log: one line per request, written off the request path.
//!
//! A request only formats its line (into one buffer) and hands it to a
//! bounded queue; `tracing_appender`'s worker thread writes whatever has
//! queued with one `write` to stderr, however slow stderr is (a terminal, a
//! pipe into a log shipper, a full disk). When the queue is full the line is
//! dropped and counted (`wharf_access_log_dropped_lines_total` in
//! `/metrics`): a log that falls behind must not slow serving down.
//!
//! The line is Wharf's own and not a `tracing` event because formatting an
//! event through the subscriber (span fields, a lock on stderr, a syscall
//! per line) cost a quarter of the manifest fetch's throughput. It never
//! holds a secret: the path is logged without its query string (`?key=` is
//! a way to authenticate) and the caller by key id or user name.

use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};

use crate::config::LogFormat;

/// Lines that may wait for the writer before new ones are dropped: a few
/// seconds at full speed, a few megabytes at most.
const QUEUE_LINES: usize = 1 << 16;

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
    /// `key:<id>` or a user name; `None` when anonymous.
    pub caller: Option<&'a str>,
    /// The client's `User-Agent`.
    pub user_agent: Option<&'a str>,
    /// The id also sent as `x-request-id`.
    pub request_id: &'a str,
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
    writer: NonBlocking,
    dropped: ErrorCounter,
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
pub(super) fn install(format: LogFormat) -> WorkerGuard {
    let (log, guard) = AccessLog::new(std::io::stderr(), format, QUEUE_LINES);
    let _ = ACCESS_LOG.set(log);
    guard
}

impl AccessLog {
    /// An access log writing to `out` from a thread of its own, queueing at
    /// most `queue_lines` lines.
    pub fn new<W: Write + Send + 'static>(
        out: W,
        format: LogFormat,
        queue_lines: usize,
    ) -> (Self, WorkerGuard) {
        // The worker flushes when its queue is empty, so a burst of lines
        // goes out in one write.
        let (writer, guard) = NonBlockingBuilder::default()
            .lossy(true)
            .buffered_lines_limit(queue_lines)
            .thread_name("wharf-access-log")
            .finish(BufWriter::with_capacity(64 * 1024, out));
        let dropped = writer.error_counter();
        (
            Self {
                writer,
                dropped,
                format,
            },
            guard,
        )
    }

    /// Queues one line; never waits.
    pub fn write(&self, entry: &Entry<'_>) {
        let line = format_line(entry, self.format, Utc::now());
        // `NonBlocking` queues each `write` as one message; a full queue
        // counts the line as dropped and still reports success.
        let _ = self.writer.clone().write_all(&line);
    }

    /// Lines dropped because the writer fell behind.
    pub fn dropped_lines(&self) -> u64 {
        u64::try_from(self.dropped.dropped_lines()).unwrap_or(u64::MAX)
    }
}

/// One line, newline included, in `format`, stamped `now`.
pub fn format_line(entry: &Entry<'_>, format: LogFormat, now: DateTime<Utc>) -> Vec<u8> {
    let timestamp = now.to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut line = Vec::with_capacity(320);
    match format {
        LogFormat::Text => text_line(&mut line, &timestamp, entry),
        LogFormat::Json => {
            #[derive(Serialize)]
            struct Line<'a> {
                timestamp: &'a str,
                level: &'static str,
                target: &'static str,
                #[serde(flatten)]
                entry: &'a Entry<'a>,
            }
            let line_fields = Line {
                timestamp: &timestamp,
                level: "INFO",
                target: "wharf::access",
                entry,
            };
            // Serializing borrowed strings and numbers into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut line, &line_fields);
        }
    }
    line.push(b'\n');
    line
}

/// The text form: the layout of the other log lines, then `key=value` pairs
/// (values quoted when they hold spaces, quotes or control characters).
fn text_line(line: &mut Vec<u8>, timestamp: &str, entry: &Entry<'_>) {
    let client = entry
        .client
        .map_or_else(|| "-".to_owned(), |ip| ip.to_string());
    let _ = write!(line, "{timestamp}  INFO wharf::access: client={client}");
    let _ = write!(line, " method={}", Value(entry.method));
    let _ = write!(line, " path={}", Value(entry.path));
    let _ = write!(
        line,
        " status={} bytes={} duration_ms={:.3}",
        entry.status,
        entry.bytes,
        rounded_milliseconds(entry.duration_ms)
    );
    let _ = write!(line, " caller={}", Value(entry.caller.unwrap_or("-")));
    let _ = write!(
        line,
        " user_agent={}",
        Value(entry.user_agent.unwrap_or("-"))
    );
    let _ = write!(line, " request_id={}", Value(entry.request_id));
}

/// A text value, quoted and escaped only when it needs to be.
struct Value<'a>(&'a str);

impl std::fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plain = !self.0.is_empty()
            && self
                .0
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' && c != '=');
        if plain {
            return f.write_str(self.0);
        }
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(user_agent: Option<&'a str>, caller: Option<&'a str>) -> Entry<'a> {
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

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T21:51:20.121323Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_text_line_has_every_field_as_key_value() {
        let line = format_line(
            &entry(Some("upack/3.1 (Linux)"), Some("key:ab12cd34ef56")),
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
    fn a_json_line_is_one_object_with_the_same_fields() {
        let line = format_line(
            &entry(Some("pgutil"), Some("ci-bot")),
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

    /// A writer that blocks until the test lets it go, as a stalled pipe does.
    struct Stalled {
        released: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
        written: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    }

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (lock, released) = &*self.released;
            let mut go = lock.lock().unwrap();
            while !*go {
                go = released.wait(go).unwrap();
            }
            self.written.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_writer_drops_and_counts_lines_instead_of_blocking_requests() {
        let released =
            std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let written = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let out = Stalled {
            released: released.clone(),
            written: written.clone(),
        };
        // A tiny buffer: the BufWriter in front of `out` is 64 KiB, so make
        // the lines bigger than that to reach the stalled writer.
        let (log, guard) = AccessLog::new(out, LogFormat::Text, 4);
        let log = std::sync::Arc::new(log);
        let (done, finished) = std::sync::mpsc::channel();
        let writing = log.clone();
        std::thread::spawn(move || {
            let long_agent = "x".repeat(70 * 1024);
            for _ in 0..200 {
                writing.write(&entry(Some(&long_agent), None));
            }
            let _ = done.send(());
        });
        // If writing a line waited for the writer, the loop would never end.
        finished
            .recv_timeout(Duration::from_secs(60))
            .expect("writing lines waited for the stalled writer");
        assert!(log.dropped_lines() > 0, "a full queue drops lines");
        assert!(
            log.dropped_lines() < 200,
            "lines that fit in the queue are kept"
        );
        let (lock, go) = &*released;
        *lock.lock().unwrap() = true;
        go.notify_all();
        drop(guard);
        let kept = String::from_utf8(written.lock().unwrap().clone())
            .unwrap()
            .lines()
            .count();
        assert_eq!(
            u64::try_from(kept).unwrap() + log.dropped_lines(),
            200,
            "every line is either written or counted as dropped"
        );
    }
}
