//! Export: write a package version and its manifest into a container, as
//! Azure's "Get Package" copies a deployment's package into a blob container.
//!
//! The container is `file:///<absolute directory>` under one of
//! `export.allowed_roots` (`directory`) or `s3://<bucket>/<folder>` in one
//! of `export.allowed_buckets` (`bucket`). The operation writes
//! `<name>.<version>.upack` (the bytes a download serves) and
//! `<name>.<version>.upack.json` (the manifest), each checked against its
//! SHA-256 before it appears under its name, so a reader never sees half a
//! file. With `overwriteExisting` false an existing file fails the
//! operation (`blob_exists`, 409). A retried run accepts a file it wrote
//! itself before the interruption (same bytes).

mod bucket;
mod container;
mod directory;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::domain::{GroupName, PackageId, PackageName, Permission, Version};
use crate::error::ServiceError;
use crate::service::packages::{self, VersionSelector};
use crate::service::{Caller, Wharf, access};

use super::{Failure, Kind, Operation, Progress, RunResult};
use container::Container;

/// What an export request asks for, as the API takes it.
#[derive(Debug, Clone, Default)]
pub struct ExportRequest {
    pub feed: String,
    pub group: String,
    pub name: String,
    /// An exact version, or `None` for the latest (`latest` in the request).
    pub version: Option<String>,
    pub container_uri: String,
    pub overwrite_existing: bool,
}

/// What is stored: the request with its version resolved.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    feed: String,
    group: String,
    name: String,
    version: String,
    container_uri: String,
    overwrite_existing: bool,
}

/// Checks an export request (the caller's `view` and `download` on the
/// feed, the package, the container) and queues it.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn request(
    wharf: &Wharf,
    caller: &Caller,
    request: ExportRequest,
) -> Result<Operation, ServiceError> {
    if matches!(caller.principal, crate::service::auth::Principal::Anonymous) {
        // An export writes on the server's disks: never for strangers.
        return Err(caller.refuse(Permission::Download));
    }
    if request.container_uri.trim().is_empty() {
        return Err(ServiceError::BadRequest(
            "containerUri is required (file:///<directory> or s3://<bucket>/<folder>).".to_owned(),
        ));
    }
    Container::parse(wharf, &request.container_uri)?;
    let feed = access::feed_for(wharf, caller, &request.feed, Permission::Download).await?;
    if !caller.may(Permission::View, &feed) {
        return Err(caller.refuse(Permission::View));
    }
    let id = PackageId::new(
        GroupName::parse(&request.group)?,
        PackageName::parse(&request.name)?,
    );
    let selector = match &request.version {
        Some(version) => VersionSelector::Exact(Version::parse(version)?),
        None => VersionSelector::parse("latest")?,
    };
    let version = packages::resolve(wharf, &feed, &id, &selector).await?;
    let stored = Stored {
        feed: feed.name.clone(),
        group: version.group().to_owned(),
        name: version.name().to_owned(),
        version: version.version().to_owned(),
        container_uri: request.container_uri,
        overwrite_existing: request.overwrite_existing,
    };
    let json = serde_json::to_value(&stored).unwrap_or(Value::Null);
    super::enqueue(wharf, caller, Kind::Export, &json).await
}

/// Runs a queued export.
pub(super) async fn run(
    wharf: &Wharf,
    request: &Value,
    attempt: i32,
    progress: &Progress,
) -> RunResult {
    let stored: Stored = serde_json::from_value(request.clone())
        .map_err(|e| Failure::new("internal", 500, format!("The request cannot be read: {e}")))?;
    let container = Container::parse(wharf, &stored.container_uri)
        .map_err(|e| Failure::new("container_invalid", 400, e.to_string()))?;
    let feed = wharf
        .caches
        .feed(&wharf.db, &stored.feed.to_ascii_lowercase())
        .await
        .map_err(|e| Failure::from(ServiceError::from(e)))?
        .ok_or_else(|| {
            Failure::new(
                "not_found",
                404,
                format!("The feed '{}' no longer exists.", stored.feed),
            )
        })?;
    let id = PackageId::new(
        GroupName::parse(&stored.group).map_err(|e| Failure::from(ServiceError::from(e)))?,
        PackageName::parse(&stored.name).map_err(|e| Failure::from(ServiceError::from(e)))?,
    );
    let selector = VersionSelector::Exact(
        Version::parse(&stored.version).map_err(|e| Failure::from(ServiceError::from(e)))?,
    );
    let version = packages::resolve(wharf, &feed, &id, &selector).await?;
    let bytes = packages::package_bytes(wharf, &feed, &version).await?;
    let manifest =
        serde_json::to_vec_pretty(&Value::Object(version.manifest())).unwrap_or_default();
    let total = u64::try_from(bytes.size_bytes).unwrap_or(0) + manifest.len() as u64;
    progress.set_total(total);

    let base = format!("{}.{}", version.name(), version.version());
    let package_name = format!("{base}.upack");
    let manifest_name = format!("{base}.upack.json");
    let manifest_sha256 = hex::encode(Sha256::digest(&manifest));
    let targets = [
        (&package_name, bytes.blob_sha256.as_str()),
        (&manifest_name, manifest_sha256.as_str()),
    ];
    let mut already_there = [false, false];
    for (index, (name, sha256)) in targets.iter().enumerate() {
        // A retry finds what its interrupted run wrote: the same bytes.
        let Some(found) = container.existing(name, attempt > 1).await? else {
            continue;
        };
        if found.as_deref() == Some(*sha256) {
            already_there[index] = true;
        } else if !stored.overwrite_existing {
            return Err(Failure::new(
                "blob_exists",
                409,
                format!(
                    "{} exists and overwriteExisting is false.",
                    container.location(name)
                ),
            ));
        }
    }

    if !already_there[0] {
        let stream = packages::open_blob(wharf, &bytes, None)
            .await?
            .into_stream();
        container
            .write(
                &package_name,
                stream,
                &bytes.blob_sha256,
                stored.overwrite_existing,
                progress,
            )
            .await?;
    }
    if !already_there[1] {
        let stream = futures_util::stream::iter([Ok(bytes::Bytes::from(manifest.clone()))]);
        container
            .write(
                &manifest_name,
                stream,
                &manifest_sha256,
                stored.overwrite_existing,
                progress,
            )
            .await?;
    }
    container.settle().await;
    Ok((
        200,
        json!({
            "containerUri": stored.container_uri,
            "files": [
                {"path": container.location(&package_name), "size": bytes.size_bytes, "sha256": bytes.blob_sha256},
                {"path": container.location(&manifest_name), "size": manifest.len(), "sha256": manifest_sha256},
            ],
        }),
    ))
}
