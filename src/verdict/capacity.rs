//! The capacity search: which rate to probe next ([`Search`]), and whether a probe passed
//! ([`judge_probe`]): every SLO held, nothing was dropped, the rate asked was the rate sent,
//! and latency was not still rising at the end ([`rising`]).
//!
//! Why probes and not a ramp: latencies measured while the rate climbs describe a backlog
//! building, not what the service sustains. Each probe holds one rate in an open model and is
//! judged on its own; the search only ever reports a rate whose probe passed.

use crate::plan::capacity::Capacity;
use crate::results::units::fmt_us;
use crate::results::{Results, ThresholdResult};

/// What the search asks for next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// Hold `rate` for a probe; `confirm` for the longer probe of the best pass.
    Probe { rate: f64, confirm: bool },
    /// The search is over.
    Done(Answer),
}

/// Where the search ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer {
    /// `rate` passed (and its confirmation); `failed`, just above it, did not.
    Found { rate: f64, failed: f64 },
    /// Every probe up to `--max` passed: the capacity is at least `rate`.
    AtLeastMax { rate: f64 },
    /// Even `--start` failed.
    BelowStart,
}

/// Geometric growth from `start` until a probe fails, then bisection between the highest pass
/// and the lowest fail until the bracket is within `tolerance`, then one longer probe of the
/// highest pass. A failed confirmation makes that rate the lowest fail and the search goes on
/// below it, so a rate that failed is never the answer.
#[derive(Debug, Clone)]
pub struct Search {
    start: f64,
    max: f64,
    growth: f64,
    tolerance: f64,
    /// Rates that passed, below every failed rate.
    passes: Vec<f64>,
    /// The lowest rate that failed.
    lowest_fail: Option<f64>,
    /// The pass whose confirmation passed.
    confirmed: Option<f64>,
    probes: usize,
}

/// Probes a search may run at most: growth from 1 to 10 M/s is 24 doublings and bisection to
/// 0.1% another 10, so this bound is reached only by verdicts that keep contradicting each
/// other; the search then answers with what it has.
pub const MAX_PROBES: usize = 64;

impl Search {
    pub fn new(start: f64, max: f64, growth: f64, tolerance: f64) -> Search {
        Search {
            start,
            max,
            growth,
            tolerance,
            passes: Vec::new(),
            lowest_fail: None,
            confirmed: None,
            probes: 0,
        }
    }

    pub fn for_plan(c: &Capacity) -> Search {
        Search::new(c.start, c.max, crate::plan::capacity::GROWTH, c.tolerance)
    }

    /// The highest rate that passed and was not contradicted by a failure at or below it.
    pub fn best(&self) -> Option<f64> {
        self.passes.iter().copied().reduce(f64::max)
    }

    pub fn lowest_fail(&self) -> Option<f64> {
        self.lowest_fail
    }

    pub fn next(&self) -> Next {
        let best = self.best();
        let settle = |rate: f64, answer: Answer| {
            if self.confirmed == Some(rate) || self.probes >= MAX_PROBES {
                Next::Done(answer)
            } else {
                Next::Probe {
                    rate,
                    confirm: true,
                }
            }
        };
        match (best, self.lowest_fail) {
            (None, None) => Next::Probe {
                rate: self.start,
                confirm: false,
            },
            (None, Some(_)) => Next::Done(Answer::BelowStart),
            (Some(b), None) if b >= self.max => settle(b, Answer::AtLeastMax { rate: b }),
            // Growth ends by itself: rates are at least 0.01/s and at most 10 M/s (the plan
            // checks), so at most 30 doublings pass before `max`.
            (Some(b), None) => Next::Probe {
                rate: round_rate((b * self.growth).min(self.max)),
                confirm: false,
            },
            (Some(b), Some(f)) => {
                let mid = round_rate((b + f) / 2.0);
                if (f - b) / b <= self.tolerance
                    || mid <= b
                    || mid >= f
                    || self.probes >= MAX_PROBES
                {
                    settle(b, Answer::Found { rate: b, failed: f })
                } else {
                    Next::Probe {
                        rate: mid,
                        confirm: false,
                    }
                }
            }
        }
    }

