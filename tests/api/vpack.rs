//! Virtual packages end to end: assembly on `download`, its cache, its
//! refusals, `contentOnly`, and download counts.

use std::io::Read;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    Backend, TestApp, UpackBuilder, expect_status, fixtures, sha1_hex, spawn_app, spawn_app_with,
};

/// The entries of a zip, name to content, in archive order.
fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a standard zip reader opens it");
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            (entry.name().to_owned(), content)
        })
        .collect()
}

fn names(entries: &[(String, Vec<u8>)]) -> Vec<&str> {
    entries.iter().map(|(n, _)| n.as_str()).collect()
}

fn content<'a>(entries: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    &entries
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .1
}

async fn download(app: &TestApp, path: &str) -> Vec<u8> {
    let response = app.get(path).await;
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    assert_eq!(
        status,
        StatusCode::OK,
        "{path}: {}",
        String::from_utf8_lossy(&bytes)
    );
    bytes.to_vec()
}

fn vpack_fixture(name: &str) -> Vec<u8> {
    fixtures("vpack")
        .into_iter()
        .find(|(f, _)| f.contains(name))
        .unwrap()
        .1
}

async fn the_docs_examples_assemble_once_their_packages_exist(backend: Backend) {
    let app = spawn_app(backend).await;
    app.publish("default", vpack_fixture("HDARS")).await;
    let text = expect_status(
        app.get("/upack/default/download/HDARS.Combined/1.3.9")
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        text.contains("HDARS.Web:1.3.9") && text.contains("not in feed"),
        "{text}"
    );

    app.publish(
        "default",
        UpackBuilder::new("", "HDARS.Web", "1.3.9")
            .file("package/web/index.html", b"<html>")
            .build(),
    )
    .await;
    app.publish(
        "default",
        UpackBuilder::new("", "HDARS.API", "1.3.9")
            .file("package/api/app.dll", b"MZ")
            .build(),
    )
    .await;
    let assembled = unzip(&download(&app, "/upack/default/download/HDARS.Combined/1.3.9").await);
    assert_eq!(names(&assembled)[0], "upack.json");
    assert!(names(&assembled).contains(&"package/web/index.html"));
    assert!(names(&assembled).contains(&"package/api/app.dll"));
    let manifest: serde_json::Value =
        serde_json::from_slice(content(&assembled, "upack.json")).unwrap();
    assert_eq!(
        manifest,
        json!({"name": "HDARS.Combined", "version": "1.3.9"}),
        "contents is removed"
    );

    // ErpProduct: plugins into custom/plugin; the first writer of a path wins.
    app.publish("default", vpack_fixture("ErpProduct")).await;
    app.publish(
        "default",
        UpackBuilder::new("", "ErpProduct.Core", "2.2.1")
            .file("package/core.dll", b"core")
            .build(),
    )
    .await;
    for (plugin, version) in [
        ("Plugins.Initech", "2.0.1"),
        ("Plugins.SalesPipeline", "2.1.0"),
        ("Plugins.Workflows", "2.1.0"),
    ] {
        let package = UpackBuilder::new("", plugin, version)
            .file("package/plugin.json", plugin.as_bytes())
            .file(&format!("package/{plugin}.dll"), b"dll")
            .build();
        app.publish("default", package).await;
    }
    let erp = unzip(&download(&app, "/upack/default/download/ErpProduct.Initech?latest").await);
    assert!(names(&erp).contains(&"package/core.dll"));
    assert!(names(&erp).contains(&"package/custom/plugin/Plugins.Workflows.dll"));
    assert_eq!(
        content(&erp, "package/custom/plugin/plugin.json"),
        b"Plugins.Initech"
    );
    assert_eq!(
        names(&erp)
            .iter()
            .filter(|n| **n == "package/custom/plugin/plugin.json")
            .count(),
        1
    );

    // ABLast: its package reference carries a SHA-1 that our stand-in package
    // cannot match, and its URL host is not allowed: both are named.
    app.publish("default", vpack_fixture("ABLast")).await;
    app.publish(
        "default",
        UpackBuilder::new("initrode/vendors/abl", "ABlast", "2.2.1").build(),
    )
    .await;
    let text = expect_status(
        app.get("/upack/default/download/initrode/vendors/abl/ABLast.AstDist/2.2.1")
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        text.contains("initrode/vendors/abl/ABlast:2.2.1") && text.contains("SHA-1"),
        "{text}"
    );
}

