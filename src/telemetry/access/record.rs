//! An access-log entry as a request thread hands it to the writer thread:
//! its fields copied in binary, not formatted.
//!
//! Why not the finished line: formatting it (the timestamp, the numbers,
//! the quoting checks) was some 2,000 of the 2,700 instructions the access
//! log added to the request's own thread on the manifest fetch. A record
//! is copies of a few numbers and the request's strings, about half the
//! bytes of its line; the writer thread formats a batch at a time, where
//! it delays no response. The work is moved, not saved: on a machine whose
//! cores are all busy serving, the total is about the same.
//!
//! Layout, numbers little-endian: stamp (µs since the Unix epoch, u64),
//! duration (µs, u64), bytes (u64), status (u16), client (a tag, 0 none,
//! 4 or 6, then its octets), caller (a tag, 0 none, 1 key, 2 user, then
//! the name), user agent (a tag, 0 none or 1, then the text), then method,
//! path and request id. Each text is a u32 length and its bytes. Only this
//! process reads records, in the order it wrote them; decoding still
//! checks every length, and stops at the first record that does not parse
//! rather than trust it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{CallerName, Entry, whole_micros};

/// Appends `entry`, stamped `now`, to `records`.
pub(super) fn encode(records: &mut Vec<u8>, entry: &Entry<'_>, now: SystemTime) {
    let stamp = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    records.extend_from_slice(&whole_micros(stamp).to_le_bytes());
    records.extend_from_slice(&whole_micros(entry.duration_ms).to_le_bytes());
    records.extend_from_slice(&entry.bytes.to_le_bytes());
    records.extend_from_slice(&entry.status.to_le_bytes());
    match entry.client {
        None => records.push(0),
        Some(IpAddr::V4(ip)) => {
            records.push(4);
            records.extend_from_slice(&ip.octets());
        }
        Some(IpAddr::V6(ip)) => {
            records.push(6);
            records.extend_from_slice(&ip.octets());
        }
    }
    match entry.caller {
        None => records.push(0),
        Some(CallerName::Key(id)) => {
            records.push(1);
            push_text(records, id);
        }
        Some(CallerName::User(name)) => {
            records.push(2);
            push_text(records, name);
        }
    }
    match entry.user_agent {
        None => records.push(0),
        Some(agent) => {
            records.push(1);
            push_text(records, agent);
        }
    }
    push_text(records, entry.method);
    push_text(records, entry.path);
    push_text(records, entry.request_id);
}

/// Calls `each` with every entry in `records` and its stamp, in order.
pub(super) fn decode_each(records: &[u8], mut each: impl FnMut(&Entry<'_>, SystemTime)) {
    let mut reader = Reader(records);
    while !reader.0.is_empty() {
        let Some((entry, stamp)) = reader.entry() else {
            return;
        };
        each(&entry, stamp);
    }
}

fn push_text(records: &mut Vec<u8>, text: &str) {
    // A text longer than 4 GiB cannot reach a request's line.
    let length = u32::try_from(text.len()).unwrap_or(u32::MAX);
    records.extend_from_slice(&length.to_le_bytes());
    records.extend_from_slice(text.as_bytes());
}

/// The records not read yet.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn entry(&mut self) -> Option<(Entry<'a>, SystemTime)> {
        let stamp = UNIX_EPOCH.checked_add(Duration::from_micros(self.u64()?))?;
        let duration_ms = Duration::from_micros(self.u64()?);
        let bytes = self.u64()?;
        let status = u16::from_le_bytes(self.array()?);
        let client = match self.u8()? {
            0 => None,
            4 => Some(IpAddr::V4(Ipv4Addr::from(self.array::<4>()?))),
            6 => Some(IpAddr::V6(Ipv6Addr::from(self.array::<16>()?))),
            _ => return None,
        };
        let caller = match self.u8()? {
            0 => None,
            1 => Some(CallerName::Key(self.text()?)),
            2 => Some(CallerName::User(self.text()?)),
            _ => return None,
        };
        let user_agent = match self.u8()? {
            0 => None,
            1 => Some(self.text()?),
            _ => return None,
        };
        let entry = Entry {
            client,
            method: self.text()?,
            path: self.text()?,
            status,
            bytes,
            duration_ms,
            caller,
            user_agent,
            request_id: self.text()?,
        };
        Some((entry, stamp))
    }

    fn take(&mut self, length: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.0.split_at_checked(length)?;
        self.0 = rest;
        Some(taken)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }

    fn text(&mut self) -> Option<&'a str> {
        let length = usize::try_from(u32::from_le_bytes(self.array()?)).ok()?;
        std::str::from_utf8(self.take(length)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(records: &[u8]) -> Vec<String> {
        let mut shown = Vec::new();
        decode_each(records, |entry, stamp| {
            shown.push(format!("{entry:?} {stamp:?}"));
        });
        shown
    }

    #[test]
    fn every_field_comes_back_as_it_was_written() {
        let entries = [
            super::super::tests::entry(
                Some("upack/3.1 (Linux) \"quoted\" ünïcode"),
                Some(CallerName::Key("ab12cd34ef56")),
            ),
            Entry {
                client: Some("2001:db8::7".parse().unwrap()),
                method: "PUT",
                path: "",
                status: 413,
                bytes: u64::MAX,
                duration_ms: Duration::from_secs(3_600),
                caller: Some(CallerName::User("ci bot")),
                user_agent: None,
                request_id: "",
            },
            Entry {
                client: None,
                method: "DELETE",
                path: "/",
                status: 500,
                bytes: 0,
                duration_ms: Duration::ZERO,
                caller: None,
                user_agent: Some(""),
                request_id: "x",
            },
        ];
        let stamp = UNIX_EPOCH + Duration::from_micros(1_796_075_480_121_323);
        let mut records = Vec::new();
        for entry in &entries {
            encode(&mut records, entry, stamp);
        }
        let expected: Vec<String> = entries
            .iter()
            .map(|entry| format!("{entry:?} {stamp:?}"))
            .collect();
        assert_eq!(decoded(&records), expected);
    }

    #[test]
    fn a_record_cut_short_or_with_an_unknown_tag_ends_decoding_without_a_panic() {
        let entry = Entry {
            client: Some("192.0.2.7".parse().unwrap()),
            method: "GET",
            path: "/health",
            status: 200,
            bytes: 2,
            duration_ms: Duration::from_micros(5),
            caller: None,
            user_agent: Some("curl"),
            request_id: "id",
        };
        let mut records = Vec::new();
        encode(&mut records, &entry, UNIX_EPOCH);
        let whole = records.len();
        encode(&mut records, &entry, UNIX_EPOCH);
        for cut in 0..records.len() {
            let kept = decoded(&records[..cut]).len();
            assert_eq!(kept, usize::from(cut >= whole), "cut at byte {cut}");
        }
        // The client's tag is the 27th byte: 5 is no address family.
        records[26] = 5;
        assert!(decoded(&records).is_empty());
    }
}
