//! Assembling a run's [`Results`] from its plan and what the aggregator measured.

use std::time::SystemTime;

use super::*;
use crate::aggregate;
use crate::plan::{Plan, Protocol};

pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

impl Results {
    /// The result of a run: the plan's description, the aggregator's figures and the wall
    /// clock's start and end. Thresholds are judged afterwards (`verdict::judge`).
    pub fn assemble(
        plan: &Plan,
        o: &aggregate::Outcome,
        started: SystemTime,
        ended: SystemTime,
    ) -> Results {
        let t = &o.total;
        let requests = t.requests();
        let secs = o.duration.as_secs_f64();
        let (status_codes, errors) = status_and_errors(t);
        let headers = plan
            .request()
            .headers
            .iter()
            .map(|(n, v)| {
                let shown = if redact::is_secret_header(n.as_str()) {
                    "[redacted]".to_string()
                } else {
                    v.to_string()
                };
                (n.to_string(), shown)
            })
            .collect();
        let protocol = match plan.protocol {
            Protocol::Http2 { .. } if plan.grpc.is_some() => "grpc".to_string(),
            Protocol::Http1 => "http/1.1".to_string(),
            Protocol::Http2 { .. } => "h2".to_string(),
            Protocol::WebSocket => "websocket".to_string(),
        };
        Results {
            schema: SCHEMA.to_string(),
            metadata: Metadata {
                tool: "kaioken".to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                started_at: rfc3339(started),
                ended_at: rfc3339(ended),
                target: TargetMeta {
                    url: plan.target.redacted_url(),
                    method: if plan.load.replay().is_some() {
                        "recorded".to_string()
                    } else {
                        plan.request().method.to_string()
                    },
                    protocol,
                    headers,
                    tls: (plan.target.scheme == crate::plan::Scheme::Https).then(|| TlsMeta {
                        verified: !plan.insecure,
                        cacert: plan.tls.cacert.as_ref().map(|p| p.display().to_string()),
                        client_cert: plan
                            .tls
                            .client
                            .as_ref()
                            .map(|(c, _)| c.display().to_string()),
                    }),
                    proxy: plan.proxy.as_ref().map(|p| p.redacted()),
                },
                load: LoadMeta {
                    model: plan.load.name().to_string(),
                    concurrency: plan.load.vus(),
                    description: plan.load.to_string(),
                    duration_secs: plan.load.duration().map(|d| d.as_secs_f64()),
                    warmup_secs: plan.load.warmup.as_secs_f64(),
                    max_requests: plan.load.max_requests(),
                    threads: plan.threads,
                    keepalive: plan.keepalive,
                    timeout_secs: plan.timeout.as_secs_f64(),
                },
                host: HostMeta {
                    hostname: gethostname::gethostname().to_string_lossy().into_owned(),
                    os: std::env::consts::OS.to_string(),
                    arch: std::env::consts::ARCH.to_string(),
                    cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
                },
            },
            summary: Summary {
                total_requests: requests,
                successful: t.successful,
                failed: t.failed(),
                error_rate: if requests > 0 {
                    t.failed() as f64 / requests as f64
                } else {
                    0.0
                },
                requests_per_sec: if secs > 0.0 {
                    requests as f64 / secs
                } else {
                    0.0
                },
                bytes_received: t.bytes_received,
                duration_secs: secs,
                paused_secs: 0.0,
                connections_opened: t.connections_opened,
                interrupted: o.interrupted,
                dropped_iterations: t.dropped,
                saturated_values: t.saturated,
                stopped_by: None,
                redirects: t.redirects,
                tls_handshakes: t.tls_handshakes,
                tls_resumed: t.tls_resumed,
                handshakes_per_sec: if secs > 0.0 {
                    t.tls_handshakes as f64 / secs
                } else {
                    0.0
                },
            },
            latency_us: LatencyStats::from_histogram(plan.load.latency_kind().name(), &t.latency),
            service_time_us: LatencyStats::from_histogram("service_time", &t.service_time),
            ttfb_us: LatencyStats::from_histogram("ttfb", &t.ttfb),
            connect_time_us: LatencyStats::from_histogram("connect_time", &t.connect_time),
            tls_handshake_us: if t.tls_handshake.is_empty() {
                LatencyStats::default()
            } else {
                LatencyStats::from_histogram("tls_handshake", &t.tls_handshake)
            },
            schedule_lag_us: LatencyStats::from_histogram("schedule_lag", &t.schedule_lag),
            messages: (t.messages > 0).then(|| MessageStats {
                received: t.messages,
                per_sec: if secs > 0.0 {
                    t.messages as f64 / secs
                } else {
                    0.0
                },
                per_reply: t.messages as f64 / t.responses.max(1) as f64,
                time_to_first_us: LatencyStats::from_histogram(
                    "time_to_first_message",
                    &t.first_message,
                ),
                gap_us: if t.message_gap.is_empty() {
                    LatencyStats::default()
                } else {
                    LatencyStats::from_histogram("message_gap", &t.message_gap)
                },
                latency_us: if t.message_latency.is_empty() {
                    LatencyStats::default()
                } else {
                    LatencyStats::from_histogram("message_latency", &t.message_latency)
                },
            }),
            load: LoadResult {
                model: plan.load.name().to_string(),
                latency: plan.load.latency_kind().name().to_string(),
                target_rate: plan.load.target_rate(),
                achieved_rate: if secs > 0.0 {
                    requests as f64 / secs
                } else {
                    0.0
                },
                max_vus: plan.load.vus(),
                vus_max_reached: o.vus_max,
                dropped_iterations: t.dropped,
                replay: plan.load.replay().map(|r| {
                    let st = &o.replay;
                    ReplayResult {
                        file: r.path.display().to_string(),
                        format: r.format.name().to_string(),
                        speed: r.speed,
                        passes: st.passes,
                        records: st.records,
                        bad_lines: st.bad_lines,
                        first_bad_line: st
                            .first_bad
                            .map(|(line, why)| format!("{}:{line}: {why}", r.path.display())),
                        out_of_order: st.out_of_order,
                        reorder_window_ms: r.reorder_window.as_millis() as u64,
                        other_origin: st.other_origin + r.other_origin_har,
                    }
                }),
            },
            status_codes,
            errors,
            error_reasons: BTreeMap::new(),
            timeline: o.timeline.clone(),
            checks: plan
                .checks
                .list
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let [passes, fails] = t.checks.get(i).copied().unwrap_or([0, 0]);
                    CheckResult {
                        name: c.name.clone(),
                        condition: c.text.clone(),
                        passes,
                        fails,
                        pass_rate: (passes + fails > 0)
                            .then(|| passes as f64 / (passes + fails) as f64),
                    }
                })
                .collect(),
            thresholds: Vec::new(),
            scenarios: scenario_results(plan, t, secs),
            tags: tag_results(plan, t, secs),
            health: None,
            histograms: Histograms::encode(t),
        }
    }
}

