//! Crash consistency and graceful shutdown, with the real binary.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use sha1::{Digest, Sha1};

use crate::cli::{Cli, free_port, serve};
use crate::helpers::{Backend, UpackBuilder};

const ADMIN: &str = "crash-test-admin-key-123";

fn package(i: usize) -> Vec<u8> {
    // ~256 KiB of incompressible content, so uploads take measurable time.
    let content: Vec<u8> = (0..256 * 1024u32)
        .map(|b| {
            (b.wrapping_mul(2_654_435_761)
                .wrapping_add(u32::try_from(i).unwrap())
                >> 13)
                .to_le_bytes()[0]
        })
        .collect();
    UpackBuilder::new("crash", &format!("pkg{i:03}"), "1.0.0")
        .file("package/data.bin", &content)
        .build()
}

async fn a_killed_server_leaves_no_partial_version_and_gc_removes_only_orphans(backend: Backend) {
    let cli = Cli::new(backend).await;
    let port = free_port();
    let (mut child, _) = serve(&cli, port, &[("WHARF_ADMIN_API_KEY", ADMIN)]).await;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let uploads: Vec<_> = (0..100)
        .map(|i| {
            let request = client
                .put(format!("{base}/upack/default/upload"))
                .header("X-ApiKey", ADMIN)
                .body(package(i));
            tokio::spawn(async move { (i, request.send().await.map(|r| r.status())) })
        })
        .collect();
    // Let some finish, then kill -9 in the middle of the rest.
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let mut acknowledged = Vec::new();
    for upload in uploads {
        if let (i, Ok(StatusCode::CREATED)) = upload.await.unwrap() {
            acknowledged.push(i);
        }
    }
    after_the_crash(&cli, port, &acknowledged).await;
}

/// Small packages from 8 clients, as CI publishes them, share group commits:
/// killed once some are acknowledged, none of those may be lost.
async fn a_killed_server_loses_no_acknowledged_small_upload(backend: Backend) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let cli = Cli::new(backend).await;
    let port = free_port();
    let (mut child, _) = serve(&cli, port, &[("WHARF_ADMIN_API_KEY", ADMIN)]).await;
    let base = format!("http://127.0.0.1:{port}");
    let (next, created) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (next, created, base) = (next.clone(), created.clone(), base.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut acknowledged = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= 2000 {
                        return acknowledged;
                    }
                    let body = UpackBuilder::new("crash", &format!("pkg{i:03}"), "1.0.0")
                        .file("package/build.txt", format!("build {i}").as_bytes())
                        .build();
                    let sent = client
                        .put(format!("{base}/upack/default/upload"))
                        .header("X-ApiKey", ADMIN)
                        .body(body)
                        .send()
                        .await;
                    match sent.map(|r| r.status()) {
                        Ok(StatusCode::CREATED) => {
                            acknowledged.push(i);
                            created.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(status) => panic!("upload {i} answered {status}"),
                        Err(_) => return acknowledged,
                    }
                }
            })
        })
        .collect();
    while created.load(Ordering::Relaxed) < 100 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(client.await.unwrap());
    }
    assert!(acknowledged.len() >= 100);
    after_the_crash(&cli, port, &acknowledged).await;
}

