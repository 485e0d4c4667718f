//! JSON shapes of the Universal Feed API, with `ProGet`'s field names,
//! rendered from the service's read models.
//!
//! Each shape is a type here, serialised as it is sent and described in
//! `/openapi.json` from the same definition (`ToSchema`), so the document
//! cannot drift from the wire.
//!
//! A version object is the version's `upack.json` properties plus server
//! fields; a package object is its latest version's manifest with `version`
//! replaced by `latestVersion`, plus `versions` (highest first). The empty
//! group is omitted, as `ProGet` does; clients read a missing group as empty.
//! pgutil's package API, the management API and promotions have their own
//! shapes, also here. By purpose: `packages` (the Universal Feed API and
//! pgutil's views of versions and packages), `management` (feeds, keys,
//! health), `promotions`, `operations`.

use serde::Serialize;

mod management;
mod operations;
mod packages;
mod promotions;

pub use management::*;
pub use operations::*;
pub use packages::*;
pub use promotions::*;

/// A timestamp as the API writes it: RFC 3339 in UTC with milliseconds.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Serialises a shape for the listing cache.
pub fn to_bytes<T: Serialize>(value: &T) -> bytes::Bytes {
    // The shapes here always serialise: their maps have string keys.
    bytes::Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}
