//! Publishing a package: the path that must never lose data.
//!
//! 1. Stream the body to a spool file in this process's scratch folder, hashing it
//!    (SHA-1 and SHA-256) and counting bytes; stop at the size limit (413).
//! 2. Inspect it off the reactor: zip or JSON manifest, entry limits, manifest.
//! 3. If the version exists and the caller may not overwrite, answer 409
//!    before writing anything.
//! 4. Put the blob under its SHA-256 (already there is fine), made durable.
//! 5. One short transaction pins the blob row, makes sure the bytes are still
//!    there (gc may have taken them; see `db::blobs`), and stores package and
//!    version; the unique index decides races (exactly one of N concurrent
//!    uploads wins).
//!
//! Before step 2, other upload forms are brought to a package file: a JSON or
//! form body carrying `content-b64` (a zip) and metadata, a plain zip plus
//! `name`/`version` (query, path or form) converted into a package, and a
//! `.upack` plus extra metadata merged into its `upack.json`.
//!
//! A failure at any step leaves nothing visible: the spool file is removed on
//! drop (one left by a killed process is swept by `wharf gc`), and a blob
//! written for a transaction that then lost stays unreferenced until `wharf
//! gc` (deleting it inline could race with another upload of the same bytes
//! that found it present).
//!
//! [`publish`] serves an HTTP upload; [`ingest`] is the same flow for callers
//! that are not a request (a background job pulling from a remote feed), with
//! only a principal to act as. Submodules: `hints` (what the request said
//! besides the package), `spool` (the body to disk), `convert` (other upload
//! forms to a package file).

mod convert;
mod hints;
mod spool;

pub use convert::MAX_FIELDS_BODY_BYTES;
pub use hints::UploadHints;

use bytes::Bytes;
use futures_util::Stream;

use crate::blob::BlobKey;
use crate::db::packages::{BlobRef, NewVersion, StoreOutcome};
use crate::db::{self, TxError};
use crate::domain::{Manifest, Permission};
use crate::error::{OrInternal, ServiceError};
use crate::telemetry::spawn_blocking_in_span;
use crate::upack;

use super::auth::Principal;
use super::blob_bytes::{self, BytesSource};
use super::{Caller, Wharf, access};

/// What was stored.
#[derive(Debug, Clone)]
pub struct Published {
    pub group: String,
    pub name: String,
    pub version: String,
    pub sha1: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub is_virtual: bool,
}

/// Stores the package in `body` in `feed_name` as `principal`, with the same
/// checks as an upload (the `add` permission, validation, the 409 rule), for
/// callers that are not an HTTP request.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn ingest<S, E>(
    wharf: &Wharf,
    principal: &Principal,
    feed_name: &str,
    body: S,
    hints: UploadHints,
) -> Result<Published, ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let caller = Caller {
        principal: principal.clone(),
        challenge_anonymous: false,
    };
    publish(wharf, &caller, feed_name, body, hints).await
}

/// Publishes the package in `body` to `feed_name` for an upload request.
#[tracing::instrument(skip_all, fields(feed = feed_name))]
pub async fn publish<S, E>(
    wharf: &Wharf,
    caller: &Caller,
    feed_name: &str,
    body: S,
    hints: UploadHints,
) -> Result<Published, ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let feed = access::feed_for(wharf, caller, feed_name, Permission::Add).await?;
    let spooled = spool::spool(wharf, body, hints.declared_length).await?;
    let temp_dir = wharf.temp_dir();
    let max_manifest_bytes = wharf.settings.limits.max_manifest_bytes;
    let (spooled, hints) = spawn_blocking_in_span(move || {
        convert::prepare(spooled, hints, &temp_dir, max_manifest_bytes)
    })
    .await
    .or_internal("in publish")??;

    let limits = wharf.settings.limits.package();
    let spool_path = spooled.path.to_path_buf();
    let inspected = spawn_blocking_in_span(move || upack::inspect(&spool_path, &limits))
        .await
        .or_internal("in publish")??;
    let manifest = &inspected.manifest;
    hints::check_hints(manifest, &hints)?;

    let may_overwrite = caller.may(Permission::Overwrite, &feed);
    let (group, name) = (manifest.id.group.as_str(), manifest.id.name.as_str());
    let precedence_key = manifest.version.precedence_key();
    if !may_overwrite {
        let (group_lower, name_lower) = (manifest.id.group.lower(), manifest.id.name.lower());
        let key = db::packages::PackageKey {
            feed_id: feed.id,
            group_lower: &group_lower,
            name_lower: &name_lower,
        };
        if db::packages::find_version(&wharf.db, key, &precedence_key)
            .await?
            .is_some()
        {
            return Err(already_exists(manifest, &feed.name));
        }
    }

    let key = BlobKey::from_digest(spooled.sha256);
    let (sha1, sha256, size_bytes) = (hex::encode(spooled.sha1), key.to_hex(), spooled.size_bytes);
    // Written (and made durable) before the transaction, so that the common
    // case holds no database lock while the bytes move; written again inside
    // it only if gc took them meanwhile (see `db::blobs`).
    wharf
        .blobs
        .put_file(&key, &spooled.path)
        .await
        .or_internal("in publish")?;

    let version = manifest.version.to_string();
    let file_list_json = serde_json::to_string(&inspected.files).or_internal("in publish")?;
    let blob = BlobRef {
        sha256: sha256.clone(),
        sha1: sha1.clone(),
        size_bytes: i64::try_from(size_bytes).or_internal("in publish")?,
    };
    let new = NewVersion::new(feed.id, manifest, inspected.container, file_list_json, blob);
    let stored = db::packages::store_version(&wharf.db, &new, may_overwrite, None, || {
        blob_bytes::ensure(wharf, &key, BytesSource::File(&spooled.path))
    })
    .await;
    match stored {
        Ok(StoreOutcome::Stored) => {}
        Ok(StoreOutcome::AlreadyExists) => return Err(already_exists(manifest, &feed.name)),
        Err(TxError::Db(e)) if db::is_unique_violation(&e) => {
            return Err(already_exists(manifest, &feed.name));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(package.group = group, package.name = name, version = %version, size_bytes, "package published");
    Ok(Published {
        group: group.to_owned(),
        name: name.to_owned(),
        version,
        sha1,
        sha256,
        size_bytes,
        is_virtual: manifest.is_virtual,
    })
}

fn already_exists(manifest: &Manifest, feed: &str) -> ServiceError {
    ServiceError::Conflict(format!(
        "The package {} version {} already exists in feed '{feed}'; replacing it needs the overwrite permission.",
        manifest.id, manifest.version
    ))
}

/// The 413 for a body over the limit.
pub fn too_large(max_bytes: u64) -> ServiceError {
    ServiceError::PayloadTooLarge(format!(
        "The upload is larger than the {max_bytes}-byte limit (WHARF_MAX_UPLOAD_BYTES)."
    ))
}
