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
    pub(super) bytes: SpooledBytes,
    pub(super) sha1: [u8; 20],
    pub(super) sha256: [u8; 32],
    pub(super) size_bytes: u64,
}

/// Where a spooled body is.
pub(super) enum SpooledBytes {
    /// A small body (at most [`SMALL_BODY_BYTES`]), in memory only: it is
    /// stored in its blob's row (see `service::blob_bytes`), never as a file.
    Memory(Bytes),
    /// A larger body, in a spool file in this process's scratch folder.
    File(tempfile::TempPath),
}

/// Bodies up to this size are small: hashed and inspected on the request's
/// own thread from memory (tens of microseconds, less than a trip to the
/// blocking pool and back; CI systems publish them by the thousand), and
/// stored in the database row of their blob, so that the commit that stores
/// the version makes the bytes durable as well: no file to make, no flush of
/// the blob store to wait for.
pub(super) const SMALL_BODY_BYTES: usize = 64 * 1024;

const _: () = assert!(
    SMALL_BODY_BYTES as u64 <= crate::service::blob_bytes::ROW_CONTENT_MAX_BYTES,
    "a small body must fit in its blob's row"
);

/// Streams the body into a spool file while hashing it, stopping at the limit.
/// The file is made when the body is known to be larger than
/// [`SMALL_BODY_BYTES`], on the blocking pool; a small body stays in memory.
///
/// The reactor only gathers the body into batches of [`SPOOL_BATCH_BYTES`];
/// each batch is written and hashed on the blocking pool while the next batch
/// arrives (a large batch is hashed on two more threads, SHA-1 and SHA-256
/// beside the write; a small one by the pool's thread alone, since starting
/// threads would cost more than the hashing). At most two batches are in
/// memory, whatever the package size.
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
    let temp_dir = wharf.temp_dir();
    // Made with the first full batch, or when the body is complete.
    let mut writer: Option<SpoolWriter> = None;
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
            let writer = match &mut writer {
                Some(writer) => writer,
                None => writer.insert(SpoolWriter::create(temp_dir.clone()).await?),
            };
            writer.write(std::mem::take(&mut batch)).await?;
            batch_bytes = 0;
        }
    }
    if let Some(declared) = declared_length.filter(|declared| *declared != size_bytes) {
        return Err(ServiceError::BadRequest(format!(
            "The body ended after {size_bytes} of the {declared} bytes its Content-Length declared; the upload is incomplete."
        )));
    }
    let mut writer = match writer {
        Some(writer) => writer,
        None if batch_bytes <= SMALL_BODY_BYTES => {
            return Ok(spool_small(concatenate(batch), size_bytes));
        }
        None => SpoolWriter::create(temp_dir).await?,
    };
    writer.write(batch).await?;
    let (path, sha1, sha256) = writer.finish().await?;
    Ok(Spooled {
        bytes: SpooledBytes::File(path),
        sha1,
        sha256,
        size_bytes,
    })
}

/// A small body (see [`SMALL_BODY_BYTES`]), hashed here and kept in memory.
fn spool_small(body: Bytes, size_bytes: u64) -> Spooled {
    Spooled {
        sha1: Sha1::digest(&body).into(),
        sha256: Sha256::digest(&body).into(),
        bytes: SpooledBytes::Memory(body),
        size_bytes,
    }
}

/// One buffer of a small body's chunks (usually there is just one).
fn concatenate(mut chunks: Vec<Bytes>) -> Bytes {
    if chunks.len() == 1 {
        return chunks.pop().unwrap_or_default();
    }
    let mut body = bytes::BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
    for chunk in &chunks {
        body.extend_from_slice(chunk);
    }
    body.freeze()
}

/// Size of the batches an upload body is written and hashed in.
const SPOOL_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Below this a batch is hashed on one thread: SHA-256 runs at several
/// hundred MB/s, so a batch this size takes about a millisecond, against tens
/// of microseconds to start the two threads that would share it.
const PARALLEL_HASH_BYTES: usize = 512 * 1024;

/// The file and digests of a spool, owned by at most one blocking job at a time.
struct SpoolState {
    file: std::fs::File,
    sha1: Sha1,
    sha256: Sha256,
}

/// Writes and hashes batches on the blocking pool, one batch in flight.
struct SpoolWriter {
    path: tempfile::TempPath,
    idle: Option<SpoolState>,
    in_flight: Option<tokio::task::JoinHandle<std::io::Result<SpoolState>>>,
}

impl SpoolWriter {
    /// A new spool file in `temp_dir`, made on the blocking pool.
    async fn create(temp_dir: std::path::PathBuf) -> Result<Self, ServiceError> {
        let temp = tokio::task::spawn_blocking(move || tempfile::NamedTempFile::new_in(temp_dir))
            .await
            .or_internal("in spool")?
            .or_internal("in spool")?;
        let (file, path) = temp.into_parts();
        Ok(Self {
            path,
            idle: Some(SpoolState {
                file,
                sha1: Sha1::new(),
                sha256: Sha256::new(),
            }),
            in_flight: None,
        })
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
        let parallel = batch.iter().map(Bytes::len).sum::<usize>() >= PARALLEL_HASH_BYTES;
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let SpoolState { file, sha1, sha256 } = &mut state;
            let write_all = |file: &mut std::fs::File| {
                batch
                    .iter()
                    .try_for_each(|chunk| std::io::Write::write_all(file, chunk))
            };
            if !parallel {
                for chunk in &batch {
                    sha1.update(chunk);
                    sha256.update(chunk);
                }
                write_all(file)?;
                return Ok(state);
            }
            std::thread::scope(|scope| {
                scope.spawn(|| batch.iter().for_each(|chunk| sha1.update(chunk)));
                scope.spawn(|| batch.iter().for_each(|chunk| sha256.update(chunk)));
                write_all(file)
            })?;
            Ok(state)
        }));
        Ok(())
    }

    /// Waits for the last batch and returns the file and the digests.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn finish(mut self) -> Result<(tempfile::TempPath, [u8; 20], [u8; 32]), ServiceError> {
        let state = self.settle().await?;
        Ok((
            self.path,
            state.sha1.finalize().into(),
            state.sha256.finalize().into(),
        ))
    }
}
