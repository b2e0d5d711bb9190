//! `kaioken run`: config → Plan → Engine → Aggregator → Sinks, read top to bottom.

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, anyhow, bail};

use super::Exit;
use crate::aggregate::{self, Aggregator};
use crate::cli::RunArgs;
use crate::config::{self, RawConfig};
use crate::engine::{self, Command, RunState};
use crate::plan::{self, LiveView, Plan};
use crate::results::{self, Results};
use crate::sink;
use crate::transport::connect;
use crate::verdict;

pub fn run(args: &RunArgs) -> anyhow::Result<Exit> {
    run_flags(args, &args.flags())
}

/// `kaioken replay FILE`: `run` with the replay's flags.
pub fn replay(args: &crate::cli::ReplayArgs) -> anyhow::Result<Exit> {
    let flags = args.flags().map_err(|e| super::Usage::wrap(anyhow!(e)))?;
    run_flags(&args.run, &flags)
}

/// `run` with the command line already turned into flags (`kaioken replay` adds its own).
pub fn run_flags(args: &RunArgs, flags: &config::Flags) -> anyhow::Result<Exit> {
    let file = match &args.config {
        Some(path) => Some(RawConfig::load(path)?),
        None => None,
    };
    let mut plan = match plan::build(flags, file.as_ref()) {
        Ok(plan) => plan,
        // Without a config file every value came from the command line (a usage error),
        // except one read from the environment (HTTPS_PROXY and the like).
        Err(e) if file.is_none() && !e.0.iter().any(|p| is_env_name(&p.field)) => {
            return Err(super::Usage::wrap(e.into()));
        }
        Err(e) => return Err(located(args.config.as_deref(), e)),
    };
    if let Some(q) = args.q_rate {
        // Two tools give -q two meanings: say which one this is.
        eprintln!(
            "kaioken: -q {q} is read as -r {q}: {q} requests/s for the whole run (oha's -q); hey's -q is per worker, for which give -r {q}×c"
        );
    }
    if args.debug {
        return super::debug::debug(&plan, args.show_secrets);
    }
    if args.dry_run {
        println!("Configuration validated successfully!\n");
        print!("{plan}");
        return Ok(Exit::Success);
    }

    // A file or address given by flag that cannot be used is a usage error, as above.
    let usage = |e: connect::SetupError| {
        if file.is_none() && e.is_input() {
            super::Usage::wrap(e.into())
        } else {
            e.into()
        }
    };
    let route = connect::route(&plan).map_err(usage)?;
    confirm_target(&plan, &route.target)?;
    raise_fd_limit(plan.load.vus());

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the main runtime")?;
    let connector = rt.block_on(connect::build(&plan, route)).map_err(usage)?;
    rt.block_on(crate::transport::grpc_reflect::resolve(
        &mut plan, &connector,
    ))
    .map_err(|e| anyhow!(e))?;
    let plan = Arc::new(plan);

    let host_before = results::health::HostSample::now();
    let (clock, started_at) = start_clock(plan.load.warmup);
    let db = match &plan.outputs.db {
        Some(path) => Some(sink::sqlite::Writer::start(sink::sqlite::Db::open(
            path,
            &sink::sqlite::RunStart {
                started_at: results::rfc3339(started_at),
                method: plan.request().method.to_string(),
                url: plan.target.redacted_url(),
                model: plan.load.name().to_string(),
                description: plan.load.to_string(),
                latency_kind: plan.load.latency_kind().name().to_string(),
                target_rate: plan.load.target_rate(),
            },
        )?)),
        None => None,
    };
    let metrics_server = match plan.outputs.prometheus.as_ref().and_then(|p| p.listen) {
        Some(addr) => {
            let server = rt
                .block_on(sink::prometheus::serve::MetricsServer::bind(addr))
                .map_err(|e| {
                    anyhow!(
                        "prometheus_port = {}: cannot listen on {addr}: {e} (pick another port)",
                        addr.port()
                    )
                })?;
            eprintln!(
                "kaioken: Prometheus metrics on http://{}/metrics",
                server.addr
            );
            Some(server)
        }
        None => None,
    };
    let reasons = connector.reasons.clone();
    let (engine, feed) =
        engine::start(plan.clone(), connector, clock, &plan::share::Share::whole());
    let (aggregator, snapshots) = Aggregator::new(clock.t0, feed.threads, plan.load.duration());
    let mut aggregator = if plan.outputs.prometheus.is_some() {
        aggregator.with_latency_buckets()
    } else {
        aggregator
    };
    let registry = plan.outputs.prometheus.as_ref().map(|_| {
        Arc::new(sink::prometheus::registry(
            snapshots.clone(),
            sink::prometheus::RunInfo {
                target: plan.target.redacted_url(),
                max_vus: plan.load.vus(),
            },
        ))
    });
    let push_cfg = plan
        .outputs
        .prometheus
        .as_ref()
        .and_then(|p| p.push.as_ref());
    let pusher = match (push_cfg, &registry) {
        (Some(cfg), Some(r)) => Some(sink::prometheus::push::Pusher::new(
            cfg,
            &plan.target.redacted_url(),
            r.clone(),
        )?),
        _ => None,
    };
    let fail_fast = plan.fail_fast.then(|| snapshots.clone());
    let db_follow = db.as_ref().map(|w| w.follow(snapshots.clone()));
    let (outcome, breach) = rt.block_on(async {
        let db_follower = db_follow.map(tokio::spawn);
        let scraped = metrics_server.as_ref().map(|s| s.scraped());
        let metrics_task = match (metrics_server, &registry) {
            (Some(s), Some(r)) => Some(tokio::spawn(s.serve(r.clone()))),
            _ => None,
        };
        let push_task = pusher.map(|p| {
            let (stop, stopped) = tokio::sync::oneshot::channel();
            (stop, tokio::spawn(p.run(stopped)))
        });
        let watcher =
            fail_fast.map(|rx| tokio::spawn(watch_thresholds(rx, plan.clone(), engine.control())));
        let live = match plan.outputs.live {
            LiveView::Progress => Some(tokio::spawn(sink::progress::run(
                snapshots,
                plan.load.duration(),
            ))),
            LiveView::Tui => {
                let header = sink::tui::Header {
                    target: format!("{} {}", plan.request().method, plan.target.redacted_url()),
                    model: plan.load.to_string(),
                    duration: plan.load.duration(),
                    warmup: plan.load.warmup,
                    max_vus: plan.load.vus(),
                    target_rate: plan.load.target_rate(),
                    latency_kind: plan.load.latency_kind().name(),
                };
                let saver = sink::tui::Saver {
                    tap: aggregator.tap(),
                    render: snapshot_renderer(plan.clone(), engine.control(), started_at),
                    output: plan.outputs.files.first().map(|(p, _)| p.clone()),
                };
                Some(tokio::spawn(sink::tui::run(
                    snapshots,
                    engine.control(),
                    header,
                    plan.outputs.serious,
                    saver,
                )))
            }
            LiveView::Quiet => None,
        };
        let signals = stop_on_signals(
            engine.control(),
            format!(
                "stopping; in-flight requests get {} to finish (Ctrl-C again to abort)",
                humantime::format_duration(plan.graceful_stop)
            ),
        );
        let outcome = tokio::select! {
            outcome = aggregator.run(feed) => outcome,
            () = signals => unreachable!("the signal handler never returns"),
        };
        // Let the live view draw its last frame and give the terminal back before the
        // summary is printed; it ends on the final snapshot.
        if let Some(view) = live {
            let _ended = view.await;
        }
        if let Some(f) = db_follower {
            f.abort();
        }
        if let Some((stop, task)) = push_task {
            let _stopped = stop.send(());
            let _pushed = task.await;
        }
        if let (Some(task), Some(scraped)) = (metrics_task, scraped) {
            let linger = plan
                .outputs
                .prometheus
                .as_ref()
                .map_or(Duration::ZERO, |p| p.linger);
            if !linger.is_zero() {
                let _scraped = tokio::time::timeout(linger, scraped.notified()).await;
            }
            task.abort();
        }
        let breach = match watcher {
            Some(w) => {
                w.abort();
                w.await.ok().flatten()
            }
            None => None,
        };
        (outcome, breach)
    });
    let stopped_early = matches!(engine.state(), RunState::Stopping | RunState::Abort);
    let control = engine.control();
    engine.join();
    let ended_at = SystemTime::now();
    let mut outcome = outcome;
    // A scheduled run may end a hair before its deadline (nothing more was due): it still
    // covered the whole window it was asked to measure, which is what rates divide by. A
    // run that ended because `-n` was spent did not: its rates divide by the time it took.
    let quota_spent = plan
        .load
        .max_requests()
        .is_some_and(|n| outcome.total.requests() >= n);
    if !stopped_early
        && !quota_spent
        && let Some(d) = plan.load.duration()
    {
        outcome.duration = outcome.duration.max(d);
    }

    // Paused time is not load: the rates divide by the time the load ran.
    let paused = control.paused_within(plan.load.warmup, plan.load.warmup + outcome.duration);
    outcome.duration = outcome.duration.saturating_sub(paused);
    let mut results = Results::assemble(&plan, &outcome, started_at, ended_at);
    results.summary.paused_secs = paused.as_secs_f64();
    results.health = Some(judge_health(&plan, &outcome, &results, &host_before));
    results.error_reasons = reasons.by_kind();
    results.summary.stopped_by = match breach {
        Some(why) => Some(format!("fail-fast: {why}")),
        None => stopped_early.then(|| "signal".to_string()),
    };
    results.thresholds = verdict::judge(&plan.thresholds, &results);
    write_outputs(&plan, &results)?;
    if let Some(db) = db {
        db.finish(&results)?;
    }

    let s = &results.summary;
    if s.total_requests == 0 {
        eprintln!("kaioken: no request completed");
        return Ok(Exit::Error);
    }
    if s.successful == 0 {
        let kinds: Vec<String> = results
            .errors
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        let statuses: Vec<String> = results
            .status_codes
            .iter()
            .map(|(k, n)| format!("HTTP {k}: {n}"))
            .collect();
        let all: Vec<String> = kinds.into_iter().chain(statuses).collect();
        // The commonest failure's reason, when one was kept: the hint belongs on this line,
        // not only in --debug.
        let why = results
            .errors
            .iter()
            .max_by_key(|(_, n)| **n)
            .and_then(|(k, _)| results.error_reasons.get(k))
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        eprintln!("kaioken: every request failed ({}){why}", all.join(", "));
        return Ok(Exit::Error);
    }
    let failed: Vec<String> = results
        .thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(|t| {
            let seen = t.observed_text();
            format!("{} {} (observed {seen})", t.name, t.condition)
        })
        .collect();
    if !failed.is_empty() {
        eprintln!(
            "kaioken: {} threshold(s) failed: {}",
            failed.len(),
            failed.join("; ")
        );
        return Ok(Exit::ThresholdsFailed);
    }
    Ok(Exit::Success)
}

