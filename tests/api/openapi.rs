//! `/openapi.json` over a real socket: it describes exactly the routes the
//! router has (every API address with exactly the methods it answers; the
//! browser pages left out), every reference in it resolves, and the shapes
//! it gives are the keys the server really sends.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TestApp, UpackBuilder, spawn_app};

async fn document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

/// An actix pattern as the document writes it: `{tail:.*}` is `{tail}`.
fn openapi_path(actix: &str) -> String {
    let mut path = String::new();
    let mut in_regex = false;
    for c in actix.chars() {
        match c {
            ':' if path.ends_with(|p: char| p.is_alphanumeric()) && path.contains('{') => {
                in_regex = true;
            }
            '}' => {
                in_regex = false;
                path.push(c);
            }
            _ if in_regex => {}
            _ => path.push(c),
        }
    }
    path
}

/// The schema `name` in the document's components.
fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

/// The properties a schema names, through `allOf` (a shape that carries
/// the manifest's own properties is "these properties and any others").
fn property_names(schema: &Value) -> BTreeSet<String> {
    if let Some(parts) = schema["allOf"].as_array() {
        return parts.iter().flat_map(property_names).collect();
    }
    schema["properties"]
        .as_object()
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default()
}

fn keys(object: &Value) -> BTreeSet<String> {
    object
        .as_object()
        .unwrap_or_else(|| panic!("an object: {object}"))
        .keys()
        .cloned()
        .collect()
}

async fn the_document_lists_every_api_route_with_its_methods(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = document(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");

    let mut routed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut pages = 0;
    for route in wharf::http::route_table() {
        if route.audience == wharf::http::Audience::Browser {
            pages += 1;
            continue;
        }
        let methods = routed.entry(openapi_path(&route.path)).or_default();
        for method in route.methods {
            assert!(
                methods.insert(method.as_str().to_lowercase()),
                "{} registered twice for {method}",
                route.path
            );
        }
    }
    assert!(pages >= 10, "the web pages are in the table too ({pages})");
    assert!(routed.len() >= 30, "{routed:?}");

    let documented: BTreeMap<String, BTreeSet<String>> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| !matches!(k.as_str(), "parameters" | "summary" | "description"))
                .cloned()
                .collect();
            (path.clone(), methods)
        })
        .collect();
    for (path, methods) in &routed {
        assert_eq!(
            documented.get(path),
            Some(methods),
            "{path} answers {methods:?}; the document says {:?}",
            documented.get(path)
        );
    }
    for path in documented.keys() {
        assert!(
            routed.contains_key(path),
            "{path} is documented but not routed"
        );
    }

    // Every operation has a success answer and its own id, and every
    // reference resolves.
    let text = doc.to_string();
    for (start, _) in text.match_indices("#/components/schemas/") {
        let rest = &text[start + "#/components/schemas/".len()..];
        let name = &rest[..rest.find('"').unwrap()];
        assert!(
            schema(&doc, name).is_object(),
            "{name} is referenced but not defined"
        );
    }
    let mut operation_ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap();
            assert!(operation_ids.insert(id), "the operation id {id} repeats");
            let answers = operation["responses"].as_object().unwrap();
            assert!(
                answers.keys().any(|status| status.starts_with('2')),
                "{method} {path} has no success answer"
            );
        }
    }
}

/// The shapes in the document are the keys the server sends: a drift
/// between `wire.rs` and the document (or a hand-written shape) fails here.
async fn the_documented_shapes_are_what_the_server_sends(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = document(&app).await;
    app.create_feed("shapes", true).await;
    let package = UpackBuilder::new("acme", "tool", "1.2.0")
        .field("title", serde_json::json!("A tool"))
        .field("description", serde_json::json!("Does things."))
        .build();
    let stored: Value = app.upload("shapes", package).await.json().await.unwrap();
    assert_eq!(keys(&stored), property_names(schema(&doc, "StoredPackage")));

    let meta: Value = app.get_json("/upack/shapes/meta").await;
    assert_eq!(keys(&meta), property_names(schema(&doc, "FeedMetadata")));
    let health: Value = app.get_json("/health").await;
    assert_eq!(keys(&health), property_names(schema(&doc, "Health")));
    let info: Value = app.get_json("/api/packages/shapes").await;
    assert_eq!(keys(&info), property_names(schema(&doc, "FeedInfo")));
    let latest: Vec<Value> = app.get_json("/api/packages/shapes/latest").await;
    assert_eq!(
        keys(&latest[0]),
        property_names(schema(&doc, "VersionInfo"))
    );
    let feeds: Value = app
        .admin_request(reqwest::Method::GET, "/api/management/feeds/list")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keys(&feeds[0]), property_names(schema(&doc, "FeedObject")));

    // Version and package objects carry the manifest's own properties too:
    // every other key must be a documented one, and every documented one
    // (but the optional file list) is sent.
    let manifest: BTreeSet<String> = ["title", "description"].map(String::from).into();
    let versions: Vec<Value> = app
        .get_json("/upack/shapes/versions?includeFileList=true")
        .await;
    let documented = property_names(schema(&doc, "VersionObject"));
    let sent: BTreeSet<String> = keys(&versions[0]).difference(&manifest).cloned().collect();
    assert_eq!(sent, documented);
    let packages: Vec<Value> = app.get_json("/upack/shapes/packages").await;
    let documented = property_names(schema(&doc, "PackageObject"));
    let sent: BTreeSet<String> = keys(&packages[0]).difference(&manifest).cloned().collect();
    assert_eq!(sent, documented);
}

dual_backend_tests!(
    the_document_lists_every_api_route_with_its_methods,
    the_documented_shapes_are_what_the_server_sends,
);
