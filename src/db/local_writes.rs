//! What this process wrote, for its own caches to compare on every read.
//!
//! A process reads its own writes at once: each write that could change a
//! cached read counts itself here after it commits, and the caches compare
//! the counts on each access (`service::cache`). Writes to packages and
//! versions are counted by feed, in stripes (two feeds may share one, which
//! costs a reload, never a stale read), so a burst of uploads or a pull into
//! one feed leaves the other feeds' resolved versions and listings cached.
//!
//! Every such write also bumps the database's change-log generation, which
//! is how other processes hear of it; this process hears its own writes
//! announced back too. So that hearing them clears nothing the feed counts
//! have not already cleared, the generations of its own package writes are
//! kept here until they are heard, and on `PostgreSQL` each announcement
//! names its writer by the process's tag (the connections'
//! `application_name` starts with it): an announcement can arrive before
//! the writer has recorded its generation.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many counters the feeds' package writes are spread over.
const FEED_STRIPES: usize = 64;

/// A tag naming one process's writes: `wharf-` and 12 hex digits.
pub fn new_writer_tag() -> String {
    format!("wharf-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Counts of this process's cache-affecting writes.
#[derive(Debug)]
pub struct LocalWrites {
    /// This process's tag (see [`new_writer_tag`]).
    writer: String,
    /// Writes of feeds, keys, users and connectors (clear every cache).
    settings: AtomicU64,
    /// Package writes whose feeds are not told (download counts).
    all_feeds: AtomicU64,
    /// Package writes, by feed id modulo [`FEED_STRIPES`].
    by_feed: [AtomicU64; FEED_STRIPES],
    /// Change-log generations of package writes not heard announced yet.
    own_generations: Mutex<BTreeSet<i64>>,
}

impl LocalWrites {
    /// No writes yet, by the process tagged `writer`.
    pub fn new(writer: String) -> Self {
        Self {
            writer,
            settings: AtomicU64::new(0),
            all_feeds: AtomicU64::new(0),
            by_feed: std::array::from_fn(|_| AtomicU64::new(0)),
            own_generations: Mutex::default(),
        }
    }
}

impl LocalWrites {
    fn stripe(&self, feed_id: i64) -> &AtomicU64 {
        let stripe = usize::try_from(feed_id.unsigned_abs() % FEED_STRIPES as u64).unwrap_or(0);
        &self.by_feed[stripe]
    }

    /// Writes of feeds, keys, users and connectors so far.
    pub fn settings(&self) -> u64 {
        self.settings.load(Ordering::Acquire)
    }

    /// Package writes to feeds not told so far.
    pub fn all_feeds(&self) -> u64 {
        self.all_feeds.load(Ordering::Acquire)
    }

    /// Package writes so far to `feed_id` (and the feeds sharing its stripe).
    pub fn feed(&self, feed_id: i64) -> u64 {
        self.stripe(feed_id).load(Ordering::Acquire)
    }

    /// Records a write of feeds, keys, users or connectors.
    pub fn note_settings(&self) {
        self.settings.fetch_add(1, Ordering::AcqRel);
    }

    /// Records a package write whose feeds are not told.
    pub fn note_all_feeds(&self) {
        self.all_feeds.fetch_add(1, Ordering::AcqRel);
    }

    /// Records a committed package write to `feeds` that took the change
    /// log to `generation`.
    pub fn note_feeds(&self, feeds: impl IntoIterator<Item = i64>, generation: i64) {
        self.note_own_generation(generation);
        for feed_id in feeds {
            self.stripe(feed_id).fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Whether an announcement naming `writer` (an `application_name`) was
    /// written by this process.
    pub fn is_own_writer(&self, writer: &str) -> bool {
        writer.split(' ').next() == Some(self.writer.as_str())
    }

    /// Records that `generation` was this process's write (announced so).
    pub fn note_own_generation(&self, generation: i64) {
        self.own().insert(generation);
    }

    /// Whether every generation after `after` up to `upto` was this
    /// process's own package write; forgets those up to `upto` either way
    /// (the change log has moved past them).
    pub fn only_own_generations(&self, after: i64, upto: i64) -> bool {
        let mut own = self.own();
        let only_own = (after + 1..=upto).all(|generation| own.contains(&generation));
        *own = own.split_off(&(upto.saturating_add(1)));
        only_own
    }

    fn own(&self) -> std::sync::MutexGuard<'_, BTreeSet<i64>> {
        // A set of numbers, consistent after every statement.
        self.own_generations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feeds_writes_leave_other_stripes_alone() {
        let writes = LocalWrites::new(new_writer_tag());
        writes.note_feeds([3, 67], 10);
        assert_eq!(
            (writes.feed(3), writes.feed(4)),
            (2, 0),
            "3 and 67 share a stripe of 64, 4 has its own"
        );
    }

    #[test]
    fn a_writer_is_known_by_its_tag() {
        let writes = LocalWrites::new("wharf-0123456789ab".to_owned());
        assert!(writes.is_own_writer("wharf-0123456789ab"));
        assert!(
            writes.is_own_writer("wharf-0123456789ab psql"),
            "their own name follows"
        );
        assert!(!writes.is_own_writer("wharf-0123456789ac"));
        assert!(!writes.is_own_writer(""));
    }

    #[test]
    fn only_a_run_of_own_generations_is_own() {
        let writes = LocalWrites::new(new_writer_tag());
        writes.note_feeds([1], 11);
        writes.note_feeds([1], 12);
        writes.note_feeds([1], 14);
        assert!(writes.only_own_generations(10, 12));
        assert!(!writes.only_own_generations(12, 14), "13 was another's");
        assert!(!writes.only_own_generations(14, 15));
        assert!(writes.own().is_empty(), "heard generations are forgotten");
        // A write recorded after its generation was heard is forgotten at
        // the next hearing, and does not count as own for a later range.
        writes.note_feeds([1], 15);
        assert!(!writes.only_own_generations(15, 16));
        assert!(writes.own().is_empty());
    }
}