    /// Records a probe's verdict.
    pub fn record(&mut self, rate: f64, passed: bool, confirm: bool) {
        self.probes += 1;
        if passed {
            if confirm {
                self.confirmed = Some(rate);
            } else if self.lowest_fail.is_none_or(|f| rate < f) {
                self.passes.push(rate);
            }
        } else {
            self.lowest_fail = Some(self.lowest_fail.map_or(rate, |f| f.min(rate)));
            // A failure contradicts every pass at or above it: none of them is an answer.
            self.passes.retain(|p| *p < rate);
            if self.confirmed.is_some_and(|c| c >= rate) {
                self.confirmed = None;
            }
        }
    }
}

/// Rates are probed at whole requests per second above 10/s (a report reads "2,340 req/s",
/// not "2,339.84375"); below that to a hundredth.
fn round_rate(r: f64) -> f64 {
    if r >= 10.0 {
        r.round()
    } else {
        (r * 100.0).round() / 100.0
    }
}

/// One probe judged.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeVerdict {
    pub passed: bool,
    /// Why it failed, one short phrase each ("p99 412ms > 200", "latency rising: …").
    pub reasons: Vec<String>,
    pub slos: Vec<ThresholdResult>,
    /// The generator limited the probe: its line. The search stops; the probe says nothing
    /// about the service.
    pub generator: Option<String>,
}

/// Judges a probe at `rate` from its result.
pub fn judge_probe(c: &Capacity, rate: f64, r: &Results) -> ProbeVerdict {
    let thresholds: Vec<_> = c.slos.iter().map(|s| s.threshold.clone()).collect();
    let slos = super::judge(&thresholds, r);
    // Each failed SLO named as the user wrote it (`p99`, not `p99_latency`).
    let mut reasons: Vec<String> = c
        .slos
        .iter()
        .zip(&slos)
        .filter(|(_, t)| !t.passed)
        .map(|(s, t)| {
            let name = s
                .text
                .split(['<', '>', '='])
                .next()
                .unwrap_or(&t.name)
                .trim();
            format!("{name} {} (SLO {})", t.observed_text(), t.condition)
        })
        .collect();
    let dropped = r.summary.dropped_iterations;
    if dropped > 0 {
        reasons.push(format!(
            "{dropped} iterations dropped (all {} VUs busy)",
            r.load.max_vus
        ));
    }
    // Answered over asked: a service that completes fewer requests than arrive is not
    // sustaining the rate, whatever their latency. Arrivals are evenly spaced, so a window of
    // d seconds holds R × d of them to within one at each edge: allow 1% of that, and never
    // less than those 2.
    let secs = r.summary.duration_secs;
    let asked = rate * secs;
    let answered = r.summary.total_requests as f64;
    if asked > 0.0 && asked - answered > (asked * 0.01).max(2.0) {
        reasons.push(format!(
            "answered {:.0} req/s of {} asked",
            answered / secs,
            crate::results::capacity::rate_text(rate)
        ));
    }
    let whole = c.probe.as_secs().max(1);
    let seconds: Vec<_> = r
        .timeline
        .iter()
        .filter(|s| s.second < whole && s.requests > 0)
        .collect();
    let p50: Vec<f64> = seconds.iter().map(|s| s.p50_us as f64).collect();
    let p99: Vec<f64> = seconds.iter().map(|s| s.p99_us as f64).collect();
    if let Some(why) = rising(&p50, Z_P50)
        .map(|(a, b)| ("p50", a, b))
        .or_else(|| rising(&p99, Z_P99).map(|(a, b)| ("p99", a, b)))
    {
        let (name, from, to) = why;
        reasons.push(format!(
            "latency rising: {name} {} → {} over the probe",
            fmt_us(from as u64),
            fmt_us(to as u64)
        ));
    }
    let generator = r.health.as_ref().filter(|h| !h.is_ok()).map(|h| h.line());
    ProbeVerdict {
        passed: reasons.is_empty() && generator.is_none(),
        reasons,
        slos,
        generator,
    }
}

