//! Garbage collection racing uploads, and what virtual packages leave behind:
//! the blob-liveness protocol of `db::blobs`, proved with gc paused at its
//! critical points through the test-only hook.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use sha2::Digest;
use tokio::sync::{Notify, oneshot};
use wharf::service::gc::{self, GcHook, GcStep};

use crate::helpers::{
    Backend, TestApp, UpackBuilder, expect_status, random_bytes, spawn_app, spawn_app_with,
};

/// A package larger than the in-process small-blob cache, so that a download
/// reads the store and not a copy in memory; a file in the store (too large,
/// and incompressible, for its row to hold).
pub fn large_package() -> Vec<u8> {
    UpackBuilder::new("", "again", "1.0.0")
        .file("package/data.bin", &random_bytes(200_000))
        .build()
}

/// A package small enough that its blob's row holds its bytes.
pub fn small_package() -> Vec<u8> {
    UpackBuilder::new("", "again", "1.0.0").build()
}

/// Whether `bytes` are stored: in the store (a folder or a bucket), or held
/// by their blob's row.
async fn stored(app: &TestApp, bytes: &[u8]) -> bool {
    let key = wharf::blob::BlobKey::from_digest(sha2::Sha256::digest(bytes).into());
    let in_row = wharf::db::blobs::content(&app.wharf.db, &key.to_hex())
        .await
        .unwrap()
        .is_some();
    in_row || app.wharf.blobs.exists(&key).await.unwrap()
}

/// Uploads, then deletes the version, leaving its blob unreferenced.
async fn upload_and_delete(app: &TestApp, package: &[u8]) {
    app.publish("default", package.to_vec()).await;
    expect_status(
        app.admin_request(reqwest::Method::DELETE, "/upack/default/delete/again/1.0.0")
            .await,
        StatusCode::OK,
    )
    .await;
}

/// A hook that pauses gc once at `step`: the receiver fires when gc is
/// paused, and gc goes on when the `Notify` is notified.
fn pause_at(step: GcStep) -> (GcHook, oneshot::Receiver<()>, Arc<Notify>) {
    let (paused, paused_rx) = oneshot::channel();
    let paused = Arc::new(std::sync::Mutex::new(Some(paused)));
    let release = Arc::new(Notify::new());
    let go_on = release.clone();
    let hook: GcHook = Arc::new(move |at, _blob| {
        let signal = (at == step)
            .then(|| paused.lock().unwrap().take())
            .flatten();
        let go_on = go_on.clone();
        Box::pin(async move {
            if let Some(signal) = signal {
                let _ = signal.send(());
                go_on.notified().await;
            }
        })
    });
    (hook, paused_rx, release)
}

/// The same upload as `app.upload`, as a task that can run while gc is paused.
fn upload_in_background(
    app: &TestApp,
    package: Vec<u8>,
) -> tokio::task::JoinHandle<(StatusCode, String)> {
    let request = app
        .client
        .put(app.url("/upack/default/upload"))
        .header("X-ApiKey", &app.admin_key)
        .body(package);
    tokio::spawn(async move {
        let response = request.send().await.expect("request");
        (response.status(), response.text().await.unwrap_or_default())
    })
}

async fn assert_downloads_whole(app: &TestApp, package: &[u8]) {
    assert!(
        stored(app, package).await,
        "the blob's bytes are in the store"
    );
    let response = app
        .get_with_key("/upack/default/download/again/1.0.0", &app.admin_key)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap(), package);
}

/// gc holds the row and has deleted it; the identical package is uploaded
/// before gc deletes the bytes. The upload waits for gc, finds the bytes
/// gone and stores them again.
async fn an_upload_while_gc_deletes_the_same_bytes_stores_them_again(backend: Backend) {
    upload_while_gc_deletes_the_same_bytes(&spawn_app(backend).await, large_package()).await;
    upload_while_gc_deletes_the_same_bytes(&spawn_app(backend).await, small_package()).await;
}

