//! In-process caches on the hot read path, and what keeps them honest.
//!
//! Resolving `download-vpack/<g>/<n>?latest` with a key reads the key's row,
//! the feed and the version; serving it reads a blob. At tens of thousands of
//! requests a second those reads dominate, so they are cached here:
//!
//! - feed rows by name, API key rows by id, resolved versions by
//!   (feed, group, name, version or latest rule): cleared whenever anything
//!   they could reflect changes;
//! - rendered listings (`packages`, `versions`, `search`) by feed, endpoint
//!   and parameters: cleared like the rows;
//! - small blobs by SHA-256: content-addressed, so never stale, only bounded.
//!
//! Clearing: every write that could change a cached read counts itself in
//! this process (`Db::local_writes`), which the caches compare on each
//! access, so a process reads its own writes at once. A write that changed
//! only packages and versions is counted by feed: it leaves feed and key
//! rows cached, and the resolved versions and listings of other feeds (a
//! burst of uploads or a pull into one feed does not turn another feed's
//! hot manifest into database reads). Each write also bumps the database's
//! `change_log` generation, which other processes (the CLI, other servers)
//! hear of as `PostgreSQL` announces it (`service::change_follower`) or, on
//! `SQLite` and while a listening connection is re-established, by polling
//! it every [`POLL_INTERVAL`]; a generation from another process clears
//! every cache, one this process's own package write made clears nothing
//! more. A value loaded while a write happened is not cached. Entries also
//! expire after [`ENTRY_TTL`], a safety net for changes made behind Wharf's
//! back.

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;

mod counts;

use counts::CacheCounts;
pub use counts::HitCounts;

use super::connectors::Connector;
use super::expiring_cache::ExpiringCache as Cache;
use super::listings::ListingKey;
use super::model::Feed;
use super::resolve::{ResolveKey, ResolveKeyRef};
use crate::db::{self, Db, api_keys::ApiKeyRow, packages::VersionRow};
use crate::domain::{FeedScope, Grant};

/// How often the database's change generation is polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Longest life of a cached row.
pub const ENTRY_TTL: Duration = Duration::from_secs(30);

/// Largest blob kept in memory. At least `blob_bytes::ROW_CONTENT_MAX_BYTES`:
/// `packages::open_blob` reads every blob whose row may hold its bytes
/// through this cache, and streams only larger ones from the store.
pub const SMALL_BLOB_BYTES: i64 = 64 * 1024;

const _: () = assert!(SMALL_BLOB_BYTES as u64 >= super::blob_bytes::ROW_CONTENT_MAX_BYTES);

/// An API key's row with its permissions already parsed.
#[derive(Debug)]
pub struct CachedKey {
    /// The stored row.
    pub row: ApiKeyRow,
    /// Its public id, shared by every principal authenticated with it.
    pub id: Arc<str>,
    /// What it may do.
    pub grant: Arc<Grant>,
    /// The SHA-256 of the key text last verified against this very row,
    /// and when: a request presenting it again needs neither argon2 nor
    /// another cache (see `auth`). A changed row is a new entry, without it.
    pub verified: std::sync::Mutex<Option<([u8; 32], std::time::Instant)>>,
}

/// A cached value of one feed's packages, with the count of the feed's
/// package writes it was loaded at (`LocalWrites::feed`).
type InFeed<V> = (u64, V);

/// The hot-path caches.
pub struct Caches {
    feeds: Cache<String, Option<Feed>>,
    keys: Cache<String, Option<Arc<CachedKey>>>,
    versions: Cache<ResolveKey, InFeed<Option<Arc<VersionRow>>>>,
    small_blobs: Cache<String, Bytes>,
    listings: Cache<ListingKey, InFeed<Bytes>>,
    /// Each feed's connectors, by feed id.
    connectors: Cache<i64, Arc<Vec<Connector>>>,
    /// Hits and misses of each cache above, for `/metrics`.
    counts: CacheCounts,
    /// Whose local writes the caches follow.
    db: Db,
    /// Local writes and remote epochs already reflected in the caches
    /// (local package writes of a known feed are compared entry by entry).
    seen_local: AtomicU64,
    seen_local_packages: AtomicU64,
    remote_epoch: AtomicU64,
    seen_remote: AtomicU64,
    /// The highest change-log generation seen.
    last_generation: AtomicI64,
    /// Whether changes are being heard as they are announced, so that
    /// polling can rest (see `service::change_follower`).
    listening: AtomicBool,
}