async fn assembly_checks_hashes_and_names_what_is_missing(backend: Backend) {
    let app = spawn_app(backend).await;
    let lib = UpackBuilder::new("deep/nested/group", "lib", "1.0.0")
        .file("package/lib.so", b"ELF")
        .build();
    app.publish("default", lib.clone()).await;
    let good = json!({"name": "app", "version": "1.0.0", "contents": [format!("deep/nested/group/lib:1.0.0:{}", sha1_hex(&lib))]});
    app.publish("default", serde_json::to_vec(&good).unwrap())
        .await;
    let assembled = unzip(&download(&app, "/upack/default/download/app/1.0.0").await);
    assert_eq!(content(&assembled, "package/lib.so"), b"ELF");

    let wrong_hash = json!({"name": "app", "version": "2.0.0", "contents": [{"source": {"group": "deep/nested/group", "name": "lib", "version": "1.0.0", "hash": "0".repeat(40)}}]});
    app.publish("default", serde_json::to_vec(&wrong_hash).unwrap())
        .await;
    let text = expect_status(
        app.get("/upack/default/download/app/2.0.0").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        text.contains("deep/nested/group/lib:1.0.0") && text.contains(&"0".repeat(40)),
        "{text}"
    );

    let missing = json!({"name": "app", "version": "3.0.0", "contents": ["deep/nested/group/lib:1.0.0", "other/thing:9.9.9"]});
    app.publish("default", serde_json::to_vec(&missing).unwrap())
        .await;
    let text = expect_status(
        app.get("/upack/default/download/app/3.0.0").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(text.contains("other/thing:9.9.9"), "{text}");

    let meta = json!({"name": "app", "version": "4.0.0",
        "contents": [{"source": "deep/nested/group/lib:1.0.0", "virtualPath": "bin"}],
        "metaContents": [{"source": {"group": "deep/nested/group", "name": "lib", "version": "1.0.0", "packagePath": "package"}, "virtualPath": "extra"}]});
    app.publish("default", serde_json::to_vec(&meta).unwrap())
        .await;
    let assembled = unzip(&download(&app, "/upack/default/download/app/4.0.0").await);
    assert_eq!(
        names(&assembled),
        [
            "upack.json",
            "package/bin/readme.txt",
            "package/bin/lib.so",
            "extra/readme.txt",
            "extra/lib.so"
        ]
    );
}

async fn a_second_download_is_served_from_the_assembly_cache(backend: Backend) {
    let app = spawn_app(backend).await;
    app.publish("default", UpackBuilder::new("", "lib", "1.0.0").build())
        .await;
    app.publish(
        "default",
        serde_json::to_vec(&json!({"name": "v", "version": "1.0.0", "contents": ["lib:1.0.0"]}))
            .unwrap(),
    )
    .await;
    let first = app.get("/upack/default/download/v/1.0.0").await;
    let etag = first.headers()["etag"].clone();
    let first = first.bytes().await.unwrap();
    let blobs_after_first = app.stored_blob_count().await;
    let second = app.get("/upack/default/download/v/1.0.0").await;
    assert_eq!(second.headers()["etag"], etag);
    assert_eq!(second.bytes().await.unwrap(), first);
    assert_eq!(
        app.stored_blob_count().await,
        blobs_after_first,
        "no second assembly was stored"
    );
    let cached = wharf::db::assemblies::count(&app.wharf.db).await.unwrap();
    assert_eq!(cached, 1);

    // Replacing a referenced package changes the key: a fresh assembly.
    let replaced = UpackBuilder::new("", "lib", "1.0.0")
        .file("package/new.txt", b"new")
        .build();
    app.publish("default", replaced).await;
    let third = unzip(&download(&app, "/upack/default/download/v/1.0.0").await);
    assert!(names(&third).contains(&"package/new.txt"));
}

/// Serves `body` once per connection on a loopback port: a stand-in for a file host.
async fn file_server(body: &'static [u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0u8; 2048];
            let _ = socket.read(&mut request).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body).await;
        }
    });
    port
}

