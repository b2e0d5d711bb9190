//! Prometheus: the live figures as metrics, served on `/metrics` (loopback by default) and/or
//! pushed to a Pushgateway. Both read the latest [`Snapshot`]; nothing here touches the
//! request path.
//!
//! Metric names follow the seed (`kaioken_requests_total`, `kaioken_latency_p99_ms`, ...),
//! plus a real histogram, `kaioken_request_duration_seconds`, so PromQL's
//! `histogram_quantile` works across instances, and per-status / per-error-kind counters.
//! Every metric carries a `target` label (the redacted URL); `job` and `instance` are
//! Prometheus' own target labels (from the scrape config, or the Pushgateway's grouping key).

pub mod push;
pub mod serve;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::watch;

use crate::aggregate::{LATENCY_BUCKETS_US, Snapshot};

pub use crate::plan::outputs::{PrometheusConfig, PushConfig};

/// What does not change during a run.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub target: String,
    pub max_vus: u64,
}

#[derive(Debug)]
struct SnapshotCollector {
    rx: watch::Receiver<Snapshot>,
    info: RunInfo,
}

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    labels: &[(&str, &str)],
    v: u64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(v);
    let mut m = enc.encode_descriptor(name, help, None, c.metric_type())?;
    c.encode(m.encode_family(&labels)?)
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    labels: &[(&str, &str)],
    v: f64,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(v);
    let mut m = enc.encode_descriptor(name, help, None, g.metric_type())?;
    g.encode(m.encode_family(&labels)?)
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.rx.borrow().clone();
        let t = [("target", self.info.target.as_str())];
        let e = &mut enc;
        counter(
            e,
            "kaioken_requests",
            "Requests completed (with a response or an error).",
            &t,
            s.requests,
        )?;
        counter(
            e,
            "kaioken_requests_success",
            "Responses with status < 400.",
            &t,
            s.successful,
        )?;
        counter(
            e,
            "kaioken_requests_failed",
            "Transport errors plus responses with status >= 400.",
            &t,
            s.failed,
        )?;
        counter(
            e,
            "kaioken_bytes_received",
            "Bytes read from the wire.",
            &t,
            s.bytes_received,
        )?;
        counter(
            e,
            "kaioken_dropped_iterations",
            "Open-model iterations that found no free VU.",
            &t,
            s.dropped,
        )?;
        gauge(
            e,
            "kaioken_rps",
            "Requests completed in the last complete second.",
            &t,
            s.current_rps,
        )?;
        let error_rate = if s.requests > 0 {
            s.failed as f64 / s.requests as f64
        } else {
            0.0
        };
        gauge(
            e,
            "kaioken_error_rate",
            "Failed / completed requests since the start (0-1).",
            &t,
            error_rate,
        )?;
        for (name, v) in [
            ("kaioken_latency_p50_ms", s.p50_us),
            ("kaioken_latency_p95_ms", s.p95_us),
            ("kaioken_latency_p99_ms", s.p99_us),
            ("kaioken_latency_p999_ms", s.p999_us),
        ] {
            gauge(
                e,
                name,
                "Latency percentile since the start, in ms (the run's latency measure).",
                &t,
                v as f64 / 1000.0,
            )?;
        }
        gauge(
            e,
            "kaioken_vus_active",
            "Virtual users running.",
            &t,
            s.vus as f64,
        )?;
        gauge(
            e,
            "kaioken_vus_max",
            "Virtual users the model may run.",
            &t,
            self.info.max_vus as f64,
        )?;

        // Per status code and per error kind.
        let c = ConstCounter::new(0u64);
        let mut m = e.encode_descriptor(
            "kaioken_responses",
            "Responses by status code.",
            None,
            c.metric_type(),
        )?;
        for (code, n) in &s.status {
            let code = code.to_string();
            ConstCounter::new(*n).encode(m.encode_family(&[
                ("target", self.info.target.as_str()),
                ("status", code.as_str()),
            ])?)?;
        }
        let mut m = e.encode_descriptor(
            "kaioken_errors",
            "Transport errors by kind.",
            None,
            c.metric_type(),
        )?;
        for (kind, n) in &s.errors {
            ConstCounter::new(*n).encode(
                m.encode_family(&[("target", self.info.target.as_str()), ("kind", *kind)])?,
            )?;
        }

        // Streams and messages (gRPC, WebSocket, SSE, chunks): only when there are any.
        if s.messages > 0 {
            counter(
                e,
                "kaioken_messages",
                "Messages received: gRPC replies, WebSocket replies, SSE events or chunks.",
                &t,
                s.messages,
            )?;
            let timings = [
                (
                    "kaioken_time_to_first_message_p99_ms",
                    "From a request's (intended) send to its reply's first message, p99 in ms.",
                    s.first_message,
                ),
                (
                    "kaioken_message_gap_p99_ms",
                    "Between consecutive messages of one reply, p99 in ms.",
                    s.message_gap,
                ),
                (
                    "kaioken_message_latency_p99_ms",
                    "Reply k from request message k's send (bidirectional streams), p99 in ms.",
                    s.message_latency,
                ),
            ];
            for (name, help, timing) in timings {
                gauge(e, name, help, &t, timing.p99_us as f64 / 1000.0)?;
            }
        }

        if !s.latency_buckets.is_empty() {
            let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS_US
                .iter()
                .map(|us| *us as f64 / 1e6)
                .chain(std::iter::once(f64::INFINITY))
                .zip(s.latency_buckets.iter().copied())
                .collect();
            let count = s.latency_buckets.iter().sum();
            let mut m = e.encode_descriptor(
                "kaioken_request_duration",
                "Request latency (the run's latency measure).",
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            m.encode_family(&t)?
                .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                    s.latency_sum_us / 1e6,
                    count,
                    &buckets,
                    None,
                )?;
        }
        Ok(())
    }
}