/// Restarts the server killed in `cli`'s data and checks what survived: every
/// listed version downloads whole, every acknowledged upload is listed, gc
/// leaves exactly the referenced blobs and sweeps the dead process's spool.
async fn after_the_crash(cli: &Cli, port: u16, acknowledged: &[usize]) {
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let (mut child, _) = serve(cli, port, &[("WHARF_ADMIN_API_KEY", ADMIN)]).await;
    let listed: Vec<serde_json::Value> = client
        .get(format!("{base}/upack/default/versions?group=crash"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let check_all_download = |listed: Vec<serde_json::Value>| {
        let client = client.clone();
        let base = base.clone();
        async move {
            for version in &listed {
                let name = version["name"].as_str().unwrap();
                let bytes = client
                    .get(format!("{base}/upack/default/download/crash/{name}/1.0.0"))
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                assert_eq!(
                    hex::encode(Sha1::digest(&bytes)),
                    version["sha1"].as_str().unwrap(),
                    "{name} is whole"
                );
            }
        }
    };
    check_all_download(listed.clone()).await;
    for i in acknowledged {
        let name = format!("pkg{i:03}");
        assert!(
            listed.iter().any(|v| v["name"] == name.as_str()),
            "acknowledged upload {name} survived the crash"
        );
    }
    child.kill().await.unwrap();

    // Blobs are files in the store, or rows holding a small upload's bytes:
    // gc reports both as examined, so a second run counts what the first left.
    let gc = cli.run(&["gc", "--grace-minutes", "0"]).await;
    let again = cli.run(&["gc", "--grace-minutes", "0"]).await;
    let (blobs_before, blobs_after) = (examined(&gc), examined(&again));
    assert_eq!(
        blobs_after,
        listed.len(),
        "after gc exactly the referenced blobs remain ({gc} / {again})"
    );
    assert!(blobs_before >= blobs_after);
    assert!(walk_count(&cli.dir.path().join("data/store")) <= blobs_after);
    assert_eq!(
        walk_count(&cli.dir.path().join("data/tmp")),
        0,
        "stale spool files are swept: {gc}"
    );
    let (mut child, _) = serve(cli, port, &[("WHARF_ADMIN_API_KEY", ADMIN)]).await;
    check_all_download(listed).await;
    child.kill().await.unwrap();
}

/// The number of blobs a `wharf gc` report says it examined.
fn examined(report: &str) -> usize {
    report
        .split("examined ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no blob count in the gc report {report:?}"))
}

fn walk_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    walk_count(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

async fn sigterm_lets_in_flight_uploads_finish(backend: Backend) {
    in_flight_uploads_finish_after(backend, "TERM").await;
}

async fn ctrl_c_lets_in_flight_uploads_finish_like_sigterm(backend: Backend) {
    in_flight_uploads_finish_after(backend, "INT").await;
}

/// Waits until the server has read the first bytes of an upload's body
/// (`wharf_http_request_body_bytes_total` in `/metrics`): only then is the
/// upload surely in flight (a signal sent earlier may find no request to
/// wait for). A small body's spool file is made only when the body is
/// complete, so the scratch folder cannot tell.
async fn wait_until_receiving(port: u16) {
    let mut last = String::new();
    for _ in 0..200 {
        if let Ok(response) = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await {
            last = response.text().await.unwrap_or_default();
            let received =
                crate::helpers::metric_value::<f64>(&last, "wharf_http_request_body_bytes_total");
            if received.is_some_and(|bytes| bytes > 0.0) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the upload never reached the server; its last /metrics:\n{last}");
}

async fn send_signal(pid: u32, signal: &str) {
    let sent = tokio::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .await
        .unwrap();
    assert!(sent.success());
}

async fn in_flight_uploads_finish_after(backend: Backend, signal: &str) {
    let cli = Cli::new(backend).await;
    let port = free_port();
    let (child, _) = serve(&cli, port, &[("WHARF_ADMIN_API_KEY", ADMIN)]).await;
    let pid = child.id().unwrap();
    // Twenty-five pieces 60 ms apart: the upload lasts 1.5 s whatever the
    // package's compressed size (it is a few KiB), so the signal lands in
    // the middle of it.
    let body = package(1);
    let slow: Vec<Result<Vec<u8>, std::io::Error>> = body
        .chunks(body.len().div_ceil(25))
        .map(|c| Ok(c.to_vec()))
        .collect();
    let stream = futures::StreamExt::then(futures::stream::iter(slow), |chunk| async move {
        tokio::time::sleep(Duration::from_millis(60)).await;
        chunk
    });
    let upload = reqwest::Client::new()
        .put(format!("http://127.0.0.1:{port}/upack/default/upload"))
        .header("X-ApiKey", ADMIN)
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let upload = tokio::spawn(upload);
    wait_until_receiving(port).await;
    send_signal(pid, signal).await;
    let response = upload.await.unwrap().unwrap_or_else(|e| {
        panic!(
            "the upload in flight at SIG{signal} failed ({e}); the server's log:\n{}",
            std::fs::read_to_string(cli.dir.path().join("serve.log")).unwrap_or_default()
        )
    });
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "the upload in flight at SIG{signal} completes"
    );
    let mut child = child;
    let exit = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the server exits after draining")
        .unwrap();
    assert!(exit.success() || exit.code().is_none(), "{exit:?}");
}

async fn a_second_ctrl_c_stops_at_once(backend: Backend) {
    let cli = Cli::new(backend).await;
    let port = free_port();
    let (mut child, _) = serve(&cli, port, &[("WHARF_ADMIN_API_KEY", ADMIN)]).await;
    let pid = child.id().unwrap();
    // An upload that would take minutes: one chunk, then a long pause.
    let stalled = futures::stream::iter([Ok::<_, std::io::Error>(vec![0u8; 1024])]).chain(
        futures::stream::once(async {
            tokio::time::sleep(Duration::from_secs(300)).await;
            Ok(vec![0u8; 1024])
        }),
    );
    let upload = reqwest::Client::new()
        .put(format!("http://127.0.0.1:{port}/upack/default/upload"))
        .header("X-ApiKey", ADMIN)
        .body(reqwest::Body::wrap_stream(stalled))
        .send();
    let _upload = tokio::spawn(upload);
    wait_until_receiving(port).await;
    send_signal(pid, "INT").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let early = child.try_wait().unwrap();
    assert!(
        early.is_none(),
        "the first Ctrl-C waits for the upload, but the server exited ({early:?}); its log:\n{}",
        std::fs::read_to_string(cli.dir.path().join("serve.log")).unwrap_or_default()
    );
    send_signal(pid, "INT").await;
    let exit = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("the second Ctrl-C stops the server at once")
        .unwrap();
    assert_eq!(exit.code(), Some(130));
}

dual_backend_tests!(
    a_killed_server_leaves_no_partial_version_and_gc_removes_only_orphans,
    a_killed_server_loses_no_acknowledged_small_upload,
    sigterm_lets_in_flight_uploads_finish,
    ctrl_c_lets_in_flight_uploads_finish_like_sigterm,
    a_second_ctrl_c_stops_at_once,
);
