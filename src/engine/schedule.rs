//! Intended send times: the inverse of a rate curve's cumulative area.
//!
//! Arrival `g` (0-based, global across threads and machines) is due when the area under the
//! rate curve reaches `g`. A thread takes the arrivals whose number is in its [`Share`], the
//! rule that splits VUs, so the union over threads (and machines) is exactly the
//! single-thread schedule. Times are computed, never accumulated from timer wake-ups, so timer
//! lateness is measured (as schedule lag) instead of silently lowering the rate.
//!
//! Live commands change the curve from an instant `at` of the run's clock: every thread
//! applies the same pure edit at the same `at`, so the area before `at` (and with it the
//! numbering of every arrival before `at`) is unchanged, and after it all threads together
//! follow the new curve exactly. For that, no thread may have planned past `at`: a caller
//! asks with a *horizon* (its clock plus [`HORIZON`]) and the schedule does not move into a
//! piece of the curve that starts beyond it; commands take effect [`LEAD`] after they are
//! sent, which is more than the horizon plus one pattern step. An arrival already handed out
//! for a time at or after `at` is taken back ([`Schedule::taken_back`] says from when).

use std::collections::VecDeque;
use std::time::Duration;

use crate::plan::load_model::{Arrivals, Curve, Segment, fraction};
use crate::plan::pattern::{PatternSpec, PatternState};
use crate::plan::share::Share;

/// Step at which an irregular pattern's rate is sampled (linear in between).
pub const PATTERN_STEP: f64 = 0.01;
const PATTERN_STEP_NS: u64 = 10_000_000;

/// How far ahead of its clock a caller may let the schedule plan.
pub const HORIZON: Duration = Duration::from_millis(20);

/// How long after it is sent a command takes effect: more than [`HORIZON`] plus one pattern
/// step plus the time a busy thread takes to read its command queue.
pub const LEAD: Duration = Duration::from_millis(50);

/// What a caller of [`Schedule::next_arrival`] does next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// An arrival of this share, due this many seconds after the load started.
    At(f64),
    /// Nothing is planned before this offset: ask again when the clock is within
    /// [`HORIZON`] of it (or when a command arrives). Offsets beyond any run mean "until a
    /// command".
    Wait(f64),
    /// The curve has ended.
    End,
}

/// A pending edit of the curve, applied where the curve reaches its instant.
enum Change {
    /// The whole curve, as edited (its values before the instant are the old ones).
    Curve(Curve),
    /// A new irregular pattern.
    Pattern(Box<PatternSpec>),
    /// The pattern's base rate.
    Base(f64),
    /// A spike fired into the pattern until the given instant.
    Spike { factor: f64, until: Duration },
}

/// The curve as planned, every registered change included: what the next command edits.
enum Planned {
    Curve(Curve),
    Pattern(Box<PatternSpec>),
    Burst,
}

enum Source {
    /// The rest of a curve: `segments[next]` starts at `start`.
    Curve {
        segments: Vec<Segment>,
        next: usize,
        start: Duration,
    },
    /// Piece `k` spans `[k, k + 1] × PATTERN_STEP`.
    Pattern {
        state: Box<PatternState>,
        k: u64,
    },
    Burst {
        size: u64,
        every: f64,
    },
    /// The curve has ended; zero until a pending change.
    Ended,
}

/// Where arrival `g` falls on the cumulative area of the rate curve.
///
/// Evenly, arrival `g` is due when the area reaches `g`. For Poisson arrivals it is due when
/// the area reaches `S_g`, the sum of `g + 1` exponential gaps of mean 1: a unit-rate Poisson
/// process, which the rate curve rescales into a non-homogeneous one with that rate (the
/// time-rescaling theorem). Each gap is a pure function of the seed and its index, so every
/// thread (and machine) sees the same `S_g` for the same `g`, the share rule keeps working,
/// and a thread can walk `S` backwards when a live edit takes arrivals back.
#[derive(Debug, Clone)]
pub enum Targets {
    Even,
    Poisson(PoissonTargets),
}

impl Targets {
    pub fn poisson(seed: u64) -> Targets {
        Targets::Poisson(PoissonTargets::new(seed))
    }

    fn at(&mut self, g: u64) -> f64 {
        match self {
            Targets::Even => g as f64,
            Targets::Poisson(p) => p.at(g),
        }
    }

