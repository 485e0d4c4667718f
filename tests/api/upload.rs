//! Uploading packages: real-world fixtures, every way clients send them, and
//! every invalid case answered with a 400 that leaves nothing behind.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    Backend, UpackBuilder, chunked_body, expect_status, fixtures, random_bytes, sha1_hex,
    spawn_app, spawn_app_with,
};

async fn real_world_packages_upload_and_download_byte_for_byte(backend: Backend) {
    let app = spawn_app(backend).await;
    for (file, bytes) in fixtures("upack-valid") {
        let body = expect_status(
            app.upload("default", bytes.clone()).await,
            StatusCode::CREATED,
        )
        .await;
        let published: serde_json::Value = serde_json::from_str(&body).unwrap();
        let (group, name, version) = (
            published["group"].as_str().unwrap().to_owned(),
            published["name"].as_str().unwrap().to_owned(),
            published["version"].as_str().unwrap().to_owned(),
        );
        let path = if group.is_empty() {
            format!("/upack/default/download/{name}/{version}")
        } else {
            format!("/upack/default/download/{group}/{name}/{version}")
        };
        let response = app.get(&path).await;
        assert_eq!(response.status(), StatusCode::OK, "{file}");
        assert_eq!(
            response.headers()["content-disposition"],
            format!("attachment; filename=\"{name}.{version}.upack\"").as_str()
        );
        let downloaded = response.bytes().await.unwrap();
        assert_eq!(
            downloaded.as_ref(),
            bytes.as_slice(),
            "{file} differs after a round trip"
        );

        let version_json: serde_json::Value = app
            .get_json(&format!(
                "/upack/default/versions?group={group}&name={name}&version={version}"
            ))
            .await;
        assert_eq!(version_json["sha1"], sha1_hex(&downloaded), "{file}");
        assert_eq!(version_json["size"], bytes.len());
    }
    // The jenkins fixture's file name says 0.0.1, its manifest 0.0.3 (and its
    // entries use backslashes, with no package/ folder): the manifest wins.
    let example: serde_json::Value = app
        .get_json("/upack/default/packages?group=andrew/sumner/proget&name=ExamplePackage")
        .await;
    assert_eq!(example["latestVersion"], "0.0.3");
    assert_eq!(example["custom"], "yes");
}

async fn invalid_real_world_packages_are_refused_and_leave_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    for (file, bytes) in fixtures("upack-invalid") {
        let body = expect_status(app.upload("default", bytes).await, StatusCode::BAD_REQUEST).await;
        assert!(
            body.ends_with('.'),
            "{file}: one sentence expected, got {body:?}"
        );
    }
    assert!(app.versions("default").await.is_empty());
    assert_eq!(app.stored_blob_count().await, 0);
    assert_eq!(app.temp_file_count(), 0);
}

