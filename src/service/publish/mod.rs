//! Publishing a package: the path that must never lose data.
//!
//! 1. Stream the body to a spool file in this process's scratch folder, hashing it
//!    (SHA-1 and SHA-256) and counting bytes; stop at the size limit (413).
//! 2. Inspect it off the reactor: zip or JSON manifest, entry limits, manifest.
//! 3. If the version exists and the caller may not overwrite, answer 409
//!    before writing anything (for a small body, step 5 does this check, for
//!    its whole batch in one statement).
//! 4. Put the blob under its SHA-256 (already there is fine), made durable.
//!    A small body skips this step: its bytes go into its blob's row in step
//!    5, so that one flush makes both durable (see `service::blob_bytes`).
//! 5. One short transaction pins the blob row, makes sure the bytes are still
//!    there (gc may have taken them; see `db::blobs`), and stores package and
//!    version; the unique index decides races (exactly one of N concurrent
//!    uploads wins). Concurrent uploads share that transaction (`commit`),
//!    and the blob store's flush likewise (`blob::group_sync`): many small
//!    uploads cost a few flushes, not one or two each.
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
//! forms to a package file), `commit` (the group commit).

mod commit;
mod convert;
mod hints;
mod spool;

use spool::SpooledBytes;

pub use commit::CommitQueue;
pub use convert::MAX_FIELDS_BODY_BYTES;
pub use hints::UploadHints;

use bytes::Bytes;
use futures_util::Stream;

use crate::blob::BlobKey;
use crate::db;
use crate::db::packages::{BlobRef, NewVersion, StoreOutcome};
use crate::domain::{Manifest, Permission};
use crate::error::{OrInternal, ServiceError};
use crate::telemetry::spawn_blocking_in_span;
use crate::upack;

use super::auth::Principal;
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
#[tracing::instrument(level = "debug", skip_all, fields(feed = feed_name))]
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
    let limits = wharf.settings.limits.package();
    let is_small = matches!(spooled.bytes, SpooledBytes::Memory(_));
    let prepare_and_inspect = move || {
        let (spooled, hints) = convert::prepare(spooled, hints, &temp_dir, max_manifest_bytes)?;
        let inspected = match &spooled.bytes {
            SpooledBytes::Memory(body) => upack::inspect_bytes(body, &limits)?,
            SpooledBytes::File(path) => upack::inspect(path, &limits)?,
        };
        Ok::<_, ServiceError>((spooled, hints, inspected))
    };
    // A small body is read from memory here; a larger one on the blocking
    // pool, in one trip for both steps.
    let (spooled, hints, inspected) = if is_small {
        prepare_and_inspect()?
    } else {
        spawn_blocking_in_span(prepare_and_inspect)
            .await
            .or_internal("in publish")??
    };
    let manifest = &inspected.manifest;
    hints::check_hints(manifest, &hints)?;

    let may_overwrite = caller.may(Permission::Overwrite, &feed);
    let (group, name) = (manifest.id.group.as_str(), manifest.id.name.as_str());
    // A file is about to be written and flushed for a larger body: refuse an
    // existing version first. A small body writes nothing before its batch,
    // which finds the batch's existing versions in one statement.
    let in_memory = matches!(spooled.bytes, SpooledBytes::Memory(_));
    if !may_overwrite && !in_memory {
        let precedence_key = manifest.version.precedence_key();
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
    let (content, spool) = match spooled.bytes {
        // Stored in the blob's row by the commit that stores the version.
        SpooledBytes::Memory(body) => (Some(body), None),
        // Written (and made durable) before the transaction, so that the
        // common case holds no database lock while the bytes move; written
        // again inside it only if gc took them meanwhile (see `db::blobs`).
        SpooledBytes::File(path) => {
            wharf
                .blobs
                .put_file(&key, &path)
                .await
                .or_internal("in publish")?;
            (None, Some(path))
        }
    };

    let version = manifest.version.to_string();
    let file_list_json = serde_json::to_string(&inspected.files).or_internal("in publish")?;
    let blob = BlobRef {
        sha256: sha256.clone(),
        sha1: sha1.clone(),
        size_bytes: i64::try_from(size_bytes).or_internal("in publish")?,
        content,
    };
    let new = NewVersion::new(feed.id, manifest, inspected.container, file_list_json, blob)
        .cached_from(hints.cached_from.clone());
    match commit::commit(wharf, new, may_overwrite, key, spool).await? {
        StoreOutcome::Stored => {}
        StoreOutcome::AlreadyExists => return Err(already_exists(manifest, &feed.name)),
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
