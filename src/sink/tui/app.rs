//! The TUI's view state and what each key does. Holds no engine internals: keys become
//! [`Command`]s on the engine's one control channel.

use std::time::{Duration, Instant};

use crate::engine::Command;

/// Static facts about the run, shown in the header.
#[derive(Debug, Clone)]
pub struct Header {
    /// Method and URL, secrets redacted.
    pub target: String,
    /// The load model in words.
    pub model: String,
    pub duration: Option<Duration>,
    pub warmup: Duration,
    pub max_vus: u64,
    pub target_rate: Option<f64>,
    /// `latency_us.kind`: `service_time` or `from_intended_send`.
    pub latency_kind: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Warmup,
    Running,
    Paused,
    Stopping,
    Done,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Warmup => "WARMUP",
            Phase::Running => "RUNNING",
            Phase::Paused => "PAUSED",
            Phase::Stopping => "STOPPING",
            Phase::Done => "DONE",
        }
    }
}

/// What a key asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    None,
    Control(Command),
    Save,
}

#[derive(Debug)]
pub struct App {
    pub header: Header,
    pub serious: bool,
    pub theme: usize,
    pub help: bool,
    pub stopping: bool,
    stop_presses: u32,
    paused_since: Option<Instant>,
    paused_total: Duration,
    pub message: Option<String>,
}

impl App {
    pub fn new(header: Header, serious: bool) -> App {
        App {
            header,
            serious,
            theme: 0,
            help: false,
            stopping: false,
            stop_presses: 0,
            paused_since: None,
            paused_total: Duration::ZERO,
            message: None,
        }
    }

    pub fn paused(&self) -> bool {
        self.paused_since.is_some()
    }

    /// Time spent paused so far.
    pub fn paused_for(&self, now: Instant) -> Duration {
        self.paused_total + self.paused_since.map_or(Duration::ZERO, |s| now - s)
    }

    pub fn phase(&self, elapsed: Duration, done: bool) -> Phase {
        if done {
            Phase::Done
        } else if self.stopping {
            Phase::Stopping
        } else if self.paused() {
            Phase::Paused
        } else if elapsed.is_zero() && !self.header.warmup.is_zero() {
            Phase::Warmup
        } else {
            Phase::Running
        }
    }

    /// Handles one key (a char, or `\x1b` for Esc, `\x03` for Ctrl-C).
    pub fn key(&mut self, key: char, now: Instant) -> Action {
        match key {
            'q' | 'Q' | '\x1b' | '\x03' => {
                self.stop_presses += 1;
                self.stopping = true;
                self.paused_since = None;
                if self.stop_presses >= 2 {
                    Action::Control(Command::Abort)
                } else {
                    Action::Control(Command::Stop)
                }
            }
            'p' | 'P' | ' ' if !self.stopping => match self.paused_since.take() {
                Some(since) => {
                    self.paused_total += now - since;
                    Action::Control(Command::Resume)
                }
                None => {
                    self.paused_since = Some(now);
                    Action::Control(Command::Pause)
                }
            },
            't' | 'T' if !self.serious => {
                self.theme = (self.theme + 1) % super::theme::THEMES.len();
                Action::None
            }
            's' | 'S' => Action::Save,
            '?' | 'h' => {
                self.help = !self.help;
                Action::None
            }
            _ => Action::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> App {
        App::new(
            Header {
                target: "GET http://x/".into(),
                model: "closed".into(),
                duration: None,
                warmup: Duration::ZERO,
                max_vus: 1,
                target_rate: None,
                latency_kind: "service_time",
            },
            false,
        )
    }

    #[test]
    fn keys_map_to_engine_commands() {
        let mut a = app();
        let t = Instant::now();
        assert_eq!(a.key('p', t), Action::Control(Command::Pause));
        assert_eq!(a.phase(Duration::from_secs(1), false), Phase::Paused);
        assert_eq!(
            a.key('p', t + Duration::from_secs(2)),
            Action::Control(Command::Resume)
        );
        assert_eq!(
            a.paused_for(t + Duration::from_secs(5)),
            Duration::from_secs(2)
        );
        assert_eq!(a.key('t', t), Action::None);
        assert_eq!(a.theme, 1);
        assert_eq!(a.key('s', t), Action::Save);
        assert_eq!(a.key('q', t), Action::Control(Command::Stop));
        assert_eq!(a.key('p', t), Action::None, "no pausing while stopping");
        assert_eq!(
            a.key('\x03', t),
            Action::Control(Command::Abort),
            "a second stop aborts"
        );
    }
}
