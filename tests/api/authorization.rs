//! The authorization matrix: every endpoint against every kind of caller,
//! each cell the expected status. A private feed is `team`; `open` is public;
//! `prod` receives promotions; `other` is a feed some keys are limited to.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, TestApp, UpackBuilder, spawn_app, vpack_json};

/// The endpoints, in column order.
const COLUMNS: [&str; 14] = [
    "packages",
    "versions",
    "search",
    "meta",
    "download",
    "download-file",
    "download-vpack",
    "upload new",
    "upload existing",
    "delete",
    "api/packages versions",
    "promote",
    "feeds/create",
    "api-keys/list",
];

/// Expected status per caller, per column (see COLUMNS).
const MATRIX: [(&str, [u16; 14]); 13] = [
    (
        "anonymous, public feed",
        [
            200, 200, 200, 200, 200, 200, 200, 403, 403, 403, 200, 403, 403, 403,
        ],
    ),
    ("anonymous, private feed", [403; 14]),
    ("unknown key", [403; 14]),
    ("expired key", [403; 14]),
    ("revoked key", [403; 14]),
    (
        "view",
        [
            200, 200, 200, 200, 403, 403, 403, 403, 403, 403, 200, 403, 403, 403,
        ],
    ),
    (
        "download",
        [
            403, 403, 403, 403, 200, 200, 200, 403, 403, 403, 403, 403, 403, 403,
        ],
    ),
    (
        "add",
        [
            403, 403, 403, 403, 403, 403, 403, 201, 409, 403, 403, 403, 403, 403,
        ],
    ),
    (
        "add, overwrite",
        [
            403, 403, 403, 403, 403, 403, 403, 201, 201, 403, 403, 403, 403, 403,
        ],
    ),
    (
        "delete",
        [
            403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 403, 403, 403, 403,
        ],
    ),
    ("promote (no read on the source)", [403; 14]),
    ("every feed permission, another feed", [403; 14]),
    (
        "admin",
        [
            200, 200, 200, 200, 200, 200, 200, 201, 201, 200, 200, 200, 200, 200,
        ],
    ),
];

async fn key_for(app: &TestApp, caller: &str) -> Option<String> {
    use secrecy::ExposeSecret;
    Some(match caller {
        "anonymous, public feed" | "anonymous, private feed" => return None,
        "unknown key" => "wharf_abcdefabcdef_thiskeywasnevercreatedxxxxxxxxxxxxxxxxxx".to_owned(),
        "expired key" => wharf::service::keys::create(
            &app.wharf,
            wharf::service::keys::NewKey {
                name: "expired".into(),
                permissions: "admin".into(),
                feeds: Vec::new(),
                fixed_key: None,
                expires_at: Some(chrono::Utc::now() - chrono::Duration::seconds(1)),
            },
        )
        .await
        .unwrap()
        .key
        .expose_secret()
        .to_owned(),
        "revoked key" => {
            let key = app.create_key("admin", &[]).await;
            wharf::service::keys::revoke(&app.wharf, &wharf::service::auth::public_id(&key))
                .await
                .unwrap();
            key
        }
        "view" => app.create_key("view", &["team"]).await,
        "download" => app.create_key("download", &["team"]).await,
        "add" => app.create_key("add", &["team"]).await,
        "add, overwrite" => app.create_key("add,overwrite", &["team"]).await,
        "delete" => app.create_key("delete", &["team"]).await,
        "promote (no read on the source)" => app.create_key("promote", &["team", "prod"]).await,
        "every feed permission, another feed" => {
            app.create_key("view,download,add,overwrite,delete,promote", &["other"])
                .await
        }
        "admin" => app.admin_key.clone(),
        other => panic!("no key recipe for {other}"),
    })
}

/// Sends the request of `column` for caller number `row` on `feed`.
async fn request(app: &TestApp, feed: &str, row: usize, column: usize, key: Option<&str>) -> u16 {
    let (method, path, body): (Method, String, Option<Vec<u8>>) = match column {
        0 => (Method::GET, format!("/upack/{feed}/packages"), None),
        1 => (Method::GET, format!("/upack/{feed}/versions"), None),
        2 => (Method::GET, format!("/upack/{feed}/search?term=pkg"), None),
        3 => (Method::GET, format!("/upack/{feed}/meta"), None),
        4 => (Method::GET, format!("/upack/{feed}/download/pkg/1.0.0"), None),
        5 => (Method::GET, format!("/upack/{feed}/download-file/pkg/1.0.0?path=upack.json"), None),
        6 => (Method::GET, format!("/upack/{feed}/download-vpack/virt/1.0.0"), None),
        7 => (Method::PUT, format!("/upack/{feed}/upload"), Some(UpackBuilder::new("", &format!("new{row}"), "1.0.0").build())),
        8 => (Method::PUT, format!("/upack/{feed}/upload"), Some(UpackBuilder::new("", "pkg", "1.0.0").file("package/again", &[row as u8]).build())),
        9 => (Method::DELETE, format!("/upack/{feed}/delete/del{row}/1.0.0"), None),
        10 => (Method::GET, format!("/api/packages/{feed}/versions"), None),
        11 => (
            Method::POST,
            "/api/promotions/promote".to_owned(),
            Some(serde_json::to_vec(&json!({"fromFeed": feed, "toFeed": "prod", "name": format!("promo{row}"), "version": "1.0.0"})).unwrap()),
        ),
        12 => (
            Method::POST,
            "/api/management/feeds/create".to_owned(),
            Some(serde_json::to_vec(&json!({"name": format!("made{row}"), "feedType": "universal"})).unwrap()),
        ),
        13 => (Method::GET, "/api/api-keys/list".to_owned(), None),
        _ => unreachable!("{column}"),
    };
    let mut builder = app.client.request(method, app.url(&path));
    if let Some(key) = key {
        builder = builder.header("X-ApiKey", key);
    }
    if let Some(body) = body {
        builder = builder.body(body);
    }
    builder.send().await.unwrap().status().as_u16()
}

async fn every_endpoint_answers_every_caller_as_the_matrix_says(backend: Backend) {
    let app = spawn_app(backend).await;
    for (feed, public) in [
        ("team", false),
        ("open", true),
        ("prod", false),
        ("other", false),
    ] {
        app.create_feed(feed, public).await;
    }
    for feed in ["team", "open"] {
        app.publish(feed, UpackBuilder::new("", "pkg", "1.0.0").build())
            .await;
        app.publish(feed, vpack_json("", "virt", "1.0.0")).await;
        for row in 0..MATRIX.len() {
            app.publish(
                feed,
                UpackBuilder::new("", &format!("del{row}"), "1.0.0").build(),
            )
            .await;
            app.publish(
                feed,
                UpackBuilder::new("", &format!("promo{row}"), "1.0.0").build(),
            )
            .await;
        }
    }
    let mut mismatches = Vec::new();
    for (row, (caller, expected)) in MATRIX.iter().enumerate() {
        let key = key_for(&app, caller).await;
        let feed = if *caller == "anonymous, public feed" {
            "open"
        } else {
            "team"
        };
        for (column, want) in expected.iter().enumerate() {
            let got = request(&app, feed, row, column, key.as_deref()).await;
            if got != *want {
                mismatches.push(format!(
                    "{caller} x {}: expected {want}, got {got}",
                    COLUMNS[column]
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "authorization matrix mismatches:\n{}",
        mismatches.join("\n")
    );
}

dual_backend_tests!(every_endpoint_answers_every_caller_as_the_matrix_says);
