//! Headless live view: on a terminal, one line rewritten in place every 200 ms; otherwise
//! (CI logs) one plain line every 5 s so the log stays readable.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use tokio::sync::watch;

use crate::aggregate::Snapshot;
use crate::sink::summary::{fmt_count, fmt_us};

/// Runs until the snapshot says `done` or the sender is dropped.
pub async fn run(mut rx: watch::Receiver<Snapshot>, total: Option<Duration>) {
    let tty = std::io::stderr().is_terminal();
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
        let line = line(&s, total);
        let mut err = std::io::stderr().lock();
        // A closed stderr must not stop the run.
        let _ignored = if tty {
            write!(err, "\r\x1b[2K{line}").and_then(|()| err.flush())
        } else {
            writeln!(err, "{line}")
        };
        if s.done {
            break;
        }
    }
    if tty {
        let _ignored = writeln!(std::io::stderr());
    }
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
