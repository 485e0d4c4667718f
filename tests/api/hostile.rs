//! Hostile packages: each is refused with a 4xx and a sentence, nothing is
//! stored, no spool file is left, the server keeps answering, and memory
//! stays bounded (nothing is inflated to find out).

use std::io::Write;

use reqwest::StatusCode;
use zip::write::SimpleFileOptions;

use crate::helpers::{Backend, UpackBuilder, expect_status, raw_request, spawn_app_with};

const MANIFEST: &[u8] = br#"{"name":"evil","version":"1.0.0"}"#;

/// A zip built entry by entry; `raw_entries` are written as given.
fn zip_of(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(method)
        .large_file(false);
    for (name, content) in entries {
        writer.start_file(*name, options).unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn with_manifest(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut all: Vec<(&str, &[u8])> = vec![("upack.json", MANIFEST)];
    all.extend_from_slice(entries);
    zip_of(&all, zip::CompressionMethod::Deflated)
}

fn replace_all(mut bytes: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut start = 0;
    while let Some(at) = bytes[start..].windows(from.len()).position(|w| w == from) {
        bytes[start + at..start + at + to.len()].copy_from_slice(to);
        start += at + to.len();
    }
    bytes
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

async fn hostile_packages_are_refused_with_a_sentence_and_leave_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.limits.max_compression_ratio = 100;
        s.limits.max_inflated_bytes = 256 * 1024 * 1024;
    })
    .await;

    let zeros = vec![0u8; 8 * 1024 * 1024];
    let symlink = {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        writer
            .start_file("upack.json", SimpleFileOptions::default())
            .unwrap();
        writer.write_all(MANIFEST).unwrap();
        writer
            .add_symlink("package/link", "/etc/passwd", SimpleFileOptions::default())
            .unwrap();
        writer.finish().unwrap().into_inner()
    };
    let duplicate = replace_all(
        with_manifest(&[("package/aa.txt", b"one"), ("package/bb.txt", b"two")]),
        b"package/bb.txt",
        b"package/aa.txt",
    );
    let lying_size = {
        // Declares 300 MiB of content in a 2-byte entry: refused by the
        // declared total, without inflating anything.
        let bytes = with_manifest(&[("package/x.bin", b"xy")]);
        let mut patched = bytes.clone();
        let central = bytes.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap();
        patched[central + 24..central + 28].copy_from_slice(&(300u32 * 1024 * 1024).to_le_bytes());
        patched
    };
    let many_entries = {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        writer.start_file("upack.json", options).unwrap();
        writer.write_all(MANIFEST).unwrap();
        for i in 0..100_000 {
            writer.start_file(format!("package/{i}"), options).unwrap();
        }
        writer.finish().unwrap().into_inner()
    };
    let huge_manifest = {
        let mut manifest = br#"{"name":"evil","version":"1.0.0","x":""#.to_vec();
        // Letters that do not compress, so the size limit, not the ratio, speaks.
        manifest.extend(
            (0..10 * 1024 * 1024u32)
                .map(|i| b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26),
        );
        manifest.extend_from_slice(br#""}"#);
        UpackBuilder::new("", "evil", "1.0.0")
            .raw_manifest(&manifest)
            .build()
    };
    let deep_json = {
        let nested = format!(
            r#"{{"name":"evil","version":"1.0.0","x":{}{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        UpackBuilder::new("", "evil", "1.0.0")
            .raw_manifest(nested.as_bytes())
            .build()
    };
    let full = with_manifest(&[("package/a.txt", b"hello world")]);

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "zip bomb by ratio",
            with_manifest(&[("package/zeros.bin", &zeros)]),
            "zip bomb",
        ),
        (
            "declared size beyond the limit",
            lying_size,
            "inflates to more than",
        ),
        (
            "parent directory entry",
            with_manifest(&[("package/../../etc/cron.d/x", b"x")]),
            "unsafe path",
        ),
        (
            "absolute entry",
            with_manifest(&[("/etc/passwd", b"x")]),
            "unsafe path",
        ),
        (
            "drive letter entry",
            with_manifest(&[("C:\\Windows\\x.dll", b"x")]),
            "unsafe path",
        ),
        (
            "backslash traversal",
            with_manifest(&[("package\\..\\..\\x", b"x")]),
            "unsafe path",
        ),
        ("symbolic link", symlink, "symbolic link"),
        ("duplicate names", duplicate, "distinct names"),
        ("100,000 entries", many_entries, "100001 entries"),
        ("10 MiB upack.json", huge_manifest, "larger than"),
        (
            "invalid UTF-8 manifest",
            UpackBuilder::new("", "e", "1.0.0")
                .raw_manifest(b"{\"name\":\"\xff\xfe\"}")
                .build(),
            "UTF-8",
        ),
        ("JSON nested 10,000 deep", deep_json, "nest JSON"),
        (
            "truncated zip",
            full[..full.len() / 2].to_vec(),
            "not a readable zip",
        ),
        (
            "central directory only",
            full[full.len() - 22..].to_vec(),
            "not a readable zip",
        ),
        (
            "JSON manifest nested 10,000 deep",
            format!(
                r#"{{"name":"e","version":"1.0.0","contents":["a:1.0.0"],"x":{}{}}}"#,
                "[".repeat(10_000),
                "]".repeat(10_000)
            )
            .into_bytes(),
            "nest JSON",
        ),
        (
            "random bytes",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
                .collect(),
            "neither a zip",
        ),
    ];
    let baseline = peak_rss_kib();
    for (case, body, expected) in cases {
        let response = app.upload("default", body).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {text}");
        assert!(
            text.contains(expected),
            "{case}: {text:?} should mention {expected:?}"
        );
        assert!(
            text.ends_with('.') && !text.contains('\n'),
            "{case}: one sentence, got {text:?}"
        );
        expect_status(app.get("/health").await, StatusCode::OK).await;
    }
    let grew_mib = peak_rss_kib().saturating_sub(baseline) / 1024;
    assert!(
        grew_mib < 256,
        "memory grew {grew_mib} MiB while refusing hostile packages"
    );
    assert!(app.versions("default").await.is_empty());
    assert_eq!(app.stored_blob_count().await, 0);
    assert_eq!(app.temp_file_count(), 0);
}

async fn a_body_shorter_than_its_content_length_stores_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.limits.upload_idle_seconds = 2).await;
    let package = UpackBuilder::new("", "short", "1.0.0").build();
    let head = format!(
        "PUT /upack/default/upload HTTP/1.1\r\nHost: x\r\nX-ApiKey: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        app.admin_key,
        package.len() + 1000
    );
    // raw_request sends the head and the (short) body, then waits: the server
    // times the stalled body out or sees the connection end; either way 4xx.
    let exchange = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        raw_request(&app.base, &head, &package),
    );
    if let Ok((status, _, _)) = exchange.await {
        assert!((400..500).contains(&status), "status {status}");
    }
    expect_status(app.get("/health").await, StatusCode::OK).await;
    assert!(app.versions("default").await.is_empty());
    for _ in 0..50 {
        if app.temp_file_count() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.temp_file_count(),
        0,
        "the spool file of an incomplete upload is removed"
    );
}

dual_backend_tests!(
    hostile_packages_are_refused_with_a_sentence_and_leave_nothing,
    a_body_shorter_than_its_content_length_stores_nothing,
);
