//! `PostgreSQL` stopping under a running Wharf: requests that need it get a
//! 503 with a sentence, `/health` says why, and service resumes by itself.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::process::Command;

use crate::cli::{Cli, free_port, serve};
use crate::helpers::{Backend, UpackBuilder};

async fn cluster(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg-cluster");
    let output = Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "pg-cluster {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_gives_503_and_service_resumes_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let cluster_dir = dir.path().join("pg");
    let cluster_dir = cluster_dir.to_str().unwrap();
    let pg_port = free_port().to_string();
    let url = cluster(&["start", cluster_dir, &pg_port]).await;

    let mut cli = Cli::new(Backend::Sqlite).await;
    cli.set_database_url(Some(url));
    let port = free_port();
    let (mut child, _) = serve(
        &cli,
        port,
        &[("WHARF_ADMIN_API_KEY", "db-trouble-admin-key")],
    )
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let upload = |version: &'static str| {
        client
            .put(format!("{base}/upack/default/upload"))
            .header("X-ApiKey", "db-trouble-admin-key")
            .body(UpackBuilder::new("", "pkg", version).build())
            .send()
    };
    assert_eq!(upload("1.0.0").await.unwrap().status(), StatusCode::CREATED);

    cluster(&["stop", cluster_dir]).await;
    let health = client.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    let health: serde_json::Value = health.json().await.unwrap();
    assert_eq!(health["databaseStatus"], "Error");
    assert!(
        health["databaseStatusDetails"]
            .as_str()
            .unwrap()
            .contains("database"),
        "{health}"
    );
    let ready = client
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(
        (&ready["status"], &ready["database"], &ready["storage"]),
        (&"Error".into(), &"Error".into(), &"OK".into())
    );
    let live = client
        .get(format!("{base}/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        live.status(),
        StatusCode::OK,
        "alive: a restart would not help"
    );
    let refused = upload("2.0.0").await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        refused.text().await.unwrap(),
        "The database is unavailable; try again shortly."
    );
    let listing = client
        .get(format!("{base}/upack/default/versions?name=pkg&count=7"))
        .send()
        .await
        .unwrap();
    assert_eq!(listing.status(), StatusCode::SERVICE_UNAVAILABLE);

    cluster(&["start", cluster_dir, &pg_port]).await;
    let mut healthy = false;
    for _ in 0..100 {
        let status = client
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status();
        if status == StatusCode::OK {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(healthy, "service resumes once PostgreSQL is back");
    let ready = client
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(upload("2.0.0").await.unwrap().status(), StatusCode::CREATED);
    child.kill().await.unwrap();
    cluster(&["stop", cluster_dir]).await;
}
