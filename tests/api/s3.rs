//! Package bytes in an S3-compatible bucket (moto's server, started by
//! `scripts/test`): the blob store's own behaviours on S3, whole packages
//! through a server that keeps its blobs there, and an outage of the
//! bucket's server.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use wharf::blob::{BlobKey, BlobStore, PutOutcome};
use wharf::config::StorageBackend;
use wharf::service::gc;

use crate::helpers::{
    Backend, UpackBuilder, expect_status, fixtures, random_bytes, s3_settings, sha1_hex,
    spawn_app_on_s3, spawn_app_with, wait_for_operation,
};

dual_backend_tests!(
    exports_write_into_a_bucket_folder_whole_or_not_at_all,
    real_packages_round_trip_through_the_bucket,
    gc_deletes_unreferenced_blobs_from_the_bucket,
    gc_racing_uploads_keeps_the_protocol_on_a_bucket,
);

/// Reads a whole blob.
async fn read_all(
    store: &BlobStore,
    key: &BlobKey,
    range: Option<std::ops::Range<u64>>,
) -> Vec<u8> {
    let mut stream = store.get(key, range).await.expect("blob readable");
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.expect("chunk"));
    }
    bytes
}

fn key_of(bytes: &[u8]) -> BlobKey {
    use sha2::Digest;
    BlobKey::from_digest(sha2::Sha256::digest(bytes).into())
}

#[tokio::test]
async fn the_blob_store_behaves_the_same_on_s3() {
    let store = BlobStore::s3(&s3_settings()).expect("bucket settings accepted");
    let dir = tempfile::tempdir().unwrap();
    // Small (one PUT) and large (a multipart upload of three parts).
    let small = b"hello, bucket".to_vec();
    let large: Vec<u8> = (0..20 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    for content in [&small, &large] {
        let key = key_of(content);
        assert!(!store.exists(&key).await.unwrap());
        let source = dir.path().join("spooled");
        std::fs::write(&source, content).unwrap();
        assert_eq!(
            store.put_file(&key, &source).await.unwrap(),
            PutOutcome::Created
        );
        assert_eq!(
            store.put_file(&key, &source).await.unwrap(),
            PutOutcome::AlreadyPresent,
            "content addressing: the second put finds the bytes"
        );
        assert!(store.exists(&key).await.unwrap());
        assert!(read_all(&store, &key, None).await == *content, "whole blob");
        assert_eq!(read_all(&store, &key, Some(3..9)).await, content[3..9]);
        let copy = store.open_seekable(&key, dir.path()).await.unwrap();
        assert!(
            std::fs::read(copy.path()).unwrap() == *content,
            "seekable copy"
        );
    }
    assert_eq!(store.read_small(&key_of(&small)).await.unwrap(), small);
    let mut listed: Vec<_> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.key)
        .collect();
    listed.sort_by_key(BlobKey::to_hex);
    let mut expected = vec![key_of(&small), key_of(&large)];
    expected.sort_by_key(BlobKey::to_hex);
    assert_eq!(listed, expected, "the prefix holds exactly the two blobs");
    store.delete(&key_of(&large)).await.unwrap();
    store.delete(&key_of(&large)).await.unwrap();
    assert!(!store.exists(&key_of(&large)).await.unwrap());
    assert_eq!(store.list().await.unwrap().len(), 1);
}