/// The engine's clock for a run starting now, and when its measured window starts (after the
/// warmup).
pub(super) fn start_clock(warmup: Duration) -> (engine::Clock, SystemTime) {
    let load_started = SystemTime::now();
    let t_load = Instant::now();
    let clock = engine::Clock {
        t_load,
        t0: t_load + warmup,
        start_unix: load_started
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
    };
    (clock, load_started + warmup)
}

/// The generator's health over a finished run, from what it measured and the machine's
/// counters since `before`.
pub(super) fn judge_health(
    plan: &Plan,
    outcome: &aggregate::Outcome,
    r: &Results,
    before: &results::health::HostSample,
) -> results::health::Health {
    results::health::judge(
        &results::health::Measured {
            threads: &outcome.thread_cpu,
            // Open models and rate caps send on a schedule; a plain closed loop does not.
            scheduled: !matches!(
                plan.load.shape,
                plan::load_model::Shape::Closed { rate: None, .. }
            ),
            lag_p99_us: r.schedule_lag_us.p99,
            lag_max_us: r.schedule_lag_us.max,
            dropped: r.summary.dropped_iterations,
            connections: r.summary.connections_opened,
            local_errors: r.errors.get("local_resources").copied().unwrap_or(0),
            connection_wait: outcome.conn_wait,
        },
        before,
        &results::health::HostSample::now(),
    )
}