async fn invalid_manifests_get_a_400_naming_the_rule(backend: Backend) {
    let app = spawn_app(backend).await;
    let long_group = "g".repeat(251);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("no upack.json", zip_without_manifest(), "no upack.json"),
        (
            "invalid JSON",
            UpackBuilder::new("", "a", "1.0.0")
                .raw_manifest(b"{\"name\":")
                .build(),
            "not valid JSON",
        ),
        (
            "no name",
            UpackBuilder::new("", "a", "1.0.0")
                .raw_manifest(br#"{"version":"1.0.0"}"#)
                .build(),
            "name is required",
        ),
        (
            "no version",
            UpackBuilder::new("", "a", "1.0.0")
                .raw_manifest(br#"{"name":"a"}"#)
                .build(),
            "version is required",
        ),
        (
            "long name",
            UpackBuilder::new("", &"n".repeat(51), "1.0.0").build(),
            "name must be at most 50",
        ),
        (
            "long group",
            UpackBuilder::new(&long_group, "a", "1.0.0").build(),
            "group must be at most 250",
        ),
        (
            "group with leading slash",
            UpackBuilder::new("/g", "a", "1.0.0").build(),
            "may not start or end",
        ),
        (
            "group with trailing slash",
            UpackBuilder::new("g/", "a", "1.0.0").build(),
            "may not start or end",
        ),
        (
            "group with //",
            UpackBuilder::new("a//b", "a", "1.0.0").build(),
            "'//'",
        ),
        (
            "bad name character",
            UpackBuilder::new("", "a b", "1.0.0").build(),
            "name may contain only",
        ),
        (
            "two-part version",
            UpackBuilder::new("", "a", "1.0").build(),
            "not a SemVer",
        ),
        (
            "v prefix",
            UpackBuilder::new("", "a", "v1.0.0").build(),
            "not a SemVer",
        ),
        (
            "leading zero",
            UpackBuilder::new("", "a", "01.0.0").build(),
            "not a SemVer",
        ),
        (
            "template version",
            std::fs::read(
                crate::helpers::fixture_dir("manifests")
                    .join("inedo-upe-installer-template.upack.json"),
            )
            .map(|m| UpackBuilder::new("", "a", "1.0.0").raw_manifest(&m).build())
            .unwrap(),
            "not a SemVer",
        ),
        ("not a package", b"hello world".to_vec(), "neither a zip"),
        ("empty body", Vec::new(), "empty"),
        (
            "plain JSON that is not a vpack",
            br#"{"name":"a","version":"1.0.0"}"#.to_vec(),
            "contents array",
        ),
        (
            "malformed vpack contents",
            br#"{"name":"a","version":"1.0.0","contents":"x"}"#.to_vec(),
            "contents must be an array",
        ),
        (
            "truncated zip",
            UpackBuilder::new("", "a", "1.0.0").build()[..40].to_vec(),
            "not a readable zip",
        ),
    ];
    for (case, body, expected) in cases {
        let text = expect_status(app.upload("default", body).await, StatusCode::BAD_REQUEST).await;
        assert!(
            text.contains(expected),
            "{case}: {text:?} should mention {expected:?}"
        );
    }
    assert!(app.versions("default").await.is_empty());
    assert_eq!(app.stored_blob_count().await, 0);
    assert_eq!(app.temp_file_count(), 0);
}

fn zip_without_manifest() -> Vec<u8> {
    use std::io::Write;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer
        .start_file(
            "package/upack.json",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
    writer
        .write_all(br#"{"name":"a","version":"1.0.0"}"#)
        .unwrap();
    writer.finish().unwrap().into_inner()
}

async fn every_upload_route_and_content_type_is_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.admin_key.clone();
    let cases = [
        ("PUT", "/upack/default/upload", Some("application/zip")),
        (
            "POST",
            "/upack/default/upload",
            Some("application/octet-stream"),
        ),
        ("PUT", "/upack/default", None),
        (
            "PUT",
            "/upack/default/",
            Some("application/x-www-form-urlencoded"),
        ),
        (
            "PUT",
            "/upack/default/upload/grp/pkg",
            Some("application/zip"),
        ),
        ("POST", "/upack/default/upload/grp/pkg/1.0.7", None),
    ];
    for (index, (method, path, content_type)) in cases.iter().enumerate() {
        let version = format!("1.0.{index}");
        let version = if path.ends_with("1.0.7") {
            "1.0.7".to_owned()
        } else {
            version
        };
        let body = UpackBuilder::new("grp", "pkg", &version).build();
        let mut request = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .header("X-ApiKey", &key)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", *content_type);
        }
        let response = request.send().await.unwrap();
        expect_status(response, StatusCode::CREATED).await;
    }
    assert_eq!(app.versions("default").await.len(), cases.len());
}

async fn chunked_and_expect_continue_uploads_work(backend: Backend) {
    let app = spawn_app(backend).await;
    let bytes = UpackBuilder::new("", "chunky", "1.0.0")
        .file("package/big.bin", &vec![7u8; 300_000])
        .build();
    let body = chunked_body(&bytes, 10_000);
    let response = app
        .client
        .put(app.url("/upack/default/upload"))
        .header("X-ApiKey", &app.admin_key)
        .body(body)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CREATED).await;

    // Expect: 100-continue, as curl and .NET send it, over a raw socket.
    let body = UpackBuilder::new("", "continued", "1.0.0").build();
    let (status, _, _) = crate::helpers::raw_request(
        &app.base,
        &format!(
            "PUT /upack/default/upload HTTP/1.1\r\nHost: x\r\nX-ApiKey: {}\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            app.admin_key,
            body.len()
        ),
        &body,
    )
    .await;
    assert_eq!(status, 201);
    let names: Vec<String> = app
        .versions("default")
        .await
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, vec!["chunky", "continued"]);
}

