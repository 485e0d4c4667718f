//! The caches' clearing rules.
#![cfg(test)]

use super::*;
use std::sync::atomic::AtomicUsize;

/// What the package `app` of feed `feed_id` resolves under.
fn app_in(feed_id: i64) -> ResolveKeyRef<'static> {
    ResolveKeyRef {
        feed_id,
        group_lower: "",
        name_lower: "app",
        selector: &[],
    }
}

/// A key row and the resolved versions of feeds 1 and 2, read through the
/// caches; counts how many times each was loaded from the database.
struct Reader {
    caches: Caches,
    loads: [AtomicUsize; 3],
}

impl Reader {
    async fn new() -> (Db, Self) {
        let db = Db::connect("sqlite::memory:", Some(1)).await.unwrap();
        let caches = Caches::new(&db);
        (
            db,
            Self {
                caches,
                loads: Default::default(),
            },
        )
    }

    /// Reads all three; answers the loads so far (key, feed 1, feed 2).
    async fn round(&self) -> [usize; 3] {
        let counted = |n: usize| {
            self.loads[n].fetch_add(1, Ordering::Relaxed);
        };
        let caches = &self.caches;
        caches
            .get_or_load((&caches.keys, &caches.counts.keys), "k", || async {
                counted(0);
                Ok::<_, sqlx::Error>(None)
            })
            .await
            .unwrap();
        for feed_id in [1, 2] {
            caches
                .version(app_in(feed_id), || async {
                    counted(usize::try_from(feed_id).unwrap());
                    Ok(None)
                })
                .await
                .unwrap();
        }
        self.loads.each_ref().map(|n| n.load(Ordering::Relaxed))
    }
}

#[tokio::test]
async fn a_package_write_clears_its_feeds_resolved_versions_only() {
    let (db, reader) = Reader::new().await;
    assert_eq!(reader.round().await, [1, 1, 1]);
    assert_eq!(reader.round().await, [1, 1, 1], "all cached");
    db.local_writes().note_feeds([1], 7);
    assert_eq!(
        reader.round().await,
        [1, 2, 1],
        "an upload to feed 1 leaves the key row and feed 2 cached"
    );
    db.local_writes().note_all_feeds();
    assert_eq!(
        reader.round().await,
        [1, 3, 2],
        "download counts clear both feeds"
    );
    db.local_writes().note_settings();
    assert_eq!(
        reader.round().await,
        [2, 4, 3],
        "any other write clears all"
    );
}

#[tokio::test]
async fn hearing_its_own_package_writes_clears_nothing_more() {
    let (db, reader) = Reader::new().await;
    reader.caches.observe_generation(10);
    assert_eq!(reader.round().await, [1, 1, 1]);
    db.local_writes().note_feeds([1], 11);
    db.local_writes().note_feeds([1], 12);
    reader.caches.observe_generation(12);
    assert_eq!(
        reader.round().await,
        [1, 2, 1],
        "only feed 1, by its own count"
    );
    reader.caches.observe_generation(13);
    assert_eq!(
        reader.round().await,
        [2, 3, 2],
        "another process's write clears all"
    );
    db.local_writes().note_feeds([2], 15);
    reader.caches.observe_generation(15);
    assert_eq!(
        reader.round().await,
        [3, 4, 3],
        "14 was another's: all again, though 15 was this process's"
    );
}

#[tokio::test]
async fn a_load_racing_a_write_to_its_feed_is_not_kept() {
    let (db, reader) = Reader::new().await;
    let key = app_in(1);
    let loads = AtomicUsize::new(0);
    let read = || async {
        reader
            .caches
            .version(key, || async {
                if loads.fetch_add(1, Ordering::Relaxed) == 0 {
                    // The write commits while the first load reads.
                    db.local_writes().note_feeds([1], 1);
                }
                Ok(None)
            })
            .await
            .unwrap();
        loads.load(Ordering::Relaxed)
    };
    assert_eq!(read().await, 1);
    assert_eq!(
        read().await,
        2,
        "the value loaded during the write was not kept"
    );
    assert_eq!(read().await, 2, "the next one was");
}
