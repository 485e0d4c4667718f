//! Long-running operations over a real socket: an export is answered 202
//! with its `Location`, runs in the background and is polled to its end;
//! the files it writes are the stored bytes; an existing file is refused
//! unless overwriting is asked for; containers outside the allowed roots,
//! anonymous callers and callers without `download` are refused before
//! anything is queued. Leases: one claim wins, a run whose process died is
//! taken over and run again, and an operation interrupted too often fails
//! with a sentence.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, fixtures, spawn_app_with, wait_for_operation};

/// Requests an export with `body`, as `key`.
async fn export(app: &TestApp, key: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/api/operations/export"))
        .json(body);
    if let Some(key) = key {
        request = request.header("X-ApiKey", key);
    }
    request.send().await.unwrap()
}

async fn operation_count(app: &TestApp) -> usize {
    let all: Vec<Value> = app
        .client
        .get(app.url("/api/operations"))
        .header("X-ApiKey", &app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    all.len()
}

async fn an_export_writes_the_stored_bytes_and_refuses_to_overwrite(backend: Backend) {
    let roots = tempfile::tempdir().unwrap();
    let root = roots.path().to_owned();
    let app = spawn_app_with(backend, |s| {
        s.export.allowed_roots = vec![root.display().to_string()];
    })
    .await;
    let (_, package) = fixtures("upack-valid")
        .into_iter()
        .find(|(name, _)| name.starts_with("UniversalPackageTest"))
        .unwrap();
    app.publish("default", package.clone()).await;
    let container = root.join("drops/nightly");
    let body = json!({
        "feed": "default", "name": "UniversalPackageTest", "latest": true,
        "containerUri": format!("file://{}", container.display()),
    });

    let accepted = export(&app, Some(&app.admin_key), &body).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert!(accepted.headers().contains_key("x-request-id"));
    let location = accepted.headers()["location"].to_str().unwrap().to_owned();
    let queued: Value = accepted.json().await.unwrap();
    assert_eq!(
        location,
        format!("/api/operations/{}", queued["id"].as_str().unwrap())
    );
    assert_eq!(queued["kind"], "export");

    let done = wait_for_operation(&app, &location).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["httpStatusCode"], 200);
    assert_eq!(
        done["progress"]["bytesDone"], done["progress"]["bytesTotal"],
        "{done}"
    );
    let written = std::fs::read(container.join("UniversalPackageTest.0.1.1.upack")).unwrap();
    assert_eq!(
        written, package,
        "the exported file is the uploaded package"
    );
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(container.join("UniversalPackageTest.0.1.1.upack.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["name"], "UniversalPackageTest");
    assert_eq!(manifest["version"], "0.1.1");
    let leftovers: Vec<_> = std::fs::read_dir(&container)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|name| name.to_string_lossy().starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary files stay: {leftovers:?}"
    );

    // Again: the file exists, so the operation fails (the status call is
    // still 200) and the file is untouched.
    std::fs::write(
        container.join("UniversalPackageTest.0.1.1.upack"),
        b"theirs",
    )
    .unwrap();
    let again = export(&app, Some(&app.admin_key), &body).await;
    let location = again.headers()["location"].to_str().unwrap().to_owned();
    let failed = wait_for_operation(&app, &location).await;
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["httpStatusCode"], 409);
    assert_eq!(failed["error"]["code"], "blob_exists");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("UniversalPackageTest.0.1.1.upack"),
        "{failed}"
    );
    assert_eq!(
        std::fs::read(container.join("UniversalPackageTest.0.1.1.upack")).unwrap(),
        b"theirs"
    );

    // Asked to overwrite, it does.
    let mut overwrite = body.clone();
    overwrite["overwriteExisting"] = json!(true);
    overwrite["version"] = json!("0.1.1");
    overwrite.as_object_mut().unwrap().remove("latest");
    let replaced = export(&app, Some(&app.admin_key), &overwrite).await;
    let location = replaced.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        wait_for_operation(&app, &location).await["state"],
        "succeeded"
    );
    assert_eq!(
        std::fs::read(container.join("UniversalPackageTest.0.1.1.upack")).unwrap(),
        package
    );

    // The query string works as well as a body.
    let by_query = app
        .client
        .post(app.url(&format!(
            "/api/operations/export?feed=default&name=UniversalPackageTest&latest&overwriteExisting=true&containerUri=file://{}",
            container.display()
        )))
        .header("X-ApiKey", &app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.status(), StatusCode::ACCEPTED);
    let location = by_query.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        wait_for_operation(&app, &location).await["state"],
        "succeeded"
    );
}

