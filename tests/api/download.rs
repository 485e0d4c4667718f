//! `download`, `download-file` and `delete`.

use reqwest::StatusCode;

use crate::helpers::{Backend, UpackBuilder, expect_status, fixtures, spawn_app};

async fn download_serves_ranges_and_conditional_requests(backend: Backend) {
    let app = spawn_app(backend).await;
    let package = UpackBuilder::new("", "pkg", "1.0.0")
        .file("package/data.bin", &[9u8; 4096])
        .build();
    app.publish("default", package.clone()).await;
    let url = app.url("/upack/default/download/pkg/1.0.0");
    let full = app.client.get(&url).send().await.unwrap();
    assert_eq!(full.headers()["content-type"], "application/zip");
    assert_eq!(
        full.headers()["content-length"],
        package.len().to_string().as_str()
    );
    let etag = full.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag.len(), 66, "a strong SHA-256 ETag: {etag}");
    let not_modified = app
        .client
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    let tail = app
        .client
        .get(&url)
        .header("Range", "bytes=-100")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        tail.bytes().await.unwrap().as_ref(),
        &package[package.len() - 100..]
    );
    let stale = app
        .client
        .get(&url)
        .header("Range", "bytes=0-9")
        .header("If-Range", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(
        stale.status(),
        StatusCode::OK,
        "a stale If-Range gets the whole body"
    );
}

async fn download_file_serves_one_entry_by_path(backend: Backend) {
    let app = spawn_app(backend).await;
    let package = UpackBuilder::new("grp", "pkg", "1.0.0")
        .file("package/docs/guide.txt", b"read me")
        .build();
    app.publish("default", package).await;
    let guide = app
        .get("/upack/default/download-file/grp/pkg/1.0.0?path=package%2Fdocs%2Fguide.txt")
        .await;
    assert_eq!(guide.status(), StatusCode::OK);
    assert_eq!(
        guide.headers()["content-disposition"],
        "attachment; filename=\"guide.txt\""
    );
    assert_eq!(guide.headers()["content-type"], "text/plain");
    assert_eq!(guide.text().await.unwrap(), "read me");
    let manifest: serde_json::Value = app
        .get_json("/upack/default/download-file/grp/pkg/?latest&path=upack.json")
        .await;
    assert_eq!(manifest["name"], "pkg");
    let backslash = app
        .get("/upack/default/download-file/grp/pkg/1.0.0/?path=package%5Cdocs%5Cguide.txt")
        .await;
    assert_eq!(backslash.text().await.unwrap(), "read me");
    for (path, status) in [
        (
            "/upack/default/download-file/grp/pkg/1.0.0?path=package/missing.txt",
            StatusCode::NOT_FOUND,
        ),
        (
            "/upack/default/download-file/grp/pkg/1.0.0?path=package/docs",
            StatusCode::NOT_FOUND,
        ),
        (
            "/upack/default/download-file/grp/pkg/1.0.0",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/upack/default/download-file/grp/pkg?path=upack.json",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let text = expect_status(app.get(path).await, status).await;
        assert!(!text.is_empty(), "{path}");
    }
    // The real-world jenkins package stores entries with backslashes.
    let (_, jenkins) = fixtures("upack-valid")
        .into_iter()
        .find(|(f, _)| f.starts_with("jenkins"))
        .unwrap();
    app.publish("default", jenkins).await;
    let log = app
        .get("/upack/default/download-file/andrew/sumner/proget/ExamplePackage/0.0.3?path=unpack/logs/sample.log")
        .await;
    assert_eq!(log.status(), StatusCode::OK);
}

async fn delete_removes_a_version_and_then_404s(backend: Backend) {
    let app = spawn_app(backend).await;
    app.publish("default", UpackBuilder::new("a/b", "pkg", "1.0.0").build())
        .await;
    app.publish("default", UpackBuilder::new("a/b", "pkg", "2.0.0").build())
        .await;
    let response = app
        .admin_request(
            reqwest::Method::DELETE,
            "/upack/default/delete/a%2Fb/pkg/2.0.0",
        )
        .await;
    expect_status(response, StatusCode::OK).await;
    let package: serde_json::Value = app
        .get_json("/upack/default/packages?group=a/b&name=pkg")
        .await;
    assert_eq!(package["latestVersion"], "1.0.0");
    let again = app
        .admin_request(reqwest::Method::POST, "/upack/default/delete/a/b/pkg/2.0.0")
        .await;
    expect_status(again, StatusCode::NOT_FOUND).await;
    let last = app
        .admin_request(reqwest::Method::POST, "/upack/default/delete/a/b/pkg/1.0.0")
        .await;
    expect_status(last, StatusCode::OK).await;
    expect_status(
        app.get("/upack/default/packages?group=a/b&name=pkg").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn deleted_packages_leave_blobs_for_gc_which_removes_only_those(backend: Backend) {
    let app = spawn_app(backend).await;
    app.publish("default", UpackBuilder::new("", "keep", "1.0.0").build())
        .await;
    app.publish("default", UpackBuilder::new("", "drop", "1.0.0").build())
        .await;
    let response = app
        .admin_request(reqwest::Method::DELETE, "/upack/default/delete/drop/1.0.0")
        .await;
    expect_status(response, StatusCode::OK).await;
    assert_eq!(app.stored_blob_count().await, 2);
    let young = wharf::service::gc::collect(&app.wharf, std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!((young.deleted, young.kept_young), (0, 1));
    let report = wharf::service::gc::collect(&app.wharf, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(report.deleted, 1);
    assert_eq!(app.stored_blob_count().await, 1);
    let kept = app.get("/upack/default/download/keep/1.0.0").await;
    assert_eq!(kept.status(), StatusCode::OK);
}

dual_backend_tests!(
    download_serves_ranges_and_conditional_requests,
    download_file_serves_one_entry_by_path,
    delete_removes_a_version_and_then_404s,
    deleted_packages_leave_blobs_for_gc_which_removes_only_those,
);
