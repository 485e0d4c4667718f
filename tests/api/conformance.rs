//! Conformance: what each real client sends, request for request and header
//! for header (upack-protocol.md section 5), over a raw socket, and the fields
//! each one requires in the answer.

use base64::Engine;
use serde_json::Value;
use std::fmt::Write as _;

use crate::helpers::{
    Backend, TestApp, UpackBuilder, raw_request, sha1_hex, spawn_app, spawn_app_with,
};

/// One exchange's result.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The JSON body, asserting the content type Inedo.UPack insists on.
    fn json(&self) -> Value {
        let content_type = self
            .header("content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(
            content_type.starts_with("application/json"),
            "content type {content_type:?}"
        );
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `method path` with exactly `headers` (plus Host and Connection).
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Answer {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        write!(head, "{name}: {value}\r\n").unwrap();
    }
    if !body.is_empty() || method == "PUT" || method == "POST" {
        write!(head, "Content-Length: {}\r\n", body.len()).unwrap();
    }
    head.push_str("\r\n");
    let (status, headers, body) = raw_request(&app.base, &head, body).await;
    Answer {
        status,
        headers,
        body,
    }
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Every entry of a packages array has what Inedo.UPack requires.
fn assert_package_objects(list: &Value) {
    for package in list.as_array().expect("a top-level array") {
        assert!(
            package["name"].as_str().is_some_and(|n| !n.is_empty()),
            "{package}"
        );
        semver::Version::parse(package["latestVersion"].as_str().expect("latestVersion")).unwrap();
        for version in package["versions"].as_array().expect("versions") {
            semver::Version::parse(version.as_str().unwrap()).unwrap();
        }
    }
}

/// Every version object has what Inedo.UPack and pgutil require.
fn assert_version_object(version: &Value) {
    assert!(
        version["name"].is_string() && version["version"].is_string(),
        "{version}"
    );
    chrono::DateTime::parse_from_rfc3339(version["published"].as_str().unwrap()).unwrap();
    let sha1 = version["sha1"].as_str().unwrap();
    assert_eq!(sha1, sha1.to_ascii_lowercase());
    for tag in version
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        assert!(tag.is_string());
    }
}

async fn inedo_upack_library_and_upack_cli(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.admin_key.clone();
    let package = UpackBuilder::new("inedo/tools", "Upack.Test", "1.2.3-beta.1+build.9")
        .field("tags", serde_json::json!(["cli", "test"]))
        .file("package/docs/read me.txt", b"hello")
        .build();
    // UploadPackageAsync: PUT upload, application/zip, X-ApiKey, no User-Agent.
    let upload = send(
        &app,
        "PUT",
        "/upack/default/upload",
        &[
            ("X-ApiKey", key.clone()),
            ("Content-Type", "application/zip".into()),
        ],
        &package,
    )
    .await;
    assert!((200..300).contains(&upload.status), "{}", upload.text());
    // The upack CLI: preemptive Basic api:<key>.
    let cli = UpackBuilder::new("inedo/tools", "Upack.Test", "1.2.2").build();
    let upload = send(
        &app,
        "PUT",
        "/upack/default/upload",
        &[
            ("Authorization", basic("api", &key)),
            ("Content-Type", "application/zip".into()),
        ],
        &cli,
    )
    .await;
    assert!((200..300).contains(&upload.status));

    let list = send(
        &app,
        "GET",
        "/upack/default/packages?group=inedo%2Ftools&count=10",
        &[("X-ApiKey", key.clone())],
        b"",
    )
    .await;
    assert_eq!(list.status, 200);
    assert_package_objects(&list.json());
    let search = send(
        &app,
        "GET",
        "/upack/default/search?term=upack",
        &[("X-ApiKey", key.clone())],
        b"",
    )
    .await;
    assert_eq!(search.json().as_array().unwrap().len(), 1);
    let versions = send(
        &app,
        "GET",
        "/upack/default/versions?group=inedo%2Ftools&name=Upack.Test&includeFileList=False",
        &[],
        b"",
    )
    .await;
    let versions = versions.json();
    assert_eq!(versions.as_array().unwrap().len(), 2);
    versions
        .as_array()
        .unwrap()
        .iter()
        .for_each(assert_version_object);
    let one = send(&app, "GET", "/upack/default/versions?group=inedo%2Ftools&name=Upack.Test&version=1.2.3-beta.1%2Bbuild.9&includeFileList=True", &[], b"").await;
    let one = one.json();
    assert_version_object(&one);
    assert_eq!(one["fileList"][1]["name"], "docs/read me.txt");
    assert_eq!(one["sha1"], sha1_hex(&package));
    // GetPackageStreamAsync: EscapeUriString keeps '/' and '+'.
    let download = send(
        &app,
        "GET",
        "/upack/default/download/inedo/tools/Upack.Test/1.2.3-beta.1+build.9",
        &[],
        b"",
    )
    .await;
    assert_eq!(
        (download.status, download.body.as_slice()),
        (200, package.as_slice())
    );
    let latest = send(
        &app,
        "GET",
        "/upack/default/download/inedo/tools/Upack.Test?latest",
        &[],
        b"",
    )
    .await;
    assert_eq!(latest.body, cli, "latest is the highest stable version");
    let missing = send(
        &app,
        "GET",
        "/upack/default/download/inedo/tools/Nope?latest",
        &[],
        b"",
    )
    .await;
    assert_eq!(missing.status, 404, "Inedo.UPack maps 404 to 'not found'");
    // GetPackageFileStreamAsync: EscapeDataString on the path (%2F, %20).
    let file = send(&app, "GET", "/upack/default/download-file/inedo/tools/Upack.Test/1.2.3-beta.1+build.9?path=package%2Fdocs%2Fread%20me.txt", &[], b"").await;
    assert_eq!(file.body, b"hello");
    let metadata = send(
        &app,
        "GET",
        "/upack/default/download-file/inedo/tools/Upack.Test?latest&path=upack.json",
        &[],
        b"",
    )
    .await;
    assert_eq!(
        serde_json::from_slice::<Value>(&metadata.body).unwrap()["version"],
        "1.2.2"
    );
    let delete = send(
        &app,
        "DELETE",
        "/upack/default/delete/inedo/tools/Upack.Test/1.2.2",
        &[("X-ApiKey", key.clone())],
        b"",
    )
    .await;
    assert!((200..300).contains(&delete.status));
}

