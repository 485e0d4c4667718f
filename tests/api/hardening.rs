//! What an outside probe and the real clients found (issue 9, items 3 to 14),
//! each over a real socket on both databases. Items 1 and 2 are in `gc.rs`.

use std::io::Write;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Backend, TestApp, UpackBuilder, expect_status, raw_request, spawn_app};

/// Sends `head` and `body`, then half-closes the connection, as a client that
/// sends less than it declared would; returns the status line and body.
async fn send_and_half_close(app: &TestApp, head: &str, body: &[u8]) -> (u16, String) {
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut response),
    )
    .await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

async fn a_body_shorter_than_its_content_length_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let package = UpackBuilder::new("", "short", "1.0.0").build();
    let vpack = crate::helpers::vpack_json("", "shortv", "1.0.0");
    for body in [package, vpack] {
        let head = format!(
            "PUT /upack/default/upload HTTP/1.1\r\nHost: wharf\r\nX-ApiKey: {}\r\nContent-Length: {}\r\n\r\n",
            app.admin_key,
            body.len() + 1000
        );
        let (status, text) = send_and_half_close(&app, &head, &body).await;
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("Content-Length"), "{text}");
    }
    assert!(app.versions("default").await.is_empty(), "nothing stored");
    assert_eq!(app.temp_file_count(), 0);
}

/// A zip whose entries are stored uncompressed, so a test can find and
/// change an entry's bytes.
fn stored_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, content) in entries {
        writer.start_file(*name, stored).unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// Where the central directory record of entry `name` starts.
fn central_entry(zip: &[u8], name: &[u8]) -> usize {
    (0..zip.len() - 46)
        .find(|&at| {
            zip[at..at + 4] == *b"PK\x01\x02" && {
                let length = usize::from(u16::from_le_bytes([zip[at + 28], zip[at + 29]]));
                zip.get(at + 46..at + 46 + length) == Some(name)
            }
        })
        .expect("a central directory record")
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

async fn entries_whose_data_does_not_match_their_size_or_crc_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let manifest: &[u8] = br#"{"name":"corrupt","version":"1.0.0"}"#;
    let content: &[u8] = b"the original content of the file";

    // Data changed after the CRC was computed.
    let mut flipped = stored_zip(&[("upack.json", manifest), ("package/data.txt", content)]);
    let at = find(&flipped, b"original");
    flipped[at] ^= 0x20;
    // The central directory declares a larger size than the data holds.
    let mut resized = stored_zip(&[("upack.json", manifest), ("package/data.txt", content)]);
    let central = central_entry(&resized, b"package/data.txt");
    let declared = u32::try_from(content.len() + 10).unwrap().to_le_bytes();
    resized[central + 24..central + 28].copy_from_slice(&declared);

    for body in [flipped, resized] {
        let text = expect_status(app.upload("default", body).await, StatusCode::BAD_REQUEST).await;
        assert!(
            text.contains("package/data.txt") && text.contains("corrupt"),
            "{text}"
        );
    }
    assert!(app.versions("default").await.is_empty());
    app.publish(
        "default",
        stored_zip(&[("upack.json", manifest), ("package/data.txt", content)]),
    )
    .await;
}

async fn a_bare_content_only_means_the_whole_package(backend: Backend) {
    let app = spawn_app(backend).await;
    let package = UpackBuilder::new("g", "whole", "1.0.0").build();
    app.publish("default", package.clone()).await;
    for path in [
        "/upack/default/download/g/whole/1.0.0?contentOnly",
        "/upack/default/download/g/whole?contentOnly&latest",
        "/upack/default/download/g/whole?latest&contentOnly",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("whole.1.0.0.upack"),
            "{path}"
        );
        assert_eq!(response.bytes().await.unwrap(), package, "{path}");
    }
    let zip = app
        .get("/upack/default/download/g/whole/1.0.0?contentOnly=zip")
        .await;
    assert_eq!(zip.status(), StatusCode::OK);
    assert!(
        zip.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("whole.1.0.0.zip")
    );
}