pub async fn upload_while_gc_deletes_the_same_bytes(app: &TestApp, package: Vec<u8>) {
    upload_and_delete(app, &package).await;

    let (hook, paused, release) = pause_at(GcStep::RowDeleted);
    let wharf = app.wharf.clone();
    let collection =
        tokio::spawn(
            async move { gc::collect_with_hook(&wharf, Duration::ZERO, Some(hook)).await },
        );
    paused.await.expect("gc reached its delete");
    assert!(
        stored(app, &package).await,
        "gc has not deleted the bytes yet"
    );
    let upload = upload_in_background(app, package.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    release.notify_one();

    let report = collection.await.unwrap().expect("gc succeeds");
    assert_eq!(report.deleted, 1, "gc deleted the unreferenced blob");
    let (status, text) = upload.await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{text}");
    assert_downloads_whole(app, &package).await;
}

/// gc has decided from its listing that the blob is garbage; the identical
/// package is uploaded before gc touches the row. gc then keeps it.
async fn an_upload_after_gc_decided_makes_gc_keep_the_bytes(backend: Backend) {
    upload_after_gc_decided(&spawn_app(backend).await, large_package()).await;
    upload_after_gc_decided(&spawn_app(backend).await, small_package()).await;
}

pub async fn upload_after_gc_decided(app: &TestApp, package: Vec<u8>) {
    upload_and_delete(app, &package).await;

    let (hook, paused, release) = pause_at(GcStep::Decided);
    let wharf = app.wharf.clone();
    let collection =
        tokio::spawn(
            async move { gc::collect_with_hook(&wharf, Duration::ZERO, Some(hook)).await },
        );
    paused.await.expect("gc decided");
    let (status, text) = upload_in_background(app, package.clone()).await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{text}");
    release.notify_one();

    let report = collection.await.unwrap().expect("gc succeeds");
    assert_eq!(report.deleted, 0, "gc saw the new reference");
    assert_downloads_whole(app, &package).await;
}

/// A gc that died between deleting the bytes and committing leaves a row
/// without bytes; the next upload of the same bytes must not trust the row.
async fn a_row_whose_bytes_are_gone_is_not_trusted(backend: Backend) {
    row_whose_bytes_are_gone(&spawn_app(backend).await).await;
}

pub async fn row_whose_bytes_are_gone(app: &TestApp) {
    let package = large_package();
    upload_and_delete(app, &package).await;
    let key = wharf::blob::BlobKey::from_digest(sha2::Sha256::digest(&package).into());
    app.wharf.blobs.delete(&key).await.unwrap();

    app.publish("default", package.clone()).await;
    assert_downloads_whole(app, &package).await;
}

/// Serves a different body on every request (as a live file host may), and
/// counts the requests.
async fn counting_file_server() -> (u16, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let mut request = [0u8; 2048];
            let _ = socket.read(&mut request).await;
            let body = format!("generated body number {n}");
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body.as_bytes()).await;
        }
    });
    (port, served)
}

async fn url_sources_are_fetched_once_and_collected_with_their_package(backend: Backend) {
    let (port, served) = counting_file_server().await;
    let app = spawn_app_with(backend, |s| {
        s.vpack.url_allowlist = vec!["127.0.0.1".into()];
    })
    .await;
    app.publish("default", UpackBuilder::new("", "lib", "1.0.0").build())
        .await;
    let manifest = json!({"name": "remote", "version": "1.0.0", "contents": [
        "lib:1.0.0",
        {"source": {"url": format!("http://127.0.0.1:{port}/notes.txt")}, "virtualPath": "docs"}
    ]});
    app.publish("default", serde_json::to_vec(&manifest).unwrap())
        .await;
    let blobs_before = app.stored_blob_count().await;

    let downloads = (0..20).map(|_| app.get("/upack/default/download/remote/1.0.0"));
    let mut bodies = Vec::new();
    for response in futures::future::join_all(downloads).await {
        assert_eq!(response.status(), StatusCode::OK);
        bodies.push(response.bytes().await.unwrap());
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "every download is the same assembly"
    );
    assert_eq!(served.load(Ordering::SeqCst), 1, "the URL was fetched once");
    assert_eq!(
        wharf::db::assemblies::count(&app.wharf.db).await.unwrap(),
        1
    );
    assert_eq!(
        app.stored_blob_count().await,
        blobs_before + 1,
        "one assembly stored"
    );

    // Replacing the referenced package supersedes the assembly: the old one
    // is forgotten and its blob becomes garbage.
    app.publish(
        "default",
        UpackBuilder::new("", "lib", "1.0.0")
            .file("package/extra.txt", b"extra")
            .build(),
    )
    .await;
    expect_status(
        app.get("/upack/default/download/remote/1.0.0").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        served.load(Ordering::SeqCst),
        2,
        "a new assembly fetches again"
    );
    assert_eq!(
        wharf::db::assemblies::count(&app.wharf.db).await.unwrap(),
        1
    );
    let report = gc::collect(&app.wharf, Duration::ZERO).await.unwrap();
    assert_eq!(
        report.deleted, 2,
        "the old lib and the superseded assembly: {report:?}"
    );

    // Deleting the virtual package lets gc take its assembly too.
    expect_status(
        app.admin_request(
            reqwest::Method::DELETE,
            "/upack/default/delete/remote/1.0.0",
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let report = gc::collect(&app.wharf, Duration::ZERO).await.unwrap();
    assert_eq!(
        report.deleted, 2,
        "the manifest and its assembly: {report:?}"
    );
    assert_eq!(
        wharf::db::assemblies::count(&app.wharf.db).await.unwrap(),
        0
    );
    assert_eq!(app.stored_blob_count().await, 1, "only lib remains");
}

async fn a_url_source_over_its_size_limit_is_refused(backend: Backend) {
    let (port, _) = counting_file_server().await;
    let app = spawn_app_with(backend, |s| {
        s.vpack.url_allowlist = vec!["127.0.0.1".into()];
        s.vpack.max_url_source_bytes = 10;
    })
    .await;
    let manifest = json!({"name": "big", "version": "1.0.0", "contents": [
        format!("http://127.0.0.1:{port}/large.bin")
    ]});
    app.publish("default", serde_json::to_vec(&manifest).unwrap())
        .await;
    let text = expect_status(
        app.get("/upack/default/download/big/1.0.0").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(text.contains("max_url_source_bytes"), "{text}");
    assert_eq!(app.temp_file_count(), 0);
}

dual_backend_tests!(
    an_upload_while_gc_deletes_the_same_bytes_stores_them_again,
    an_upload_after_gc_decided_makes_gc_keep_the_bytes,
    a_row_whose_bytes_are_gone_is_not_trusted,
    url_sources_are_fetched_once_and_collected_with_their_package,
    a_url_source_over_its_size_limit_is_refused,
);
