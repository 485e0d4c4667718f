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
//! 4 or 6, then sixteen octets, an IPv4 address in the first four), the
//! caller's tag (0 none, 1 key, 2 user) and the user agent's (0 none, 1),
//! the u32 lengths of five texts, then the texts: caller, user agent,
//! method, path and request id (an absent one empty). Only this
//! process reads records, in the order it wrote them; decoding still
//! checks every length, and stops at the first record that does not parse
//! rather than trust it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{CallerName, Entry, whole_micros};

/// Bytes of a record before its texts: stamp, duration, bytes, status,
/// client (tag and sixteen octets), caller and user agent tags, and the
/// five texts' lengths.
const HEAD: usize = 8 + 8 + 8 + 2 + (1 + 16) + 2 + 5 * 4;

/// Appends `entry`, stamped `now`, to `records`: the head made on the
/// stack and copied in one go, then the texts, so that a request pays for
/// six copies rather than one per field.
pub(super) fn encode(records: &mut Vec<u8>, entry: &Entry<'_>, now: SystemTime) {
    let stamp = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut octets = [0; 16];
    let client_tag = match entry.client {
        None => 0,
        Some(IpAddr::V4(ip)) => {
            octets[..4].copy_from_slice(&ip.octets());
            4
        }
        Some(IpAddr::V6(ip)) => {
            octets = ip.octets();
            6
        }
    };
    let (caller_tag, caller) = match entry.caller {
        None => (0, ""),
        Some(CallerName::Key(id)) => (1, id),
        Some(CallerName::User(name)) => (2, name),
    };
    let (agent_tag, agent) = entry.user_agent.map_or((0, ""), |agent| (1, agent));
    let texts = [caller, agent, entry.method, entry.path, entry.request_id];

    let mut head = [0; HEAD];
    let mut filled = 0;
    let mut put = |bytes: &[u8]| {
        head[filled..filled + bytes.len()].copy_from_slice(bytes);
        filled += bytes.len();
    };
    put(&whole_micros(stamp).to_le_bytes());
    put(&whole_micros(entry.duration_ms).to_le_bytes());
    put(&entry.bytes.to_le_bytes());
    put(&entry.status.to_le_bytes());
    put(&[client_tag]);
    put(&octets);
    put(&[caller_tag, agent_tag]);
    for text in texts {
        // A text longer than 4 GiB cannot reach a request's line.
        put(&u32::try_from(text.len()).unwrap_or(u32::MAX).to_le_bytes());
    }
    records.reserve(HEAD + texts.iter().map(|text| text.len()).sum::<usize>());
    records.extend_from_slice(&head);
    for text in texts {
        records.extend_from_slice(text.as_bytes());
    }
}

/// Calls `each` with every record in `records`, in order.
pub(super) fn decode_each(records: &[u8], mut each: impl FnMut(&Record<'_>)) {
    let mut reader = Reader(records);
    while !reader.0.is_empty() {
        let Some(record) = reader.record() else {
            return;
        };
        each(&record);
    }
}

/// Who asked, as a record names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CallerKind {
    Key,
    User,
}

/// One entry as decoded. Its texts stay the bytes they were copied from
/// (every one a `&str` then): the text line copies a value that needs no
/// quoting as it is, ASCII by that check, so the usual line is written
/// without its texts checked for UTF-8 a second time.
#[derive(Debug)]
pub(super) struct Record<'a> {
    pub(super) stamp_micros: u64,
    pub(super) duration_micros: u64,
    pub(super) bytes: u64,
    pub(super) status: u16,
    pub(super) client: Option<IpAddr>,
    pub(super) caller: Option<(CallerKind, &'a [u8])>,
    pub(super) user_agent: Option<&'a [u8]>,
    pub(super) method: &'a [u8],
    pub(super) path: &'a [u8],
    pub(super) request_id: &'a [u8],
}

impl<'a> Record<'a> {
    /// The entry as it was written, for the JSON line; `None` only if a
    /// text is not UTF-8, which a record made by [`encode`] cannot be.
    pub(super) fn entry(&self) -> Option<Entry<'a>> {
        let text = |bytes| std::str::from_utf8(bytes).ok();
        Some(Entry {
            client: self.client,
            method: text(self.method)?,
            path: text(self.path)?,
            status: self.status,
            bytes: self.bytes,
            duration_ms: Duration::from_micros(self.duration_micros),
            caller: match self.caller {
                None => None,
                Some((CallerKind::Key, id)) => Some(CallerName::Key(text(id)?)),
                Some((CallerKind::User, name)) => Some(CallerName::User(text(name)?)),
            },
            user_agent: match self.user_agent {
                None => None,
                Some(agent) => Some(text(agent)?),
            },
            request_id: text(self.request_id)?,
        })
    }
}

/// The records not read yet.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn record(&mut self) -> Option<Record<'a>> {
        let mut head = Reader(self.take(HEAD)?);
        let stamp_micros = head.u64()?;
        let duration_micros = head.u64()?;
        let bytes = head.u64()?;
        let status = u16::from_le_bytes(head.array()?);
        let client_tag = head.u8()?;
        let octets: [u8; 16] = head.array()?;
        let client = match client_tag {
            0 => None,
            4 => Some(IpAddr::V4(Ipv4Addr::new(
                octets[0], octets[1], octets[2], octets[3],
            ))),
            6 => Some(IpAddr::V6(Ipv6Addr::from(octets))),
            _ => return None,
        };
        let [caller_tag, agent_tag] = head.array()?;
        let mut text = || {
            let length = usize::try_from(u32::from_le_bytes(head.array()?)).ok()?;
            self.take(length)
        };
        let caller = text()?;
        let user_agent = text()?;
        let (method, path, request_id) = (text()?, text()?, text()?);
        Some(Record {
            stamp_micros,
            duration_micros,
            bytes,
            status,
            client,
            caller: match caller_tag {
                0 => None,
                1 => Some((CallerKind::Key, caller)),
                2 => Some((CallerKind::User, caller)),
                _ => return None,
            },
            user_agent: match agent_tag {
                0 => None,
                1 => Some(user_agent),
                _ => return None,
            },
            method,
            path,
            request_id,
        })
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(records: &[u8]) -> Vec<String> {
        let mut shown = Vec::new();
        decode_each(records, |record| {
            let entry = record.entry().unwrap();
            shown.push(format!("{entry:?} {}", record.stamp_micros));
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
        let micros = 1_796_075_480_121_323;
        let stamp = UNIX_EPOCH + Duration::from_micros(micros);
        let mut records = Vec::new();
        for entry in &entries {
            encode(&mut records, entry, stamp);
        }
        let expected: Vec<String> = entries
            .iter()
            .map(|entry| format!("{entry:?} {micros}"))
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
