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
    assert_eq!(app.stored_blob_count().await, 1);
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

/// Uploads in flight together share group commits: each must still get its
/// own answer, whatever the others in its batch were.
async fn a_burst_of_uploads_is_answered_upload_by_upload(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.create_key("add", &[]).await;
    app.publish(
        "default",
        UpackBuilder::new("burst", "existing", "0.1.0").build(),
    )
    .await;
    let mut uploads: Vec<(&str, String, Vec<u8>)> = Vec::new();
    for n in 0..40 {
        let (name, version) = (format!("pkg-{}", n % 8), format!("1.{n}.0"));
        let body = UpackBuilder::new("burst", &name, &version).build();
        uploads.push(("new", format!("{name}/{version}"), body));
    }
    for n in 0..10 {
        let body = UpackBuilder::new("burst", "existing", "0.1.0")
            .file("package/attempt", n.to_string().as_bytes())
            .build();
        uploads.push(("existing", "existing/0.1.0".to_owned(), body));
    }
    for n in 0..5 {
        let body = UpackBuilder::new("burst", "twin", "9.9.9")
            .file("package/attempt", n.to_string().as_bytes())
            .build();
        uploads.push(("twin", "twin/9.9.9".to_owned(), body));
    }
    let responses = futures::future::join_all(
        uploads
            .iter()
            .map(|(_, _, body)| app.upload_with_key("default", body.clone(), Some(&key))),
    )
    .await;
    let statuses = |kind: &str| -> Vec<u16> {
        let mut statuses: Vec<u16> = uploads
            .iter()
            .zip(&responses)
            .filter(|((k, _, _), _)| *k == kind)
            .map(|(_, response)| response.status().as_u16())
            .collect();
        statuses.sort_unstable();
        statuses
    };
    assert_eq!(statuses("new"), vec![201; 40]);
    assert_eq!(statuses("existing"), vec![409; 10]);
    assert_eq!(statuses("twin"), vec![201, 409, 409, 409, 409]);
    for (_, address, body) in uploads.iter().filter(|(kind, _, _)| *kind == "new") {
        let stored = app
            .get(&format!("/upack/default/download/burst/{address}"))
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(stored.as_ref(), body.as_slice(), "{address} stored whole");
    }
    assert_eq!(app.versions("default").await.len(), 40 + 1 + 1);
    assert_eq!(app.temp_file_count(), 0);
}

/// Overwrites of one version in flight together go to different commits
/// (one statement cannot write a row twice); all succeed, one wins whole.
async fn concurrent_overwrites_of_one_version_all_succeed_and_one_wins_whole(backend: Backend) {
    let app = spawn_app(backend).await;
    let bodies: Vec<Vec<u8>> = (0..10)
        .map(|n| {
            UpackBuilder::new("", "swap", "2.0.0")
                .file("package/n", n.to_string().as_bytes())
                .build()
        })
        .collect();
    let responses = futures::future::join_all(
        bodies
            .iter()
            .map(|body| app.upload("default", body.clone())),
    )
    .await;
    for response in &responses {
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let stored = app
        .get("/upack/default/download/swap/2.0.0")
        .await
        .bytes()
        .await
        .unwrap();
    assert!(bodies.iter().any(|body| body.as_slice() == stored.as_ref()));
    assert_eq!(app.versions("default").await.len(), 1);
}

/// A batch whose statement fails stores none of its versions (the service
/// then stores them one by one); nothing half-done is left.
async fn a_failed_batch_stores_none_of_its_versions(backend: Backend) {
    use wharf::db::packages::{BlobRef, NewVersion, Pending, store_batch, store_version};
    let app = spawn_app(backend).await;
    let feed = wharf::service::feeds::find(&app.wharf, "default")
        .await
        .unwrap()
        .id;
    let version = |feed_id: i64, name: &str| {
        let manifest = wharf::domain::Manifest::parse(
            format!(r#"{{"name":"{name}","version":"1.0.0"}}"#).as_bytes(),
        )
        .unwrap();
        let blob = BlobRef {
            sha256: "ab".repeat(32),
            sha1: "cd".repeat(20),
            size_bytes: 1,
            content: None,
        };
        NewVersion::new(
            feed_id,
            &manifest,
            wharf::domain::Container::Zip,
            "[]".into(),
            blob,
        )
    };
    let (good, orphan) = (version(feed, "good"), version(feed + 1000, "orphan"));
    let batch = [
        Pending {
            new: &good,
            replace_existing: false,
        },
        Pending {
            new: &orphan,
            replace_existing: false,
        },
    ];
    let mut connection = app.wharf.db.hold_connection().await.unwrap();
    let failed = store_batch(&app.wharf.db, &mut connection, &batch, |_| async {
        Ok::<_, ()>(())
    })
    .await;
    drop(connection);
    assert!(failed.is_err(), "a version of no feed fails the statement");
    assert!(
        app.versions("default").await.is_empty(),
        "nothing of the batch is stored"
    );
    let alone = store_version(&app.wharf.db, &good, false, None, || async {
        Ok::<_, ()>(())
    })
    .await;
    assert_eq!(alone.unwrap(), wharf::db::packages::StoreOutcome::Stored);
    assert_eq!(app.versions("default").await.len(), 1);
}

dual_backend_tests!(
    a_burst_of_uploads_is_answered_upload_by_upload,
    concurrent_overwrites_of_one_version_all_succeed_and_one_wins_whole,
    a_failed_batch_stores_none_of_its_versions,
    fifty_concurrent_uploads_of_one_version_store_it_once,
    uploads_racing_deletes_leave_a_consistent_state,
    a_download_racing_an_overwrite_gets_old_or_new_bytes_whole,
    twenty_concurrent_uploads_of_one_version_store_it_once,
    concurrent_uploads_of_different_versions_are_all_stored,
);
