//! Irregular traffic (kar98k done right): `rate(t) = clamp(base × schedule(t) × spikes(t) ×
//! noise(t), floor, max)`, a pure function of elapsed time and a seed.
//!
//! - spikes: a true Poisson process (exponential gaps with mean 1/λ; an optional minimum gap
//!   is dead time added after each spike starts), each spike with ramp-up, hold and ramp-down
//!   to a factor fixed or drawn from a range; overlapping spikes combine by max.
//! - noise: an Ornstein–Uhlenbeck (mean-reverting) process stepped exactly by elapsed time,
//!   never by reads, and clamped to ±amplitude; its mean is 1.
//! - schedule: hour ranges → multiplier, in a configurable time zone, optionally
//!   interpolated linearly across each hour.
//!
//! [`PatternState`] must be advanced with non-decreasing times. Separate random streams for
//! spikes and noise keep spike times unchanged when only the noise settings change. The same
//! seed and start time give the same curve on every thread and every machine.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, StandardNormal};

/// One schedule rule: hours `from..=to` (wrapping past midnight when `from > to`).
#[derive(Debug, Clone, PartialEq)]
pub struct HourRule {
    pub from: u8,
    pub to: u8,
    pub multiplier: f64,
}

impl HourRule {
    fn covers(&self, hour: u8) -> bool {
        if self.from <= self.to {
            (self.from..=self.to).contains(&hour)
        } else {
            hour >= self.from || hour <= self.to
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpikeSpec {
    /// Mean spikes per second.
    pub lambda: f64,
    /// Peak multiplier, drawn uniformly from `[lo, hi]` per spike (equal for a fixed factor).
    pub factor: (f64, f64),
    pub ramp_up: Duration,
    pub hold: Duration,
    pub ramp_down: Duration,
    /// Dead time after each spike's start before the next gap begins.
    pub min_gap: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NoiseSpec {
    /// Bound of the relative fluctuation, in [0, 1).
    pub amplitude: f64,
    /// Mean-reversion time constant.
    pub tau: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatternSpec {
    pub base: f64,
    pub max: f64,
    pub floor: f64,
    pub schedule: Vec<HourRule>,
    pub interpolate: bool,
    pub time_zone: jiff::tz::TimeZone,
    pub spikes: Option<SpikeSpec>,
    pub noise: Option<NoiseSpec>,
    pub seed: u64,
}

impl fmt::Display for PatternSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "base {}/s, max {}/s", self.base, self.max)?;
        if self.floor > 0.0 {
            write!(f, ", floor {}/s", self.floor)?;
        }
        if !self.schedule.is_empty() {
            let rules: Vec<String> = self
                .schedule
                .iter()
                .map(|r| format!("{}-{}:{}", r.from, r.to, r.multiplier))
                .collect();
            write!(f, ", schedule {}", rules.join(", "))?;
        }
        if let Some(s) = &self.spikes {
            let factor = if s.factor.0 == s.factor.1 {
                format!("×{}", s.factor.0)
            } else {
                format!("×{}–{}", s.factor.0, s.factor.1)
            };
            write!(f, ", spikes λ={}/s {factor}", s.lambda)?;
        }
        if let Some(n) = &self.noise {
            write!(f, ", noise ±{}%", n.amplitude * 100.0)?;
        }
        write!(f, ", seed {}", self.seed)
    }
}

/// The parts of the rate at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Components {
    pub schedule: f64,
    pub spike: f64,
    pub noise: f64,
    pub rate: f64,
}

#[derive(Debug, Clone, Copy)]
struct Spike {
    start: f64,
    factor: f64,
}

/// The evolving state of a pattern: spikes drawn so far and the noise process.
pub struct PatternState {
    spec: PatternSpec,
    /// Unix time (s) of t = 0, for the schedule's wall clock.
    start_unix: f64,
    spike_rng: ChaCha8Rng,
    noise_rng: ChaCha8Rng,
    /// Spikes that started and have not ended, oldest first.
    active: VecDeque<Spike>,
    next_spike: f64,
    noise_x: f64,
    noise_t: f64,
    /// Spikes started so far (for `simulate`).
    pub spikes_started: u64,
    /// Start times of every spike, kept only when asked (tests).
    pub record_starts: Option<Vec<f64>>,
    /// Spikes fired by command: `[from, until)` at a fixed factor, no ramp.
    forced: Vec<(f64, f64, f64)>,
}

impl PatternState {
    pub fn new(spec: &PatternSpec, start_unix: f64) -> PatternState {
        let mut spike_rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let noise_rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0x6e6f_6973_655f_7273);
        let next_spike = match &spec.spikes {
            Some(s) => Exp::new(s.lambda).map_or(f64::INFINITY, |e| e.sample(&mut spike_rng)),
            None => f64::INFINITY,
        };
        PatternState {
            spec: spec.clone(),
            start_unix,
            spike_rng,
            noise_rng,
            active: VecDeque::new(),
            next_spike,
            noise_x: 0.0,
            noise_t: 0.0,
            spikes_started: 0,
            record_starts: None,
            forced: Vec::new(),
        }
    }

