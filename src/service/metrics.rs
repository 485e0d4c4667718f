//! What `/metrics` reports, in the Prometheus text format.
//!
//! Each figure is read when the scraper asks (a [`Collector`]), from where
//! it already lives: the access log's counter of dropped lines, the
//! database pool. Nothing is counted on the request path for this page.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::Wharf;
use crate::telemetry::access;

/// The page's content type.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics of `wharf`'s process, as text.
pub fn render(wharf: &Wharf) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Figures {
        access_log_dropped_lines: access::dropped_lines(),
        connections: wharf.db.connections(),
    }));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}

/// The figures of one scrape.
#[derive(Debug)]
struct Figures {
    access_log_dropped_lines: u64,
    /// Open and idle database connections.
    connections: (u32, usize),
}

impl Collector for Figures {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
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
