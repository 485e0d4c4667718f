//! Credentials in every form the clients use, keys stored only as argon2id
//! hashes, permissions and scopes, revocation, and the optional challenge.

use base64::Engine;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use wharf::config::TrustedProxies;
use wharf::db::Pool;

use crate::helpers::{Backend, TestApp, UpackBuilder, expect_status, spawn_app, spawn_app_with};

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

async fn every_credential_form_is_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_feed("private", false).await;
    app.publish("private", UpackBuilder::new("", "pkg", "1.0.0").build())
        .await;
    let key = app.create_key("view,download", &["private"]).await;
    wharf::service::users::create(
        &app.wharf,
        "alice",
        "correct horse",
        "view,download",
        &["private".into()],
    )
    .await
    .unwrap();
    let url = app.url("/upack/private/download/pkg?latest");
    let forms: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("X-ApiKey", app.client.get(&url).header("X-ApiKey", &key)),
        ("?key=", app.client.get(format!("{url}&key={key}"))),
        (
            "Basic api:<key>",
            app.client
                .get(&url)
                .header("Authorization", basic("api", &key)),
        ),
        (
            "Basic user:password",
            app.client
                .get(&url)
                .header("Authorization", basic("alice", "correct horse")),
        ),
        (
            "X-ApiKey user:password (pgutil)",
            app.client
                .get(&url)
                .header("X-ApiKey", "alice:correct horse"),
        ),
        (
            "Basic with another case of the user name",
            app.client
                .get(&url)
                .header("Authorization", basic("ALICE", "correct horse")),
        ),
    ];
    for (form, request) in forms {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{form}");
    }
    let wrong: Vec<(&str, reqwest::RequestBuilder)> = vec![
        (
            "wrong password",
            app.client
                .get(&url)
                .header("Authorization", basic("alice", "wrong")),
        ),
        (
            "unknown user",
            app.client
                .get(&url)
                .header("Authorization", basic("mallory", "correct horse")),
        ),
        (
            "tampered key",
            app.client.get(&url).header("X-ApiKey", format!("{key}x")),
        ),
        ("no credentials", app.client.get(&url)),
    ];
    for (form, request) in wrong {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{form}");
    }
}

async fn api_keys_are_stored_only_as_argon2id_hashes(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.create_key("view", &[]).await;
    let rows: Vec<(String, String)> = match app.wharf.db.pool() {
        Pool::Sqlite(pool) => sqlx::query_as("SELECT id, secret_hash FROM api_keys")
            .fetch_all(pool)
            .await
            .unwrap(),
        Pool::Postgres(pool) => sqlx::query_as("SELECT id, secret_hash FROM api_keys")
            .fetch_all(pool)
            .await
            .unwrap(),
    };
    assert_eq!(rows.len(), 2, "the admin key and the new key");
    for (id, hash) in &rows {
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains(&key) && !hash.contains(&app.admin_key));
        assert!(!key.contains(hash.as_str()));
        assert!(id.len() < 20, "the id is a short public part: {id}");
    }
    assert!(
        rows.iter().any(|(id, _)| key.contains(&format!("_{id}_"))),
        "the key carries its public id"
    );
    // And nothing in the database file holds the key text.
    if backend == Backend::Sqlite {
        let mut bytes = std::fs::read(app.data_dir.join("wharf.db")).unwrap();
        bytes.extend(std::fs::read(app.data_dir.join("wharf.db-wal")).unwrap_or_default());
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&key) && !text.contains(&app.admin_key));
    }
}

