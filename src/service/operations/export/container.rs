//! Where an export writes: a directory or a bucket folder, behind one face
//! so that the export itself does not care which.

use std::path::PathBuf;

use crate::error::ServiceError;
use crate::service::Wharf;
use crate::service::operations::{Failure, Progress};

use super::bucket::{self, Bucket};
use super::directory;

/// A container an export may write into.
pub(super) enum Container {
    Directory(PathBuf),
    Bucket(Bucket),
}

impl Container {
    /// The container `uri` names, if the settings allow it; a 400 saying
    /// what is wrong otherwise.
    pub(super) fn parse(wharf: &Wharf, uri: &str) -> Result<Self, ServiceError> {
        if let Some(path) = uri.strip_prefix("file://") {
            directory::parse(wharf, uri, path).map(Self::Directory)
        } else if let Some(rest) = uri.strip_prefix("s3://") {
            bucket::parse(wharf, uri, rest).map(Self::Bucket)
        } else {
            Err(ServiceError::BadRequest(format!(
                "containerUri '{uri}' must be file:///<absolute directory> or s3://<bucket>/<folder>."
            )))
        }
    }

    /// Where `name` is written, for results and sentences.
    pub(super) fn location(&self, name: &str) -> String {
        match self {
            Self::Directory(dir) => dir.join(name).display().to_string(),
            Self::Bucket(bucket) => bucket.location(name),
        }
    }

    /// Whether `name` exists, and (when `hash`) its SHA-256 if it can be read.
    pub(super) async fn existing(
        &self,
        name: &str,
        hash: bool,
    ) -> Result<Option<Option<String>>, Failure> {
        match self {
            Self::Directory(dir) => {
                let path = dir.join(name);
                if !path.exists() {
                    return Ok(None);
                }
                Ok(Some(if hash {
                    directory::file_sha256(&path).await
                } else {
                    None
                }))
            }
            Self::Bucket(bucket) => bucket.existing(name, hash).await,
        }
    }

    /// Writes `stream` as `name`; it appears only whole and with the
    /// expected SHA-256, replacing what is there only when `overwrite`.
    pub(super) async fn write<S>(
        &self,
        name: &str,
        stream: S,
        expected_sha256: &str,
        overwrite: bool,
        progress: &Progress,
    ) -> Result<(), Failure>
    where
        S: futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Unpin,
    {
        match self {
            Self::Directory(dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| directory::io_failure(dir, &e))?;
                let target = dir.join(name);
                directory::write_file(&target, stream, expected_sha256, overwrite, progress).await
            }
            Self::Bucket(bucket) => {
                bucket
                    .write(name, stream, expected_sha256, overwrite, progress)
                    .await
            }
        }
    }

    /// Makes what was written durable: a directory's new names reach the disk.
    pub(super) async fn settle(&self) {
        if let Self::Directory(dir) = self
            && let Ok(handle) = tokio::fs::File::open(dir).await
        {
            handle.sync_all().await.ok();
        }
    }
}
