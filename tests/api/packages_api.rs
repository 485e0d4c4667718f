//! The Common Packages API subset used by `pgutil packages ...`.

use reqwest::StatusCode;

use crate::helpers::{Backend, UpackBuilder, expect_status, sha1_hex, spawn_app};

async fn pgutil_lists_downloads_uploads_and_deletes_packages(backend: Backend) {
    let app = spawn_app(backend).await;
    let info: serde_json::Value = app.get_json("/api/packages/default").await;
    assert_eq!(info["packageType"], "upack");
    assert_eq!(info["feedType"], "universal");

    // pgutil uploads with no Content-Type, to upload/<file name> or upload.
    let one = UpackBuilder::new("tools", "cli", "1.0.0").build();
    let two = UpackBuilder::new("tools", "cli", "2.0.0-rc.1").build();
    for (path, body) in [
        ("/api/packages/default/upload/cli-1.0.0.upack", one.clone()),
        ("/api/packages/default/upload", two.clone()),
    ] {
        let response = app
            .client
            .put(app.url(path))
            .header("X-ApiKey", &app.admin_key)
            .body(body)
            .send()
            .await
            .unwrap();
        expect_status(response, StatusCode::OK).await;
    }
    app.publish("default", UpackBuilder::new("", "plain", "0.1.0").build())
        .await;

    let latest: Vec<serde_json::Value> = app.get_json("/api/packages/default/latest").await;
    let pairs: Vec<(String, String)> = latest
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().into(),
                v["version"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("plain".into(), "0.1.0".into()),
            ("cli".into(), "1.0.0".into())
        ]
    );
    for info in &latest {
        for field in [
            "purl",
            "name",
            "version",
            "sha1",
            "sha256",
            "size",
            "published",
            "downloads",
        ] {
            assert!(!info[field].is_null(), "{field} missing in {info}");
        }
    }
    assert_eq!(latest[1]["purl"], "pkg:universal/tools/cli@1.0.0");
    let stable: Vec<serde_json::Value> = app
        .get_json("/api/packages/default/latest?group=tools&name=cli&stableOnly=true")
        .await;
    assert_eq!(stable.len(), 1);
    let versions: Vec<serde_json::Value> = app
        .get_json("/api/packages/default/versions?group=tools&name=cli")
        .await;
    assert_eq!(versions.len(), 2);
    let single: Vec<serde_json::Value> = app
        .get_json("/api/packages/default/versions?group=tools&name=cli&version=1.0.0")
        .await;
    assert_eq!(single.len(), 1, "always an array");
    assert_eq!(single[0]["sha1"], sha1_hex(&one));

    for (query, expected) in [
        ("name=cli&version=1.0.0&group=tools", &one),
        ("name=cli&version=1.0.0", &one),
        ("name=cli&version=latest", &one),
        ("name=cli&version=latest-stable", &one),
        ("name=cli&version=latest-unstable", &two),
    ] {
        let response = app
            .get(&format!("/api/packages/default/download?{query}"))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        assert!(
            response.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("filename=")
        );
        assert_eq!(
            response.bytes().await.unwrap().as_ref(),
            expected.as_slice(),
            "{query}"
        );
    }
    app.publish(
        "default",
        UpackBuilder::new("other", "cli", "1.0.0").build(),
    )
    .await;
    let text = expect_status(
        app.get("/api/packages/default/download?name=cli&version=1.0.0")
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(text.contains("several groups"), "{text}");
    expect_status(
        app.get("/api/packages/default/download?name=cli").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_status(
        app.get("/api/packages/default/download?name=nope&version=1.0.0")
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let deleted = app
        .admin_request(
            reqwest::Method::POST,
            "/api/packages/default/delete?name=cli&group=tools&version=2.0.0-rc.1",
        )
        .await;
    expect_status(deleted, StatusCode::OK).await;
    let versions: Vec<serde_json::Value> = app
        .get_json("/api/packages/default/versions?group=tools&name=cli")
        .await;
    assert_eq!(versions.len(), 1);
    let anonymous = app
        .client
        .post(app.url("/api/packages/default/delete?name=plain&version=0.1.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::FORBIDDEN);
}

dual_backend_tests!(pgutil_lists_downloads_uploads_and_deletes_packages);
