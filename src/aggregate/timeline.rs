//! Per-second buckets built from 100 ms ticks. A second is closed (summarised and its
//! histogram recycled) once every thread has delivered all of its ticks, so at most a couple
//! of open seconds exist at any time.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::engine::TICK;
use crate::record::{Interval, new_histogram};

const TICKS_PER_SECOND: u64 = 1_000 / TICK.as_millis() as u64;

struct Open {
    requests: u64,
    errors: u64,
    dropped: u64,
    /// Latest active-VU gauge per thread within this second.
    vus: Vec<u64>,
    latency: Histogram<u64>,
}

pub(super) struct Timeline {
    open: BTreeMap<u64, Open>,
    closed: VecDeque<Second>,
    spare: Vec<Histogram<u64>>,
    /// Most seconds kept: a run without an end keeps a rolling window so its memory stays
    /// constant however long it runs.
    cap: usize,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline::new(usize::MAX)
    }
}

/// One second of the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Second {
    /// Seconds since the start of the measured run.
    pub second: u64,
    pub requests: u64,
    pub errors: u64,
    /// Requests per second over this bucket (the last bucket may be shorter than 1 s).
    pub rps: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// Active VUs at the end of the second.
    pub vus: u64,
    /// Open-model iterations dropped in this second.
    pub dropped: u64,
}
/// Tick k covers (k−1, k] tenths: it belongs to second (k−1) / 10.
fn second_of(tick: u64) -> u64 {
    tick.saturating_sub(1) / TICKS_PER_SECOND
}

impl Timeline {
    pub fn new(cap: usize) -> Timeline {
        Timeline {
            open: BTreeMap::new(),
            closed: VecDeque::new(),
            spare: Vec::new(),
            cap: cap.max(1),
        }
    }

    fn push(&mut self, s: Second) {
        if self.closed.len() >= self.cap {
            self.closed.pop_front();
        }
        self.closed.push_back(s);
    }

    pub fn add(&mut self, thread: usize, threads: usize, tick: u64, iv: &Interval) {
        let s = second_of(tick);
        if let Some(c) = self.closed.iter_mut().rev().find(|c| c.second == s) {
            // A thread's final interval can be labelled with a tick whose second another
            // thread's progress already closed: fold its counts in (percentiles stay those
            // of the closed second).
            let before = c.requests;
            c.requests += iv.requests();
            c.errors += iv.failed();
            if before > 0 {
                c.rps *= c.requests as f64 / before as f64;
            }
            return;
        }
        let spare = &mut self.spare;
        let open = self.open.entry(s).or_insert_with(|| Open {
            requests: 0,
            errors: 0,
            dropped: 0,
            vus: vec![0; threads],
            latency: spare.pop().unwrap_or_else(new_histogram),
        });
        open.requests += iv.requests();
        open.errors += iv.failed();
        open.dropped += iv.dropped;
        open.vus[thread] = iv.vus;
        open.latency
            .add(&iv.latency)
            .expect("every histogram of a run has the same bounds");
    }

    /// Closes every second whose ticks have all arrived (all ticks ≤ `through`).
    pub fn close_through(&mut self, through: u64, t0: Instant, ended: Option<Instant>) {
        while let Some((&s, _)) = self.open.first_key_value() {
            let last_tick = (s + 1) * TICKS_PER_SECOND;
            if through != u64::MAX && through < last_tick {
                break;
            }
            let (s, mut open) = self.open.pop_first().expect("checked non-empty");
            // Fill seconds with no traffic at all, so the timeline has no holes.
            let next = self.closed.back().map_or(0, |c| c.second + 1);
            for gap in next..s {
                self.push(Second {
                    second: gap,
                    ..Second::default()
                });
            }
            let span = match ended {
                Some(e) if through == u64::MAX => {
                    let end = e.saturating_duration_since(t0);
                    (end.saturating_sub(Duration::from_secs(s))).min(Duration::from_secs(1))
                }
                _ => Duration::from_secs(1),
            };
            let secs = span.as_secs_f64().max(1e-3);
            let h = &open.latency;
            self.push(Second {
                second: s,
                requests: open.requests,
                errors: open.errors,
                rps: open.requests as f64 / secs,
                p50_us: h.value_at_quantile(0.5),
                p90_us: h.value_at_quantile(0.9),
                p99_us: h.value_at_quantile(0.99),
                max_us: h.max(),
                vus: open.vus.iter().sum(),
                dropped: open.dropped,
            });
            open.latency.reset();
            self.spare.push(open.latency);
        }
    }

    /// Requests per second of the latest closed second.
    pub fn last_rps(&self) -> f64 {
        self.closed.back().map_or(0.0, |s| s.rps)
    }

    /// The last `n` complete seconds.
    pub fn recent(&self, n: usize) -> Vec<Second> {
        self.closed
            .iter()
            .skip(self.closed.len().saturating_sub(n))
            .cloned()
            .collect()
    }

    pub fn into_seconds(self) -> Vec<Second> {
        self.closed.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Recorder;

    fn iv(n: u64) -> Interval {
        let mut r = Recorder::default();
        for _ in 0..n {
            r.response(
                200,
                Duration::from_millis(1),
                Duration::from_millis(1),
                Duration::ZERO,
                1,
            );
        }
        r.take(Interval::default())
    }

    #[test]
    fn ticks_fold_into_seconds_and_gaps_are_filled() {
        let t0 = Instant::now();
        let mut t = Timeline::default();
        for k in 1..=10 {
            t.add(0, 1, k, &iv(2));
        }
        t.add(0, 1, 31, &iv(5));
        t.close_through(10, t0, None);
        assert_eq!(t.closed.len(), 1);
        assert_eq!(t.closed[0].requests, 20);
        assert_eq!(t.closed[0].rps, 20.0);
        t.close_through(u64::MAX, t0, Some(t0 + Duration::from_millis(3_500)));
        let secs: Vec<(u64, u64)> = t.closed.iter().map(|s| (s.second, s.requests)).collect();
        assert_eq!(secs, vec![(0, 20), (1, 0), (2, 0), (3, 5)]);
        assert!(
            (t.closed[3].rps - 10.0).abs() < 1e-9,
            "partial last second: 5 in 0.5 s"
        );
    }
}

#[cfg(test)]
mod cap_tests {
    use super::*;

    #[test]
    fn an_unbounded_run_keeps_a_rolling_window() {
        let t0 = Instant::now();
        let mut t = Timeline::new(3);
        for s in 0..10u64 {
            t.add(0, 1, s * 10 + 1, &Interval::default());
            t.close_through((s + 1) * 10, t0, None);
        }
        let secs: Vec<u64> = t.into_seconds().iter().map(|s| s.second).collect();
        assert_eq!(secs, vec![7, 8, 9]);
    }
}
