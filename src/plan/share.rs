//! The one share rule: which part of the whole a machine, and within it a thread, runs.
//!
//! Everything countable in a test is a sequence of items numbered from 0: VUs (by global
//! index), the `-n` budget, the arrivals of an open model's schedule, `${REQUEST_ID}`s. A
//! [`Share`] is a set of those numbers that repeats with a period: item `g` belongs to the
//! share when `g mod period` is one of its positions. Equal parts ("part I of N") take one
//! position of a period of N, so the parts interleave (`g ≡ I mod N`); an unequal sequence
//! (k6's execution-segment sequence, e.g. `0, 1/4, 1/2, 1`) spreads each segment's positions
//! evenly over the common denominator, so every part sees the whole curve, not a slice of
//! its time. A share splits again ([`Share::split`]): a thread's share is its machine's
//! share split among the machine's threads, and the parts of any split are disjoint and
//! cover exactly their whole, for finite counts and for endless schedules alike.

use std::sync::Arc;

/// Why a sequence of segment boundaries cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    #[error("segment boundaries must rise from 0 to 1, e.g. 0,1/4,1/2,1")]
    NotRising,
    #[error("segment {index} does not exist: the sequence has {segments} segments (0 to {last})", last = segments.saturating_sub(1))]
    NoSuchSegment { index: usize, segments: usize },
    #[error("the boundaries' common denominator is {0}; keep it at most 1000000")]
    TooFine(u64),
    #[error("a boundary has denominator 0")]
    ZeroDenominator,
}

/// A periodic set of item numbers (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    period: u64,
    /// Sorted, distinct, each below `period`; never empty.
    positions: Arc<[u64]>,
}

