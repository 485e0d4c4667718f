//! Promotion between feeds and repackaging, recorded and visible.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, UpackBuilder, expect_status, sha1_hex, spawn_app};

async fn promotion_copies_a_version_and_records_who_when_and_why(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_feed("dev", false).await;
    app.create_feed("prod", false).await;
    let package = UpackBuilder::new("apps", "web", "1.4.0").build();
    app.publish("dev", package.clone()).await;
    let promoter = app
        .create_key("view,download,promote", &["dev", "prod"])
        .await;
    let no_promote = app.create_key("view,download,add", &["dev", "prod"]).await;
    let prod_only = app.create_key("promote", &["prod"]).await;
    let body = json!({"fromFeed": "dev", "toFeed": "prod", "group": "apps", "name": "web", "version": "latest", "comments": "release 14"});
    let post = |key: String, body: serde_json::Value| {
        let request = app
            .client
            .post(app.url("/api/promotions/promote"))
            .header("X-ApiKey", key)
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    expect_status(post(no_promote, body.clone()).await, StatusCode::FORBIDDEN).await;
    expect_status(post(prod_only, body.clone()).await, StatusCode::FORBIDDEN).await;
    let promoted = expect_status(post(promoter.clone(), body.clone()).await, StatusCode::OK).await;
    let promoted: serde_json::Value = serde_json::from_str(&promoted).unwrap();
    assert_eq!(promoted["version"], "1.4.0");
    let downloaded = app
        .get_with_key("/upack/prod/download/apps/web/1.4.0", &promoter)
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(downloaded.as_ref(), package.as_slice());
    expect_status(
        post(promoter.clone(), body.clone()).await,
        StatusCode::CONFLICT,
    )
    .await;

    let form = app
        .client
        .post(app.url("/api/promotions/promote"))
        .header("X-ApiKey", &promoter)
        .form(&[
            ("fromFeed", "dev"),
            ("toFeed", "prod"),
            ("name", "nope"),
            ("version", "1.0.0"),
        ])
        .send()
        .await
        .unwrap();
    expect_status(form, StatusCode::NOT_FOUND).await;

    let list: Vec<serde_json::Value> = app
        .client
        .get(app.url("/api/promotions/list?package=web&toFeed=prod"))
        .header("X-ApiKey", &promoter)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["package"], "web");
    assert_eq!(list[0]["packageType"], "upack");
    let record = &list[0]["promotions"][0];
    assert_eq!(
        (
            record["fromFeed"].as_str(),
            record["toFeed"].as_str(),
            record["comments"].as_str()
        ),
        (Some("dev"), Some("prod"), Some("release 14"))
    );
    assert!(record["user"].as_str().unwrap().starts_with("key:"));
    assert!(record["date"].is_string());
    let hidden: Vec<serde_json::Value> = app.get_json("/api/promotions/list").await;
    assert!(
        hidden.is_empty(),
        "anonymous callers see no promotions between private feeds"
    );
    for bad in [
        json!({"toFeed": "prod", "name": "web", "version": "1.4.0"}),
        json!({"fromFeed": "dev", "toFeed": "prod", "name": "web", "version": "one"}),
    ] {
        expect_status(post(promoter.clone(), bad).await, StatusCode::BAD_REQUEST).await;
    }
}

async fn repackaging_makes_a_new_version_with_the_same_content_and_history(backend: Backend) {
    let app = spawn_app(backend).await;
    let original = UpackBuilder::new("apps", "web", "1.5.0-rc.2")
        .file("package/app.bin", b"binary")
        .build();
    app.publish("default", original.clone()).await;
    let response = app
        .client
        .post(app.url("/api/repackaging/repackage"))
        .header("X-ApiKey", &app.admin_key)
        .json(&json!({"feed": "default", "group": "apps", "name": "web", "version": "1.5.0-rc.2", "newVersion": "1.5.0", "comments": "approved"}))
        .send()
        .await
        .unwrap();
    let repackaged: serde_json::Value =
        serde_json::from_str(&expect_status(response, StatusCode::OK).await).unwrap();
    assert_eq!(repackaged["version"], "1.5.0");
    let history = &repackaged["repackageHistory"][0];
    assert_eq!(
        history["id"],
        format!("apps/web:1.5.0-rc.2:{}", sha1_hex(&original))
    );
    assert_eq!(history["reason"], "approved");
    assert!(history["using"].as_str().unwrap().starts_with("Wharf/"));

    let package: serde_json::Value = app
        .get_json("/upack/default/packages?group=apps&name=web")
        .await;
    assert_eq!(package["latestVersion"], "1.5.0");
    let bytes = app
        .get("/upack/default/download/apps/web/1.5.0")
        .await
        .bytes()
        .await
        .unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut content = String::new();
    std::io::Read::read_to_string(
        &mut archive.by_name("package/app.bin").unwrap(),
        &mut content,
    )
    .unwrap();
    assert_eq!(content, "binary");
    let mut manifest = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("upack.json").unwrap(), &mut manifest)
        .unwrap();
    assert!(manifest.contains("\"1.5.0\"") && manifest.contains("repackageHistory"));

    let again = app
        .client
        .post(app.url("/api/repackaging/repackage"))
        .header("X-ApiKey", &app.admin_key)
        .form(&[
            ("feed", "default"),
            ("group", "apps"),
            ("packageName", "web"),
            ("version", "1.5.0-rc.2"),
            ("newVersion", "1.5.0"),
        ])
        .send()
        .await
        .unwrap();
    expect_status(again, StatusCode::CONFLICT).await;
    let bad = app
        .client
        .post(app.url("/api/repackaging/repackage"))
        .header("X-ApiKey", &app.admin_key)
        .json(&json!({"feed": "default", "name": "web", "group": "apps", "version": "1.5.0", "newVersion": "v2"}))
        .send()
        .await
        .unwrap();
    let text = expect_status(bad, StatusCode::BAD_REQUEST).await;
    assert!(text.contains("newVersion"), "{text}");
}

dual_backend_tests!(
    promotion_copies_a_version_and_records_who_when_and_why,
    repackaging_makes_a_new_version_with_the_same_content_and_history,
);
