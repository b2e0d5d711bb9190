//! Intended send times: the inverse of a rate curve's cumulative area.
//!
//! Arrival `g` (0-based, global across threads and machines) is due when the area under the
//! rate curve reaches `g`. A thread takes the arrivals whose number is in its
//! [`Share`], the rule that splits VUs, so the union over threads (and machines) is exactly the single-thread
//! schedule. Times are computed, never accumulated from timer wake-ups, so timer lateness is
//! measured (as schedule lag) instead of silently lowering the rate.

use std::time::Duration;

use crate::plan::load_model::{Arrivals, Curve, Segment};
use crate::plan::pattern::PatternState;
use crate::plan::share::Share;

/// Step at which an irregular pattern's rate is sampled (linear in between).
pub const PATTERN_STEP: f64 = 0.01;

enum Source {
    Curve {
        segments: Vec<Segment>,
        next: usize,
    },
    Pattern {
        state: Box<PatternState>,
        t: f64,
        rate: f64,
    },
    Burst {
        size: u64,
        every: f64,
    },
}

/// Yields this thread's share of the arrival times, in seconds since the load started.
pub struct Schedule {
    source: Source,
    /// Which arrival numbers are this thread's, and how many of them it has taken.
    share: Share,
    taken: u64,
    // Current segment of the rate curve.
    seg_start: f64,
    seg_dur: f64,
    seg_from: f64,
    seg_to: f64,
    /// Cumulative area at `seg_start`.
    area0: f64,
    exhausted: bool,
}

impl Schedule {
    /// `start_unix` anchors an irregular pattern's wall-clock schedule.
    pub fn new(arrivals: &Arrivals, share: Share, start_unix: f64) -> Schedule {
        let source = match arrivals {
            Arrivals::Rate(c) => Source::Curve {
                segments: c.segments.clone(),
                next: 0,
            },
            Arrivals::Pattern(p) => {
                let mut state = Box::new(PatternState::new(p, start_unix));
                let rate = state.at(0.0).rate;
                Source::Pattern {
                    state,
                    t: 0.0,
                    rate,
                }
            }
            Arrivals::Burst { size, every } => Source::Burst {
                size: *size,
                every: every.as_secs_f64(),
            },
        };
        let mut s = Schedule {
            source,
            share,
            taken: 0,
            seg_start: 0.0,
            seg_dur: 0.0,
            seg_from: 0.0,
            seg_to: 0.0,
            area0: 0.0,
            exhausted: false,
        };
        s.load_segment();
        s
    }

    /// A constant rate, for the slots of a rate-limited closed model.
    pub fn constant(rate: f64, share: Share) -> Schedule {
        Schedule::new(
            &Arrivals::Rate(Curve::new(vec![Segment::flat(Duration::MAX, rate)])),
            share,
            0.0,
        )
    }

    /// Loads the next segment; false when the curve has ended.
    fn load_segment(&mut self) -> bool {
        let seg = match &mut self.source {
            Source::Curve { segments, next } => {
                let Some(s) = segments.get(*next).copied() else {
                    self.exhausted = true;
                    return false;
                };
                *next += 1;
                (s.dur.as_secs_f64(), s.from, s.to)
            }
            Source::Pattern { state, t, rate } => {
                let from = *rate;
                *t += PATTERN_STEP;
                *rate = state.at(*t).rate;
                (PATTERN_STEP, from, *rate)
            }
            Source::Burst { .. } => return true,
        };
        (self.seg_dur, self.seg_from, self.seg_to) = seg;
        true
    }

    /// The next arrival time of this thread's share, or `None` when the curve has ended.
    pub fn next_arrival(&mut self) -> Option<f64> {
        if let Source::Burst { size, every } = self.source {
            let g = self.share.nth(self.taken);
            self.taken += 1;
            let t = (g / size.max(1)) as f64 * every;
            return Some(t);
        }
        let target = self.share.nth(self.taken) as f64;
        while !self.exhausted {
            let area = (self.seg_from + self.seg_to) / 2.0 * self.seg_dur;
            if target < self.area0 + area {
                let need = target - self.area0;
                let tau = solve(self.seg_from, self.seg_to, self.seg_dur, need);
                self.taken += 1;
                return Some(self.seg_start + tau.min(self.seg_dur));
            }
            self.area0 += area;
            self.seg_start += self.seg_dur;
            if !self.load_segment() {
                break;
            }
        }
        None
    }
}

