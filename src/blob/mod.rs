//! The content-addressed blob store holding package bytes.
//!
//! A blob's key is the SHA-256 of its bytes, laid out as
//! `blobs/sha256/ab/cd/<hex>`; [`BlobKey::path`] is the only place that
//! formats it. Identity of packages lives in the database, never in file
//! names, so identical uploads share one blob and writes are idempotent.
//!
//! Reads go through `object_store`, so an S3-compatible bucket is a different
//! constructor, not a different code path. Writes from a local spool file take
//! a fast path on the local backend: the spooled file is hard-linked into place
//! (atomic, no copy, and `AlreadyExists` tells us another upload got there
//! first); other backends stream it up in parts, aborting on failure.
//!
//! The store never decides on its own that bytes may go: deletion follows the
//! protocol in `db::blobs`, where the blob's database row is the lock.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{GetOptions, GetRange, ObjectStore};

use crate::config::{S3Settings, Settings, StorageBackend};

mod group_sync;
mod local;
mod s3;

use group_sync::GroupSync;
pub use local::digest_file;
use local::link_into_place;

/// Size of each read when streaming a local blob.
const LOCAL_READ_BYTES: usize = 1024 * 1024;

/// The key of a blob: the SHA-256 of its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlobKey([u8; 32]);

impl BlobKey {
    /// Wraps a SHA-256 digest.
    pub fn from_digest(digest: [u8; 32]) -> Self {
        Self(digest)
    }

    /// Parses the lowercase hex form stored in the database.
    pub fn from_hex(hex_digest: &str) -> Option<Self> {
        let mut digest = [0u8; 32];
        hex::decode_to_slice(hex_digest, &mut digest).ok()?;
        Some(Self(digest))
    }

    /// Lowercase hex of the digest.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The object path: `blobs/sha256/ab/cd/<hex>`.
    pub fn path(&self) -> String {
        let hex = self.to_hex();
        format!("blobs/sha256/{}/{}/{}", &hex[0..2], &hex[2..4], hex)
    }
}

/// Whether a put stored new bytes or found them already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// This call stored the blob.
    Created,
    /// The blob was already stored (content addressing makes this success).
    AlreadyPresent,
}

/// A blob found in the store, as listed for garbage collection.
#[derive(Debug, Clone)]
pub struct StoredBlob {
    /// Its key.
    pub key: BlobKey,
    /// When it was written.
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

/// The app-owned handle on the blob store.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    local_root: Option<PathBuf>,
    /// Makes local writes durable, many at a time (none for object stores,
    /// whose writes are durable when they return).
    local_sync: Option<Arc<GroupSync>>,
    /// Where the bytes are, for messages and `/health/ready`.
    location: String,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore")
            .field("local_root", &self.local_root)
            .finish_non_exhaustive()
    }
}

impl BlobStore {
    /// The store the settings name: the local folder or the S3 bucket.
    pub fn open(settings: &Settings) -> anyhow::Result<Self> {
        match settings.storage.backend {
            StorageBackend::Local => Self::local(&settings.blob_dir()),
            StorageBackend::S3 => Self::s3(&settings.storage.s3),
        }
    }

    /// A store in a local directory (created if missing).
    pub fn local(root: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        Ok(Self {
            store: Arc::new(LocalFileSystem::new_with_prefix(&root)?),
            local_sync: Some(GroupSync::new(std::fs::File::open(&root)?)),
            location: root.display().to_string(),
            local_root: Some(root),
        })
    }

    /// A bucket as a plain object store (its `prefix` applied), for what
    /// is not content-addressed: export containers.
    pub fn connect_bucket(settings: &S3Settings) -> anyhow::Result<Arc<dyn ObjectStore>> {
        s3::connect(settings)
    }

