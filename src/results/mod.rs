//! The versioned result of a run: the JSON source of truth for every later output.
//!
//! Everything a report, `compare` or `merge` needs is here, including the histograms
//! themselves, so nothing is lost between a run and its later analysis. Bump
//! [`SCHEMA`] when a field changes meaning or is removed; adding fields keeps the version.

mod assemble;
pub mod atomic_write;
pub mod capacity;
pub mod health;
pub mod histogram_codec;
pub mod load;
pub mod units;

pub use crate::aggregate::timeline::Second;
pub use crate::plan::redact;
pub use assemble::rfc3339;

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::record::Interval;
use crate::transport::{ErrorKind, Status};

pub const SCHEMA: &str = "kaioken.result/v1";

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("cannot write {path}: {reason} (check that the directory exists and is writable)")]
    Write { path: String, reason: String },
    #[error("invalid histogram in results: {0}")]
    Histogram(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub schema: String,
    pub metadata: Metadata,
    pub summary: Summary,
    pub latency_us: LatencyStats,
    pub service_time_us: LatencyStats,
    pub ttfb_us: LatencyStats,
    pub connect_time_us: LatencyStats,
    /// The TLS handshake with the target on its own (https:// only; absent otherwise).
    #[serde(default, skip_serializing_if = "LatencyStats::is_empty")]
    pub tls_handshake_us: LatencyStats,
    /// Actual − intended send time; empty in the closed model (nothing is scheduled).
    pub schedule_lag_us: LatencyStats,
    /// Messages of gRPC replies and WebSocket replies; absent for plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<MessageStats>,
    pub load: LoadResult,
    pub status_codes: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    /// For error kinds whose count alone does not say what to fix, the first reason seen
    /// (`tls_cert_invalid`: unknown issuer, expired, wrong name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub error_reasons: BTreeMap<String, String>,
    pub timeline: Vec<Second>,
    /// `[[checks]]` with their counts; empty when none were set.
    #[serde(default)]
    pub checks: Vec<CheckResult>,
    /// `[thresholds]` with what was observed; empty when none were set.
    #[serde(default)]
    pub thresholds: Vec<ThresholdResult>,
    /// Per `[[scenarios]]` entry, by name; empty without scenarios.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scenarios: BTreeMap<String, ScenarioResult>,
    /// Per scenario tag, keyed `name=value`: the scenarios carrying it, merged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, GroupStats>,
    /// The generator's own health over the run and its verdict (absent from snapshots and
    /// from results written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<health::Health>,
    pub histograms: Histograms,
}

/// Messages received on streams and WebSockets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageStats {
    pub received: u64,
    pub per_sec: f64,
    /// Messages per reply, on average (1 for unary calls; the stream's length otherwise).
    pub per_reply: f64,
    /// From the call's send (its intended time in rate-driven models) to its first
    /// message complete.
    pub time_to_first_us: LatencyStats,
    /// Between consecutive messages of one reply (empty when replies are one message).
    #[serde(default, skip_serializing_if = "LatencyStats::is_empty")]
    pub gap_us: LatencyStats,
    /// Bidirectional streams: request message k's send → reply message k.
    #[serde(default, skip_serializing_if = "LatencyStats::is_empty")]
    pub latency_us: LatencyStats,
}

/// One scenario of the mix: what it is and what it measured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScenarioResult {
    pub method: String,
    /// As written, secrets redacted.
    pub url: String,
    /// 0 for a dependency.
    pub weight: u32,
    pub tags: BTreeMap<String, String>,
    #[serde(flatten)]
    pub stats: GroupStats,
    /// Per extracted name: responses it was not found in.
    pub extraction_failed: BTreeMap<String, u64>,
    /// Iterations not sent because a value the request reads was missing.
    pub missing_values: u64,
}

/// The same figures as the whole run's, for a part of it (a scenario or a tag).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GroupStats {
    pub total_requests: u64,
    pub successful: u64,
    pub failed: u64,
    pub error_rate: f64,
    pub requests_per_sec: f64,
    /// This part's requests over the run's.
    pub share: f64,
    pub bytes_received: u64,
    pub redirects: u64,
    pub latency_us: LatencyStats,
    pub status_codes: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    /// Passes over judgements of the checks on this part's responses; null without checks.
    pub check_pass_rate: Option<f64>,
}

