//! `wharf import`: many packages stored through the publish path from the
//! command line (files, directories, a tar stream on stdin), then served by
//! `wharf serve` on the same database, byte for byte.

use std::process::Stdio;

use reqwest::StatusCode;
use tokio::io::AsyncWriteExt;

use crate::cli::{Cli, free_port, serve};
use crate::helpers::{Backend, fixture_dir, fixtures};

/// A tar stream of `packages` (name, bytes).
fn tar_of(packages: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut archive = tar::Builder::new(Vec::new());
    for (name, bytes) in packages {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        archive
            .append_data(&mut header, name, bytes.as_slice())
            .unwrap();
    }
    archive.into_inner().unwrap()
}

async fn import_with_stdin(cli: &Cli, args: &[&str], stdin: Vec<u8>) -> std::process::Output {
    let mut child = cli
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(&stdin).await.unwrap();
    drop(input);
    child.wait_with_output().await.unwrap()
}

async fn packages_imported_from_files_and_a_tar_stream_are_served(backend: Backend) {
    let cli = Cli::new(backend).await;
    cli.run(&["migrate"]).await;
    cli.run(&["feed", "create", "moved"]).await;

    // The real-world packages from their directory, and virtual packages
    // from a tar stream on stdin.
    let vpacks: Vec<(String, Vec<u8>)> = (0..150)
        .map(|i| {
            let manifest = serde_json::json!({
                "group": "releases", "name": "app", "version": format!("1.{i}.0"),
                "contents": ["tools/compiler:2.0.0"],
            });
            (
                format!("app-1.{i}.0.vpack"),
                serde_json::to_vec(&manifest).unwrap(),
            )
        })
        .collect();
    let upacks = fixture_dir("upack-valid");
    let output = import_with_stdin(
        &cli,
        &["import", "moved", upacks.to_str().unwrap(), "-"],
        tar_of(&vpacks),
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let fixture_count = fixtures("upack-valid").len();
    assert!(
        stderr.contains(&format!(
            "imported {} packages into 'moved'; 0 were already there, 0 failed",
            fixture_count + vpacks.len()
        )),
        "{stderr}"
    );

    let key = cli
        .run(&["key", "create", "--permissions", "view,download"])
        .await;
    let key = key.trim();
    let port = free_port();
    let (mut child, _) = serve(&cli, port, &[]).await;
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/upack/moved");
    let latest = client
        .get(format!("{base}/download-vpack/releases/app?latest"))
        .header("X-ApiKey", key)
        .send()
        .await
        .unwrap();
    assert_eq!(latest.status(), StatusCode::OK);
    let manifest: serde_json::Value = latest.json().await.unwrap();
    assert_eq!(manifest["version"], "1.149.0", "{manifest}");
    let stored = std::fs::read(upacks.join("UniversalPackageTest-0.1.1.upack")).unwrap();
    let download = client
        .get(format!("{base}/download/UniversalPackageTest/0.1.1"))
        .header("X-ApiKey", key)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.bytes().await.unwrap().as_ref(), stored.as_slice());
    child.kill().await.unwrap();
}

async fn bad_imports_say_why_in_one_sentence(backend: Backend) {
    let cli = Cli::new(backend).await;
    cli.run(&["migrate"]).await;
    let missing_feed = import_with_stdin(&cli, &["import", "nowhere", "-"], Vec::new()).await;
    assert!(!missing_feed.status.success());
    let stderr = String::from_utf8_lossy(&missing_feed.stderr);
    assert_eq!(stderr.trim(), "wharf: The feed 'nowhere' does not exist.");

    cli.run(&["feed", "create", "moved"]).await;
    let good = serde_json::to_vec(
        &serde_json::json!({"name": "ok", "version": "1.0.0", "contents": ["tools/lib:1.0.0"]}),
    )
    .unwrap();
    let entries = vec![
        ("ok-1.0.0.vpack".to_owned(), good),
        ("broken.upack".to_owned(), b"not a zip at all".to_vec()),
    ];
    let output = import_with_stdin(&cli, &["import", "moved", "-"], tar_of(&entries)).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("-:broken.upack: ")
            && stderr.contains("imported 1 packages into 'moved'; 0 were already there, 1 failed"),
        "{stderr}"
    );
    let damaged = import_with_stdin(&cli, &["import", "moved", "-"], b"garbage".to_vec()).await;
    assert!(!damaged.status.success());
    assert!(
        String::from_utf8_lossy(&damaged.stderr)
            .contains("the tar stream on standard input is damaged"),
        "{}",
        String::from_utf8_lossy(&damaged.stderr)
    );
}

dual_backend_tests!(
    packages_imported_from_files_and_a_tar_stream_are_served,
    bad_imports_say_why_in_one_sentence,
);