    /// A spike fired by command: the rate is multiplied by at least `factor` on
    /// `[from, until)` (combined by max with the pattern's own spikes, then capped at `max`).
    pub fn force_spike(&mut self, from: f64, until: f64, factor: f64) {
        self.forced.push((from, until, factor));
    }

    /// A new base rate for every later call of [`PatternState::at`].
    pub fn set_base(&mut self, base: f64) {
        self.spec.base = base;
    }

    /// The rate and its parts at `t` seconds. `t` must not decrease between calls.
    pub fn at(&mut self, t: f64) -> Components {
        let schedule = self.schedule_at(t);
        let spike = self.spike_at(t);
        let noise = self.noise_at(t);
        let raw = self.spec.base * schedule * spike * noise;
        Components {
            schedule,
            spike,
            noise,
            rate: raw.min(self.spec.max).max(self.spec.floor),
        }
    }

    fn multiplier_for_hour(&self, hour: u8) -> f64 {
        self.spec
            .schedule
            .iter()
            .find(|r| r.covers(hour))
            .map_or(1.0, |r| r.multiplier)
    }

    fn schedule_at(&self, t: f64) -> f64 {
        if self.spec.schedule.is_empty() {
            return 1.0;
        }
        let unix = self.start_unix + t;
        let secs = unix.floor() as i64;
        let Ok(ts) = jiff::Timestamp::from_second(secs) else {
            return 1.0;
        };
        let local = ts.to_zoned(self.spec.time_zone.clone());
        let hour = local.hour() as u8;
        let m = self.multiplier_for_hour(hour);
        if !self.spec.interpolate {
            return m;
        }
        let into_hour =
            (f64::from(local.minute()) * 60.0 + f64::from(local.second()) + unix.fract()) / 3600.0;
        let next = self.multiplier_for_hour((hour + 1) % 24);
        m + (next - m) * into_hour
    }

    fn spike_at(&mut self, t: f64) -> f64 {
        self.forced.retain(|&(_, until, _)| t < until);
        let forced = self
            .forced
            .iter()
            .filter(|&&(from, _, _)| t >= from)
            .fold(1.0, |m, &(_, _, f)| f64::max(m, f));
        let Some(s) = self.spec.spikes.clone() else {
            return forced;
        };
        while self.next_spike <= t {
            let start = self.next_spike;
            let factor = if s.factor.0 == s.factor.1 {
                s.factor.0
            } else {
                self.spike_rng.random_range(s.factor.0..=s.factor.1)
            };
            self.active.push_back(Spike { start, factor });
            self.spikes_started += 1;
            if let Some(v) = self.record_starts.as_mut() {
                v.push(start);
            }
            let gap = Exp::new(s.lambda).map_or(f64::INFINITY, |e| e.sample(&mut self.spike_rng));
            self.next_spike = start + s.min_gap.as_secs_f64() + gap;
        }
        let (up, hold, down) = (
            s.ramp_up.as_secs_f64(),
            s.hold.as_secs_f64(),
            s.ramp_down.as_secs_f64(),
        );
        let len = up + hold + down;
        while self.active.front().is_some_and(|sp| t >= sp.start + len) {
            self.active.pop_front();
        }
        self.active
            .iter()
            .map(|sp| {
                let x = t - sp.start;
                let shape = if x < up {
                    x / up
                } else if x < up + hold {
                    1.0
                } else if down > 0.0 {
                    1.0 - (x - up - hold) / down
                } else {
                    0.0
                };
                1.0 + (sp.factor - 1.0) * shape.clamp(0.0, 1.0)
            })
            .fold(forced, f64::max)
    }

