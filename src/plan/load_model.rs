//! Load models: when requests are due, and what "latency" then measures.
//!
//! Every model is described by piecewise-linear [`Curve`]s of time, measured from the start
//! of the load (warmup included): a VU count for closed models, a request rate for open ones.
//! The engine turns a rate curve into send times by inverting its cumulative area, so the
//! number of requests sent always matches the area under the curve, at any rate.
//!
//! Adding a model: a [`Shape`] or [`Arrivals`] variant here, its validation in
//! `plan::build`, its schedule in `engine::schedule`, its name and parameters in the results'
//! `load` section, and a test of its timing.

use std::fmt;
use std::time::Duration;

use super::pattern::PatternSpec;

/// One linear piece: the value goes from `from` to `to` over `dur`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub dur: Duration,
    pub from: f64,
    pub to: f64,
}

impl Segment {
    pub fn flat(dur: Duration, v: f64) -> Segment {
        Segment {
            dur,
            from: v,
            to: v,
        }
    }
}

/// A piecewise-linear function of time. After the last segment the value is 0.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Curve {
    pub segments: Vec<Segment>,
}

impl Curve {
    pub fn new(segments: Vec<Segment>) -> Curve {
        Curve { segments }
    }

    /// The value at `t`.
    pub fn value_at(&self, t: Duration) -> f64 {
        let mut start = Duration::ZERO;
        for s in &self.segments {
            let end = start.saturating_add(s.dur);
            if t < end {
                let x = if s.dur.is_zero() {
                    1.0
                } else {
                    (t - start).as_secs_f64() / s.dur.as_secs_f64()
                };
                return s.from + (s.to - s.from) * x;
            }
            start = end;
        }
        0.0
    }

    pub fn max(&self) -> f64 {
        self.segments
            .iter()
            .flat_map(|s| [s.from, s.to])
            .fold(0.0, f64::max)
    }

    /// The first time ≥ `from` at which the value exceeds `level` (a VU with index `level`
    /// is active while the VU curve is above its index). `None`: never again.
    pub fn first_above(&self, level: f64, from: Duration) -> Option<Duration> {
        let mut start = Duration::ZERO;
        for s in &self.segments {
            let end = start.saturating_add(s.dur);
            if end > from {
                let t0 = from.max(start);
                let v0 = self.value_at(t0);
                if v0 > level {
                    return Some(t0);
                }
                if s.to > level && s.to > s.from {
                    // Linear: solve from + (to − from)·x = level, just past it.
                    let x = (level - s.from) / (s.to - s.from);
                    let t = start + s.dur.mul_f64(x.clamp(0.0, 1.0)) + Duration::from_micros(1);
                    return Some(t.max(t0).min(end));
                }
            }
            start = end;
        }
        None
    }
}

impl Curve {
    /// Assuming the value at `from` is above `level`: how long it stays above, as the time
    /// at which it first drops to `level` or below (`Duration::MAX`: never). Lets a VU check
    /// its stage once per crossing instead of once per request.
    pub fn above_until(&self, level: f64, from: Duration) -> Duration {
        let mut start = Duration::ZERO;
        for s in &self.segments {
            let end = start.saturating_add(s.dur);
            if end > from && s.to <= level {
                // Linear from above `level` to at or below it: the crossing point.
                let x = if s.from > s.to {
                    ((s.from - level) / (s.from - s.to)).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                return start.saturating_add(s.dur.mul_f64(x)).max(from);
            }
            start = end;
        }
        start
    }
}

/// Edits of a curve for live commands (set a rate or a VU target, fire a spike, replace the
/// model). Pure functions of the curve, so every thread and machine that applies the same
/// command to the same curve gets the same curve, bit for bit.
impl Curve {
    /// The time at which the curve ends (`Duration::MAX` if a segment never ends).
    pub fn length(&self) -> Duration {
        self.segments
            .iter()
            .fold(Duration::ZERO, |t, s| t.saturating_add(s.dur))
    }

    /// The curve before `at`, then `tail` with its time 0 placed at `at`. Where the curve
    /// ended before `at`, the gap holds its value after the end: 0.
    pub fn splice(&self, at: Duration, tail: &Curve) -> Curve {
        let mut segments = self.head(at);
        segments.extend_from_slice(&tail.segments);
        Curve { segments }
    }

    /// The curve multiplied by `factor` on `[from, until)`.
    pub fn scaled(&self, from: Duration, until: Duration, factor: f64) -> Curve {
        let rest = self.tail(from);
        let window = until.saturating_sub(from);
        let mut mid = rest.head(window);
        for s in &mut mid {
            s.from *= factor;
            s.to *= factor;
        }
        let mut segments = self.head(from);
        segments.extend(mid);
        segments.extend(rest.tail(window).segments);
        Curve { segments }
    }