/// Which changes the row caches (feeds, keys, connectors) reflect: this
/// process's writes to feeds, keys, users and connectors, and the changes
/// heard from other processes. Two equal stamps: no such change between
/// them, so a row read under the first is still true under the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStamp {
    settings: u64,
    remote: u64,
}

#[cfg(test)]
impl CacheStamp {
    /// A stamp with these counts.
    pub fn for_tests(settings: u64, remote: u64) -> Self {
        Self { settings, remote }
    }
}

/// `last_generation` before the first poll.
const UNKNOWN_GENERATION: i64 = i64::MIN;

impl Caches {
    /// Empty caches that follow the writes made through `db`.
    pub fn new(db: &Db) -> Self {
        Self {
            feeds: rows(10_000),
            keys: rows(100_000),
            versions: rows(100_000),
            small_blobs: Cache::weighed(64 * 1024 * 1024, 4_096, |bytes| bytes.len() as u64, None),
            listings: Cache::weighed(
                64 * 1024 * 1024,
                4_096,
                |(_, bytes)| bytes.len() as u64,
                Some(ENTRY_TTL),
            ),
            connectors: rows(10_000),
            counts: CacheCounts::default(),
            db: db.clone(),
            seen_local: AtomicU64::new(db.local_writes().settings()),
            seen_local_packages: AtomicU64::new(db.local_writes().all_feeds()),
            remote_epoch: AtomicU64::new(0),
            seen_remote: AtomicU64::new(0),
            last_generation: AtomicI64::new(UNKNOWN_GENERATION),
            listening: AtomicBool::new(false),
        }
    }
}

/// A row cache: bounded, and each entry expires after [`ENTRY_TTL`].
fn rows<K: Hash + Eq, V: Clone>(capacity: u64) -> Cache<K, V> {
    Cache::entries(capacity, ENTRY_TTL)
}

impl Caches {
    fn stamp(&self) -> (u64, u64, u64) {
        let local = self.db.local_writes();
        (
            local.settings(),
            local.all_feeds(),
            self.remote_epoch.load(Ordering::Acquire),
        )
    }

    /// The stamp of the row caches now (reads only: no cache line moves).
    pub fn rows_stamp(&self) -> CacheStamp {
        let (settings, _, remote) = self.stamp();
        CacheStamp { settings, remote }
    }

    /// Clears the caches a write since they were last checked could have
    /// made stale; returns the stamp a load must still see to be cached.
    fn sync(&self) -> (u64, u64, u64) {
        // Read before writing: every request passes here, and a write would
        // bounce the counters' cache line between the worker threads.
        let changed = |seen: &AtomicU64, now: u64| {
            seen.load(Ordering::Acquire) != now && seen.swap(now, Ordering::AcqRel) != now
        };
        let (local, packages, remote) = self.stamp();
        let stale_local = changed(&self.seen_local, local);
        let stale_packages = changed(&self.seen_local_packages, packages);
        let stale_remote = changed(&self.seen_remote, remote);
        if stale_local || stale_remote {
            self.feeds.clear();
            self.keys.clear();
            self.connectors.clear();
        }
        if stale_local || stale_packages || stale_remote {
            self.versions.clear();
            self.listings.clear();
        }
        (local, packages, remote)
    }