/// Per-scenario figures (only with `[[scenarios]]`).
fn scenario_results(
    plan: &Plan,
    t: &crate::record::Interval,
    secs: f64,
) -> std::collections::BTreeMap<String, ScenarioResult> {
    if !plan.scenarios.explicit {
        return Default::default();
    }
    let empty = crate::record::ScenarioInterval::default();
    let kind = plan.load.latency_kind().name();
    plan.scenarios
        .list
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let si = t.scenarios.get(i).unwrap_or(&empty);
            let r = ScenarioResult {
                // A replay's requests carry each record's own method.
                method: if plan.load.replay().is_some() {
                    "recorded".to_string()
                } else {
                    s.request.method.to_string()
                },
                url: s.url.clone(),
                weight: s.weight,
                tags: s.tags.clone(),
                stats: GroupStats::from_interval(si, kind, t.requests(), secs),
                extraction_failed: s
                    .extract
                    .iter()
                    .enumerate()
                    .map(|(e, x)| {
                        (
                            x.name.clone(),
                            si.extraction_failed.get(e).copied().unwrap_or(0),
                        )
                    })
                    .collect(),
                missing_values: si.missing_values,
            };
            (s.name.clone(), r)
        })
        .collect()
}

/// Per-tag figures: each `name=value` merges the scenarios that carry it.
fn tag_results(
    plan: &Plan,
    t: &crate::record::Interval,
    secs: f64,
) -> std::collections::BTreeMap<String, GroupStats> {
    let mut merged: std::collections::BTreeMap<String, crate::record::ScenarioInterval> =
        Default::default();
    for (i, s) in plan.scenarios.list.iter().enumerate() {
        let Some(si) = t.scenarios.get(i) else {
            continue;
        };
        for (k, v) in &s.tags {
            merged.entry(format!("{k}={v}")).or_default().merge(si);
        }
    }
    let kind = plan.load.latency_kind().name();
    merged
        .into_iter()
        .map(|(k, si)| (k, GroupStats::from_interval(&si, kind, t.requests(), secs)))
        .collect()
}
