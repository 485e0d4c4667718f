//! Several Wharf processes on one `PostgreSQL` database and one S3 bucket, as
//! behind a load balancer: what one process does, the others see within a
//! second; what must happen once happens once; a process killed mid-upload
//! leaves nothing partial anywhere.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::process::Child;

use wharf::config::StorageBackend;

use crate::cli::{Cli, free_port, serve};
use crate::helpers::{Backend, UpackBuilder, random_bytes, s3_settings, sha1_hex, spawn_app_with};

const ADMIN_KEY: &str = "scale-test-admin-key";

/// One `wharf serve` process.
struct Process {
    base: String,
    child: Child,
    printed: Vec<String>,
    _cli: Cli,
}

/// Starts `count` processes at once on one new `PostgreSQL` database and one
/// folder of the test bucket (credentials from the standard AWS variables).
async fn start_processes(count: usize, export_root: &std::path::Path) -> (Vec<Process>, String) {
    let database_url = crate::helpers::fresh_postgres_database().await;
    let s3 = s3_settings();
    let starting = (0..count).map(|_| {
        let (database_url, s3) = (database_url.clone(), s3.clone());
        let export_root = export_root.display().to_string();
        async move {
            let mut cli = Cli::new(Backend::Sqlite).await;
            cli.set_database_url(Some(database_url));
            let port = free_port();
            let (child, printed) = serve(
                &cli,
                port,
                &[
                    ("WHARF_ADMIN_API_KEY", ADMIN_KEY),
                    ("WHARF_STORAGE__BACKEND", "s3"),
                    ("WHARF_STORAGE__S3__BUCKET", &s3.bucket),
                    ("WHARF_STORAGE__S3__ENDPOINT", &s3.endpoint),
                    ("WHARF_STORAGE__S3__PREFIX", &s3.prefix),
                    ("AWS_ACCESS_KEY_ID", "test"),
                    ("AWS_SECRET_ACCESS_KEY", "test"),
                    ("WHARF_EXPORT__ALLOWED_ROOTS", &export_root),
                ],
            )
            .await;
            Process {
                base: format!("http://127.0.0.1:{port}"),
                child,
                printed,
                _cli: cli,
            }
        }
    });
    (futures::future::join_all(starting).await, s3.prefix)
}

/// Sends a request to `process` as `key`.
async fn send(
    process: &Process,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Vec<u8>>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", process.base))
        .header("X-ApiKey", key);
    if let Some(body) = body {
        request = request.body(body);
    }
    request.send().await.unwrap()
}