    /// How many arrivals fall strictly below `area`.
    fn count_below(&mut self, area: f64) -> u64 {
        match self {
            Targets::Even => area.ceil().max(0.0) as u64,
            Targets::Poisson(p) => p.count_below(area),
        }
    }
}

/// `S_g` for a seeded unit-rate Poisson process, kept at a cursor that moves either way.
#[derive(Debug, Clone)]
pub struct PoissonTargets {
    seed: u64,
    g: u64,
    /// `S_g`.
    s: f64,
}

impl PoissonTargets {
    fn new(seed: u64) -> PoissonTargets {
        let mut p = PoissonTargets { seed, g: 0, s: 0.0 };
        p.s = p.gap(0);
        p
    }

    /// Exponential gap `i` (mean 1): `-ln(1 - u)` of a uniform drawn from (seed, i) by
    /// SplitMix64, which any index reaches without the ones before it.
    fn gap(&self, i: u64) -> f64 {
        let mut z = self
            .seed
            .wrapping_add(i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // 53 random bits: u in [0, 1), so 1 - u in (0, 1] and the log is finite.
        let u = (z >> 11) as f64 / (1u64 << 53) as f64;
        -(1.0 - u).ln()
    }

    fn at(&mut self, g: u64) -> f64 {
        while self.g < g {
            self.g += 1;
            self.s += self.gap(self.g);
        }
        while self.g > g {
            self.s -= self.gap(self.g);
            self.g -= 1;
        }
        self.s
    }

    fn count_below(&mut self, area: f64) -> u64 {
        // The first g with S_g ≥ area is the count of those below it.
        while self.s < area {
            self.g += 1;
            self.s += self.gap(self.g);
        }
        while self.g > 0 && self.s - self.gap(self.g) >= area {
            self.s -= self.gap(self.g);
            self.g -= 1;
        }
        if self.g == 0 && self.s >= area {
            0
        } else {
            self.g
        }
    }
}

/// Yields this thread's share of the arrival times, in seconds since the load started.
pub struct Schedule {
    source: Source,
    targets: Targets,
    /// Which arrival numbers are this thread's, and how many of them it has taken.
    share: Share,
    taken: u64,
    // The current piece of the rate curve: linear from `seg_from` to `seg_to`.
    seg_start: f64,
    seg_end: f64,
    seg_from: f64,
    seg_to: f64,
    /// The piece's bounds, exactly, for cutting it and comparing with change instants.
    start_at: Duration,
    end_at: Duration,
    /// Cumulative area at `seg_start`.
    area0: f64,
    exhausted: bool,
    pending: VecDeque<(Duration, Change)>,
    planned: Planned,
    start_unix: f64,
    /// Arrivals handed out for this offset or later were taken back by the last change.
    taken_back: f64,
}

impl Schedule {
    /// `start_unix` anchors an irregular pattern's wall-clock schedule.
    pub fn new(arrivals: &Arrivals, share: Share, start_unix: f64) -> Schedule {
        let (source, planned, rate0) = match arrivals {
            Arrivals::Rate(c) => (
                Source::Curve {
                    segments: c.segments.clone(),
                    next: 0,
                    start: Duration::ZERO,
                },
                Planned::Curve(c.clone()),
                0.0,
            ),
            Arrivals::Pattern(p) => {
                let mut state = Box::new(PatternState::new(p, start_unix));
                let rate = state.at(0.0).rate;
                (
                    Source::Pattern { state, k: 0 },
                    Planned::Pattern(p.clone()),
                    rate,
                )
            }
            Arrivals::Burst { size, every } => (
                Source::Burst {
                    size: *size,
                    every: every.as_secs_f64(),
                },
                Planned::Burst,
                0.0,
            ),
            // A replay's times come from its records (`engine::replay`), not a schedule:
            // nothing arrives here, and commands leave it as it is.
            Arrivals::Replay(_) => (
                Source::Curve {
                    segments: Vec::new(),
                    next: 0,
                    start: Duration::ZERO,
                },
                Planned::Burst,
                0.0,
            ),
        };
        let mut s = Schedule {
            source,
            targets: Targets::Even,
            share,
            taken: 0,
            seg_start: 0.0,
            seg_end: 0.0,
            seg_from: 0.0,
            seg_to: rate0,
            start_at: Duration::ZERO,
            end_at: Duration::ZERO,
            area0: 0.0,
            exhausted: false,
            pending: VecDeque::new(),
            planned,
            start_unix,
            taken_back: f64::INFINITY,
        };
        if !s.load_segment() {
            s.exhausted = true;
        }
        s
    }