    /// `value` from `at` until the curve's end (for ever if it never ends).
    pub fn set_from(&self, at: Duration, value: f64) -> Curve {
        let rest = self.length().saturating_sub(at);
        self.splice(at, &Curve::new(vec![Segment::flat(rest, value)]))
    }

    /// The segments before `at`, the last one cut at `at`; padded with 0 up to `at` when the
    /// curve is shorter.
    fn head(&self, at: Duration) -> Vec<Segment> {
        let mut out = Vec::with_capacity(self.segments.len() + 1);
        let mut start = Duration::ZERO;
        for s in &self.segments {
            if start >= at {
                return out;
            }
            let end = start.saturating_add(s.dur);
            if end <= at {
                out.push(*s);
            } else {
                let dur = at - start;
                out.push(Segment {
                    dur,
                    from: s.from,
                    to: s.from + (s.to - s.from) * fraction(dur, s.dur),
                });
                return out;
            }
            start = end;
        }
        if at > start {
            out.push(Segment::flat(at - start, 0.0));
        }
        out
    }

    /// The curve from `at` on, with its time 0 at `at`.
    pub fn tail(&self, at: Duration) -> Curve {
        let mut out = Vec::new();
        let mut start = Duration::ZERO;
        for s in &self.segments {
            let end = start.saturating_add(s.dur);
            if end > at {
                if start >= at {
                    out.push(*s);
                } else {
                    let into = at - start;
                    out.push(Segment {
                        dur: s.dur - into,
                        from: s.from + (s.to - s.from) * fraction(into, s.dur),
                        to: s.to,
                    });
                }
            }
            start = end;
        }
        Curve { segments: out }
    }
}

/// `part / whole` as a float; 0 for an unbounded whole (a segment that never ends is flat in
/// practice: its value moves by nothing in any finite time).
pub(crate) fn fraction(part: Duration, whole: Duration) -> f64 {
    if whole == Duration::MAX || whole.is_zero() {
        0.0
    } else {
        part.as_secs_f64() / whole.as_secs_f64()
    }
}

/// When open-model iterations arrive.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrivals {
    /// Iterations per second over time (constant rate: one segment).
    Rate(Curve),
    /// `size` iterations at once, every `every`.
    Burst { size: u64, every: Duration },
    /// kar98k's irregular traffic: rate(t) from a seeded pattern.
    Pattern(Box<PatternSpec>),
    /// Recorded requests at their recorded times (`kaioken replay`).
    Replay(Box<super::replay::Replay>),
}

/// The shape of the load.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// VUs send as soon as their previous request (and think time) is over.
    Closed {
        /// Active VUs over time: VU `j` runs while the curve is above `j`.
        vus: Curve,
        think_time: Duration,
        /// `-r`: a shared schedule of intended slots `t0 + k/rate` caps the whole run.
        rate: Option<f64>,
    },
    /// Iterations arrive on a schedule whatever the server does; a free VU takes each one,
    /// a new VU starts when none is free (up to `max_vus`), and beyond that it is dropped.
    Open { arrivals: Arrivals, max_vus: u64 },
}

/// How load is offered, over which time window.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadModel {
    pub shape: Shape,
    /// Measured duration, after the warmup. `None`: until `max_requests` or stopped.
    pub duration: Option<Duration>,
    /// Real load that is not recorded; the curves' time 0 is the start of the warmup.
    pub warmup: Duration,
    pub max_requests: Option<u64>,
    /// `--no-latency-correction` turns this off: latency is then the service time.
    pub correction: bool,
    /// `--arrival-dist poisson`: the seed of an open model's exponential gaps; `None`:
    /// evenly spaced.
    pub poisson_seed: Option<u64>,
}

impl LoadModel {
    /// The replay this model plays, if it is one.
    pub fn replay(&self) -> Option<&super::replay::Replay> {
        match &self.shape {
            Shape::Open {
                arrivals: Arrivals::Replay(r),
                ..
            } => Some(r),
            _ => None,
        }
    }