impl GroupStats {
    /// `run_requests` and `secs` are the whole run's, for the share and the rate.
    pub fn from_interval(
        s: &crate::record::ScenarioInterval,
        latency_kind: &str,
        run_requests: u64,
        secs: f64,
    ) -> GroupStats {
        let requests = s.requests();
        let (p, n) = s
            .checks
            .iter()
            .fold((0, 0), |(p, n), c| (p + c[0], n + c[0] + c[1]));
        let (status_codes, errors) = counts(&s.status[..], &s.errors);
        let ratio = |a: u64, b: u64| if b > 0 { a as f64 / b as f64 } else { 0.0 };
        GroupStats {
            total_requests: requests,
            successful: s.successful,
            failed: requests - s.successful,
            error_rate: ratio(requests - s.successful, requests),
            requests_per_sec: if secs > 0.0 {
                requests as f64 / secs
            } else {
                0.0
            },
            share: ratio(requests, run_requests),
            bytes_received: s.bytes_received,
            redirects: s.redirects,
            latency_us: LatencyStats::from_histogram(latency_kind, &s.latency),
            status_codes,
            errors,
            check_pass_rate: (n > 0).then(|| p as f64 / n as f64),
        }
    }
}

/// One check's tally over the measured run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckResult {
    pub name: String,
    /// The conditions as written, e.g. `status == 200 and body contains "ok"`.
    pub condition: String,
    pub passes: u64,
    pub fails: u64,
    /// passes / (passes + fails); null when the check never ran.
    pub pass_rate: Option<f64>,
}

impl Results {
    /// All checks' passes over all their evaluations; `None` without checks.
    pub fn check_pass_rate(&self) -> Option<f64> {
        let (p, n) = self
            .checks
            .iter()
            .fold((0, 0), |(p, n), c| (p + c.passes, n + c.passes + c.fails));
        (n > 0).then(|| p as f64 / n as f64)
    }

    /// The run's verdict, for the first line of every report: whether every threshold
    /// held, and in words what failed (thresholds with what was observed, then checks that
    /// did not always pass). `None` without thresholds: nothing was asked of the run.
    pub fn verdict(&self) -> Option<(bool, String)> {
        if self.thresholds.is_empty() {
            return None;
        }
        let failed: Vec<String> = self
            .thresholds
            .iter()
            .filter(|t| !t.passed)
            .map(|t| {
                format!(
                    "{} {} (observed {})",
                    t.name,
                    t.condition,
                    t.observed_text()
                )
            })
            .collect();
        let checks: Vec<String> = self
            .checks
            .iter()
            .filter(|c| c.fails > 0)
            .map(|c| match c.pass_rate {
                Some(r) => format!("{} passed {:.2}%", c.name, r * 100.0),
                None => c.name.clone(),
            })
            .collect();
        let n = self.thresholds.len();
        let mut text = if failed.is_empty() {
            format!("PASS: {n} of {n} thresholds held")
        } else {
            format!(
                "FAIL: {} of {n} thresholds failed: {}",
                failed.len(),
                failed.join("; ")
            )
        };
        if !checks.is_empty() {
            text.push_str(&format!("; checks failing: {}", checks.join(", ")));
        }
        Some((failed.is_empty(), text))
    }
}

/// One threshold's verdict.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ThresholdResult {
    /// The key as written, e.g. `p95_latency_ms`.
    pub name: String,
    /// e.g. `< 500`.
    pub condition: String,
    /// In `unit`; null when nothing measured it (no request completed).
    pub observed: Option<f64>,
    /// `ms`, `ratio`, `req/s` or `count`.
    pub unit: String,
    pub passed: bool,
}