    /// A store in an S3-compatible bucket.
    pub fn s3(settings: &S3Settings) -> anyhow::Result<Self> {
        Ok(Self {
            store: s3::connect(settings)?,
            local_root: None,
            local_sync: None,
            location: format!(
                "s3://{}/{} at {}",
                settings.bucket,
                settings.prefix.trim_matches('/'),
                s3::describe_endpoint(settings)
            ),
        })
    }

    /// Where the bytes are: a folder, or a bucket and its server.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn local_path(&self, key: &BlobKey) -> Option<PathBuf> {
        self.local_root.as_ref().map(|root| root.join(key.path()))
    }

    /// Stores the file at `source` under `key`, unless the key is already
    /// present, and returns once the bytes are durable. The caller has
    /// verified that `key` is the SHA-256 of the file and keeps the file: a
    /// writer may need it again to re-store bytes that `wharf gc` deleted
    /// meanwhile (see `db::blobs`).
    #[tracing::instrument(level = "debug", skip_all, fields(blob = %key.to_hex()))]
    pub async fn put_file(&self, key: &BlobKey, source: &Path) -> anyhow::Result<PutOutcome> {
        if let (Some(target), Some(sync)) = (self.local_path(key), &self.local_sync) {
            // On the blocking pool: a link is a metadata operation whose cost
            // does not grow with the blob, but it may wait (a new folder, a
            // directory block under write-back while a flush runs: a
            // millisecond), and a request thread must not.
            let source = source.to_owned();
            let outcome =
                tokio::task::spawn_blocking(move || link_into_place(&source, &target)).await??;
            // Found present, the bytes may be another writer's that are not
            // flushed yet: this writer's flush covers them too.
            sync.sync().await?;
            return Ok(outcome);
        }
        let path = StorePath::from(key.path());
        if self.store.head(&path).await.is_ok() {
            return Ok(PutOutcome::AlreadyPresent);
        }
        s3::upload_file(self.store.as_ref(), &path, source).await?;
        Ok(PutOutcome::Created)
    }

    /// Makes sure the bytes of `key` are stored, writing them again from
    /// `source` if they are not. Cheap when they are (a `stat`, or a `HEAD`).
    /// Called with the blob's row pinned, so that the answer stays true.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn ensure_file(&self, key: &BlobKey, source: &Path) -> anyhow::Result<PutOutcome> {
        if self.exists(key).await? {
            return Ok(PutOutcome::AlreadyPresent);
        }
        tracing::warn!(blob = %key.to_hex(), "blob bytes were gone (collected meanwhile); storing them again");
        self.put_file(key, source).await
    }

    /// Whether the bytes of `key` are stored.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn exists(&self, key: &BlobKey) -> anyhow::Result<bool> {
        if let Some(path) = self.local_path(key) {
            // A `stat` of a local file, on this thread: it is asked inside
            // the write transaction, where a trip to the blocking pool would
            // hold the database's write lock longer than the `stat` takes.
            return Ok(path.try_exists()?);
        }
        match self.store.head(&StorePath::from(key.path())).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Streams the blob, or the byte range of it.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn get(
        &self,
        key: &BlobKey,
        range: Option<Range<u64>>,
    ) -> anyhow::Result<BoxStream<'static, std::io::Result<Bytes>>> {
        if let Some(path) = self.local_path(key) {
            // object_store's local reads hop to the blocking pool per 8 KiB;
            // large reads through tokio's file keep downloads near disk speed.
            use tokio::io::{AsyncReadExt, AsyncSeekExt};
            let mut file = tokio::fs::File::open(&path).await?;
            let length = match &range {
                Some(r) => {
                    file.seek(std::io::SeekFrom::Start(r.start)).await?;
                    r.end - r.start
                }
                None => u64::MAX,
            };
            return Ok(tokio_util::io::ReaderStream::with_capacity(
                file.take(length),
                LOCAL_READ_BYTES,
            )
            .boxed());
        }
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&StorePath::from(key.path()), options)
            .await?;
        Ok(result.into_stream().map_err(std::io::Error::other).boxed())
    }

    /// Reads a whole blob into memory. Only for small blobs (manifests).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn read_small(&self, key: &BlobKey) -> anyhow::Result<Bytes> {
        Ok(self
            .store
            .get(&StorePath::from(key.path()))
            .await?
            .bytes()
            .await?)
    }

    /// A local file holding the blob, for readers that need to seek (zip).
    /// On the local backend this is the blob itself; otherwise a temporary copy.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn open_seekable(
        &self,
        key: &BlobKey,
        temp_dir: &Path,
    ) -> anyhow::Result<SeekableBlob> {
        if let Some(path) = self.local_path(key) {
            return Ok(SeekableBlob::Local(path));
        }
        let temp = tempfile::NamedTempFile::new_in(temp_dir)?.into_temp_path();
        let mut file = tokio::fs::File::create(&temp).await?;
        let mut stream = self.get(key, None).await?;
        while let Some(chunk) = stream.next().await {
            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk?).await?;
        }
        // tokio's file writes in the background: without this, a reader
        // that opens the copy at once may find its last chunk missing.
        tokio::io::AsyncWriteExt::flush(&mut file).await?;
        Ok(SeekableBlob::Temporary(temp))
    }

    /// Checks that the store answers: its folder exists, or its server
    /// answers a `HEAD` (a missing object is an answer).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn probe(&self) -> anyhow::Result<()> {
        if let Some(root) = &self.local_root {
            anyhow::ensure!(root.is_dir(), "the blob folder {} is gone", root.display());
            return Ok(());
        }
        match self.store.head(&StorePath::from("health-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a blob; deleting a missing blob is not an error.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete(&self, key: &BlobKey) -> anyhow::Result<()> {
        match self.store.delete(&StorePath::from(key.path())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Lists every blob in the store.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list(&self) -> anyhow::Result<Vec<StoredBlob>> {
        let prefix = StorePath::from("blobs/sha256");
        let objects: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        Ok(objects
            .into_iter()
            .filter_map(|meta| {
                let key = BlobKey::from_hex(meta.location.filename()?)?;
                Some(StoredBlob {
                    key,
                    last_modified: meta.last_modified,
                })
            })
            .collect())
    }
}

/// Whether `error` is the blob store's server not answering (refused,
/// timed out, failing with 5xx after retries): an outage to retry after, not
/// a fault in Wharf. A missing object, a refused credential or a local
/// disk's error is not one.
pub fn is_outage(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<object_store::Error>(),
            Some(object_store::Error::Generic { store, .. }) if *store != "LocalFileSystem"
        )
    })
}

