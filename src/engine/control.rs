//! The one channel into a running engine: commands with a reply.
//!
//! A [`Control`] stamps each command with the instant of the run's clock at which it takes
//! effect ([`LEAD`] from now, on the pattern grid) and sends it, in one order, to every
//! worker thread. Each thread applies it at that instant: a schedule or VU-curve edit is a
//! pure function of the curve and the instant, so every thread (and every machine running a
//! segment of the same test) edits the same curve the same way, and the threads together
//! follow the new curve exactly. Pause and resume take effect at the instant; stop and abort
//! at once. The reply says when the command took effect on every thread.
//!
//! Adding a command: a [`Command`] variant, its check in [`Control::send`], its application
//! in [`serve`], a sender in whichever sink or service issues it, and a test that the engine
//! (and the server) see the change.

use std::rc::Rc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::schedule::{LEAD, PATTERN_STEP};
use super::shared::Shared;
use super::vu;
use crate::plan::Plan;
use crate::plan::load_model::{Arrivals, Curve, Segment, Shape};

/// What the engine is doing, as the last command left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Running,
    /// Sending nothing; requests that fall due meanwhile are skipped, not queued, so resuming
    /// does not release a burst.
    Paused,
    /// Sending nothing new; in-flight requests finish within the graceful-stop period.
    Stopping,
    /// Stopped; in-flight requests are abandoned and counted as interrupted.
    Abort,
}

/// A command to a running test.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Pause,
    Resume,
    /// Graceful: nothing new starts, in-flight requests get the graceful-stop period.
    Stop,
    Abort,
    /// Rate-driven models: this many iterations per second from now on (an irregular
    /// pattern: its base rate; a closed model with `-r`: its rate cap).
    SetRate(f64),
    /// Closed models: this many VUs from now on.
    SetVus(u64),
    /// The rate (closed models without `-r`: the VU count) multiplied by `factor` for
    /// `duration`.
    Spike {
        factor: f64,
        duration: Duration,
    },
    /// A new load model of the same kind from now on, its time 0 placed now; the run's
    /// duration and connections are kept.
    Replace(Box<Shape>),
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Stop => "stop",
            Command::Abort => "abort",
            Command::SetRate(_) => "set-rate",
            Command::SetVus(_) => "set-vus",
            Command::Spike { .. } => "spike",
            Command::Replace(_) => "replace",
        }
    }
}

/// Why a command was refused; nothing changed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Refused {
    #[error(
        "set-rate needs a rate-driven model (open, irregular, or closed with -r); this run is \
         {model}: use set-vus, or start the run with -r"
    )]
    NotRateDriven { model: &'static str },
    #[error("set-vus needs a closed model; this run is {model}: use set-rate")]
    NotClosed { model: &'static str },
    #[error("{command}: the burst model has no rate to change; start a new run instead")]
    Burst { command: &'static str },
    #[error("{command}: {field} = {value} is not allowed; {fix}")]
    Value {
        command: &'static str,
        field: &'static str,
        value: String,
        fix: &'static str,
    },
    #[error(
        "replace: a {from} model cannot become {to} while it runs (closed and open models, \
         and -r, keep their kind); start a new run instead"
    )]
    Kind {
        from: &'static str,
        to: &'static str,
    },
    #[error("{command}: the run has ended")]
    Ended { command: &'static str },
    #[error(
        "{command}: a replay sends its records at their recorded times; pause, resume and stop steer it, or start it again with another --speed"
    )]
    Replay { command: &'static str },
}

/// When a command took effect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Applied {
    /// The instant asked for, from the start of the load (warmup included).
    pub at: Duration,
    /// How much later the slowest thread applied it (zero unless a thread had already
    /// planned past `at`, which a thread blocked for longer than [`LEAD`] may have).
    pub late: Duration,
}

/// A sent command's reply: await [`Ticket::applied`], or drop it.
pub struct Ticket {
    at: Duration,
    acks: Vec<oneshot::Receiver<Duration>>,
}