async fn an_existing_version_is_a_409_unless_the_caller_may_overwrite(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = UpackBuilder::new("", "pkg", "1.0.0").build();
    let second = UpackBuilder::new("", "pkg", "1.0.0+rebuilt")
        .file("package/new.txt", b"new")
        .build();
    app.publish("default", first.clone()).await;

    let adder = app.create_key("view,download,add", &[]).await;
    let text = expect_status(
        app.upload_with_key("default", second.clone(), Some(&adder))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(text.contains("already exists"), "{text}");
    assert_eq!(
        app.get("/upack/default/download/pkg/1.0.0")
            .await
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        first.as_slice()
    );

    let overwriter = app.create_key("add,overwrite", &[]).await;
    expect_status(
        app.upload_with_key("default", second.clone(), Some(&overwriter))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let versions = app.versions("default").await;
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["version"], "1.0.0+rebuilt");
    assert_eq!(versions[0]["sha1"], sha1_hex(&second));
    let served = app
        .get("/upack/default/download/pkg/1.0.0")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(served.as_ref(), second.as_slice());
}

async fn uploads_to_an_unknown_feed_are_404_and_over_the_limit_are_413(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.limits.max_upload_bytes = 2_000).await;
    let small = UpackBuilder::new("", "pkg", "1.0.0").build();
    let text = expect_status(app.upload("nowhere", small).await, StatusCode::NOT_FOUND).await;
    assert!(text.contains("'nowhere' does not exist"), "{text}");

    let big = UpackBuilder::new("", "pkg", "1.0.0")
        .file("package/x.bin", &random_bytes(5_000))
        .build();
    let text = expect_status(
        app.upload("default", big.clone()).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert!(text.contains("2000-byte limit"), "{text}");
    // Without Content-Length the limit is enforced while streaming.
    let body = chunked_body(&big, 500);
    let response = app
        .client
        .put(app.url("/upack/default/upload"))
        .header("X-ApiKey", &app.admin_key)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(app.versions("default").await.is_empty());
    assert_eq!(app.temp_file_count(), 0);
}

async fn path_and_query_identity_must_agree_with_the_manifest(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = UpackBuilder::new("grp", "pkg", "1.0.0").build();
    for path in [
        "/upack/default/upload/grp/other",
        "/upack/default/upload/grp/pkg/2.0.0",
        "/upack/default/upload?name=other",
    ] {
        let response = app
            .client
            .put(app.url(path))
            .header("X-ApiKey", &app.admin_key)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let text = expect_status(response, StatusCode::BAD_REQUEST).await;
        assert!(text.contains("upack.json says"), "{path}: {text}");
    }
    assert!(app.versions("default").await.is_empty());
}

async fn a_virtual_package_is_stored_byte_for_byte_as_json_or_zip(backend: Backend) {
    let app = spawn_app(backend).await;
    for (_, bytes) in fixtures("vpack") {
        app.publish("default", bytes).await;
    }
    let zipped = UpackBuilder::new("", "Zipped.Virtual", "1.0.0")
        .field("contents", json!(["lib:1.0.0"]))
        .build();
    app.publish("default", zipped).await;
    let versions = app.versions("default").await;
    assert_eq!(versions.len(), 4);
    assert!(
        versions.iter().all(|v| v["isVirtual"] == true),
        "{versions:?}"
    );
}

async fn a_stalled_upload_is_abandoned_with_a_408_and_cleaned_up(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(backend, |s| s.limits.upload_idle_seconds = 1).await;
    let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "PUT /upack/default/upload HTTP/1.1\r\nHost: x\r\nX-ApiKey: {}\r\nContent-Length: 100000\r\n\r\n",
        app.admin_key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[b'P'; 1000]).await.unwrap();
    let mut buffer = vec![0u8; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buffer))
        .await
        .expect("the server answers a stalled upload")
        .unwrap();
    let response = String::from_utf8_lossy(&buffer[..read]);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("stalled"), "{response}");
    assert_eq!(app.temp_file_count(), 0);
    assert!(app.versions("default").await.is_empty());
}

