//! Streaming an upload body to a spool file in this process's scratch
//! folder, hashing it on the way, within the size limit.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::error::{OrInternal, ServiceError};
use crate::service::Wharf;

use super::too_large;

/// A spooled body and its digests.
pub(super) struct Spooled {
    pub(super) path: tempfile::TempPath,
    pub(super) sha1: [u8; 20],
    pub(super) sha256: [u8; 32],
    pub(super) size_bytes: u64,
}

/// Streams the body into a spool file while hashing it, stopping at the limit.
///
/// The reactor only gathers the body into batches of [`SPOOL_BATCH_BYTES`];
/// each batch is written and hashed on the blocking pool (SHA-1 and SHA-256
/// on two threads, the write on a third) while the next batch arrives. At
/// most two batches are in memory, whatever the package size.
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn spool<S, E>(
    wharf: &Wharf,
    mut body: S,
    declared_length: Option<u64>,
) -> Result<Spooled, ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let max_bytes = wharf.settings.limits.max_upload_bytes;
    let idle = std::time::Duration::from_secs(wharf.settings.limits.upload_idle_seconds);
    let temp = tempfile::NamedTempFile::new_in(wharf.temp_dir()).or_internal("in spool")?;
    let (file, path) = temp.into_parts();
    let mut writer = SpoolWriter::new(file);
    let mut batch: Vec<Bytes> = Vec::new();
    let (mut batch_bytes, mut size_bytes) = (0usize, 0u64);
    loop {
        let Ok(next) = tokio::time::timeout(idle, body.next()).await else {
            return Err(ServiceError::RequestTimeout(format!(
                "The upload stalled for {} seconds and was abandoned (limits.upload_idle_seconds).",
                idle.as_secs()
            )));
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| {
            ServiceError::BadRequest(format!(
                "The upload was interrupted before it was complete ({e})."
            ))
        })?;
        size_bytes += chunk.len() as u64;
        if size_bytes > max_bytes {
            return Err(too_large(max_bytes));
        }
        batch_bytes += chunk.len();
        batch.push(chunk);
        if batch_bytes >= SPOOL_BATCH_BYTES {
            writer.write(std::mem::take(&mut batch)).await?;
            batch_bytes = 0;
        }
    }
    if let Some(declared) = declared_length.filter(|declared| *declared != size_bytes) {
        return Err(ServiceError::BadRequest(format!(
            "The body ended after {size_bytes} of the {declared} bytes its Content-Length declared; the upload is incomplete."
        )));
    }
    writer.write(batch).await?;
    let (sha1, sha256) = writer.finish().await?;
    Ok(Spooled {
        path,
        sha1,
        sha256,
        size_bytes,
    })
}

/// Size of the batches an upload body is written and hashed in.
const SPOOL_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// The file and digests of a spool, owned by at most one blocking job at a time.
struct SpoolState {
    file: std::fs::File,
    sha1: Sha1,
    sha256: Sha256,
}

/// Writes and hashes batches on the blocking pool, one batch in flight.
struct SpoolWriter {
    idle: Option<SpoolState>,
    in_flight: Option<tokio::task::JoinHandle<std::io::Result<SpoolState>>>,
}

impl SpoolWriter {
    fn new(file: std::fs::File) -> Self {
        Self {
            idle: Some(SpoolState {
                file,
                sha1: Sha1::new(),
                sha256: Sha256::new(),
            }),
            in_flight: None,
        }
    }

    /// Waits for the batch in flight, if any, and takes the state back.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn settle(&mut self) -> Result<SpoolState, ServiceError> {
        if let Some(job) = self.in_flight.take() {
            return job.await.or_internal("in settle")?.or_internal("in settle");
        }
        self.idle
            .take()
            .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("spool state lost")))
    }

    /// Hands `batch` to the blocking pool once the previous batch is done.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn write(&mut self, batch: Vec<Bytes>) -> Result<(), ServiceError> {
        let mut state = self.settle().await?;
        if batch.is_empty() {
            self.idle = Some(state);
            return Ok(());
        }
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let SpoolState { file, sha1, sha256 } = &mut state;
            std::thread::scope(|scope| {
                scope.spawn(|| batch.iter().for_each(|chunk| sha1.update(chunk)));
                scope.spawn(|| batch.iter().for_each(|chunk| sha256.update(chunk)));
                batch
                    .iter()
                    .try_for_each(|chunk| std::io::Write::write_all(file, chunk))
            })?;
            Ok(state)
        }));
        Ok(())
    }

    /// Waits for the last batch and returns the digests.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn finish(mut self) -> Result<([u8; 20], [u8; 32]), ServiceError> {
        let state = self.settle().await?;
        Ok((state.sha1.finalize().into(), state.sha256.finalize().into()))
    }
}