async fn real_packages_round_trip_through_the_bucket(backend: Backend) {
    let app = spawn_app_on_s3(backend).await;
    assert!(
        app.wharf
            .blobs
            .location()
            .starts_with("s3://wharf-test/test-")
    );
    let mut packages = fixtures("upack-valid");
    // The real ones are small enough for their rows to hold their bytes;
    // this one is not, and goes to the bucket.
    let large = UpackBuilder::new("", "large", "1.0.0")
        .file("package/data.bin", &random_bytes(100 * 1024))
        .build();
    packages.push(("large".to_owned(), large));
    for (_, bytes) in &packages {
        app.publish("default", bytes.clone()).await;
    }
    let versions = app.versions("default").await;
    assert_eq!(versions.len(), packages.len());
    for version in versions {
        let (group, name, number) = (
            version["group"].as_str().unwrap_or(""),
            version["name"].as_str().unwrap(),
            version["version"].as_str().unwrap(),
        );
        let path = if group.is_empty() {
            format!("/upack/default/download/{name}/{number}")
        } else {
            format!("/upack/default/download/{group}/{name}/{number}")
        };
        let response = app.get(&path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body = response.bytes().await.unwrap();
        assert!(
            packages.iter().any(|(_, bytes)| bytes[..] == body[..]),
            "{path}: the bytes uploaded come back"
        );
        assert_eq!(version["sha1"].as_str(), Some(sha1_hex(&body).as_str()));
    }
    assert_eq!(
        app.wharf.blobs.list().await.unwrap().len(),
        1,
        "the large one"
    );
    let in_rows = wharf::db::blobs::rows_with_content(&app.wharf.db).await;
    assert_eq!(in_rows.unwrap().len(), packages.len() - 1);
}

async fn gc_deletes_unreferenced_blobs_from_the_bucket(backend: Backend) {
    let app = spawn_app_on_s3(backend).await;
    // Too large for their rows: in the bucket.
    for name in ["kept", "gone"] {
        let package = UpackBuilder::new("", name, "1.0.0")
            .file("package/data.bin", &random_bytes(100 * 1024))
            .build();
        app.publish("default", package).await;
    }
    expect_status(
        app.admin_request(reqwest::Method::DELETE, "/upack/default/delete/gone/1.0.0")
            .await,
        StatusCode::OK,
    )
    .await;
    let report = gc::collect(&app.wharf, Duration::ZERO).await.unwrap();
    assert_eq!((report.examined, report.deleted), (2, 1), "{report:?}");
    assert_eq!(app.wharf.blobs.list().await.unwrap().len(), 1);
    assert_eq!(
        app.get("/upack/default/download/kept/1.0.0").await.status(),
        StatusCode::OK
    );
}

/// The gc protocol's races (`gc.rs`, gc paused at its critical points), with
/// the blobs in a bucket: gc deleting bytes an upload is storing again, an
/// upload after gc decided, a row whose bytes were deleted.
async fn gc_racing_uploads_keeps_the_protocol_on_a_bucket(backend: Backend) {
    crate::gc::upload_while_gc_deletes_the_same_bytes(
        &spawn_app_on_s3(backend).await,
        crate::gc::large_package(),
    )
    .await;
    crate::gc::upload_after_gc_decided(&spawn_app_on_s3(backend).await, crate::gc::large_package())
        .await;
    crate::gc::row_whose_bytes_are_gone(&spawn_app_on_s3(backend).await).await;
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An S3 server of this test's own, so that it can be stopped.
struct OwnS3Server {
    process: tokio::process::Child,
    endpoint: String,
}

impl OwnS3Server {
    async fn start(port: u16) -> Self {
        let command = std::env::var("TEST_S3_SERVER")
            .expect("TEST_S3_SERVER names the S3 server's command (set by scripts/test)");
        let process = tokio::process::Command::new(command)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the S3 server starts");
        let endpoint = format!("http://127.0.0.1:{port}");
        // moto accepts an unsigned request to create a bucket.
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(response) = client.put(format!("{endpoint}/outage")).send().await {
                assert!(response.status().is_success(), "bucket created");
                return Self { process, endpoint };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the S3 server on {endpoint} did not start within 10 s");
    }

    async fn stop(mut self) {
        self.process.kill().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_bucket_answers_503_and_changes_nothing_until_it_is_back() {
    let port = free_port();
    let server = OwnS3Server::start(port).await;
    let endpoint = server.endpoint.clone();
    let app = spawn_app_with(Backend::Sqlite, |settings| {
        settings.storage.backend = StorageBackend::S3;
        settings.storage.s3 = s3_settings();
        settings.storage.s3.endpoint = endpoint;
        settings.storage.s3.bucket = "outage".to_owned();
    })
    .await;
    // Incompressible, so too large for its blob's row: in the bucket.
    let large_enough_to_read_the_bucket = random_bytes(200_000);
    let before = UpackBuilder::new("", "before", "1.0.0")
        .file("package/data.bin", &large_enough_to_read_the_bucket)
        .build();
    app.publish("default", before).await;

    assert_eq!(app.get("/health/ready").await.status(), StatusCode::OK);

    // Under load: uploads in flight while the server goes away. Each ends
    // stored (201) or refused with the outage's sentence (503), never a 500.
    let uploads: Vec<_> = (0..8)
        .map(|n| {
            let body = UpackBuilder::new("", &format!("load-{n}"), "1.0.0")
                .file("package/data.bin", &large_enough_to_read_the_bucket)
                .build();
            let request = app
                .client
                .put(app.url("/upack/default/upload"))
                .header("X-ApiKey", &app.admin_key)
                .body(body)
                .send();
            tokio::spawn(async move { request.await.map(|r| r.status()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(30)).await;
    server.stop().await;
    let mut stored = vec!["before".to_owned()];
    for (n, upload) in uploads.into_iter().enumerate() {
        let status = upload.await.unwrap().unwrap();
        assert!(
            [StatusCode::CREATED, StatusCode::SERVICE_UNAVAILABLE].contains(&status),
            "upload {n} answered {status}"
        );
        if status == StatusCode::CREATED {
            stored.push(format!("load-{n}"));
        }
    }
    let mut listed: Vec<String> = app
        .versions("default")
        .await
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    stored.sort();
    assert_eq!(
        listed, stored,
        "exactly the acknowledged uploads are listed"
    );
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(
        (&ready["database"], &ready["storage"]),
        (&"OK".into(), &"Error".into())
    );
    assert_eq!(app.get("/health/live").await.status(), StatusCode::OK);
    let download = app.get("/upack/default/download/before/1.0.0").await;
    let sentence = expect_status(download, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(
        sentence,
        "The package storage is unavailable; try again shortly."
    );
    let during = UpackBuilder::new("", "during", "1.0.0")
        .file("package/data.bin", &large_enough_to_read_the_bucket)
        .build();
    let upload = app.upload("default", during).await;
    expect_status(upload, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(
        app.versions("default").await.len(),
        stored.len(),
        "the refused upload left no version"
    );
    // A small upload needs no bucket: its blob's row holds its bytes.
    let small = UpackBuilder::new("", "small", "1.0.0").build();
    app.publish("default", small.clone()).await;
    let download = app.get("/upack/default/download/small/1.0.0").await;
    assert_eq!(download.bytes().await.unwrap(), small);

    // Back on the same address (moto keeps objects in memory, so the
    // bucket is new): the same process serves again without a restart.
    let server = OwnS3Server::start(port).await;
    assert_eq!(app.get("/health/ready").await.status(), StatusCode::OK);
    let after = UpackBuilder::new("", "after", "1.0.0").build();
    app.publish("default", after.clone()).await;
    let download = app.get("/upack/default/download/after/1.0.0").await;
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.bytes().await.unwrap(), after);
    server.stop().await;
}

/// Exports of a real package and of one large enough to go up in parts,
/// into a folder of the test bucket: the objects are the bytes a download
/// serves; an existing object is refused, then replaced when asked; a
/// bucket not in `export.allowed_buckets` is refused before anything is
/// queued.
async fn exports_write_into_a_bucket_folder_whole_or_not_at_all(backend: Backend) {
    let storage = s3_settings();
    let folder = format!("{}-exports", storage.prefix);
    let bucket = storage.bucket.clone();
    let app = spawn_app_with(backend, |s| {
        s.storage.s3 = storage.clone();
        s.export.allowed_buckets = vec![format!("{bucket}/{folder}")];
    })
    .await;
    let (_, fixture) = fixtures("upack-valid").into_iter().next().unwrap();
    app.publish("default", fixture).await;
    let mut state = 0x9e37_79b9_u32;
    let noise: Vec<u8> = (0..12 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect();
    app.publish(
        "default",
        UpackBuilder::new("", "big", "1.0.0")
            .file("package/noise.bin", &noise)
            .build(),
    )
    .await;
    let mut reader = s3_settings();
    reader.prefix = format!("{folder}/drops");
    let objects = BlobStore::connect_bucket(&reader).unwrap();
    let export = |name: &str, overwrite: bool| {
        serde_json::json!({
            "feed": "default", "name": name, "latest": true, "overwriteExisting": overwrite,
            "containerUri": format!("s3://{bucket}/{folder}/drops"),
        })
    };
    let run = |body: serde_json::Value| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url("/api/operations/export"))
                .header("X-ApiKey", &app.admin_key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::ACCEPTED);
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            wait_for_operation(app, &location).await
        }
    };
    for version in app.versions("default").await {
        let name = version["name"].as_str().unwrap();
        let done = run(export(name, false)).await;
        assert_eq!(done["state"], "succeeded", "{done}");
        let file = format!("{name}.{}.upack", version["version"].as_str().unwrap());
        let stored = objects
            .get(&object_store::path::Path::from(file.as_str()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(
            sha1_hex(&stored),
            version["sha1"].as_str().unwrap(),
            "{file}"
        );
        let manifest = objects
            .get(&object_store::path::Path::from(format!("{file}.json")))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        assert_eq!(manifest["name"], name);
    }

    let refused = run(export("big", false)).await;
    assert_eq!(
        (
            refused["error"]["code"].as_str(),
            refused["httpStatusCode"].as_i64()
        ),
        (Some("blob_exists"), Some(409)),
        "{refused}"
    );
    let replaced = run(export("big", true)).await;
    assert_eq!(replaced["state"], "succeeded", "{replaced}");
    let listed: Vec<_> = objects
        .list(None)
        .map(|o| o.unwrap().location.to_string())
        .collect()
        .await;
    assert_eq!(
        listed.len(),
        4,
        "two files per package, nothing half-written: {listed:?}"
    );

    let elsewhere = app
        .client
        .post(app.url("/api/operations/export"))
        .header("X-ApiKey", &app.admin_key)
        .json(&serde_json::json!({
            "feed": "default", "name": "big", "latest": true,
            "containerUri": format!("s3://{bucket}/another-folder"),
        }))
        .send()
        .await
        .unwrap();
    let text = expect_status(elsewhere, StatusCode::BAD_REQUEST).await;
    assert!(text.contains("export.allowed_buckets"), "{text}");
}
