//! Thresholds judged: on the final [`Results`] for the exit code and every output, and on
//! live [`Snapshot`]s for `--fail-fast`.

pub mod capacity;

use crate::aggregate::Snapshot;
use crate::plan::thresholds::{Metric, Observed, Threshold};
use crate::results::units::fmt_value;
use crate::results::{Results, ThresholdResult};

/// Live judgement waits for this many requests, so one slow first request (a cold cache,
/// a TLS handshake) cannot end a run.
pub const FAIL_FAST_MIN_REQUESTS: u64 = 100;

fn unit(metric: Metric) -> &'static str {
    match metric {
        Metric::Quantile(_) | Metric::MeanLatency | Metric::MaxLatency => "ms",
        Metric::FirstMessage(_) | Metric::MessageGap(_) | Metric::MessageLatency(_) => "ms",
        Metric::ErrorRate | Metric::CheckPassRate | Metric::GrpcOkRate => "ratio",
        Metric::MessagesPerSec => "messages/s",
        Metric::Rps => "req/s",
        Metric::DroppedIterations => "count",
        Metric::AchievedRateRatio => "ratio",
        Metric::Generator => "verdict",
    }
}

/// The latency part of [`Observed`] from stored statistics; the rest as given.
fn from_stats(
    l: &crate::results::LatencyStats,
    error_rate: f64,
    rps: f64,
    check_pass_rate: Option<f64>,
    dropped_iterations: u64,
) -> Observed {
    Observed {
        quantiles_us: [
            (0.50, l.p50),
            (0.75, l.p75),
            (0.90, l.p90),
            (0.95, l.p95),
            (0.99, l.p99),
            (0.999, l.p999),
        ],
        mean_us: l.mean,
        max_us: l.max,
        error_rate,
        rps,
        check_pass_rate,
        dropped_iterations,
        grpc_ok_rate: None,
        messages_per_sec: None,
        first_message_us: None,
        message_gap_us: None,
        message_latency_us: None,
        achieved_rate_ratio: None,
        generator: None,
    }
}

fn from_results(r: &Results) -> Observed {
    let mut o = from_stats(
        &r.latency_us,
        r.summary.error_rate,
        r.summary.requests_per_sec,
        r.check_pass_rate(),
        r.summary.dropped_iterations,
    );
    o.grpc_ok_rate = grpc_ok_rate(&r.status_codes, r.summary.total_requests);
    o.achieved_rate_ratio = r
        .load
        .target_rate
        .filter(|t| *t > 0.0)
        .map(|t| r.load.achieved_rate / t);
    o.generator = r.health.as_ref().map(|h| if h.is_ok() { 0.0 } else { 1.0 });
    if let Some(m) = &r.messages {
        o.messages_per_sec = Some(m.per_sec);
        let l = &m.time_to_first_us;
        o.first_message_us = Some([(0.50, l.p50), (0.95, l.p95), (0.99, l.p99)]);
        let g = &m.gap_us;
        o.message_gap_us = (g.count > 0).then_some([(0.95, g.p95), (0.99, g.p99)]);
        let l = &m.latency_us;
        o.message_latency_us = (l.count > 0).then_some([(0.95, l.p95), (0.99, l.p99)]);
    }
    o
}

/// `OK` calls over all calls (errors without a status count as not OK); `None` when no
/// call has a gRPC status and none failed either (not a gRPC run).
fn grpc_ok_rate(codes: &std::collections::BTreeMap<String, u64>, requests: u64) -> Option<f64> {
    let grpc = codes.keys().any(|k| !k.bytes().all(|b| b.is_ascii_digit()));
    (grpc && requests > 0).then(|| codes.get("OK").copied().unwrap_or(0) as f64 / requests as f64)
}

