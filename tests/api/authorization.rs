//! The authorization matrix: every endpoint against every kind of caller,
//! each cell the expected status. A private feed is `team`; `open` is public;
//! `prod` receives promotions; `other` is a feed some keys are limited to.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, TestApp, UpackBuilder, spawn_app, spawn_app_with, vpack_json};

/// The endpoints, in column order. Every endpoint Wharf serves is here
/// (the web pages have their own matrix below).
const COLUMNS: [&str; 36] = [
    // Universal Feed API
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
    // Common Packages API (pgutil)
    "api/packages feed",
    "api/packages latest",
    "api/packages versions",
    "api/packages download",
    "api/packages upload",
    "api/packages delete",
    // Promotion and repackaging
    "promote",
    "promotions/list",
    "repackage",
    // Management
    "feeds/list",
    "feeds/get",
    "feeds/create",
    "feeds/update",
    "feeds/delete",
    "api-keys/create",
    "api-keys/list",
    "api-keys/delete",
    // Health and metrics (no credentials needed)
    "health",
    "health/live",
    "health/ready",
    "metrics",
    // Operations: an export from `team` (view and download, never
    // anonymous), the list (filtered), and an operation on `team` (404 for
    // whoever may not view the feed)
    "operations/export",
    "operations list",
    "operations/<id>",
    // A pull into `team`, which has no connectors: whoever may add is
    // authorized and then refused for that (400 no_connector)
    "operations/pull",
    // Connectors (administrators only)
    "connectors/list",
];

