//! What `/metrics` reports, in the Prometheus text format.
//!
//! Each figure is read when the scraper asks (a [`Collector`]), from where
//! it already lives: requests and bytes (`telemetry::request_metrics`,
//! counted as requests end), cache hits (`cache`), operations by state (one
//! query), the database pool, the access log's counter of dropped lines.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use prometheus_client::metrics::MetricType;

use super::Wharf;
use crate::db;
use crate::error::{OrInternal, ServiceError};
use crate::telemetry::{access, request_metrics};

/// The page's content type.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics of `wharf`'s process, as text.
pub async fn render(wharf: &Wharf) -> Result<String, ServiceError> {
    // Without the database the other figures still matter most.
    let operations = db::operations::count_by_kind_and_state(&wharf.db)
        .await
        .inspect_err(|error| tracing::warn!(%error, "metrics: operations not counted"))
        .unwrap_or_default();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Figures {
        access_log_dropped_lines: access::dropped_lines(),
        connections: wharf.db.connections(),
        caches: wharf.caches.hit_counts(),
        operations,
    }));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .or_internal("rendering the metrics")?;
    Ok(text)
}

/// The figures of one scrape.
#[derive(Debug)]
struct Figures {
    access_log_dropped_lines: u64,
    /// Open and idle database connections.
    connections: (u32, usize),
    /// Each cache's hits and misses.
    caches: [(&'static str, (u64, u64)); 6],
    /// Operations: kind, state, how many.
    operations: Vec<(String, String, i64)>,
}

impl Collector for Figures {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        if let Some(requests) = request_metrics::get() {
            requests.encode(&mut encoder)?;
        }
        encode_per_cache(
            &mut encoder,
            "wharf_cache_hits",
            "Reads answered from an in-process cache, by cache.",
            self.caches.map(|(cache, (hits, _))| (cache, hits)),
        )?;
        encode_per_cache(
            &mut encoder,
            "wharf_cache_misses",
            "Reads a cache could not answer (loaded from the database or the store).",
            self.caches.map(|(cache, (_, misses))| (cache, misses)),
        )?;
        let mut family = encoder.encode_descriptor(
            "wharf_operations",
            "Operations (export, pull) in the database, by kind and state (all processes).",
            None,
            MetricType::Gauge,
        )?;
        for (kind, state, count) in &self.operations {
            ConstGauge::new(*count).encode(
                family.encode_family(&[("kind", kind.as_str()), ("state", state.as_str())])?,
            )?;
        }
        let dropped = ConstCounter::new(self.access_log_dropped_lines);
        dropped.encode(encoder.encode_descriptor(
            "wharf_access_log_dropped_lines",
            "Access-log lines dropped because the log writer fell behind.",
            None,
            dropped.metric_type(),
        )?)?;
        let (open, idle) = self.connections;
        let open = ConstGauge::new(i64::from(open));
        open.encode(encoder.encode_descriptor(
            "wharf_database_connections",
            "Connections open in the database pool.",
            None,
            open.metric_type(),
        )?)?;
        let idle = ConstGauge::new(i64::try_from(idle).unwrap_or(i64::MAX));
        idle.encode(encoder.encode_descriptor(
            "wharf_database_connections_idle",
            "Open database connections not in use.",
            None,
            idle.metric_type(),
        )?)?;
        Ok(())
    }
}

/// One counter family with a series per cache.
fn encode_per_cache(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    values: [(&'static str, u64); 6],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (cache, value) in values {
        ConstCounter::new(value).encode(family.encode_family(&[("cache", cache)])?)?;
    }
    Ok(())
}
