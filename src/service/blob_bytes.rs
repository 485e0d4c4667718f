//! Where a blob's bytes are, for writers and readers.
//!
//! Most blobs are files in the blob store. A small upload's bytes (at most
//! [`ROW_CONTENT_MAX_BYTES`]) are instead kept in its blob's database row
//! (`blobs.content`), written by the same commit that stores the version.
//! That commit is one flush of the database's log, so a small upload waits
//! for one flush instead of two in turn (the blob store's, then the
//! commit's); on a busy CI feed, that wait is most of an upload. Such bytes
//! also come and go with their row, so `wharf gc` needs nothing new for them.
//!
//! Writers: [`ensure`] is the writer's half of the protocol in `db::blobs`,
//! run with the blob's row pinned when the row does not hold the bytes.
//! Readers: [`read_small`] and [`open_seekable`] look in the row first for a
//! blob small enough to be there, then in the store; large blobs are streamed
//! from the store by `packages::open_blob`, as before.

use std::path::Path;

use bytes::Bytes;

use crate::blob::{BlobKey, SeekableBlob};
use crate::db;
use crate::error::{OrInternal, ServiceError};

use super::Wharf;

/// The largest blob whose bytes its row may hold. Readers of a larger blob
/// go straight to the store, so this may grow but must never shrink: rows
/// written under a larger value would no longer be looked in.
pub const ROW_CONTENT_MAX_BYTES: u64 = 64 * 1024;

/// Where the bytes a writer references come from.
#[derive(Debug, Clone, Copy)]
pub enum BytesSource<'a> {
    /// A local file the writer still holds (a spooled upload, an assembly):
    /// written to the store again if `wharf gc` took the stored copy.
    File(&'a Path),
    /// Bytes already stored under another reference (a promotion): they must
    /// still be there.
    Stored,
    /// Bytes the writer gave the blob's row to hold (a small upload). The
    /// pin then finds them there and does not ask; asked, the row lost them.
    Row,
}

/// Makes sure blob `key` is stored; to be called with its row pinned.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn ensure(
    wharf: &Wharf,
    key: &BlobKey,
    source: BytesSource<'_>,
) -> Result<(), ServiceError> {
    match source {
        BytesSource::File(path) => wharf
            .blobs
            .ensure_file(key, path)
            .await
            .map(|_| ())
            .or_internal(format_args!("storing blob {}", key.to_hex())),
        BytesSource::Stored => {
            let present = wharf
                .blobs
                .exists(key)
                .await
                .or_internal(format_args!("checking blob {}", key.to_hex()))?;
            if present {
                Ok(())
            } else {
                Err(ServiceError::Conflict(
                    "The source package's bytes were deleted meanwhile; upload it again."
                        .to_owned(),
                ))
            }
        }
        BytesSource::Row => Err(ServiceError::internal(anyhow::anyhow!(
            "the row of blob {} was given its bytes and does not hold them",
            key.to_hex()
        ))),
    }
}

/// The whole bytes of a small blob (at most [`ROW_CONTENT_MAX_BYTES`]): from
/// its row, or else from the store.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn read_small(wharf: &Wharf, key: &BlobKey) -> Result<Bytes, ServiceError> {
    if let Some(content) = db::blobs::content(&wharf.db, &key.to_hex()).await? {
        return Ok(Bytes::from(content));
    }
    wharf
        .blobs
        .read_small(key)
        .await
        .or_internal(format_args!("reading blob {}", key.to_hex()))
}

/// A local file holding blob `key` of `size_bytes`, for readers that need to
/// seek (zip): a temporary copy of bytes held in the row, or what
/// `BlobStore::open_seekable` gives.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn open_seekable(
    wharf: &Wharf,
    key: &BlobKey,
    size_bytes: i64,
) -> Result<SeekableBlob, ServiceError> {
    let in_row = if u64::try_from(size_bytes).is_ok_and(|size| size <= ROW_CONTENT_MAX_BYTES) {
        db::blobs::content(&wharf.db, &key.to_hex()).await?
    } else {
        None
    };
    if let Some(content) = in_row {
        let temp_dir = wharf.temp_dir();
        let copy = tokio::task::spawn_blocking(move || {
            let mut file = tempfile::NamedTempFile::new_in(temp_dir)?;
            std::io::Write::write_all(&mut file, &content)?;
            Ok::<_, std::io::Error>(file.into_temp_path())
        })
        .await
        .or_internal("in open_seekable")?
        .or_internal(format_args!("copying blob {} to a file", key.to_hex()))?;
        return Ok(SeekableBlob::Temporary(copy));
    }
    wharf
        .blobs
        .open_seekable(key, &wharf.temp_dir())
        .await
        .or_internal(format_args!("opening blob {}", key.to_hex()))
}