/// The largest common denominator accepted for a segment sequence.
const MAX_PERIOD: u64 = 1_000_000;

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl Share {
    /// Every item.
    pub fn whole() -> Share {
        Share::part(0, 1)
    }

    /// Part `i` of `n` equal parts: the items `g ≡ i (mod n)`.
    pub fn part(i: u64, n: u64) -> Share {
        let n = n.max(1);
        Share {
            period: n,
            positions: Arc::from([i % n]),
        }
    }

    /// Segment `index` of a sequence of boundaries `0 = b0 < b1 < … < bk = 1`, each a
    /// fraction `(numerator, denominator)`. Segment `i` is `[b_i, b_(i+1))` and gets that
    /// fraction of every period, its positions spread evenly (smooth weighted round-robin
    /// over the common denominator).
    pub fn sequence(bounds: &[(u64, u64)], index: usize) -> Result<Share, ShareError> {
        if bounds.iter().any(|&(_, d)| d == 0) {
            return Err(ShareError::ZeroDenominator);
        }
        let mut period = 1u64;
        for &(_, d) in bounds {
            period = period / gcd(period, d) * d;
            if period > MAX_PERIOD {
                return Err(ShareError::TooFine(period));
            }
        }
        // Boundaries in units of 1/period.
        let at: Vec<u64> = bounds.iter().map(|&(n, d)| n * (period / d)).collect();
        let rising = at.windows(2).all(|w| w[0] < w[1]);
        if at.len() < 2 || at[0] != 0 || at[at.len() - 1] != period || !rising {
            return Err(ShareError::NotRising);
        }
        let segments = at.len() - 1;
        if index >= segments {
            return Err(ShareError::NoSuchSegment { index, segments });
        }
        let weights: Vec<i64> = at.windows(2).map(|w| (w[1] - w[0]) as i64).collect();
        let mut current = vec![0i64; segments];
        let mut positions = Vec::new();
        for p in 0..period {
            for (c, w) in current.iter_mut().zip(&weights) {
                *c += w;
            }
            let pick = (0..segments)
                .max_by_key(|&s| (current[s], std::cmp::Reverse(s)))
                .expect("at least one segment");
            current[pick] -= period as i64;
            if pick == index {
                positions.push(p);
            }
        }
        Ok(Share {
            period,
            positions: positions.into(),
        })
    }

    /// Part `i` of `n` equal parts of this share: its items taken in order and dealt round
    /// the `n` parts (a machine's share split among its threads).
    pub fn split(&self, i: u64, n: u64) -> Share {
        let n = n.max(1);
        let size = self.positions.len() as u64;
        let positions: Vec<u64> = (0..size * n)
            .filter(|k| k % n == i % n)
            .map(|k| self.nth(k))
            .collect();
        Share {
            period: self.period * n,
            positions: positions.into(),
        }
    }

    /// Whether item `g` is in this share.
    pub fn contains(&self, g: u64) -> bool {
        self.positions.binary_search(&(g % self.period)).is_ok()
    }

    /// This share's `k`-th item (0-based), in increasing order.
    #[inline]
    pub fn nth(&self, k: u64) -> u64 {
        match &*self.positions {
            // Equal parts: no division on the common path.
            [p] => k * self.period + p,
            ps => {
                let size = ps.len() as u64;
                (k / size) * self.period + ps[(k % size) as usize]
            }
        }
    }

    /// How many of the items `0..total` are in this share.
    pub fn count_below(&self, total: u64) -> u64 {
        let size = self.positions.len() as u64;
        let (full, rest) = (total / self.period, total % self.period);
        full * size + self.positions.partition_point(|&p| p < rest) as u64
    }

    /// The fraction of all items this share holds.
    pub fn fraction(&self) -> f64 {
        self.positions.len() as f64 / self.period as f64
    }

    /// The items of `0..total` in this share, in order.
    pub fn items_below(&self, total: u64) -> impl Iterator<Item = u64> + '_ {
        (0..self.count_below(total)).map(|k| self.nth(k))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A random rising sequence from 0 to 1 with denominators up to 12.
    fn sequence() -> impl Strategy<Value = Vec<(u64, u64)>> {
        (1u64..=12, proptest::collection::btree_set(1u64..12, 0..6)).prop_map(|(d, cuts)| {
            let mut b = vec![(0, 1)];
            b.extend(cuts.into_iter().filter(|c| *c < d).map(|c| (c, d)));
            b.push((1, 1));
            b
        })
    }

    proptest! {
        /// Equal parts, and any part split again among threads: every item of the whole
        /// is in exactly one part, and the parts' counts add up to any total.
        #[test]
        fn equal_parts_and_their_splits_cover_the_whole_once(
            machines in 1u64..9, threads in 1u64..9, total in 0u64..5_000,
        ) {
            let parts: Vec<Share> = (0..machines)
                .flat_map(|m| (0..threads).map(move |t| Share::part(m, machines).split(t, threads)))
                .collect();
            for g in 0..total.min(600) {
                prop_assert_eq!(parts.iter().filter(|p| p.contains(g)).count(), 1, "item {}", g);
            }
            let sum: u64 = parts.iter().map(|p| p.count_below(total)).sum();
            prop_assert_eq!(sum, total);
        }

        /// Unequal sequences (k6's execution segments), split among threads: the same law,
        /// and each segment holds its fraction of any total to within one item per period.
        #[test]
        fn sequences_cover_the_whole_once(
            bounds in sequence(), threads in 1u64..5, total in 0u64..3_000,
        ) {
            let segments = bounds.len() - 1;
            let parts: Vec<Share> = (0..segments)
                .flat_map(|i| {
                    let s = Share::sequence(&bounds, i).unwrap();
                    (0..threads).map(move |t| s.split(t, threads))
                })
                .collect();
            for g in 0..total.min(400) {
                prop_assert_eq!(parts.iter().filter(|p| p.contains(g)).count(), 1, "item {}", g);
            }
            let sum: u64 = parts.iter().map(|p| p.count_below(total)).sum();
            prop_assert_eq!(sum, total);
            for i in 0..segments {
                let s = Share::sequence(&bounds, i).unwrap();
                let (lo, hi) = (bounds[i], bounds[i + 1]);
                let want = (hi.0 as f64 / hi.1 as f64 - lo.0 as f64 / lo.1 as f64) * total as f64;
                // Within one period the smooth round-robin is off by less than one item.
                prop_assert!((s.count_below(total) as f64 - want).abs() < 1.0 + 1e-9,
                    "segment {} holds {} of {}, wants {}", i, s.count_below(total), total, want);
            }
        }

        /// `nth` enumerates exactly the items `contains` accepts, in increasing order.
        #[test]
        fn nth_enumerates_contains(bounds in sequence(), index in 0usize..8, t in 0u64..3, n in 1u64..4) {
            prop_assume!(index < bounds.len() - 1);
            let s = Share::sequence(&bounds, index).unwrap().split(t, n);
            let listed: Vec<u64> = s.items_below(500).collect();
            let filtered: Vec<u64> = (0..500).filter(|g| s.contains(*g)).collect();
            prop_assert_eq!(listed, filtered);
        }
    }

    #[test]
    fn k6_example_sequence() {
        let b = [(0, 1), (1, 4), (1, 2), (1, 1)];
        let s: Vec<Share> = (0..3).map(|i| Share::sequence(&b, i).unwrap()).collect();
        assert_eq!(s[2].fraction(), 0.5);
        assert_eq!(s[0].count_below(100), 25);
        assert_eq!(s[1].count_below(100), 25);
        assert_eq!(s[2].count_below(100), 50);
        // The half is spread over the period, not one block of it.
        assert_eq!(&*s[2].positions, &[0, 3]);
        assert_eq!(
            Share::sequence(&b, 3),
            Err(ShareError::NoSuchSegment {
                index: 3,
                segments: 3
            })
        );
        assert_eq!(
            Share::sequence(&[(0, 1), (1, 2), (1, 4), (1, 1)], 0),
            Err(ShareError::NotRising)
        );
    }

    #[test]
    fn equal_parts_interleave() {
        let p = Share::part(1, 3);
        assert_eq!(p.items_below(10).collect::<Vec<_>>(), [1, 4, 7]);
        assert_eq!(
            Share::whole()
                .split(1, 2)
                .items_below(6)
                .collect::<Vec<_>>(),
            [1, 3, 5]
        );
    }
}