impl Ticket {
    /// Resolves when every thread has applied the command (a thread that ended counts as
    /// done).
    pub async fn applied(self) -> Applied {
        let mut last = self.at;
        for ack in self.acks {
            if let Ok(at) = ack.await {
                last = last.max(at);
            }
        }
        Applied {
            at: self.at,
            late: last - self.at,
        }
    }
}

/// One command on its way to one thread.
pub(super) struct Envelope {
    command: Command,
    at: Duration,
    reply: oneshot::Sender<Duration>,
}

/// One worker's command queue, and how many commands were put in it: a worker that has
/// applied fewer lets its control task run before it plans another arrival, so no thread
/// plans past a command's instant.
pub(super) struct Queue {
    pub queue: mpsc::UnboundedSender<Envelope>,
    pub sent: Arc<AtomicU64>,
}

/// The kind of load model, for checking commands before they are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Closed,
    ClosedRate,
    Open,
    Burst,
    Replay,
}

impl Kind {
    fn of(shape: &Shape) -> Kind {
        match shape {
            Shape::Closed { rate: None, .. } => Kind::Closed,
            Shape::Closed { rate: Some(_), .. } => Kind::ClosedRate,
            Shape::Open {
                arrivals: Arrivals::Burst { .. },
                ..
            } => Kind::Burst,
            Shape::Open {
                arrivals: Arrivals::Replay(_),
                ..
            } => Kind::Replay,
            Shape::Open { .. } => Kind::Open,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Closed => "closed",
            Kind::ClosedRate => "closed with -r",
            Kind::Open => "open",
            Kind::Burst => "burst",
            Kind::Replay => "replay",
        }
    }
}

/// A cloneable sender of commands: the only way sinks and services steer a run.
#[derive(Clone)]
pub struct Control {
    inner: Arc<Inner>,
}

struct Inner {
    /// Held while stamping and sending, so every thread sees commands in one order.
    workers: Mutex<Vec<Queue>>,
    t_load: Instant,
    kind: Kind,
    state: AtomicU8,
    /// Each pause as (start, end) since the start of load; the last may be open. Written
    /// only by pause and resume commands (a person's key press), read once at the end.
    pauses: Mutex<Vec<(Duration, Option<Duration>)>>,
}

impl Control {
    pub(super) fn new(plan: &Plan, t_load: Instant, workers: Vec<Queue>) -> Control {
        Control::of_kind(Kind::of(&plan.load.shape), t_load, workers)
    }

