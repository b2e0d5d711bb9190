//! Headless live view: on a terminal, an indicatif progress bar (elapsed / total, req/s, p99,
//! errors) redrawn every 200 ms; otherwise (CI logs) one plain line every 5 s and a final one,
//! so the log stays readable.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;

use crate::aggregate::Snapshot;
use crate::results::units::{fmt_count, fmt_us};

/// Runs until the snapshot says `done` or the sender is dropped.
pub async fn run(mut rx: watch::Receiver<Snapshot>, total: Option<Duration>) {
    let tty = std::io::stderr().is_terminal();
    let bar = tty.then(|| new_bar(total));
    let every = if tty {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(5)
    };
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = rx.changed() => {
                if changed.is_err() { break; }
                if !rx.borrow().done { continue; }
            }
        }
        let s = rx.borrow().clone();
        match &bar {
            Some(b) => {
                // Whole tenths of a second: the bar's unit.
                b.set_position((s.elapsed.as_millis() / 100) as u64);
                b.set_message(format!(
                    "{} req | {:.0} req/s | p99 {} | errors {}",
                    fmt_count(s.requests),
                    s.current_rps,
                    fmt_us(s.p99_us),
                    fmt_count(s.failed)
                ));
            }
            None => {
                // A closed stderr must not stop the run.
                let _ignored = writeln!(std::io::stderr().lock(), "{}", line(&s, total));
            }
        }
        if s.done {
            break;
        }
    }
    if let Some(b) = bar {
        b.finish();
    }
}

fn new_bar(total: Option<Duration>) -> ProgressBar {
    let (bar, template) = match total {
        Some(t) => (
            ProgressBar::new((t.as_millis() / 100) as u64),
            "{spinner} [{elapsed_precise}] [{wide_bar}] {percent:>3}% {msg}",
        ),
        None => (
            ProgressBar::no_length(),
            "{spinner} [{elapsed_precise}] until stopped {msg}",
        ),
    };
    bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(5));
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

pub fn line(s: &Snapshot, total: Option<Duration>) -> String {
    let elapsed = s.elapsed.as_secs_f64();
    let of = total.map_or(String::new(), |t| format!("/{:.0}s", t.as_secs_f64()));
    let mut line = format!(
        "[{elapsed:5.1}s{of}] {} requests | {:.0} req/s | p50 {} | p99 {} | errors {} | VUs {}",
        fmt_count(s.requests),
        s.current_rps,
        fmt_us(s.p50_us),
        fmt_us(s.p99_us),
        fmt_count(s.failed),
        s.vus,
    );
    if s.dropped > 0 {
        line.push_str(&format!(" | dropped {}", fmt_count(s.dropped)));
    }
    line
}
