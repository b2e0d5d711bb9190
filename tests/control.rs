//! The command channel against a real server: every thread applies a command at the same
//! instant, so the server receives exactly what the edited curve asks for.

mod support;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kaioken::config::Flags;
use kaioken::engine::{self, Applied, Clock, Command, EngineHandle, Refused};
use kaioken::plan::share::Share;
use kaioken::record::Interval;
use kaioken::transport::connect;
use support::Target;

/// What the engine's threads reported, tick by tick.
#[derive(Default)]
struct Seen {
    requests: u64,
    errors: u64,
    dropped: u64,
    /// (tick, VUs summed over the threads).
    vus: Vec<(u64, u64)>,
}

struct Running {
    engine: EngineHandle,
    t_load: Instant,
    drain: JoinHandle<Seen>,
}

fn start(flags: Flags) -> Running {
    // The machine's proxy variables must not reroute the loopback target.
    let flags = Flags {
        no_proxy_env: true,
        ..flags
    };
    let plan = kaioken::plan::build(&flags, None).expect("a valid plan");
    let route = connect::route(&plan).expect("loopback");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let connector = rt
        .block_on(connect::build(&plan, route))
        .expect("connector");
    let t_load = Instant::now();
    let clock = Clock {
        t_load,
        t0: t_load,
        start_unix: 0.0,
    };
    let (engine, mut feed) = engine::start(Arc::new(plan), connector, clock, &Share::whole());
    let drain = std::thread::spawn(move || {
        rt.block_on(async move {
            let mut seen = Seen::default();
            while let Some(d) = feed.rx.recv().await {
                let i: &Interval = &d.interval;
                seen.requests += i.requests();
                seen.errors += i.errors.iter().sum::<u64>();
                seen.dropped += i.dropped;
                match seen.vus.iter_mut().find(|(t, _)| *t == d.tick) {
                    Some((_, v)) => *v += i.vus,
                    None => seen.vus.push((d.tick, i.vus)),
                }
                feed.give_back(d.thread, d.interval);
            }
            seen
        })
    });
    Running {
        engine,
        t_load,
        drain,
    }
}

impl Running {
    fn at(&self, secs: f64) {
        let when = self.t_load + Duration::from_secs_f64(secs);
        std::thread::sleep(when.saturating_duration_since(Instant::now()));
    }

    fn send(&self, command: Command) -> Applied {
        let ticket = self.engine.send(command).expect("accepted");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(ticket.applied())
    }

    fn finish(self) -> Seen {
        self.engine.join();
        self.drain.join().expect("drain thread")
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[test]
fn open_model_follows_set_rate_spike_and_pause_exactly() {
    let target = Target::start(&[]);
    let run = start(Flags {
        url: Some(target.url.clone()),
        arrival_rate: Some(100.0),
        duration: Some("4s".into()),
        max_vus: Some(200),
        threads: Some(2),
        ..Flags::default()
    });
    run.at(0.8);
    let rate = run.send(Command::SetRate(300.0));
    run.at(1.8);
    let spike = run.send(Command::Spike {
        factor: 2.0,
        duration: Duration::from_millis(500),
    });
    run.at(2.8);
    let pause = run.send(Command::Pause);
    run.at(3.2);
    let resume = run.send(Command::Resume);
    // Every thread applied each command at its instant, none late.
    for a in [rate, spike, pause, resume] {
        assert_eq!(a.late, Duration::ZERO, "{a:?}");
    }
    let seen = run.finish();
    assert_eq!((seen.errors, seen.dropped), (0, 0));

    // The area of the edited curve over the 4 s, less the arrivals due while paused.
    let (r, s, p, q) = (
        secs(rate.at),
        secs(spike.at),
        secs(pause.at),
        secs(resume.at),
    );
    assert!(r < s && s + 0.5 < p && p < q && q < 4.0);
    let area = 100.0 * r + 300.0 * (4.0 - r) + 300.0 * 0.5;
    let skipped = 300.0 * (q - p);
    let expected = area - skipped;
    // The union of the threads' arrivals is the single schedule (see the schedule's
    // proptests), so only the three counting boundaries (end, pause, resume) may each round
    // an arrival either way when the area is a whole number there: ±3.
    let served = target.served() as f64;
    eprintln!("server saw {served}, the edited curve asks for {expected:.2}");
    assert!(
        (served - expected).abs() <= 3.0,
        "server saw {served}, the edited curve asks for {expected:.1}"
    );
    assert_eq!(seen.requests as f64, served);
    // Without the commands the server would have seen 400: each one counted.
    assert!(served > 1_000.0);
}

#[test]
fn closed_model_follows_set_vus() {
    // Each request waits 20 ms at the server, so a VU sends at most 50 per second.
    let target = Target::start(&["--delay", "20ms"]);
    let run = start(Flags {
        url: Some(target.url.clone()),
        concurrency: Some(2),
        duration: Some("3s".into()),
        threads: Some(2),
        ..Flags::default()
    });
    run.at(0.5);
    let before = target.served();
    run.at(1.0);
    let pre = target.served();
    let applied = run.send(Command::SetVus(6));
    let from = secs(applied.at) + 0.2;
    run.at(from);
    let mid = target.served();
    run.at(from + 0.5);
    let after = target.served();
    let seen = run.finish();
    // The engine ran 2 VUs before the command and 6 after it.
    let tick_of = |s: f64| (s * 10.0).round() as u64;
    let before_vus: Vec<u64> = seen
        .vus
        .iter()
        .filter(|(t, _)| (3..tick_of(secs(applied.at))).contains(t))
        .map(|v| v.1)
        .collect();
    let after_vus: Vec<u64> = seen
        .vus
        .iter()
        .filter(|(t, _)| (tick_of(from)..28).contains(t))
        .map(|v| v.1)
        .collect();
    assert!(before_vus.iter().all(|v| *v == 2), "{before_vus:?}");
    assert!(after_vus.iter().all(|v| *v == 6), "{after_vus:?}");
    // The server's rate tripled: 2 VUs gave ≤ 100/s over the 0.5 s before the command, 6
    // give ≤ 300/s. The ratio is 3 × (20 ms + o₂)/(20 ms + o₆) for per-request overheads o;
    // it falls to 2 only if o₆ exceeds 10 ms + 1.5 o₂, far beyond loopback at 300/s.
    let first = (pre - before) as f64 / 0.5;
    let second = (after - mid) as f64 / 0.5;
    assert!(
        second > 2.0 * first,
        "server rate {first:.0}/s before, {second:.0}/s after set-vus 6"
    );
}

#[test]
fn commands_that_do_not_fit_the_model_are_refused() {
    let target = Target::start(&[]);
    let run = start(Flags {
        url: Some(target.url.clone()),
        arrival_rate: Some(50.0),
        duration: Some("1s".into()),
        threads: Some(1),
        ..Flags::default()
    });
    assert!(matches!(
        run.engine.send(Command::SetVus(3)),
        Err(Refused::NotClosed { model: "open" })
    ));
    let stop = run.send(Command::Stop);
    assert!(stop.at < Duration::from_secs(1));
    assert!(matches!(
        run.engine.send(Command::SetRate(10.0)),
        Err(Refused::Ended { .. })
    ));
    let seen = run.finish();
    // Stopped at once: far fewer than the 50 a full second would send.
    assert!(seen.requests < 25, "{}", seen.requests);
}