async fn url_sources_are_fetched_only_from_allowed_hosts(backend: Backend) {
    let port = file_server(b"PNG-BYTES").await;
    let manifest = json!({"name": "branded", "version": "1.0.0", "contents": [
        {"source": {"url": format!("http://127.0.0.1:{port}/logo.png"), "hash": sha1_hex(b"PNG-BYTES")}, "virtualPath": "common/logo.png"},
        format!("http://127.0.0.1:{port}/files/readme.txt")
    ]});
    let refusing = spawn_app(backend).await;
    refusing
        .publish("default", serde_json::to_vec(&manifest).unwrap())
        .await;
    let text = expect_status(
        refusing.get("/upack/default/download/branded/1.0.0").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        text.contains("url_allowlist") && text.contains("/logo.png"),
        "{text}"
    );

    let allowing = spawn_app_with(backend, |s| {
        s.vpack.url_allowlist = vec!["127.0.0.1".into()];
    })
    .await;
    allowing
        .publish("default", serde_json::to_vec(&manifest).unwrap())
        .await;
    let assembled = unzip(&download(&allowing, "/upack/default/download/branded/1.0.0").await);
    assert_eq!(content(&assembled, "package/common/logo.png"), b"PNG-BYTES");
    assert_eq!(content(&assembled, "package/readme.txt"), b"PNG-BYTES");

    let bad_hash = json!({"name": "branded", "version": "2.0.0", "contents": [{"source": {"url": format!("http://127.0.0.1:{port}/x"), "hash": "1".repeat(40)}}]});
    allowing
        .publish("default", serde_json::to_vec(&bad_hash).unwrap())
        .await;
    let text = expect_status(
        allowing.get("/upack/default/download/branded/2.0.0").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(text.contains("SHA-1"), "{text}");
}

async fn content_only_downloads_re_archive_the_package_folder(backend: Backend) {
    let app = spawn_app(backend).await;
    let package = UpackBuilder::new("g", "pkg", "1.2.3")
        .file("package/bin/tool", b"#!")
        .file("extra.txt", b"meta")
        .build();
    app.publish("default", package).await;
    // A bare `contentOnly` is the whole package (CONTRACT.md section 3; see
    // `hardening::a_bare_content_only_means_the_whole_package`).
    for query in [
        "contentOnly=true",
        "contentOnly=zip",
        "contentOnly=ZIP&latest",
        "latest&contentOnly=zip",
    ] {
        let path = if query.contains("latest") {
            format!("/upack/default/download/g/pkg?{query}")
        } else {
            format!("/upack/default/download/g/pkg/1.2.3?{query}")
        };
        let response = app.get(&path).await;
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        assert_eq!(response.headers()["content-type"], "application/zip");
        assert_eq!(
            response.headers()["content-disposition"],
            "attachment; filename=\"pkg.1.2.3.zip\""
        );
        let entries = unzip(&response.bytes().await.unwrap());
        assert_eq!(names(&entries), ["readme.txt", "bin/tool"], "{query}");
    }
    let response = app
        .get("/upack/default/download/g/pkg/1.2.3?contentOnly=tgz")
        .await;
    assert_eq!(
        response.headers()["content-type"],
        "application/x-compressed"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"pkg.1.2.3.tgz\""
    );
    let bytes = response.bytes().await.unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_ref()));
    let mut files: Vec<(String, Vec<u8>)> = tar
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut content = Vec::new();
            e.read_to_end(&mut content).unwrap();
            (e.path().unwrap().to_string_lossy().into_owned(), content)
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        vec![
            ("bin/tool".to_owned(), b"#!".to_vec()),
            ("readme.txt".to_owned(), b"pkg 1.2.3".to_vec())
        ]
    );
    expect_status(
        app.get("/upack/default/download/g/pkg/1.2.3?contentOnly=rar")
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // A virtual package's content is its assembled content.
    app.publish("default", serde_json::to_vec(&json!({"name": "v", "version": "1.0.0", "contents": [{"source": "g/pkg:1.2.3", "virtualPath": "sub"}]})).unwrap()).await;
    let entries = unzip(&download(&app, "/upack/default/download/v/1.0.0?contentOnly=zip").await);
    assert_eq!(names(&entries), ["sub/readme.txt", "sub/bin/tool"]);
}

async fn downloads_are_counted_without_losing_any(backend: Backend) {
    let app = spawn_app(backend).await;
    app.publish("default", UpackBuilder::new("", "pkg", "1.0.0").build())
        .await;
    app.publish("default", UpackBuilder::new("", "pkg", "2.0.0").build())
        .await;
    let requests = (0..10).map(|i| {
        app.get(if i % 2 == 0 {
            "/upack/default/download/pkg/1.0.0"
        } else {
            "/upack/default/download/pkg?latest"
        })
    });
    for response in futures::future::join_all(requests).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    wharf::service::downloads::flush(&app.wharf).await.unwrap();
    let versions: Vec<serde_json::Value> = app.get_json("/upack/default/versions?name=pkg").await;
    let counts: Vec<(String, i64)> = versions
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_owned(),
                v["downloads"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![("2.0.0".to_owned(), 5), ("1.0.0".to_owned(), 5)]
    );
    let package: serde_json::Value = app.get_json("/upack/default/packages?name=pkg").await;
    assert_eq!(package["downloads"], 10);
}

dual_backend_tests!(
    the_docs_examples_assemble_once_their_packages_exist,
    assembly_checks_hashes_and_names_what_is_missing,
    a_second_download_is_served_from_the_assembly_cache,
    url_sources_are_fetched_only_from_allowed_hosts,
    content_only_downloads_re_archive_the_package_folder,
    downloads_are_counted_without_losing_any,
);
