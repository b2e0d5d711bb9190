//! The result of `kaioken capacity` (`kaioken.capacity/v1`): the answer first, then every
//! probe with its verdict and its whole `kaioken.result/v1` result (histograms included), so
//! any probe can be re-rendered, compared or merged like a run.

use serde::{Deserialize, Serialize};

use super::units::fmt_count;
use super::{Results, ThresholdResult};

pub const CAPACITY_SCHEMA: &str = "kaioken.capacity/v1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapacityResult {
    pub schema: String,
    pub answer: CapacityAnswer,
    pub search: SearchMeta,
    pub probes: Vec<Probe>,
}

/// Where the search ended, in figures and in one sentence.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CapacityAnswer {
    /// `found`, `at_least_max`, `below_start`, `generator_bound` or `interrupted`.
    pub outcome: String,
    /// The highest rate whose probe (and confirmation) passed; for `generator_bound` and
    /// `interrupted`, the best pass so far (a lower bound), if any.
    pub sustained_rps: Option<f64>,
    /// The lowest rate that failed, just above the answer.
    pub failed_rps: Option<f64>,
    /// Why that probe failed.
    #[serde(default)]
    pub failed_reasons: Vec<String>,
    /// The sentence every output leads with.
    pub line: String,
}

/// What was asked.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SearchMeta {
    pub tool: String,
    pub version: String,
    pub started_at: String,
    pub ended_at: String,
    /// `METHOD URL`, secrets redacted.
    pub target: String,
    /// The SLOs as written; an implied one is marked `(implied)`.
    pub slos: Vec<String>,
    pub start_rps: f64,
    pub max_rps: f64,
    pub probe_secs: f64,
    pub warmup_secs: f64,
    pub tolerance: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_capacity_rps: Option<f64>,
    /// What latency means in every probe: `from_intended_send` (open model).
    pub latency: String,
}

/// One probe: the rate held, its verdict and its full result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Probe {
    /// 1-based, in the order run.
    pub index: usize,
    pub rate_rps: f64,
    /// The longer probe that confirms the best pass.
    pub confirm: bool,
    pub passed: bool,
    /// Why it failed; empty when it passed.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Each SLO with what the probe observed.
    pub slos: Vec<ThresholdResult>,
    /// Set when the generator, not the service, limited the probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    pub result: Results,
}

impl Probe {
    /// `2,460 req/s: failed (p99 412ms (SLO < 200 ms), latency rising …)`.
    pub fn line(&self) -> String {
        let what = if self.confirm { " (confirming)" } else { "" };
        let verdict = match (&self.generator, self.passed) {
            (Some(g), _) => format!("limited by the generator: {g}"),
            (None, true) => format!(
                "passed (p50 {}, p99 {}, {:.2}% errors)",
                super::units::fmt_us(self.result.latency_us.p50),
                super::units::fmt_us(self.result.latency_us.p99),
                self.result.summary.error_rate * 100.0
            ),
            (None, false) => format!("failed: {}", self.reasons.join("; ")),
        };
        format!("{} req/s{what}: {verdict}", rate_text(self.rate_rps))
    }
}

/// A rate as reports write it: `2,340`, or `2.5` below 10/s.
pub fn rate_text(r: f64) -> String {
    if r >= 10.0 || r.fract() == 0.0 {
        fmt_count(r.round() as u64)
    } else {
        format!("{r:.2}")
    }
}

impl CapacityResult {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a capacity result serializes")
    }

    /// The probe that proves the answer: the confirmation of the sustained rate, else its
    /// last passing probe.
    pub fn proof(&self) -> Option<&Probe> {
        let rate = self.answer.sustained_rps?;
        self.probes
            .iter()
            .rev()
            .find(|p| p.passed && p.rate_rps == rate && p.confirm)
            .or_else(|| {
                self.probes
                    .iter()
                    .rev()
                    .find(|p| p.passed && p.rate_rps == rate)
            })
    }
}
