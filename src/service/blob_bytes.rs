//! What a writer does with its blob's row pinned: make sure the bytes it is
//! about to reference are in the store (the writer's half of the protocol in
//! `db::blobs`).

use std::path::Path;

use crate::blob::BlobKey;
use crate::error::{OrInternal, ServiceError};

use super::Wharf;

/// Where the bytes a writer references come from.
#[derive(Debug, Clone, Copy)]
pub enum BytesSource<'a> {
    /// A local file the writer still holds (a spooled upload, an assembly):
    /// written to the store again if `wharf gc` took the stored copy.
    File(&'a Path),
    /// Bytes already stored under another reference (a promotion): they must
    /// still be there.
    Stored,
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
    }
}
