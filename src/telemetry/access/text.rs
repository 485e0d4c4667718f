//! The text form of an access line: the layout of Wharf's other log lines,
//! then `key=value` pairs, a value quoted only when it needs to be.
//!
//! Every request's line is formatted here, on the thread that served it,
//! so a line is built with few instructions: the date is worked out once a
//! second per thread, numbers are written without `core::fmt`, and whether
//! a value needs quoting is one table lookup a byte.

use std::cell::Cell;
use std::io::Write;
use std::net::IpAddr;

use chrono::DateTime;

use super::{CallerName, Entry, whole_micros};

/// What a key's id is written after, so that a key and a user who happens
/// to share its name are told apart.
pub(super) const KEY_PREFIX: &str = "key:";

thread_local! {
    /// The second last stamped on this thread and its text up to the
    /// seconds (`2026-11-30T21:51:20`): formatting a date is most of a
    /// line's cost, and a busy server logs many lines in one second.
    static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
}

/// Appends a stamp, in microseconds since the Unix epoch, as RFC 3339 in
/// UTC with microseconds (`2026-11-30T21:51:20.121323Z`). The calendar is
/// worked out only when the second changes.
pub(super) fn push_timestamp(line: &mut Vec<u8>, micros: u64) {
    let seconds = micros / 1_000_000;
    let (mut second, mut text) = SECOND.get();
    if second != seconds {
        second = seconds;
        let date = i64::try_from(seconds)
            .ok()
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0));
        if let Some(date) = date {
            // Writing into the 19-byte array only fails on a year past 9999.
            let mut slot: &mut [u8] = &mut text;
            let _ = write!(slot, "{}", date.format("%Y-%m-%dT%H:%M:%S"));
        }
        SECOND.set((second, text));
    }
    line.extend_from_slice(&text);
    line.push(b'.');
    push_digits::<6>(line, micros);
    line.push(b'Z');
}

/// Appends the last `WIDTH` decimal digits of `value`, zero-padded: a
/// constant number of bytes, copied without a call.
fn push_digits<const WIDTH: usize>(line: &mut Vec<u8>, mut value: u64) {
    let mut digits = [b'0'; WIDTH];
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
    line.extend_from_slice(&digits);
}

/// Appends `octet` in decimal.
fn push_octet(line: &mut Vec<u8>, octet: u8) {
    match octet {
        0..10 => line.push(b'0' + octet),
        10..100 => push_digits::<2>(line, octet.into()),
        _ => push_digits::<3>(line, octet.into()),
    }
}

/// Appends `value` in decimal.
fn push_integer(line: &mut Vec<u8>, value: impl itoa::Integer) {
    line.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends `entry`'s text line, stamped `stamp` (µs since the Unix epoch),
/// without the newline.
pub(super) fn push_text_line(line: &mut Vec<u8>, entry: &Entry<'_>, stamp: u64) {
    push_timestamp(line, stamp);
    line.extend_from_slice(b"  INFO wharf::access: client=");
    match entry.client {
        Some(IpAddr::V4(ip)) => {
            for (n, octet) in ip.octets().into_iter().enumerate() {
                if n > 0 {
                    line.push(b'.');
                }
                push_octet(line, octet);
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
    if (100..1000).contains(&entry.status) {
        push_digits::<3>(line, entry.status.into());
    } else {
        push_integer(line, entry.status);
    }
    line.extend_from_slice(b" bytes=");
    push_integer(line, entry.bytes);
    let micros = whole_micros(entry.duration_ms);
    line.extend_from_slice(b" duration_ms=");
    push_integer(line, micros / 1000);
    line.push(b'.');
    push_digits::<3>(line, micros);
    let caller = match entry.caller {
        None => ["-", ""],
        Some(CallerName::Key(id)) => [KEY_PREFIX, id],
        Some(CallerName::User(name)) => ["", name],
    };
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
/// Inlined, so that the key is copied as a constant and an empty part is
/// not checked at all.
#[inline]
fn push_pair_of_parts(line: &mut Vec<u8>, key: &str, value: [&str; 2]) {
    line.extend_from_slice(key.as_bytes());
    let [first, second] = value.map(str::as_bytes);
    if !(first.is_empty() && second.is_empty()) && all_plain(first) && all_plain(second) {
        line.extend_from_slice(first);
        line.extend_from_slice(second);
        return;
    }
    line.push(b'"');
    for part in value {
        for c in part.chars() {
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
    }
    line.push(b'"');
}

/// Whether every byte of `text` may stand unquoted: is printable ASCII
/// other than `"`, `\` and `=`. One table lookup a byte, eight bytes to a
/// step and no early exit (comparing each byte with each excluded one was
/// a third of the line's instructions; the compiler's vector code for it
/// was no faster on values this short).
fn all_plain(text: &[u8]) -> bool {
    let plain = |all: u8, &byte: &u8| all & PLAIN[usize::from(byte)];
    let (words, rest) = text.as_chunks::<8>();
    let all = words
        .iter()
        .fold(1, |all, word| word.iter().fold(all, plain));
    rest.iter().fold(all, plain) == 1
}

/// Which bytes may stand in a value unquoted (1) and which may not (0).
static PLAIN: [u8; 256] = {
    let mut plain = [0; 256];
    let mut byte = b'!';
    while byte <= b'~' {
        if !matches!(byte, b'"' | b'\\' | b'=') {
            plain[byte as usize] = 1;
        }
        byte += 1;
    }
    plain
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The rule, as the standard library says it.
    fn rule(byte: u8) -> bool {
        byte.is_ascii_graphic() && !matches!(byte, b'"' | b'\\' | b'=')
    }

    #[test]
    fn a_text_is_plain_exactly_when_each_of_its_bytes_is() {
        for byte in 0..=u8::MAX {
            for length in [1, 15, 16, 17, 40] {
                for position in [0, length / 2, length - 1] {
                    let mut text = vec![b'a'; length];
                    text[position] = byte;
                    assert_eq!(
                        all_plain(&text),
                        rule(byte),
                        "byte {byte:#x} at {position} of {length}"
                    );
                }
            }
        }
        assert!(all_plain(b""));
    }

    proptest! {
        #[test]
        fn all_plain_agrees_with_the_byte_by_byte_check(text in proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b' '), Just(b'='), Just(0x7f_u8), Just(0x80_u8), any::<u8>()],
            0..40,
        )) {
            prop_assert_eq!(all_plain(&text), text.iter().all(|&byte| rule(byte)));
        }
    }
}
