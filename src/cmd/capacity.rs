//! `kaioken capacity URL --slo 'p99 < 200ms'`: plan → a search of steady open-model probes,
//! each a whole engine run judged on its own → one `kaioken.capacity/v1` result.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, anyhow};

use super::Exit;
use crate::aggregate::Aggregator;
use crate::cli::CapacityArgs;
use crate::config::RawConfig;
use crate::engine::{self, RunState};
use crate::plan::capacity::Capacity;
use crate::plan::{self, LiveView, Plan};
use crate::results::capacity::{CapacityAnswer, CapacityResult, Probe, SearchMeta, rate_text};
use crate::results::{self, Results};
use crate::sink;
use crate::transport::connect::{self, Connector};
use crate::verdict::capacity::{Answer, Next, Search, judge_probe};

pub fn capacity(args: &CapacityArgs) -> anyhow::Result<Exit> {
    let flags = args.flags();
    let file = match &args.run.config {
        Some(path) => Some(RawConfig::load(path)?),
        None => None,
    };
    let mut cap = plan::capacity::build(&flags, file.as_ref()).map_err(|e| anyhow!(e))?;
    // The plan of every probe: the run's, with an open model at --start for the probe's
    // length (each probe then sets its own rate).
    let mut run_flags = flags;
    run_flags.arrival_rate = Some(cap.start);
    run_flags.duration = Some(humantime::format_duration(cap.probe).to_string());
    let mut plan = plan::build(&run_flags, file.as_ref()).map_err(|e| anyhow!(e))?;
    refuse_outputs(&plan)?;
    cap.add_thresholds(&plan.thresholds);
    if args.run.dry_run {
        println!("Configuration validated successfully!\n");
        print!("{plan}");
        println!("{}", describe(&cap));
        return Ok(Exit::Success);
    }
    let route = connect::route(&plan)?;
    super::run::confirm_target(&plan, &route.target)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the main runtime")?;
    let connector = rt.block_on(connect::build(&plan, route))?;
    rt.block_on(crate::transport::grpc_reflect::resolve(
        &mut plan, &connector,
    ))
    .map_err(|e| anyhow!(e))?;
    // The most VUs any probe may start, for the open-file limit.
    super::run::raise_fd_limit(cap.vus_for(cap.max, plan.timeout));
    if plan.outputs.live != LiveView::Quiet {
        eprintln!("kaioken: {}", describe(&cap));
    }

    let started_at = SystemTime::now();
    let mut search = Search::for_plan(&cap);
    let mut probes: Vec<Probe> = Vec::new();
    let mut stopped = None::<String>;
    let answer = loop {
        let (rate, confirm) = match search.next() {
            Next::Done(a) => break Some(a),
            Next::Probe { rate, confirm } => (rate, confirm),
        };
        let measure = if confirm {
            cap.confirm_probe()
        } else {
            cap.probe
        };
        if plan.outputs.live != LiveView::Quiet {
            eprintln!(
                "kaioken: probe {}: {} req/s for {}{}…",
                probes.len() + 1,
                rate_text(rate),
                humantime::format_duration(measure),
                if confirm {
                    " (confirming the best pass)"
                } else {
                    ""
                }
            );
        }
        let (result, interrupted) = run_probe(&rt, &plan, &connector, &cap, rate, measure)?;
        if interrupted {
            stopped = Some("interrupted".into());
            break None;
        }
        let v = judge_probe(&cap, rate, &result);
        let probe = Probe {
            index: probes.len() + 1,
            rate_rps: rate,
            confirm,
            passed: v.passed,
            reasons: v.reasons,
            slos: v.slos,
            generator: v.generator.clone(),
            result,
        };
        if plan.outputs.live != LiveView::Quiet {
            eprintln!("kaioken: probe {}: {}", probe.index, probe.line());
        }
        probes.push(probe);
        if let Some(g) = v.generator {
            stopped = Some(g);
            break None;
        }
        search.record(rate, v.passed, confirm);
    };

    let doc = assemble(
        &cap,
        &plan,
        &search,
        answer,
        stopped.as_deref(),
        probes,
        started_at,
    );
    write_outputs(&plan, &doc)?;
    Ok(match doc.answer.outcome.as_str() {
        "found" | "at_least_max" => match (cap.min_capacity, doc.answer.sustained_rps) {
            (Some(min), Some(got)) if got < min => {
                eprintln!(
                    "kaioken: found {} req/s, below --min-capacity {}",
                    rate_text(got),
                    rate_text(min)
                );
                Exit::ThresholdsFailed
            }
            _ => Exit::Success,
        },
        "below_start" => Exit::ThresholdsFailed,
        _ => Exit::Error,
    })
}

