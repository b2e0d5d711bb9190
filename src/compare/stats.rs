//! The noise model of `compare`: is a difference between two runs larger than what sampling
//! alone would produce? Each test works on data a result already holds (histograms, the
//! per-second timeline, counters), so comparing files needs nothing else.
//!
//! All intervals are two-sided 99%: a CI gate that cries wolf once in a hundred clean runs is
//! already annoying; once in twenty (95%) would be ignored.

use hdrhistogram::Histogram;

/// Two-sided 99% normal quantile.
const Z99: f64 = 2.576;

/// A confidence interval `[lo, hi]` around an estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    /// True when the whole of `self` lies above the whole of `other`.
    pub fn above(&self, other: &Interval) -> bool {
        self.lo > other.hi
    }
}

/// Distribution-free interval of the `q` quantile from a histogram: the order statistics
/// whose ranks lie `z·√(nq(1−q))` either side of `nq` (the binomial law of how many samples
/// fall below the true quantile). Wide for the tail of a short run, narrow for a long one,
/// without assuming any latency distribution. Assumes independent samples.
pub fn quantile_interval(h: &Histogram<u64>, q: f64) -> Interval {
    let n = h.len() as f64;
    if n == 0.0 {
        return Interval { lo: 0.0, hi: 0.0 };
    }
    let half = Z99 * (n * q * (1.0 - q)).sqrt();
    let lo_rank = (n * q - half).floor().max(1.0);
    let hi_rank = (n * q + half).ceil() + 1.0;
    let at = |rank: f64| {
        let quantile = (rank / n).clamp(0.0, 1.0);
        h.value_at_quantile(quantile) as f64
    };
    // Past the last sample: the true quantile exceeds the largest value with probability
    // qⁿ. Where that is below the interval's 0.5% tail the maximum is a sound upper bound;
    // otherwise the run is too short to bound this quantile from above at all.
    let hi = if hi_rank <= n {
        at(hi_rank)
    } else if q.powf(n) < 0.005 {
        h.max() as f64
    } else {
        f64::INFINITY
    };
    Interval {
        lo: at(lo_rank),
        hi,
    }
}

/// Interval of the mean: `z·σ/√n` (the central limit theorem; counts here are large).
pub fn mean_interval(h: &Histogram<u64>) -> Interval {
    let n = h.len() as f64;
    if n == 0.0 {
        return Interval { lo: 0.0, hi: 0.0 };
    }
    let half = Z99 * h.stdev() / n.sqrt();
    Interval {
        lo: h.mean() - half,
        hi: h.mean() + half,
    }
}

/// Welch's t-test of two samples (per-second request rates): true when the means differ at
/// the 99% level. Few seconds give few degrees of freedom and a wide margin, so a 3-second
/// run needs a large change before it counts.
pub fn welch_differs(a: &[f64], b: &[f64]) -> bool {
    if a.len() < 2 || b.len() < 2 {
        return false;
    }
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let se2 = va / na + vb / nb;
    if se2 == 0.0 {
        return ma != mb;
    }
    let t = (ma - mb).abs() / se2.sqrt();
    let df = se2 * se2
        / ((va / na).powi(2) / (na - 1.0) + (vb / nb).powi(2) / (nb - 1.0)).max(f64::MIN_POSITIVE);
    t > t99(df)
}

fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// Two-sided 99% quantile of Student's t, from a table; a degree count between two rows takes
/// the lower row (the wider margin).
fn t99(df: f64) -> f64 {
    const TABLE: [(f64, f64); 16] = [
        (1.0, 63.657),
        (2.0, 9.925),
        (3.0, 5.841),
        (4.0, 4.604),
        (5.0, 4.032),
        (6.0, 3.707),
        (7.0, 3.499),
        (8.0, 3.355),
        (9.0, 3.250),
        (10.0, 3.169),
        (12.0, 3.055),
        (15.0, 2.947),
        (20.0, 2.845),
        (30.0, 2.750),
        (60.0, 2.660),
        (120.0, 2.617),
    ];
    if df < 1.0 {
        return f64::INFINITY;
    }
    TABLE
        .iter()
        .rev()
        .find(|(d, _)| df >= *d)
        .map_or(
            Z99,
            |&(d, t)| if d >= 120.0 && df > 1000.0 { Z99 } else { t },
        )
}