    /// Arrivals spaced as `targets` says (Poisson or even) instead of evenly.
    pub fn with_targets(mut self, targets: Targets) -> Schedule {
        self.targets = targets;
        self
    }

    /// A constant rate, for the slots of a rate-limited closed model.
    pub fn constant(rate: f64, share: Share) -> Schedule {
        Schedule::new(
            &Arrivals::Rate(Curve::new(vec![Segment::flat(Duration::MAX, rate)])),
            share,
            0.0,
        )
    }

    /// Loads the piece that starts where the current one ends, applying the changes due
    /// there first; false when the curve has ended and no change is pending.
    fn load_segment(&mut self) -> bool {
        let start = self.end_at;
        while self.pending.front().is_some_and(|(at, _)| *at <= start) {
            let (_, change) = self.pending.pop_front().expect("checked");
            self.switch(start, change);
        }
        let limit = self.pending.front().map(|(at, _)| *at);
        let (end, from, to) = match &mut self.source {
            Source::Curve {
                segments,
                next,
                start: seg_start,
            } => match segments.get(*next).copied() {
                Some(seg) => {
                    *next += 1;
                    let end = seg_start.saturating_add(seg.dur);
                    *seg_start = end;
                    match limit {
                        // A change falls inside: this piece ends there (the change replaces
                        // the source, so the rest of the segment is never read).
                        Some(l) if l < end => {
                            let x = fraction(l - start, seg.dur);
                            (l, seg.from, seg.from + (seg.to - seg.from) * x)
                        }
                        _ => (end, seg.from, seg.to),
                    }
                }
                None => {
                    self.source = Source::Ended;
                    return self.load_segment_ended(start, limit);
                }
            },
            Source::Pattern { state, k } => {
                *k += 1;
                let from = self.seg_to;
                let to = state.at(*k as f64 * PATTERN_STEP).rate;
                (Duration::from_nanos(*k * PATTERN_STEP_NS), from, to)
            }
            Source::Burst { .. } => return true,
            Source::Ended => return self.load_segment_ended(start, limit),
        };
        self.set_piece(start, end, from, to);
        true
    }

    /// After the curve's end: a zero piece up to the next change, or the end.
    fn load_segment_ended(&mut self, start: Duration, limit: Option<Duration>) -> bool {
        match limit {
            Some(l) => {
                self.set_piece(start, l, 0.0, 0.0);
                true
            }
            None => false,
        }
    }

    fn set_piece(&mut self, start: Duration, end: Duration, from: f64, to: f64) {
        self.start_at = start;
        self.end_at = end;
        self.seg_start = start.as_secs_f64();
        self.seg_end = end.as_secs_f64();
        self.seg_from = from;
        self.seg_to = to;
    }

    /// Applies a change at `at`, the start of the next piece.
    fn switch(&mut self, at: Duration, change: Change) {
        match change {
            Change::Curve(c) => {
                self.source = Source::Curve {
                    segments: c.tail(at).segments,
                    next: 0,
                    start: at,
                };
            }
            Change::Pattern(spec) => {
                let mut state = Box::new(PatternState::new(&spec, self.start_unix));
                let k = (at.as_nanos() / u128::from(PATTERN_STEP_NS)) as u64;
                // Advance the new pattern to `at` (it must only move forward).
                state.at(k as f64 * PATTERN_STEP);
                self.source = Source::Pattern { state, k };
            }
            Change::Base(b) => {
                if let Source::Pattern { state, .. } = &mut self.source {
                    state.set_base(b);
                }
            }
            Change::Spike { factor, until } => {
                if let Source::Pattern { state, .. } = &mut self.source {
                    state.force_spike(at.as_secs_f64(), until.as_secs_f64(), factor);
                }
            }
        }
    }