async fn upack_go_port(backend: Backend) {
    let app = spawn_app(backend).await;
    let auth = basic("api", &app.admin_key);
    let package = UpackBuilder::new("go/grp", "gopkg", "0.9.0+meta").build();
    // push: PUT to the feed URL itself, octet-stream, explicit length; needs exactly 201.
    let push = send(
        &app,
        "PUT",
        "/upack/default",
        &[
            ("Authorization", auth.clone()),
            ("Content-Type", "application/octet-stream".into()),
            ("User-Agent", "Go-http-client/1.1".into()),
            ("Accept-Encoding", "gzip".into()),
        ],
        &package,
    )
    .await;
    assert_eq!(push.status, 201, "{}", push.text());
    // GetVersion: packages?group=&name= returns an object with versions.
    let object = send(
        &app,
        "GET",
        "/upack/default/packages?group=go%2Fgrp&name=gopkg",
        &[("Authorization", auth.clone())],
        b"",
    )
    .await
    .json();
    assert_eq!(object["versions"], serde_json::json!(["0.9.0+meta"]));
    // download: PathEscape(group) (%2F) / name / QueryEscape(version) (%2B).
    let download = send(
        &app,
        "GET",
        "/upack/default/download/go%2Fgrp/gopkg/0.9.0%2Bmeta",
        &[("Authorization", auth.clone())],
        b"",
    )
    .await;
    assert_eq!(
        (download.status, download.body.as_slice()),
        (200, package.as_slice())
    );
    // metadata: download-file/PathEscape("group/name")/version?path=
    let file = send(
        &app,
        "GET",
        "/upack/default/download-file/go%2Fgrp%2Fgopkg/0.9.0%2Bmeta?path=upack.json",
        &[("Authorization", auth.clone())],
        b"",
    )
    .await;
    assert_eq!(file.status, 200);
    // verify: versions?group=&name=&version= and a case-sensitive SHA-1 compare.
    let version = send(
        &app,
        "GET",
        "/upack/default/versions?group=go%2Fgrp&name=gopkg&version=0.9.0%2Bmeta",
        &[("Authorization", auth)],
        b"",
    )
    .await
    .json();
    assert_eq!(version["sha1"].as_str().unwrap(), sha1_hex(&package));
}