    /// The model's name as written in results.
    pub fn name(&self) -> &'static str {
        match &self.shape {
            Shape::Closed { rate: None, .. } => "closed",
            Shape::Closed { rate: Some(_), .. } => "closed_rate",
            Shape::Open {
                arrivals: Arrivals::Rate(_),
                ..
            } => "open",
            Shape::Open {
                arrivals: Arrivals::Burst { .. },
                ..
            } => "burst",
            Shape::Open {
                arrivals: Arrivals::Pattern(_),
                ..
            } => "irregular",
            Shape::Open {
                arrivals: Arrivals::Replay(_),
                ..
            } => "replay",
        }
    }

    /// The most VUs the model may run at once.
    pub fn vus(&self) -> u64 {
        match &self.shape {
            Shape::Closed { vus, .. } => vus.max().ceil() as u64,
            Shape::Open { max_vus, .. } => *max_vus,
        }
    }

    pub fn duration(&self) -> Option<Duration> {
        self.duration
    }

    pub fn max_requests(&self) -> Option<u64> {
        self.max_requests
    }

    /// Whether requests have an intended send time other than "when the VU is free".
    pub fn has_schedule(&self) -> bool {
        !matches!(self.shape, Shape::Closed { rate: None, .. })
    }

    /// Which latency the model records.
    pub fn latency_kind(&self) -> LatencyKind {
        if self.has_schedule() && self.correction {
            LatencyKind::FromIntendedSend
        } else {
            LatencyKind::ServiceTime
        }
    }

    /// The mean rate asked for over the measured window, where the model defines one.
    pub fn target_rate(&self) -> Option<f64> {
        let d = self.duration?;
        let from = self.warmup;
        match &self.shape {
            Shape::Closed { rate, .. } => *rate,
            Shape::Open {
                arrivals: Arrivals::Rate(c),
                ..
            } => {
                // Mean of the curve over [warmup, warmup + duration], numerically.
                let steps = 1000u32;
                let mean = (0..steps)
                    .map(|i| c.value_at(from + d.mul_f64((f64::from(i) + 0.5) / f64::from(steps))))
                    .sum::<f64>()
                    / f64::from(steps);
                Some(mean)
            }
            Shape::Open {
                arrivals: Arrivals::Burst { size, every },
                ..
            } => Some(*size as f64 / every.as_secs_f64()),
            Shape::Open {
                arrivals: Arrivals::Pattern(_) | Arrivals::Replay(_),
                ..
            } => None,
        }
    }
}

impl fmt::Display for LoadModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dur = |d: Duration| humantime::format_duration(d).to_string();
        match &self.shape {
            Shape::Closed {
                vus,
                think_time,
                rate,
            } => {
                match vus.segments.as_slice() {
                    [ramp, flat]
                        if ramp.from == 0.0 && ramp.to == flat.from && flat.from == flat.to =>
                    {
                        write!(
                            f,
                            "closed, {} VUs ramped up over {}",
                            flat.to.ceil(),
                            dur(ramp.dur)
                        )?
                    }
                    [_] => write!(f, "closed, {} VUs", vus.max().ceil())?,
                    segments => write!(
                        f,
                        "closed, up to {} VUs in {} stages",
                        vus.max().ceil(),
                        segments.len()
                    )?,
                }
                if let Some(r) = rate {
                    write!(f, ", rate-limited to {r} req/s")?;
                }
                if !think_time.is_zero() {
                    write!(f, ", think time {}", dur(*think_time))?;
                }
            }
            Shape::Open { arrivals, max_vus } => {
                match arrivals {
                    Arrivals::Rate(c)
                        if c.segments.len() <= 2 && c.max() == c.value_at(self.warmup) =>
                    {
                        write!(f, "open, {} req/s", c.max())?
                    }
                    Arrivals::Rate(c) => write!(
                        f,
                        "open, ramping rate in {} stages, up to {} req/s",
                        c.segments.len(),
                        c.max()
                    )?,
                    Arrivals::Burst { size, every } => {
                        write!(f, "burst, {size} requests every {}", dur(*every))?
                    }
                    Arrivals::Pattern(p) => write!(f, "irregular, {p}")?,
                    Arrivals::Replay(r) => write!(f, "{r}")?,
                }
                write!(f, ", up to {max_vus} VUs")?;
            }
        }
        let replay = matches!(
            self.shape,
            Shape::Open {
                arrivals: Arrivals::Replay(_),
                ..
            }
        );
        match self.duration {
            Some(d) => write!(f, ", {}", dur(d))?,
            None if replay => write!(f, ", until the records end")?,
            None => write!(f, ", no time limit")?,
        }
        if !self.warmup.is_zero() {
            write!(f, " after {} warmup", dur(self.warmup))?;
        }
        if let Some(n) = self.max_requests {
            write!(f, ", stop after {n} requests")?;
        }
        if let Some(seed) = self.poisson_seed {
            write!(f, ", Poisson arrivals (seed {seed})")?;
        }
        Ok(())
    }
}

/// What the `latency` figures measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyKind {
    /// Actual send → last byte (closed models, or `--no-latency-correction`).
    ServiceTime,
    /// Intended send time → last byte (coordinated-omission correct).
    FromIntendedSend,
}

