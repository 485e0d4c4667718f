//! Path decoding as the clients send it: group slashes literal or `%2F`, the
//! empty group, empty segments and trailing slashes, `+` and `%2B` in versions,
//! and case-insensitive feed, group and name.

use reqwest::StatusCode;

use crate::helpers::{Backend, UpackBuilder, expect_status, spawn_app};

async fn every_spelling_of_a_package_address_finds_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let nested = UpackBuilder::new("a/b/c", "Pkg", "1.0.0+build.7").build();
    let flat = UpackBuilder::new("", "Flat", "2.0.0").build();
    app.publish("default", nested.clone()).await;
    app.publish("default", flat.clone()).await;
    let cases: &[(&str, &[u8])] = &[
        ("/upack/default/download/a/b/c/Pkg/1.0.0+build.7", &nested),
        (
            "/upack/default/download/a%2Fb%2Fc/Pkg/1.0.0%2Bbuild.7",
            &nested,
        ),
        ("/upack/default/download/a%2fb/c/Pkg/1.0.0", &nested),
        ("/upack/default/download/A/B/C/pkg/1.0.0", &nested),
        ("/upack/DEFAULT/download/a/b/c/PKG?latest", &nested),
        ("/upack/default/download/a/b/c/Pkg/?latest", &nested),
        ("/upack/default/download/a/b/c/Pkg/1.0.0+build.7/", &nested),
        ("/upack/default/download/Flat/2.0.0", &flat),
        ("/upack/default/download/Flat?latest", &flat),
        ("/upack/default/download//Flat?latest", &flat),
        (
            "/upack/default/download/flat?latest&contentOnly_ignored=1",
            &flat,
        ),
    ];
    for (path, expected) in cases {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.bytes().await.unwrap().as_ref(),
            *expected,
            "{path}"
        );
    }
    // Stored casing is kept in responses.
    let versions = app.versions("default").await;
    assert!(
        versions.iter().any(|v| v["group"] == "a/b/c"
            && v["name"] == "Pkg"
            && v["version"] == "1.0.0+build.7")
    );
    // The empty group is omitted, as ProGet does.
    assert!(
        versions
            .iter()
            .any(|v| v["name"] == "Flat" && v.get("group").is_none())
    );
}

async fn a_plus_in_a_query_version_is_build_metadata_however_encoded(backend: Backend) {
    let app = spawn_app(backend).await;
    app.publish("default", UpackBuilder::new("", "pkg", "1.0.0+b").build())
        .await;
    for query in ["version=1.0.0%2Bb", "version=1.0.0+b", "version=1.0.0"] {
        let response = app
            .get(&format!("/upack/default/versions?name=pkg&{query}"))
            .await;
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["version"], "1.0.0+b", "{query}");
    }
}

async fn malformed_addresses_are_400_with_a_sentence(backend: Backend) {
    let app = spawn_app(backend).await;
    for (path, expected) in [
        ("/upack/default/download/pkg", "version"),
        ("/upack/default/download/", "version"),
        ("/upack/default/download/pkg/not-a-version", "not a SemVer"),
        (
            "/upack/default/download/bad%20name/1.0.0",
            "name may contain only",
        ),
        ("/upack/default/download/%FF/1.0.0", "UTF-8"),
        (
            "/upack/default/download/x/pkg?latest=sometimes",
            "latest must be",
        ),
    ] {
        let text = expect_status(app.get(path).await, StatusCode::BAD_REQUEST).await;
        assert!(text.contains(expected), "{path}: {text}");
    }
}

dual_backend_tests!(
    every_spelling_of_a_package_address_finds_it,
    a_plus_in_a_query_version_is_build_metadata_however_encoded,
    malformed_addresses_are_400_with_a_sentence,
);
