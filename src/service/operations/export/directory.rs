//! `file://` containers: a directory under one of `export.allowed_roots`.
//! Each file is written to a temporary name in the directory, checked
//! against its SHA-256, flushed to disk and only then given its name (linked
//! into place when it must not replace a file there), so a reader never
//! sees half a file.

use std::path::{Component, Path, PathBuf};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::ServiceError;
use crate::service::Wharf;
use crate::service::operations::{Failure, Progress};

/// The directory a `file://` container names (`path`, after the scheme),
/// if it lies under an allowed root; a 400 naming the rule otherwise.
pub(super) fn parse(wharf: &Wharf, uri: &str, path: &str) -> Result<PathBuf, ServiceError> {
    let refuse = |why: &str| ServiceError::BadRequest(format!("containerUri '{uri}' {why}"));
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

pub(super) fn io_failure(path: &Path, error: &std::io::Error) -> Failure {
    Failure::new(
        "container_write_failed",
        500,
        format!("Cannot write to {}: {error}.", path.display()),
    )
}

/// The SHA-256 of the file at `path`, if it can be read.
pub(super) async fn file_sha256(path: &Path) -> Option<String> {
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
pub(super) async fn write_file<S>(
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
