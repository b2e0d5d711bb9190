//! The live TUI (ratatui): the default view when stdout is a terminal.
//!
//! It reads only the aggregator's snapshots and sends only [`Command`]s through the
//! engine's control channel. It redraws at most every 100 ms. The terminal is restored on
//! every exit path: normal end, Ctrl-C (a key in raw mode), error, and panic (ratatui's
//! `init` installs a panic hook that restores first).

mod app;
mod theme;
pub mod view;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use tokio::sync::{mpsc, watch};

pub use app::{Action, App, Header, Phase};
pub use theme::THEMES;

use crate::aggregate::{Outcome, Snapshot, Tap};
use crate::engine::Control;

/// What `s` needs to write a whole result file of the run so far: the aggregator's tap and
/// how an outcome becomes `kaioken.result/v1` bytes (the run command knows the plan and the
/// start time), so `report` and `compare` read a snapshot as they read a final result.
pub struct Saver {
    pub tap: Tap,
    pub render: Box<dyn Fn(Outcome) -> Vec<u8> + Send + Sync>,
    /// The first `-o` file, whose directory snapshots are written to.
    pub output: Option<PathBuf>,
}

/// Restores the terminal when dropped.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Reads keys on a blocking thread until `stop` is set.
fn key_reader(tx: mpsc::UnboundedSender<char>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        if !event::poll(Duration::from_millis(50)).unwrap_or(false) {
            continue;
        }
        let Ok(Event::Key(k)) = event::read() else {
            continue;
        };
        if k.kind != KeyEventKind::Press {
            continue;
        }
        let c = match k.code {
            KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => '\x03',
            KeyCode::Char(c) => c,
            KeyCode::Esc => '\x1b',
            _ => continue,
        };
        if tx.send(c).is_err() {
            break;
        }
    }
}

/// Where `s` saves a snapshot: next to the `-o` file, or in the working directory.
fn snapshot_path(output: Option<&Path>) -> PathBuf {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = format!("kaioken-snapshot-{stamp}.json");
    match output.and_then(Path::parent) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(name),
        _ => PathBuf::from(name),
    }
}

