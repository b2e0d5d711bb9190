//! `kaioken capacity`: the settings of a capacity search (SLOs, the rate bracket, probe
//! length, tolerance), validated from flags over `[capacity]`, and the open model each probe
//! runs. The search itself is `verdict::capacity`; this module only says what was asked.

use std::time::Duration;

use super::load_model::{Arrivals, Curve, LoadModel, Segment, Shape};
use super::thresholds::{self, Metric, Threshold};
use super::{PlanError, PlanErrors, parse_duration, problem};
use crate::config::{Flags, RawConfig};

/// What `--start`, `--max`, `--probe` and `--tolerance` default to.
pub const DEFAULT_START: f64 = 100.0;
pub const DEFAULT_MAX: f64 = 100_000.0;
pub const DEFAULT_PROBE: Duration = Duration::from_secs(20);
pub const DEFAULT_TOLERANCE: f64 = 0.05;
/// The warmup before each probe when `--warmup` is not given: long enough for connections to
/// open and a backlog left by a failed probe to drain, short beside a probe.
pub const DEFAULT_WARMUP: Duration = Duration::from_secs(2);
/// A probe shorter than this has too few per-second points for the trend test.
pub const MIN_PROBE: Duration = Duration::from_secs(2);
/// Each passing probe's rate times this is the next, until one fails.
pub const GROWTH: f64 = 2.0;
/// The error rate a probe may have when no SLO names `error_rate`: a service answering
/// errors fast is not sustaining the rate, whatever its latency.
pub const IMPLIED_ERROR_RATE: f64 = 0.01;

/// A validated capacity search.
#[derive(Debug, Clone, PartialEq)]
pub struct Capacity {
    /// Every SLO a probe must meet, as written (`--slo`, `[capacity] slo`), plus
    /// `error_rate < 0.01` when none names the error rate.
    pub slos: Vec<Slo>,
    pub start: f64,
    pub max: f64,
    /// How long each probe holds its rate, measured (after `warmup`).
    pub probe: Duration,
    pub warmup: Duration,
    /// The bracket (highest pass, lowest fail) is narrow enough when
    /// (fail − pass) / pass ≤ this.
    pub tolerance: f64,
    /// `--min-capacity`: finding less is exit 4.
    pub min_capacity: Option<f64>,
    /// `--max-vus` as given; otherwise each probe gets enough VUs for its rate (see
    /// [`Capacity::vus_for`]).
    pub max_vus: Option<u64>,
}

/// One SLO: the text the user wrote and the threshold it is judged as.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    pub text: String,
    pub threshold: Threshold,
    /// Added by kaioken (the implied error rate), not written by the user.
    pub implied: bool,
}

impl Slo {
    /// As outputs list it: an implied SLO says so.
    pub fn shown(&self) -> String {
        if self.implied {
            format!("{} (implied)", self.text)
        } else {
            self.text.clone()
        }
    }
}

impl Capacity {
    /// `[thresholds]` of the config are SLOs too: a probe passes only when they hold. One
    /// that names the error rate replaces the implied one.
    pub fn add_thresholds(&mut self, thresholds: &[Threshold]) {
        if thresholds.iter().any(|t| t.metric == Metric::ErrorRate) {
            self.slos.retain(|s| !s.implied);
        }
        self.slos.extend(thresholds.iter().map(|t| Slo {
            text: t.to_string(),
            threshold: t.clone(),
            implied: false,
        }));
    }

    /// The confirming probe: twice as long as the others.
    pub fn confirm_probe(&self) -> Duration {
        self.probe * 2
    }

    /// The longest latency any SLO allows, in ms (`None` without a latency SLO).
    pub fn latency_bound_ms(&self) -> Option<f64> {
        self.slos
            .iter()
            .filter(|s| {
                matches!(
                    s.threshold.metric,
                    Metric::Quantile(_) | Metric::MeanLatency | Metric::MaxLatency
                )
            })
            .map(|s| s.threshold.limit)
            .reduce(f64::max)
    }

    /// VUs a probe at `rate` may start: by Little's law a rate R whose requests take at most L
    /// keeps R × L in flight; twice that leaves room for the SLO's tail, and a request slower
    /// than L fails the SLO anyway, so more VUs would only hide the failure as a backlog.
    /// Without a latency SLO, L is the request timeout.
    pub fn vus_for(&self, rate: f64, timeout: Duration) -> u64 {
        if let Some(v) = self.max_vus {
            return v;
        }
        let bound_s = self
            .latency_bound_ms()
            .map_or(timeout.as_secs_f64(), |ms| ms / 1000.0);
        let want = (rate * bound_s * 2.0).ceil();
        // At least the run's own default, at most what one machine's file descriptors allow.
        want.clamp(100.0, 50_000.0) as u64
    }

