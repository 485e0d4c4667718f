//! Connectors over a real socket: administrators manage a feed's remote
//! feeds in order; credentials go in sealed and never come out (not in an
//! answer, not in the database in clear); a wrong secret key says so; names
//! are unique ignoring case; deleting a feed deletes its connectors; the
//! command line does the same.

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

const SECRET_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, String) {
    let mut request = app
        .client
        .request(method, app.url(path))
        .header("X-ApiKey", &app.admin_key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn connectors_are_managed_in_order_and_never_show_their_credentials(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.connectors.secret_key = Some(SECRET_KEY.to_owned().into());
    })
    .await;
    let create = |body: Value| {
        call(
            &app,
            Method::POST,
            "/api/management/connectors/create",
            Some(body),
        )
    };

    let (status, text) = create(json!({"url": "https://remote.example/upack/x"})).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::BAD_REQUEST, "feed is required.")
    );
    let (status, text) = create(json!({"feed": "default", "url": "ftp://remote.example/x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("http:// or https://"), "{text}");
    let (status, _) =
        create(json!({"feed": "nowhere", "url": "https://remote.example/upack/x"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, text) = create(json!({"feed": "default", "url": "https://r.example/upack/x", "apiKey": "k", "username": "u"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");

    let (status, text) = create(json!({
        "name": "Upstream", "feed": "default", "url": "https://remote.example/upack/x/",
        "timeout": 5, "filters": ["acme-*", "!acme-secret*"], "apiKey": "s3cr3t-remote-key",
    }))
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        !text.contains("s3cr3t"),
        "credentials never come out: {text}"
    );
    let created: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        created["url"], "https://remote.example/upack/x/",
        "kept exactly as given"
    );
    assert_eq!(created["filters"], json!(["acme-*", "!acme-secret*"]));
    assert_eq!(
        (
            created["position"].as_i64(),
            created["hasCredentials"].as_bool()
        ),
        (Some(1), Some(true))
    );

    let (status, text) =
        create(json!({"feed": "default", "url": "http://mirror.example:8624/upack/y"})).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let second: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(second["name"], "default-mirror.example");
    assert_eq!(
        (
            second["position"].as_i64(),
            second["hasCredentials"].as_bool()
        ),
        (Some(2), Some(false))
    );
    let (status, _) =
        create(json!({"name": "UPSTREAM", "feed": "default", "url": "https://x.example/upack/z"}))
            .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "names are unique ignoring case"
    );

    let (_, listed) = call(
        &app,
        Method::GET,
        "/api/management/connectors/list?feed=default",
        None,
    )
    .await;
    let listed: Vec<Value> = serde_json::from_str(&listed).unwrap();
    let names: Vec<&str> = listed.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Upstream", "default-mirror.example"]);

    // Sealed at rest: the database holds neither the key nor its base64.
    let stored = wharf::db::connectors::list(&app.wharf.db).await.unwrap();
    let sealed = stored[0].credentials_sealed.clone().unwrap();
    let plain_b64 = base64::engine::general_purpose::STANDARD.encode("s3cr3t-remote-key");
    assert!(!sealed.contains("s3cr3t") && !sealed.contains(&plain_b64));
    let upstream = wharf::service::connectors::get(&app.wharf, "upstream")
        .await
        .unwrap();
    match upstream
        .credentials(&app.wharf.settings.connectors)
        .unwrap()
    {
        Some(wharf::service::connectors::Credentials::ApiKey(key)) => {
            assert_eq!(key, "s3cr3t-remote-key");
        }
        other => panic!("the key unseals: {other:?}"),
    }
    assert!(
        upstream.admits("acme-tool")
            && !upstream.admits("acme-secret-tool")
            && !upstream.admits("other")
    );

    // An update keeps the credentials unless new ones come.
    let (status, text) = call(
        &app,
        Method::POST,
        "/api/management/connectors/update/upstream",
        Some(json!({"url": "https://remote.example/upack/renamed"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let updated: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (
            updated["url"].as_str(),
            updated["hasCredentials"].as_bool(),
            updated["timeout"].as_i64()
        ),
        (
            Some("https://remote.example/upack/renamed"),
            Some(true),
            Some(5)
        )
    );

    // Another process with another secret key cannot unseal them, and says so.
    let elsewhere = wharf::config::ConnectorSettings {
        secret_key: Some(
            "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
                .to_owned()
                .into(),
        ),
        ..wharf::config::ConnectorSettings::default()
    };
    let refused = upstream.credentials(&elsewhere).unwrap_err();
    assert!(
        refused.contains("Upstream") && refused.contains("secret_key"),
        "{refused}"
    );

    let viewer = app.create_key("view", &[]).await;
    let forbidden = app
        .get_with_key("/api/management/connectors/list", &viewer)
        .await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);

    let (status, _) = call(
        &app,
        Method::DELETE,
        "/api/management/connectors/delete/default-mirror.example",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &app,
        Method::GET,
        "/api/management/connectors/get/default-mirror.example",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.create_feed("doomed", false).await;
    create(json!({"name": "doomed-up", "feed": "doomed", "url": "https://remote.example/upack/d"}))
        .await;
    wharf::service::feeds::delete(&app.wharf, "doomed")
        .await
        .unwrap();
    let (status, _) = call(
        &app,
        Method::GET,
        "/api/management/connectors/get/doomed-up",
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a feed's connectors go with it"
    );
}

async fn credentials_need_a_secret_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, text) = call(
        &app,
        Method::POST,
        "/api/management/connectors/create",
        Some(json!({"feed": "default", "url": "https://remote.example/upack/x", "apiKey": "k"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("WHARF_CONNECTORS__SECRET_KEY"), "{text}");
    assert!(
        wharf::db::connectors::list(&app.wharf.db)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn the_command_line_manages_connectors(backend: Backend) {
    let cli = crate::cli::Cli::new(backend).await;
    cli.run(&["feed", "create", "builds"]).await;
    let created = cli
        .command(&[
            "connector",
            "create",
            "builds",
            "https://remote.example/upack/x",
            "--include",
            "acme-*",
            "--exclude",
            "acme-secret*",
            "--timeout-seconds",
            "7",
            "--api-key-env",
            "REMOTE_KEY",
        ])
        .env("WHARF_CONNECTORS__SECRET_KEY", SECRET_KEY)
        .env("REMOTE_KEY", "cli-remote-key")
        .output()
        .await
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let said = String::from_utf8_lossy(&created.stdout);
    assert!(
        said.contains("builds-remote.example") && !said.contains("cli-remote-key"),
        "{said}"
    );
    let listed = cli.run(&["connector", "list", "--feed", "builds"]).await;
    assert!(
        listed.contains(
            "https://remote.example/upack/x timeout=7s credentials=yes filters=acme-*,!acme-secret*"
        ),
        "{listed}"
    );
    let unset = cli
        .command(&[
            "connector",
            "create",
            "builds",
            "https://b.example/upack/y",
            "--api-key-env",
            "NOT_SET_ANYWHERE",
        ])
        .output()
        .await
        .unwrap();
    assert!(!unset.status.success());
    assert!(String::from_utf8_lossy(&unset.stderr).contains("NOT_SET_ANYWHERE"));
    cli.run(&["connector", "delete", "builds-remote.example"])
        .await;
    assert!(
        cli.run(&["connector", "list"])
            .await
            .contains("No connectors.")
    );
}

dual_backend_tests!(
    connectors_are_managed_in_order_and_never_show_their_credentials,
    credentials_need_a_secret_key,
    the_command_line_manages_connectors,
);