/// The search in one line: what is asked and how.
fn describe(c: &Capacity) -> String {
    let slos: Vec<String> = c.slos.iter().map(|s| s.shown()).collect();
    format!(
        "capacity search: {} from {} to {} req/s, {} probes after {} warmup, to within {:.0}%",
        slos.join(", "),
        rate_text(c.start),
        rate_text(c.max),
        humantime::format_duration(c.probe),
        humantime::format_duration(c.warmup),
        c.tolerance * 100.0
    )
}

/// Outputs a capacity search cannot honour yet are refused before any traffic rather than
/// ignored: they describe one run's live figures, and a search is many runs.
fn refuse_outputs(plan: &Plan) -> anyhow::Result<()> {
    if plan.outputs.db.is_some() {
        return Err(anyhow!(
            "--db-url: a capacity search is many runs; its per-probe results are in -o FILE.json (drop --db-url)"
        ));
    }
    if plan.outputs.prometheus.is_some() {
        return Err(anyhow!(
            "--prometheus-*: not available with capacity yet; each probe's result is in -o FILE.json (drop the Prometheus options)"
        ));
    }
    Ok(())
}

/// One probe: the engine at `rate` for the warmup and `measure`, its result assembled and
/// its generator health judged, as `run` does. `true` when Ctrl-C or SIGTERM ended it.
fn run_probe(
    rt: &tokio::runtime::Runtime,
    base: &Plan,
    connector: &Connector,
    cap: &Capacity,
    rate: f64,
    measure: Duration,
) -> anyhow::Result<(Results, bool)> {
    let mut plan = base.clone();
    plan.load = cap.probe_load(&base.load, rate, measure, base.timeout);
    // Requests still out at the end of the probe get as long as the SLO allows them (a
    // request slower than that fails the SLO anyway), within --graceful-stop.
    let grace = cap.latency_bound_ms().map_or(base.graceful_stop, |ms| {
        Duration::from_secs_f64(ms * 2.0 / 1000.0).clamp(
            Duration::from_secs(1),
            base.graceful_stop.max(Duration::from_secs(1)),
        )
    });
    plan.graceful_stop = grace;
    let plan = Arc::new(plan);
    let host_before = results::health::HostSample::now();
    let (clock, started_at) = super::run::start_clock(plan.load.warmup);
    let reasons = connector.reasons.clone();
    let (engine, feed) = engine::start(
        plan.clone(),
        connector.clone(),
        clock,
        &plan::share::Share::whole(),
    );
    let (aggregator, snapshots) = Aggregator::new(clock.t0, feed.threads, plan.load.duration());
    let outcome = rt.block_on(async {
        let live = (plan.outputs.live != LiveView::Quiet)
            .then(|| tokio::spawn(sink::progress::run(snapshots, plan.load.duration())));
        let signals = super::run::stop_on_signals(
            engine.control(),
            "stopping the search; the probes so far are written".to_string(),
        );
        let outcome = tokio::select! {
            outcome = aggregator.run(feed) => outcome,
            () = signals => unreachable!("the signal handler never returns"),
        };
        if let Some(view) = live {
            let _ended = view.await;
        }
        outcome
    });
    let interrupted = matches!(engine.state(), RunState::Stopping | RunState::Abort);
    engine.join();
    let mut outcome = outcome;
    if !interrupted && let Some(d) = plan.load.duration() {
        outcome.duration = outcome.duration.max(d);
    }
    let mut r = Results::assemble(&plan, &outcome, started_at, SystemTime::now());
    r.health = Some(super::run::judge_health(&plan, &outcome, &r, &host_before));
    r.error_reasons = reasons.by_kind();
    r.thresholds = crate::verdict::judge(&plan.thresholds, &r);
    if interrupted {
        r.summary.stopped_by = Some("signal".into());
    }
    Ok((r, interrupted))
}

