//! The hot-path caches over a real server: what a write clears. An upload to
//! one feed leaves another feed's listings cached, also once the upload's
//! change is heard back (announced on `PostgreSQL`, polled on `SQLite`);
//! another process's write clears them. (Listings, not downloads: the
//! download counts a download leaves are flushed every 2 seconds, and a
//! flush clears cached versions and listings, which show the counts.)

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use wharf::db::{Db, Pool};

use crate::helpers::{Backend, TestApp, UpackBuilder, spawn_app};

/// Longer than the poll interval and an announcement's way back.
const HEARD: Duration = Duration::from_millis(400);

/// Lists `b`'s package's versions once; answers the listing cache's misses
/// so far.
async fn list_b(app: &TestApp) -> u64 {
    let response = app.get("/upack/b/versions?group=tools&name=hammer").await;
    assert_eq!(response.status(), StatusCode::OK);
    let [_, _, _, (name, (_, misses)), ..] = app.wharf.caches.hit_counts();
    assert_eq!(name, "listings");
    misses
}

async fn an_upload_to_one_feed_keeps_anothers_listings_cached(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_feed("a", false).await;
    app.create_feed("b", true).await;
    app.publish("b", UpackBuilder::new("tools", "hammer", "1.0.0").build())
        .await;
    tokio::time::sleep(HEARD).await;
    let cached = list_b(&app).await;
    assert_eq!(
        list_b(&app).await,
        cached,
        "the second is served from the cache"
    );

    for n in 0..10 {
        let version = format!("1.0.{n}");
        app.publish("a", UpackBuilder::new("tools", "saw", &version).build())
            .await;
    }
    tokio::time::sleep(HEARD).await;
    assert_eq!(
        list_b(&app).await,
        cached,
        "uploads to feed a, and hearing them back, leave feed b's listing cached"
    );

    // Another process's write: a connection of its own bumps the change log.
    let url = app.wharf.settings.database_url();
    let other = Db::connect(secrecy::ExposeSecret::expose_secret(&url), Some(1))
        .await
        .unwrap();
    let bump = "UPDATE change_log SET generation = generation + 1 WHERE id = 1";
    match other.pool() {
        Pool::Sqlite(pool) => sqlx::query(bump).execute(pool).await.map(drop),
        Pool::Postgres(pool) => sqlx::query(bump).execute(pool).await.map(drop),
    }
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while list_b(&app).await == cached {
        assert!(
            Instant::now() < deadline,
            "another process's write clears the cache within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

dual_backend_tests!(an_upload_to_one_feed_keeps_anothers_listings_cached);
