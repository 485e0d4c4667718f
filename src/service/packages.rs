//! Reading and deleting stored packages: list packages and versions, open a
//! package (assembling a virtual one) or one of its files for download.
//! Version resolution is the leaf module `resolve`, which assembly uses too.

use bytes::Bytes;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::model::{Feed, VersionDetail};
use crate::blob::BlobKey;
use crate::db;
use crate::domain::{Container, GroupName, PackageName};
use crate::error::{OrInternal, ServiceError};
use crate::telemetry::spawn_blocking_in_span;
use crate::upack::{self, ContentFormat, EntryLookup};

use crate::db::packages::VersionRow;

pub use super::resolve::{VersionSelector, resolve, resolve_for};

use super::Wharf;
use super::cache::SMALL_BLOB_BYTES;
use super::listings::{self, Listing};

/// The bytes a `download` of `row` serves: the stored package, or for a
/// virtual package its assembled `.upack`. Counts the download.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn package_bytes(
    wharf: &Wharf,
    feed: &Feed,
    version: &VersionDetail,
) -> Result<StoredBytes, ServiceError> {
    let row = &*version.row;
    let bytes = if row.is_virtual {
        let assembled = super::assembly::assembled(wharf, feed, row).await?;
        StoredBytes {
            blob_sha256: assembled.blob_sha256,
            size_bytes: assembled.size_bytes,
        }
    } else {
        StoredBytes::of(version)
    };
    wharf.downloads.record(row.id);
    Ok(bytes)
}

/// A blob to serve and its size.
#[derive(Debug, Clone)]
pub struct StoredBytes {
    /// SHA-256 of the bytes (the blob key, and the `ETag`).
    pub blob_sha256: String,
    /// Size in bytes.
    pub size_bytes: i64,
}

impl StoredBytes {
    /// The stored bytes of a version, as uploaded.
    pub fn of(version: &VersionDetail) -> Self {
        Self {
            blob_sha256: version.sha256().to_owned(),
            size_bytes: version.size_bytes(),
        }
    }
}

/// Re-archives the content (`package/`) of the package in `bytes` as zip or
/// tgz into an unlinked temporary file, returned open with its size.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn content_only(
    wharf: &Wharf,
    bytes: &StoredBytes,
    format: ContentFormat,
) -> Result<(tokio::fs::File, u64), ServiceError> {
    let key = BlobKey::from_hex(&bytes.blob_sha256)
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("bad blob hash")))?;
    let source = super::blob_bytes::open_seekable(wharf, &key, bytes.size_bytes).await?;
    let output =
        tempfile::NamedTempFile::new_in(wharf.temp_dir()).or_internal("in content_only")?;
    let (source_path, output_path) = (source.path().to_owned(), output.path().to_owned());
    spawn_blocking_in_span(move || upack::write_content(&source_path, &output_path, format))
        .await
        .or_internal("in content_only")??;
    // Unlinked on drop; the open handle keeps the bytes until streamed.
    let file = output.reopen().or_internal("in content_only")?;
    let size = file.metadata().or_internal("in content_only")?.len();
    drop(output);
    Ok((tokio::fs::File::from_std(file), size))
}

/// Numbers of packages and versions in a feed.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn counts(wharf: &Wharf, feed: &Feed) -> Result<(i64, i64), ServiceError> {
    Ok(db::listings::count_in_feed(&wharf.db, feed.id).await?)
}

