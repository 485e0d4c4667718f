//! A bounded concurrent map whose entries may expire: what the hot-path
//! caches (`service::cache`) keep their values in.
//!
//! A manifest download looks up five of them (key, feed, resolved version,
//! connectors, bytes). moka held them first; each of its reads records
//! itself for its eviction policy (an epoch pin and a channel send), which
//! was 6 % of a manifest download's CPU time (`bench/run --profile L`).
//! `quick_cache`'s read is a shard's read lock and one atomic bit. It has no
//! expiry, so an entry keeps the time it was stored beside its value, and a
//! read of an entry older than the time to live is a miss.

use std::hash::Hash;
use std::time::{Duration, Instant};

use quick_cache::{Equivalent, Weighter};

/// Shards of a weighed cache: an entry may weigh up to about a quarter of
/// the capacity.
const WEIGHED_SHARDS: usize = 4;

/// A value and when it was stored.
#[derive(Clone)]
struct Entry<V> {
    stored: Instant,
    value: V,
}

/// What an entry counts for against the capacity (at least 1: `quick_cache`
/// never evicts an entry that weighs nothing).
struct Weigh<V>(fn(&V) -> u64);

impl<V> Clone for Weigh<V> {
    fn clone(&self) -> Self {
        Self(self.0)
    }
}

impl<K, V> Weighter<K, Entry<V>> for Weigh<V> {
    fn weight(&self, _key: &K, entry: &Entry<V>) -> u64 {
        (self.0)(&entry.value).max(1)
    }
}

/// See the module docs.
pub struct ExpiringCache<K, V> {
    entries: quick_cache::sync::Cache<K, Entry<V>, Weigh<V>>,
    /// How long an entry is served; `None`: until evicted or cleared.
    ttl: Option<Duration>,
}

impl<K: Eq + Hash, V: Clone> ExpiringCache<K, V> {
    /// At most `capacity` entries, each served for at most `ttl`.
    pub fn entries(capacity: u64, ttl: Duration) -> Self {
        let expected_entries = usize::try_from(capacity).unwrap_or(usize::MAX);
        Self {
            entries: quick_cache::sync::Cache::with_weighter(
                expected_entries,
                capacity,
                Weigh(|_| 1),
            ),
            ttl: Some(ttl),
        }
    }

    /// Entries whose `weigh`ts add up to at most `capacity` (about
    /// `expected_entries` of them), each served for at most `ttl` if given.
    ///
    /// The map is split in [`WEIGHED_SHARDS`] shards, each holding its share
    /// of the capacity, and an entry heavier than a shard's share is not
    /// kept: with as many shards as a large machine has cores (the default),
    /// a big listing would never be cached.
    pub fn weighed(
        capacity: u64,
        expected_entries: u64,
        weigh: fn(&V) -> u64,
        ttl: Option<Duration>,
    ) -> Self {
        let expected_entries = usize::try_from(expected_entries).unwrap_or(usize::MAX);
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(expected_entries)
            .weight_capacity(capacity)
            .shards(WEIGHED_SHARDS)
            .build();
        let entries = match options {
            Ok(options) => quick_cache::sync::Cache::with_options(
                options,
                Weigh(weigh),
                quick_cache::DefaultHashBuilder::default(),
                quick_cache::sync::DefaultLifecycle::default(),
            ),
            // Only a missing capacity is refused, and both are set.
            Err(_) => {
                quick_cache::sync::Cache::with_weighter(expected_entries, capacity, Weigh(weigh))
            }
        };
        Self { entries, ttl }
    }

    /// The value stored under `key`, unless it has expired.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let entry = self.entries.get(key)?;
        let fresh = self.ttl.is_none_or(|ttl| entry.stored.elapsed() < ttl);
        fresh.then_some(entry.value)
    }

    /// Stores `value` under `key`, in place of any value there.
    pub fn insert(&self, key: K, value: V) {
        let entry = Entry {
            stored: Instant::now(),
            value,
        };
        self.entries.insert(key, entry);
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_served_until_it_expires() {
        let cache = ExpiringCache::entries(10, Duration::from_millis(50));
        cache.insert("feed".to_owned(), 1);
        assert_eq!(cache.get("feed"), Some(1), "looked up by &str");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("feed"), None, "older than the time to live");
        cache.insert("feed".to_owned(), 2);
        assert_eq!(cache.get("feed"), Some(2), "stored again, served again");
    }

    #[test]
    fn weights_bound_what_is_kept_and_clear_forgets_all() {
        let cache: ExpiringCache<u32, Vec<u8>> =
            ExpiringCache::weighed(1_000, 10, |bytes| bytes.len() as u64, None);
        for key in 0..100 {
            cache.insert(key, vec![0; 100]);
        }
        let kept = (0..100).filter(|key| cache.get(key).is_some()).count();
        assert!(
            (1..=10).contains(&kept),
            "100-byte values in 1,000 bytes: {kept} kept"
        );
        cache.clear();
        assert!((0..100).all(|key| cache.get(&key).is_none()));
    }

    #[test]
    fn an_entry_of_a_fifth_of_the_capacity_is_kept_on_any_machine() {
        let cache: ExpiringCache<u32, Vec<u8>> =
            ExpiringCache::weighed(64 << 20, 4_096, |bytes| bytes.len() as u64, None);
        cache.insert(1, vec![0; 13 << 20]);
        assert!(
            cache.get(&1).is_some(),
            "a 13 MiB listing fits a 64 MiB cache"
        );
    }
}
