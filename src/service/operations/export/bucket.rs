//! `s3://bucket/prefix` containers: a bucket (or a folder of one) listed in
//! `export.allowed_buckets`, reached with `storage.s3`'s endpoint, region
//! and credentials.
//!
//! An object appears whole or not at all: a small file goes up in one
//! `PUT`, a larger one as a multipart upload completed only once every byte
//! was sent and its SHA-256 matched (aborted otherwise). Without
//! `overwriteExisting` the one `PUT` is conditional (`If-None-Match: *`),
//! so an object created meanwhile is never replaced; a multipart upload is
//! checked just before it completes, which leaves a window of one request.

use std::sync::Arc;

use futures_util::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};

use crate::error::ServiceError;
use crate::service::Wharf;
use crate::service::operations::{Failure, Progress};

/// Files up to this size go up in one `PUT`.
const ONE_PUT_BYTES: usize = 8 * 1024 * 1024;

/// Parts of one upload sent at once.
const PARTS_IN_FLIGHT: usize = 4;

/// A bucket folder to export into.
pub(super) struct Bucket {
    store: Arc<dyn ObjectStore>,
    /// `s3://bucket/prefix`, for results and sentences.
    uri: String,
}

/// Whether `allowed` (`bucket` or `bucket/prefix`) admits `bucket` and
/// `prefix`: the same bucket, and the prefix at or under the folder.
fn admits(allowed: &str, bucket: &str, prefix: &str) -> bool {
    let (allowed_bucket, allowed_prefix) = allowed
        .trim_matches('/')
        .split_once('/')
        .unwrap_or((allowed.trim_matches('/'), ""));
    let allowed_prefix = allowed_prefix.trim_matches('/');
    allowed_bucket == bucket
        && (allowed_prefix.is_empty()
            || prefix == allowed_prefix
            || prefix.starts_with(&format!("{allowed_prefix}/")))
}

/// The bucket folder `rest` (after `s3://`) names, if `export.allowed_buckets`
/// admits it; a 400 naming the rule otherwise.
pub(super) fn parse(wharf: &Wharf, uri: &str, rest: &str) -> Result<Bucket, ServiceError> {
    let refuse = |why: &str| ServiceError::BadRequest(format!("containerUri '{uri}' {why}"));
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_matches('/');
    if bucket.is_empty() {
        return Err(refuse("must name a bucket: s3://<bucket>/<folder>."));
    }
    if prefix.split('/').any(|s| matches!(s, "." | "..")) || prefix.contains("//") {
        return Err(refuse("must not contain empty, '.' or '..' segments."));
    }
    let allowed = &wharf.settings.export.allowed_buckets;
    if !allowed.iter().any(|a| admits(a, bucket, prefix)) {
        return Err(refuse(
            "is not in a bucket listed in export.allowed_buckets (WHARF_EXPORT__ALLOWED_BUCKETS).",
        ));
    }
    let mut settings = wharf.settings.storage.s3.clone();
    bucket.clone_into(&mut settings.bucket);
    prefix.clone_into(&mut settings.prefix);
    let store = crate::blob::BlobStore::connect_bucket(&settings)
        .map_err(|e| refuse(&format!("cannot be reached: {e:#}.")))?;
    Ok(Bucket {
        store,
        uri: format!("s3://{bucket}/{prefix}"),
    })
}

impl Bucket {
    /// Where `name` is written.
    pub(super) fn location(&self, name: &str) -> String {
        format!("{}/{name}", self.uri.trim_end_matches('/'))
    }

    fn failed(&self, name: &str, error: &dyn std::fmt::Display) -> Failure {
        Failure::new(
            "container_write_failed",
            502,
            format!("Cannot write {}: {error}.", self.location(name)),
        )
    }