    fn of_kind(kind: Kind, t_load: Instant, workers: Vec<Queue>) -> Control {
        Control {
            inner: Arc::new(Inner {
                workers: Mutex::new(workers),
                t_load,
                kind,
                state: AtomicU8::new(0),
                pauses: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The state the last pause, resume, stop or abort left.
    pub fn state(&self) -> RunState {
        match self.inner.state.load(Ordering::Acquire) {
            0 => RunState::Running,
            1 => RunState::Paused,
            2 => RunState::Stopping,
            _ => RunState::Abort,
        }
    }

    /// How long the run was paused between `from` and `to` (both since the start of load):
    /// the time the rates of a measured window leave out. A pause still open counts to `to`.
    pub fn paused_within(&self, from: Duration, to: Duration) -> Duration {
        let pauses = self.inner.pauses.lock().unwrap_or_else(|p| p.into_inner());
        pauses
            .iter()
            .map(|&(start, end)| {
                let (a, b) = (start.max(from), end.unwrap_or(to).min(to));
                b.saturating_sub(a)
            })
            .sum()
    }

    /// Checks `command` against the running model, stamps it and sends it to every thread.
    pub fn send(&self, command: Command) -> Result<Ticket, Refused> {
        self.send_at(command, Instant::now())
    }

    /// [`Control::send`] with the current time given, so tests need no clock.
    pub fn send_at(&self, command: Command, now: Instant) -> Result<Ticket, Refused> {
        check(self.inner.kind, &command)?;
        let name = command.name();
        let state = match command {
            Command::Pause => Some(RunState::Paused),
            Command::Resume => Some(RunState::Running),
            Command::Stop => Some(RunState::Stopping),
            Command::Abort => Some(RunState::Abort),
            _ => None,
        };
        let current = self.state();
        if matches!(current, RunState::Stopping | RunState::Abort)
            && !matches!(command, Command::Stop | Command::Abort)
        {
            return Err(Refused::Ended { command: name });
        }
        let at = stamp(now, self.inner.t_load);
        let workers = self.inner.workers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = state {
            // A stop never turns back into a pause or a run; an abort is final.
            let keep = current == RunState::Abort
                || (current == RunState::Stopping && s != RunState::Abort);
            if !keep {
                self.inner.state.store(s as u8, Ordering::Release);
                let mut pauses = self.inner.pauses.lock().unwrap_or_else(|p| p.into_inner());
                match (current, s) {
                    (RunState::Running, RunState::Paused) => pauses.push((at, None)),
                    (RunState::Paused, s) if s != RunState::Paused => {
                        if let Some(open) = pauses.last_mut().filter(|p| p.1.is_none()) {
                            open.1 = Some(at);
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut acks = Vec::with_capacity(workers.len());
        for w in workers.iter() {
            let (reply, ack) = oneshot::channel();
            // A thread that has ended dropped its receiver: nothing to apply there.
            let sent = w.queue.send(Envelope {
                command: command.clone(),
                at,
                reply,
            });
            if sent.is_ok() {
                w.sent.fetch_add(1, Ordering::Release);
            }
            acks.push(ack);
        }
        Ok(Ticket { at, acks })
    }
}

/// The instant a command sent at `now` takes effect: [`LEAD`] later, rounded up to the
/// pattern grid, from the start of the load.
pub fn stamp(now: Instant, t_load: Instant) -> Duration {
    let step = Duration::from_secs_f64(PATTERN_STEP).as_nanos();
    let t = (now.saturating_duration_since(t_load) + LEAD).as_nanos();
    let t = t.div_ceil(step) * step;
    Duration::from_nanos(u64::try_from(t).unwrap_or(u64::MAX))
}

/// Whether `command` applies to a model of this kind, with sane values.
fn check(kind: Kind, command: &Command) -> Result<(), Refused> {
    let name = command.name();
    if kind == Kind::Replay
        && !matches!(
            command,
            Command::Pause | Command::Resume | Command::Stop | Command::Abort
        )
    {
        return Err(Refused::Replay { command: name });
    }
    match command {
        Command::SetRate(r) => {
            if !(r.is_finite() && *r >= 0.0) {
                return Err(Refused::Value {
                    command: name,
                    field: "rate",
                    value: r.to_string(),
                    fix: "give a number of requests per second, 0 or more",
                });
            }
            match kind {
                Kind::Closed => Err(Refused::NotRateDriven { model: kind.name() }),
                Kind::Burst => Err(Refused::Burst { command: name }),
                _ => Ok(()),
            }
        }
        Command::SetVus(_) => match kind {
            Kind::Closed | Kind::ClosedRate => Ok(()),
            _ => Err(Refused::NotClosed { model: kind.name() }),
        },
        Command::Spike { factor, duration } => {
            if !(factor.is_finite() && *factor > 0.0) {
                return Err(Refused::Value {
                    command: name,
                    field: "factor",
                    value: factor.to_string(),
                    fix: "give a multiplier greater than 0, such as 3",
                });
            }
            if duration.is_zero() {
                return Err(Refused::Value {
                    command: name,
                    field: "duration",
                    value: "0s".into(),
                    fix: "give how long the spike lasts, such as 30s",
                });
            }
            match kind {
                Kind::Burst => Err(Refused::Burst { command: name }),
                _ => Ok(()),
            }
        }
        Command::Replace(shape) => {
            let to = Kind::of(shape);
            if kind == Kind::Burst || to == Kind::Burst {
                return Err(Refused::Burst { command: name });
            }
            if to != kind {
                return Err(Refused::Kind {
                    from: kind.name(),
                    to: to.name(),
                });
            }
            Ok(())
        }
        Command::Pause | Command::Resume | Command::Stop | Command::Abort => Ok(()),
    }
}

/// A worker thread's side: applies each command at its instant, in the order sent. Edits of
/// the schedule and the VU curve are registered at once (they carry their instant); pause
/// and resume wait for theirs in a second queue, in order.
pub(super) async fn serve(shared: Rc<Shared>, mut rx: mpsc::UnboundedReceiver<Envelope>) {
    let (timed_tx, mut timed_rx) = mpsc::unbounded_channel::<Envelope>();
    let timed = {
        let shared = shared.clone();
        tokio::task::spawn_local(async move {
            while let Some(Envelope { command, at, reply }) = timed_rx.recv().await {
                let when = shared.t_load + at;
                shared.sleep_until(when).await;
                match command {
                    Command::Pause => shared.pause(when),
                    _ => shared.resume(when),
                }
                let _gone = reply.send(at);
            }
        })
    };
    while let Some(envelope) = rx.recv().await {
        let Envelope { command, at, reply } = envelope;
        let applied = match command {
            Command::Stop => {
                shared.stop(false);
                at
            }
            Command::Abort => {
                shared.stop(true);
                at
            }
            command @ (Command::Pause | Command::Resume) => {
                let _ended = timed_tx.send(Envelope { command, at, reply });
                shared.command_applied();
                continue;
            }
            Command::SetRate(r) => edit_schedule(&shared, |s| s.set_rate(at, r)).unwrap_or(at),
            Command::SetVus(n) => {
                edit_vus(&shared, |c| c.set_from(at, n as f64));
                at
            }
            Command::Spike { factor, duration } => {
                if shared.schedule.is_some() {
                    edit_schedule(&shared, |s| s.spike(at, factor, duration)).unwrap_or(at)
                } else {
                    edit_vus(&shared, |c| {
                        c.scaled(at, at.saturating_add(duration), factor)
                    });
                    at
                }
            }
            Command::Replace(shape) => replace(&shared, at, *shape),
        };
        shared.command_applied();
        let _gone = reply.send(applied);
    }
    timed.abort();
}

fn edit_schedule(
    shared: &Shared,
    f: impl FnOnce(&mut super::schedule::Schedule) -> Duration,
) -> Option<Duration> {
    let applied = f(&mut shared.schedule.as_ref()?.borrow_mut());
    shared.schedule_changed();
    Some(applied)
}

/// Edits the VU curve, starts the VUs it newly needs and wakes those waiting for their turn.
fn edit_vus(shared: &Rc<Shared>, f: impl FnOnce(&Curve) -> Curve) {
    let curve = f(&shared.vu_curve.borrow());
    let total = curve.max().ceil() as u64;
    *shared.vu_curve.borrow_mut() = curve;
    shared.vu_epoch.set(shared.vu_epoch.get() + 1);
    shared.vu_changed.notify_waiters();
    vu::start_closed_vus(shared, total);
}

fn replace(shared: &Rc<Shared>, at: Duration, shape: Shape) -> Duration {
    match shape {
        Shape::Closed {
            vus,
            think_time,
            rate,
        } => {
            shared.think_time.set(think_time);
            edit_vus(shared, |c| c.splice(at, &vus));
            match rate {
                Some(r) => edit_schedule(shared, |s| {
                    s.replace(
                        at,
                        &Arrivals::Rate(Curve::new(vec![Segment::flat(Duration::MAX, r)])),
                    )
                })
                .unwrap_or(at),
                None => at,
            }
        }
        Shape::Open { arrivals, max_vus } => {
            shared
                .max_vus
                .set(shared.max_vus.get().max(shared.share.count_below(max_vus)));
            edit_schedule(shared, |s| s.replace(at, &arrivals)).unwrap_or(at)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_is_lead_ahead_on_the_pattern_grid() {
        let t_load = Instant::now();
        let at = stamp(t_load + Duration::from_millis(1_234), t_load);
        // 1.234 s + 50 ms = 1.284 s, rounded up to the 10 ms grid.
        assert_eq!(at, Duration::from_millis(1_290));
        let exact = stamp(t_load + Duration::from_millis(1_250), t_load);
        assert_eq!(exact, Duration::from_millis(1_300));
        // Before the load started (a command during connection set-up): from time 0.
        assert_eq!(stamp(t_load, t_load + Duration::from_secs(1)), LEAD);
    }

    /// Pauses are kept as stamped; the time within a window is their overlap with it, an
    /// open pause counting to the window's end, and a stop ends a pause.
    #[test]
    fn paused_time_is_the_overlap_of_pauses_with_the_window() {
        let t_load = Instant::now();
        let control = Control::of_kind(Kind::Closed, t_load, Vec::new());
        let at = |ms| t_load + Duration::from_millis(ms) - LEAD;
        let ms = Duration::from_millis;
        control.send_at(Command::Pause, at(1_000)).unwrap();
        // A second pause while paused changes nothing.
        control.send_at(Command::Pause, at(1_500)).unwrap();
        control.send_at(Command::Resume, at(3_000)).unwrap();
        assert_eq!(control.paused_within(ms(0), ms(10_000)), ms(2_000));
        // A warm-up to 2 s leaves the second half of the pause in the measured window.
        assert_eq!(control.paused_within(ms(2_000), ms(10_000)), ms(1_000));
        control.send_at(Command::Pause, at(5_000)).unwrap();
        assert_eq!(control.paused_within(ms(0), ms(6_000)), ms(3_000));
        control.send_at(Command::Stop, at(7_000)).unwrap();
        assert_eq!(control.paused_within(ms(0), ms(10_000)), ms(4_000));
    }

    #[test]
    fn commands_are_checked_against_the_model() {
        assert_eq!(
            check(Kind::Closed, &Command::SetRate(10.0)),
            Err(Refused::NotRateDriven { model: "closed" })
        );
        assert!(check(Kind::ClosedRate, &Command::SetRate(10.0)).is_ok());
        assert!(check(Kind::Open, &Command::SetRate(0.0)).is_ok());
        assert!(matches!(
            check(Kind::Open, &Command::SetRate(f64::NAN)),
            Err(Refused::Value { field: "rate", .. })
        ));
        assert_eq!(
            check(Kind::Open, &Command::SetVus(3)),
            Err(Refused::NotClosed { model: "open" })
        );
        assert!(matches!(
            check(Kind::Burst, &Command::SetRate(1.0)),
            Err(Refused::Burst { .. })
        ));
        let spike = |factor, secs| Command::Spike {
            factor,
            duration: Duration::from_secs(secs),
        };
        assert!(check(Kind::Closed, &spike(2.0, 1)).is_ok());
        assert!(matches!(
            check(Kind::Open, &spike(0.0, 1)),
            Err(Refused::Value {
                field: "factor",
                ..
            })
        ));
        assert!(matches!(
            check(Kind::Open, &spike(2.0, 0)),
            Err(Refused::Value {
                field: "duration",
                ..
            })
        ));
        let closed = Shape::Closed {
            vus: Curve::new(vec![Segment::flat(Duration::MAX, 2.0)]),
            think_time: Duration::ZERO,
            rate: None,
        };
        assert_eq!(
            check(Kind::Open, &Command::Replace(Box::new(closed.clone()))),
            Err(Refused::Kind {
                from: "open",
                to: "closed"
            })
        );
        assert!(check(Kind::Closed, &Command::Replace(Box::new(closed))).is_ok());
        // Every refusal is one line that names the command or the model.
        let msg = Refused::NotRateDriven { model: "closed" }.to_string();
        assert!(!msg.contains('\n') && msg.contains("set-rate"), "{msg}");
    }
}