async fn pgutil(backend: Backend) {
    let app = spawn_app(backend).await;
    wharf::service::users::create(
        &app.wharf,
        "builder",
        "s3cret-password",
        "view,download,add",
        &[],
    )
    .await
    .unwrap();
    let pseudo_key = ("X-ApiKey", "builder:s3cret-password".to_owned());
    let package = UpackBuilder::new("", "pg-tool", "3.1.0").build();
    // packages upload: PUT /api/packages/<feed>/upload, no Content-Type.
    let upload = send(
        &app,
        "PUT",
        "/api/packages/default/upload/pg-tool-3.1.0.upack",
        std::slice::from_ref(&pseudo_key),
        &package,
    )
    .await;
    assert!((200..300).contains(&upload.status), "{}", upload.text());
    // upack install: versions with group= always sent, then download with raw parts.
    let versions = send(
        &app,
        "GET",
        "/upack/default/versions?group=&name=pg-tool",
        std::slice::from_ref(&pseudo_key),
        b"",
    )
    .await
    .json();
    let versions = versions.as_array().expect("pgutil needs a top-level array");
    assert!(
        versions
            .iter()
            .all(|v| v["name"].is_string() && v["version"].is_string())
    );
    let download = send(
        &app,
        "GET",
        "/upack/default/download/pg-tool/3.1.0",
        std::slice::from_ref(&pseudo_key),
        b"",
    )
    .await;
    assert_eq!(download.body, package);
    // packages download needs a file name in Content-Disposition.
    let download = send(
        &app,
        "GET",
        "/api/packages/default/download?name=pg-tool&version=latest",
        std::slice::from_ref(&pseudo_key),
        b"",
    )
    .await;
    assert!(
        download
            .header("content-disposition")
            .is_some_and(|d| d.contains("filename="))
    );
    // sources test: /health parsed as JSON.
    let health = send(&app, "GET", "/health", &[], b"").await.json();
    assert_eq!(health["databaseStatus"], "OK");
}

async fn universal_package_explorer(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.auth.challenge = true).await;
    app.create_feed("private", false).await;
    wharf::service::users::create(
        &app.wharf,
        "explorer",
        "explorer-pass",
        "view,download,add",
        &[],
    )
    .await
    .unwrap();
    // The publish probe: an empty PUT without credentials wants a 401 challenge.
    let probe = send(
        &app,
        "PUT",
        "/upack/private/upload",
        &[("Content-Type", "application/zip".into())],
        b"",
    )
    .await;
    assert_eq!(probe.status, 401);
    assert_eq!(
        probe.header("www-authenticate"),
        Some("Basic realm=\"wharf\"")
    );
    // It then retries with the credentials the user typed: an empty body is a 400.
    let auth = basic("explorer", "explorer-pass");
    let probe = send(
        &app,
        "PUT",
        "/upack/private/upload",
        &[
            ("Content-Type", "application/zip".into()),
            ("Authorization", auth.clone()),
        ],
        b"",
    )
    .await;
    assert_eq!(probe.status, 400);
    let package = UpackBuilder::new("ui", "Explorer.Pkg", "1.0.0-rc.1+b1")
        .field("title", "Explorer".into())
        .build();
    let publish = send(
        &app,
        "PUT",
        "/upack/private/upload",
        &[
            ("Content-Type", "application/zip".into()),
            ("Authorization", auth.clone()),
        ],
        &package,
    )
    .await;
    assert!((200..300).contains(&publish.status));
    // Listing without credentials is challenged, then answered.
    assert_eq!(
        send(&app, "GET", "/upack/private/packages", &[], b"")
            .await
            .status,
        401
    );
    let list = send(
        &app,
        "GET",
        "/upack/private/packages",
        &[("Authorization", auth.clone())],
        b"",
    )
    .await
    .json();
    for field in ["group", "name", "versions", "latestVersion", "title"] {
        assert!(!list[0][field].is_null(), "{field}");
    }
    let search = send(
        &app,
        "GET",
        "/upack/private/search?term=explorer",
        &[("Authorization", auth.clone())],
        b"",
    )
    .await
    .json();
    assert_eq!(search.as_array().unwrap().len(), 1);
    // Download with EscapeDataString(version): '+' as %2B.
    let download = send(
        &app,
        "GET",
        "/upack/private/download/ui/Explorer.Pkg/1.0.0-rc.1%2Bb1",
        &[("Authorization", auth)],
        b"",
    )
    .await;
    assert_eq!(download.body, package);
}