/// The run so far as a whole `kaioken.result/v1` file, assembled as the final one is (pauses
/// left out of the rates, thresholds judged), for the TUI's `s`.
fn snapshot_renderer(
    plan: Arc<Plan>,
    control: engine::Control,
    started_at: SystemTime,
) -> Box<dyn Fn(aggregate::Outcome) -> Vec<u8> + Send + Sync> {
    Box::new(move |mut outcome| {
        let warmup = plan.load.warmup;
        let paused = control.paused_within(warmup, warmup + outcome.duration);
        outcome.duration = outcome.duration.saturating_sub(paused);
        let mut r = Results::assemble(&plan, &outcome, started_at, SystemTime::now());
        r.summary.paused_secs = paused.as_secs_f64();
        r.thresholds = verdict::judge(&plan.thresholds, &r);
        r.to_json().into_bytes()
    })
}

/// `--fail-fast`: judges every new snapshot; at the first breach, stops the run gracefully
/// (in-flight requests finish, every output is written) and returns what was breached.
async fn watch_thresholds(
    mut rx: tokio::sync::watch::Receiver<aggregate::Snapshot>,
    plan: Arc<Plan>,
    control: engine::Control,
) -> Option<String> {
    while rx.changed().await.is_ok() {
        let breach = verdict::live_breach(&plan.thresholds, &rx.borrow_and_update());
        if let Some(why) = breach {
            eprintln!("kaioken: threshold breached: {why}; stopping (--fail-fast)");
            let _ = control.send(Command::Stop);
            return Some(why);
        }
    }
    None
}

fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// A remote target is loaded only with consent: `-y`, or an answer on a terminal.
/// Asks before loading a remote target. `addrs` is empty when a `socks5h://` proxy
/// resolves the name: then only `localhost` and a local address literal pass unasked.
pub(super) fn confirm_target(plan: &Plan, addrs: &[SocketAddr]) -> anyhow::Result<()> {
    let local = if addrs.is_empty() {
        let host = plan
            .target
            .host
            .trim_start_matches('[')
            .trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host.parse::<std::net::IpAddr>().is_ok_and(is_local)
    } else {
        addrs.iter().all(|a| is_local(a.ip()))
    };
    if !plan.confirm_remote || local {
        return Ok(());
    }
    let what = match addrs.first() {
        Some(a) => format!("{} ({})", plan.target.host, a.ip()),
        None => plan.target.host.clone(),
    };
    if !std::io::stdin().is_terminal() {
        bail!(
            "target {what} is not a loopback or private address; pass -y/--yes to confirm you may load it"
        );
    }
    eprint!("kaioken: {what} is a remote target. Send load to it? [y/N] ");
    std::io::stderr().flush().context("writing the prompt")?;
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("reading the answer")?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        bail!("not confirmed; nothing was sent")
    }
}

/// Each connection is a file descriptor: make room for `vus` of them plus slack.
pub(super) fn raise_fd_limit(vus: u64) {
    let want = vus.saturating_add(1024);
    if let Ok((soft, hard)) = rlimit::Resource::NOFILE.get()
        && soft < want
    {
        let new = want.min(hard);
        if rlimit::Resource::NOFILE.set(new, hard).is_err() || new < want {
            eprintln!(
                "kaioken: open-file limit is {hard}; {vus} connections may fail (raise it with `ulimit -n`)"
            );
        }
    }
}

/// At Ctrl-C or SIGTERM, says `said` and stops the engine gracefully; at a second, aborts
/// it. Never returns: a caller selects it against the run's end.
pub(super) async fn stop_on_signals(control: engine::Control, said: String) {
    shutdown_signal().await;
    eprintln!("\nkaioken: {said}");
    let _ = control.send(Command::Stop);
    shutdown_signal().await;
    let _ = control.send(Command::Abort);
    std::future::pending::<()>().await;
}

/// Resolves at Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// An environment variable's name (`HTTPS_PROXY`), as plan errors name the variable a bad
/// value came from.
fn is_env_name(field: &str) -> bool {
    let upper = !field.is_empty() && field.chars().all(|c| c.is_ascii_uppercase() || c == '_');
    upper
        || matches!(
            field,
            "http_proxy" | "https_proxy" | "all_proxy" | "no_proxy"
        )
}

/// Plan errors of a config file, each prefixed with `FILE:LINE:` where its key is written, so
/// an error found after parsing points at its line as a syntax error does.
fn located(path: Option<&std::path::Path>, errors: plan::PlanErrors) -> anyhow::Error {
    let Some(path) = path else {
        return errors.into();
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<String> = errors
        .0
        .iter()
        .map(|e| match crate::config::locate(&text, &e.field) {
            Some(line) => format!("{}:{line}: {e}", path.display()),
            None => e.to_string(),
        })
        .collect();
    anyhow!(lines.join("\n"))
}

fn write_outputs(plan: &Plan, r: &Results) -> anyhow::Result<()> {
    sink::report::write_all(&plan.outputs.files, r)?;
    let mut out = std::io::stdout().lock();
    let written = if plan.outputs.json_stdout {
        writeln!(out, "{}", r.to_json())
    } else if let Some(format) = plan.outputs.stdout {
        // The document alone; a CSV's companion summary file has no place on stdout.
        let rendered = sink::report::render(format, std::path::Path::new("-"), r);
        let bytes = rendered
            .into_iter()
            .next()
            .map(|(_, b)| b)
            .unwrap_or_default();
        out.write_all(&bytes)
    } else {
        write!(out, "{}", sink::summary::render(r, plan.outputs.serious))
    };
    match written {
        // A closed pipe (`| head`) is not an error of the run.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}
