//! On-demand fetch through connectors, over real sockets: two servers, the
//! second's feed connected to the first's. A download of what the feed
//! lacks is fetched, verified and kept as a cached copy; `latest` and the
//! listings weigh the remote's versions; filters hide names; a connector
//! that never answers holds no local answer past its timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, UpackBuilder, fixtures, spawn_app, spawn_app_with};

async fn get_json(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.admin_get_bytes(path).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

async fn manage(app: &TestApp, path: &str, body: Value) {
    app.admin_post_json(path, &body).await;
}

/// A server whose feed `default` is connected to `remote`'s `default`.
async fn connected_to(remote: &TestApp, backend: Backend, extra: Value) -> TestApp {
    let local = spawn_app_with(backend, |s| s.connectors.metadata_cache_seconds = 600).await;
    let mut body =
        json!({"name": "up", "feed": "default", "url": format!("{}/upack/default", remote.base)});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    manage(&local, "/api/management/connectors/create", body).await;
    local
}

/// `isLocal` and `isCached`.
type Flags = (Option<bool>, Option<bool>);

fn flags(object: &Value) -> Flags {
    (object["isLocal"].as_bool(), object["isCached"].as_bool())
}

async fn a_feed_serves_what_its_connector_holds_and_keeps_a_copy(backend: Backend) {
    let remote = spawn_app(backend).await;
    for (_, bytes) in fixtures("upack-valid") {
        remote.publish("default", bytes).await;
    }
    let local = connected_to(&remote, backend, json!({})).await;
    let path = "/upack/default/download/andrew%2Fsumner%2Fproget/ExamplePackage/0.0.3";

    // Listed before it is fetched: the remote's, neither local nor cached.
    let listed = get_json(
        &local,
        "/upack/default/versions?group=andrew/sumner/proget&name=ExamplePackage",
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(flags(&listed[0]), (Some(false), Some(false)));
    let packages = get_json(&local, "/upack/default/packages").await;
    assert_eq!(
        packages.as_array().unwrap().len(),
        3,
        "every remote package: {packages}"
    );

    // Fetched on the first download: the remote's bytes, then a cached copy.
    let (_, theirs) = remote.admin_get_bytes(path).await;
    let (status, ours) = local.admin_get_bytes(path).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&ours));
    assert_eq!(ours, theirs, "the same bytes");
    let one = get_json(
        &local,
        "/upack/default/versions?group=andrew/sumner/proget&name=ExamplePackage&version=0.0.3",
    )
    .await;
    assert_eq!(flags(&one), (Some(false), Some(true)), "{one}");
    assert_eq!(one["sha1"], crate::helpers::sha1_hex(&theirs));

    // A version not yet fetched is described by the remote's object.
    let remote_only = get_json(
        &local,
        "/upack/default/versions?name=UniversalPackageTest&version=0.1.1",
    )
    .await;
    assert_eq!(
        flags(&remote_only),
        (Some(false), Some(false)),
        "{remote_only}"
    );

    // The copy is served from here once the connector points nowhere.
    manage(
        &local,
        "/api/management/connectors/update/up",
        json!({"url": "http://nothing.invalid/upack/default"}),
    )
    .await;
    let (status, again) = local.admin_get_bytes(path).await;
    assert_eq!((status, again), (StatusCode::OK, theirs));
    let (status, body) = local
        .admin_get_bytes("/upack/default/download/UniversalPackageTest/0.1.1")
        .await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(
        body.contains("'up'") && body.contains("nothing.invalid"),
        "{body}"
    );
}