    /// The open model one probe runs: `rate` arrivals per second, evenly spaced, for the
    /// warmup and `measure`.
    pub fn probe_load(
        &self,
        base: &LoadModel,
        rate: f64,
        measure: Duration,
        timeout: Duration,
    ) -> LoadModel {
        let mut load = base.clone();
        load.shape = Shape::Open {
            arrivals: Arrivals::Rate(Curve::new(vec![Segment::flat(
                self.warmup + measure + Duration::from_secs(3600),
                rate,
            )])),
            max_vus: self.vus_for(rate, timeout),
        };
        load.duration = Some(measure);
        load.warmup = self.warmup;
        load.max_requests = None;
        load
    }
}

/// The short metric names an SLO may use.
const SHORT: [&str; 10] = [
    "p50",
    "p75",
    "p90",
    "p95",
    "p99",
    "p999",
    "mean",
    "max",
    "error_rate",
    "check_pass_rate",
];

/// Parses `p99 < 200ms`, `error_rate < 0.01`, `p95_latency_ms <= 150`: a metric (a threshold
/// name, or the short `p50` … `p999`, `mean`, `max`), an operator and a value.
pub fn parse_slo(text: &str) -> Result<Slo, PlanError> {
    let t = text.trim();
    let Some(at) = t.find(['<', '>', '=']) else {
        return Err(problem(
            "slo",
            text,
            "no comparison; write a metric, an operator and a value, e.g. 'p99 < 200ms' or 'error_rate < 0.01'",
        ));
    };
    let (name, condition) = t.split_at(at);
    let name = name.trim();
    if name.is_empty() {
        return Err(problem(
            "slo",
            text,
            "no metric before the comparison; e.g. 'p99 < 200ms'",
        ));
    }
    let key = match name {
        "p50" | "p75" | "p90" | "p95" | "p99" | "p999" => format!("{name}_latency"),
        "mean" | "max" => format!("{name}_latency"),
        other => other.to_string(),
    };
    if !SHORT.contains(&name)
        && thresholds::parse(name, "< 1").is_err()
        && thresholds::parse(name, "< 1ms").is_err()
    {
        let known = SHORT.join(", ");
        let fix = match crate::config::nearest(name, &SHORT) {
            Some(n) => format!("unknown metric {name}; did you mean {n}?"),
            None => format!(
                "unknown metric {name}; SLO metrics: {known}, or a [thresholds] name such as p99_latency_ms"
            ),
        };
        return Err(problem("slo", text, fix));
    }
    let threshold = thresholds::parse(&key, condition).map_err(|e| PlanError {
        field: "slo".into(),
        value: text.to_string(),
        fix: e.fix,
    })?;
    if matches!(
        threshold.metric,
        Metric::Rps | Metric::AchievedRateRatio | Metric::DroppedIterations | Metric::Generator
    ) {
        return Err(problem(
            "slo",
            text,
            "the search judges the rate, drops and the generator itself; an SLO is about the service: a latency (p99, mean, max), error_rate or check_pass_rate",
        ));
    }
    Ok(Slo {
        text: t.to_string(),
        threshold,
        implied: false,
    })
}

/// Parses `5%` or `0.05`.
fn parse_fraction(field: &str, text: &str) -> Result<f64, PlanError> {
    let t = text.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    };
    match v {
        Ok(v) if v.is_finite() && v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(problem(
            field,
            text,
            "a share between 0 and 100%, e.g. 5% or 0.05",
        )),
    }
}