async fn permissions_and_feed_scopes_are_enforced(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_feed("team", false).await;
    let package = UpackBuilder::new("", "pkg", "1.0.0").build();
    let viewer = app.create_key("view", &["team"]).await;
    let other_feed_adder = app.create_key("add", &["default"]).await;
    let adder = app.create_key("add", &["team"]).await;
    expect_status(
        app.upload_with_key("team", package.clone(), Some(&viewer))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_status(
        app.upload_with_key("team", package.clone(), Some(&other_feed_adder))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_status(
        app.upload_with_key("team", package.clone(), None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_status(
        app.upload_with_key("team", package.clone(), Some(&adder))
            .await,
        StatusCode::CREATED,
    )
    .await;

    expect_status(
        app.get_with_key("/upack/team/versions", &viewer).await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        app.get_with_key("/upack/team/download/pkg/1.0.0", &viewer)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let deleter = app.create_key("delete", &["team"]).await;
    let delete = |key: String| {
        let request = app
            .client
            .delete(app.url("/upack/team/delete/pkg/1.0.0"))
            .header("X-ApiKey", key);
        async move { request.send().await.unwrap() }
    };
    expect_status(delete(viewer.clone()).await, StatusCode::FORBIDDEN).await;
    expect_status(delete(deleter).await, StatusCode::OK).await;
    assert!(app.versions("team").await.is_empty());
    // Anonymous callers may read the public default feed, not write to it.
    expect_status(app.get("/upack/default/packages").await, StatusCode::OK).await;
    expect_status(
        app.upload_with_key("default", package, None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

async fn a_revoked_key_stops_working_at_once_despite_the_cache(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.create_key("view", &[]).await;
    // The first request verifies with argon2, the second is answered from
    // the shared caches, the rest from the worker thread's own memo.
    for _ in 0..4 {
        expect_status(
            app.get_with_key("/upack/default/versions", &key).await,
            StatusCode::OK,
        )
        .await;
    }
    let id = wharf::service::auth::public_id(&key);
    wharf::service::keys::revoke(&app.wharf, &id).await.unwrap();
    for _ in 0..4 {
        expect_status(
            app.get_with_key("/upack/default/versions", &key).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
}

async fn a_key_that_expires_while_remembered_is_refused_from_then_on(backend: Backend) {
    let app = spawn_app(backend).await;
    let expires_at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let key = &view_key_expiring_at(&app, expires_at).await;
    for _ in 0..4 {
        expect_status(
            app.get_with_key("/upack/default/versions", key).await,
            StatusCode::OK,
        )
        .await;
    }
    let until_expiry = (expires_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(until_expiry + std::time::Duration::from_millis(50)).await;
    for _ in 0..4 {
        let text = expect_status(
            app.get_with_key("/upack/default/versions", key).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert!(text.contains("expired"), "{text}");
    }
}

async fn the_challenge_option_answers_anonymous_callers_with_401(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.auth.challenge = true).await;
    app.create_feed("private", false).await;
    let response = app.get("/upack/private/packages").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Basic realm=\"wharf\""
    );
    // An empty upload without credentials (Universal Package Explorer's probe).
    let probe = app.upload_with_key("default", Vec::new(), None).await;
    assert_eq!(probe.status(), StatusCode::UNAUTHORIZED);
    // With credentials, a wrong key stays a 403; the public feed stays open.
    expect_status(
        app.get_with_key("/upack/private/packages", "wrong-key-123")
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_status(app.get("/upack/default/packages").await, StatusCode::OK).await;
    // UPE's probe with valid credentials and an empty body gets a 400.
    expect_status(
        app.upload("default", Vec::new()).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

async fn private_feeds_are_not_revealed_to_callers_who_may_not_view_them(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_feed("secret", false).await;
    app.publish("secret", UpackBuilder::new("", "hidden", "1.0.0").build())
        .await;
    let outsider = app.create_key("view,download", &["default"]).await;
    let existing = app
        .get_with_key("/upack/secret/download/hidden/1.0.0", &outsider)
        .await;
    let missing = app
        .get_with_key("/upack/nosuchfeed/download/hidden/1.0.0", &outsider)
        .await;
    assert_eq!(existing.status(), StatusCode::FORBIDDEN);
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        existing.text().await.unwrap(),
        missing.text().await.unwrap()
    );
}

async fn every_response_carries_a_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in [
        "/health",
        "/upack/default/packages",
        "/upack/nope/packages",
        "/no/such/endpoint",
    ] {
        let response = app.get(path).await;
        assert!(response.headers().contains_key("x-request-id"), "{path}");
    }
    let health: serde_json::Value = app.get_json("/health").await;
    assert_eq!(health["databaseStatus"], "OK");
    assert_eq!(
        health["database"],
        if backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
}

/// The text of a new key that may view every feed until `expires_at`.
async fn view_key_expiring_at(app: &TestApp, expires_at: chrono::DateTime<chrono::Utc>) -> String {
    let created = wharf::service::keys::create(
        &app.wharf,
        wharf::service::keys::NewKey {
            name: "expiring".into(),
            permissions: "view".into(),
            feeds: Vec::new(),
            fixed_key: None,
            expires_at: Some(expires_at),
        },
    )
    .await
    .unwrap();
    created.key.expose_secret().to_owned()
}

async fn an_expired_key_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let expired =
        view_key_expiring_at(&app, chrono::Utc::now() - chrono::Duration::minutes(1)).await;
    let text = expect_status(
        app.get_with_key("/upack/default/versions", &expired).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(text.contains("expired"), "{text}");
}

async fn repeated_failed_authentication_is_rate_limited_per_address(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.auth.max_failures_per_minute = 3).await;
    for _ in 0..3 {
        expect_status(
            app.get_with_key("/upack/default/versions", "wrong-key-guess")
                .await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let limited = app
        .get_with_key("/upack/default/versions", "wrong-key-guess")
        .await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    assert!(
        limited
            .text()
            .await
            .unwrap()
            .contains("Too many failed authentication attempts")
    );
    // While limited, credentials from this address are not even checked...
    expect_status(
        app.get_with_key("/upack/default/versions", &app.admin_key)
            .await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    // ...but anonymous reads of a public feed go on.
    expect_status(app.get("/upack/default/versions").await, StatusCode::OK).await;
}

/// Sends a wrong key "from" `client` through a proxy on loopback.
async fn wrong_key_via(app: &TestApp, client: &str, key: &str) -> StatusCode {
    app.client
        .get(app.url("/upack/default/versions"))
        .header("X-ApiKey", key)
        .header("X-Forwarded-For", client)
        .send()
        .await
        .unwrap()
        .status()
}

async fn behind_a_trusted_proxy_the_limit_counts_each_client(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.auth.max_failures_per_minute = 2;
        s.auth.trusted_proxies = TrustedProxies::parse(["127.0.0.1"]).unwrap();
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            wrong_key_via(&app, "203.0.113.1", "guess").await,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        wrong_key_via(&app, "203.0.113.1", "guess").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let admin = app.admin_key.clone();
    assert_eq!(
        wrong_key_via(&app, "203.0.113.2", &admin).await,
        StatusCode::OK,
        "another client behind the same proxy is not limited"
    );

    // Without the proxy trusted, the header is anyone's to write: ignored.
    let app = spawn_app_with(backend, |s| s.auth.max_failures_per_minute = 2).await;
    assert_eq!(
        wrong_key_via(&app, "203.0.113.1", "guess").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        wrong_key_via(&app, "203.0.113.2", "guess").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        wrong_key_via(&app, "203.0.113.3", "guess").await,
        StatusCode::TOO_MANY_REQUESTS,
        "one peer, one budget, whatever it claims"
    );
}

dual_backend_tests!(
    behind_a_trusted_proxy_the_limit_counts_each_client,
    repeated_failed_authentication_is_rate_limited_per_address,
    an_expired_key_is_refused,
    every_credential_form_is_accepted,
    api_keys_are_stored_only_as_argon2id_hashes,
    permissions_and_feed_scopes_are_enforced,
    a_revoked_key_stops_working_at_once_despite_the_cache,
    a_key_that_expires_while_remembered_is_refused_from_then_on,
    the_challenge_option_answers_anonymous_callers_with_401,
    private_feeds_are_not_revealed_to_callers_who_may_not_view_them,
    every_response_carries_a_request_id,
);
