//! Command line + `[load]`, `[[stages]]` and `[pattern]` → a validated [`LoadModel`].

use std::time::Duration;

use super::load_model::{Arrivals, Curve, LoadModel, Segment, Shape};
use super::pattern::{HourRule, NoiseSpec, PatternSpec, SpikeSpec, parse_schedule};
use super::{
    DEFAULT_CONCURRENCY, DEFAULT_DURATION, PlanError, parse_count, parse_duration, problem,
};
use crate::config::{Count, Factor, Flags, RawConfig, RawLoad, RawPattern, RawSchedule};

pub const DEFAULT_MAX_VUS: i64 = 100;

/// Collects problems instead of stopping at the first.
struct Errs<'a>(&'a mut Vec<PlanError>);

impl Errs<'_> {
    fn ok<T>(&mut self, r: Result<T, PlanError>) -> Option<T> {
        r.map_err(|e| self.0.push(e)).ok()
    }

    fn push(&mut self, field: &str, value: impl std::fmt::Display, fix: &str) {
        self.0.push(problem(field, value, fix));
    }

    fn dur(&mut self, field: &str, v: Option<&String>) -> Option<Duration> {
        v.and_then(|s| self.ok(parse_duration(field, s)))
    }
}

fn positive(errs: &mut Errs, field: &str, v: Option<f64>) -> Option<f64> {
    match v {
        Some(r) if !(r > 0.0 && r.is_finite()) => {
            errs.push(field, r, "must be a number > 0 (requests per second)");
            None
        }
        other => other,
    }
}

