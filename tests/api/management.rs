//! The management API: feeds and API keys as pgutil and scripts manage them.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, TestApp, UpackBuilder, expect_status, spawn_app};

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<serde_json::Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path));
    if let Some(key) = key {
        request = request.header("X-ApiKey", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn feeds_are_created_read_updated_and_deleted_by_admins(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_key.clone();
    let created = send(
        &app,
        Method::POST,
        "/api/management/feeds/create",
        Some(&admin),
        Some(json!({"name": "Builds", "feedType": "universal", "description": "CI output"})),
    )
    .await;
    let text = expect_status(created, StatusCode::OK).await;
    let feed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(feed["name"], "Builds");
    assert_eq!(feed["feedType"], "universal");
    assert!(
        feed["endpointUrl"]
            .as_str()
            .unwrap()
            .ends_with("/upack/Builds/")
    );
    assert_eq!(feed["allowAnonymousRead"], false);
    app.publish("builds", UpackBuilder::new("", "pkg", "1.0.0").build())
        .await;

    let got = send(
        &app,
        Method::GET,
        "/api/management/feeds/get/builds",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&expect_status(got, StatusCode::OK).await)
            .unwrap()["description"],
        "CI output"
    );
    let updated = send(
        &app,
        Method::POST,
        "/api/management/feeds/update/Builds",
        Some(&admin),
        Some(json!({"description": "new", "allowAnonymousRead": true})),
    )
    .await;
    expect_status(updated, StatusCode::OK).await;
    expect_status(app.get("/upack/Builds/packages").await, StatusCode::OK).await;

    let listed: Vec<serde_json::Value> = send(
        &app,
        Method::GET,
        "/api/management/feeds/list",
        Some(&admin),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["Builds", "default"]
    );

    for (case, body, expected) in [
        (
            "duplicate",
            json!({"name": "builds", "feedType": "universal"}),
            StatusCode::CONFLICT,
        ),
        (
            "other feed type",
            json!({"name": "npmjs", "feedType": "npm"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "no name",
            json!({"feedType": "universal"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "bad name",
            json!({"name": "a b", "feedType": "universal"}),
            StatusCode::BAD_REQUEST,
        ),
        ("not an object", json!([1, 2]), StatusCode::BAD_REQUEST),
    ] {
        let response = send(
            &app,
            Method::POST,
            "/api/management/feeds/create",
            Some(&admin),
            Some(body),
        )
        .await;
        let text = expect_status(response, expected).await;
        assert!(!text.is_empty(), "{case}");
    }
    expect_status(
        send(
            &app,
            Method::DELETE,
            "/api/management/feeds/delete/builds",
            Some(&admin),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        send(
            &app,
            Method::GET,
            "/api/management/feeds/get/builds",
            Some(&admin),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn only_admins_manage_and_feed_keys_see_only_their_feeds(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_feed("team", false).await;
    app.create_feed("secret", false).await;
    let feed_key = app
        .create_key("view,download,add,overwrite,delete,promote", &["team"])
        .await;
    let body = json!({"name": "x", "feedType": "universal"});
    for (method, path) in [
        (Method::POST, "/api/management/feeds/create"),
        (Method::POST, "/api/management/feeds/update/team"),
        (Method::DELETE, "/api/management/feeds/delete/team"),
        (Method::POST, "/api/api-keys/create"),
        (Method::GET, "/api/api-keys/list"),
        (Method::POST, "/api/api-keys/delete?id=x"),
    ] {
        let response = send(
            &app,
            method.clone(),
            path,
            Some(&feed_key),
            Some(body.clone()),
        )
        .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        let anonymous = send(&app, method.clone(), path, None, Some(body.clone())).await;
        assert_eq!(
            anonymous.status(),
            StatusCode::FORBIDDEN,
            "anonymous {method} {path}"
        );
    }
    let listed: Vec<serde_json::Value> = send(
        &app,
        Method::GET,
        "/api/management/feeds/list",
        Some(&feed_key),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["default", "team"]
    );
    expect_status(
        send(
            &app,
            Method::GET,
            "/api/management/feeds/get/secret",
            Some(&feed_key),
            None,
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

async fn api_keys_are_created_once_listed_without_secrets_and_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_feed("team", false).await;
    let admin = app.admin_key.clone();
    let response = send(&app, Method::POST, "/api/api-keys/create", Some(&admin), Some(json!({
        "type": "Feed", "feed": "team", "packagePermissions": ["view", "add"], "displayName": "ci", "logging": "None"
    }))).await;
    let info: serde_json::Value =
        serde_json::from_str(&expect_status(response, StatusCode::OK).await).unwrap();
    let key = info["key"].as_str().unwrap().to_owned();
    assert_eq!(info["displayName"], "ci");
    app.publish(
        "default",
        UpackBuilder::new("", "elsewhere", "1.0.0").build(),
    )
    .await;
    expect_status(
        app.upload_with_key(
            "team",
            UpackBuilder::new("", "pkg", "1.0.0").build(),
            Some(&key),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.get_with_key("/upack/team/download/pkg/1.0.0", &key)
            .await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        app.upload_with_key(
            "default",
            UpackBuilder::new("", "pkg", "1.0.0").build(),
            Some(&key),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;

    let custom = send(&app, Method::POST, "/api/api-keys/create", Some(&admin), Some(json!({
        "type": "System", "key": "my-chosen-key-text", "systemApis": ["full-control"], "logging": "None"
    }))).await;
    expect_status(custom, StatusCode::OK).await;
    expect_status(
        app.get_with_key("/api/api-keys/list", "my-chosen-key-text")
            .await,
        StatusCode::OK,
    )
    .await;

    let listed: Vec<serde_json::Value> =
        send(&app, Method::GET, "/api/api-keys/list", Some(&admin), None)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(listed.len(), 3);
    let text = serde_json::to_string(&listed).unwrap();
    assert!(
        !text.contains(&key) && !text.contains("my-chosen-key-text") && !text.contains("$argon2")
    );

    for (case, body) in [
        (
            "no permissions",
            json!({"type": "Other", "logging": "None"}),
        ),
        ("unknown permission", json!({"packagePermissions": ["fly"]})),
        (
            "feed key without feed",
            json!({"type": "Feed", "packagePermissions": ["view"]}),
        ),
        (
            "admin limited to a feed",
            json!({"systemApis": ["full-control"], "feed": "team"}),
        ),
    ] {
        let response = send(
            &app,
            Method::POST,
            "/api/api-keys/create",
            Some(&admin),
            Some(body),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
    }
    let id = info["id"].as_str().unwrap();
    expect_status(
        send(
            &app,
            Method::POST,
            &format!("/api/api-keys/delete?id={id}"),
            Some(&admin),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        app.get_with_key("/upack/team/versions", &key).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_status(
        send(
            &app,
            Method::POST,
            "/api/api-keys/delete?id=nope",
            Some(&admin),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn health_json_and_version_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let health: serde_json::Value = app.get_json("/health/json").await;
    assert_eq!(health["databaseStatus"], "OK");
    assert_eq!(health["applicationName"], "Wharf");
    let version = app.get("/api/version").await.text().await.unwrap();
    assert!(version.starts_with("ProGet"), "{version}");
}

dual_backend_tests!(
    feeds_are_created_read_updated_and_deleted_by_admins,
    only_admins_manage_and_feed_keys_see_only_their_feeds,
    api_keys_are_created_once_listed_without_secrets_and_deleted,
    health_json_and_version_answer,
);
