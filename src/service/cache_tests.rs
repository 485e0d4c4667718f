//! The caches' clearing rules.
#![cfg(test)]

use super::*;
use std::sync::atomic::AtomicUsize;

#[tokio::test]
async fn a_package_write_keeps_key_rows_and_clears_resolved_versions() {
    let db = Db::connect("sqlite::memory:", Some(1)).await.unwrap();
    let caches = Caches::new(&db);
    let (key_loads, version_loads) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let version_key = ResolveKey {
        feed_id: 1,
        group_lower: String::new(),
        name_lower: "app".to_owned(),
        selector: Vec::new(),
    };
    // Reads a key row and a resolved version through the caches; returns
    // how many times each was loaded from the database so far.
    let round = || async {
        caches
            .get_or_load(
                (&caches.keys, &caches.counts.keys),
                Follows::Settings,
                "k".to_owned(),
                async {
                    key_loads.fetch_add(1, Ordering::Relaxed);
                    Ok::<_, sqlx::Error>(None)
                },
            )
            .await
            .unwrap();
        caches
            .version(version_key.clone(), async {
                version_loads.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            })
            .await
            .unwrap();
        (
            key_loads.load(Ordering::Relaxed),
            version_loads.load(Ordering::Relaxed),
        )
    };
    assert_eq!(round().await, (1, 1));
    assert_eq!(round().await, (1, 1), "both cached");
    db.note_local_package_write();
    assert_eq!(round().await, (1, 2), "an upload leaves the key row cached");
    db.note_local_write();
    assert_eq!(round().await, (2, 3), "any other write clears both");
}
