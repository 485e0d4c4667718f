//! Use cases: publish, resolve, download, delete, list, feeds, keys, users, gc.
//!
//! A service function owns the order of blob writes and database transactions
//! and returns a [`ServiceError`](crate::error::ServiceError). The HTTP layer
//! and the CLI both call these functions; neither touches `db` or `blob` itself.

use std::path::PathBuf;
use std::sync::Arc;

use crate::blob::BlobStore;
use crate::config::Settings;
use crate::db::Db;

pub mod access;
pub mod assembly;
pub mod auth;
pub mod blob_bytes;
pub mod cache;
pub mod change_follower;
pub mod connectors;
pub mod downloads;
pub mod expiring_cache;
pub mod feeds;
pub mod gc;
pub mod health;
pub mod keys;
pub mod listings;
pub mod metrics;
pub mod model;
pub mod operations;
pub mod packages;
pub mod promotion;
pub mod publish;
pub mod resolve;
pub mod scratch;
pub mod users;

pub use access::Caller;
pub use auth::{Authenticator, Credential};

/// Everything a use case needs, shared by every request.
#[derive(Clone)]
pub struct Wharf {
    /// Metadata.
    pub db: Db,
    /// Package bytes.
    pub blobs: BlobStore,
    /// Settings in effect.
    pub settings: Arc<Settings>,
    /// Credential verification and its cache.
    pub auth: Arc<Authenticator>,
    /// Download counts waiting to be written.
    pub downloads: Arc<downloads::DownloadCounter>,
    /// Hot-path caches.
    pub caches: Arc<cache::Caches>,
    /// Keeps concurrent first downloads of a virtual package to one assembly.
    pub assembly_locks: Arc<assembly::AssemblyLocks>,
    /// This process's folder for temporary files.
    scratch: Arc<scratch::ScratchDir>,
    /// The one client for outbound requests (URL sources of virtual
    /// packages; remote feeds next): connections are pooled and reused.
    pub http_client: reqwest::Client,
    /// Wakes this process's operation workers when an operation is queued.
    pub operations_queued: Arc<tokio::sync::Notify>,
    /// What this process remembers of its feeds' remote feeds.
    pub upstream: Arc<connectors::upstream::Upstream>,
    /// Uploads waiting for the next group commit.
    pub(crate) commits: Arc<publish::CommitQueue>,
}

/// How long an outbound request may take in all.
const OUTBOUND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

impl Wharf {
    /// Opens the database (running migrations) and the blob store.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn open(settings: Settings) -> anyhow::Result<Self> {
        use secrecy::ExposeSecret;
        for dir in [settings.data_dir.clone(), settings.temp_dir()] {
            std::fs::create_dir_all(&dir).map_err(|e| {
                anyhow::anyhow!("cannot create the data directory {}: {e}", dir.display())
            })?;
        }
        let db = Db::connect(
            settings.database_url().expose_secret(),
            settings.database.max_connections,
        )
        .await?;
        db.migrate().await?;
        let blobs = BlobStore::open(&settings)?;
        let scratch = scratch::ScratchDir::create(&settings.temp_dir()).map_err(|e| {
            anyhow::anyhow!(
                "cannot create a temporary folder in {}: {e}",
                settings.temp_dir().display()
            )
        })?;
        let caches = Arc::new(cache::Caches::new(&db));
        let auth = Arc::new(Authenticator::new(
            db.clone(),
            caches.clone(),
            &settings.auth,
        ));
        let upstream = Arc::new(connectors::upstream::Upstream::new(
            std::time::Duration::from_secs(settings.connectors.metadata_cache_seconds),
        ));
        Ok(Self {
            db,
            blobs,
            upstream,
            settings: Arc::new(settings),
            auth,
            downloads: Arc::default(),
            caches,
            assembly_locks: Arc::default(),
            scratch: Arc::new(scratch),
            http_client: reqwest::Client::builder()
                .timeout(OUTBOUND_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("Wharf/", env!("CARGO_PKG_VERSION")))
                .build()?,
            operations_queued: Arc::default(),
            commits: Arc::default(),
        })
    }

    /// This process's folder for spooled uploads and temporary copies.
    pub fn temp_dir(&self) -> PathBuf {
        self.scratch.path().to_owned()
    }
}