impl ThresholdResult {
    /// The observed value with its unit, as every output shows it.
    pub fn observed_text(&self) -> String {
        self.observed.map_or("not measured".to_string(), |v| {
            units::fmt_value(v, &self.unit)
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metadata {
    pub tool: String,
    pub version: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub ended_at: String,
    pub target: TargetMeta,
    pub load: LoadMeta,
    pub host: HostMeta,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetMeta {
    /// Secrets redacted.
    pub url: String,
    pub method: String,
    pub protocol: String,
    /// Header names and values; credential values redacted.
    pub headers: BTreeMap<String, String>,
    /// How TLS was set up (https:// targets only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsMeta>,
    /// The proxy every connection went through, password redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
}

/// TLS settings of an https:// run: whether certificates were verified, and against what.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TlsMeta {
    /// False under `--insecure`: every certificate was accepted.
    pub verified: bool,
    /// The `--cacert` file trusted besides the platform's store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cacert: Option<String>,
    /// The `--cert` file presented for mutual TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<String>,
}

impl TargetMeta {
    /// The protocol, and for https whether certificates were verified: what every report
    /// shows next to the load.
    pub fn transport(&self) -> String {
        let mut s = self.transport_tls();
        if let Some(p) = &self.proxy {
            s.push_str(&format!(", via proxy {p}"));
        }
        s
    }

    fn transport_tls(&self) -> String {
        match &self.tls {
            None => self.protocol.clone(),
            Some(t) if !t.verified => {
                format!(
                    "{}, TLS certificates NOT verified (--insecure)",
                    self.protocol
                )
            }
            Some(t) => {
                let mut s = format!("{}, TLS verified", self.protocol);
                if let Some(ca) = &t.cacert {
                    s.push_str(&format!(" (CA file {ca})"));
                }
                if let Some(c) = &t.client_cert {
                    s.push_str(&format!(", client certificate {c}"));
                }
                s
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadMeta {
    pub model: String,
    /// Max VUs of the model.
    pub concurrency: u64,
    /// The model in words, as `--dry-run` prints it.
    pub description: String,
    /// Requested duration in seconds; null when the run was bounded by max_requests only.
    pub duration_secs: Option<f64>,
    pub max_requests: Option<u64>,
    pub warmup_secs: f64,
    pub threads: usize,
    pub keepalive: bool,
    pub timeout_secs: f64,
}

/// What the load model asked for and what it got over the measured window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadResult {
    /// `closed`, `closed_rate`, `open`, `burst` or `irregular`.
    pub model: String,
    /// What `latency_us` measures: `service_time` or `from_intended_send`.
    pub latency: String,
    /// Mean requests/s asked for, where the model defines it.
    pub target_rate: Option<f64>,
    pub achieved_rate: f64,
    /// The most VUs the model may run.
    pub max_vus: u64,
    /// The most VUs that ran (sum of each thread's peak).
    pub vus_max_reached: u64,
    /// Open-model iterations that found no free VU.
    pub dropped_iterations: u64,
    /// What a replay read (absent for other models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayResult>,
}

impl ReplayResult {
    /// One line for every report: what was replayed, and what was not sent and why.
    pub fn line(&self) -> String {
        let plural =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut line = format!(
            "{} of {} ({}) at {}× speed, {}",
            plural(self.records, "record", "records"),
            self.file,
            self.format,
            self.speed,
            plural(self.passes, "pass", "passes")
        );
        line.push_str(&format!(
            "; {} skipped",
            plural(self.bad_lines, "bad line", "bad lines")
        ));
        if let Some(first) = &self.first_bad_line {
            line.push_str(&format!(" (first: {first})"));
        }
        line.push_str(&format!(
            "; {} out of order beyond the {} ms window",
            self.out_of_order, self.reorder_window_ms
        ));
        if self.other_origin > 0 {
            line.push_str(&format!(
                "; {} to other origins not sent",
                self.other_origin
            ));
        }
        line
    }
}

/// A replay's source and what its readers met.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReplayResult {
    pub file: String,
    /// `combined`, `jsonl` or `har`.
    pub format: String,
    pub speed: f64,
    /// Passes over the file begun (more than 1 with `--loop`).
    pub passes: u64,
    /// Records handed to VUs (requests sent, plus any dropped for want of a VU).
    pub records: u64,
    /// Lines that were not requests, skipped (`--on-bad-line skip`).
    pub bad_lines: u64,
    /// The first bad line, as `FILE:LINE: why`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_bad_line: Option<String>,
    /// Records later than the reorder window allows, sent right after their predecessor.
    pub out_of_order: u64,
    pub reorder_window_ms: u64,
    /// Records to another origin than the recorded one: not sent.
    pub other_origin: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostMeta {
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub cpus: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// Requests that completed, with a response or with an error.
    pub total_requests: u64,
    /// Responses with status < 400.
    pub successful: u64,
    /// Transport errors plus responses with status ≥ 400.
    pub failed: u64,
    pub error_rate: f64,
    pub requests_per_sec: f64,
    /// Bytes read from the wire (HTTP/1.1: heads and bodies; HTTP/2: bodies).
    pub bytes_received: u64,
    /// Measured time with load, start to last completion, pauses left out: what the rates
    /// divide by.
    pub duration_secs: f64,
    /// Time the run was paused (TUI `p`, control `pause`) within the measured window; not
    /// in `duration_secs`, so not in any rate.
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub paused_secs: f64,
    pub connections_opened: u64,
    /// Requests still in flight when the graceful-stop period ended; not counted above.
    pub interrupted: u64,
    pub dropped_iterations: u64,
    /// Histogram values above one hour, recorded as one hour.
    pub saturated_values: u64,
    /// Why the run ended before its plan: `signal`, or `fail-fast: THRESHOLD (observed V)`.
    #[serde(default)]
    pub stopped_by: Option<String>,
    /// Redirect hops followed (the final response of each is what is counted above).
    #[serde(default)]
    pub redirects: u64,
    /// TLS handshakes with the target, how many resumed a session, and handshakes per
    /// second of the measured run.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tls_handshakes: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tls_resumed: u64,
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub handshakes_per_sec: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencyStats {
    /// `service_time` or `from_intended_send` for `latency_us`; the measure's own name otherwise.
    pub kind: String,
    pub count: u64,
    pub min: u64,
    pub max: u64,
    pub mean: f64,
    pub stddev: f64,
    pub p50: u64,
    pub p75: u64,
    pub p90: u64,
    pub p95: u64,
    pub p99: u64,
    pub p999: u64,
}

impl LatencyStats {
    pub fn from_histogram(kind: &str, h: &Histogram<u64>) -> LatencyStats {
        if h.is_empty() {
            return LatencyStats {
                kind: kind.to_string(),
                ..LatencyStats::default()
            };
        }
        let q = |p: f64| h.value_at_quantile(p);
        LatencyStats {
            kind: kind.to_string(),
            count: h.len(),
            min: h.min(),
            max: h.max(),
            mean: h.mean(),
            stddev: h.stdev(),
            p50: q(0.50),
            p75: q(0.75),
            p90: q(0.90),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Histograms {
    /// Base64 of HdrHistogram V2 + DEFLATE, values in µs.
    pub encoding: String,
    pub latency: String,
    pub service_time: String,
    pub ttfb: String,
    pub connect_time: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tls_handshake: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub first_message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message_gap: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message_latency: String,
}

/// Builds the counters part of results from the run's merged interval.
pub fn status_and_errors(total: &Interval) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    counts(&total.status[..], &total.errors)
}

/// Non-zero status and error-kind counters, keyed as the JSON shows them.
fn counts(
    status: &[u64],
    errors: &[u64; ErrorKind::COUNT],
) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let status = status
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(code, n)| (Status::from_code(code as u16).to_string(), *n))
        .collect();
    let errors = ErrorKind::ALL
        .iter()
        .filter(|k| errors[k.index()] > 0)
        .map(|k| (k.name().to_string(), errors[k.index()]))
        .collect();
    (status, errors)
}

impl Histograms {
    pub fn encode(total: &Interval) -> Histograms {
        Histograms {
            encoding: "hdrhistogram-v2-deflate-base64".to_string(),
            latency: histogram_codec::encode(&total.latency),
            service_time: histogram_codec::encode(&total.service_time),
            ttfb: histogram_codec::encode(&total.ttfb),
            connect_time: histogram_codec::encode(&total.connect_time),
            tls_handshake: if total.tls_handshake.is_empty() {
                String::new()
            } else {
                histogram_codec::encode(&total.tls_handshake)
            },
            first_message: if total.first_message.is_empty() {
                String::new()
            } else {
                histogram_codec::encode(&total.first_message)
            },
            message_gap: if total.message_gap.is_empty() {
                String::new()
            } else {
                histogram_codec::encode(&total.message_gap)
            },
            message_latency: if total.message_latency.is_empty() {
                String::new()
            } else {
                histogram_codec::encode(&total.message_latency)
            },
        }
    }
}

impl Results {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results serialize")
    }
}

impl Summary {
    /// The measured time as reports show it: `7.00s`, or `7.00s (+3.00s paused, not in the
    /// rates)` after a pause.
    pub fn duration_text(&self) -> String {
        if self.paused_secs > 0.0 {
            format!(
                "{:.2}s (+{:.2}s paused, not in the rates)",
                self.duration_secs, self.paused_secs
            )
        } else {
            format!("{:.2}s", self.duration_secs)
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_f64(n: &f64) -> bool {
    *n == 0.0
}

impl LatencyStats {
    /// No samples: the figure does not apply to this run (e.g. TLS on http://).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}