/// Builds the load model; pushes every problem into `errs`.
pub fn build_load(
    args: &Flags,
    file: Option<&RawConfig>,
    replay: Option<super::replay::Replay>,
    errs_out: &mut Vec<PlanError>,
) -> Option<LoadModel> {
    let empty = RawLoad::default();
    let fl = file.and_then(|f| f.load.as_ref()).unwrap_or(&empty);
    let stages = file.and_then(|f| f.stages.as_ref());
    let pattern = file.and_then(|f| f.pattern.as_ref());
    let mut errs = Errs(errs_out);
    let before = errs.0.len();

    let s = |c: &Option<String>, f: &Option<crate::config::EnvString>| {
        c.clone().or_else(|| f.as_ref().map(|v| v.0.clone()))
    };
    let vus = super::build::count_at_least_one(
        errs.0,
        "concurrency",
        args.concurrency,
        fl.concurrency,
        DEFAULT_CONCURRENCY,
    );
    let max_requests = match (&args.max_requests, &fl.max_requests) {
        (Some(s), _) | (None, Some(Count::Text(s))) => errs.ok(parse_count("max_requests", s)),
        (None, Some(Count::Number(n))) if *n < 0 => {
            errs.push("max_requests", n, "must be ≥ 0 (0 = unlimited)");
            None
        }
        (None, Some(Count::Number(n))) => Some(*n as u64),
        (None, None) => None,
    }
    .filter(|n| *n > 0);
    let duration_text = s(&args.duration, &fl.duration);
    let warmup = errs
        .dur("warmup", s(&args.warmup, &fl.warmup).as_ref())
        .unwrap_or(Duration::ZERO);
    let ramp_up = errs
        .dur("ramp_up", s(&args.ramp_up, &fl.ramp_up).as_ref())
        .unwrap_or(Duration::ZERO);
    let think_time = errs
        .dur("think_time", s(&args.think_time, &fl.think_time).as_ref())
        .unwrap_or(Duration::ZERO);
    let rate = positive(&mut errs, "rate", args.rate.or(fl.rate));
    let arrival_rate = positive(
        &mut errs,
        "arrival_rate",
        args.arrival_rate.or(fl.arrival_rate),
    );
    let max_vus_given = args.max_vus.or(fl.max_vus);
    if let Some(m) = max_vus_given
        && m < 1
    {
        errs.push("max_vus", m, "must be at least 1");
    }
    let burst_rate = args.burst_rate.or(fl.burst_rate);
    let burst_delay = errs.dur(
        "burst_delay",
        s(&args.burst_delay, &fl.burst_delay).as_ref(),
    );
    let correction = !args.no_latency_correction && fl.latency_correction.unwrap_or(true);
    let poisson = match s(&args.arrival_dist, &fl.arrival_dist).as_deref() {
        None | Some("even") => false,
        Some("poisson") => true,
        Some(other) => {
            errs.push(
                "arrival_dist",
                other,
                "give even (evenly spaced, the default) or poisson (exponential gaps)",
            );
            false
        }
    };

    // Stages: all `target` (VUs) or all `target_rate` (iterations/s), each with a duration.
    let mut vu_stages = Vec::new();
    let mut rate_stages = Vec::new();
    if let Some(st) = stages {
        if st.is_empty() {
            errs.push(
                "stages",
                "[]",
                "give at least one [[stages]] entry or remove the key",
            );
        }
        for (i, stage) in st.iter().enumerate() {
            let field = format!("stages[{i}]");
            let d = match &stage.duration {
                None => {
                    errs.push(
                        &format!("{field}.duration"),
                        "(missing)",
                        "every stage needs a duration, e.g. duration = \"30s\"",
                    );
                    None
                }
                Some(d) => errs.ok(parse_duration(&format!("{field}.duration"), &d.0)),
            };
            match (stage.target, stage.target_rate) {
                (Some(_), Some(_)) => errs.push(
                    &field,
                    "target and target_rate",
                    "a stage ramps either VUs (target) or a rate (target_rate), not both",
                ),
                (None, None) => errs.push(
                    &field,
                    "(no target)",
                    "give target = VUS or target_rate = PER_SECOND",
                ),
                (Some(t), None) if t < 0.0 => errs.push(
                    &format!("{field}.target"),
                    t,
                    "must be ≥ 0 (use 0 to ramp down to idle)",
                ),
                (None, Some(r)) if r < 0.0 => errs.push(
                    &format!("{field}.target_rate"),
                    r,
                    "must be ≥ 0 (use 0 to ramp down to idle)",
                ),
                (Some(t), None) => vu_stages.push((d, t)),
                (None, Some(r)) => rate_stages.push((d, r)),
            }
        }
        if !vu_stages.is_empty() && !rate_stages.is_empty() {
            errs.push(
                "stages",
                "target and target_rate mixed",
                "one stage list ramps either VUs (target) or a rate (target_rate); use one kind",
            );
        }
    }
    let staged = !vu_stages.is_empty() || !rate_stages.is_empty();
    if staged && duration_text.is_some() {
        errs.push(
            "duration",
            duration_text.as_deref().unwrap_or(""),
            "stages set the duration (their sum); remove --duration or the stages",
        );
    }
    if staged && !warmup.is_zero() {
        errs.push(
            "warmup",
            humantime::format_duration(warmup),
            "stages start from zero; warm up with a first stage instead",
        );
    }
    if burst_rate.is_some() != burst_delay.is_some() {
        errs.push(
            "burst_rate",
            burst_rate.map_or("(missing)".into(), |b| b.to_string()),
            "burst mode needs both --burst-rate N and --burst-delay D",
        );
    }
    if let Some(b) = burst_rate
        && b < 1
    {
        errs.push("burst_rate", b, "must be at least 1");
    }
    if burst_delay.is_some_and(|d| d.is_zero()) {
        errs.push("burst_delay", "0", "must be > 0");
    }
    if replay.is_some() {
        // A replay's times are its records': every other load shape is refused by name.
        let given = [
            ("concurrency", args.concurrency.or(fl.concurrency).is_some()),
            ("rate", rate.is_some()),
            ("arrival_rate", arrival_rate.is_some()),
            ("burst_rate", burst_rate.is_some()),
            ("stages", stages.is_some()),
            ("pattern", pattern.is_some()),
            ("ramp_up", !ramp_up.is_zero()),
            ("think_time", !think_time.is_zero()),
            ("arrival_dist", poisson),
        ];
        for (field, _) in given.iter().filter(|(_, g)| *g) {
            errs.push(
                field,
                "(given)",
                "a replay sends each record at its recorded time (scaled by --speed); drop it, or use `kaioken run` for a modelled load",
            );
        }
    }
    let open_kinds = [
        arrival_rate.is_some(),
        !rate_stages.is_empty(),
        burst_rate.is_some(),
        pattern.is_some(),
    ];
    if open_kinds.iter().filter(|k| **k).count() > 1 {
        errs.push(
            "load",
            "several open models",
            "choose one of --arrival-rate, [[stages]] target_rate, --burst-rate or [pattern]",
        );
    }
    let open = open_kinds.iter().any(|k| *k) || replay.is_some();
    if open && rate.is_some() && replay.is_none() {
        errs.push("rate", rate.unwrap_or(0.0), "--rate caps a closed model; an open model's rate is --arrival-rate (or the stages/pattern)");
    }
    // A flag the chosen model has no use for is refused, never silently ignored.
    if open && replay.is_none() {
        let model = if burst_rate.is_some() {
            "a burst"
        } else {
            "an open model"
        };
        if let Some(c) = args.concurrency.or(fl.concurrency) {
            errs.push("concurrency", c, &format!("{model} starts iterations on its schedule; its VUs are capped by --max-vus, not -c: drop -c (or give --max-vus {c})"));
        }
        if !ramp_up.is_zero() {
            errs.push("ramp_up", humantime::format_duration(ramp_up), "--ramp-up starts a closed model's VUs gradually; ramp an open model's rate with [[stages]] target_rate");
        }
        if !think_time.is_zero() {
            errs.push("think_time", humantime::format_duration(think_time), "think time paces a closed model's VUs; an open model's pace is its rate: drop --think-time");
        }
        if poisson && burst_rate.is_some() {
            errs.push("arrival_dist", "poisson", "a burst sends its requests at once; Poisson arrivals need --arrival-rate, target_rate stages or [pattern]");
        }
    } else if !open && let Some(m) = max_vus_given {
        errs.push("max_vus", m, "--max-vus caps an open model (--arrival-rate, --burst-rate, target_rate stages, [pattern]); a closed model's VUs are -c");
    }
    if poisson && !open {
        errs.push("arrival_dist", "poisson", "Poisson arrivals space an open model's iterations; give --arrival-rate (or target_rate stages or [pattern]), or drop --arrival-dist");
    }
    if open && !vu_stages.is_empty() && rate_stages.is_empty() {
        errs.push(
            "stages",
            "target",
            "VU stages are a closed model; use target_rate stages with an open model",
        );
    }

    // Duration: explicit, from stages, or the default; a pattern may run until stopped.
    let duration = if staged {
        let total: Duration = vu_stages
            .iter()
            .chain(&rate_stages)
            .filter_map(|(d, _)| *d)
            .sum();
        Some(total)
    } else {
        match &duration_text {
            Some(d) => match errs.ok(parse_duration("duration", d).map_err(|mut e| {
                // oha's -d is the body: a value that is no number at all was most likely
                // meant as one.
                if !d.trim_start().starts_with(|c: char| c.is_ascii_digit()) {
                    e.fix
                        .push_str("; for a request body use -b/--body (oha's -d is ours -b)");
                }
                e
            })) {
                Some(Duration::ZERO) if max_requests.is_none() && pattern.is_none() => {
                    errs.push(
                        "duration",
                        d,
                        "a run needs an end: give a duration > 0 or -n/--max-requests",
                    );
                    None
                }
                Some(Duration::ZERO) | None => None,
                Some(d) => Some(d),
            },
            None if max_requests.is_some() || pattern.is_some() || replay.is_some() => None,
            None => Some(DEFAULT_DURATION),
        }
    };

    let pattern_spec = pattern.and_then(|p| build_pattern(p, &mut errs));
    if errs.0.len() > before {
        return None;
    }

    let max_vus = max_vus_given.unwrap_or(DEFAULT_MAX_VUS) as u64;
    let forever = Duration::MAX;
    let ramp = |from: f64, stages: &[(Option<Duration>, f64)]| {
        let mut level = from;
        Curve::new(
            stages
                .iter()
                .map(|(d, to)| {
                    let seg = Segment {
                        dur: d.unwrap_or_default(),
                        from: level,
                        to: *to,
                    };
                    level = *to;
                    seg
                })
                .collect(),
        )
    };
    let shape = if let Some(r) = replay {
        Shape::Open {
            arrivals: Arrivals::Replay(Box::new(r)),
            max_vus,
        }
    } else if let Some(p) = pattern_spec {
        Shape::Open {
            arrivals: Arrivals::Pattern(Box::new(p)),
            max_vus,
        }
    } else if let (Some(size), Some(every)) = (burst_rate, burst_delay) {
        Shape::Open {
            arrivals: Arrivals::Burst {
                size: size as u64,
                every,
            },
            max_vus: max_vus_given.map_or(size as u64, |m| m as u64),
        }
    } else if !rate_stages.is_empty() {
        Shape::Open {
            arrivals: Arrivals::Rate(ramp(0.0, &rate_stages)),
            max_vus,
        }
    } else if let Some(r) = arrival_rate {
        Shape::Open {
            arrivals: Arrivals::Rate(Curve::new(vec![Segment::flat(forever, r)])),
            max_vus,
        }
    } else if !vu_stages.is_empty() {
        Shape::Closed {
            vus: ramp(0.0, &vu_stages),
            think_time,
            rate,
        }
    } else {
        let v = vus as f64;
        // The ramp starts with the load: a warm-up covers it first (real load that is not
        // measured), and what is measured is at full strength once warm-up ≥ ramp-up. A ramp
        // after a flat warm-up would drop the VUs to 0 just as measuring starts.
        let mut segs = vec![];
        if !ramp_up.is_zero() {
            segs.push(Segment {
                dur: ramp_up,
                from: 0.0,
                to: v,
            });
        }
        segs.push(Segment::flat(forever, v));
        Shape::Closed {
            vus: Curve::new(segs),
            think_time,
            rate,
        }
    };
    let seed = fl.seed.or(pattern.and_then(|p| p.seed)).unwrap_or(1);
    Some(LoadModel {
        shape,
        duration,
        warmup,
        max_requests,
        correction,
        poisson_seed: poisson.then_some(seed),
    })
}