/// Runs the TUI until the engine is done.
pub async fn run(
    mut rx: watch::Receiver<Snapshot>,
    control: Control,
    header: Header,
    serious: bool,
    saver: Saver,
) {
    let mut terminal = ratatui::init();
    let _restore = Restore;
    let stop = Arc::new(AtomicBool::new(false));
    let (key_tx, mut keys) = mpsc::unbounded_channel();
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || key_reader(key_tx, stop))
    };
    let mut app = App::new(header, serious);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(c) = keys.recv() => {
                match app.key(c, Instant::now()) {
                    Action::Control(command) => {
                        if let Err(refused) = control.send(command) {
                            app.message = Some(refused.to_string());
                        }
                    }
                    Action::Save => {
                        let path = snapshot_path(saver.output.as_deref());
                        app.message = Some(match saver.tap.outcome().await {
                            Some(outcome) => {
                                let json = (saver.render)(outcome);
                                match crate::results::atomic_write::write(&path, &json) {
                                    Ok(()) => format!("saved {}", path.display()),
                                    Err(e) => e.to_string(),
                                }
                            }
                            None => "the run has ended: its outputs are being written".to_string(),
                        });
                    }
                    Action::None => {}
                }
            }
            changed = rx.changed() => {
                if changed.is_err() || rx.borrow().done {
                    break;
                }
                continue;
            }
        }
        let snap = rx.borrow().clone();
        // A failed draw (terminal gone) must not stop the run; the summary still prints.
        if terminal
            .draw(|f| view::render(f, &app, &snap, Instant::now()))
            .is_err()
        {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _joined = reader.join();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Timing;
    use crate::results::Second;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn snapshot() -> Snapshot {
        Snapshot {
            elapsed: Duration::from_secs(5),
            requests: 123_456,
            successful: 123_000,
            failed: 456,
            current_rps: 24_680.0,
            mean_rps: 24_691.0,
            p50_us: 1_234,
            p90_us: 2_345,
            p95_us: 3_456,
            p99_us: 7_890,
            p999_us: 12_345,
            max_us: 45_678,
            vus: 50,
            status: vec![
                (crate::aggregate::Snapshot::http(200), 123_000),
                (crate::aggregate::Snapshot::http(503), 456),
            ],
            errors: vec![("timeout", 7)],
            ttfb: Timing {
                p50_us: 1_111,
                p99_us: 6_666,
            },
            connect: Timing {
                p50_us: 321,
                p99_us: 987,
            },
            tls_handshake: Timing {
                p50_us: 2_222,
                p99_us: 5_555,
            },
            tls_handshakes: 20,
            tls_resumed: 19,
            recent: (0..5)
                .map(|i| Second {
                    second: i,
                    requests: 24_000,
                    rps: 24_000.0,
                    p99_us: 7_000,
                    ..Second::default()
                })
                .collect(),
            ..Snapshot::default()
        }
    }

    fn header() -> Header {
        Header {
            target: "GET http://127.0.0.1:8080/".into(),
            model: "closed, up to 50 VUs, 10s".into(),
            duration: Some(Duration::from_secs(10)),
            warmup: Duration::ZERO,
            max_vus: 50,
            target_rate: None,
            latency_kind: "service_time",
        }
    }

    fn screen(app: &App, s: &Snapshot, w: u16, h: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| view::render(f, app, s, Instant::now())).unwrap();
        let buf = t.backend().buffer();
        let mut out = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn shows_the_snapshot_figures_at_80x24() {
        let app = App::new(header(), false);
        let out = screen(&app, &snapshot(), 80, 24);
        for want in [
            "GET http://127.0.0.1:8080/",
            "RUNNING 5.0s / 10s",
            "24680 req/s",
            "1.23ms",
            "7.89ms",
            "12.35ms",
            "45.68ms",
            "200 123,000 (99.6%)",
            "503 456",
            "timeout 7",
            "VUs 50 / 50",
            "OVER 9000",
            "service time",
            "ttfb  1.11ms   6.67ms",
            "conn  321µs    987µs",
            "tls   2.22ms   5.55ms",
            "TLS 20, 19 resumed",
        ] {
            assert!(out.contains(want), "missing {want:?} in\n{out}");
        }
    }

    #[test]
    fn a_stream_run_shows_its_message_timings() {
        let app = App::new(header(), false);
        let mut s = snapshot();
        s.messages = 50_000;
        s.first_message = Timing {
            p50_us: 3_330,
            p99_us: 8_880,
        };
        s.message_gap = Timing {
            p50_us: 30_000,
            p99_us: 41_000,
        };
        let out = screen(&app, &s, 80, 24);
        // 50,000 messages in the snapshot's 5 s: 10,000/s.
        for want in [
            "1st   3.33ms   8.88ms",
            "gap   30.00ms  41.00ms",
            "50,000 msgs, 10000/s",
        ] {
            assert!(out.contains(want), "missing {want:?} in\n{out}");
        }
        // Message latency (bidirectional streams) takes the gap's row when there is one.
        s.message_latency = Timing {
            p50_us: 900,
            p99_us: 1_500,
        };
        let out = screen(&app, &s, 80, 24);
        assert!(out.contains("msg   900µs    1.50ms"), "{out}");
    }

    #[test]
    fn every_theme_renders_and_serious_has_no_rank() {
        let mut app = App::new(header(), false);
        for (i, theme) in THEMES.iter().enumerate() {
            app.theme = i;
            let out = screen(&app, &snapshot(), 100, 30);
            assert!(
                out.contains(theme.name),
                "theme {} not named:\n{out}",
                theme.name
            );
        }
        let serious = App::new(header(), true);
        let out = screen(&serious, &snapshot(), 100, 30);
        assert!(
            !out.contains("OVER 9000") && !out.contains("power") && !out.contains("theme"),
            "{out}"
        );
        assert!(out.contains("24680 req/s"));
    }

    #[test]
    fn live_check_pass_rate_shows() {
        let app = App::new(header(), false);
        let mut s = snapshot();
        s.checks = vec![[900, 100], [1000, 0]];
        let out = screen(&app, &s, 80, 24);
        assert!(out.contains("checks 95.00% passed"), "{out}");
    }

    /// The help popup is sized to its text: every line whole at 80×24 and at 120×40.
    #[test]
    fn help_is_whole_at_80x24_and_120x40() {
        let mut app = App::new(header(), false);
        app.key('?', Instant::now());
        for (w, h) in [(80, 24), (120, 40)] {
            let out = screen(&app, &snapshot(), w, h);
            for want in [
                "q / Esc / Ctrl-C  stop (outputs are written)",
                "twice: abandon in-flight",
                "p / space         pause / resume the load",
                "t                 next theme",
                "s                 save a result file (JSON)",
                "?                 toggle this help",
            ] {
                assert!(out.contains(want), "{w}x{h}: missing {want:?} in\n{out}");
            }
        }
    }

    /// The p99 chart has axes (seconds across, ms up) and a bounded run spans the whole
    /// width: after 5 of 10 s the line reaches about half way, not 5 columns.
    #[test]
    fn p99_chart_has_axes_and_spans_the_planned_run() {
        let app = App::new(header(), false);
        let (w, h) = (120, 40);
        let out = screen(&app, &snapshot(), w, h);
        let rows: Vec<&str> = out.lines().collect();
        let title = rows
            .iter()
            .position(|r| r.contains("p99 latency per second"))
            .unwrap();
        let chart: Vec<&str> = rows[title..]
            .iter()
            .take_while(|r| !r.contains("Status codes"))
            .copied()
            .collect();
        let text = chart.join("\n");
        // 7 ms peak ×1.1 → the top label 7.7ms; x from 0 s to the planned 10 s.
        for want in ["7.7ms", "0s", "5s", "10s"] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        let braille = |c: char| ('\u{2801}'..='\u{28ff}').contains(&c);
        let reach = chart
            .iter()
            .filter_map(|r| {
                r.chars()
                    .enumerate()
                    .filter(|(_, c)| braille(*c))
                    .map(|(i, _)| i)
                    .last()
            })
            .max()
            .unwrap_or(0);
        // The plot starts after the y labels (~8 columns); 5 of 10 s is half of the rest,
        // so the line ends past 40% of the width (a sparkline of 5 seconds ends at ~5).
        assert!(
            reach * 10 > w as usize * 4,
            "line ends at column {reach}:\n{text}"
        );
        assert!(
            reach * 10 < w as usize * 7,
            "line ends at column {reach}:\n{text}"
        );
    }

    #[test]
    fn throughput_sparkline_is_stretched_over_a_short_run() {
        assert_eq!(
            view::stretched(&[1, 2], 10, Some(Duration::from_secs(5))),
            vec![1, 1, 2, 2]
        );
        // Unbounded or longer than the width: the latest seconds, one column each.
        assert_eq!(view::stretched(&[1, 2, 3], 2, None), vec![2, 3]);
        assert_eq!(
            view::stretched(&[1, 2, 3], 2, Some(Duration::from_secs(60))),
            vec![2, 3]
        );
    }

    #[test]
    fn paused_and_help_states_show() {
        let mut app = App::new(header(), false);
        let now = Instant::now();
        app.key('p', now);
        let out = screen(&app, &snapshot(), 80, 24);
        assert!(out.contains("PAUSED"), "{out}");
        app.key('?', now);
        let out = screen(&app, &snapshot(), 80, 24);
        assert!(out.contains("pause / resume"), "{out}");
    }
}