/// One-sided Mann–Kendall z for the per-second p50: 1.645 is a 5% chance that a series with
/// no trend looks this rising. The p99 of a second rests on its slowest 1% (two requests in
/// a second of 200), so it is noisier: 2.326, 1%.
const Z_P50: f64 = 1.645;
const Z_P99: f64 = 2.326;
/// A rise smaller than this is not a queue worth naming, however steady: timer and
/// scheduler noise on a loaded machine moves a second's p50 by tens of microseconds.
const MIN_RISE_US: f64 = 1_000.0;

/// Whether a per-second latency series is still rising at the end of a probe: a growing
/// queue. Two tests, both required: the Mann–Kendall statistic S (pairs that rise minus pairs
/// that fall) is significant at `z` (normal approximation, variance n(n−1)(2n+5)/18, with
/// continuity correction), so a single slow second does not count; and the rise is large,
/// the median of the last third above the median of the first third by at least 1 ms and
/// by half the first third's level, so a steady drift of microseconds does not count.
/// Returns (first-third median, last-third median) when rising. Fewer than 4 points never
/// are (S cannot reach significance).
pub fn rising(series: &[f64], z: f64) -> Option<(f64, f64)> {
    let n = series.len();
    if n < 4 {
        return None;
    }
    let mut s: i64 = 0;
    for i in 0..n {
        for j in i + 1..n {
            s += match series[j].partial_cmp(&series[i]) {
                Some(std::cmp::Ordering::Greater) => 1,
                Some(std::cmp::Ordering::Less) => -1,
                _ => 0,
            };
        }
    }
    let nf = n as f64;
    let var = nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0;
    let zs = (s as f64 - 1.0) / var.sqrt();
    if s <= 0 || zs < z {
        return None;
    }
    let third = n.div_ceil(3);
    let first = median(&series[..third]);
    let last = median(&series[n - third..]);
    (last - first >= MIN_RISE_US.max(first * 0.5)).then_some((first, last))
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Runs a search against a server that passes every rate at or below `knee`.
    fn run(
        start: f64,
        max: f64,
        tol: f64,
        verdict: impl Fn(f64) -> bool,
    ) -> (Answer, Vec<(f64, bool)>) {
        let mut s = Search::new(start, max, 2.0, tol);
        let mut seen = Vec::new();
        loop {
            match s.next() {
                Next::Done(a) => return (a, seen),
                Next::Probe { rate, confirm } => {
                    let ok = verdict(rate);
                    seen.push((rate, ok));
                    s.record(rate, ok, confirm);
                }
            }
            assert!(seen.len() <= MAX_PROBES + 1, "the search must end");
        }
    }

    #[test]
    fn a_known_knee_is_bracketed() {
        let (a, seen) = run(100.0, 100_000.0, 0.05, |r| r <= 200.0);
        // 100 passes, 200 passes, 400 fails, then bisection: 300, 250, 225, 213, 207 fail
        // (midpoints rounded half up); the bracket 200..207 is within 5%, and 200 is confirmed.
        assert_eq!(
            a,
            Answer::Found {
                rate: 200.0,
                failed: 207.0
            }
        );
        let rates: Vec<f64> = seen.iter().map(|p| p.0).collect();
        assert_eq!(
            rates,
            [
                100.0, 200.0, 400.0, 300.0, 250.0, 225.0, 213.0, 207.0, 200.0
            ]
        );
    }

    #[test]
    fn ends_at_max_or_below_start() {
        assert_eq!(
            run(100.0, 1000.0, 0.05, |_| true).0,
            Answer::AtLeastMax { rate: 1000.0 }
        );
        assert_eq!(run(100.0, 1000.0, 0.05, |_| false).0, Answer::BelowStart);
    }

    #[test]
    fn a_failed_confirmation_moves_the_answer_down() {
        // 200 passes the short probe but fails the long one; 150 holds.
        let mut calls = 0;
        let confirm_fails = std::cell::Cell::new(true);
        let mut s = Search::new(100.0, 1000.0, 2.0, 0.05);
        let mut answer = None;
        while answer.is_none() {
            calls += 1;
            assert!(calls < 70);
            match s.next() {
                Next::Done(a) => answer = Some(a),
                Next::Probe { rate, confirm } => {
                    let ok = if confirm && rate == 200.0 && confirm_fails.get() {
                        confirm_fails.set(false);
                        false
                    } else {
                        rate <= 200.0
                    };
                    s.record(rate, ok, confirm);
                }
            }
        }
        match answer.unwrap() {
            Answer::Found { rate, failed } => {
                assert!(rate < 200.0 && failed == 200.0, "{rate} {failed}");
                assert!((failed - rate) / rate <= 0.05);
            }
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        /// Any knee between start and max is bracketed within the tolerance, and the answer
        /// is a rate that passed.
        #[test]
        fn the_knee_is_always_bracketed(start in 1.0f64..1000.0, span in 1.5f64..1000.0, knee_at in 0.0f64..1.0, tol in 0.01f64..0.3) {
            let max = start * span;
            let knee = start + (max - start) * knee_at;
            let (a, seen) = run(start, max, tol, |r| r <= knee);
            match a {
                Answer::Found { rate, failed } => {
                    prop_assert!(rate <= knee && failed > knee, "{rate} {knee} {failed}");
                    // Rounding to whole requests can leave a bracket one request wider.
                    prop_assert!((failed - rate) / rate <= tol || failed - rate <= 1.0 + 1e-9, "{rate} {failed}");
                }
                Answer::AtLeastMax { rate } => prop_assert!(rate >= max && knee >= max, "{rate} {knee}"),
                Answer::BelowStart => prop_assert!(knee < start),
            }
            if let Answer::Found { rate, .. } | Answer::AtLeastMax { rate } = a {
                prop_assert!(!seen.iter().any(|(r, ok)| *r == rate && !ok), "{rate} failed once");
            }
        }

        /// A server whose verdicts near the knee are random: whatever it answers, the search
        /// ends and never reports a rate that failed.
        #[test]
        fn never_reports_a_failed_rate(knee in 50.0f64..5000.0, flips in proptest::collection::vec(any::<bool>(), 80)) {
            let i = std::cell::Cell::new(0usize);
            let (a, seen) = run(100.0, 100_000.0, 0.05, |r| {
                let k = i.get();
                i.set(k + 1);
                if (r - knee).abs() / knee < 0.2 { flips[k % flips.len()] } else { r <= knee }
            });
            if let Answer::Found { rate, .. } | Answer::AtLeastMax { rate } = a {
                prop_assert!(!seen.iter().any(|(r, ok)| *r == rate && !ok), "{rate} failed once in {seen:?}");
            }
        }
    }

    #[test]
    fn a_growing_queue_is_rising_and_noise_is_not() {
        // 5 ms/s of queue growth over 6 s.
        let queue: Vec<f64> = (0..6).map(|i| 300.0 + 5_000.0 * f64::from(i)).collect();
        assert!(rising(&queue, Z_P50).is_some());
        // Flat with noise, and a single slow second at the end.
        let flat = [310.0, 290.0, 305.0, 300.0, 295.0, 5_000.0];
        assert!(rising(&flat, Z_P50).is_none());
        // Steadily rising by microseconds: significant but not a queue.
        let drift: Vec<f64> = (0..20).map(|i| 300.0 + 10.0 * f64::from(i)).collect();
        assert!(rising(&drift, Z_P50).is_none());
        // Falling (a backlog draining) is not rising.
        let falling: Vec<f64> = queue.iter().rev().copied().collect();
        assert!(rising(&falling, Z_P50).is_none());
        assert!(rising(&queue[..3], Z_P50).is_none());
    }
}