async fn bad_export_requests_are_refused_before_anything_is_queued(backend: Backend) {
    let roots = tempfile::tempdir().unwrap();
    let root = roots.path().to_owned();
    let app = spawn_app_with(backend, |s| {
        s.export.allowed_roots = vec![root.join("exports").display().to_string()];
    })
    .await;
    std::fs::create_dir_all(root.join("exports")).unwrap();
    std::fs::create_dir_all(root.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(root.join("elsewhere"), root.join("exports/escape")).unwrap();
    app.create_feed("private", false).await;
    app.publish(
        "private",
        crate::helpers::UpackBuilder::new("", "tool", "1.0.0").build(),
    )
    .await;
    let viewer = app.create_key("view", &["private"]).await;
    let inside = format!("file://{}", root.join("exports/x").display());
    let request = |container: &str| json!({"feed": "private", "name": "tool", "version": "1.0.0", "containerUri": container});
    let refused = [
        (None, request(&inside), StatusCode::FORBIDDEN, "API key"),
        (
            Some(viewer.as_str()),
            request(&inside),
            StatusCode::FORBIDDEN,
            "download",
        ),
        (
            Some(app.admin_key.as_str()),
            request("file:///etc"),
            StatusCode::BAD_REQUEST,
            "export.allowed_roots",
        ),
        (
            Some(app.admin_key.as_str()),
            request(&format!("file://{}/escape", root.join("exports").display())),
            StatusCode::BAD_REQUEST,
            "export.allowed_roots",
        ),
        (
            Some(app.admin_key.as_str()),
            request(&format!(
                "file://{}/../elsewhere",
                root.join("exports").display()
            )),
            StatusCode::BAD_REQUEST,
            "'..'",
        ),
        (
            Some(app.admin_key.as_str()),
            request("s3://bucket/prefix"),
            StatusCode::BAD_REQUEST,
            "export.allowed_buckets",
        ),
        (
            Some(app.admin_key.as_str()),
            request("s3://"),
            StatusCode::BAD_REQUEST,
            "must name a bucket",
        ),
        (
            Some(app.admin_key.as_str()),
            request("s3://bucket/drops/../elsewhere"),
            StatusCode::BAD_REQUEST,
            "'..'",
        ),
        (
            Some(app.admin_key.as_str()),
            request("relative/dir"),
            StatusCode::BAD_REQUEST,
            "file:///",
        ),
        (
            Some(app.admin_key.as_str()),
            json!({"feed": "private", "name": "tool", "containerUri": inside}),
            StatusCode::BAD_REQUEST,
            "version",
        ),
        (
            Some(app.admin_key.as_str()),
            json!({"feed": "private", "name": "tool", "version": "9.9.9", "containerUri": inside}),
            StatusCode::NOT_FOUND,
            "9.9.9",
        ),
        (
            Some(app.admin_key.as_str()),
            json!({"feed": "private", "name": "tool", "version": "1.0.0", "containerUri": inside, "overwriteExisting": "maybe"}),
            StatusCode::BAD_REQUEST,
            "overwriteExisting",
        ),
        (
            Some(app.admin_key.as_str()),
            json!({"feed": "private", "name": "tool", "version": "1.0.0", "containerUri": inside, "overwriteExisting": [1]}),
            StatusCode::BAD_REQUEST,
            "overwriteExisting",
        ),
    ];
    for (key, body, status, says) in refused {
        let response = export(&app, key, &body).await;
        assert_eq!(response.status(), status, "{body}");
        let text = response.text().await.unwrap();
        assert!(text.contains(says), "{body}: {text}");
    }
    assert_eq!(operation_count(&app).await, 0, "nothing was queued");
    assert!(!root.join("exports/x").exists() && !root.join("elsewhere/tool.1.0.0.upack").exists());

    let unknown = app
        .client
        .get(app.url("/api/operations/00000000-0000-0000-0000-000000000000"))
        .header("X-ApiKey", &app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let bad_filter = app
        .client
        .get(app.url("/api/operations?state=sleeping"))
        .header("X-ApiKey", &app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_filter.status(), StatusCode::BAD_REQUEST);
}

/// One queued operation claimed by two workers at once goes to one; a run
/// whose process died (its lease ran out) is claimed again, and after
/// `max_attempts` runs the operation fails with a sentence.
async fn leases_give_each_operation_to_one_worker_and_retry_the_interrupted(backend: Backend) {
    use chrono::Utc;
    use wharf::db::operations as rows;

    let app = spawn_app_with(backend, |s| {
        // No workers: the test claims by hand.
        s.operations.workers = 0;
        s.operations.max_attempts = 2;
    })
    .await;
    let db = &app.wharf.db;
    let later = Utc::now() + chrono::Duration::seconds(60);
    let insert = |id: String| async move {
        rows::insert(
            db,
            &rows::NewOperation {
                id: &id,
                kind: "export",
                request_json: r#"{"feed":"default"}"#,
                requested_by: "test",
            },
        )
        .await
        .unwrap();
    };
    // Rounds of two workers claiming at once: each gets its own, none
    // comes back empty while one is left (the loser of a row tries the next).
    for round in 0..10 {
        insert(format!("early-{round}-a")).await;
        insert(format!("early-{round}-b")).await;
        let (one, two) = tokio::join!(rows::claim(db, "one", later), rows::claim(db, "two", later));
        let (one, two) = (
            one.unwrap().expect("a claim"),
            two.unwrap().expect("a claim"),
        );
        assert_ne!(one.id, two.id, "two workers never hold the same operation");
        let done = rows::Outcome {
            state: "succeeded",
            http_status: 200,
            result_json: None,
            error_code: None,
            error_message: None,
            bytes_done: 0,
            bytes_total: None,
        };
        assert!(rows::finish(db, &one.id, "one", &done).await.unwrap());
        assert!(rows::finish(db, &two.id, "two", &done).await.unwrap());
    }
    insert("a".to_owned()).await;
    insert("b".to_owned()).await;
    let first = rows::claim(db, "one", later).await.unwrap().unwrap();
    let second = rows::claim(db, "two", later).await.unwrap().unwrap();
    assert!(
        rows::claim(db, "three", later).await.unwrap().is_none(),
        "nothing is left"
    );
    assert!(
        !rows::renew(db, &first.id, "intruder", later, 1, None)
            .await
            .unwrap(),
        "only the holder renews"
    );

    // "one" dies: its lease runs out and "three" takes the operation over.
    assert!(
        rows::renew(db, &first.id, "one", Utc::now(), 5, Some(10))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let taken = rows::claim(db, "three", later).await.unwrap().unwrap();
    assert_eq!((taken.id.as_str(), taken.attempts), (first.id.as_str(), 2));
    let outcome = rows::Outcome {
        state: "succeeded",
        http_status: 200,
        result_json: Some("{}"),
        error_code: None,
        error_message: None,
        bytes_done: 10,
        bytes_total: Some(10),
    };
    assert!(
        !rows::finish(db, &first.id, "one", &outcome).await.unwrap(),
        "the worker that lost the lease cannot record an outcome"
    );
    assert!(
        rows::finish(db, &first.id, "three", &outcome)
            .await
            .unwrap()
    );

    // The second operation's process dies, and so does the next one's; a
    // worker then finds it over its attempts and fails it with a sentence.
    assert!(
        rows::renew(db, &second.id, "two", Utc::now(), 0, None)
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let again = rows::claim(db, "four", Utc::now()).await.unwrap().unwrap();
    assert_eq!(again.attempts, 2);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut supervisor = wharf::supervisor::Supervisor::default();
    let worker = app.wharf.clone();
    supervisor.until_stopped("test worker", move |stop| {
        wharf::service::operations::work(worker, "five".to_owned(), stop)
    });
    let mut ended = None;
    for _ in 0..200 {
        let row = rows::find(db, &second.id).await.unwrap().unwrap();
        if row.state == "failed" {
            ended = Some(row);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    supervisor.shutdown().await;
    let ended = ended.expect("the worker fails an operation over its attempts");
    assert_eq!(ended.attempts, 3);
    assert_eq!(ended.error_code.as_deref(), Some("interrupted"));
    assert!(ended.error_message.unwrap().contains("interrupted 2 times"));
}

/// `wharf op wait` follows an export to its end: exit 0 when it succeeded,
/// 1 with the reason when it failed; `op list` and `op show` find it.
async fn op_wait_exits_with_the_operations_outcome(backend: Backend) {
    use crate::cli::{Cli, free_port, serve};

    let cli = Cli::new(backend).await;
    let exports = cli.dir.path().join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    let port = free_port();
    let key = "op-wait-admin-key-0123456789";
    let (mut child, _) = serve(
        &cli,
        port,
        &[
            ("WHARF_ADMIN_API_KEY", key),
            ("WHARF_EXPORT__ALLOWED_ROOTS", exports.to_str().unwrap()),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let uploaded = client
        .put(format!("{base}/upack/default/upload"))
        .header("X-ApiKey", key)
        .body(crate::helpers::UpackBuilder::new("", "tool", "2.0.0").build())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), StatusCode::CREATED);
    let request = || async {
        let answer: Value = client
            .post(format!("{base}/api/operations/export"))
            .header("X-ApiKey", key)
            .json(&json!({"feed": "default", "name": "tool", "latest": true,
                "containerUri": format!("file://{}", exports.display())}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["id"].as_str().unwrap().to_owned()
    };

    let first = request().await;
    let waited = cli.command(&["op", "wait", &first]).output().await.unwrap();
    assert!(
        waited.status.success(),
        "{}",
        String::from_utf8_lossy(&waited.stderr)
    );
    assert!(String::from_utf8_lossy(&waited.stdout).contains("succeeded"));
    assert!(exports.join("tool.2.0.0.upack").exists());

    let second = request().await;
    let waited = cli
        .command(&["op", "wait", &second])
        .output()
        .await
        .unwrap();
    assert_eq!(
        waited.status.code(),
        Some(1),
        "a failed operation fails the command"
    );
    let said = String::from_utf8_lossy(&waited.stdout);
    assert!(
        said.contains("409 (blob_exists)") && said.contains("tool.2.0.0.upack"),
        "{said}"
    );

    let failed = cli.run(&["op", "list", "--state", "failed"]).await;
    assert!(
        failed.contains(&second) && !failed.contains(&first),
        "{failed}"
    );
    let shown: Value = serde_json::from_str(&cli.run(&["op", "show", &first]).await).unwrap();
    assert_eq!(shown["state"], "succeeded");
    assert_eq!(shown["result"]["files"].as_array().unwrap().len(), 2);
    child.kill().await.unwrap();
}

dual_backend_tests!(
    an_export_writes_the_stored_bytes_and_refuses_to_overwrite,
    bad_export_requests_are_refused_before_anything_is_queued,
    leases_give_each_operation_to_one_worker_and_retry_the_interrupted,
    op_wait_exits_with_the_operations_outcome,
);