async fn proget_automation(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = ("X-ApiKey", app.admin_key.clone());
    let package = UpackBuilder::new("whs/automation", "PgAuto", "0.1.1").build();
    // Publish-ProGetUniversalPackage: PUT /upack/<feed>, octet-stream.
    let publish = send(
        &app,
        "PUT",
        "/upack/default",
        &[
            key.clone(),
            ("Content-Type", "application/octet-stream".into()),
        ],
        &package,
    )
    .await;
    assert!((200..300).contains(&publish.status));
    // "should replace existing package": re-upload with admin rights succeeds.
    let again = send(
        &app,
        "PUT",
        "/upack/default",
        &[
            key.clone(),
            ("Content-Type", "application/octet-stream".into()),
        ],
        &package,
    )
    .await;
    assert!((200..300).contains(&again.status));
    // Upload to a missing feed fails.
    assert!(
        !(200..300).contains(
            &send(
                &app,
                "PUT",
                "/upack/missing",
                std::slice::from_ref(&key),
                &package
            )
            .await
            .status
        )
    );
    // Get-ProGetUniversalPackage: packages?name=&group= and bare packages.
    let one = send(
        &app,
        "GET",
        "/upack/default/packages?name=PgAuto&group=whs/automation",
        std::slice::from_ref(&key),
        b"",
    )
    .await
    .json();
    assert_eq!(one["name"], "PgAuto");
    let missing = send(
        &app,
        "GET",
        "/upack/default/packages?name=Nope",
        std::slice::from_ref(&key),
        b"",
    )
    .await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.text().contains("package was not found"),
        "{}",
        missing.text()
    );
    // Read-ProGetUniversalPackageFile: a slash before the query, literal path.
    let file = send(
        &app,
        "GET",
        "/upack/default/download-file/whs/automation/PgAuto/?latest&path=upack.json",
        std::slice::from_ref(&key),
        b"",
    )
    .await;
    assert_eq!(file.status, 200);
    let file = send(
        &app,
        "GET",
        "/upack/default/download-file/whs/automation/PgAuto/0.1.1/?path=upack.json",
        std::slice::from_ref(&key),
        b"",
    )
    .await;
    assert_eq!(file.status, 200);
    // Remove-ProGetUniversalPackage: EscapeDataString(group) gives %2F.
    let removed = send(
        &app,
        "DELETE",
        "/upack/default/delete/whs%2Fautomation/PgAuto/0.1.1",
        std::slice::from_ref(&key),
        b"",
    )
    .await;
    assert_eq!(removed.status, 200);
    let gone = send(
        &app,
        "DELETE",
        "/upack/default/delete/whs%2Fautomation/PgAuto/0.1.1",
        &[key],
        b"",
    )
    .await;
    assert_eq!(gone.status, 404);
    assert!(gone.text().contains("package not found"), "{}", gone.text());
}

async fn jenkins_plugin(backend: Backend) {
    let app = spawn_app(backend).await;
    let auth = basic("api", &app.admin_key);
    let version = send(
        &app,
        "GET",
        "/api/version",
        &[("Authorization", auth.clone())],
        b"",
    )
    .await;
    assert!(version.text().starts_with("ProGet"));
    let (_, package) = crate::helpers::fixtures("upack-valid")
        .into_iter()
        .find(|(f, _)| f.starts_with("jenkins"))
        .unwrap();
    let upload = send(
        &app,
        "POST",
        "/upack/default/upload",
        &[
            ("Authorization", auth.clone()),
            ("Content-Type", "application/zip".into()),
        ],
        &package,
    )
    .await;
    assert!((200..300).contains(&upload.status));
    // downloadPackage with a blank group: download//name?latest&contentOnly=zip
    let download = send(
        &app,
        "GET",
        "/upack/default/download/andrew/sumner/proget/ExamplePackage?latest&contentOnly=zip",
        &[("Authorization", auth)],
        b"",
    )
    .await;
    assert_eq!(download.status, 200);
    assert_eq!(download.header("content-type"), Some("application/zip"));
}

dual_backend_tests!(
    inedo_upack_library_and_upack_cli,
    upack_go_port,
    pgutil,
    universal_package_explorer,
    proget_automation,
    jenkins_plugin,
);