fn build_pattern(p: &RawPattern, errs: &mut Errs) -> Option<PatternSpec> {
    let before = errs.0.len();
    let base = positive(errs, "pattern.base_rate", p.base_rate);
    if base.is_none() && p.base_rate.is_none() {
        errs.push(
            "pattern.base_rate",
            "(missing)",
            "give the base rate in requests/s, e.g. base_rate = 100",
        );
    }
    let base = base.unwrap_or(1.0);
    let max = positive(errs, "pattern.max_rate", p.max_rate).unwrap_or(f64::INFINITY);
    let floor = p.floor_rate.unwrap_or(0.0);
    if floor < 0.0 || floor > max {
        errs.push("pattern.floor_rate", floor, "must be within [0, max_rate]");
    }
    let schedule: Vec<HourRule> = match &p.schedule {
        None => vec![],
        Some(RawSchedule::Text(t)) => parse_schedule(t).unwrap_or_else(|e| {
            errs.push("pattern.schedule", format!("{t:?}"), &e);
            vec![]
        }),
        Some(RawSchedule::Rules(rules)) => {
            let mut out = vec![];
            for (i, r) in rules.iter().enumerate() {
                if r.multiplier.is_nan() || r.multiplier <= 0.0 {
                    errs.push(
                        &format!("pattern.schedule[{i}].multiplier"),
                        r.multiplier,
                        "must be > 0",
                    );
                }
                for h in &r.hours {
                    if !(0..24).contains(h) {
                        errs.push(&format!("pattern.schedule[{i}].hours"), h, "hours are 0-23");
                    } else {
                        out.push(HourRule {
                            from: *h as u8,
                            to: *h as u8,
                            multiplier: r.multiplier,
                        });
                    }
                }
            }
            out
        }
    };
    let time_zone = match &p.timezone {
        None => jiff::tz::TimeZone::system(),
        Some(name) => jiff::tz::TimeZone::get(&name.0).unwrap_or_else(|_| {
            errs.push(
                "pattern.timezone",
                &name.0,
                "not a known IANA time zone; write e.g. \"Europe/Paris\" or \"UTC\"",
            );
            jiff::tz::TimeZone::UTC
        }),
    };
    let dur =
        |errs: &mut Errs, field: &str, v: &Option<crate::config::EnvString>, default: Duration| {
            v.as_ref()
                .and_then(|s| errs.ok(parse_duration(field, &s.0)))
                .unwrap_or(default)
        };
    let spikes = match &p.spikes {
        Some(s) if s.enabled.unwrap_or(true) => {
            let lambda = match (s.lambda, &s.interval) {
                (Some(_), Some(_)) => {
                    errs.push(
                        "pattern.spikes",
                        "lambda and interval",
                        "give one: lambda (spikes/s) or interval (mean gap)",
                    );
                    1.0
                }
                (Some(l), None) if l.is_nan() || l <= 0.0 => {
                    errs.push(
                        "pattern.spikes.lambda",
                        l,
                        "must be > 0 (mean spikes per second)",
                    );
                    1.0
                }
                (Some(l), None) => l,
                (None, Some(i)) => match errs.ok(parse_duration("pattern.spikes.interval", &i.0)) {
                    Some(d) if !d.is_zero() => 1.0 / d.as_secs_f64(),
                    _ => {
                        errs.push("pattern.spikes.interval", &i.0, "must be a duration > 0");
                        1.0
                    }
                },
                (None, None) => {
                    errs.push(
                        "pattern.spikes",
                        "(no rate)",
                        "give lambda (spikes/s) or interval (mean gap)",
                    );
                    1.0
                }
            };
            let factor = match &s.factor {
                None => (2.0, 2.0),
                Some(Factor::Fixed(f)) => (*f, *f),
                Some(Factor::Range(r)) if r.len() == 2 => (r[0], r[1]),
                Some(Factor::Range(r)) => {
                    errs.push(
                        "pattern.spikes.factor",
                        format!("{r:?}"),
                        "write a number or [low, high]",
                    );
                    (2.0, 2.0)
                }
            };
            if !(factor.0 >= 1.0 && factor.1 >= factor.0) {
                errs.push(
                    "pattern.spikes.factor",
                    format!("{factor:?}"),
                    "must be ≥ 1 (and low ≤ high for a range)",
                );
            }
            Some(SpikeSpec {
                lambda,
                factor,
                ramp_up: dur(
                    errs,
                    "pattern.spikes.ramp_up",
                    &s.ramp_up,
                    Duration::from_secs(5),
                ),
                hold: dur(
                    errs,
                    "pattern.spikes.hold",
                    &s.hold,
                    Duration::from_secs(10),
                ),
                ramp_down: dur(
                    errs,
                    "pattern.spikes.ramp_down",
                    &s.ramp_down,
                    Duration::from_secs(5),
                ),
                min_gap: dur(errs, "pattern.spikes.min_gap", &s.min_gap, Duration::ZERO),
            })
        }
        _ => None,
    };
    let noise = match &p.noise {
        Some(n) if n.enabled.unwrap_or(true) => {
            let a = n.amplitude.unwrap_or(0.1);
            if !(0.0..1.0).contains(&a) {
                errs.push(
                    "pattern.noise.amplitude",
                    a,
                    "must be within [0, 1) (0.15 = ±15%)",
                );
            }
            Some(NoiseSpec {
                amplitude: a,
                tau: dur(errs, "pattern.noise.tau", &n.tau, Duration::from_secs(10)),
            })
        }
        _ => None,
    };
    if errs.0.len() > before {
        return None;
    }
    Some(PatternSpec {
        base,
        max,
        floor,
        schedule,
        interpolate: p.interpolate.unwrap_or(false),
        time_zone,
        spikes,
        noise,
        seed: p.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        }),
    })
}
