//! Who sent a request: the peer, or the client a trusted proxy names
//! (`auth.trusted_proxies`, see `config::proxies`). Every use of a client's
//! address (the failed-authentication limit, the access log) asks here.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::{self, HeaderMap};

use crate::service::Wharf;

/// The client's address for a request from `peer` with `headers`.
pub fn client_address(
    wharf: &Wharf,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    wharf
        .settings
        .auth
        .trusted_proxies
        .client(peer.map(|a| a.ip()), || {
            headers
                .get_all(header::X_FORWARDED_FOR)
                .map(actix_web::http::header::HeaderValue::as_bytes)
        })
}