/// Options of `run` that a capacity search sets itself or that describe another model: each
/// given one is refused, naming it.
fn refuse_load_options(errs: &mut Vec<PlanError>, args: &Flags, file: Option<&RawConfig>) {
    let fl = file.and_then(|f| f.load.as_ref());
    let closed = "a capacity search is an open model (its probes send at a rate whatever the service does); closed-model options do not apply: drop it";
    let own = "the search sets the arrival rate and each probe's length itself (--start, --max, --probe): drop it";
    let given: [(&str, bool, &str); 12] = [
        (
            "concurrency",
            args.concurrency.is_some() || fl.is_some_and(|l| l.concurrency.is_some()),
            closed,
        ),
        (
            "think_time",
            args.think_time.is_some() || fl.is_some_and(|l| l.think_time.is_some()),
            closed,
        ),
        (
            "ramp_up",
            args.ramp_up.is_some() || fl.is_some_and(|l| l.ramp_up.is_some()),
            closed,
        ),
        (
            "rate",
            args.rate.is_some() || fl.is_some_and(|l| l.rate.is_some()),
            own,
        ),
        (
            "arrival_rate",
            args.arrival_rate.is_some() || fl.is_some_and(|l| l.arrival_rate.is_some()),
            own,
        ),
        (
            "burst_rate",
            args.burst_rate.is_some() || fl.is_some_and(|l| l.burst_rate.is_some()),
            own,
        ),
        (
            "duration",
            args.duration.is_some() || fl.is_some_and(|l| l.duration.is_some()),
            own,
        ),
        (
            "max_requests",
            args.max_requests.is_some() || fl.is_some_and(|l| l.max_requests.is_some()),
            own,
        ),
        ("stages", file.is_some_and(|f| f.stages.is_some()), own),
        ("pattern", file.is_some_and(|f| f.pattern.is_some()), own),
        (
            "replay",
            args.replay.is_some() || file.is_some_and(|f| f.replay.is_some()),
            own,
        ),
        (
            "fail_fast",
            args.fail_fast,
            "each probe is judged whole; --fail-fast would cut probes short: drop it",
        ),
    ];
    for (field, present, why) in given {
        if present {
            let shown = match field {
                "concurrency" => "-c/concurrency",
                "think_time" => "--think-time/think_time",
                "duration" => "-d/duration",
                "max_requests" => "-n/max_requests",
                "rate" => "-r/rate",
                other => other,
            };
            errs.push(problem(shown, "given", why));
        }
    }
}

