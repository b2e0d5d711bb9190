//! How the built-in target answers, parsed from its flags.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

/// The built-in target's options as given (`kaioken serve` and `demo` flags), unchecked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// `10ms`, `uniform:5ms-20ms` or `exp:10ms`.
    pub delay: Option<String>,
    pub error_rate: f64,
    pub status: u16,
    pub body_size: usize,
    pub chunked: bool,
    /// `START+LENGTH`, from the first request.
    pub stall: Option<String>,
}

/// A duration as the flags write it (`10ms`, `2s`; plain `0` is zero).
fn parse_duration(text: &str) -> Option<Duration> {
    match text.trim() {
        "0" => Some(Duration::ZERO),
        t => humantime::parse_duration(t).ok(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delay {
    None,
    Fixed(Duration),
    /// Uniform in [lo, hi].
    Uniform(Duration, Duration),
    /// Exponential with this mean.
    Exp(Duration),
}

impl Delay {
    /// The delay for request `n`: deterministic per request number, so runs are repeatable.
    pub fn sample(self, n: u64) -> Duration {
        let u = unit(n);
        match self {
            Delay::None => Duration::ZERO,
            Delay::Fixed(d) => d,
            Delay::Uniform(lo, hi) => lo + (hi - lo).mul_f64(u),
            Delay::Exp(mean) => mean.mul_f64(-(1.0 - u).ln()),
        }
    }
}

/// A uniform number in [0, 1) from a request number (splitmix64).
fn unit(n: u64) -> f64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Debug, Clone)]
pub struct Behaviour {
    pub delay: Delay,
    pub error_rate: f64,
    pub status: u16,
    pub body: Bytes,
    pub chunked: bool,
    /// (start, length) from the first request.
    pub stall: Option<(Duration, Duration)>,
}

#[derive(Debug, thiserror::Error)]
#[error("{field} = {value}: {fix}")]
pub struct BehaviourError {
    field: &'static str,
    value: String,
    fix: &'static str,
}

impl Behaviour {
    pub fn from_options(a: &Options) -> Result<Behaviour, BehaviourError> {
        let err = |field, value: &str, fix| BehaviourError {
            field,
            value: value.to_string(),
            fix,
        };
        let delay_fix = "write 10ms, uniform:5ms-20ms or exp:10ms";
        let dur = |s: &str, v: &str| parse_duration(s).ok_or_else(|| err("--delay", v, delay_fix));
        let delay = match a.delay.as_deref() {
            None => Delay::None,
            Some(v) => match v.split_once(':') {
                None => Delay::Fixed(dur(v, v)?),
                Some(("uniform", r)) => {
                    let (lo, hi) = r
                        .split_once('-')
                        .ok_or_else(|| err("--delay", v, delay_fix))?;
                    let (lo, hi) = (dur(lo, v)?, dur(hi, v)?);
                    if hi < lo {
                        return Err(err("--delay", v, "the upper bound must be ≥ the lower"));
                    }
                    Delay::Uniform(lo, hi)
                }
                Some(("exp", m)) => Delay::Exp(dur(m, v)?),
                Some(_) => return Err(err("--delay", v, delay_fix)),
            },
        };
        if !(0.0..=1.0).contains(&a.error_rate) {
            return Err(err(
                "--error-rate",
                &a.error_rate.to_string(),
                "must be within [0, 1]",
            ));
        }
        if !(100..=599).contains(&a.status) {
            return Err(err(
                "--status",
                &a.status.to_string(),
                "must be an HTTP status in 100..=599",
            ));
        }
        let stall = match a.stall.as_deref() {
            None => None,
            Some(v) => {
                let fix = "write START+LENGTH, e.g. 4s+2s";
                let (s, l) = v.split_once('+').ok_or_else(|| err("--stall", v, fix))?;
                let s = parse_duration(s).ok_or_else(|| err("--stall", v, fix))?;
                let l = parse_duration(l).ok_or_else(|| err("--stall", v, fix))?;
                Some((s, l))
            }
        };
        let body: Vec<u8> = (0..a.body_size).map(|i| b"kaioken\n"[i % 8]).collect();
        Ok(Behaviour {
            delay,
            error_rate: a.error_rate,
            status: a.status,
            body: Bytes::from(body),
            chunked: a.chunked,
            stall,
        })
    }

    /// Exactly `error_rate` of requests fail, spread evenly: request n fails when
    /// ⌊(n+1)·rate⌋ > ⌊n·rate⌋.
    pub fn is_error(&self, n: u64) -> bool {
        self.error_rate > 0.0
            && ((n + 1) as f64 * self.error_rate).floor() > (n as f64 * self.error_rate).floor()
    }

    /// When a request arriving at `now` must be held until.
    pub fn stall_until(&self, first: Instant, now: Instant) -> Option<Instant> {
        let (start, len) = self.stall?;
        let t = now.saturating_duration_since(first);
        (t >= start && t < start + len).then(|| first + start + len)
    }
}

/// A response body: in one piece (with Content-Length) or in several chunks with no size,
/// which HTTP/1.1 sends as `Transfer-Encoding: chunked`.
pub struct Body {
    parts: VecDeque<Bytes>,
    known_size: Option<u64>,
}

impl Body {
    pub fn full(b: Bytes) -> Body {
        Body {
            known_size: Some(b.len() as u64),
            parts: if b.is_empty() {
                VecDeque::new()
            } else {
                VecDeque::from([b])
            },
        }
    }

    /// Splits the body into up to 4 chunks.
    pub fn chunked(b: Bytes) -> Body {
        let step = b.len().div_ceil(4).max(1);
        let parts = (0..b.len())
            .step_by(step)
            .map(|i| b.slice(i..(i + step).min(b.len())))
            .collect();
        Body {
            parts,
            known_size: None,
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.get_mut().parts.pop_front().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty() && self.known_size.is_some()
    }

    fn size_hint(&self) -> SizeHint {
        match self.known_size {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn behaviour(f: impl FnOnce(&mut Options)) -> Result<Behaviour, BehaviourError> {
        let mut a = Options {
            status: 200,
            body_size: 2,
            ..Options::default()
        };
        f(&mut a);
        Behaviour::from_options(&a)
    }

    #[test]
    fn error_rate_is_exact() {
        let b = behaviour(|a| a.error_rate = 0.1).unwrap();
        assert_eq!((0..10_000).filter(|n| b.is_error(*n)).count(), 1_000);
        let b = behaviour(|a| a.error_rate = 0.0).unwrap();
        assert!(!(0..1000).any(|n| b.is_error(n)));
    }

    #[test]
    fn delays_parse_and_sample() {
        let b = behaviour(|a| a.delay = Some("uniform:5ms-20ms".into())).unwrap();
        for n in 0..1000 {
            let d = b.delay.sample(n);
            assert!(d >= Duration::from_millis(5) && d <= Duration::from_millis(20));
        }
        let b = behaviour(|a| a.delay = Some("exp:10ms".into())).unwrap();
        let mean = (0..20_000)
            .map(|n| b.delay.sample(n).as_secs_f64())
            .sum::<f64>()
            / 20_000.0;
        assert!((mean - 0.010).abs() < 0.0005, "{mean}");
        assert!(behaviour(|a| a.delay = Some("gauss:1ms".into())).is_err());
        assert!(behaviour(|a| a.status = 42).is_err());
    }

    #[test]
    fn stall_window() {
        let b = behaviour(|a| a.stall = Some("4s+2s".into())).unwrap();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(b.stall_until(t0, t0 + s(3)), None);
        assert_eq!(b.stall_until(t0, t0 + s(4)), Some(t0 + s(6)));
        assert_eq!(
            b.stall_until(t0, t0 + Duration::from_millis(5999)),
            Some(t0 + s(6))
        );
        assert_eq!(b.stall_until(t0, t0 + s(6)), None);
    }
}