/// A registry whose single collector renders the latest snapshot on every scrape or push.
pub fn registry(rx: watch::Receiver<Snapshot>, info: RunInfo) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(SnapshotCollector { rx, info }));
    r
}

/// OpenMetrics text, as `/metrics` serves it.
pub fn openmetrics(r: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, r).expect("writing to a String");
    out
}

/// The same figures in the classic text format 0.0.4, which Pushgateway parses: a counter's
/// `# TYPE` names the sample (`x_total`, not OpenMetrics' `x`), and `# UNIT`/`# EOF` go.
/// (Pushgateway reads OpenMetrics counters as untyped; Prometheus scrapes either.)
pub fn text_004(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# EOF") || line.starts_with("# UNIT ") {
            continue;
        }
        let fixed = match line.strip_suffix(" counter") {
            Some(head) if line.starts_with("# TYPE ") => format!("{head}_total counter"),
            _ => match line.strip_prefix("# HELP ") {
                Some(rest) if is_counter_help(openmetrics, rest) => {
                    let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                    format!("# HELP {name}_total {help}")
                }
                _ => line.to_string(),
            },
        };
        out.push_str(&fixed);
        out.push('\n');
    }
    out
}

/// Whether the `# HELP` line `rest` belongs to a counter family.
fn is_counter_help(text: &str, rest: &str) -> bool {
    let name = rest.split(' ').next().unwrap_or_default();
    text.contains(&format!("# TYPE {name} counter"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            requests: 1234,
            successful: 1200,
            failed: 34,
            status: vec![
                (crate::aggregate::Snapshot::http(200), 1200),
                (crate::aggregate::Snapshot::http(500), 34),
            ],
            errors: vec![],
            p99_us: 12_500,
            latency_buckets: {
                let mut b = vec![0; LATENCY_BUCKETS_US.len() + 1];
                b[2] = 1000;
                b[5] = 234;
                b
            },
            latency_sum_us: 3_000_000.0,
            ..Snapshot::default()
        }
    }

    #[test]
    fn message_metrics_appear_with_messages() {
        let mut s = snapshot();
        s.messages = 4_321;
        s.first_message.p99_us = 8_500;
        let (_tx, rx) = watch::channel(s);
        let r = registry(
            rx,
            RunInfo {
                target: "grpc".into(),
                max_vus: 1,
            },
        );
        let text = openmetrics(&r);
        for want in [
            "kaioken_messages_total{target=\"grpc\"} 4321",
            "kaioken_time_to_first_message_p99_ms{target=\"grpc\"} 8.5",
            "kaioken_message_gap_p99_ms{target=\"grpc\"} 0",
        ] {
            assert!(text.contains(want), "missing {want} in {text}");
        }
    }

    #[test]
    fn metrics_carry_the_snapshot() {
        let (_tx, rx) = watch::channel(snapshot());
        let r = registry(
            rx,
            RunInfo {
                target: "http://127.0.0.1:1/".into(),
                max_vus: 50,
            },
        );
        let text = openmetrics(&r);
        assert!(
            text.contains("kaioken_requests_total{target=\"http://127.0.0.1:1/\"} 1234"),
            "{text}"
        );
        assert!(
            text.contains(
                "kaioken_responses_total{target=\"http://127.0.0.1:1/\",status=\"500\"} 34"
            ),
            "{text}"
        );
        assert!(
            text.contains("kaioken_latency_p99_ms{target=\"http://127.0.0.1:1/\"} 12.5"),
            "{text}"
        );
        assert!(text.contains("kaioken_request_duration_seconds_bucket{le=\"0.0025\",target=\"http://127.0.0.1:1/\"} 1000"), "{text}");
        assert!(text.contains("kaioken_request_duration_seconds_bucket{le=\"+Inf\",target=\"http://127.0.0.1:1/\"} 1234"), "{text}");
        assert!(
            text.contains(
                "kaioken_request_duration_seconds_count{target=\"http://127.0.0.1:1/\"} 1234"
            ),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
        // No messages, no message metrics.
        assert!(!text.contains("kaioken_messages"), "{text}");

        let classic = text_004(&text);
        assert!(
            classic.contains("# TYPE kaioken_requests_total counter"),
            "{classic}"
        );
        assert!(
            classic.contains("# HELP kaioken_requests_total Requests"),
            "{classic}"
        );
        assert!(classic.contains("# TYPE kaioken_rps gauge"), "{classic}");
        assert!(!classic.contains("# EOF") && !classic.contains("# UNIT"));
    }
}