/// Time into a linear segment (rate `a` → `b` over `dur`) at which the area reaches `need`.
/// The form `2n / (a + √(a² + 4kn))` stays exact when the slope is tiny or zero.
fn solve(a: f64, b: f64, dur: f64, need: f64) -> f64 {
    if need <= 0.0 {
        return 0.0;
    }
    let k = if dur.is_finite() && dur > 0.0 {
        (b - a) / (2.0 * dur)
    } else {
        0.0
    };
    let disc = (a * a + 4.0 * k * need).max(0.0);
    let denom = a + disc.sqrt();
    if denom <= 0.0 {
        0.0
    } else {
        2.0 * need / denom
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(mut s: Schedule, until: f64) -> Vec<f64> {
        let mut v = Vec::new();
        while let Some(t) = s.next_arrival() {
            if t >= until {
                break;
            }
            v.push(t);
        }
        v
    }

    #[test]
    fn constant_rate_is_exact() {
        let v = all(Schedule::constant(2000.0, Share::whole()), 5.0);
        assert_eq!(v.len(), 10_000);
        assert!((v[1] - 0.0005).abs() < 1e-12);
    }

    #[test]
    fn ramp_matches_the_area() {
        // 0 → 1000/s over 4 s: area 2000.
        let c = Curve::new(vec![Segment {
            dur: Duration::from_secs(4),
            from: 0.0,
            to: 1000.0,
        }]);
        let v = all(Schedule::new(&Arrivals::Rate(c), Share::whole(), 0.0), 4.0);
        assert_eq!(v.len(), 2000);
        // Area up to t is 125 t²: the 500th arrival is due at t = 2 s.
        assert!((v[500] - 2.0).abs() < 1e-9, "{}", v[500]);
        // Ramp down too: 1000 → 0 over 4 s has the same area.
        let d = Curve::new(vec![Segment {
            dur: Duration::from_secs(4),
            from: 1000.0,
            to: 0.0,
        }]);
        assert_eq!(
            all(Schedule::new(&Arrivals::Rate(d), Share::whole(), 0.0), 10.0).len(),
            2000
        );
    }

    #[test]
    fn stages_with_a_zero_rate_stage_end() {
        let c = Curve::new(vec![
            Segment {
                dur: Duration::from_secs(2),
                from: 0.0,
                to: 100.0,
            },
            Segment::flat(Duration::from_secs(2), 100.0),
            Segment::flat(Duration::from_secs(2), 0.0),
        ]);
        let v = all(Schedule::new(&Arrivals::Rate(c), Share::whole(), 0.0), 1e9);
        assert_eq!(v.len(), 300);
        assert!(v.iter().all(|t| *t <= 4.0));
    }

    #[test]
    fn bursts() {
        let v = all(
            Schedule::new(
                &Arrivals::Burst {
                    size: 3,
                    every: Duration::from_secs(1),
                },
                Share::whole(),
                0.0,
            ),
            2.5,
        );
        assert_eq!(v, vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
    }

    proptest! {
        /// The union of every thread's share is exactly the single-thread schedule.
        #[test]
        fn shares_union_to_the_whole(stride in 1u64..8, r0 in 0.0f64..3000.0, r1 in 0.0f64..3000.0) {
            let c = Curve::new(vec![Segment { dur: Duration::from_secs(3), from: r0, to: r1 }, Segment::flat(Duration::from_secs(1), r1)]);
            let whole = all(Schedule::new(&Arrivals::Rate(c.clone()), Share::whole(), 0.0), 1e9);
            let mut union: Vec<f64> = (0..stride).flat_map(|i| all(Schedule::new(&Arrivals::Rate(c.clone()), Share::part(i, stride), 0.0), 1e9)).collect();
            union.sort_by(f64::total_cmp);
            prop_assert_eq!(union.len(), whole.len());
            for (a, b) in union.iter().zip(&whole) {
                prop_assert!((a - b).abs() < 1e-9);
            }
            let expected_area = (r0 + r1) / 2.0 * 3.0 + r1;
            prop_assert!((whole.len() as f64 - expected_area).abs() <= 1.0 + 1e-6, "{} vs {}", whole.len(), expected_area);
        }
    }
}
