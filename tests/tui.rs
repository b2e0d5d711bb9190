//! The live views, end to end: the TUI in a real pseudo-terminal (tmux), the headless status
//! lines, and `--json` alone on stdout.

mod support;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

struct Tmux {
    session: String,
}

impl Tmux {
    fn start(cmd: &str) -> Tmux {
        let _one = one_at_a_time();
        let session = format!("kaioken-test-{}-{}", std::process::id(), free_port());
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                "100",
                "-y",
                "30",
                cmd,
            ])
            .status()
            .expect(
                "tmux is not installed: run the test command from README.md (it installs tmux)",
            );
        assert!(ok.success());
        Tmux { session }
    }

    fn screen(&self) -> String {
        let o = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn keys(&self, k: &str) {
        assert!(
            Command::new("tmux")
                .args(["send-keys", "-t", &self.session, k])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Waits up to `limit` for the screen to satisfy `f`.
    fn wait_for(&self, limit: Duration, f: impl Fn(&str) -> bool) -> Option<String> {
        let end = Instant::now() + limit;
        loop {
            let s = self.screen();
            if f(&s) {
                return Some(s);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Two `new-session`s at once can both try to start the tmux server, and a `kill-session`
/// of the last session stops the server under a `new-session` starting beside it: the tests
/// of this file start and end their sessions one at a time.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _one = one_at_a_time();
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

/// The live "now N req/s" figure on the TUI screen.
fn live_rps(screen: &str) -> Option<f64> {
    let line = screen.lines().find(|l| l.contains("now "))?;
    line.split("now")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Waits for `p` to have content: the shell creates the file for `> p` before `echo` writes
/// into it, so existing is not enough.
fn wait_file(p: &Path, limit: Duration) -> bool {
    let written = || std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if written() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    written()
}

#[test]
fn tui_shows_live_figures_pauses_and_quits_cleanly() {
    let t = Target::start(&["--delay", "1ms"]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let exit = dir.path().join("exit");
    let cmd = format!(
        "{} run {} -c 10 -d 60s -o {}; echo $? > {}; sleep 30",
        bin(),
        t.url,
        out.display(),
        exit.display()
    );
    let tmux = Tmux::start(&cmd);

    // The TUI appears, then a non-zero live rate within 2 s.
    tmux.wait_for(Duration::from_secs(5), |s| s.contains("Throughput"))
        .expect("the TUI appears");
    let shown = tmux.wait_for(Duration::from_secs(2), |s| {
        live_rps(s).is_some_and(|r| r > 0.0)
    });
    assert!(
        shown.is_some(),
        "no live req/s within 2 s:\n{}",
        tmux.screen()
    );

    // `p` really stops the load: the server's count stops growing.
    tmux.keys("p");
    tmux.wait_for(Duration::from_secs(2), |s| s.contains("PAUSED"))
        .expect("PAUSED shown");
    std::thread::sleep(Duration::from_millis(300));
    let a = t.served();
    std::thread::sleep(Duration::from_millis(1000));
    let b = t.served();
    assert_eq!(a, b, "requests were sent while paused");

    // `p` again resumes.
    tmux.keys("p");
    std::thread::sleep(Duration::from_millis(700));
    assert!(t.served() > b + 100, "the load resumed");

    // `s` writes the run so far as a whole result file, which `report` and `compare` read.
    tmux.keys("s");
    tmux.wait_for(Duration::from_secs(3), |s| s.contains("saved "))
        .expect("the TUI says where the snapshot went");
    let snap = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("kaioken-snapshot-"))
        .expect("a snapshot beside the -o file");
    let sv: serde_json::Value = serde_json::from_slice(&std::fs::read(&snap).unwrap()).unwrap();
    assert_eq!(sv["schema"], "kaioken.result/v1");
    assert!(sv["summary"]["total_requests"].as_u64().unwrap() > 0);
    assert!(
        sv["summary"]["paused_secs"].as_f64().unwrap() >= 1.3,
        "{}",
        sv["summary"]
    );
    let md = dir.path().join("snap.md");
    let o = kaioken(&["report", snap.to_str().unwrap(), "-o", md.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // `q` stops within 2 s, writes the JSON and gives the terminal back.
    tmux.keys("q");
    assert!(
        wait_file(&exit, Duration::from_secs(2)),
        "did not exit within 2 s after q:\n{}",
        tmux.screen()
    );
    assert_eq!(std::fs::read_to_string(&exit).unwrap().trim(), "0");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let s = &v["summary"];
    assert!(s["total_requests"].as_u64().unwrap() > 0);
    // The pause lasted at least the 1.3 s slept above, and the rate leaves it out: it is
    // the total over the unpaused time.
    let paused = s["paused_secs"].as_f64().unwrap_or(0.0);
    assert!(paused >= 1.3, "paused_secs {paused}");
    let (total, secs) = (
        s["total_requests"].as_f64().unwrap(),
        s["duration_secs"].as_f64().unwrap(),
    );
    assert!((s["requests_per_sec"].as_f64().unwrap() - total / secs).abs() < 1.0);
    let screen = tmux
        .wait_for(Duration::from_secs(2), |s| s.contains("Requests"))
        .expect("summary printed after the TUI");
    assert!(
        screen.contains("s paused, not in the rates)"),
        "the summary does not mention the pause:\n{screen}"
    );
    let o = kaioken(&["compare", snap.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(matches!(o.status.code(), Some(0 | 3)), "{}", stderr(&o));
    assert!(
        !screen.contains("┌ Throughput"),
        "the alternate screen was left:\n{screen}"
    );
}

#[test]
fn headless_prints_periodic_status_lines() {
    let t = Target::start(&[]);
    let o = kaioken(&["run", &t.url, "-c", "2", "-d", "6s", "--no-tui"]);
    assert_eq!(o.status.code(), Some(0));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("req/s")).collect();
    // One line every 5 s when stderr is not a terminal, and a final one.
    assert_eq!(lines.len(), 2, "{err}");
    // The 5 s line shows the latest merged snapshot, which may trail by a 100 ms tick or two.
    let at: f64 = lines[0]
        .trim_start_matches('[')
        .trim()
        .split('s')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((4.5..=5.5).contains(&at), "{}", lines[0]);
    assert!(lines[1].starts_with("[  6.0s/6s]"), "{}", lines[1]);
    assert!(stdout(&o).contains("Requests"));
}

#[test]
fn json_prints_only_json() {
    let t = Target::start(&[]);
    let o = kaioken(&["run", &t.url, "-n", "200", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let v = json(&o);
    assert_eq!(v["summary"]["total_requests"], 200);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[test]
fn tui_shows_where_the_time_went_with_tls_handshakes() {
    let nginx = Nginx::start();
    let cmd = format!(
        "{} run {} --insecure --disable-keepalive -c 2 -d 30s; sleep 30",
        bin(),
        nginx.tls_url()
    );
    let tmux = Tmux::start(&cmd);
    // Every request opens a connection, so handshakes are counted from the first tick; any
    // count > 0 shows the view is fed (the exact figures are checked against nginx's log in
    // tests/tls.rs). The count's first digit group is enough to tell it from zero.
    let screen = tmux.wait_for(Duration::from_secs(5), |s| {
        s.lines().any(|l| {
            l.contains("resumed")
                && l.split("TLS ")
                    .nth(1)
                    .and_then(|r| r.split(',').next())
                    .and_then(|n| n.parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
        })
    });
    let screen = screen.unwrap_or_else(|| panic!("no TLS handshake count:\n{}", tmux.screen()));
    // Each phase row carries two durations after its label (the latency column to its
    // left is before the label).
    for row in ["ttfb ", "conn ", "tls "] {
        let timed = |l: &str| {
            l.split(row)
                .nth(1)
                .is_some_and(|r| r.matches("ms").count() + r.matches("µs").count() >= 2)
        };
        assert!(
            screen.lines().any(timed),
            "no {row:?} timing row:\n{screen}"
        );
    }
    tmux.keys("q");
}

/// The TUI says live whether the generator limits the run, as the result's verdict will:
/// a paced run (50/s on 2 VUs) leaves its worker nearly idle, so "generator ok" with the
/// busiest thread's share; one thread asked for 200,000 iterations/s is busy (on a CPU or
/// waiting for one) ≥ 90% of each second, or its sends run ≥ 10 ms late, so the line turns
/// to "generator-bound" with the reason while the run is still going.
#[test]
fn tui_shows_the_generator_health_live() {
    let t = Target::start(&[]);
    let calm = Tmux::start(&format!(
        "{} run {} -r 50 -c 2 -d 20s; sleep 30",
        bin(),
        t.url
    ));
    let screen = calm
        .wait_for(Duration::from_secs(6), |s| {
            s.contains("generator ok: busiest worker thread")
        })
        .unwrap_or_else(|| panic!("no live health line:\n{}", calm.screen()));
    assert!(!screen.contains("generator-bound"), "{screen}");
    calm.keys("q");
    drop(calm);

    let flood = Tmux::start(&format!(
        "{} run {} -t 1 --arrival-rate 200000 --max-vus 200 -d 20s; sleep 30",
        bin(),
        t.url
    ));
    flood
        .wait_for(Duration::from_secs(8), |s| s.contains(" generator-bound: "))
        .unwrap_or_else(|| panic!("the flood was not flagged live:\n{}", flood.screen()));
    flood.keys("q");
}