/// The group of the one package named `name` in `feed`: a name without a
/// group must identify one package (the empty group when none matches, so
/// that resolving it answers a plain 404).
#[tracing::instrument(level = "debug", skip(wharf, feed))]
pub async fn only_group_of(
    wharf: &Wharf,
    feed: &Feed,
    name: &PackageName,
) -> Result<GroupName, ServiceError> {
    let listing = Listing::Packages {
        group: None,
        name: Some(name.clone()),
        limit: None,
        offset: None,
    };
    let packages = listings::list(wharf, feed, &listing).await?.into_packages();
    match packages.as_slice() {
        [] => Ok(GroupName::empty()),
        [only] => Ok(GroupName::parse(only.latest().group())?),
        several => Err(ServiceError::BadRequest(format!(
            "The name '{name}' matches packages in several groups ({}); give a group.",
            several
                .iter()
                .map(|p| p.latest().group())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The stored bytes of a version (or a byte range of them): in memory when
/// small, otherwise a stream from the blob store.
pub enum BlobBody {
    /// A small blob, served from memory after first use.
    Whole(Bytes),
    /// A larger blob, read as it is sent.
    Stream(BoxStream<'static, std::io::Result<Bytes>>),
}

impl BlobBody {
    /// The bytes as a stream, whichever they are.
    pub fn into_stream(self) -> BoxStream<'static, std::io::Result<Bytes>> {
        match self {
            Self::Whole(bytes) => futures_util::stream::once(async move { Ok(bytes) }).boxed(),
            Self::Stream(stream) => stream,
        }
    }
}

/// Opens the stored bytes of a version (or a byte range of them).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn open_blob(
    wharf: &Wharf,
    bytes: &StoredBytes,
    range: Option<std::ops::Range<u64>>,
) -> Result<BlobBody, ServiceError> {
    let key = || {
        BlobKey::from_hex(&bytes.blob_sha256)
            .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("bad blob hash")))
    };
    if bytes.size_bytes <= SMALL_BLOB_BYTES {
        // Manifests and other small blobs: served from memory after first
        // use, as one buffer (actix writes it with the headers, no stream).
        // Every blob whose row may hold its bytes comes this way. The key is
        // decoded from its hex form only on a miss (1.6 % of a cached
        // manifest fetch's instructions otherwise, by callgrind).
        let whole = wharf
            .caches
            .small_blob(&bytes.blob_sha256, || async {
                super::blob_bytes::read_small(wharf, &key()?).await
            })
            .await?;
        return Ok(BlobBody::Whole(match range {
            Some(r) => whole.slice(
                usize::try_from(r.start).unwrap_or(0)
                    ..usize::try_from(r.end).unwrap_or(0).min(whole.len()),
            ),
            None => whole,
        }));
    }
    let stream = wharf
        .blobs
        .get(&key()?, range)
        .await
        .or_internal("in open_blob")?;
    Ok(BlobBody::Stream(stream))
}

/// The stored bytes of a small blob (a virtual package manifest), whole.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn read_manifest_bytes(
    wharf: &Wharf,
    version: &VersionDetail,
) -> Result<Bytes, ServiceError> {
    super::blob_bytes::read_small(wharf, &blob_key(&version.row)?).await
}

fn blob_key(row: &VersionRow) -> Result<BlobKey, ServiceError> {
    BlobKey::from_hex(&row.blob_sha256)
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("bad blob hash in row {}", row.id)))
}

/// One file out of a package, being streamed.
pub struct FileDownload {
    /// The entry's base name, for `Content-Disposition`.
    pub file_name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its bytes.
    pub body: tokio_stream::wrappers::ReceiverStream<std::io::Result<Bytes>>,
}

/// Opens the file at `path` (relative to the archive root) of a package.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn open_file(
    wharf: &Wharf,
    version: &VersionDetail,
    path: &str,
) -> Result<FileDownload, ServiceError> {
    let row = &*version.row;
    if row.container != Container::Zip {
        return Err(ServiceError::NotFound(format!(
            "The file '{path}' was not found: {} {} is a virtual package manifest, not an archive.",
            row.name, row.version
        )));
    }
    let blob = super::blob_bytes::open_seekable(wharf, &blob_key(row)?, row.size_bytes).await?;
    let archive = blob.path().to_owned();
    let wanted = path.to_owned();
    let lookup = spawn_blocking_in_span(move || upack::find_entry(&archive, &wanted))
        .await
        .or_internal("in open_file")??;
    let (index, name, size) = match lookup {
        EntryLookup::File { index, name, size } => (index, name, size),
        EntryLookup::Directory => {
            return Err(ServiceError::NotFound(format!(
                "The path '{path}' is a directory; name a file."
            )));
        }
        EntryLookup::Missing => {
            return Err(ServiceError::NotFound(format!(
                "The file '{path}' was not found in {} {}.",
                row.name, row.version
            )));
        }
    };
    let (sender, receiver) = tokio::sync::mpsc::channel(8);
    let archive = blob.path().to_owned();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let _keep_alive = blob;
        let mut sink = ChannelWriter(sender.clone());
        if let Err(error) = upack::copy_entry(&archive, index, &mut sink) {
            let _ = sender.blocking_send(Err(std::io::Error::other(error.to_string())));
        }
    });
    let file_name = name.rsplit(['/', '\\']).next().unwrap_or(&name).to_owned();
    Ok(FileDownload {
        file_name,
        size,
        body: tokio_stream::wrappers::ReceiverStream::new(receiver),
    })
}

/// A blocking `Write` that hands each buffer to an async stream.
struct ChannelWriter(tokio::sync::mpsc::Sender<std::io::Result<Bytes>>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Deletes a version. Its blob stays until `wharf gc` finds it unreferenced.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(
    wharf: &Wharf,
    feed: &Feed,
    version: &VersionDetail,
) -> Result<(), ServiceError> {
    let row = &*version.row;
    db::packages::delete_version(&wharf.db, feed.id, row.id).await?;
    tracing::info!(package.name = %row.name, version = %row.version, "version deleted");
    Ok(())
}
