//! `kaioken compare`: two saved results → a verdict per metric.
//!
//! A change counts as a regression only when it is both larger than the user's limit and
//! larger than sampling noise (see [`stats`]): percentiles are judged on the stored
//! histograms, throughput on the per-second timeline, error rates on the counts. Short runs
//! therefore report "within noise" instead of failing a build on chance.

pub mod render;
pub mod stats;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::results::{Histograms, Results, ResultsError, histogram_codec};
use stats::Interval;

pub const SCHEMA: &str = "kaioken.compare/v1";

/// Regression limits in percent, as the seed's `--threshold-*` flags give them.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub p99: f64,
    pub p999: f64,
    pub error_rate: f64,
    pub rps: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Worse than the limit and beyond noise.
    Regression,
    /// Worse than the limit, but the runs' own variability could explain it.
    WithinNoise,
    /// Better by more than the limit, beyond noise.
    Improved,
    Ok,
    /// No limit applies; shown for context.
    Info,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Regression => "REGRESSION",
            Verdict::WithinNoise => "within noise",
            Verdict::Improved => "improved",
            Verdict::Ok => "ok",
            Verdict::Info => "-",
        }
    }
}

/// One row of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub metric: &'static str,
    pub unit: &'static str,
    pub baseline: f64,
    pub current: f64,
    /// Relative change in percent; null when the baseline is 0.
    pub delta_pct: Option<f64>,
    /// The regression limit in percent, when one applies.
    pub limit_pct: Option<f64>,
    /// Whether the difference is larger than sampling noise (99% level).
    pub significant: bool,
    pub verdict: Verdict,
}

/// What each side ran, for the header and the model check.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub file: String,
    pub started_at: String,
    pub target: String,
    pub model: String,
    pub latency: String,
    pub description: String,
    pub requests: u64,
    pub duration_secs: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub schema: &'static str,
    pub baseline: Side,
    pub current: Side,
    /// Set when the load models (or latency kinds) differ; the comparison then needs `--force`.
    pub model_mismatch: Option<String>,
    pub rows: Vec<Row>,
    pub regressions: usize,
}

impl Comparison {
    pub fn build(
        baseline: (&str, &Results),
        current: (&str, &Results),
        limits: Limits,
    ) -> Result<Comparison, ResultsError> {
        let (b, c) = (baseline.1, current.1);
        let hb = histogram_codec::decode(&b.histograms.latency)?;
        let hc = histogram_codec::decode(&c.histograms.latency)?;
        let mut rows = Vec::new();
        for (metric, q, limit) in [
            ("p50", 0.50, None),
            ("p90", 0.90, None),
            ("p95", 0.95, None),
            ("p99", 0.99, Some(limits.p99)),
            ("p999", 0.999, Some(limits.p999)),
        ] {
            rows.push(latency_row(metric, &hb, &hc, limit, |h| {
                (
                    h.value_at_quantile(q) as f64,
                    stats::quantile_interval(h, q),
                )
            }));
        }
        rows.push(latency_row("mean", &hb, &hc, None, |h| {
            (h.mean(), stats::mean_interval(h))
        }));
        // A shift of the whole distribution counts as past noise for every percentile it
        // moved the same way, however wide a short run leaves the tail's own interval.
        let shift = stats::rank_shift(&hb, &hc);
        if let Some(slower) = shift.whole() {
            for row in &mut rows {
                let same_way = row.delta_pct.is_some_and(|d| (d > 0.0) == slower);
                if same_way && !row.significant {
                    row.significant = true;
                    row.verdict = judge_higher_worse(row.delta_pct, row.limit_pct, true);
                }
            }
        }
        rows.push(Row {
            metric: "slower_share",
            unit: "ratio",
            baseline: 0.5,
            current: shift.slower,
            delta_pct: None,
            limit_pct: None,
            significant: shift.significant,
            verdict: Verdict::Info,
        });
        // Streams on both sides: their first message and, on bidirectional streams, each
        // message's latency, judged at p99 under the same limit as the calls' latency.
        for (metric, pick) in [
            (
                "first_message_p99",
                (|h| &h.first_message) as fn(&Histograms) -> &String,
            ),
            ("message_latency_p99", |h| &h.message_latency),
        ] {
            let (eb, ec) = (pick(&b.histograms), pick(&c.histograms));
            if eb.is_empty() || ec.is_empty() {
                continue;
            }
            let (mb, mc) = (histogram_codec::decode(eb)?, histogram_codec::decode(ec)?);
            if mb.is_empty() || mc.is_empty() {
                continue;
            }
            rows.push(latency_row(metric, &mb, &mc, Some(limits.p99), |h| {
                (
                    h.value_at_quantile(0.99) as f64,
                    stats::quantile_interval(h, 0.99),
                )
            }));
        }
        rows.push(rps_row(b, c, limits.rps));
        rows.push(error_row(b, c, limits.error_rate));
        let regressions = rows
            .iter()
            .filter(|r| r.verdict == Verdict::Regression)
            .count();
        Ok(Comparison {
            schema: SCHEMA,
            baseline: side(baseline.0, b),
            current: side(current.0, c),
            model_mismatch: mismatch(b, c),
            rows,
            regressions,
        })
    }
}

