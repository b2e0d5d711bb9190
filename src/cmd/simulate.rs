//! `kaioken simulate`: the planned rate curve of an open model, as CSV, without traffic.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

use super::Exit;
use crate::cli::SimulateArgs;
use crate::config::{Flags, RawConfig};
use crate::engine::schedule::PATTERN_STEP;
use crate::plan::load_model::{Arrivals, Shape};
use crate::plan::pattern::PatternState;
use crate::plan::{self, parse_duration};

pub fn simulate(args: &SimulateArgs) -> anyhow::Result<Exit> {
    let file = RawConfig::load(&args.config)?;
    // The curve does not depend on the target; a file without one is fine here.
    let has_url = file.target.as_ref().is_some_and(|t| t.url.is_some());
    let run = Flags {
        url: (!has_url).then(|| "http://127.0.0.1/".to_string()),
        ..Flags::default()
    };
    let plan = plan::build(&run, Some(&file))?;
    let horizon = match &args.duration {
        Some(d) => parse_duration("--duration", d)?,
        None => plan.load.duration().unwrap_or(Duration::from_secs(3600)),
    };
    let step = parse_duration("--step", &args.step)?;
    if step.is_zero() {
        bail!("--step = 0: must be > 0, e.g. 1s");
    }
    let zone = match &plan.load.shape {
        Shape::Open {
            arrivals: Arrivals::Pattern(p),
            ..
        } => p.time_zone.clone(),
        _ => jiff::tz::TimeZone::UTC,
    };
    let start = match args.start.as_deref() {
        Some("now") => jiff::Timestamp::now(),
        Some(s) => s.parse::<jiff::Timestamp>().map_err(|e| {
            anyhow!(
                "--start = {s}: not an RFC 3339 time ({e}); write e.g. 2026-01-01T09:00:00Z, or now"
            )
        })?,
        // Today's midnight in the pattern's zone: the same seed gives the same curve (and
        // total) on every call, and the rows fall on the schedule's hours. From `now`, the
        // start would move on every call and with it where the schedule's edges fall.
        None => jiff::Timestamp::now()
            .to_zoned(zone.clone())
            .start_of_day()
            .map_err(|e| anyhow!("--start: cannot find today's midnight in the pattern's time zone ({e}); pass --start"))?
            .timestamp(),
    };
    let start_unix = start.as_millisecond() as f64 / 1000.0;
    let Shape::Open { arrivals, .. } = &plan.load.shape else {
        bail!(
            "{}: simulate plans open models ([pattern], target_rate stages or an arrival rate); this config is a closed model",
            args.config.display()
        );
    };
    let (mut pattern, curve) = match arrivals {
        Arrivals::Pattern(p) => (Some(PatternState::new(p, start_unix)), None),
        Arrivals::Rate(c) => (None, Some(c.clone())),
        Arrivals::Burst { .. } => bail!(
            "simulate plans rate curves; a burst is {} at once every interval",
            plan.load
        ),
        Arrivals::Replay(_) => bail!(
            "simulate plans rate curves; a replay's times are its records' (see them with `kaioken replay FILE --dry-run`)"
        ),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "t_secs,rate,schedule,spike,noise").context("writing to stdout")?;
    let (total, step_s) = (horizon.as_secs_f64(), step.as_secs_f64());
    let (mut i, mut next_row, mut area, mut prev) = (0u64, 0.0f64, 0.0f64, None::<f64>);
    let (mut max, mut min) = (0.0f64, f64::INFINITY);
    // Integrate at the engine's own resolution; print every `step`.
    loop {
        // Computed from the step index, never accumulated, so rows land on exact times.
        let t = i as f64 * PATTERN_STEP;
        if t > total + 1e-9 {
            break;
        }
        let (rate, sched, spike, noise) = match (&mut pattern, &curve) {
            (Some(p), _) => {
                let c = p.at(t);
                (c.rate, c.schedule, c.spike, c.noise)
            }
            (None, Some(c)) => (c.value_at(Duration::from_secs_f64(t)), 1.0, 1.0, 1.0),
            (None, None) => unreachable!("one of the two is set"),
        };
        if let Some(p) = prev {
            area += (p + rate) / 2.0 * PATTERN_STEP;
        }
        prev = Some(rate);
        max = max.max(rate);
        min = min.min(rate);
        if t + 1e-9 >= next_row {
            let written = writeln!(out, "{t:.3},{rate:.3},{sched:.4},{spike:.4},{noise:.4}");
            if matches!(&written, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe) {
                break;
            }
            written.context("writing to stdout")?;
            next_row += step_s;
        }
        i += 1;
    }
    let spikes = pattern.as_ref().map_or(0, |p| p.spikes_started);
    eprintln!(
        "kaioken simulate: {} over {} from {}: mean {:.1}/s, min {:.1}/s, max {:.1}/s, {} spikes, {:.0} planned requests",
        plan.load.name(),
        humantime::format_duration(horizon),
        start.to_zoned(zone).strftime("%Y-%m-%dT%H:%M:%S%:z"),
        if total > 0.0 { area / total } else { 0.0 },
        min,
        max,
        spikes,
        area
    );
    Ok(Exit::Success)
}
