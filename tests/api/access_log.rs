//! The access log, read from the `wharf` binary's stderr over real
//! requests: one line per request saying who asked for what and how it
//! went, as JSON when `log.format = json`, never with a secret.

use reqwest::StatusCode;

use crate::cli::{Cli, free_port, serve, wait_for_log};
use crate::helpers::{Backend, fixture_dir};

const ADMIN_KEY: &str = "access-log-admin-key";

/// Uploads the real-world `UniversalPackageTest` to the server at `base`;
/// returns its bytes.
async fn upload_fixture(client: &reqwest::Client, base: &str) -> Vec<u8> {
    let package =
        std::fs::read(fixture_dir("upack-valid").join("UniversalPackageTest-0.1.1.upack")).unwrap();
    let uploaded = client
        .put(format!("{base}/upack/default/upload"))
        .header("X-ApiKey", ADMIN_KEY)
        .body(package.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), StatusCode::CREATED);
    package
}

async fn every_request_gets_one_json_line_with_its_caller_and_id(backend: Backend) {
    let cli = Cli::new(backend).await;
    let port = free_port();
    let (mut child, _) = serve(
        &cli,
        port,
        &[
            ("WHARF_ADMIN_API_KEY", ADMIN_KEY),
            ("WHARF_LOG", "info"),
            ("WHARF_LOG__FORMAT", "json"),
            // This test's client stands in for a load balancer on loopback.
            ("WHARF_AUTH__TRUSTED_PROXIES", "127.0.0.0/8, ::1"),
        ],
    )
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let package = upload_fixture(&client, &base).await;

    // The key in the query string, as `?key=` allows.
    let download = client
        .get(format!(
            "{base}/upack/default/download/UniversalPackageTest/0.1.1?key={ADMIN_KEY}"
        ))
        .header("User-Agent", "upack/3.1 (access log test)")
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    let download_id = download.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = download.bytes().await.unwrap();
    assert_eq!(body.as_ref(), package.as_slice());

    let missing = client
        .get(format!("{base}/upack/default/download/nothing-here/1.0.0"))
        .header("X-Forwarded-For", "198.51.100.1, 203.0.113.77")
        .send()
        .await
        .unwrap();
    let missing_status = missing.status().as_u16();
    let missing_id = missing.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();

    let log = wait_for_log(&cli, |log| {
        log.contains(&missing_id) && log.contains(&download_id)
    })
    .await;
    child.kill().await.unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let line_of = |id: &str| {
        let found: Vec<_> = lines.iter().filter(|l| l["request_id"] == id).collect();
        assert_eq!(found.len(), 1, "one line for request {id}:\n{log}");
        found[0].clone()
    };

    let line = line_of(&download_id);
    assert_eq!(line["target"], "wharf::access");
    assert_eq!(line["level"], "INFO");
    assert!(
        chrono::DateTime::parse_from_rfc3339(line["timestamp"].as_str().unwrap()).is_ok(),
        "{line}"
    );
    assert_eq!(line["client"], "127.0.0.1");
    assert_eq!(line["method"], "GET");
    assert_eq!(
        line["path"], "/upack/default/download/UniversalPackageTest/0.1.1",
        "the path is logged without its query string"
    );
    assert_eq!(line["status"], 200);
    assert_eq!(line["bytes"], body.len());
    assert!(line["duration_ms"].as_f64().unwrap() >= 0.0, "{line}");
    assert!(
        line["caller"].as_str().unwrap().starts_with("key:"),
        "the caller by key id: {line}"
    );
    assert_eq!(line["user_agent"], "upack/3.1 (access log test)");

    let line = line_of(&missing_id);
    assert_eq!(
        line["client"], "203.0.113.77",
        "the client the trusted proxy names, not an entry it was handed"
    );
    assert_eq!(line["status"], missing_status);
    assert_eq!(line["caller"], serde_json::Value::Null, "anonymous: {line}");

    let uploads: Vec<_> = lines
        .iter()
        .filter(|l| l["path"] == "/upack/default/upload")
        .collect();
    assert_eq!(uploads.len(), 1, "{log}");
    assert_eq!(uploads[0]["method"], "PUT");
    assert_eq!(uploads[0]["status"], 201);
    assert!(!log.contains(ADMIN_KEY), "a secret reached the log:\n{log}");
}

