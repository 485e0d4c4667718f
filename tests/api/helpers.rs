//! The test harness: a real Wharf on `127.0.0.1:0` with a temporary data
//! directory and a fresh database per test, plus helpers per endpoint.

use std::io::Write;
use std::path::PathBuf;

use reqwest::{Response, StatusCode};
use secrecy::ExposeSecret;
use sha1::{Digest, Sha1};
use sqlx::Connection;
use wharf::config::{Argon2Settings, S3Settings, Settings, StorageBackend};
use wharf::service::{Wharf, feeds, keys};
use wharf::startup::Application;

/// The database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub admin_key: String,
    pub wharf: Wharf,
    pub data_dir: PathBuf,
    _dir: tempfile::TempDir,
}

/// The `PostgreSQL` server URL for tests, or a panic that says how to get one.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "PostgreSQL tests need TEST_DATABASE_URL (a superuser URL such as \
             postgres://postgres@127.0.0.1:5432/postgres). Run `scripts/test`, which installs \
             PostgreSQL if needed (apt-get install postgresql) and starts a throwaway server."
        )
    })
}

/// Creates an empty database on the test server and returns its URL.
pub async fn fresh_postgres_database() -> String {
    let admin_url = postgres_admin_url();
    let name = format!("wharf_test_{}", uuid::Uuid::new_v4().simple());
    let mut connection = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("cannot connect to TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut connection)
        .await
        .expect("cannot create a test database");
    let (server, _) = admin_url.rsplit_once('/').expect("URL has a database part");
    format!("{server}/{name}")
}

/// A bucket folder of its own on the test S3 server (`scripts/test` starts
/// one), or a panic that says how to get one.
pub fn s3_settings() -> S3Settings {
    let endpoint = std::env::var("TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "S3 tests need TEST_S3_ENDPOINT and TEST_S3_BUCKET (an S3-compatible server and a \
             bucket on it). Run `scripts/test`, which installs moto's server from PyPI and \
             starts one."
        )
    });
    S3Settings {
        bucket: std::env::var("TEST_S3_BUCKET").unwrap_or_else(|_| "wharf-test".to_owned()),
        endpoint,
        prefix: format!("test-{}", uuid::Uuid::new_v4().simple()),
        access_key_id: Some("test".to_owned()),
        secret_access_key: Some("test".to_owned().into()),
        ..S3Settings::default()
    }
}

/// Settings for a test server on `backend`, in `dir`.
pub async fn test_settings(backend: Backend, dir: &std::path::Path) -> Settings {
    let mut settings = Settings {
        bind: "127.0.0.1:0".to_owned(),
        data_dir: dir.join("data"),
        admin_api_key: Some(format!("test-admin-{}", uuid::Uuid::new_v4().simple()).into()),
        ..Settings::default()
    };
    // Cheap argon2 parameters keep the suite fast; the algorithm is the same.
    settings.auth.argon2 = Argon2Settings {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };
    // Many tests present wrong credentials on purpose from one address; the
    // failed-authentication limit has its own test.
    settings.auth.max_failures_per_minute = 0;
    if backend == Backend::Postgres {
        settings.database_url = Some(fresh_postgres_database().await.into());
    }
    settings
}

/// Starts a server on `backend` with default test settings.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts a server on `backend` that keeps package bytes in a folder of its
/// own in the test S3 bucket.
pub async fn spawn_app_on_s3(backend: Backend) -> TestApp {
    spawn_app_with(backend, |settings| {
        settings.storage.backend = StorageBackend::S3;
        settings.storage.s3 = s3_settings();
    })
    .await
}

/// Starts a server on `backend`, letting the test adjust the settings.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings(backend, dir.path()).await;
    adjust(&mut settings);
    let admin_key = settings
        .admin_api_key
        .as_ref()
        .map(|k| k.expose_secret().to_owned())
        .unwrap_or_default();
    let data_dir = settings.data_dir.clone();
    let app = Application::build(settings).await.expect("server builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let wharf = app.wharf().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        admin_key,
        wharf,
        data_dir,
        _dir: dir,
    }
}