async fn head_requests_get_download_headers_without_a_body(backend: Backend) {
    let app = spawn_app(backend).await;
    let package = UpackBuilder::new("", "pkg", "1.0.0").build();
    app.publish("default", package.clone()).await;
    let response = app
        .client
        .head(app.url("/upack/default/download/pkg?latest"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-length"],
        package.len().to_string().as_str()
    );
    assert!(response.bytes().await.unwrap().is_empty());
}

dual_backend_tests!(
    a_stalled_upload_is_abandoned_with_a_408_and_cleaned_up,
    head_requests_get_download_headers_without_a_body,
    real_world_packages_upload_and_download_byte_for_byte,
    invalid_real_world_packages_are_refused_and_leave_nothing,
    invalid_manifests_get_a_400_naming_the_rule,
    every_upload_route_and_content_type_is_accepted,
    chunked_and_expect_continue_uploads_work,
    an_existing_version_is_a_409_unless_the_caller_may_overwrite,
    uploads_to_an_unknown_feed_are_404_and_over_the_limit_are_413,
    path_and_query_identity_must_agree_with_the_manifest,
    a_virtual_package_is_stored_byte_for_byte_as_json_or_zip,
);

mod variants {
    //! The other upload forms the docs describe.

    use base64::Engine;
    use reqwest::StatusCode;
    use serde_json::json;

    use crate::helpers::{Backend, TestApp, UpackBuilder, expect_status, spawn_app};

    fn plain_zip() -> Vec<u8> {
        use std::io::Write;
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, content) in [("bin/tool.exe", &b"MZ"[..]), ("readme.md", b"# hi")] {
            writer
                .start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(content).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    async fn put(
        app: &TestApp,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut request = app
            .client
            .put(app.url(path))
            .header("X-ApiKey", &app.admin_key)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        request.send().await.unwrap()
    }

    async fn manifest_of(app: &TestApp, path: &str) -> serde_json::Value {
        app.get_json(&format!("{path}?path=upack.json")).await
    }

    async fn a_plain_zip_with_name_and_version_becomes_a_package(backend: Backend) {
        let app = spawn_app(backend).await;
        let query = "/upack/default/upload?group=tools&name=tool&version=1.0.0&title=The%20Tool&dependencies=a:1.0.0,b";
        expect_status(
            put(&app, query, Some("application/zip"), plain_zip()).await,
            StatusCode::CREATED,
        )
        .await;
        let manifest = manifest_of(&app, "/upack/default/download-file/tools/tool/1.0.0").await;
        assert_eq!(
            manifest,
            json!({"group": "tools", "name": "tool", "version": "1.0.0", "title": "The Tool", "dependencies": ["a:1.0.0", "b"]})
        );
        let tool = app
            .get("/upack/default/download-file/tools/tool/1.0.0?path=package/bin/tool.exe")
            .await;
        assert_eq!(tool.bytes().await.unwrap().as_ref(), b"MZ");
        // Identity from the path.
        expect_status(
            put(
                &app,
                "/upack/default/upload/tools/tool/2.0.0",
                None,
                plain_zip(),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        let versions: Vec<serde_json::Value> = app
            .get_json("/upack/default/versions?group=tools&name=tool")
            .await;
        assert_eq!(versions.len(), 2);
        // Without a version there is nothing to call it.
        let text = expect_status(
            put(&app, "/upack/default/upload?name=tool", None, plain_zip()).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(text.contains("name and version"), "{text}");
    }

    async fn query_metadata_is_merged_into_an_uploaded_package(backend: Backend) {
        let app = spawn_app(backend).await;
        let package = UpackBuilder::new("", "pkg", "1.0.0")
            .field("title", json!("old"))
            .build();
        let path = "/upack/default/upload?title=new&description=Merged%20in&name=pkg";
        expect_status(put(&app, path, None, package).await, StatusCode::CREATED).await;
        let manifest = manifest_of(&app, "/upack/default/download-file/pkg/1.0.0").await;
        assert_eq!(manifest["title"], "new");
        assert_eq!(manifest["description"], "Merged in");
        let listed: serde_json::Value = app
            .get_json("/upack/default/versions?name=pkg&version=1.0.0")
            .await;
        assert_eq!(listed["title"], "new");
        let text = expect_status(
            put(
                &app,
                "/upack/default/upload/other?name=pkg",
                None,
                UpackBuilder::new("", "pkg", "2.0.0").build(),
            )
            .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(text.contains("'other'") || text.contains("twice"), "{text}");
        let text = expect_status(
            put(
                &app,
                "/upack/default/upload?name=a&name=b",
                None,
                plain_zip(),
            )
            .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(text.contains("twice"), "{text}");
    }

    async fn json_and_form_bodies_carry_content_b64(backend: Backend) {
        let app = spawn_app(backend).await;
        let encoded = base64::engine::general_purpose::STANDARD.encode(plain_zip());
        let json_body = json!({"group": "g", "name": "from-json", "version": "1.0.0", "content-b64": encoded, "description": "d", "dependencies": ["x:1.0.0"]});
        expect_status(
            put(
                &app,
                "/upack/default/upload",
                Some("application/json"),
                serde_json::to_vec(&json_body).unwrap(),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        let manifest = manifest_of(&app, "/upack/default/download-file/g/from-json/1.0.0").await;
        assert_eq!(manifest["dependencies"], json!(["x:1.0.0"]));
        assert_eq!(manifest["description"], "d");

        let form: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("name", "from-form")
            .append_pair("version", "1.0.0")
            .append_pair("content-b64", &encoded)
            .finish();
        expect_status(
            put(
                &app,
                "/upack/default/upload",
                Some("application/x-www-form-urlencoded"),
                form.into_bytes(),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        let tool = app
            .get("/upack/default/download-file/from-form/1.0.0?path=package/readme.md")
            .await;
        assert_eq!(tool.text().await.unwrap(), "# hi");

        for (case, content_type, body, expected) in [
            (
                "no content",
                "application/json",
                json!({"name": "x", "version": "1.0.0"}).to_string(),
                "content-b64",
            ),
            (
                "bad base64",
                "application/json",
                json!({"name": "x", "version": "1.0.0", "content-b64": "***"}).to_string(),
                "base64",
            ),
            (
                "not a zip",
                "application/json",
                json!({"name": "x", "version": "1.0.0", "content-b64": "aGVsbG8="}).to_string(),
                "zip",
            ),
            (
                "content-url",
                "application/json",
                json!({"name": "x", "version": "1.0.0", "content-url": "http://x"}).to_string(),
                "content-url",
            ),
            (
                "conflict with query",
                "application/json",
                json!({"name": "y", "version": "1.0.0", "content-b64": encoded}).to_string(),
                "twice",
            ),
        ] {
            let path = if case == "conflict with query" {
                "/upack/default/upload?name=x"
            } else {
                "/upack/default/upload"
            };
            let text = expect_status(
                put(&app, path, Some(content_type), body.into_bytes()).await,
                StatusCode::BAD_REQUEST,
            )
            .await;
            assert!(text.contains(expected), "{case}: {text}");
        }
        // A JSON virtual package sent as application/json is still a virtual package.
        let vpack = json!({"name": "v", "version": "1.0.0", "contents": ["g/from-json:1.0.0"]});
        expect_status(
            put(
                &app,
                "/upack/default/upload",
                Some("application/json"),
                serde_json::to_vec(&vpack).unwrap(),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(app.versions("default").await.len(), 3);
    }

    dual_backend_tests!(
        a_plain_zip_with_name_and_version_becomes_a_package,
        query_metadata_is_merged_into_an_uploaded_package,
        json_and_form_bodies_carry_content_b64,
    );
}