async fn latest_and_listings_weigh_the_remotes_versions(backend: Backend) {
    let remote = spawn_app(backend).await;
    for version in ["1.0.0", "1.5.0", "2.0.0-rc.1"] {
        remote
            .publish(
                "default",
                UpackBuilder::new("acme", "tool", version).build(),
            )
            .await;
    }
    remote
        .publish(
            "default",
            UpackBuilder::new("", "private-thing", "1.0.0").build(),
        )
        .await;
    let local = connected_to(&remote, backend, json!({"filters": ["*", "!private-*"]})).await;
    local
        .publish(
            "default",
            UpackBuilder::new("acme", "tool", "1.2.0").build(),
        )
        .await;

    let package = get_json(&local, "/upack/default/packages?group=acme&name=tool").await;
    assert_eq!(
        package["versions"],
        json!(["2.0.0-rc.1", "1.5.0", "1.2.0", "1.0.0"])
    );
    assert_eq!(package["latestVersion"], "1.5.0");
    assert_eq!(flags(&package), (Some(true), Some(false)));

    // latest: the remote's 1.5.0 beats the feed's 1.2.0, and is fetched.
    let (status, bytes) = local
        .admin_get_bytes("/upack/default/download/acme/tool?latest")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, theirs) = remote
        .admin_get_bytes("/upack/default/download/acme/tool/1.5.0")
        .await;
    assert_eq!(bytes, theirs);
    let versions = get_json(&local, "/upack/default/versions?group=acme&name=tool").await;
    let seen: Vec<(&str, Flags)> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_str().unwrap(), flags(v)))
        .collect();
    assert_eq!(
        seen,
        [
            ("2.0.0-rc.1", (Some(false), Some(false))),
            ("1.5.0", (Some(false), Some(true))),
            ("1.2.0", (Some(true), Some(false))),
            ("1.0.0", (Some(false), Some(false))),
        ]
    );

    // A version published upstream after the listing was remembered: asked
    // for exactly, it is looked up again and fetched.
    remote
        .publish(
            "default",
            UpackBuilder::new("acme", "tool", "3.0.0").build(),
        )
        .await;
    let (status, _) = local
        .admin_get_bytes("/upack/default/download/acme/tool/3.0.0")
        .await;
    assert_eq!(status, StatusCode::OK);

    // The filter hides the excluded name everywhere.
    let (status, _) = local
        .admin_get_bytes("/upack/default/download/private-thing/1.0.0")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let all = get_json(&local, "/upack/default/packages").await;
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != "private-thing"),
        "{all}"
    );
    let found = get_json(&local, "/upack/default/search?term=tool").await;
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
}

/// A remote feed by hand that lists one package and answers each download
/// after a pause (so that requests overlap), counting them.
async fn slow_remote(package: Vec<u8>) -> (u16, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let downloads = Arc::new(AtomicUsize::new(0));
    let counted = downloads.clone();
    let package = Arc::new(package);
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (package, counted) = (package.clone(), counted.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).await.unwrap_or(0) == 1
                {
                    head.push(byte[0]);
                }
                let (kind, body) = if String::from_utf8_lossy(&head).contains("/versions") {
                    let sha1 = crate::helpers::sha1_hex(&package);
                    let listed = json!([{"name": "popular", "version": "1.0.0", "sha1": sha1}]);
                    ("application/json", listed.to_string().into_bytes())
                } else {
                    counted.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    ("application/zip", package.to_vec())
                };
                let header = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                socket.write_all(header.as_bytes()).await.ok();
                socket.write_all(&body).await.ok();
                socket.shutdown().await.ok();
            });
        }
    });
    (port, downloads, task)
}

async fn many_requests_for_one_missing_version_fetch_it_once(backend: Backend) {
    let package = UpackBuilder::new("", "popular", "1.0.0")
        .file("package/payload.bin", b"wanted by many")
        .build();
    let (port, remote_downloads, remote) = slow_remote(package.clone()).await;
    let local = spawn_app(backend).await;
    manage(
        &local,
        "/api/management/connectors/create",
        json!({"name": "slow", "feed": "default", "url": format!("http://127.0.0.1:{port}/upack/default")}),
    )
    .await;
    let downloads: Vec<_> = (0..8)
        .map(|_| {
            let (client, url, key) = (
                local.client.clone(),
                local.url("/upack/default/download/popular/1.0.0"),
                local.admin_key.clone(),
            );
            tokio::spawn(async move {
                let response = client
                    .get(url)
                    .header("X-ApiKey", key)
                    .send()
                    .await
                    .unwrap();
                (response.status(), response.bytes().await.unwrap())
            })
        })
        .collect();
    for download in downloads {
        let (status, bytes) = download.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(bytes.as_ref(), package.as_slice());
    }
    assert_eq!(
        remote_downloads.load(Ordering::SeqCst),
        1,
        "eight requests at once, one fetch"
    );
    let feed = wharf::service::feeds::find(&local.wharf, "default")
        .await
        .unwrap();
    let stored = wharf::db::listings::count_in_feed(&local.wharf.db, feed.id)
        .await
        .unwrap();
    assert_eq!(stored, (1, 1), "one package, one version");
    remote.abort();
}