impl TestApp {
    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET without credentials.
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// GET without credentials, expecting 200 and a JSON body.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self.get(path).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {text}"))
    }

    /// A request of `method` to `path` with the admin key.
    pub async fn admin_request(&self, method: reqwest::Method, path: &str) -> Response {
        self.client
            .request(method, self.url(path))
            .header("X-ApiKey", &self.admin_key)
            .send()
            .await
            .expect("request")
    }

    /// POSTs `body` as JSON with the admin key, asserts 200 and returns the
    /// answer's text.
    pub async fn admin_post_json(&self, path: &str, body: &serde_json::Value) -> String {
        let response = self
            .client
            .post(self.url(path))
            .header("X-ApiKey", &self.admin_key)
            .json(body)
            .send()
            .await
            .expect("request");
        expect_status(response, StatusCode::OK).await
    }

    /// GET with the admin key: the status and the whole body.
    pub async fn admin_get_bytes(&self, path: &str) -> (StatusCode, Vec<u8>) {
        let response = self.admin_request(reqwest::Method::GET, path).await;
        let status = response.status();
        (status, response.bytes().await.expect("body").to_vec())
    }

    /// GET with `X-ApiKey`.
    pub async fn get_with_key(&self, path: &str, key: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("X-ApiKey", key)
            .send()
            .await
            .expect("request")
    }

    /// PUT `/upack/<feed>/upload` with the admin key.
    pub async fn upload(&self, feed: &str, body: Vec<u8>) -> Response {
        self.upload_with_key(feed, body, Some(&self.admin_key.clone()))
            .await
    }

    /// PUT `/upack/<feed>/upload` with `key` (or none).
    pub async fn upload_with_key(&self, feed: &str, body: Vec<u8>, key: Option<&str>) -> Response {
        let mut request = self
            .client
            .put(self.url(&format!("/upack/{feed}/upload")))
            .body(body);
        if let Some(key) = key {
            request = request.header("X-ApiKey", key);
        }
        request.send().await.expect("request")
    }

    /// Uploads and asserts 201.
    pub async fn publish(&self, feed: &str, body: Vec<u8>) {
        let response = self.upload(feed, body).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::CREATED, "upload failed: {text}");
    }

    /// Creates a feed directly through the service layer.
    pub async fn create_feed(&self, name: &str, public: bool) {
        feeds::create(&self.wharf, name, "", public)
            .await
            .expect("feed created");
    }

    /// Creates an API key and returns its text.
    pub async fn create_key(&self, permissions: &str, feeds: &[&str]) -> String {
        let created = keys::create(
            &self.wharf,
            keys::NewKey {
                name: format!("test {permissions}"),
                permissions: permissions.to_owned(),
                feeds: feeds.iter().map(|f| (*f).to_owned()).collect(),
                fixed_key: None,
                expires_at: None,
            },
        )
        .await
        .expect("key created");
        created.key.expose_secret().to_owned()
    }

    /// Number of blobs stored: files in the blob store, and database rows
    /// holding their bytes (small uploads), counting a blob in both once.
    pub async fn stored_blob_count(&self) -> usize {
        fn collect(dir: &std::path::Path, names: &mut std::collections::HashSet<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    collect(&path, names);
                } else {
                    names.insert(entry.file_name().to_string_lossy().into_owned());
                }
            }
        }
        let mut blobs = wharf::db::blobs::rows_with_content(&self.wharf.db)
            .await
            .expect("blob rows read");
        collect(&self.data_dir.join("store"), &mut blobs);
        blobs.len()
    }

    /// Number of blob files in the blob store (bytes not held in a row).
    pub fn blob_file_count(&self) -> usize {
        fn count(dir: &std::path::Path) -> usize {
            std::fs::read_dir(dir).map_or(0, |entries| {
                entries
                    .flatten()
                    .map(|e| {
                        let path = e.path();
                        if path.is_dir() { count(&path) } else { 1 }
                    })
                    .sum()
            })
        }
        count(&self.data_dir.join("store"))
    }

    /// Number of temporary files left in the spool directory (each process
    /// works in a folder of its own there, marked by a `.lock` file).
    pub fn temp_file_count(&self) -> usize {
        fn count(dir: &std::path::Path) -> usize {
            std::fs::read_dir(dir).map_or(0, |entries| {
                entries
                    .flatten()
                    .map(|e| match e.path() {
                        path if path.is_dir() => count(&path),
                        _ if e.file_name() == ".lock" => 0,
                        _ => 1,
                    })
                    .sum()
            })
        }
        count(&self.data_dir.join("tmp"))
    }

    /// The `versions` array of a feed, as JSON.
    pub async fn versions(&self, feed: &str) -> Vec<serde_json::Value> {
        let response = self
            .get_with_key(&format!("/upack/{feed}/versions"), &self.admin_key)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("json array")
    }
}

/// Builds `.upack` archives in memory.
pub struct UpackBuilder {
    manifest: serde_json::Map<String, serde_json::Value>,
    files: Vec<(String, Vec<u8>)>,
    raw_manifest: Option<Vec<u8>>,
}

impl UpackBuilder {
    /// A package `group/name` (group may be empty) at `version`.
    pub fn new(group: &str, name: &str, version: &str) -> Self {
        let mut manifest = serde_json::Map::new();
        if !group.is_empty() {
            manifest.insert("group".into(), group.into());
        }
        manifest.insert("name".into(), name.into());
        manifest.insert("version".into(), version.into());
        Self {
            manifest,
            files: vec![(
                "package/readme.txt".into(),
                format!("{name} {version}").into_bytes(),
            )],
            raw_manifest: None,
        }
    }

