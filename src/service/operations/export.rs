//! Export: write a package version and its manifest into a container, as
//! Azure's "Get Package" copies a deployment's package into a blob container.
//!
//! The container is `file:///<absolute directory>` under one of
//! `export.allowed_roots` (`s3://` waits for S3 storage). The operation
//! writes `<name>.<version>.upack` (the bytes a download serves) and
//! `<name>.<version>.upack.json` (the manifest). Each file is written to a
//! temporary name in the container, checked against the stored SHA-256,
//! flushed to disk and only then given its name, so a reader never sees half
//! a file. With `overwriteExisting` false an existing file fails the
//! operation (`blob_exists`, 409), and the file is linked into place so a
//! file created meanwhile is not overwritten either. A retried run accepts
//! a file it wrote itself before the interruption (same bytes).

use std::path::{Component, Path, PathBuf};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::domain::{GroupName, PackageId, PackageName, Permission, Version};
use crate::error::ServiceError;
use crate::service::packages::{self, VersionSelector};
use crate::service::{Caller, Wharf, access};

use super::{Failure, Kind, Operation, Progress, RunResult};

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
            "containerUri is required (file:///<directory>).".to_owned(),
        ));
    }
    container_dir(wharf, &request.container_uri)?;
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

/// The directory a `file://` container names, if it lies under an allowed
/// root; a 400 naming the rule otherwise.
fn container_dir(wharf: &Wharf, uri: &str) -> Result<PathBuf, ServiceError> {
    let refuse = |why: &str| ServiceError::BadRequest(format!("containerUri '{uri}' {why}"));
    if uri.starts_with("s3://") {
        return Err(refuse(
            "needs S3 storage, which this server does not have; use file:///<directory>.",
        ));
    }
    let Some(path) = uri.strip_prefix("file://") else {
        return Err(refuse("must be file:///<absolute directory>."));
    };
    let path = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| refuse("is not valid UTF-8 once decoded."))?;
    let path = Path::new(path.as_ref());
    if !path.is_absolute() {
        return Err(refuse("must name an absolute directory (file:///...)."));
    }
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(refuse("must not contain '.' or '..' segments."));
    }
    // The deepest part that exists, resolved (links included), must lie
    // under a resolved root; what does not exist yet is created below it.
    let existing = path
        .ancestors()
        .find(|a| a.exists())
        .and_then(|a| a.canonicalize().ok());
    let under_a_root = existing.is_some_and(|existing| {
        wharf.settings.export.allowed_roots.iter().any(|root| {
            Path::new(root)
                .canonicalize()
                .is_ok_and(|root| existing.starts_with(root))
        })
    });
    if !under_a_root {
        return Err(refuse(
            "is not under a directory in export.allowed_roots (WHARF_EXPORT__ALLOWED_ROOTS).",
        ));
    }
    Ok(path.to_owned())
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
    let dir = container_dir(wharf, &stored.container_uri)
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

    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| io_failure(&dir, &e))?;
    let base = format!("{}.{}", version.name(), version.version());
    let package_path = dir.join(format!("{base}.upack"));
    let manifest_path = dir.join(format!("{base}.upack.json"));
    let manifest_sha256 = hex::encode(Sha256::digest(&manifest));
    let targets = [
        (&package_path, bytes.blob_sha256.as_str()),
        (&manifest_path, manifest_sha256.as_str()),
    ];
    let mut already_there = [false, false];
    for (index, (target, sha256)) in targets.iter().enumerate() {
        if !target.exists() {
            continue;
        }
        // A retry finds what its interrupted run wrote: the same bytes.
        if attempt > 1 && file_sha256(target).await.as_deref() == Some(*sha256) {
            already_there[index] = true;
        } else if !stored.overwrite_existing {
            return Err(Failure::new(
                "blob_exists",
                409,
                format!(
                    "{} exists and overwriteExisting is false.",
                    target.display()
                ),
            ));
        }
    }

    if !already_there[0] {
        let stream = packages::open_blob(wharf, &bytes, None).await?;
        write_file(
            &package_path,
            stream,
            &bytes.blob_sha256,
            stored.overwrite_existing,
            progress,
        )
        .await?;
    }
    if !already_there[1] {
        let stream = futures_util::stream::iter([Ok(bytes::Bytes::from(manifest.clone()))]);
        write_file(
            &manifest_path,
            stream,
            &manifest_sha256,
            stored.overwrite_existing,
            progress,
        )
        .await?;
    }
    if let Ok(dir_handle) = tokio::fs::File::open(&dir).await {
        // The new names reach the disk too.
        dir_handle.sync_all().await.ok();
    }
    Ok((
        200,
        json!({
            "containerUri": stored.container_uri,
            "files": [
                {"path": package_path.display().to_string(), "size": bytes.size_bytes, "sha256": bytes.blob_sha256},
                {"path": manifest_path.display().to_string(), "size": manifest.len(), "sha256": manifest_sha256},
            ],
        }),
    ))
}

fn io_failure(path: &Path, error: &std::io::Error) -> Failure {
    Failure::new(
        "container_write_failed",
        500,
        format!("Cannot write to {}: {error}.", path.display()),
    )
}

/// The SHA-256 of the file at `path`, if it can be read.
async fn file_sha256(path: &Path) -> Option<String> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(path).ok()?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher).ok()?;
        Some(hex::encode(hasher.finalize()))
    })
    .await
    .ok()
    .flatten()
}

/// Writes `stream` to a temporary file beside `target`, checks its SHA-256,
/// flushes it and gives it its name (replacing a file there only when
/// `overwrite`).
async fn write_file<S>(
    target: &Path,
    mut stream: S,
    expected_sha256: &str,
    overwrite: bool,
    progress: &Progress,
) -> Result<(), Failure>
where
    S: futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Unpin,
{
    let dir = target.parent().unwrap_or(Path::new("/"));
    let temp = dir.join(format!(".wharf-export-{}.part", uuid::Uuid::new_v4()));
    let written = async {
        let mut file = tokio::fs::File::create(&temp).await?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
            progress.add(chunk.len());
        }
        file.sync_all().await?;
        Ok::<_, std::io::Error>(hex::encode(hasher.finalize()))
    }
    .await;
    let placed = match written {
        Ok(sha256) if sha256 != expected_sha256 => Err(Failure::new(
            "internal",
            500,
            format!(
                "The stored bytes of {} do not match their SHA-256; nothing was exported.",
                target.display()
            ),
        )),
        Ok(_) if overwrite => tokio::fs::rename(&temp, target)
            .await
            .map_err(|e| io_failure(target, &e)),
        Ok(_) => match tokio::fs::hard_link(&temp, target).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Failure::new(
                "blob_exists",
                409,
                format!(
                    "{} exists and overwriteExisting is false.",
                    target.display()
                ),
            )),
            Err(e) => Err(io_failure(target, &e)),
        },
        Err(e) => Err(io_failure(target, &e)),
    };
    tokio::fs::remove_file(&temp).await.ok();
    placed
}