async fn a_silent_connector_holds_no_local_answer_past_its_timeout(backend: Backend) {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let local = spawn_app(backend).await;
    local
        .publish("default", UpackBuilder::new("", "mine", "1.0.0").build())
        .await;
    manage(
        &local,
        "/api/management/connectors/create",
        json!({"name": "silent", "feed": "default", "url": format!("http://127.0.0.1:{port}/upack/x"), "timeout": 1}),
    )
    .await;
    let within = |started: Instant, what: &str| {
        let took = started.elapsed();
        assert!(took < Duration::from_secs(4), "{what} took {took:?}");
    };

    let started = Instant::now();
    let (status, _) = local
        .admin_get_bytes("/upack/default/download/mine/1.0.0")
        .await;
    assert_eq!(status, StatusCode::OK);
    within(started, "a held version");

    let started = Instant::now();
    let (status, _) = local
        .admin_get_bytes("/upack/default/download/mine?latest")
        .await;
    assert_eq!(status, StatusCode::OK, "the feed's own latest");
    within(started, "latest");

    let started = Instant::now();
    let listed = get_json(&local, "/upack/default/packages").await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "mine");
    within(started, "a listing");

    let started = Instant::now();
    let (status, body) = local
        .admin_get_bytes("/upack/default/download/other/1.0.0")
        .await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(
        body.contains("'silent'") && body.contains("within 1 s"),
        "{body}"
    );
    within(started, "a missing version");
    held.abort();
}

/// The real-world HDARS example: the manifest and both components live on
/// the remote; the connected feed serves the manifest byte for byte and
/// assembles the package from components it fetches as it goes.
async fn a_remote_virtual_package_is_fetched_as_its_manifest_and_assembled_here(backend: Backend) {
    let remote = spawn_app(backend).await;
    let manifest = fixtures("vpack")
        .into_iter()
        .find(|(file, _)| file.contains("HDARS"))
        .unwrap()
        .1;
    remote.publish("default", manifest.clone()).await;
    for (name, path) in [
        ("HDARS.Web", "package/web/index.html"),
        ("HDARS.API", "package/api/app.dll"),
    ] {
        remote
            .publish(
                "default",
                UpackBuilder::new("", name, "1.3.9")
                    .file(path, name.as_bytes())
                    .build(),
            )
            .await;
    }
    let local = connected_to(&remote, backend, json!({})).await;
    let (status, served) = local
        .admin_get_bytes("/upack/default/download-vpack/HDARS.Combined?latest")
        .await;
    assert_eq!(
        (status, served),
        (StatusCode::OK, manifest),
        "the manifest, byte for byte"
    );
    let (status, assembled) = local
        .admin_get_bytes("/upack/default/download/HDARS.Combined/1.3.9")
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&assembled)
    );
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(assembled)).unwrap();
    let mut web = String::new();
    std::io::Read::read_to_string(
        &mut zip.by_name("package/web/index.html").unwrap(),
        &mut web,
    )
    .unwrap();
    assert_eq!(web, "HDARS.Web");
    let versions = get_json(&local, "/upack/default/versions").await;
    let cached: Vec<&str> = versions
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["isCached"] == true)
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        cached,
        ["HDARS.API", "HDARS.Combined", "HDARS.Web"],
        "{versions}"
    );
}

dual_backend_tests!(
    a_feed_serves_what_its_connector_holds_and_keeps_a_copy,
    a_remote_virtual_package_is_fetched_as_its_manifest_and_assembled_here,
    latest_and_listings_weigh_the_remotes_versions,
    many_requests_for_one_missing_version_fetch_it_once,
    a_silent_connector_holds_no_local_answer_past_its_timeout,
);