    /// The cached value, or `load`'s, cached unless a write that could make
    /// it stale (any but package writes) happened meanwhile.
    ///
    /// `load` makes its future only on a miss, and that future is boxed: a
    /// query's future is hundreds of bytes, and held inline it would make
    /// every request's future that much larger, copied on each hit (copies
    /// of futures were 6 % of a manifest download, `bench/run --profile L`).
    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_or_load<K, Q, V, E, L, F>(
        &self,
        (cache, counts): (&Cache<K, V>, &HitCounts),
        key: &Q,
        load: L,
    ) -> Result<V, E>
    where
        K: Hash + Eq,
        // Looked up by reference: a hit allocates no key.
        Q: Hash + quick_cache::Equivalent<K> + ToOwned<Owned = K> + ?Sized,
        V: Clone,
        L: FnOnce() -> F,
        F: Future<Output = Result<V, E>>,
    {
        let settings_only =
            |(settings, _, remote): (u64, u64, u64)| CacheStamp { settings, remote };
        let stamp = settings_only(self.sync());
        let hit = cache.get(key);
        counts.count(hit.is_some());
        if let Some(hit) = hit {
            return Ok(hit);
        }
        let value = Box::pin(load()).await?;
        if self.rows_stamp() == stamp {
            cache.insert(key.to_owned(), value.clone());
        }
        Ok(value)
    }