/// Asks `process` for `path` as `key` until it answers `status`; panics
/// after a second.
async fn within_a_second(process: &Process, path: &str, key: &str, status: StatusCode) {
    let started = Instant::now();
    loop {
        let answered = send(process, Method::GET, path, key, None).await.status();
        if answered == status {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{} {path}: still {answered} a second later, not {status}",
            process.base
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `write` to the first process (it must answer 200), then asks every
/// other process for `read` (a path, as a key) until it answers its status,
/// within a second.
async fn write_then_seen_by_the_others(
    processes: &[Process],
    (method, path): (Method, &str),
    (read, key, status): (&str, &str, StatusCode),
) {
    let written = send(&processes[0], method, path, ADMIN_KEY, None).await;
    assert_eq!(written.status(), StatusCode::OK, "{path}");
    for process in &processes[1..] {
        within_a_second(process, read, key, status).await;
    }
}

async fn three_processes_share_one_database_and_one_bucket() {
    let exports = tempfile::tempdir().unwrap();
    let (mut processes, prefix) = start_processes(3, exports.path()).await;
    let prepared = processes
        .iter()
        .filter(|p| {
            p.printed
                .iter()
                .any(|line| line.contains("Wharf created the feed"))
        })
        .count();
    assert_eq!(
        prepared, 1,
        "exactly one of three processes started together prepares the database"
    );

    // Upload through one, download through the others byte for byte: a
    // package in the bucket, and one small enough for its blob's row.
    let package = UpackBuilder::new("team", "app", "1.0.0")
        .file("package/data.bin", &random_bytes(300_000))
        .build();
    let small = UpackBuilder::new("team", "small", "1.0.0").build();
    for (name, body) in [("app", &package), ("small", &small)] {
        let uploaded = send(
            &processes[0],
            Method::PUT,
            "/upack/default/upload",
            ADMIN_KEY,
            Some(body.clone()),
        )
        .await;
        assert_eq!(uploaded.status(), StatusCode::CREATED);
        for process in &processes[1..] {
            let download = send(
                process,
                Method::GET,
                &format!("/upack/default/download/team/{name}/1.0.0"),
                ADMIN_KEY,
                None,
            )
            .await;
            assert_eq!(download.status(), StatusCode::OK);
            assert_eq!(sha1_hex(&download.bytes().await.unwrap()), sha1_hex(body));
        }
    }

    // Delete on one: 404 on the others within a second (they had it cached).
    for name in ["app", "small"] {
        write_then_seen_by_the_others(
            &processes,
            (
                Method::DELETE,
                &format!("/upack/default/delete/team/{name}/1.0.0"),
            ),
            (
                &format!("/upack/default/download/team/{name}/1.0.0"),
                ADMIN_KEY,
                StatusCode::NOT_FOUND,
            ),
        )
        .await;
    }

    // Revoke a key on one: 403 on the others within a second.
    let created: Value = send(
        &processes[0],
        Method::POST,
        "/api/api-keys/create",
        ADMIN_KEY,
        Some(serde_json::to_vec(&json!({"type": "Feed", "feed": "default", "key": "scale-adder", "packagePermissions": ["view", "add"]})).unwrap()),
    )
    .await
    .json()
    .await
    .unwrap();
    for process in &processes[1..] {
        within_a_second(
            process,
            "/upack/default/packages",
            "scale-adder",
            StatusCode::OK,
        )
        .await;
    }

    // The same version from three processes at once: exactly one 201 (the
    // key may add but not overwrite).
    let racing = processes.iter().map(|process| {
        let body = UpackBuilder::new("", "raced", "1.0.0")
            .file("package/who", process.base.as_bytes())
            .build();
        send(
            process,
            Method::PUT,
            "/upack/default/upload",
            "scale-adder",
            Some(body),
        )
    });
    let mut statuses: Vec<u16> = futures::future::join_all(racing)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409]);

    let id = created["id"].as_str().unwrap();
    write_then_seen_by_the_others(
        &processes,
        (Method::POST, &format!("/api/api-keys/delete?id={id}")),
        (
            "/upack/default/packages",
            "scale-adder",
            StatusCode::FORBIDDEN,
        ),
    )
    .await;

    // An export requested on one runs once, in whichever process claims it.
    let target = exports.path().join("drop");
    let requested = send(
        &processes[1],
        Method::POST,
        &format!(
            "/api/operations/export?feed=default&name=raced&version=1.0.0&containerUri=file://{}",
            target.display()
        ),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(requested.status(), StatusCode::ACCEPTED);
    let location = requested.headers()["location"].to_str().unwrap().to_owned();
    let mut operation = Value::Null;
    for _ in 0..200 {
        operation = send(&processes[2], Method::GET, &location, ADMIN_KEY, None)
            .await
            .json()
            .await
            .unwrap();
        if operation["state"] == "succeeded" || operation["state"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(operation["state"], "succeeded", "{operation}");
    assert_eq!(operation["attempts"], 1, "{operation}");
    assert_eq!(
        std::fs::read_dir(&target).unwrap().count(),
        2,
        "the package and its manifest, once"
    );

    // Kill one process mid-upload: nothing of that upload anywhere.
    let victim = processes.pop().unwrap();
    let big = UpackBuilder::new("", "cut", "1.0.0")
        .file(
            "package/data.bin",
            &(0..4_000_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
                .collect::<Vec<_>>(),
        )
        .build();
    let half_sent = {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
        let stream = tokio_stream::wrappers::ReceiverStream::new(receiver);
        let request = reqwest::Client::new()
            .put(format!("{}/upack/default/upload", victim.base))
            .header("X-ApiKey", ADMIN_KEY)
            .header("Content-Length", big.len())
            .body(reqwest::Body::wrap_stream(stream))
            .send();
        let upload = tokio::spawn(request);
        sender
            .send(Ok(big[..big.len() / 2].to_vec()))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        (upload, sender)
    };
    let Process { mut child, .. } = victim;
    child.kill().await.unwrap();
    drop(half_sent);
    for process in &processes {
        let listed: Vec<Value> = send(
            process,
            Method::GET,
            "/upack/default/versions",
            ADMIN_KEY,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
        let names: Vec<_> = listed
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["raced"], "only the raced package is listed");
    }
    let mut settings = s3_settings();
    settings.prefix = prefix;
    let bucket = wharf::blob::BlobStore::s3(&settings).unwrap();
    let stored: Vec<_> = bucket
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.key.to_hex())
        .collect();
    assert!(
        !stored.contains(&sha256_hex(&big)),
        "nothing of the cut upload is in the bucket"
    );
    assert!(
        stored.contains(&sha256_hex(&package)),
        "the deleted version's blob stays until gc"
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Waits until `app`'s process hears announced changes.
async fn until_listening(app: &crate::helpers::TestApp) {
    for _ in 0..250 {
        if app.wharf.caches.is_listening() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the process does not listen for changes within 5 s");
}

/// A version `writer` uploads is seen by `reader`, whose caches held the
/// package's latest version before, within a second.
async fn seen_within_a_second(
    writer: &crate::helpers::TestApp,
    reader: &crate::helpers::TestApp,
    version: &str,
) {
    let path = "/upack/default/download/heard?latest";
    assert_eq!(
        reader.get(path).await.status(),
        StatusCode::OK,
        "cached before the write"
    );
    writer
        .publish("default", UpackBuilder::new("", "heard", version).build())
        .await;
    let started = Instant::now();
    loop {
        let download = reader.get(path).await;
        let manifest = zip::ZipArchive::new(std::io::Cursor::new(download.bytes().await.unwrap()))
            .unwrap()
            .by_name("upack.json")
            .map(|mut entry| {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
                text
            })
            .unwrap();
        if manifest.contains(&format!("\"{version}\"")) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{version} not seen a second later"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn changes_are_heard_as_announced_and_polled_while_the_listener_is_down() {
    // Two processes as a load balancer has them: one database, one bucket.
    let bucket = s3_settings();
    let shared_bucket = bucket.clone();
    let writer = spawn_app_with(Backend::Postgres, |settings| {
        settings.storage.backend = StorageBackend::S3;
        settings.storage.s3 = shared_bucket;
    })
    .await;
    let database_url = writer.wharf.settings.database_url();
    let reader = spawn_app_with(Backend::Postgres, |settings| {
        settings.database_url = Some(database_url);
        settings.storage.backend = StorageBackend::S3;
        settings.storage.s3 = bucket;
    })
    .await;
    writer
        .publish("default", UpackBuilder::new("", "heard", "1.0.0").build())
        .await;
    until_listening(&reader).await;
    seen_within_a_second(&writer, &reader, "2.0.0").await;

    // Every listening connection dropped, as by a database restart or a
    // proxy's idle timeout: changes are still seen (by polling), and the
    // processes listen again.
    let wharf::db::Pool::Postgres(pool) = reader.wharf.db.pool() else {
        unreachable!("a PostgreSQL test");
    };
    let terminated: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(terminated, 2, "both processes listened");
    seen_within_a_second(&writer, &reader, "3.0.0").await;
    until_listening(&reader).await;
    seen_within_a_second(&writer, &reader, "4.0.0").await;
}

async fn processes_starting_together_take_turns_preparing_the_database() {
    use sqlx::Connection;
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = crate::helpers::test_settings(Backend::Postgres, dirs.0.path()).await;
    let mut second = crate::helpers::test_settings(Backend::Postgres, dirs.1.path()).await;
    second.database_url = Some(first.database_url());
    second.admin_api_key = first.admin_api_key.clone();
    let url = secrecy::ExposeSecret::expose_secret(&first.database_url()).to_owned();
    let (first, second) = (
        wharf::service::Wharf::open(first).await.unwrap(),
        wharf::service::Wharf::open(second).await.unwrap(),
    );

    // Another process is preparing the database: both wait for their turn.
    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(hashtext('wharf: first start'))")
        .execute(&mut other)
        .await
        .unwrap();
    let both = tokio::spawn(async move {
        tokio::join!(
            wharf::startup::bootstrap(&first),
            wharf::startup::bootstrap(&second)
        )
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !both.is_finished(),
        "neither prepares while another process does"
    );
    other.close().await.unwrap();

    let (first, second) = both.await.unwrap();
    let prepared = [first.unwrap(), second.unwrap()];
    assert_eq!(
        prepared.iter().filter(|message| message.is_some()).count(),
        1,
        "one prepares, the other finds the database prepared"
    );
}

/// Every scenario here needs `PostgreSQL` (one database shared by processes),
/// so they sit where `scripts/test --sqlite-only` leaves them out.
mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn three_processes_share_one_database_and_one_bucket() {
        super::three_processes_share_one_database_and_one_bucket().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changes_are_heard_as_announced_and_polled_while_the_listener_is_down() {
        super::changes_are_heard_as_announced_and_polled_while_the_listener_is_down().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn processes_starting_together_take_turns_preparing_the_database() {
        super::processes_starting_together_take_turns_preparing_the_database().await;
    }
}
