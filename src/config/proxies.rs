//! `auth.trusted_proxies`: whose `X-Forwarded-For` to believe.
//!
//! Behind a load balancer every request comes from the balancer's address,
//! so the failed-login limit would count all clients as one and the access
//! log would name only the balancer. The balancer says who the client was in
//! `X-Forwarded-For`, but so can any client: the header is believed only as
//! far as it was written by proxies listed here. Reading from the right (the
//! entry the nearest proxy appended), each address is taken while the one
//! before it is trusted; the first address that is not a trusted proxy is
//! the client. A client cannot push its own entries past that point.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The networks whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses CIDR blocks (`10.0.0.0/8`, `fd00::/8`) and single addresses.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        items
            .into_iter()
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!(
                            "auth.trusted_proxies: '{item}' is neither an address nor a CIDR block \
                             such as 10.0.0.0/8"
                        )
                    })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client's address: `peer`, or when `peer` is a trusted proxy, the
    /// address it forwarded for (see the module documentation).
    /// `forwarded_for` gives the `X-Forwarded-For` header values in order;
    /// it is called only when some proxy is trusted, so that a server with
    /// none does not look the header up on every request.
    pub fn client<'h, I: DoubleEndedIterator<Item = &'h [u8]>>(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: impl FnOnce() -> I,
    ) -> Option<IpAddr> {
        let mut client = peer?;
        if self.0.is_empty() {
            return Some(client);
        }
        for value in forwarded_for().rev() {
            let Ok(value) = std::str::from_utf8(value) else {
                return Some(client);
            };
            for entry in value.rsplit(',') {
                if !self.trusts(client) {
                    return Some(client);
                }
                match entry.trim().parse::<IpAddr>() {
                    Ok(forwarded) => client = canonical(forwarded),
                    // A malformed entry: the last address known is the client.
                    Err(_) => return Some(client),
                }
            }
        }
        Some(client)
    }
}

/// An IPv4 address as itself even when it came as `::ffff:a.b.c.d`.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let items = super::load::list_or_comma_separated(deserializer)?;
        Self::parse(items.iter().map(String::as_str)).map_err(serde::de::Error::custom)
    }
}

impl Serialize for TrustedProxies {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(ToString::to_string))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(trusted: &[&str], peer: &str, headers: &[&str]) -> String {
        TrustedProxies::parse(trusted.iter().copied())
            .unwrap()
            .client(Some(peer.parse().unwrap()), || {
                headers.iter().map(|h| h.as_bytes())
            })
            .unwrap()
            .to_string()
    }

    #[test]
    fn forwarded_addresses_are_believed_only_as_far_as_trusted_proxies_wrote_them() {
        // No trusted proxies: the header is ignored.
        assert_eq!(client(&[], "10.0.0.5", &["203.0.113.9"]), "10.0.0.5");
        // From an untrusted peer: ignored.
        assert_eq!(
            client(&["10.0.0.0/8"], "198.51.100.7", &["203.0.113.9"]),
            "198.51.100.7"
        );
        // From the trusted balancer: the client it names.
        assert_eq!(
            client(&["10.0.0.0/8"], "10.0.0.5", &["203.0.113.9"]),
            "203.0.113.9"
        );
        // A client's forged entry sits left of the real one and is not reached.
        assert_eq!(
            client(&["10.0.0.0/8"], "10.0.0.5", &["1.2.3.4, 203.0.113.9"]),
            "203.0.113.9"
        );
        // Two trusted hops, across two header lines.
        assert_eq!(
            client(
                &["10.0.0.0/8", "192.0.2.1"],
                "10.0.0.5",
                &["203.0.113.9, 192.0.2.1", "10.1.1.1"]
            ),
            "203.0.113.9"
        );
        // Every entry trusted: the leftmost is the best known client.
        assert_eq!(
            client(&["10.0.0.0/8"], "10.0.0.5", &["10.9.9.9"]),
            "10.9.9.9"
        );
        // Garbage stops the walk at the last good address.
        assert_eq!(
            client(&["10.0.0.0/8"], "10.0.0.5", &["not-an-ip"]),
            "10.0.0.5"
        );
        // IPv4-mapped peers match IPv4 blocks.
        assert_eq!(
            client(&["127.0.0.1"], "::ffff:127.0.0.1", &["2001:db8::1"]),
            "2001:db8::1"
        );
    }

    #[test]
    fn a_bad_entry_is_named() {
        let error = TrustedProxies::parse(["10.0.0.0/8", "ten.0.0.0"]).unwrap_err();
        assert!(error.contains("'ten.0.0.0'"), "{error}");
    }
}
