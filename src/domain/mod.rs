//! Pure types and rules of Wharf: names, versions, manifests, permissions.
//!
//! Nothing in here performs I/O or knows about actix or sqlx. Every string that
//! arrives from outside (a path segment, a manifest field, a query value) is parsed
//! into one of these types at the edge, so the rest of the crate can rely on it
//! being valid ("parse, don't validate").

mod container;
mod dependency;
mod error;
mod latest;
mod manifest;
mod names;
mod permission;
mod promotion;
mod version;
mod vpack;

pub use container::Container;
pub use dependency::Dependency;
pub use error::DomainError;
pub use latest::LatestRule;
pub use manifest::{MAX_MANIFEST_DEPTH, Manifest};
pub use names::{FeedName, GroupName, PackageId, PackageName};
pub use permission::{FeedScope, Grant, Permission};
pub use promotion::PromotionFilter;
pub use version::Version;
pub use vpack::{ContentItem, ContentSource, VirtualContents};
