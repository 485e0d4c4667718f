//! Load generator for `bench/run` case G: many small distinct packages,
//! uploaded by a few keep-alive clients, the way a CI farm publishes.
//!
//! ```text
//! upload_burst <url-prefix> <count> <clients> <tag> [header]
//! ```
//!
//! Builds `count` distinct `.upack` files in memory (group `burst`, name
//! `<tag>-<n>`, version 1.0.0, one small text file: about 700 bytes each),
//! then `clients` tasks, each on one keep-alive connection, `PUT` them to
//! `<url-prefix>` (Wharf's `/upack/<feed>/upload`) or, when the prefix ends in
//! `/`, to `<url-prefix><tag>-<n>.upack` (nginx `WebDAV`). Prints one JSON line:
//! count, seconds, uploads per second, p50/p99 latency in microseconds, bytes
//! per package, failures. Any failure exits non-zero after printing.
//!
//! A program rather than wrk: every request has its own body and the run
//! stops after exactly `count` uploads.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn package(tag: &str, n: usize) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let manifest = format!(
        r#"{{"group":"burst","name":"{tag}-{n:05}","version":"1.0.0","title":"Build output {n} of run {tag}","description":"A small package as a CI job publishes it: one per commit and component, with its build number, commit and a short text; about the size of the packages the issue measured.","tags":["ci","burst"]}}"#
    );
    zip.start_file("upack.json", options).unwrap();
    zip.write_all(manifest.as_bytes()).unwrap();
    zip.start_file("package/build-info.txt", options).unwrap();
    writeln!(zip, "run {tag}, build {n}: commit {:040x}", n * 7919).unwrap();
    writeln!(
        zip,
        "built by bench/run case G on loopback; nothing here is secret."
    )
    .unwrap();
    zip.finish().unwrap().into_inner()
}

fn percentile(sorted: &[Duration], p: f64) -> u128 {
    if sorted.is_empty() {
        return 0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_micros()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: upload_burst <url-prefix> <count> <clients> <tag> [header: value]");
        std::process::exit(2);
    }
    let (prefix, tag) = (args[1].clone(), args[4].clone());
    let count: usize = args[2].parse().expect("count is a number");
    let clients: usize = args[3].parse().expect("clients is a number");
    let header = args.get(5).map(|h| {
        let (name, value) = h.split_once(':').expect("header is 'Name: value'");
        (name.trim().to_owned(), value.trim().to_owned())
    });
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new((0..count).map(|n| package(&tag, n)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (bodies, next, failures) = (bodies.clone(), next.clone(), failures.clone());
        let (prefix, tag, header) = (prefix.clone(), tag.clone(), header.clone());
        tasks.push(tokio::spawn(async move {
            // One client per task: one keep-alive connection each.
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(n) else { break };
                let url = if prefix.ends_with('/') {
                    format!("{prefix}{tag}-{n:05}.upack")
                } else {
                    prefix.clone()
                };
                let mut request = client.put(url).body(body.clone());
                if let Some((name, value)) = &header {
                    request = request.header(name, value);
                }
                let sent = Instant::now();
                match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        latencies.push(sent.elapsed());
                    }
                    Ok(response) => {
                        if failures.fetch_add(1, Ordering::Relaxed) < 3 {
                            let status = response.status();
                            let text = response.text().await.unwrap_or_default();
                            eprintln!("upload {n}: {status} {text}");
                        }
                    }
                    Err(e) => {
                        if failures.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("upload {n}: {e}");
                        }
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    let failures = failures.load(Ordering::Relaxed);
    #[allow(clippy::cast_precision_loss)]
    let rate = latencies.len() as f64 / seconds;
    println!(
        r#"{{"count":{count},"seconds":{seconds:.3},"rate":{rate:.1},"p50_us":{},"p99_us":{},"package_bytes":{},"failures":{failures}}}"#,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        bodies.iter().map(Vec::len).sum::<usize>() / count.max(1),
    );
    if failures > 0 {
        std::process::exit(1);
    }
}