/// Expected status per caller, per column (see COLUMNS). Listings that filter
/// by what the caller may see (feeds/list, promotions/list) answer 200 to
/// anyone whose credentials are valid or absent.
#[rustfmt::skip]
const MATRIX: [(&str, [u16; 36]); 13] = [
    //                                       packages .. delete                               | api/packages                 | promo         | management                         | health, live, ready, metrics | export, list, get, pull | connectors
    ("anonymous, public feed",              [200, 200, 200, 200, 200, 200, 200, 403, 403, 403, 200, 200, 200, 200, 403, 403, 403, 200, 403, 200, 200, 403, 403, 403, 403, 403, 403, 200, 200, 200, 200, 403, 200, 404, 403, 403]),
    ("anonymous, private feed",             [403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 403, 200, 403, 403, 403, 403, 403, 403, 403, 200, 200, 200, 200, 403, 200, 404, 403, 403]),
    ("unknown key",                         [403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 200, 200, 200, 403, 403, 403, 403, 403]),
    ("expired key",                         [403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 200, 200, 200, 403, 403, 403, 403, 403]),
    ("revoked key",                         [403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 200, 200, 200, 403, 403, 403, 403, 403]),
    ("view",                                [200, 200, 200, 200, 403, 403, 403, 403, 403, 403, 200, 200, 200, 403, 403, 403, 403, 200, 403, 200, 200, 403, 403, 403, 403, 403, 403, 200, 200, 200, 200, 403, 200, 200, 403, 403]),
    ("download",                            [403, 403, 403, 403, 200, 200, 200, 403, 403, 403, 403, 403, 403, 200, 403, 403, 403, 200, 403, 200, 403, 403, 403, 403, 403, 403, 403, 200, 200, 200, 200, 403, 200, 404, 403, 403]),
    ("add",                                 [403, 403, 403, 403, 403, 403, 403, 201, 409, 403, 403, 403, 403, 403, 200, 403, 403, 200, 403, 200, 403, 403, 403, 403, 403, 403, 403, 200, 200, 200, 200, 403, 200, 404, 400, 403]),
    ("add, overwrite",                      [403, 403, 403, 403, 403, 403, 403, 201, 201, 403, 403, 403, 403, 403, 200, 403, 403, 200, 403, 200, 403, 403, 403, 403, 403, 403, 403, 200, 200, 200, 200, 403, 200, 404, 400, 403]),
    ("delete",                              [403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 200, 403, 200, 403, 200, 403, 403, 403, 403, 403, 403, 403, 200, 200, 200, 200, 403, 200, 404, 403, 403]),
    ("promote (no read on the source)",     [403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 403, 200, 403, 403, 403, 403, 403, 403, 403, 200, 200, 200, 200, 403, 200, 404, 403, 403]),
    ("every feed permission, another feed", [403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 403, 200, 403, 403, 403, 403, 403, 403, 403, 200, 200, 200, 200, 403, 200, 404, 403, 403]),
    ("admin",                               [200, 200, 200, 200, 200, 200, 200, 201, 201, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 404, 200, 200, 200, 200, 202, 200, 200, 400, 200]),
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
async fn request(
    app: &TestApp,
    feed: &str,
    row: usize,
    column: usize,
    key: Option<&str>,
) -> (u16, String) {
    let (method, path, body): (Method, String, Option<Vec<u8>>) = match column {
        0 => (Method::GET, format!("/upack/{feed}/packages"), None),
        1 => (Method::GET, format!("/upack/{feed}/versions"), None),
        2 => (Method::GET, format!("/upack/{feed}/search?term=pkg"), None),
        3 => (Method::GET, format!("/upack/{feed}/meta"), None),
        4 => (Method::GET, format!("/upack/{feed}/download/pkg/1.0.0"), None),
        5 => (Method::GET, format!("/upack/{feed}/download-file/pkg/1.0.0?path=upack.json"), None),
        6 => (Method::GET, format!("/upack/{feed}/download-vpack/virt/1.0.0"), None),
        7 => (Method::PUT, format!("/upack/{feed}/upload"), Some(UpackBuilder::new("", &format!("new{row}"), "1.0.0").build())),
        8 => (Method::PUT, format!("/upack/{feed}/upload"), Some(UpackBuilder::new("", "pkg", "1.0.0").file("package/again", &[u8::try_from(row).unwrap()]).build())),
        9 => (Method::DELETE, format!("/upack/{feed}/delete/del{row}/1.0.0"), None),
        10 => (Method::GET, format!("/api/packages/{feed}"), None),
        11 => (Method::GET, format!("/api/packages/{feed}/latest"), None),
        12 => (Method::GET, format!("/api/packages/{feed}/versions"), None),
        13 => (Method::GET, format!("/api/packages/{feed}/download?name=pkg&version=1.0.0"), None),
        14 => (Method::PUT, format!("/api/packages/{feed}/upload"), Some(UpackBuilder::new("", &format!("pnew{row}"), "1.0.0").build())),
        15 => (Method::POST, format!("/api/packages/{feed}/delete?name=pdel{row}&version=1.0.0"), None),
        16 => (
            Method::POST,
            "/api/promotions/promote".to_owned(),
            Some(serde_json::to_vec(&json!({"fromFeed": feed, "toFeed": "prod", "name": format!("promo{row}"), "version": "1.0.0"})).unwrap()),
        ),
        17 => (Method::GET, "/api/promotions/list".to_owned(), None),
        18 => (
            Method::POST,
            "/api/repackaging/repackage".to_owned(),
            Some(serde_json::to_vec(&json!({"feed": feed, "name": "pkg", "version": "1.0.0", "newVersion": format!("1.0.{}", row + 1)})).unwrap()),
        ),
        19 => (Method::GET, "/api/management/feeds/list".to_owned(), None),
        20 => (Method::GET, format!("/api/management/feeds/get/{feed}"), None),
        21 => (
            Method::POST,
            "/api/management/feeds/create".to_owned(),
            Some(serde_json::to_vec(&json!({"name": format!("made{row}"), "feedType": "universal"})).unwrap()),
        ),
        22 => (Method::POST, format!("/api/management/feeds/update/{feed}"), Some(br#"{"description":"changed"}"#.to_vec())),
        23 => (Method::DELETE, format!("/api/management/feeds/delete/gone{row}"), None),
        24 => (
            Method::POST,
            "/api/api-keys/create".to_owned(),
            Some(serde_json::to_vec(&json!({"type": "Feed", "feed": "team", "packagePermissions": ["view"], "logging": "None"})).unwrap()),
        ),
        25 => (Method::GET, "/api/api-keys/list".to_owned(), None),
        26 => (Method::POST, "/api/api-keys/delete?id=no-such-key".to_owned(), None),
        27 => (Method::GET, "/health".to_owned(), None),
        28 => (Method::GET, "/health/live".to_owned(), None),
        29 => (Method::GET, "/health/ready".to_owned(), None),
        30 => (Method::GET, "/metrics".to_owned(), None),
        31 => (
            Method::POST,
            format!(
                "/api/operations/export?feed={feed}&name=pkg&version=1.0.0&containerUri=file://{}/m{row}",
                app.data_dir.join("exports").display()
            ),
            None,
        ),
        32 => (Method::GET, "/api/operations".to_owned(), None),
        33 => (Method::GET, "/api/operations/matrix-operation".to_owned(), None),
        34 => (
            Method::POST,
            "/api/operations/pull".to_owned(),
            Some(format!(r#"{{"feed":"{feed}","name":"pkg"}}"#).into_bytes()),
        ),
        35 => (Method::GET, "/api/management/connectors/list".to_owned(), None),
        _ => unreachable!("{column}"),
    };
    let mut builder = app.client.request(method, app.url(&path));
    if let Some(key) = key {
        builder = builder.header("X-ApiKey", key);
    }
    if let Some(body) = body {
        builder = builder.body(body);
    }
    let response = builder.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

async fn every_endpoint_answers_every_caller_as_the_matrix_says(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.export.allowed_roots = vec![s.data_dir.join("exports").display().to_string()];
    })
    .await;
    std::fs::create_dir_all(app.data_dir.join("exports")).unwrap();
    wharf::db::operations::insert(
        &app.wharf.db,
        &wharf::db::operations::NewOperation {
            id: "matrix-operation",
            kind: "export",
            request_json: r#"{"feed":"team"}"#,
            requested_by: "test",
        },
    )
    .await
    .unwrap();
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
            for prefix in ["del", "promo", "pdel"] {
                let name = format!("{prefix}{row}");
                app.publish(feed, UpackBuilder::new("", &name, "1.0.0").build())
                    .await;
            }
        }
    }
    for row in 0..MATRIX.len() {
        app.create_feed(&format!("gone{row}"), false).await;
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
            let (got, body) = request(&app, feed, row, column, key.as_deref()).await;
            if let Some(key) = key.as_deref().filter(|_| got >= 400) {
                assert!(
                    !body.contains(key),
                    "{caller} x {}: the error body echoes the key",
                    COLUMNS[column]
                );
            }
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

/// The web pages and the session cookie as a credential, in column order.
const PAGE_COLUMNS: [&str; 12] = [
    "/",
    "feed page",
    "package page",
    "version page",
    "upload page",
    "admin/feeds",
    "admin/keys",
    "admin/users",
    "admin form (valid token)",
    "API download",
    "API upload",
    "API packages",
];

/// Expected status per caller on the private feed `team`. Pages answer a
/// feed the caller may not view like a missing one (404), send anonymous
/// visitors of admin pages to sign in (303), and read only the session
/// cookie (an API key header is ignored there). Through the API a cookie
/// counts for reading requests only: a write with a cookie is anonymous.
#[rustfmt::skip]
const PAGE_MATRIX: [(&str, [u16; 12]); 7] = [
    //                                     /    feed pkg  ver  upl  a/f  a/k  a/u  form dl   up   list
    ("anonymous",                         [200, 404, 404, 404, 303, 303, 303, 303, 303, 403, 403, 403]),
    ("API admin key (pages ignore it)",   [200, 404, 404, 404, 303, 303, 303, 303, 303, 200, 201, 200]),
    ("stale session cookie",              [200, 404, 404, 404, 303, 303, 303, 303, 303, 403, 403, 403]),
    ("session: view, download on team",   [200, 200, 200, 200, 403, 403, 403, 403, 403, 200, 403, 200]),
    ("session: view, add on team",        [200, 200, 200, 200, 200, 403, 403, 403, 403, 403, 403, 200]),
    ("session: every permission, other",  [200, 404, 404, 404, 404, 403, 403, 403, 403, 403, 403, 403]),
    ("session: admin",                    [200, 200, 200, 200, 200, 200, 200, 200, 303, 200, 403, 200]),
];

async fn every_page_answers_every_caller_as_the_matrix_says(backend: Backend) {
    use crate::pages::{create_user, sign_in};
    use reqwest::header::COOKIE;

    let app = spawn_app(backend).await;
    app.create_feed("team", false).await;
    app.create_feed("other", false).await;
    app.publish("team", UpackBuilder::new("acme", "pkg", "1.0.0").build())
        .await;
    let mut mismatches = Vec::new();
    for (row, (caller, expected)) in PAGE_MATRIX.iter().enumerate() {
        let (session, key) = match *caller {
            "anonymous" => (None, None),
            "API admin key (pages ignore it)" => (None, Some(app.admin_key.clone())),
            "stale session cookie" => (
                Some(crate::pages::Session {
                    cookie: "ThisTokenWasNeverIssuedByThisServerxxxxxxxx".to_owned(),
                    csrf: "none".to_owned(),
                }),
                None,
            ),
            other => {
                let name = format!("user{row}");
                let (permissions, feeds): (&str, &[&str]) = match other {
                    "session: view, download on team" => ("view,download", &["team"]),
                    "session: view, add on team" => ("view,add", &["team"]),
                    "session: every permission, other" => {
                        ("view,download,add,overwrite,delete,promote", &["other"])
                    }
                    _ => ("admin", &[]),
                };
                create_user(&app, &name, permissions, feeds).await;
                (
                    Some(sign_in(&app, &name, "correct horse").await.unwrap()),
                    None,
                )
            }
        };
        for (column, want) in expected.iter().enumerate() {
            let form_body = || {
                let csrf = session.as_ref().map_or("none", |s| s.csrf.as_str());
                format!("csrf={csrf}&name=made{row}")
            };
            let (method, path, body): (Method, String, Option<Vec<u8>>) = match column {
                0 => (Method::GET, "/".into(), None),
                1 => (Method::GET, "/feeds/team".into(), None),
                2 => (Method::GET, "/feeds/team/packages/acme/pkg".into(), None),
                3 => (
                    Method::GET,
                    "/feeds/team/packages/acme/pkg/versions/1.0.0".into(),
                    None,
                ),
                4 => (Method::GET, "/feeds/team/upload".into(), None),
                5 => (Method::GET, "/admin/feeds".into(), None),
                6 => (Method::GET, "/admin/keys".into(), None),
                7 => (Method::GET, "/admin/users".into(), None),
                8 => (
                    Method::POST,
                    "/admin/feeds".into(),
                    Some(form_body().into_bytes()),
                ),
                9 => (
                    Method::GET,
                    "/upack/team/download/acme/pkg/1.0.0".into(),
                    None,
                ),
                10 => (
                    Method::PUT,
                    "/upack/team/upload".into(),
                    Some(UpackBuilder::new("", &format!("new{row}"), "1.0.0").build()),
                ),
                11 => (Method::GET, "/upack/team/packages".into(), None),
                _ => unreachable!(),
            };
            let mut request = app.client.request(method, app.url(&path));
            if let Some(session) = &session {
                request = request.header(COOKIE, session.header());
            }
            if let Some(key) = &key {
                request = request.header("X-ApiKey", key);
            }
            if column == 8 {
                request = request.header("Content-Type", "application/x-www-form-urlencoded");
            }
            if let Some(body) = body {
                request = request.body(body);
            }
            let got = request.send().await.unwrap().status().as_u16();
            if got != *want {
                mismatches.push(format!(
                    "{caller} x {}: expected {want}, got {got}",
                    PAGE_COLUMNS[column]
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "page authorization matrix mismatches:\n{}",
        mismatches.join("\n")
    );
}

dual_backend_tests!(
    every_endpoint_answers_every_caller_as_the_matrix_says,
    every_page_answers_every_caller_as_the_matrix_says,
);