/// Two-proportion z-test of error counts: true when the rates differ at the 99% level.
pub fn proportions_differ(errors_a: u64, n_a: u64, errors_b: u64, n_b: u64) -> bool {
    if n_a == 0 || n_b == 0 {
        return false;
    }
    let (na, nb) = (n_a as f64, n_b as f64);
    let pooled = (errors_a + errors_b) as f64 / (na + nb);
    let se = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    if se == 0.0 {
        return false;
    }
    let z = (errors_b as f64 / nb - errors_a as f64 / na).abs() / se;
    z > Z99
}

/// How the whole of one latency distribution sits against another's (Mann–Whitney).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shift {
    /// The chance that a current sample is slower than a baseline one (ties count half):
    /// 0.5 when neither run is slower, 1.0 when every current sample is.
    pub slower: f64,
    /// Whether `slower` differs from 0.5 beyond sampling noise (two-sided 99%).
    pub significant: bool,
}

impl Shift {
    /// A shift of the whole distribution large enough to stand for every percentile: at
    /// least 3 chances in 4 one way (a small but real shift of the median in runs of
    /// thousands of samples is significant too, and must not make each tail's noise count).
    pub fn whole(&self) -> Option<bool> {
        if !self.significant {
            return None;
        }
        if self.slower >= 0.75 {
            Some(true)
        } else if self.slower <= 0.25 {
            Some(false)
        } else {
            None
        }
    }
}

