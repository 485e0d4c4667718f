//! `packages` and `versions`: the shapes and filters each client relies on.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, UpackBuilder, expect_status, spawn_app};

async fn seed(app: &crate::helpers::TestApp) {
    for (group, name, version) in [
        ("", "Alpha", "1.0.0"),
        ("", "Alpha", "1.1.0"),
        ("tools", "Beta", "0.1.0"),
        ("tools/sub", "Gamma", "3.0.0-rc.1"),
    ] {
        let package = UpackBuilder::new(group, name, version)
            .field("title", json!(format!("{name} title")))
            .field("_custom", json!({"kept": true}))
            .file("package/dir/file.txt", b"hello")
            .build();
        app.publish("default", package).await;
    }
}

async fn packages_lists_arrays_and_single_objects_with_required_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app).await;
    let response = app.get("/upack/default/packages").await;
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let all: Vec<serde_json::Value> = response.json().await.unwrap();
    assert_eq!(all.len(), 3);
    for package in &all {
        assert!(
            package["name"].is_string()
                && package["latestVersion"].is_string()
                && package["versions"].is_array(),
            "{package}"
        );
        assert!(package["downloads"].is_number());
        assert!(package.get("version").is_none());
    }
    let alpha = all.iter().find(|p| p["name"] == "Alpha").unwrap();
    assert_eq!(alpha["versions"], json!(["1.1.0", "1.0.0"]));
    assert_eq!(alpha["_custom"], json!({"kept": true}));
    assert!(alpha.get("group").is_none());

    let empty_group: Vec<serde_json::Value> = app.get_json("/upack/default/packages?group=").await;
    assert_eq!(empty_group.len(), 1);
    let tools: Vec<serde_json::Value> = app.get_json("/upack/default/packages?group=TOOLS").await;
    assert_eq!(tools.len(), 1, "group is a full match, not a prefix");
    assert_eq!(tools[0]["group"], "tools");
    let counted: Vec<serde_json::Value> = app.get_json("/upack/default/packages?count=2").await;
    assert_eq!(counted.len(), 2);

    let one: serde_json::Value = app.get_json("/upack/default/packages?name=alpha").await;
    assert_eq!(one["name"], "Alpha");
    assert_eq!(one["latestVersion"], "1.1.0");
    let one: serde_json::Value = app
        .get_json("/upack/default/packages?group=tools&name=Beta")
        .await;
    assert_eq!(one["latestVersion"], "0.1.0");
    let text = expect_status(
        app.get("/upack/default/packages?name=Nope").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(text.contains("was not found"));
}

async fn versions_lists_arrays_objects_and_file_lists(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app).await;
    let all: Vec<serde_json::Value> = app.get_json("/upack/default/versions").await;
    assert_eq!(all.len(), 4);
    for version in &all {
        assert!(version["name"].is_string() && version["version"].is_string());
        let sha1 = version["sha1"].as_str().unwrap();
        assert!(
            sha1.len() == 40
                && sha1
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
        assert!(version["published"].as_str().unwrap().ends_with('Z'));
        assert!(version["size"].as_u64().unwrap() > 0);
        assert_eq!(version["isVirtual"], false);
        assert!(version.get("fileList").is_none());
    }
    // pgutil always sends group=, meaning the empty group; `name` alone is an array.
    let alpha: Vec<serde_json::Value> = app
        .get_json("/upack/default/versions?group=&name=Alpha")
        .await;
    assert_eq!(alpha.len(), 2);
    let alpha: Vec<serde_json::Value> = app
        .get_json("/upack/default/versions?name=Alpha&includeFileList=False")
        .await;
    assert_eq!(alpha.len(), 2);
    let one: serde_json::Value = app
        .get_json(
            "/upack/default/versions?group=tools&name=Beta&version=0.1.0&includeFileList=True",
        )
        .await;
    assert_eq!(one["version"], "0.1.0");
    assert_eq!(one["title"], "Beta title");
    let files = one["fileList"].as_array().unwrap();
    let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["readme.txt", "dir/file.txt"]);
    assert_eq!(files[1]["size"], 5);
    expect_status(
        app.get("/upack/default/versions?name=Alpha&version=9.0.0")
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_status(
        app.get("/upack/default/versions?version=1.0.0").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let capped: Vec<serde_json::Value> = app.get_json("/upack/default/versions?count=1").await;
    assert_eq!(capped.len(), 1);
}

async fn search_matches_name_title_or_description_by_term_or_query(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app).await;
    let description = UpackBuilder::new("", "Delta", "1.0.0")
        .field("description", json!("Contains the ÜBER widget"))
        .build();
    app.publish("default", description).await;
    for (query, expected) in [
        ("term=alpha", vec!["Alpha"]),
        ("query=ALPHA", vec!["Alpha"]),
        ("term=a%20title", vec!["Alpha", "Beta", "Gamma"]),
        ("term=über", vec!["Delta"]),
        ("term=nothing-like-it", vec![]),
        ("term=", vec!["Alpha", "Delta", "Beta", "Gamma"]),
    ] {
        let found: Vec<serde_json::Value> = app
            .get_json(&format!("/upack/default/search?{query}"))
            .await;
        let names: Vec<&str> = found.iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, expected, "{query}");
        assert!(
            found
                .iter()
                .all(|p| p["latestVersion"].is_string() && p["versions"].is_array())
        );
    }
}