    /// The next arrival time of this thread's share. The schedule does not move into a piece
    /// that starts after `horizon` (seconds since the load started): see the module doc.
    pub fn next_arrival(&mut self, horizon: f64) -> Next {
        if let Source::Burst { size, every } = self.source {
            let g = self.share.nth(self.taken);
            self.taken += 1;
            return Next::At((g / size.max(1)) as f64 * every);
        }
        if self.exhausted {
            return Next::End;
        }
        let target = self.targets.at(self.share.nth(self.taken));
        loop {
            let dur = self.seg_end - self.seg_start;
            let area = (self.seg_from + self.seg_to) / 2.0 * dur;
            if target < self.area0 + area {
                let need = target - self.area0;
                let tau = solve(self.seg_from, self.seg_to, dur, need);
                self.taken += 1;
                return Next::At(self.seg_start + tau.min(dur));
            }
            if self.seg_end > horizon {
                return Next::Wait(self.seg_end);
            }
            self.area0 += area;
            if !self.load_segment() {
                self.exhausted = true;
                return Next::End;
            }
        }
    }

    /// Arrivals handed out for this offset or later were taken back by the last change: the
    /// caller holding one asks again.
    pub fn taken_back(&self) -> f64 {
        self.taken_back
    }

    /// Whether the curve can be edited (a burst has no rate to edit).
    pub fn editable(&self) -> bool {
        !matches!(self.planned, Planned::Burst)
    }

    /// From `at` on, arrivals come at `rate` (an irregular pattern: its base becomes `rate`).
    /// Returns the instant the change took effect (later than `at` only if this thread had
    /// already planned past it).
    pub fn set_rate(&mut self, at: Duration, rate: f64) -> Duration {
        match &mut self.planned {
            Planned::Curve(c) => {
                *c = c.set_from(at, rate);
                let c = c.clone();
                self.register(at, Change::Curve(c))
            }
            Planned::Pattern(p) => {
                p.base = rate;
                self.register(at, Change::Base(rate))
            }
            Planned::Burst => at,
        }
    }

    /// The rate multiplied by `factor` on `[at, at + dur)`; an irregular pattern's rate stays
    /// capped at its `max`.
    pub fn spike(&mut self, at: Duration, factor: f64, dur: Duration) -> Duration {
        let until = at.saturating_add(dur);
        match &mut self.planned {
            Planned::Curve(c) => {
                *c = c.scaled(at, until, factor);
                let c = c.clone();
                self.register(at, Change::Curve(c))
            }
            Planned::Pattern(_) => self.register(at, Change::Spike { factor, until }),
            Planned::Burst => at,
        }
    }

    /// From `at` on, the arrivals of a new model (its time 0 placed at `at`).
    pub fn replace(&mut self, at: Duration, arrivals: &Arrivals) -> Duration {
        match arrivals {
            Arrivals::Rate(new) => {
                let c = match &self.planned {
                    Planned::Curve(c) => c.splice(at, new),
                    _ => Curve::new(vec![Segment::flat(at, 0.0)]).splice(at, new),
                };
                self.planned = Planned::Curve(c.clone());
                self.register(at, Change::Curve(c))
            }
            Arrivals::Pattern(p) => {
                self.planned = Planned::Pattern(p.clone());
                self.register(at, Change::Pattern(p.clone()))
            }
            Arrivals::Burst { .. } | Arrivals::Replay(_) => at,
        }
    }

    /// Queues a change for `at`, cutting the current piece there when `at` falls inside it.
    fn register(&mut self, at: Duration, change: Change) -> Duration {
        let pattern = matches!(self.source, Source::Pattern { .. });
        let at = if at >= self.end_at {
            at
        } else if pattern || at <= self.start_at {
            // Late: this thread planned past `at`. A pattern's piece cannot be cut (its end
            // rate was sampled), so the change waits for the piece's end.
            if pattern { self.end_at } else { self.start_at }
        } else {
            at
        };
        if at < self.end_at && !self.exhausted {
            // Cut the current piece at `at` and take back what was handed out beyond it.
            let x = fraction(at - self.start_at, self.end_at - self.start_at);
            let to = self.seg_from + (self.seg_to - self.seg_from) * x;
            self.set_piece(self.start_at, at, self.seg_from, to);
            let area = (self.seg_from + self.seg_to) / 2.0 * (self.seg_end - self.seg_start);
            let below = self.targets.count_below(self.area0 + area);
            self.taken = self.taken.min(self.share.count_below(below));
            self.taken_back = self.seg_end;
        }
        if self.exhausted {
            // The curve had ended (its last piece is already in `area0`): it resumes at the
            // change, after a zero piece.
            self.exhausted = false;
            self.source = Source::Ended;
            self.set_piece(self.end_at, self.end_at, 0.0, 0.0);
        }
        let i = self.pending.partition_point(|(t, _)| *t <= at);
        self.pending.insert(i, (at, change));
        at
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
        while let Next::At(t) = s.next_arrival(f64::INFINITY) {
            if t >= until {
                break;
            }
            v.push(t);
        }
        v
    }

