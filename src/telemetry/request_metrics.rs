//! Requests by route and status class, with latency histograms, and the
//! body bytes in and out: what `/metrics` says about traffic.
//!
//! These are counted on the request path, at tens of thousands of requests a
//! second, so they live in plain atomics in a table fixed at start (one row
//! per route in the route table, one per status class), not behind a lock
//! or in a map that grows: recording a request is a lookup of its route's
//! name and three relaxed additions. A route is its pattern
//! (`/upack/{feed}/download/{tail:.*}`), never the path asked for, so the
//! number of series is bounded whatever clients send.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

/// Upper bounds of the latency buckets, in seconds (`+Inf` follows).
const BUCKETS_SECONDS: [f64; 12] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Status classes, by the status's first digit.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The label of requests no route matched.
const UNMATCHED: &str = "unmatched";

/// One latency histogram.
#[derive(Default)]
struct Histogram {
    /// Per bucket, then `+Inf`; not cumulative (the encoder adds them up).
    buckets: [AtomicU64; BUCKETS_SECONDS.len() + 1],
    sum_micros: AtomicU64,
}

/// The process's traffic figures.
pub struct RequestMetrics {
    routes: Vec<String>,
    slots: HashMap<String, usize>,
    /// `routes.len()` rows of `CLASSES.len()` histograms.
    histograms: Vec<Histogram>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

static METRICS: OnceLock<RequestMetrics> = OnceLock::new();

/// Sets up the table for `routes` (the route table's patterns); the first
/// call wins (tests start several servers in one process, on one table).
pub fn install(routes: impl IntoIterator<Item = String>) -> &'static RequestMetrics {
    METRICS.get_or_init(|| {
        let mut names: Vec<String> = routes.into_iter().collect();
        names.push(UNMATCHED.to_owned());
        names.dedup();
        let slots = names
            .iter()
            .enumerate()
            .map(|(slot, name)| (name.clone(), slot))
            .collect();
        let histograms = std::iter::repeat_with(Histogram::default)
            .take(names.len() * CLASSES.len())
            .collect();
        RequestMetrics {
            routes: names,
            slots,
            histograms,
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
        }
    })
}

/// The table, once installed.
pub fn get() -> Option<&'static RequestMetrics> {
    METRICS.get()
}

impl RequestMetrics {
    /// The row of the route named `route` (its pattern), or of unmatched
    /// requests.
    pub fn slot(&self, route: Option<&str>) -> usize {
        route
            .and_then(|name| self.slots.get(name).copied())
            .unwrap_or(self.routes.len() - 1)
    }

    /// Counts a request of route `slot`, answered `status` after `elapsed`
    /// with `bytes_out` body bytes.
    pub fn record(&self, slot: usize, status: u16, elapsed: Duration, bytes_out: u64) {
        let class = usize::from(status / 100).clamp(1, CLASSES.len()) - 1;
        let histogram = &self.histograms[slot * CLASSES.len() + class];
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS_SECONDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS_SECONDS.len());
        histogram.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        histogram.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes_out, Ordering::Relaxed);
    }

    /// Counts `bytes` of request bodies received.
    pub fn received(&self, bytes: u64) {
        self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Writes the figures: one histogram per route and class that has seen
    /// a request, and the byte counters.
    pub fn encode(&self, encoder: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "wharf_http_request_duration_seconds",
            "Time from a request's arrival to its response's last byte, by route pattern and status class.",
            None,
            MetricType::Histogram,
        )?;
        for (row, route) in self.routes.iter().enumerate() {
            for (column, class) in CLASSES.iter().enumerate() {
                let histogram = &self.histograms[row * CLASSES.len() + column];
                let counts: Vec<u64> = histogram
                    .buckets
                    .iter()
                    .map(|b| b.load(Ordering::Relaxed))
                    .collect();
                let count: u64 = counts.iter().sum();
                if count == 0 {
                    continue;
                }
                let buckets: Vec<(f64, u64)> = BUCKETS_SECONDS
                    .iter()
                    .copied()
                    .chain([f64::MAX])
                    .zip(counts)
                    .collect();
                #[allow(clippy::cast_precision_loss)]
                let sum = histogram.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
                let labels = [("route", route.as_str()), ("status", *class)];
                family
                    .encode_family(&labels)?
                    .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            }
        }
        for (name, help, counter) in [
            (
                "wharf_http_request_body_bytes",
                "Request body bytes received (uploads).",
                &self.bytes_in,
            ),
            (
                "wharf_http_response_body_bytes",
                "Response body bytes sent.",
                &self.bytes_out,
            ),
        ] {
            encoder
                .encode_descriptor(name, help, None, MetricType::Counter)?
                .encode_counter::<NoLabelSet, _, u64>(&counter.load(Ordering::Relaxed), None)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_land_in_their_route_class_and_bucket() {
        let metrics = install(["/a".to_owned(), "/b/{x}".to_owned()]);
        let a = metrics.slot(Some("/a"));
        metrics.record(a, 200, Duration::from_micros(300), 10);
        metrics.record(a, 200, Duration::from_millis(3), 20);
        metrics.record(metrics.slot(Some("/nope")), 404, Duration::from_secs(9), 5);
        metrics.received(7);
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(Encoded));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "wharf_http_request_duration_seconds_count{route=\"/a\",status=\"2xx\"} 2",
            "wharf_http_request_duration_seconds_bucket{le=\"0.0005\",route=\"/a\",status=\"2xx\"} 1",
            "wharf_http_request_duration_seconds_bucket{le=\"0.005\",route=\"/a\",status=\"2xx\"} 2",
            "wharf_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"unmatched\",status=\"4xx\"} 1",
            "wharf_http_request_body_bytes_total 7",
            "wharf_http_response_body_bytes_total 35",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(
            !text.contains("route=\"/b/{x}\""),
            "no series before a request"
        );
    }

    #[derive(Debug)]
    struct Encoded;

    impl prometheus_client::collector::Collector for Encoded {
        fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
            get().unwrap().encode(&mut encoder)
        }
    }
}