impl LatencyKind {
    pub fn name(self) -> &'static str {
        match self {
            LatencyKind::ServiceTime => "service_time",
            LatencyKind::FromIntendedSend => "from_intended_send",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn stages_ramp_up_and_down() {
        // 0 → 40 over 4 s, hold 4 s, 40 → 0 over 4 s.
        let c = Curve::new(vec![
            Segment {
                dur: s(4),
                from: 0.0,
                to: 40.0,
            },
            Segment::flat(s(4), 40.0),
            Segment {
                dur: s(4),
                from: 40.0,
                to: 0.0,
            },
        ]);
        assert_eq!(c.value_at(s(2)), 20.0);
        assert_eq!(c.value_at(s(6)), 40.0);
        assert_eq!(c.value_at(s(10)), 20.0);
        assert_eq!(c.value_at(s(12)), 0.0);
        assert_eq!(c.max(), 40.0);
        // VU 10 starts a hair after 1 s and is never active after the curve drops below it.
        let t = c.first_above(10.0, Duration::ZERO).unwrap();
        assert!(t > s(1) && t < s(1) + Duration::from_millis(1), "{t:?}");
        assert_eq!(c.first_above(10.0, s(5)), Some(s(5)));
        assert_eq!(c.first_above(10.0, s(11)), None);
        assert_eq!(c.first_above(40.0, Duration::ZERO), None);
        // VU 10 stays active until the ramp-down reaches 10 at 11 s.
        assert_eq!(c.above_until(10.0, s(2)), s(11));
        let flat = Curve::new(vec![Segment::flat(Duration::MAX, 5.0)]);
        assert_eq!(flat.above_until(3.0, s(1)), Duration::MAX);
    }

    fn area(c: &Curve, until: Duration) -> f64 {
        // Trapezoids over 1 ms steps: exact for piecewise-linear curves with ms breakpoints.
        let n = until.as_millis() as u32;
        (0..n)
            .map(|i| {
                let a = c.value_at(Duration::from_millis(u64::from(i)));
                let b =
                    c.value_at(Duration::from_millis(u64::from(i) + 1) - Duration::from_nanos(1));
                (a + b) / 2.0 / 1000.0
            })
            .sum()
    }

    #[test]
    fn splice_keeps_the_past_and_places_the_tail() {
        let c = Curve::new(vec![
            Segment {
                dur: s(4),
                from: 0.0,
                to: 40.0,
            },
            Segment::flat(s(4), 40.0),
        ]);
        let t = c.set_from(s(2), 100.0);
        assert_eq!(t.value_at(s(1)), 10.0);
        assert_eq!(t.value_at(s(2)), 100.0);
        assert_eq!(t.value_at(s(7)), 100.0);
        assert_eq!(t.length(), s(8));
        assert_eq!(t.value_at(s(8)), 0.0);
        // After the end: the gap is 0 until the tail begins.
        let late = c.splice(s(10), &Curve::new(vec![Segment::flat(s(1), 5.0)]));
        assert_eq!(late.value_at(s(9)), 0.0);
        assert_eq!(late.value_at(s(10)), 5.0);
        assert_eq!(late.length(), s(11));
        // An unbounded curve stays unbounded.
        let flat = Curve::new(vec![Segment::flat(Duration::MAX, 5.0)]);
        let f = flat.set_from(s(3), 9.0);
        assert_eq!(f.value_at(s(2)), 5.0);
        assert_eq!(f.value_at(s(1_000_000)), 9.0);
        assert_eq!(f.length(), Duration::MAX);
    }

    #[test]
    fn scaled_multiplies_only_the_window() {
        let c = Curve::new(vec![Segment {
            dur: s(10),
            from: 0.0,
            to: 100.0,
        }]);
        let k = c.scaled(s(2), s(4), 3.0);
        assert_eq!(k.value_at(s(1)), 10.0);
        assert_eq!(k.value_at(s(2)), 60.0);
        assert!((k.value_at(s(3)) - 90.0).abs() < 1e-9);
        assert_eq!(k.value_at(s(4)), 40.0);
        assert_eq!(k.length(), s(10));
        // Area: the window's area tripled, the rest unchanged.
        let extra = 2.0 * (20.0 + 40.0) / 2.0 * 2.0;
        assert!((area(&k, s(10)) - (area(&c, s(10)) + extra)).abs() < 1e-6);
        // A window past the end scales nothing.
        let past = c.scaled(s(12), s(14), 3.0);
        assert_eq!(past.value_at(s(5)), 50.0);
        assert_eq!(past.value_at(s(13)), 0.0);
    }
}