async fn meta_reports_counts_and_services(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app).await;
    let meta: serde_json::Value = app.get_json("/upack/default/meta").await;
    assert_eq!(meta["apiVersion"], "1.3.0");
    assert_eq!(meta["name"], "default");
    assert_eq!(meta["packageCount"], 3);
    assert_eq!(meta["packageVersionCount"], 4);
    assert!(
        meta["services"]
            .as_array()
            .unwrap()
            .contains(&json!("VirtualPackages"))
    );
}

async fn cached_listings_reflect_every_write_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let names = |list: Vec<serde_json::Value>| -> Vec<String> {
        list.iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(names(app.get_json("/upack/default/packages").await).is_empty());
    app.publish(
        "default",
        UpackBuilder::new("", "one", "1.0.0")
            .field("title", json!("first"))
            .build(),
    )
    .await;
    assert_eq!(
        names(app.get_json("/upack/default/packages").await),
        ["one"]
    );
    assert_eq!(
        names(app.get_json("/upack/default/search?term=first").await),
        ["one"]
    );
    app.publish(
        "default",
        UpackBuilder::new("", "one", "2.0.0")
            .field("title", json!("second"))
            .build(),
    )
    .await;
    let one: serde_json::Value = app.get_json("/upack/default/packages?name=one").await;
    assert_eq!(one["latestVersion"], "2.0.0");
    assert!(
        names(app.get_json("/upack/default/search?term=first").await).is_empty(),
        "search matches the latest version's title; older titles only pass the prefilter"
    );
    assert_eq!(
        names(app.get_json("/upack/default/search?term=second").await),
        ["one"]
    );
    let versions: Vec<serde_json::Value> = app.get_json("/upack/default/versions").await;
    assert_eq!(versions.len(), 2);
    expect_status(
        app.admin_request(reqwest::Method::DELETE, "/upack/default/delete/one/2.0.0")
            .await,
        StatusCode::OK,
    )
    .await;
    let versions: Vec<serde_json::Value> = app.get_json("/upack/default/versions").await;
    assert_eq!(versions.len(), 1);
    let one: serde_json::Value = app.get_json("/upack/default/packages?name=one").await;
    assert_eq!(one["latestVersion"], "1.0.0");
    wharf::service::feeds::update(&app.wharf, "default", None, Some(false))
        .await
        .unwrap();
    expect_status(
        app.get("/upack/default/packages").await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

async fn packages_whose_versions_were_all_deleted_vanish_from_listings(backend: Backend) {
    let app = spawn_app(backend).await;
    for name in ["a-gone", "b-kept", "c-kept"] {
        app.publish("default", UpackBuilder::new("", name, "1.0.0").build())
            .await;
    }
    expect_status(
        app.admin_request(
            reqwest::Method::DELETE,
            "/upack/default/delete/a-gone/1.0.0",
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let first_two: Vec<serde_json::Value> = app.get_json("/upack/default/packages?count=2").await;
    let names: Vec<&str> = first_two
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["b-kept", "c-kept"],
        "an empty package takes no place in a listing"
    );
    let meta: serde_json::Value = app.get_json("/upack/default/meta").await;
    assert_eq!(meta["packageCount"], 2);
    expect_status(
        app.get("/upack/default/packages?name=a-gone").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Uploading it again brings it back.
    app.publish("default", UpackBuilder::new("", "a-gone", "2.0.0").build())
        .await;
    let again: serde_json::Value = app.get_json("/upack/default/packages?name=a-gone").await;
    assert_eq!(again["versions"], json!(["2.0.0"]));
}

dual_backend_tests!(
    packages_whose_versions_were_all_deleted_vanish_from_listings,
    cached_listings_reflect_every_write_at_once,
    packages_lists_arrays_and_single_objects_with_required_fields,
    versions_lists_arrays_objects_and_file_lists,
    search_matches_name_title_or_description_by_term_or_query,
    meta_reports_counts_and_services,
);