    /// Sets a manifest property.
    pub fn field(mut self, key: &str, value: serde_json::Value) -> Self {
        self.manifest.insert(key.into(), value);
        self
    }

    /// Adds an archive entry.
    pub fn file(mut self, path: &str, content: &[u8]) -> Self {
        self.files.push((path.into(), content.to_vec()));
        self
    }

    /// Uses these bytes as `upack.json` instead of the built manifest.
    pub fn raw_manifest(mut self, bytes: &[u8]) -> Self {
        self.raw_manifest = Some(bytes.to_vec());
        self
    }

    /// The archive bytes.
    pub fn build(self) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        let manifest = self
            .raw_manifest
            .unwrap_or_else(|| serde_json::to_vec_pretty(&self.manifest).expect("json"));
        writer.start_file("upack.json", options).expect("entry");
        writer.write_all(&manifest).expect("write");
        for (path, content) in self.files {
            writer.start_file(path, options).expect("entry");
            writer.write_all(&content).expect("write");
        }
        writer.finish().expect("zip").into_inner()
    }
}

/// A bare JSON virtual package manifest.
pub fn vpack_json(group: &str, name: &str, version: &str) -> Vec<u8> {
    let mut manifest = serde_json::json!({
        "name": name,
        "version": version,
        "contents": ["base/lib:1.0.0"]
    });
    if !group.is_empty() {
        manifest["group"] = group.into();
    }
    serde_json::to_vec_pretty(&manifest).expect("json")
}

/// The operation at `location` (`/api/operations/<id>`), polled as `app`'s
/// administrator until it has ended.
pub async fn wait_for_operation(app: &TestApp, location: &str) -> serde_json::Value {
    for _ in 0..400 {
        let operation: serde_json::Value = app
            .client
            .get(app.url(location))
            .header("X-ApiKey", &app.admin_key)
            .send()
            .await
            .expect("status call")
            .json()
            .await
            .expect("an operation");
        if matches!(operation["state"].as_str(), Some("succeeded" | "failed")) {
            return operation;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the operation at {location} did not end");
}

/// A body sent with chunked transfer encoding (no Content-Length), in
/// `chunk_bytes` pieces.
pub fn chunked_body(bytes: &[u8], chunk_bytes: usize) -> reqwest::Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(chunk_bytes).map(|c| Ok(c.to_vec())).collect();
    reqwest::Body::wrap_stream(futures::stream::iter(chunks))
}

/// The value of the series `series` (name and labels, as written) in the
/// `OpenMetrics` text of `/metrics`.
pub fn metric_value<T: std::str::FromStr>(text: &str, series: &str) -> Option<T> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// `n` random (incompressible) bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut bytes = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

/// Lowercase hex SHA-1.
pub fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(Sha1::digest(bytes))
}

/// The real-world fixtures beside the repository.
pub fn fixture_dir(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/real-world")
        .join(kind)
}

/// Every file of a fixture folder, sorted, with its bytes.
pub fn fixtures(kind: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(fixture_dir(kind))
        .unwrap_or_else(|e| panic!("fixtures {kind}: {e}"))
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("fixture readable"),
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {kind}");
    files
}

/// Asserts a status, printing the body on failure; returns the body.
pub async fn expect_status(response: Response, status: StatusCode) -> String {
    let actual = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(actual, status, "body: {text}");
    text
}

/// Sends a request exactly as written (`head` ends with the blank line),
/// waiting for `100 Continue` first when `head` asks for it, then `body`.
/// Returns the final status, the lower-cased response headers and the body
/// (chunked encoding decoded). The connection is closed by `Connection: close`.
pub async fn raw_request(
    base: &str,
    head: &str,
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write head");
    let mut response = Vec::new();
    if head.contains("Expect: 100-continue") {
        let mut buffer = [0u8; 64];
        let read = stream.read(&mut buffer).await.expect("read interim");
        let interim = String::from_utf8_lossy(&buffer[..read]).into_owned();
        assert!(
            interim.starts_with("HTTP/1.1 100"),
            "expected 100 Continue, got {interim:?}"
        );
    }
    stream.write_all(body).await.expect("write body");
    stream
        .read_to_end(&mut response)
        .await
        .expect("read response");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head_text = String::from_utf8_lossy(&response[..split]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut payload = response[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        let mut decoded = Vec::new();
        let mut rest = payload.as_slice();
        while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..line_end]).trim(), 16)
                .unwrap_or(0);
            if size == 0 {
                break;
            }
            decoded.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            rest = &rest[line_end + 2 + size + 2..];
        }
        payload = decoded;
    }
    (status, headers, payload)
}