    /// Whether `name` exists, and (when `hash`) its SHA-256.
    pub(super) async fn existing(
        &self,
        name: &str,
        hash: bool,
    ) -> Result<Option<Option<String>>, Failure> {
        let path = StorePath::from(name);
        match self.store.head(&path).await {
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.failed(name, &e)),
            Ok(_) if !hash => return Ok(Some(None)),
            Ok(_) => {}
        }
        let mut body = match self.store.get(&path).await {
            Ok(found) => found.into_stream(),
            Err(e) => return Err(self.failed(name, &e)),
        };
        let mut hasher = Sha256::new();
        while let Some(chunk) = body.next().await {
            hasher.update(chunk.map_err(|e| self.failed(name, &e))?);
        }
        Ok(Some(Some(hex::encode(hasher.finalize()))))
    }

    /// Writes `stream` as `name`, checking its SHA-256 before the object
    /// appears; replaces an object there only when `overwrite`.
    pub(super) async fn write<S>(
        &self,
        name: &str,
        mut stream: S,
        expected_sha256: &str,
        overwrite: bool,
        progress: &Progress,
    ) -> Result<(), Failure>
    where
        S: futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Unpin,
    {
        let path = StorePath::from(name);
        let exists = || {
            Failure::new(
                "blob_exists",
                409,
                format!(
                    "{} exists and overwriteExisting is false.",
                    self.location(name)
                ),
            )
        };
        let mut hasher = Sha256::new();
        let mut first = Vec::new();
        let mut upload: Option<WriteMultipart> = None;
        let sent = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.failed(name, &e))?;
                hasher.update(&chunk);
                progress.add(chunk.len());
                match &mut upload {
                    None if first.len() + chunk.len() <= ONE_PUT_BYTES => {
                        first.extend_from_slice(&chunk);
                    }
                    None => {
                        let started = self
                            .store
                            .put_multipart(&path)
                            .await
                            .map_err(|e| self.failed(name, &e))?;
                        let mut parts = WriteMultipart::new_with_chunk_size(started, ONE_PUT_BYTES);
                        parts.write(&std::mem::take(&mut first));
                        parts.write(&chunk);
                        upload = Some(parts);
                    }
                    Some(parts) => {
                        parts
                            .wait_for_capacity(PARTS_IN_FLIGHT)
                            .await
                            .map_err(|e| self.failed(name, &e))?;
                        parts.write(&chunk);
                    }
                }
            }
            if hex::encode(hasher.finalize()) != expected_sha256 {
                return Err(Failure::new(
                    "internal",
                    500,
                    format!(
                        "The stored bytes of {} do not match their SHA-256; nothing was exported.",
                        self.location(name)
                    ),
                ));
            }
            Ok(())
        }
        .await;
        let Some(parts) = upload else {
            sent?;
            let mode = if overwrite {
                PutMode::Overwrite
            } else {
                PutMode::Create
            };
            let options = PutOptions {
                mode,
                ..PutOptions::default()
            };
            return match self
                .store
                .put_opts(&path, PutPayload::from(first), options)
                .await
            {
                Ok(_) => Ok(()),
                Err(object_store::Error::AlreadyExists { .. }) => Err(exists()),
                Err(e) => Err(self.failed(name, &e)),
            };
        };
        let checked = match sent {
            Ok(()) if !overwrite && self.existing(name, false).await?.is_some() => Err(exists()),
            other => other,
        };
        if let Err(failure) = checked {
            if let Err(e) = parts.abort().await {
                tracing::warn!(error = %e, "could not abort a multipart export; the bucket's lifecycle rule for incomplete uploads will remove its parts");
            }
            return Err(failure);
        }
        parts.finish().await.map_err(|e| self.failed(name, &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::admits;

    #[test]
    fn an_allowed_bucket_admits_its_folders_only() {
        for (allowed, bucket, prefix, expected) in [
            ("drops", "drops", "", true),
            ("drops", "drops", "a/b", true),
            ("drops", "other", "", false),
            ("drops/team", "drops", "team", true),
            ("drops/team", "drops", "team/nightly", true),
            ("drops/team", "drops", "teammate", false),
            ("drops/team/", "drops", "", false),
        ] {
            assert_eq!(
                admits(allowed, bucket, prefix),
                expected,
                "{allowed} {bucket} {prefix}"
            );
        }
    }
}
