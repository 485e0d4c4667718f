//! Races decided by the database, not by luck.

use reqwest::StatusCode;

use crate::helpers::{Backend, UpackBuilder, spawn_app};

async fn twenty_concurrent_uploads_of_one_version_store_it_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let package = UpackBuilder::new("race", "pkg", "1.0.0").build();
    let key = app.create_key("add", &[]).await;
    let uploads = (0..20).map(|_| app.upload_with_key("default", package.clone(), Some(&key)));
    let statuses: Vec<StatusCode> = futures::future::join_all(uploads)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 19), "{statuses:?}");
    assert_eq!(app.versions("default").await.len(), 1);
    assert_eq!(app.blob_file_count(), 1);
    assert_eq!(app.temp_file_count(), 0);
}

async fn concurrent_uploads_of_different_versions_are_all_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let uploads = (0..12).map(|minor| {
        app.upload(
            "default",
            UpackBuilder::new("", "pkg", &format!("1.{minor}.0")).build(),
        )
    });
    for response in futures::future::join_all(uploads).await {
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let package: serde_json::Value = app.get_json("/upack/default/packages?name=pkg").await;
    assert_eq!(package["versions"].as_array().unwrap().len(), 12);
    assert_eq!(package["latestVersion"], "1.11.0");
}

dual_backend_tests!(
    twenty_concurrent_uploads_of_one_version_store_it_once,
    concurrent_uploads_of_different_versions_are_all_stored,
);