/// A blob readable as a local file.
#[derive(Debug)]
pub enum SeekableBlob {
    /// The stored file itself.
    Local(PathBuf),
    /// A temporary copy, removed on drop.
    Temporary(tempfile::TempPath),
}

impl SeekableBlob {
    /// The file's path.
    pub fn path(&self) -> &Path {
        match self {
            Self::Local(path) => path,
            Self::Temporary(path) => path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_format_one_path_layout() {
        let key = BlobKey::from_hex(&"ab".repeat(32)).unwrap();
        assert_eq!(
            key.path(),
            format!("blobs/sha256/ab/ab/{}", "ab".repeat(32))
        );
        assert!(BlobKey::from_hex("zz").is_none());
    }

    #[tokio::test]
    async fn a_second_put_of_the_same_content_finds_it_present() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(&dir.path().join("store")).unwrap();
        let key = BlobKey::from_digest([7; 32]);
        for expected in [PutOutcome::Created, PutOutcome::AlreadyPresent] {
            let spool = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
            std::fs::write(spool.path(), b"hello").unwrap();
            assert_eq!(store.put_file(&key, spool.path()).await.unwrap(), expected);
        }
        let mut stream = store.get(&key, Some(1..4)).await.unwrap();
        assert_eq!(
            stream.next().await.unwrap().unwrap(),
            Bytes::from_static(b"ell")
        );
        assert_eq!(store.list().await.unwrap().len(), 1);
    }
}
