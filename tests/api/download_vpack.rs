//! `download-vpack`, exactly as documented: 200 by version and by `?latest`,
//! 400 without either, 403 for missing, unknown or insufficient keys, 404 for
//! unknown feed, package, version, or a package that is not virtual.

use reqwest::StatusCode;

use crate::helpers::{Backend, UpackBuilder, expect_status, fixtures, spawn_app, vpack_json};

async fn download_vpack_serves_the_stored_manifest_by_version_and_by_latest(backend: Backend) {
    let app = spawn_app(backend).await;
    for (file, bytes) in fixtures("vpack") {
        app.publish("default", bytes.clone()).await;
        let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let (name, version) = (
            manifest["name"].as_str().unwrap(),
            manifest["version"].as_str().unwrap(),
        );
        let group = manifest["group"]
            .as_str()
            .map(|g| format!("{g}/"))
            .unwrap_or_default();
        for path in [
            format!("/upack/default/download-vpack/{group}{name}/{version}"),
            format!("/upack/default/download-vpack/{group}{name}?latest"),
        ] {
            let response = app.get(&path).await;
            assert_eq!(response.status(), StatusCode::OK, "{file}: {path}");
            assert_eq!(response.headers()["content-type"], "application/json");
            assert_eq!(
                response.headers()["content-disposition"],
                format!("attachment; filename=\"{name}.{version}.vpack\"").as_str()
            );
            assert_eq!(
                response.headers()["content-length"],
                bytes.len().to_string().as_str()
            );
            assert!(
                response.headers()["etag"]
                    .to_str()
                    .unwrap()
                    .starts_with('"')
            );
            assert_eq!(
                response.bytes().await.unwrap().as_ref(),
                bytes.as_slice(),
                "{file}"
            );
        }
    }
    // A zipped vpack is served as the stored zip.
    let zipped = UpackBuilder::new("", "Zipped", "1.0.0")
        .field("contents", serde_json::json!(["a:1.0.0"]))
        .build();
    app.publish("default", zipped.clone()).await;
    let response = app.get("/upack/default/download-vpack/Zipped/1.0.0").await;
    assert_eq!(response.headers()["content-type"], "application/zip");
    assert_eq!(response.bytes().await.unwrap().as_ref(), zipped.as_slice());
}

async fn download_vpack_without_version_or_latest_is_a_400(backend: Backend) {
    let app = spawn_app(backend).await;
    app.publish("default", vpack_json("", "Virt", "1.0.0"))
        .await;
    for path in [
        "/upack/default/download-vpack/Virt",
        "/upack/default/download-vpack/Virt?latest=false",
        "/upack/default/download-vpack/",
    ] {
        let text = expect_status(app.get(path).await, StatusCode::BAD_REQUEST).await;
        assert!(
            text.contains("version") || text.contains("name"),
            "{path}: {text}"
        );
    }
}

async fn download_vpack_answers_403_for_missing_unknown_or_insufficient_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_feed("private", false).await;
    app.create_feed("other", false).await;
    app.publish("private", vpack_json("", "Virt", "1.0.0"))
        .await;
    let path = "/upack/private/download-vpack/Virt?latest";
    let view_only = app.create_key("view", &["private"]).await;
    let other_feed = app.create_key("view,download", &["other"]).await;
    let allowed = app.create_key("download", &["private"]).await;

    let cases: [(&str, Option<&str>); 4] = [
        ("no key on a private feed", None),
        (
            "unknown key",
            Some("wharf_abcdefghijkl_notarealkeyatallxxxxxxxxxxxxxxxxxxxxxxxx"),
        ),
        ("key without download", Some(&view_only)),
        ("key scoped to another feed", Some(&other_feed)),
    ];
    for (case, key) in cases {
        let response = match key {
            Some(key) => app.get_with_key(path, key).await,
            None => app.get(path).await,
        };
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8",
            "{case}"
        );
        let text = expect_status(response, StatusCode::FORBIDDEN).await;
        assert!(!text.is_empty(), "{case}: a 403 carries a sentence");
    }
    expect_status(app.get_with_key(path, &allowed).await, StatusCode::OK).await;
    // A private feed that does not exist looks the same as one that does.
    let missing = app
        .get("/upack/no-such-feed/download-vpack/Virt?latest")
        .await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
}

async fn download_vpack_answers_404_for_unknown_feed_package_version_or_non_virtual(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    app.publish("default", vpack_json("grp", "Virt", "1.0.0"))
        .await;
    app.publish(
        "default",
        UpackBuilder::new("grp", "Plain", "1.0.0").build(),
    )
    .await;
    let key = app.admin_key.clone();
    for (case, path) in [
        (
            "unknown feed",
            "/upack/nowhere/download-vpack/grp/Virt/1.0.0",
        ),
        (
            "unknown package",
            "/upack/default/download-vpack/grp/Nope/1.0.0",
        ),
        (
            "unknown package, latest",
            "/upack/default/download-vpack/grp/Nope?latest",
        ),
        (
            "unknown version",
            "/upack/default/download-vpack/grp/Virt/9.9.9",
        ),
        (
            "wrong group",
            "/upack/default/download-vpack/other/Virt/1.0.0",
        ),
        (
            "not a virtual package",
            "/upack/default/download-vpack/grp/Plain/1.0.0",
        ),
    ] {
        let text = expect_status(app.get_with_key(path, &key).await, StatusCode::NOT_FOUND).await;
        assert!(!text.is_empty(), "{case}");
    }
    // Anonymous on the public feed: the same 404s, nothing hidden.
    expect_status(
        app.get("/upack/default/download-vpack/grp/Plain/1.0.0")
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn download_vpack_supports_conditional_and_range_requests(backend: Backend) {
    let app = spawn_app(backend).await;
    let bytes = vpack_json("", "Virt", "1.0.0");
    app.publish("default", bytes.clone()).await;
    let path = app.url("/upack/default/download-vpack/Virt?latest");
    let first = app.client.get(&path).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(first.headers()["accept-ranges"], "bytes");
    let again = app
        .client
        .get(&path)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let partial = app
        .client
        .get(&path)
        .header("Range", "bytes=2-9")
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        partial.headers()["content-range"],
        format!("bytes 2-9/{}", bytes.len()).as_str()
    );
    assert_eq!(partial.bytes().await.unwrap().as_ref(), &bytes[2..10]);
    let beyond = app
        .client
        .get(&path)
        .header("Range", "bytes=100000-")
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
}

dual_backend_tests!(
    download_vpack_serves_the_stored_manifest_by_version_and_by_latest,
    download_vpack_without_version_or_latest_is_a_400,
    download_vpack_answers_403_for_missing_unknown_or_insufficient_keys,
    download_vpack_answers_404_for_unknown_feed_package_version_or_non_virtual,
    download_vpack_supports_conditional_and_range_requests,
);