/// Validates the search's settings from flags over `[capacity]`.
pub fn build(args: &Flags, file: Option<&RawConfig>) -> Result<Capacity, PlanErrors> {
    let mut errs = Vec::new();
    refuse_load_options(&mut errs, args, file);
    let cfg = file.and_then(|f| f.capacity.as_ref());
    let texts: Vec<String> = if args.slo.is_empty() {
        cfg.and_then(|c| c.slo.as_ref())
            .map(|v| v.iter().map(|s| s.0.clone()).collect())
            .unwrap_or_default()
    } else {
        args.slo.clone()
    };
    if texts.is_empty() {
        errs.push(problem(
            "slo",
            "(none)",
            "give at least one, e.g. --slo 'p99 < 200ms' (or slo = [\"p99 < 200ms\"] in [capacity])",
        ));
    }
    let mut slos = Vec::new();
    for t in &texts {
        match parse_slo(t) {
            Ok(s) => slos.push(s),
            Err(e) => errs.push(e),
        }
    }
    if !slos.is_empty() && !slos.iter().any(|s| s.threshold.metric == Metric::ErrorRate) {
        let condition = format!("< {IMPLIED_ERROR_RATE}");
        let threshold = thresholds::parse("error_rate", &condition).expect("a valid threshold");
        slos.push(Slo {
            text: format!("error_rate {condition}"),
            threshold,
            implied: true,
        });
    }
    let rate = |errs: &mut Vec<PlanError>, field: &str, v: Option<f64>, default: f64| match v {
        None => default,
        // Probes below 10/s run at hundredths of a request per second: 0.01 is the floor.
        Some(v) if v.is_finite() && (0.01..=10_000_000.0).contains(&v) => v,
        Some(v) => {
            errs.push(problem(
                field,
                v,
                "a rate in requests/s from 0.01 to 10,000,000, e.g. 100",
            ));
            default
        }
    };
    let start = rate(
        &mut errs,
        "start",
        args.cap_start.or(cfg.and_then(|c| c.start)),
        DEFAULT_START,
    );
    let max = rate(
        &mut errs,
        "max",
        args.cap_max.or(cfg.and_then(|c| c.max)),
        DEFAULT_MAX,
    );
    if start > max {
        errs.push(problem(
            "start",
            start,
            format!("above --max {max}: the search runs from --start up to --max; lower --start or raise --max"),
        ));
    }
    let probe = match args
        .probe
        .as_ref()
        .or(cfg.and_then(|c| c.probe.as_ref()).map(|s| &s.0))
    {
        None => DEFAULT_PROBE,
        Some(t) => match parse_duration("probe", t) {
            Ok(d) if d < MIN_PROBE => {
                errs.push(problem(
                    "probe",
                    t,
                    "at least 2s: a probe's trend test needs per-second points (20s is the default)",
                ));
                DEFAULT_PROBE
            }
            Ok(d) if d > Duration::from_secs(86_400) => {
                errs.push(problem("probe", t, "at most 24h"));
                DEFAULT_PROBE
            }
            Ok(d) => d,
            Err(e) => {
                errs.push(e);
                DEFAULT_PROBE
            }
        },
    };
    let warmup = match args.warmup.as_ref().or(file
        .and_then(|f| f.load.as_ref())
        .and_then(|l| l.warmup.as_ref())
        .map(|s| &s.0))
    {
        None => DEFAULT_WARMUP,
        Some(t) => match parse_duration("warmup", t) {
            Ok(d) if d > Duration::from_secs(3600) => {
                errs.push(problem("warmup", t, "at most 1h"));
                DEFAULT_WARMUP
            }
            Ok(d) => d,
            Err(e) => {
                errs.push(e);
                DEFAULT_WARMUP
            }
        },
    };
    let tolerance = match args
        .tolerance
        .as_ref()
        .or(cfg.and_then(|c| c.tolerance.as_ref()).map(|s| &s.0))
    {
        None => DEFAULT_TOLERANCE,
        Some(t) => parse_fraction("tolerance", t).unwrap_or_else(|e| {
            errs.push(e);
            DEFAULT_TOLERANCE
        }),
    };
    let min_capacity = match args.min_capacity.or(cfg.and_then(|c| c.min_capacity)) {
        Some(v) if !(v.is_finite() && v > 0.0) => {
            errs.push(problem("min_capacity", v, "a rate in requests/s above 0"));
            None
        }
        v => v,
    };
    let max_vus = match args
        .max_vus
        .or(file.and_then(|f| f.load.as_ref()).and_then(|l| l.max_vus))
    {
        Some(v) if v < 1 => {
            errs.push(problem("max_vus", v, "must be at least 1"));
            None
        }
        v => v.map(|v| v as u64),
    };
    if errs.is_empty() {
        Ok(Capacity {
            slos,
            start,
            max,
            probe,
            warmup,
            tolerance,
            min_capacity,
            max_vus,
        })
    } else {
        Err(PlanErrors(errs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slos_parse_in_short_and_threshold_spelling() {
        let s = parse_slo("p99 < 200ms").unwrap();
        assert_eq!(
            s.threshold.metric,
            Metric::Quantile(thresholds::Quantile::P99)
        );
        assert_eq!(s.threshold.limit, 200.0);
        let s = parse_slo("p95_latency_ms <= 150").unwrap();
        assert_eq!(s.threshold.limit, 150.0);
        let s = parse_slo("error_rate < 0.01").unwrap();
        assert_eq!(s.threshold.metric, Metric::ErrorRate);
        let s = parse_slo("mean < 1.5s").unwrap();
        assert_eq!(s.threshold.limit, 1500.0);
    }

    #[test]
    fn bad_slos_name_the_problem() {
        let e = parse_slo("p99 200ms").unwrap_err();
        assert!(
            e.to_string().starts_with("slo = p99 200ms: no comparison"),
            "{e}"
        );
        let e = parse_slo("eror_rate < 0.01").unwrap_err();
        assert!(
            e.to_string()
                .contains("unknown metric eror_rate; did you mean error_rate?"),
            "{e}"
        );
        let e = parse_slo("latency < 1s").unwrap_err();
        assert!(
            e.to_string()
                .contains("unknown metric latency; SLO metrics: p50"),
            "{e}"
        );
        let e = parse_slo("< 200ms").unwrap_err();
        assert!(e.to_string().contains("no metric"), "{e}");
        let e = parse_slo("rps > 100").unwrap_err();
        assert!(e.to_string().contains("about the service"), "{e}");
    }

    #[test]
    fn settings_are_checked() {
        let mut f = Flags {
            slo: vec!["p99 < 200ms".into()],
            ..Flags::default()
        };
        let c = build(&f, None).unwrap();
        assert_eq!(
            (c.start, c.max, c.probe, c.tolerance),
            (100.0, 100_000.0, DEFAULT_PROBE, 0.05)
        );
        // The error rate is implied when no SLO names it.
        assert!(
            c.slos
                .iter()
                .any(|s| s.implied && s.threshold.metric == Metric::ErrorRate)
        );
        // 200 ms at 1,000/s keeps 200 in flight: twice that.
        assert_eq!(c.vus_for(1000.0, Duration::from_secs(30)), 400);
        f.cap_start = Some(500.0);
        f.cap_max = Some(100.0);
        f.probe = Some("1s".into());
        f.tolerance = Some("150%".into());
        f.concurrency = Some(10);
        let tiny = Flags {
            cap_start: Some(0.001),
            ..f.clone()
        };
        assert!(
            build(&tiny, None)
                .unwrap_err()
                .to_string()
                .contains("start = 0.001: a rate in requests/s from 0.01")
        );
        let e = build(&f, None).unwrap_err().to_string();
        for want in [
            "start = 500: above --max 100",
            "probe = 1s: at least 2s",
            "tolerance = 150%",
            "-c/concurrency = given",
        ] {
            assert!(e.contains(want), "{want} in {e}");
        }
        let e = build(&Flags::default(), None).unwrap_err().to_string();
        assert!(e.contains("slo = (none): give at least one"), "{e}");
    }
}