    /// Like [`Self::get_or_load`], for a value of feed `feed_id`'s packages:
    /// also stale after a package write to that feed (an entry loaded
    /// before it is a miss) or to feeds not told.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_or_load_in_feed<K, Q, V, E, L, F>(
        &self,
        (cache, counts): (&Cache<K, InFeed<V>>, &HitCounts),
        feed_id: i64,
        key: Q,
        load: L,
    ) -> Result<V, E>
    where
        K: Hash + Eq,
        // Looked up as given, owned only to be stored.
        Q: Hash + quick_cache::Equivalent<K> + Into<K>,
        V: Clone,
        L: FnOnce() -> F,
        F: Future<Output = Result<V, E>>,
    {
        let stamp = self.sync();
        let feed_writes = self.db.local_writes().feed(feed_id);
        let hit = cache
            .get(&key)
            .filter(|(loaded_at, _)| *loaded_at == feed_writes);
        counts.count(hit.is_some());
        if let Some((_, hit)) = hit {
            return Ok(hit);
        }
        let value = Box::pin(load()).await?;
        if self.stamp() == stamp && self.db.local_writes().feed(feed_id) == feed_writes {
            cache.insert(key.into(), (feed_writes, value.clone()));
        }
        Ok(value)
    }

    /// The feed named `name_lower`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn feed(&self, db: &Db, name_lower: &str) -> Result<Option<Feed>, sqlx::Error> {
        self.get_or_load((&self.feeds, &self.counts.feeds), name_lower, || async {
            Ok(db::feeds::find(db, name_lower).await?.map(Feed::from))
        })
        .await
    }

    /// The API key with public id `id`, its permissions parsed. A row whose
    /// stored permissions do not parse is treated as no key at all.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn api_key(&self, db: &Db, id: &str) -> Result<Option<Arc<CachedKey>>, sqlx::Error> {
        self.get_or_load((&self.keys, &self.counts.keys), id, || async {
            Ok(db::api_keys::find(db, id).await?.and_then(|row| {
                let permissions = Grant::parse_permissions(&row.permissions).ok()?;
                let scope = FeedScope::parse(row.feed_scope.as_deref());
                Some(Arc::new(CachedKey {
                    id: row.id.as_str().into(),
                    row,
                    grant: Arc::new(Grant { permissions, scope }),
                    verified: std::sync::Mutex::new(None),
                }))
            }))
        })
        .await
    }

    /// The API key with public id `id` if its row is cached (never waits).
    pub fn cached_api_key(&self, id: &str) -> Option<Arc<CachedKey>> {
        self.sync();
        let cached = self.keys.get(id).flatten();
        // A miss here is not counted: the full path that follows counts it.
        // (A row found but not usable, its text not verified within
        // auth.verified_cache_seconds, is counted twice: once a minute per
        // key at most.)
        if cached.is_some() {
            self.counts.keys.count(true);
        }
        cached
    }

    /// The connectors of the feed `feed_id`, in order, loaded by `load` on
    /// a miss (asked on every download of a version a feed lacks, and on
    /// every `latest` and listing).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn connectors<L, F, E>(&self, feed_id: i64, load: L) -> Result<Arc<Vec<Connector>>, E>
    where
        L: FnOnce() -> F,
        F: Future<Output = Result<Vec<Connector>, E>>,
    {
        self.get_or_load(
            (&self.connectors, &self.counts.connectors),
            &feed_id,
            || async { Ok(Arc::new(load().await?)) },
        )
        .await
    }

    /// A resolved version, loaded by `load` on a miss.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn version<L, F>(
        &self,
        key: ResolveKeyRef<'_>,
        load: L,
    ) -> Result<Option<Arc<VersionRow>>, sqlx::Error>
    where
        L: FnOnce() -> F,
        F: Future<Output = Result<Option<VersionRow>, sqlx::Error>>,
    {
        self.get_or_load_in_feed(
            (&self.versions, &self.counts.versions),
            key.feed_id,
            key,
            || async { Ok(load().await?.map(Arc::new)) },
        )
        .await
    }

    /// A rendered listing, built by `build` on a miss.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn listing<L, F, E>(&self, key: ListingKey, build: L) -> Result<Bytes, E>
    where
        L: FnOnce() -> F,
        F: Future<Output = Result<Bytes, E>>,
    {
        self.get_or_load_in_feed(
            (&self.listings, &self.counts.listings),
            key.feed_id(),
            key,
            build,
        )
        .await
    }

    /// A small blob's bytes, loaded by `load` on a miss.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn small_blob<L, F, E>(&self, sha256: &str, load: L) -> Result<Bytes, E>
    where
        L: FnOnce() -> F,
        F: Future<Output = Result<Bytes, E>>,
    {
        let hit = self.small_blobs.get(sha256);
        self.counts.small_blobs.count(hit.is_some());
        if let Some(hit) = hit {
            return Ok(hit);
        }
        let bytes = Box::pin(load()).await?;
        self.small_blobs.insert(sha256.to_owned(), bytes.clone());
        Ok(bytes)
    }

    /// One poll of the change log: run every [`POLL_INTERVAL`] by the
    /// supervisor while changes are not heard as they are announced.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn check_remote_changes(&self) -> Result<(), sqlx::Error> {
        let generation = db::changes::generation(&self.db).await?;
        self.observe_generation(generation);
        Ok(())
    }

    /// The change log reached `generation`: when that is past the highest
    /// seen, some process wrote, and every cache is stale, unless all the
    /// generations since were this process's own package writes (which its
    /// caches have followed already). Announcements and polls may arrive out
    /// of order; an older generation says nothing.
    pub fn observe_generation(&self, generation: i64) {
        let last = self.last_generation.fetch_max(generation, Ordering::AcqRel);
        if last != UNKNOWN_GENERATION
            && generation > last
            && !self
                .db
                .local_writes()
                .only_own_generations(last, generation)
        {
            self.remote_epoch.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Each cache's name and its hits and misses so far.
    pub fn hit_counts(&self) -> [(&'static str, (u64, u64)); 6] {
        let counts = &self.counts;
        [
            ("feeds", counts.feeds.get()),
            ("api_keys", counts.keys.get()),
            ("resolved_versions", counts.versions.get()),
            ("listings", counts.listings.get()),
            ("small_blobs", counts.small_blobs.get()),
            ("connectors", counts.connectors.get()),
        ]
    }

    /// Whether changes are heard as announced (polling rests meanwhile).
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// Records whether changes are heard as announced.
    pub(crate) fn set_listening(&self, listening: bool) {
        self.listening.store(listening, Ordering::Release);
    }
}

#[cfg(test)]
mod tests;