async fn a_valueless_group_means_every_group(backend: Backend) {
    let app = spawn_app(backend).await;
    app.publish(
        "default",
        UpackBuilder::new("a/b", "grouped", "1.0.0").build(),
    )
    .await;
    app.publish("default", UpackBuilder::new("", "plain", "1.0.0").build())
        .await;
    let names = |packages: Vec<serde_json::Value>| {
        let mut names: Vec<String> = packages
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        names(app.get_json("/upack/default/packages?group").await),
        ["grouped", "plain"]
    );
    assert_eq!(
        names(app.get_json("/upack/default/packages?group=").await),
        ["plain"]
    );
    let versions: Vec<serde_json::Value> = app
        .get_json("/upack/default/versions?group&name=grouped")
        .await;
    assert_eq!(versions.len(), 1);
}

fn zip_named(entries: &[&str]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for name in entries {
        writer.start_file(*name, options).unwrap();
        let content: &[u8] = if name.eq_ignore_ascii_case("upack.json") {
            br#"{"name":"dups","version":"1.0.0"}"#
        } else {
            b"x"
        };
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

async fn names_that_collide_or_carry_control_characters_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    for entries in [
        vec!["upack.json", "UPACK.JSON"],
        vec!["upack.json", "package/a.txt", "package/A.txt"],
        vec!["upack.json", "package/a.txt", "./package/a.txt"],
    ] {
        let text = expect_status(
            app.upload("default", zip_named(&entries)).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(text.contains("two entries"), "{entries:?}: {text}");
    }
    for control in ["\r", "\n", "\x1b", "\x7f", "\0"] {
        let name = format!("package/a{control}b.txt");
        let text = expect_status(
            app.upload("default", zip_named(&["upack.json", &name]))
                .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(text.contains("control character"), "{control:?}: {text}");
    }
    assert!(app.versions("default").await.is_empty());

    // A non-ASCII file name reaches the browser intact (RFC 6266).
    app.publish(
        "default",
        UpackBuilder::new("", "intl", "1.0.0")
            .file("package/naïve résumé.txt", b"bonjour")
            .build(),
    )
    .await;
    let response = app
        .get("/upack/default/download-file/intl/1.0.0?path=package/na%C3%AFve%20r%C3%A9sum%C3%A9.txt")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.contains("filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.txt"),
        "{disposition}"
    );
    assert!(
        disposition.contains("filename=\"na_ve r_sum_.txt\""),
        "{disposition}"
    );
    assert_eq!(response.bytes().await.unwrap(), &b"bonjour"[..]);
}

async fn names_made_only_of_dots_are_refused_wherever_they_are_created(backend: Backend) {
    let app = spawn_app(backend).await;
    for feed in [".", ".."] {
        let response = app
            .client
            .post(app.url("/api/management/feeds/create"))
            .header("X-ApiKey", &app.admin_key)
            .json(&json!({"name": feed, "feedType": "universal"}))
            .send()
            .await
            .unwrap();
        let text = expect_status(response, StatusCode::BAD_REQUEST).await;
        assert!(text.contains("dots"), "{feed}: {text}");
    }
    for (group, name) in [("", ".."), ("", "."), ("a/./b/..", "pkg"), ("..", "pkg")] {
        let text = expect_status(
            app.upload("default", UpackBuilder::new(group, name, "1.0.0").build())
                .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(text.contains("dots"), "{group}/{name}: {text}");
    }
    assert!(app.versions("default").await.is_empty());
}

async fn every_get_answers_head_and_a_wrong_method_gets_405_with_allow(backend: Backend) {
    let app = spawn_app(backend).await;
    app.publish("default", UpackBuilder::new("", "heady", "1.0.0").build())
        .await;
    for path in [
        "/health",
        "/health/json",
        "/upack/default/packages",
        "/upack/default/versions?name=heady",
        "/upack/default/search?term=heady",
        "/upack/default/meta",
        "/upack/default/download/heady/1.0.0",
        "/upack/default/download-file/heady/1.0.0?path=package/readme.txt",
        "/api/packages/default/latest?name=heady",
        "/api/packages/default/versions?name=heady",
        "/api/packages/default/download?name=heady&version=1.0.0",
        "/api/management/feeds/list",
        "/api/management/feeds/get/default",
        "/api/api-keys/list",
        "/api/version",
        "/api/promotions/list",
    ] {
        let get = app.admin_request(Method::GET, path).await;
        assert_eq!(get.status(), StatusCode::OK, "GET {path}");
        let length = get.headers().get("content-length").cloned();
        let head = app.admin_request(Method::HEAD, path).await;
        assert_eq!(head.status(), StatusCode::OK, "HEAD {path}");
        assert_eq!(
            head.headers().get("content-length"),
            length.as_ref(),
            "HEAD {path}"
        );
        assert!(head.headers().contains_key("x-request-id"));
        assert!(
            head.bytes().await.unwrap().is_empty(),
            "HEAD {path} has no body"
        );
    }
    for (method, path, allow) in [
        (Method::DELETE, "/upack/default/packages", "GET, HEAD"),
        (Method::GET, "/upack/default/upload", "PUT, POST"),
        (
            Method::PUT,
            "/upack/default/delete/heady/1.0.0",
            "DELETE, POST",
        ),
        (Method::GET, "/api/promotions/promote", "POST"),
        (Method::POST, "/health", "GET, HEAD"),
    ] {
        let response = app.admin_request(method.clone(), path).await;
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        let text = expect_status(response, StatusCode::METHOD_NOT_ALLOWED).await;
        assert!(text.contains(method.as_str()), "{text}");
    }
}

/// Sends an upload head with `Expect: 100-continue` and no body, and returns
/// the first status line the server sends.
async fn first_answer_to_expect(app: &TestApp, key: Option<&str>, length: u64) -> String {
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let key_header = key
        .map(|k| format!("X-ApiKey: {k}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "PUT /upack/default/upload HTTP/1.1\r\nHost: wharf\r\n{key_header}Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buffer = [0u8; 512];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buffer))
        .await
        .expect("an answer without the body")
        .unwrap();
    String::from_utf8_lossy(&buffer[..read]).into_owned()
}

async fn expect_continue_is_answered_only_after_the_upload_is_allowed(backend: Backend) {
    let app = spawn_app(backend).await;
    let anonymous = first_answer_to_expect(&app, None, 1000).await;
    assert!(anonymous.starts_with("HTTP/1.1 403"), "{anonymous}");
    assert!(
        anonymous.to_ascii_lowercase().contains("x-request-id"),
        "{anonymous}"
    );
    let reader = app.create_key("view,download", &[]).await;
    let refused = first_answer_to_expect(&app, Some(&reader), 1000).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    let huge = first_answer_to_expect(&app, Some(&app.admin_key), 1 << 50).await;
    assert!(huge.starts_with("HTTP/1.1 413"), "{huge}");

    let package = UpackBuilder::new("", "expected", "1.0.0").build();
    let head = format!(
        "PUT /upack/default/upload HTTP/1.1\r\nHost: wharf\r\nX-ApiKey: {}\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        app.admin_key,
        package.len()
    );
    let (status, _, _) = raw_request(&app.base, &head, &package).await;
    assert_eq!(status, 201);
}

async fn a_range_in_another_unit_or_malformed_is_ignored(backend: Backend) {
    let app = spawn_app(backend).await;
    let package = UpackBuilder::new("", "ranged", "1.0.0").build();
    app.publish("default", package.clone()).await;
    let path = "/upack/default/download/ranged/1.0.0";
    for range in ["items=0-5", "bytes=abc", "bytes=5-2", "bytes 0-5"] {
        let response = app
            .client
            .get(app.url(path))
            .header("Range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{range}");
        assert_eq!(response.bytes().await.unwrap(), package, "{range}");
    }
    let partial = app
        .client
        .get(app.url(path))
        .header("Range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), StatusCode::PARTIAL_CONTENT);
    let outside = app
        .client
        .get(app.url(path))
        .header("Range", format!("bytes={}-", package.len() + 10))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), StatusCode::RANGE_NOT_SATISFIABLE);
}

async fn requests_refused_before_a_handler_still_carry_an_id_and_a_sentence(backend: Backend) {
    let app = spawn_app(backend).await;
    for head in [
        "GET /upack/%FF%FE/packages HTTP/1.1\r\nHost: wharf\r\nConnection: close\r\n\r\n",
        "GET /upack/default/download/%C3%28/1.0.0 HTTP/1.1\r\nHost: wharf\r\nConnection: close\r\n\r\n",
        "GET /upack/default/packages?%zz=%%&count=x HTTP/1.1\r\nHost: wharf\r\nConnection: close\r\n\r\n",
        "PATCH /upack/default/meta HTTP/1.1\r\nHost: wharf\r\nConnection: close\r\n\r\n",
        "GET /no/such/thing HTTP/1.1\r\nHost: wharf\r\nConnection: close\r\n\r\n",
    ] {
        let (status, headers, body) = raw_request(&app.base, head, b"").await;
        assert!((400..500).contains(&status), "{head}: {status}");
        assert!(headers.iter().any(|(k, _)| k == "x-request-id"), "{head}");
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.ends_with('.') && !text.contains('\n') && text.len() > 10,
            "{head}: {text:?}"
        );
    }
}

async fn errors_say_what_is_missing(backend: Backend) {
    let app = spawn_app(backend).await;
    let text = expect_status(
        app.get("/upack/default/download-vpack/acme/rel/Release")
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        text.contains("needs a version") && text.contains("?latest"),
        "{text}"
    );
    let response = app
        .admin_request(Method::DELETE, "/upack/default/delete/acme/rel?latest")
        .await;
    let text = expect_status(response, StatusCode::BAD_REQUEST).await;
    assert!(text.contains("exact version"), "{text}");
}

async fn unknown_users_cost_what_wrong_passwords_cost(backend: Backend) {
    let app = spawn_app(backend).await;
    wharf::service::users::create(&app.wharf, "alice", "correct horse", "view", &[])
        .await
        .unwrap();
    let verifications = || app.wharf.auth.verifications();
    for credential in [
        "alice:wrong password",
        "nobody-by-that-name:any password",
        "wharf_abcdefghijkl_unknownsecret",
    ] {
        let before = verifications();
        let response = app
            .get_with_key("/upack/default/packages", credential)
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{credential}");
        assert_eq!(
            verifications() - before,
            1,
            "{credential}: one argon2 verification, like any wrong secret"
        );
    }
    let before = verifications();
    let response = app
        .client
        .get(app.url("/upack/default/packages"))
        .basic_auth("nobody", Some("any password"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(verifications() - before, 1, "Basic with an unknown user");

    for padded in [" my-chosen-key-text", "my-chosen-key-text\t"] {
        let response = app
            .client
            .post(app.url("/api/api-keys/create"))
            .header("X-ApiKey", &app.admin_key)
            .json(&json!({"type": "System", "key": padded, "systemApis": ["full-control"]}))
            .send()
            .await
            .unwrap();
        let text = expect_status(response, StatusCode::BAD_REQUEST).await;
        assert!(text.contains("white space"), "{text}");
    }
}

dual_backend_tests!(
    a_body_shorter_than_its_content_length_is_refused,
    entries_whose_data_does_not_match_their_size_or_crc_are_refused,
    a_bare_content_only_means_the_whole_package,
    a_valueless_group_means_every_group,
    names_that_collide_or_carry_control_characters_are_refused,
    names_made_only_of_dots_are_refused_wherever_they_are_created,
    every_get_answers_head_and_a_wrong_method_gets_405_with_allow,
    expect_continue_is_answered_only_after_the_upload_is_allowed,
    a_range_in_another_unit_or_malformed_is_ignored,
    requests_refused_before_a_handler_still_carry_an_id_and_a_sentence,
    errors_say_what_is_missing,
    unknown_users_cost_what_wrong_passwords_cost,
);