    /// Kolmogorov–Smirnov distance of `gaps` (seconds) from an exponential of `rate`.
    fn ks_exponential(gaps: &mut [f64], rate: f64) -> f64 {
        gaps.sort_by(f64::total_cmp);
        let n = gaps.len() as f64;
        gaps.iter()
            .enumerate()
            .map(|(i, g)| {
                let f = 1.0 - (-rate * g).exp();
                (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
            })
            .fold(0.0, f64::max)
    }

    /// 20,000 Poisson arrivals at 1,000/s: the count matches the area within a few
    /// standard deviations (√20,000 ≈ 141: ±600 is > 4σ), and the gaps pass a KS test
    /// against the exponential (critical D at α = 0.001 is 1.95/√n ≈ 0.0138); even spacing
    /// fails that test by far.
    #[test]
    fn poisson_gaps_are_exponential() {
        let s = Schedule::constant(1000.0, Share::whole()).with_targets(Targets::poisson(7));
        let v = all(s, 20.0);
        assert!((v.len() as i64 - 20_000).abs() < 600, "{}", v.len());
        let mut gaps: Vec<f64> = v.windows(2).map(|w| w[1] - w[0]).collect();
        let d = ks_exponential(&mut gaps, 1000.0);
        assert!(d < 0.0138, "KS distance {d}");
        let even = all(Schedule::constant(1000.0, Share::whole()), 20.0);
        let mut gaps: Vec<f64> = even.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(ks_exponential(&mut gaps, 1000.0) > 0.5);
        // Seeded: the same seed gives the same arrivals; another seed others.
        let again = all(
            Schedule::constant(1000.0, Share::whole()).with_targets(Targets::poisson(7)),
            20.0,
        );
        assert_eq!(v, again);
        let other = all(
            Schedule::constant(1000.0, Share::whole()).with_targets(Targets::poisson(8)),
            1.0,
        );
        assert_ne!(v[..other.len().min(v.len())], other[..]);
    }

    #[test]
    fn poisson_cursor_walks_both_ways_and_counts() {
        let mut p = PoissonTargets::new(3);
        let forward: Vec<f64> = (0..1000).map(|g| p.at(g)).collect();
        assert!(forward.windows(2).all(|w| w[1] > w[0]));
        // Back and forth again: the same values (within float rounding).
        for g in [500u64, 3, 999, 0, 250] {
            assert!((p.at(g) - forward[g as usize]).abs() < 1e-9);
        }
        for area in [
            0.0,
            0.5,
            forward[10],
            forward[10] + 1e-9,
            forward[700] - 1e-9,
        ] {
            let want = forward.iter().filter(|s| **s < area).count() as u64;
            assert_eq!(p.count_below(area), want, "area {area}");
        }
    }

    proptest! {
        /// The share rule still holds for Poisson arrivals: the threads' arrivals together
        /// are exactly the single-thread schedule.
        #[test]
        fn poisson_threads_together_are_the_whole(parts in 1u64..5, seed in 0u64..1000) {
            let whole = all(
                Schedule::constant(500.0, Share::whole()).with_targets(Targets::poisson(seed)),
                2.0,
            );
            let mut union: Vec<f64> = (0..parts)
                .flat_map(|i| {
                    all(
                        Schedule::constant(500.0, Share::part(i, parts))
                            .with_targets(Targets::poisson(seed)),
                        2.0,
                    )
                })
                .collect();
            union.sort_by(f64::total_cmp);
            prop_assert_eq!(union, whole);
        }
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

    type Edit = Box<dyn FnOnce(&mut Schedule)>;

    /// Takes arrivals as a dispatcher does (horizon from its clock, sleeping through waits);
    /// the command reaches it at `sent` (its clock), while it sleeps for whatever is next.
    fn steered(mut s: Schedule, sent: f64, edit: Edit, until: f64) -> Vec<f64> {
        let h = HORIZON.as_secs_f64();
        let mut edit = Some(edit);
        let mut v = Vec::new();
        let mut clock = 0.0;
        loop {
            match s.next_arrival(clock + h) {
                Next::End => break,
                Next::Wait(u) => {
                    let wake = u - h;
                    if wake >= sent
                        && let Some(e) = edit.take()
                    {
                        clock = sent;
                        e(&mut s);
                        continue;
                    }
                    if wake >= until {
                        break;
                    }
                    clock = wake;
                }
                Next::At(t) => {
                    if t >= sent
                        && let Some(e) = edit.take()
                    {
                        clock = sent;
                        e(&mut s);
                        if t >= s.taken_back() {
                            continue; // taken back: ask again
                        }
                    }
                    if t >= until {
                        break;
                    }
                    v.push(t);
                    clock = t;
                }
            }
        }
        v
    }

    fn union(parts: impl Iterator<Item = Vec<f64>>) -> Vec<f64> {
        let mut u: Vec<f64> = parts.flatten().collect();
        u.sort_by(f64::total_cmp);
        u
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn set_rate_mid_segment_follows_the_new_rate_exactly() {
        // 100/s for 10 s; at 3 s, 400/s: 300 + 7 × 400 arrivals.
        let c = Curve::new(vec![Segment::flat(Duration::from_secs(10), 100.0)]);
        let at = ms(3_000);
        let sent = (at - LEAD).as_secs_f64();
        let v = steered(
            Schedule::new(&Arrivals::Rate(c), Share::whole(), 0.0),
            sent,
            Box::new(move |s| assert_eq!(s.set_rate(at, 400.0), at)),
            1e9,
        );
        assert_eq!(v.len(), 300 + 2_800);
        assert!(v[..300].iter().all(|t| *t < 3.0));
        assert!((v[301] - v[300] - 1.0 / 400.0).abs() < 1e-9);
        assert!(v.iter().all(|t| *t <= 10.0));
    }

    proptest! {
        /// A live rate change under Poisson arrivals: every thread applies it at the same
        /// instant, takes back what it handed out beyond it (its cursor walks back), and the
        /// threads together are still exactly the single-thread schedule.
        #[test]
        fn poisson_set_rate_keeps_the_share_rule(parts in 1u64..4, seed in 0u64..200, r2 in 50.0f64..2000.0) {
            let c = Curve::new(vec![Segment::flat(Duration::from_secs(3), 300.0)]);
            let at = ms(1_000);
            let sent = (at - LEAD).as_secs_f64();
            let run = |share: Share| {
                steered(
                    Schedule::new(&Arrivals::Rate(c.clone()), share, 0.0)
                        .with_targets(Targets::poisson(seed)),
                    sent,
                    Box::new(move |s| {
                        s.set_rate(at, r2);
                    }),
                    1e9,
                )
            };
            let whole = run(Share::whole());
            let mut union: Vec<f64> = (0..parts).flat_map(|i| run(Share::part(i, parts))).collect();
            union.sort_by(f64::total_cmp);
            prop_assert_eq!(union.len(), whole.len());
            for (a, b) in union.iter().zip(&whole) {
                prop_assert!((a - b).abs() < 1e-9, "{} vs {}", a, b);
            }
        }
    }

    #[test]
    fn an_arrival_handed_out_past_the_change_is_taken_back() {
        // 1/s: the dispatcher holds the arrival due at 1 s when the rate becomes 1000/s at
        // 0.5 s; it must ask again and get 0.501 s, not keep 1 s.
        let c = Curve::new(vec![Segment::flat(Duration::from_secs(2), 1.0)]);
        let mut s = Schedule::new(&Arrivals::Rate(c), Share::whole(), 0.0);
        assert_eq!(s.next_arrival(0.02), Next::At(0.0));
        assert_eq!(s.next_arrival(0.02), Next::At(1.0));
        s.set_rate(ms(500), 1000.0);
        assert_eq!(s.taken_back(), 0.5);
        // Arrival 1 is due when the area reaches 1: 0.5 (from the first 0.5 s) + 0.5 × 1000 × dt.
        let Next::At(t) = s.next_arrival(0.52) else {
            panic!("expected an arrival")
        };
        assert!((t - 0.5005).abs() < 1e-9, "{t}");
    }

    #[test]
    fn a_spike_multiplies_the_rate_for_its_window() {
        let c = Curve::new(vec![Segment::flat(Duration::from_secs(10), 200.0)]);
        let (at, dur) = (ms(2_000), ms(1_500));
        let v = steered(
            Schedule::new(&Arrivals::Rate(c), Share::whole(), 0.0),
            (at - LEAD).as_secs_f64(),
            Box::new(move |s| {
                s.spike(at, 3.0, dur);
            }),
            1e9,
        );
        let in_window = v.iter().filter(|t| **t >= 2.0 && **t < 3.5).count();
        assert_eq!(in_window, 900);
        assert_eq!(v.len(), 2_000 + 2 * 200 * 1_500 / 1_000);
    }

    #[test]
    fn a_paused_zero_rate_waits_for_a_command() {
        // Rate 0 from the start: the caller waits; a set-rate at 1 s starts arrivals there.
        let c = Curve::new(vec![Segment::flat(Duration::from_secs(5), 0.0)]);
        let mut s = Schedule::new(&Arrivals::Rate(c), Share::whole(), 0.0);
        assert_eq!(s.next_arrival(0.02), Next::Wait(5.0));
        s.set_rate(ms(1_000), 10.0);
        assert_eq!(s.next_arrival(1.0), Next::At(1.0));
        assert!(matches!(s.next_arrival(1.2), Next::At(t) if (t - 1.1).abs() < 1e-9));
    }

    #[test]
    fn replace_switches_between_a_curve_and_a_pattern_on_every_share_alike() {
        let spec = crate::plan::pattern::PatternSpec {
            base: 300.0,
            max: 2_000.0,
            floor: 0.0,
            schedule: vec![],
            interpolate: false,
            time_zone: jiff::tz::TimeZone::UTC,
            spikes: None,
            noise: Some(crate::plan::pattern::NoiseSpec {
                amplitude: 0.3,
                tau: Duration::from_millis(200),
            }),
            seed: 9,
        };
        let c = Curve::new(vec![Segment::flat(Duration::from_secs(4), 100.0)]);
        let pattern = Arrivals::Pattern(Box::new(spec));
        let at = ms(1_500);
        let run = |share: Share| {
            let p = pattern.clone();
            steered(
                Schedule::new(&Arrivals::Rate(c.clone()), share, 0.0),
                (at - LEAD).as_secs_f64(),
                Box::new(move |s| {
                    s.replace(at, &p);
                }),
                4.0,
            )
        };
        let whole = run(Share::whole());
        let parts = union((0..3).map(|i| run(Share::part(i, 3))));
        assert_eq!(parts, whole);
        assert_eq!(whole.iter().filter(|t| **t < 1.5).count(), 150);
        // 2.5 s of a pattern around 300/s (noise within ±30%).
        let after = whole.len() - 150;
        assert!((525..=975).contains(&after), "{after}");
    }

    proptest! {
        /// Whatever the command and wherever it falls, the threads together follow the
        /// edited curve exactly: the union of every share is the single schedule of the
        /// edited curve, and nothing before the command moved.
        #[test]
        fn a_command_keeps_the_shares_exact(
            stride in 1u64..5,
            r0 in 1.0f64..2000.0,
            r1 in 0.0f64..2000.0,
            at_ms in 60u64..3_900,
            kind in 0u8..3,
            value in 0.0f64..3000.0,
        ) {
            let c = Curve::new(vec![
                Segment { dur: Duration::from_secs(3), from: r0, to: r1 },
                Segment::flat(Duration::from_secs(1), r1),
            ]);
            let at = ms(at_ms);
            let edited = match kind {
                0 => c.set_from(at, value),
                1 => c.scaled(at, at + ms(700), 1.0 + value / 1000.0),
                _ => c.splice(at, &Curve::new(vec![Segment { dur: ms(900), from: value, to: r0 }])),
            };
            let edit = move |s: &mut Schedule| {
                let applied = match kind {
                    0 => s.set_rate(at, value),
                    1 => s.spike(at, 1.0 + value / 1000.0, ms(700)),
                    _ => s.replace(at, &Arrivals::Rate(Curve::new(vec![Segment { dur: ms(900), from: value, to: r0 }]))),
                };
                assert_eq!(applied, at);
            };
            let sent = (at - LEAD).as_secs_f64();
            let truth = all(Schedule::new(&Arrivals::Rate(edited), Share::whole(), 0.0), 1e9);
            let parts = union((0..stride).map(|i| {
                steered(Schedule::new(&Arrivals::Rate(c.clone()), Share::part(i, stride), 0.0), sent, Box::new(edit), 1e9)
            }));
            prop_assert_eq!(parts.len(), truth.len());
            for (a, b) in parts.iter().zip(&truth) {
                prop_assert!((a - b).abs() < 1e-6, "{} vs {}", a, b);
            }
        }
    }
}