    fn noise_at(&mut self, t: f64) -> f64 {
        let Some(n) = &self.spec.noise else {
            return 1.0;
        };
        if n.amplitude <= 0.0 {
            return 1.0;
        }
        let dt = t - self.noise_t;
        if dt > 0.0 {
            // Exact OU transition over dt; stationary sd = amplitude / 2, so the clamp
            // at ±amplitude (2 sd) only trims the tails.
            let tau = n.tau.as_secs_f64().max(1e-3);
            let sd = n.amplitude / 2.0;
            let decay = (-dt / tau).exp();
            let z: f64 = StandardNormal.sample(&mut self.noise_rng);
            self.noise_x = self.noise_x * decay + sd * (1.0 - decay * decay).sqrt() * z;
            self.noise_t = t;
        }
        1.0 + self.noise_x.clamp(-n.amplitude, n.amplitude)
    }
}

/// Parses `"9-17:1.5, 0-5:0.3"`.
pub fn parse_schedule(text: &str) -> Result<Vec<HourRule>, String> {
    let fix =
        "write comma-separated HOURS:MULTIPLIER rules such as \"9-17:1.5, 0-5:0.3\" (hours 0-23)";
    text.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|rule| {
            let (hours, mult) = rule
                .split_once(':')
                .ok_or_else(|| format!("rule {rule:?}: {fix}"))?;
            let (from, to) = match hours.split_once('-') {
                Some((a, b)) => (a.trim(), b.trim()),
                None => (hours.trim(), hours.trim()),
            };
            let hour = |h: &str| {
                h.parse::<u8>()
                    .ok()
                    .filter(|h| *h < 24)
                    .ok_or_else(|| format!("rule {rule:?}: hour {h:?} is not 0-23; {fix}"))
            };
            let multiplier: f64 = mult.trim().parse().map_err(|_| {
                format!("rule {rule:?}: multiplier {mult:?} is not a number; {fix}")
            })?;
            if !(multiplier > 0.0 && multiplier.is_finite()) {
                return Err(format!("rule {rule:?}: the multiplier must be > 0"));
            }
            Ok(HourRule {
                from: hour(from)?,
                to: hour(to)?,
                multiplier,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec() -> PatternSpec {
        PatternSpec {
            base: 100.0,
            max: 1000.0,
            floor: 0.0,
            schedule: vec![],
            interpolate: false,
            time_zone: jiff::tz::TimeZone::UTC,
            spikes: None,
            noise: None,
            seed: 7,
        }
    }

    #[test]
    fn poisson_spike_count_and_exponential_gaps() {
        let lambda = 0.1;
        let mut s = spec();
        s.spikes = Some(SpikeSpec {
            lambda,
            factor: (3.0, 3.0),
            ramp_up: Duration::ZERO,
            hold: Duration::from_secs(1),
            ramp_down: Duration::ZERO,
            min_gap: Duration::ZERO,
        });
        let mut st = PatternState::new(&s, 0.0);
        st.record_starts = Some(Vec::new());
        let days30 = 30.0 * 86_400.0;
        let mut t = 0.0;
        while t < days30 {
            st.at(t);
            t += 5.0;
        }
        let n = st.spikes_started as f64;
        let expect = lambda * days30;
        assert!(
            (n - expect).abs() < 3.0 * expect.sqrt(),
            "{n} spikes, expected {expect} ± {}",
            3.0 * expect.sqrt()
        );

        // Kolmogorov–Smirnov against Exp(λ) at α = 0.05.
        let starts = st.record_starts.unwrap();
        let mut gaps: Vec<f64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort_by(f64::total_cmp);
        let m = gaps.len() as f64;
        let d = gaps
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let cdf = 1.0 - (-lambda * g).exp();
                (cdf - i as f64 / m)
                    .abs()
                    .max(((i + 1) as f64 / m - cdf).abs())
            })
            .fold(0.0, f64::max);
        assert!(
            d < 1.36 / m.sqrt(),
            "KS D = {d}, critical {}",
            1.36 / m.sqrt()
        );
    }

    #[test]
    fn spike_shape_and_overlap_by_max() {
        let mut s = spec();
        s.spikes = Some(SpikeSpec {
            lambda: 1e-9,
            factor: (3.0, 3.0),
            ramp_up: Duration::from_secs(2),
            hold: Duration::from_secs(2),
            ramp_down: Duration::from_secs(2),
            min_gap: Duration::ZERO,
        });
        let mut st = PatternState::new(&s, 0.0);
        st.next_spike = 10.0;
        assert_eq!(st.at(9.0).spike, 1.0);
        assert_eq!(st.at(11.0).spike, 2.0);
        assert_eq!(st.at(13.0).spike, 3.0);
        assert_eq!(st.at(15.0).spike, 2.0);
        // A second spike at 15 s ramps up while the first ramps down: the max wins.
        st.active.push_back(Spike {
            start: 15.0,
            factor: 3.0,
        });
        // At 15.2 s the first is at 1 + 2·0.4 = 1.8, the second at 1 + 2·0.1 = 1.2.
        assert!((st.at(15.2).spike - 1.8).abs() < 1e-9);
        assert_eq!(st.at(17.0).spike, 3.0);
    }

    #[test]
    fn noise_stays_bounded_and_averages_one() {
        let mut s = spec();
        s.noise = Some(NoiseSpec {
            amplitude: 0.15,
            tau: Duration::from_secs(5),
        });
        let mut st = PatternState::new(&s, 0.0);
        let mut sum = 0.0;
        let steps = 200_000;
        for i in 0..steps {
            let n = st.at(f64::from(i) * 0.5).noise;
            assert!((0.85..=1.15).contains(&n), "{n}");
            sum += n;
        }
        let mean = sum / f64::from(steps);
        assert!((mean - 1.0).abs() < 0.005, "{mean}");
        // Reading twice at the same time does not advance the process.
        let a = st.at(1e6).noise;
        assert_eq!(st.at(1e6).noise, a);
    }

    #[test]
    fn schedule_applies_in_its_time_zone() {
        let mut s = spec();
        s.schedule = parse_schedule("9-17:1.5, 22-2:0.5").unwrap();
        s.time_zone = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap(); // UTC+9, no DST
        // 2026-01-01T00:00:00Z = 09:00 in Tokyo.
        let midnight_utc = 1_767_225_600.0;
        let st = PatternState::new(&s, midnight_utc);
        assert_eq!(st.schedule_at(0.0), 1.5);
        assert_eq!(st.schedule_at(8.0 * 3600.0 + 3599.0), 1.5); // 17:59 Tokyo
        assert_eq!(st.schedule_at(9.0 * 3600.0), 1.0); // 18:00
        assert_eq!(st.schedule_at(13.0 * 3600.0), 0.5); // 22:00
        assert_eq!(st.schedule_at(17.0 * 3600.0 + 1800.0), 0.5); // 02:30 (wraps)
        assert_eq!(st.schedule_at(18.0 * 3600.0), 1.0); // 03:00
        let mut si = s;
        si.interpolate = true;
        let st = PatternState::new(&si, midnight_utc);
        // 17:30 Tokyo: halfway from 1.5 (hour 17) to 1.0 (hour 18).
        assert!((st.schedule_at(8.5 * 3600.0) - 1.25).abs() < 1e-9);
    }

    #[test]
    fn schedule_strings() {
        assert_eq!(
            parse_schedule("9-17:1.5").unwrap(),
            vec![HourRule {
                from: 9,
                to: 17,
                multiplier: 1.5
            }]
        );
        assert_eq!(parse_schedule("3:2").unwrap()[0].to, 3);
        for bad in ["9-17", "9-25:1", "x:1", "9-17:abc", "9-17:0", "9-17:-1"] {
            assert!(parse_schedule(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn rate_stays_within_floor_and_max(seed in any::<u64>(), base in 1.0f64..500.0, factor in 1.0f64..10.0) {
            let mut s = spec();
            s.seed = seed;
            s.base = base;
            s.floor = 20.0;
            s.max = 600.0;
            s.spikes = Some(SpikeSpec { lambda: 0.05, factor: (1.0, factor), ramp_up: Duration::from_secs(3), hold: Duration::from_secs(5), ramp_down: Duration::from_secs(3), min_gap: Duration::ZERO });
            s.noise = Some(NoiseSpec { amplitude: 0.3, tau: Duration::from_secs(2) });
            let mut st = PatternState::new(&s, 0.0);
            for i in 0..3000 {
                let r = st.at(f64::from(i) * 0.25).rate;
                prop_assert!((20.0..=600.0).contains(&r), "{}", r);
            }
        }

        #[test]
        fn same_seed_same_curve(seed in any::<u64>()) {
            let mut s = spec();
            s.seed = seed;
            s.spikes = Some(SpikeSpec { lambda: 0.2, factor: (2.0, 4.0), ramp_up: Duration::from_secs(1), hold: Duration::from_secs(1), ramp_down: Duration::from_secs(1), min_gap: Duration::ZERO });
            s.noise = Some(NoiseSpec { amplitude: 0.2, tau: Duration::from_secs(3) });
            let (mut a, mut b) = (PatternState::new(&s, 0.0), PatternState::new(&s, 0.0));
            for i in 0..2000 {
                let t = f64::from(i) * 0.1;
                prop_assert_eq!(a.at(t), b.at(t));
            }
        }
    }
}
