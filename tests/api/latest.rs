//! The latest rule: highest stable, else highest prerelease; `latest=stable`
//! and `latest=any`; `SemVer` precedence throughout; listings agree.

use reqwest::StatusCode;

use crate::helpers::{Backend, UpackBuilder, expect_status, spawn_app};

struct Case {
    description: &'static str,
    versions: &'static [&'static str],
    latest: Option<&'static str>,
    stable: Option<&'static str>,
    any: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        description: "numeric order, not string order, and a newer prerelease is not latest",
        versions: &["1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1"],
        latest: Some("1.10.0"),
        stable: Some("1.10.0"),
        any: Some("2.0.0-rc.1"),
    },
    Case {
        description: "only prereleases: the highest prerelease",
        versions: &[
            "1.0.0-alpha",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-alpha.beta",
        ],
        latest: Some("1.0.0-beta.11"),
        stable: None,
        any: Some("1.0.0-beta.11"),
    },
    Case {
        description: "SemVer 2.0 precedence chain (spec section 11)",
        versions: &[
            "1.0.0-rc.1",
            "1.0.0-alpha.1",
            "1.0.0-alpha",
            "1.0.0-beta",
            "1.0.0-alpha.beta",
            "1.0.0-beta.11",
            "1.0.0-beta.2",
        ],
        latest: Some("1.0.0-rc.1"),
        stable: None,
        any: Some("1.0.0-rc.1"),
    },
    Case {
        description: "numeric identifiers sort below alphanumeric ones",
        versions: &["1.0.0-a", "1.0.0-2"],
        latest: Some("1.0.0-a"),
        stable: None,
        any: Some("1.0.0-a"),
    },
    Case {
        description: "build metadata is kept but does not order",
        versions: &["1.0.0+5", "0.9.0"],
        latest: Some("1.0.0+5"),
        stable: Some("1.0.0+5"),
        any: Some("1.0.0+5"),
    },
];

async fn latest_follows_the_documented_rule_for_every_case(backend: Backend) {
    let app = spawn_app(backend).await;
    for (index, case) in CASES.iter().enumerate() {
        let name = format!("pkg{index}");
        for version in case.versions {
            app.publish("default", UpackBuilder::new("grp", &name, version).build())
                .await;
        }
        for (query, expected) in [
            ("latest", case.latest),
            ("latest=", case.latest),
            ("latest=true", case.latest),
            ("latest=stable", case.stable),
            ("latest=any", case.any),
            ("latest=unstable", case.any),
        ] {
            let response = app
                .get(&format!("/upack/default/download/grp/{name}?{query}"))
                .await;
            match expected {
                Some(version) => {
                    assert_eq!(
                        response.status(),
                        StatusCode::OK,
                        "{}: ?{query}",
                        case.description
                    );
                    let disposition = response.headers()["content-disposition"]
                        .to_str()
                        .unwrap()
                        .to_owned();
                    assert!(
                        disposition.contains(&format!("{name}.{version}.upack")),
                        "{}: ?{query} gave {disposition}",
                        case.description
                    );
                }
                None => {
                    expect_status(response, StatusCode::NOT_FOUND).await;
                }
            }
        }
        let package: serde_json::Value = app
            .get_json(&format!("/upack/default/packages?group=grp&name={name}"))
            .await;
        assert_eq!(
            package["latestVersion"],
            case.latest.unwrap(),
            "{}: latestVersion",
            case.description
        );
        let listed: Vec<semver::Version> = package["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| semver::Version::parse(v.as_str().unwrap()).unwrap())
            .collect();
        assert!(
            listed
                .windows(2)
                .all(|w| w[0].cmp_precedence(&w[1]).is_gt()),
            "{}: versions must be highest first: {listed:?}",
            case.description
        );
    }
}

async fn versions_that_differ_only_in_build_metadata_are_the_same_version(backend: Backend) {
    let app = spawn_app(backend).await;
    app.publish("default", UpackBuilder::new("", "pkg", "1.0.0+a").build())
        .await;
    let adder = app.create_key("add", &[]).await;
    let rebuilt = UpackBuilder::new("", "pkg", "1.0.0+b")
        .file("package/x", b"x")
        .build();
    let text = expect_status(
        app.upload_with_key("default", rebuilt, Some(&adder)).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(text.contains("already exists"));
    // A request for 1.0.0 finds 1.0.0+a, and the stored string is shown.
    let response = app
        .get("/upack/default/versions?name=pkg&version=1.0.0")
        .await;
    let version: serde_json::Value = response.json().await.unwrap();
    assert_eq!(version["version"], "1.0.0+a");
    // Prerelease identifiers are case-sensitive: these are two versions.
    app.publish("default", UpackBuilder::new("", "pkg", "2.0.0-RC").build())
        .await;
    app.publish("default", UpackBuilder::new("", "pkg", "2.0.0-rc").build())
        .await;
    assert_eq!(app.versions("default").await.len(), 3);
}

dual_backend_tests!(
    latest_follows_the_documented_rule_for_every_case,
    versions_that_differ_only_in_build_metadata_are_the_same_version,
);