fn side(file: &str, r: &Results) -> Side {
    Side {
        file: file.to_string(),
        started_at: r.metadata.started_at.clone(),
        target: format!("{} {}", r.metadata.target.method, r.metadata.target.url),
        model: r.load.model.clone(),
        latency: r.load.latency.clone(),
        description: r.metadata.load.description.clone(),
        requests: r.summary.total_requests,
        duration_secs: r.summary.duration_secs,
    }
}

/// Open and closed models measure different things (latency from the intended send versus
/// service time under back-pressure): their figures are not comparable without `--force`.
fn mismatch(b: &Results, c: &Results) -> Option<String> {
    if b.load.model != c.load.model {
        return Some(format!(
            "load models differ: baseline {} vs current {}",
            b.load.model, c.load.model
        ));
    }
    if b.load.latency != c.load.latency {
        return Some(format!(
            "latency measures differ: baseline {} vs current {}",
            b.load.latency, c.load.latency
        ));
    }
    None
}

fn delta_pct(baseline: f64, current: f64) -> Option<f64> {
    (baseline != 0.0).then(|| (current - baseline) / baseline * 100.0)
}

/// Verdict for a metric where larger is worse.
fn judge_higher_worse(delta: Option<f64>, limit: Option<f64>, significant: bool) -> Verdict {
    let Some(limit) = limit else {
        return Verdict::Info;
    };
    match delta {
        Some(d) if d > limit => {
            if significant {
                Verdict::Regression
            } else {
                Verdict::WithinNoise
            }
        }
        Some(d) if d < -limit && significant => Verdict::Improved,
        // From zero to something: any significant rise is a regression.
        None if significant => Verdict::Regression,
        _ => Verdict::Ok,
    }
}

fn latency_row(
    metric: &'static str,
    hb: &Histogram<u64>,
    hc: &Histogram<u64>,
    limit: Option<f64>,
    measure: impl Fn(&Histogram<u64>) -> (f64, Interval),
) -> Row {
    let (vb, ib) = measure(hb);
    let (vc, ic) = measure(hc);
    let significant = ic.above(&ib) || ib.above(&ic);
    let delta = delta_pct(vb, vc);
    Row {
        metric,
        unit: "us",
        baseline: vb,
        current: vc,
        delta_pct: delta,
        limit_pct: limit,
        significant,
        verdict: judge_higher_worse(delta, limit, significant),
    }
}

/// Whole seconds of the timeline (the last bucket may be a partial second).
fn per_second_rates(r: &Results) -> Vec<f64> {
    let full = r.summary.duration_secs.floor() as usize;
    r.timeline.iter().take(full).map(|s| s.rps).collect()
}

fn rps_row(b: &Results, c: &Results, limit: f64) -> Row {
    let (vb, vc) = (b.summary.requests_per_sec, c.summary.requests_per_sec);
    let significant = stats::welch_differs(&per_second_rates(b), &per_second_rates(c));
    let delta = delta_pct(vb, vc);
    // Fewer requests per second is worse: judge the negated change.
    let verdict = match judge_higher_worse(delta.map(|d| -d), Some(limit), significant) {
        v @ (Verdict::Regression | Verdict::WithinNoise | Verdict::Improved) => v,
        _ => Verdict::Ok,
    };
    Row {
        metric: "rps",
        unit: "req/s",
        baseline: vb,
        current: vc,
        delta_pct: delta,
        limit_pct: Some(limit),
        significant,
        verdict,
    }
}

fn error_row(b: &Results, c: &Results, limit: f64) -> Row {
    let (sb, sc) = (&b.summary, &c.summary);
    let significant =
        stats::proportions_differ(sb.failed, sb.total_requests, sc.failed, sc.total_requests);
    let delta = delta_pct(sb.error_rate, sc.error_rate);
    let verdict = if sb.error_rate == 0.0 && sc.error_rate == 0.0 {
        Verdict::Ok
    } else {
        judge_higher_worse(delta, Some(limit), significant)
    };
    Row {
        metric: "error_rate",
        unit: "ratio",
        baseline: sb.error_rate,
        current: sc.error_rate,
        delta_pct: delta,
        limit_pct: Some(limit),
        significant,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        use Verdict::*;
        assert_eq!(judge_higher_worse(Some(20.0), Some(10.0), true), Regression);
        assert_eq!(
            judge_higher_worse(Some(20.0), Some(10.0), false),
            WithinNoise
        );
        assert_eq!(judge_higher_worse(Some(5.0), Some(10.0), true), Ok);
        assert_eq!(judge_higher_worse(Some(-20.0), Some(10.0), true), Improved);
        assert_eq!(judge_higher_worse(Some(-20.0), Some(10.0), false), Ok);
        assert_eq!(judge_higher_worse(None, Some(10.0), true), Regression);
        assert_eq!(judge_higher_worse(Some(50.0), None, true), Info);
    }
}
