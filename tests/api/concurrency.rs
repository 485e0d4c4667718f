//! Races decided by the database, not by luck.

use reqwest::StatusCode;

use crate::helpers::{Backend, UpackBuilder, spawn_app};

async fn twenty_concurrent_uploads_of_one_version_store_it_once(backend: Backend) {
    concurrent_uploads_of_one_version_store_it_once(backend, 20).await;
}

async fn fifty_concurrent_uploads_of_one_version_store_it_once(backend: Backend) {
    concurrent_uploads_of_one_version_store_it_once(backend, 50).await;
}

async fn concurrent_uploads_of_one_version_store_it_once(backend: Backend, uploads: usize) {
    let app = spawn_app(backend).await;
    let package = UpackBuilder::new("race", "pkg", "1.0.0").build();
    let key = app.create_key("add", &[]).await;
    let requests =
        (0..uploads).map(|_| app.upload_with_key("default", package.clone(), Some(&key)));
    let statuses: Vec<StatusCode> = futures::future::join_all(requests)
        .await
        .iter()
        .map(reqwest::Response::status)
        .collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, uploads - 1), "{statuses:?}");
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

async fn uploads_racing_deletes_leave_a_consistent_state(backend: Backend) {
    let app = spawn_app(backend).await;
    let package = UpackBuilder::new("", "flicker", "1.0.0").build();
    for _ in 0..30 {
        let uploads = (0..3).map(|_| app.upload("default", package.clone()));
        let deletes = (0..3).map(|_| {
            app.admin_request(
                reqwest::Method::DELETE,
                "/upack/default/delete/flicker/1.0.0",
            )
        });
        let (uploaded, deleted) = futures::join!(
            futures::future::join_all(uploads),
            futures::future::join_all(deletes)
        );
        for response in &uploaded {
            assert!(
                [201, 409].contains(&response.status().as_u16()),
                "upload: {}",
                response.status()
            );
        }
        for response in &deleted {
            assert!(
                [200, 404].contains(&response.status().as_u16()),
                "delete: {}",
                response.status()
            );
        }
        let download = app.get("/upack/default/download/flicker/1.0.0").await;
        match download.status().as_u16() {
            200 => assert_eq!(download.bytes().await.unwrap().as_ref(), package.as_slice()),
            404 => {}
            other => panic!("download answered {other}"),
        }
    }
}

async fn a_download_racing_an_overwrite_gets_old_or_new_bytes_whole(backend: Backend) {
    let app = spawn_app(backend).await;
    let old = UpackBuilder::new("", "swap", "1.0.0")
        .file("package/data", &vec![b'o'; 300_000])
        .build();
    let new = UpackBuilder::new("", "swap", "1.0.0+2")
        .file("package/data", &vec![b'n'; 300_000])
        .build();
    app.publish("default", old.clone()).await;
    let overwrites = async {
        for round in 0..10 {
            let body = if round % 2 == 0 {
                new.clone()
            } else {
                old.clone()
            };
            assert_eq!(
                app.upload("default", body).await.status(),
                StatusCode::CREATED
            );
        }
    };
    let downloads = async {
        let mut seen = Vec::new();
        for _ in 0..40 {
            let bytes = app
                .get("/upack/default/download/swap/1.0.0")
                .await
                .bytes()
                .await
                .unwrap();
            assert!(
                bytes.as_ref() == old.as_slice() || bytes.as_ref() == new.as_slice(),
                "a mix of old and new bytes"
            );
            seen.push(bytes.len());
        }
        seen
    };
    let ((), seen) = futures::join!(overwrites, downloads);
    assert_eq!(seen.len(), 40);
}

dual_backend_tests!(
    fifty_concurrent_uploads_of_one_version_store_it_once,
    uploads_racing_deletes_leave_a_consistent_state,
    a_download_racing_an_overwrite_gets_old_or_new_bytes_whole,
    twenty_concurrent_uploads_of_one_version_store_it_once,
    concurrent_uploads_of_different_versions_are_all_stored,
);