/// The document: the answer and its sentence first, then every probe.
fn assemble(
    cap: &Capacity,
    plan: &Plan,
    search: &Search,
    answer: Option<Answer>,
    stopped: Option<&str>,
    probes: Vec<Probe>,
    started_at: SystemTime,
) -> CapacityResult {
    let slo_text: Vec<String> = cap
        .slos
        .iter()
        .filter(|s| !s.implied)
        .map(|s| s.text.clone())
        .collect();
    let within = slo_text.join(", ");
    let reasons_at = |rate: f64| {
        probes
            .iter()
            .rev()
            .find(|p| p.rate_rps == rate && !p.passed)
            .map(|p| p.reasons.clone())
            .unwrap_or_default()
    };
    let (outcome, sustained, failed, line) = match (answer, stopped) {
        (Some(Answer::Found { rate, failed }), _) => (
            "found",
            Some(rate),
            Some(failed),
            format!(
                "sustains {} req/s within {within} (next probe {} req/s failed: {})",
                rate_text(rate),
                rate_text(failed),
                reasons_at(failed).join(", ")
            ),
        ),
        (Some(Answer::AtLeastMax { rate }), _) => (
            "at_least_max",
            Some(rate),
            None,
            format!(
                "sustains at least {} req/s within {within}: every probe up to --max passed (raise --max to search further)",
                rate_text(rate)
            ),
        ),
        (Some(Answer::BelowStart), _) => (
            "below_start",
            None,
            Some(cap.start),
            format!(
                "misses {within} even at --start {} req/s: {} (lower --start)",
                rate_text(cap.start),
                reasons_at(cap.start).join(", ")
            ),
        ),
        (None, Some("interrupted")) => (
            "interrupted",
            search.best(),
            search.lowest_fail(),
            match search.best() {
                Some(b) => format!(
                    "interrupted: sustained at least {} req/s within {within} so far",
                    rate_text(b)
                ),
                None => "interrupted before any probe passed".to_string(),
            },
        ),
        (None, why) => {
            let at = probes.last().map_or(cap.start, |p| p.rate_rps);
            let so_far = search
                .best()
                .map(|b| format!("; sustained at least {} req/s so far", rate_text(b)))
                .unwrap_or_default();
            (
                "generator_bound",
                search.best(),
                None,
                format!(
                    "the generator, not the service, limited the probe at {} req/s{so_far}: {}",
                    rate_text(at),
                    why.unwrap_or_default()
                        .trim_start_matches("generator-bound: ")
                ),
            )
        }
    };
    let failed_reasons = failed.map(reasons_at).unwrap_or_default();
    let slos = cap.slos.iter().map(|s| s.shown()).collect();
    CapacityResult {
        schema: crate::results::capacity::CAPACITY_SCHEMA.to_string(),
        answer: CapacityAnswer {
            outcome: outcome.to_string(),
            sustained_rps: sustained,
            failed_rps: failed,
            failed_reasons,
            line,
        },
        search: SearchMeta {
            tool: "kaioken".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            started_at: results::rfc3339(started_at),
            ended_at: results::rfc3339(SystemTime::now()),
            target: format!("{} {}", plan.request().method, plan.target.redacted_url()),
            slos,
            start_rps: cap.start,
            max_rps: cap.max,
            probe_secs: cap.probe.as_secs_f64(),
            warmup_secs: cap.warmup.as_secs_f64(),
            tolerance: cap.tolerance,
            min_capacity_rps: cap.min_capacity,
            latency: "from_intended_send".into(),
        },
        probes,
    }
}

fn write_outputs(plan: &Plan, doc: &CapacityResult) -> anyhow::Result<()> {
    sink::report::capacity::write_all(&plan.outputs.files, doc)?;
    let mut out = std::io::stdout().lock();
    let written = if plan.outputs.json_stdout {
        writeln!(out, "{}", doc.to_json())
    } else if let Some(format) = plan.outputs.stdout {
        let rendered = sink::report::capacity::render(format, std::path::Path::new("-"), doc);
        let bytes = rendered
            .into_iter()
            .next()
            .map(|(_, b)| b)
            .unwrap_or_default();
        out.write_all(&bytes)
    } else {
        write!(out, "{}", sink::summary::capacity(doc))
    };
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}
