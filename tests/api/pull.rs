//! Pull over real sockets: two servers, the second's connector pointing at
//! the first. A pull stores the remote's bytes like an upload (the version
//! asked for, or the latest); a source must match a connector URL exactly;
//! filters exclude names; a host that does not resolve, a broken connector,
//! a remote that sends other bytes than it lists, and a remote that never
//! answers each fail the operation with their code, storing nothing.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, UpackBuilder, random_bytes, spawn_app, spawn_app_with, wait_for_operation,
};

const SECRET_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

async fn admin_json(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("X-ApiKey", &app.admin_key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn connector(app: &TestApp, body: Value) {
    let response = admin_json(app, "/api/management/connectors/create", &body).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
}

/// Requests a pull and waits for the operation to end.
async fn pull(app: &TestApp, body: Value) -> Value {
    let response = admin_json(app, "/api/operations/pull", &body).await;
    assert_eq!(
        response.status(),
        StatusCode::ACCEPTED,
        "{}",
        response.text().await.unwrap()
    );
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    wait_for_operation(app, &location).await
}

async fn pulls_store_the_remotes_bytes_and_check_their_source(backend: Backend) {
    let remote = spawn_app(backend).await;
    for version in ["1.0.0", "1.2.0", "2.0.0-rc.1"] {
        remote
            .publish(
                "default",
                UpackBuilder::new("acme", "tool", version).build(),
            )
            .await;
    }
    remote.create_feed("secret", false).await;
    remote
        .publish("secret", UpackBuilder::new("", "hidden", "3.0.0").build())
        .await;
    let reader = remote.create_key("view,download", &["secret"]).await;
    let local = spawn_app_with(backend, |s| {
        s.connectors.secret_key = Some(SECRET_KEY.to_owned().into());
    })
    .await;
    let source = format!("{}/upack/default", remote.base);
    connector(
        &local,
        json!({"name": "up", "feed": "default", "url": source}),
    )
    .await;

    let exact = pull(
        &local,
        json!({"feed": "default", "group": "acme", "name": "tool", "version": "1.0.0"}),
    )
    .await;
    assert_eq!(exact["state"], "succeeded", "{exact}");
    assert_eq!(exact["httpStatusCode"], 201);
    assert_eq!(exact["result"]["source"], source.as_str());
    let (_, theirs) = remote
        .admin_get_bytes("/upack/default/download/acme/tool/1.0.0")
        .await;
    let (status, ours) = local
        .admin_get_bytes("/upack/default/download/acme/tool/1.0.0")
        .await;
    assert_eq!((status, ours), (StatusCode::OK, theirs), "the same bytes");

    let latest = pull(
        &local,
        json!({"feed": "default", "group": "acme", "name": "tool", "source": source}),
    )
    .await;
    assert_eq!(
        latest["result"]["version"], "1.2.0",
        "the latest stable: {latest}"
    );

    // A batch: every item checked first, one operation each.
    let batch = admin_json(
        &local,
        "/api/operations/pull",
        &json!([
            {"feed": "default", "group": "acme", "name": "tool", "version": "2.0.0-rc.1"},
            {"feed": "default", "group": "acme", "name": "tool", "version": "9.9.9"},
        ]),
    )
    .await;
    assert_eq!(batch.status(), StatusCode::ACCEPTED);
    let queued: Vec<Value> = batch.json().await.unwrap();
    let first = wait_for_operation(
        &local,
        &format!("/api/operations/{}", queued[0]["id"].as_str().unwrap()),
    )
    .await;
    let second = wait_for_operation(
        &local,
        &format!("/api/operations/{}", queued[1]["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(first["state"], "succeeded");
    assert_eq!(
        (second["state"].as_str(), second["error"]["code"].as_str()),
        (Some("failed"), Some("not_found"))
    );
    assert!(
        second["error"]["message"]
            .as_str()
            .unwrap()
            .contains("9.9.9"),
        "{second}"
    );

    // A trailing slash is another source.
    let refused = admin_json(
        &local,
        "/api/operations/pull",
        &json!({"feed": "default", "group": "acme", "name": "tool", "source": format!("{source}/")}),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let refusal: Value = refused.json().await.unwrap();
    assert_eq!(refusal["code"], "unknown_source");
    assert!(
        refusal["message"]
            .as_str()
            .unwrap()
            .contains(&format!("'{source}/'")),
        "{refusal}"
    );

    // Credentials reach a private remote feed.
    local.create_feed("mirror", false).await;
    connector(
        &local,
        json!({"name": "secret-up", "feed": "mirror",
        "url": format!("{}/upack/secret", remote.base), "apiKey": reader}),
    )
    .await;
    let private = pull(&local, json!({"feed": "mirror", "name": "hidden"})).await;
    assert_eq!(private["state"], "succeeded", "{private}");

    // Filters: a name the connector excludes is refused at once.
    local.create_feed("filtered", false).await;
    connector(
        &local,
        json!({"name": "only-other", "feed": "filtered", "url": source, "filters": ["other-*"]}),
    )
    .await;
    let excluded = admin_json(
        &local,
        "/api/operations/pull",
        &json!({"feed": "filtered", "group": "acme", "name": "tool"}),
    )
    .await;
    assert_eq!(excluded.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        excluded.json::<Value>().await.unwrap()["code"],
        "excluded_by_connector"
    );

    // Bad requests queue nothing.
    let too_many: Vec<Value> = (0..101)
        .map(|_| json!({"feed": "default", "name": "tool"}))
        .collect();
    let refused = admin_json(&local, "/api/operations/pull", &json!(too_many)).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("at most 100"));
    let malformed = admin_json(
        &local,
        "/api/operations/pull",
        &json!({"feed": "default", "name": "tool", "colour": "red"}),
    )
    .await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let anonymous = local
        .client
        .post(local.url("/api/operations/pull"))
        .json(&json!({"feed": "default", "name": "tool"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::FORBIDDEN);
    let listed: Vec<Value> = local
        .client
        .get(local.url("/api/operations?kind=pull"))
        .header("X-ApiKey", &local.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 5, "only the accepted pulls were queued");
}

async fn pulls_that_cannot_be_done_fail_with_their_reason_and_store_nothing(backend: Backend) {
    let remote = spawn_app(backend).await;
    // Large enough to be a file in the store, which this test corrupts.
    let package = UpackBuilder::new("", "evil", "1.0.0")
        .file("package/data.bin", &random_bytes(100 * 1024))
        .build();
    let stored: Value = remote
        .upload("default", package)
        .await
        .json()
        .await
        .unwrap();
    let local = spawn_app(backend).await;

    // A host under .invalid never resolves.
    local.create_feed("dead", false).await;
    connector(
        &local,
        json!({"name": "dead", "feed": "dead", "url": "http://nothing.invalid/upack/x"}),
    )
    .await;
    let failed = pull(&local, json!({"feed": "dead", "name": "evil"})).await;
    assert_eq!(failed["error"]["code"], "resolve_failed", "{failed}");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing.invalid")
    );

    // A connector whose stored URL cannot be used (written past the checks).
    local.create_feed("broken", false).await;
    let feed_id = wharf::service::feeds::find(&local.wharf, "broken")
        .await
        .unwrap()
        .id;
    wharf::db::connectors::insert(
        &local.wharf.db,
        feed_id,
        &wharf::db::connectors::ConnectorFields {
            name: "broken",
            url: "http//missing-colon/upack/x",
            credentials_sealed: None,
            timeout_seconds: 5,
            include_patterns: "",
            exclude_patterns: "",
        },
    )
    .await
    .unwrap();
    let failed = pull(&local, json!({"feed": "broken", "name": "evil"})).await;
    assert_eq!(failed["error"]["code"], "source_config_invalid", "{failed}");
    assert_eq!(failed["httpStatusCode"], 400);

    // The remote sends other bytes than the SHA-1 it lists: nothing stored.
    let sha256 = stored["sha256"].as_str().unwrap();
    let blob = remote
        .data_dir
        .join("store/blobs/sha256")
        .join(&sha256[..2])
        .join(&sha256[2..4])
        .join(sha256);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    local.create_feed("mirror", false).await;
    connector(&local, json!({"name": "mirror", "feed": "mirror", "url": format!("{}/upack/default", remote.base)})).await;
    let failed = pull(&local, json!({"feed": "mirror", "name": "evil"})).await;
    assert_eq!(failed["error"]["code"], "sha1_mismatch", "{failed}");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains(stored["sha1"].as_str().unwrap())
    );
    // Asked for directly, the feed fetches it on demand and refuses it the same way.
    let (status, body) = local
        .admin_get_bytes("/upack/mirror/download/evil/1.0.0")
        .await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(
        body.contains("'mirror'") && body.contains("SHA-1"),
        "{body}"
    );
    let (_, listed) = local
        .admin_get_bytes("/upack/mirror/versions?name=evil")
        .await;
    let listed: Value = serde_json::from_slice(&listed).unwrap();
    assert_eq!(
        (
            listed[0]["isLocal"].as_bool(),
            listed[0]["isCached"].as_bool()
        ),
        (Some(false), Some(false)),
        "nothing was stored: {listed}"
    );

    // A remote that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    local.create_feed("slow", false).await;
    connector(&local, json!({"name": "slow", "feed": "slow", "url": format!("http://127.0.0.1:{port}/upack/x"), "timeout": 1})).await;
    let started = std::time::Instant::now();
    let failed = pull(&local, json!({"feed": "slow", "name": "evil"})).await;
    assert_eq!(failed["error"]["code"], "remote_timeout", "{failed}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    held.abort();
}

/// A remote feed by hand, over a bare socket: it lists one package and, the
/// first time it is downloaded, sends half of it and stalls; afterwards it
/// sends it whole.
async fn stalling_remote(package: Vec<u8>) -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sha1 = crate::helpers::sha1_hex(&package);
    let task = tokio::spawn(async move {
        let mut downloads = 0;
        let mut stalled = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).await.unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).to_string();
            if head.contains("/versions") {
                let body = json!([{"name": "big", "version": "1.0.0", "sha1": sha1}]).to_string();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(answer.as_bytes()).await.ok();
            } else {
                downloads += 1;
                let header = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/zip\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    package.len()
                );
                socket.write_all(header.as_bytes()).await.ok();
                if downloads == 1 {
                    socket.write_all(&package[..package.len() / 2]).await.ok();
                    socket.flush().await.ok();
                    stalled.push(socket);
                    continue;
                }
                socket.write_all(&package).await.ok();
            }
            socket.shutdown().await.ok();
        }
    });
    (port, task)
}

/// SIGKILL while a pull is half way through its download, then start
/// again: the operation is taken over when its lease runs out and ends
/// (here it succeeds on its second attempt), never left running.
async fn a_pull_interrupted_by_a_crash_is_run_again_after_a_restart(backend: Backend) {
    let ended = interrupted_pull(backend, "KILL").await;
    assert_eq!(ended["attempts"], 2, "the crashed run counts: {ended}");
}

/// SIGTERM half way through: the stopping server puts the pull back in the
/// queue (the interrupted run does not count as an attempt), and the next
/// start runs it to the end.
async fn a_pull_interrupted_by_a_stop_is_put_back_and_run_after_a_restart(backend: Backend) {
    let ended = interrupted_pull(backend, "TERM").await;
    assert_eq!(ended["attempts"], 1, "a stop gives the run back: {ended}");
}

/// Starts a pull from a remote that stalls half way, stops the server with
/// `signal`, starts it again and returns the operation once it has ended.
async fn interrupted_pull(backend: Backend, signal: &str) -> Value {
    use crate::cli::{Cli, free_port, serve};
    // Bytes that do not compress (a run of one byte would look like a zip bomb).
    let mut state = 0x2545_f491_u32;
    let noise: Vec<u8> = (0..(2 << 20))
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect();
    let package = UpackBuilder::new("", "big", "1.0.0")
        .file("package/data.bin", &noise)
        .build();
    let (remote_port, remote) = stalling_remote(package.clone()).await;
    let cli = Cli::new(backend).await;
    let key = "pull-crash-admin-key-0123456789";
    let env = [
        ("WHARF_ADMIN_API_KEY", key),
        // Short, so that the crashed run's lease runs out soon; not so short
        // that the second run loses its own lease too when a loaded machine
        // delays a renewal past it (with 1 s it did, under a parallel build:
        // a third attempt). Renewals come every second.
        ("WHARF_OPERATIONS__LEASE_SECONDS", "3"),
    ];
    let port = free_port();
    let (mut first, _) = serve(&cli, port, &env).await;
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let created = client
        .post(format!("{base}/api/management/connectors/create"))
        .header("X-ApiKey", key)
        .json(&json!({"name": "stalling", "feed": "default", "url": format!("http://127.0.0.1:{remote_port}/upack/x")}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    let queued: Value = client
        .post(format!("{base}/api/operations/pull"))
        .header("X-ApiKey", key)
        .json(&json!({"feed": "default", "name": "big"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let status_url = format!("{base}/api/operations/{}", queued["id"].as_str().unwrap());
    let status = |base_client: reqwest::Client, url: String| async move {
        base_client
            .get(url)
            .header("X-ApiKey", key)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    // Half the bytes have arrived (progress is written with each renewal).
    let mut halfway = false;
    for _ in 0..200 {
        let now = status(client.clone(), status_url.clone()).await;
        if now["state"] == "running" && now["progress"]["bytesDone"].as_i64().unwrap_or(0) > 0 {
            halfway = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(halfway, "the pull got half way");
    let sent = tokio::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(first.id().unwrap().to_string())
        .status()
        .await
        .unwrap();
    assert!(sent.success());
    let exit = tokio::time::timeout(Duration::from_secs(20), first.wait())
        .await
        .expect("the server stops")
        .unwrap();
    if signal == "TERM" {
        assert!(exit.success(), "a stop is orderly: {exit:?}");
    }

    let (mut second, _) = serve(&cli, port, &env).await;
    let mut ended = Value::Null;
    for _ in 0..400 {
        let now = status(client.clone(), status_url.clone()).await;
        if matches!(now["state"].as_str(), Some("succeeded" | "failed")) {
            ended = now;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(ended["state"], "succeeded", "{ended}");
    let downloaded = client
        .get(format!("{base}/upack/default/download/big/1.0.0"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(downloaded.as_ref(), package.as_slice());
    second.kill().await.unwrap();
    remote.abort();
    ended
}

dual_backend_tests!(
    pulls_store_the_remotes_bytes_and_check_their_source,
    pulls_that_cannot_be_done_fail_with_their_reason_and_store_nothing,
    a_pull_interrupted_by_a_crash_is_run_again_after_a_restart,
    a_pull_interrupted_by_a_stop_is_put_back_and_run_after_a_restart,
);