fn from_snapshot(s: &Snapshot) -> Observed {
    Observed {
        quantiles_us: [
            (0.50, s.p50_us),
            (0.75, s.p75_us),
            (0.90, s.p90_us),
            (0.95, s.p95_us),
            (0.99, s.p99_us),
            (0.999, s.p999_us),
        ],
        mean_us: s.mean_us,
        max_us: s.max_us,
        error_rate: if s.requests > 0 {
            s.failed as f64 / s.requests as f64
        } else {
            0.0
        },
        rps: s.mean_rps,
        check_pass_rate: s.check_pass_rate(),
        dropped_iterations: s.dropped,
        grpc_ok_rate: {
            let codes = s.status.iter().map(|(c, n)| (c.to_string(), *n)).collect();
            grpc_ok_rate(&codes, s.requests)
        },
        messages_per_sec: None,
        first_message_us: None,
        message_gap_us: None,
        message_latency_us: None,
        achieved_rate_ratio: None,
        generator: None,
    }
}

/// Every threshold against the final result. With no completed request latencies are
/// unmeasured, and a threshold on an unmeasured figure fails: nothing was shown to pass.
pub fn judge(thresholds: &[Threshold], r: &Results) -> Vec<ThresholdResult> {
    let whole = from_results(r);
    thresholds
        .iter()
        .map(|t| {
            // A filtered threshold judges its scenario's or tag's own figures.
            let (observed, measured) = match &t.filter {
                None => (Some(whole.clone()), r.latency_us.count > 0),
                Some(f) => {
                    let group = if f.key == "scenario" {
                        r.scenarios.get(&f.value).map(|s| &s.stats)
                    } else {
                        r.tags.get(&format!("{}={}", f.key, f.value))
                    };
                    (
                        group.map(from_group),
                        group.is_some_and(|g| g.latency_us.count > 0),
                    )
                }
            };
            let value = observed
                .and_then(|o| o.value(t.metric))
                .filter(|_| measured || !matches!(unit(t.metric), "ms"));
            ThresholdResult {
                name: t.name.clone(),
                condition: t.condition(),
                observed: value,
                unit: unit(t.metric).to_string(),
                passed: value.is_some_and(|v| t.passes(v)),
            }
        })
        .collect()
}

fn from_group(g: &crate::results::GroupStats) -> Observed {
    // dropped_iterations is not kept per scenario; the plan refuses a filter on it.
    let mut o = from_stats(
        &g.latency_us,
        g.error_rate,
        g.requests_per_sec,
        g.check_pass_rate,
        0,
    );
    o.grpc_ok_rate = grpc_ok_rate(&g.status_codes, g.total_requests);
    o
}

/// The first threshold a live snapshot breaches, described for the user.
pub fn live_breach(thresholds: &[Threshold], s: &Snapshot) -> Option<String> {
    if s.requests < FAIL_FAST_MIN_REQUESTS {
        return None;
    }
    let observed = from_snapshot(s);
    thresholds
        .iter()
        // Filtered thresholds need per-scenario figures, which live snapshots do not carry.
        .filter(|t| t.metric.judged_live() && t.filter.is_none())
        .find_map(|t| {
            let v = observed.value(t.metric)?;
            (!t.passes(v)).then(|| format!("{t} (observed {})", fmt_value(v, unit(t.metric))))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::thresholds::parse;

    #[test]
    fn live_breach_waits_for_enough_requests() {
        let t = vec![parse("p95_latency_ms", "< 10").unwrap()];
        let mut s = Snapshot {
            requests: 5,
            p95_us: 900_000,
            ..Snapshot::default()
        };
        assert_eq!(live_breach(&t, &s), None);
        s.requests = 500;
        let why = live_breach(&t, &s).unwrap();
        assert!(
            why.contains("p95_latency_ms < 10") && why.contains("900.00 ms"),
            "{why}"
        );
        s.p95_us = 5_000;
        assert_eq!(live_breach(&t, &s), None);
    }

    #[test]
    fn rps_is_judged_only_at_the_end() {
        let t = vec![parse("rps", "> 1000").unwrap()];
        let s = Snapshot {
            requests: 500,
            mean_rps: 10.0,
            ..Snapshot::default()
        };
        assert_eq!(live_breach(&t, &s), None);
    }
}