async fn metrics_count_dropped_access_log_lines(backend: Backend) {
    let cli = Cli::new(backend).await;
    let port = free_port();
    let (mut child, _) = serve(&cli, port, &[("WHARF_LOG", "info")]).await;
    let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{:?}",
        response.headers()
    );
    let text = response.text().await.unwrap();
    child.kill().await.unwrap();
    assert!(
        text.contains("# TYPE wharf_access_log_dropped_lines counter\n")
            && text.contains("\nwharf_access_log_dropped_lines_total 0\n"),
        "{text}"
    );
    assert!(text.contains("\nwharf_database_connections "), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
}

async fn metrics_count_requests_bytes_cache_hits_and_operations(backend: Backend) {
    let cli = Cli::new(backend).await;
    let exports = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut child, _) = serve(
        &cli,
        port,
        &[
            ("WHARF_ADMIN_API_KEY", ADMIN_KEY),
            (
                "WHARF_EXPORT__ALLOWED_ROOTS",
                exports.path().to_str().unwrap(),
            ),
        ],
    )
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let package = upload_fixture(&client, &base).await;
    // One upload's change may clear the caches once, whenever this
    // process next reads the change log: most of five downloads hit.
    for _ in 0..5 {
        let download = reqwest::get(format!(
            "{base}/upack/default/download/UniversalPackageTest/0.1.1"
        ))
        .await
        .unwrap();
        assert_eq!(download.bytes().await.unwrap(), package);
    }
    let missing = reqwest::get(format!("{base}/no/such/address"))
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |series: &str| -> u64 {
        crate::helpers::metric_value(&text, series)
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };
    let download = r#"route="/upack/{feed}/download/{tail:.*}",status="2xx""#;
    assert_eq!(
        value(&format!(
            "wharf_http_request_duration_seconds_count{{{download}}}"
        )),
        5
    );
    assert_eq!(
        value(&format!(
            r#"wharf_http_request_duration_seconds_bucket{{le="+Inf",{download}}}"#
        )),
        5
    );
    assert_eq!(
        value(r#"wharf_http_request_duration_seconds_count{route="unmatched",status="4xx"}"#),
        1,
        "an address nothing serves is counted under one label, not its path"
    );
    assert!(!text.contains("/no/such/address"), "{text}");
    assert_eq!(
        value("wharf_http_request_body_bytes_total"),
        package.len() as u64
    );
    assert!(value("wharf_http_response_body_bytes_total") >= 5 * package.len() as u64);
    let hits = value(r#"wharf_cache_hits_total{cache="resolved_versions"}"#);
    let misses = value(r#"wharf_cache_misses_total{cache="resolved_versions"}"#);
    assert_eq!(hits + misses, 5, "each download resolved once");
    assert!(
        hits >= 1,
        "downloads after the first resolved from the cache"
    );

    // Operations by state, counted from the database.
    let export = client
        .post(format!(
            "{base}/api/operations/export?feed=default&name=UniversalPackageTest&version=0.1.1&containerUri=file://{}",
            exports.path().join("out").display()
        ))
        .header("X-ApiKey", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::ACCEPTED);
    let location = format!("{base}{}", export.headers()["location"].to_str().unwrap());
    let mut text = String::new();
    for _ in 0..200 {
        text = reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("\nwharf_operations{kind=\"export\",state=\"succeeded\"} 1\n") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.kill().await.unwrap();
    assert!(
        text.contains("\nwharf_operations{kind=\"export\",state=\"succeeded\"} 1\n"),
        "the export ({location}) counted as succeeded:\n{text}"
    );
}

dual_backend_tests!(
    every_request_gets_one_json_line_with_its_caller_and_id,
    metrics_count_dropped_access_log_lines,
    metrics_count_requests_bytes_cache_hits_and_operations,
);