/// Mann–Whitney's U on two histograms: counts per recorded value stand for the samples, so
/// ranks come from the cumulative counts and equal values are ties. The normal
/// approximation with the tie correction; it needs no distribution, and it sees what a
/// tail interval cannot on a short run: 80 requests all slower than 80 others.
pub fn rank_shift(baseline: &Histogram<u64>, current: &Histogram<u64>) -> Shift {
    let none = Shift {
        slower: 0.5,
        significant: false,
    };
    let (nb, nc) = (baseline.len() as f64, current.len() as f64);
    if nb == 0.0 || nc == 0.0 {
        return none;
    }
    let mut counts: std::collections::BTreeMap<u64, (f64, f64)> = Default::default();
    for v in baseline.iter_recorded() {
        counts.entry(v.value_iterated_to()).or_default().0 += v.count_at_value() as f64;
    }
    for v in current.iter_recorded() {
        counts.entry(v.value_iterated_to()).or_default().1 += v.count_at_value() as f64;
    }
    let (mut below, mut u, mut ties) = (0.0, 0.0, 0.0);
    for (b, c) in counts.values() {
        // Each current sample here beats the baseline samples below it, and ties half of
        // those at its value.
        u += c * (below + b / 2.0);
        below += b;
        let t = b + c;
        ties += t * t * t - t;
    }
    let n = nb + nc;
    let var = nb * nc / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    let slower = u / (nb * nc);
    if var <= 0.0 {
        return Shift {
            slower,
            significant: false,
        };
    }
    let z = (u - nb * nc / 2.0) / var.sqrt();
    Shift {
        slower,
        significant: z.abs() > Z99,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Exp};

    fn sample(seed: u64, n: usize, mean_us: f64) -> Histogram<u64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let exp = Exp::new(1.0 / mean_us).unwrap();
        let mut h = crate::record::new_histogram();
        for _ in 0..n {
            h.record(exp.sample(&mut rng).max(1.0) as u64).unwrap();
        }
        h
    }

    #[test]
    fn quantile_interval_covers_the_true_quantile() {
        // Exponential with mean 1000 µs: p99 = 1000·ln(100) ≈ 4605 µs.
        let truth = 1000.0 * 100f64.ln();
        let covered = (0..200)
            .filter(|seed| {
                let i = quantile_interval(&sample(*seed, 2000, 1000.0), 0.99);
                i.lo <= truth && truth <= i.hi
            })
            .count();
        // A 99% interval misses about 2 of 200; 190 leaves room for the histogram's rounding.
        assert!(covered >= 190, "covered {covered} of 200");
    }

    #[test]
    fn same_distribution_is_rarely_significant_and_a_shift_always_is() {
        let mut false_alarms = 0;
        for seed in 0..100 {
            let a = quantile_interval(&sample(seed, 600, 5000.0), 0.99);
            let b = quantile_interval(&sample(seed + 1000, 600, 5000.0), 0.99);
            if b.above(&a) {
                false_alarms += 1;
            }
            let slow = quantile_interval(&sample(seed + 2000, 600, 10_000.0), 0.50);
            let base = quantile_interval(&sample(seed + 3000, 600, 5000.0), 0.50);
            assert!(slow.above(&base), "a doubled median must be significant");
        }
        assert!(false_alarms <= 3, "{false_alarms} false alarms in 100");
    }

    #[test]
    fn welch_needs_more_than_noise() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let noisy = |rng: &mut ChaCha8Rng, m: f64| -> Vec<f64> {
            (0..10)
                .map(|_| m + rng.random_range(-500.0..500.0))
                .collect()
        };
        let a = noisy(&mut rng, 10_000.0);
        let b = noisy(&mut rng, 10_000.0);
        assert!(!welch_differs(&a, &b));
        let c = noisy(&mut rng, 5_000.0);
        assert!(welch_differs(&a, &c));
        assert!(!welch_differs(&[1.0], &[2.0]), "one second says nothing");
    }

    #[test]
    fn a_whole_shift_is_seen_on_a_short_run_and_identical_runs_rarely_shift() {
        // 80 against 80, every current sample slower (the 9.8 ms → 205 ms).
        let base = sample(1, 80, 3_000.0);
        let mut slow = crate::record::new_histogram();
        for v in sample(2, 80, 3_000.0).iter_recorded() {
            slow.record_n(v.value_iterated_to() + 200_000, v.count_at_value())
                .unwrap();
        }
        let s = rank_shift(&base, &slow);
        assert_eq!(s.slower, 1.0);
        assert!(s.significant);
        assert_eq!(s.whole(), Some(true));
        assert_eq!(rank_shift(&slow, &base).whole(), Some(false));
        // Same distribution, 100 pairs of 600 samples: a 99% test flags about 1 in 100,
        // and none of those is a whole shift (3 chances in 4 is far past noise here).
        let mut flagged = 0;
        for seed in 0..100 {
            let s = rank_shift(&sample(seed, 600, 5000.0), &sample(seed + 500, 600, 5000.0));
            assert_eq!(s.whole(), None, "seed {seed}: {s:?}");
            flagged += usize::from(s.significant);
        }
        assert!(flagged <= 4, "{flagged} of 100 identical pairs significant");
        // Nothing to rank.
        let empty = crate::record::new_histogram();
        assert!(!rank_shift(&empty, &base).significant);
    }

    #[test]
    fn proportions() {
        assert!(!proportions_differ(10, 1000, 12, 1000));
        assert!(proportions_differ(10, 1000, 100, 1000));
        assert!(!proportions_differ(0, 1000, 0, 1000));
    }

    #[test]
    fn t_table_is_monotone() {
        let mut last = f64::INFINITY;
        for df in [1.0, 1.5, 2.0, 5.0, 11.0, 29.0, 100.0, 5000.0] {
            let t = t99(df);
            assert!(t <= last && t >= Z99);
            last = t;
        }
    }
}
