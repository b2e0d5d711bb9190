//! What the VUs of one worker thread share: the plan, the transport's pool, the recorder,
//! the quota, the live load (schedule, VU curve, pause) that commands edit, and the idle
//! open-model VUs. `Rc`/`Cell` throughout: it is never touched by another thread, so the
//! request path needs no atomics or locks.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;

use super::schedule::{HORIZON, Schedule};
use super::timer::PreciseTimer;
use crate::plan::Plan;
use crate::plan::load_model::Curve;
use crate::plan::share::Share;
use crate::record::Recorder;
use crate::transport::{ErrorKind, Outcome, Pool};

/// State shared by the VUs of one thread. `Rc`/`Cell`: never touched by another thread.
pub(super) struct Shared {
    pub(super) plan: Arc<Plan>,
    /// This thread's side of the transport: connector, connection pools, encoders.
    pub(super) pool: Pool,
    pub(super) recorder: RefCell<Recorder>,
    pub(super) stopping: Cell<bool>,
    /// Requests this thread may still start in the measured window (`u64::MAX`: unlimited).
    pub(super) quota: Cell<u64>,
    pub(super) in_flight: Cell<u64>,
    /// Per-thread request counter for `${REQUEST_ID}`.
    pub(super) counter: Cell<u64>,
    /// Position in the weighted scenario cycle.
    pub(super) scenario_cursor: Cell<usize>,
    /// This thread's share of VUs, arrivals, `-n` and request ids.
    pub(super) share: Share,
    pub(super) t_load: Instant,
    pub(super) t0: Instant,
    pub(super) deadline: Option<Instant>,
    /// Latency from the intended time (true) or from the actual send (false).
    pub(super) correction: bool,
    /// Whether requests have intended times (then schedule lag is recorded).
    pub(super) scheduled: bool,
    /// This thread's share of the arrivals (open models) or of the slots (closed with `-r`).
    pub(super) schedule: Option<RefCell<Schedule>>,
    /// A replay's reader of this thread's share of the records (then `schedule` is unused).
    pub(super) replay: Option<RefCell<super::replay::Reader>>,
    /// Each scenario's `match` (a replay's), cloned for this thread: a clone has its own
    /// scratch pool, which its first user takes without a lock, while one `Regex` shared
    /// by every thread locks a mutex per search on all but one.
    pub(super) path_matchers: Vec<Option<regex::Regex>>,
    /// Bumped by every command that edits the schedule.
    pub(super) epoch: Cell<u64>,
    /// Timers that sleep until a scheduled time; a schedule edit wakes them to ask again.
    pub(super) timers: RefCell<Vec<Rc<PreciseTimer>>>,
    /// Closed models: active VUs over time (VU `j` runs while it is above `j`).
    pub(super) vu_curve: RefCell<Curve>,
    /// Bumped, and `vu_changed` notified, when a command edits the VU curve.
    pub(super) vu_epoch: Cell<u64>,
    pub(super) vu_changed: Notify,
    /// Closed models: VUs with a global index below this have been started (on any thread).
    pub(super) vus_started: Cell<u64>,
    pub(super) think_time: Cell<std::time::Duration>,
    /// Open models: this thread's share of `max_vus`.
    pub(super) max_vus: Cell<u64>,
    /// VU and dispatcher tasks, aborted when the graceful period runs out.
    pub(super) tasks: RefCell<Vec<tokio::task::JoinHandle<()>>>,
    /// Set with `stopping` by an abort: nothing more to wait for.
    pub(super) aborting: Cell<bool>,
    /// Notified when `stopping` or `aborting` is set.
    pub(super) stop_changed: Notify,
    /// Commands put in this thread's queue, and how many of them it has applied: while
    /// fewer, the schedule's users let the control task run first.
    pub(super) commands_sent: Arc<std::sync::atomic::AtomicU64>,
    pub(super) commands_applied: Cell<u64>,
    /// Open model: VUs waiting for an iteration.
    pub(super) idle: RefCell<Vec<Rc<Mailbox>>>,
    /// Tasks still running (VUs, plus the dispatcher in open models).
    pub(super) active: Cell<u64>,
    pub(super) vus: Cell<u64>,
    pub(super) vus_max: Cell<u64>,
    pub(super) all_done: Notify,
    pub(super) paused: Cell<bool>,
    pub(super) resumed: Notify,
    /// The latest pause, `[start, end)`: scheduled requests due inside it are skipped.
    pub(super) pause_window: Cell<(Option<Instant>, Option<Instant>)>,
}

impl Shared {
    /// Whether a request due at `due` may start; takes it from the quota when it is measured.
    pub fn may_start(&self, due: Instant) -> bool {
        if self.stopping.get() || self.past_end(due) {
            return false;
        }
        if due < self.t0 {
            return true; // warmup: not counted against -n
        }
        let q = self.quota.get();
        if q == 0 {
            return false;
        }
        if q != u64::MAX {
            self.quota.set(q - 1);
        }
        true
    }

    /// Waits while the run is paused; true if it had to wait (so a scheduled request that
    /// fell due meanwhile should be skipped).
    pub async fn wait_if_paused(&self) -> bool {
        if !self.paused.get() {
            return false;
        }
        while self.paused.get() && !self.stopping.get() {
            let resumed = self.resumed.notified();
            if !self.paused.get() {
                break;
            }
            tokio::select! {
                _ = resumed => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
            }
        }
        true
    }

    /// Whether a scheduled request fell due while the run was paused.
    pub fn due_in_pause(&self, due: Instant) -> bool {
        match self.pause_window.get() {
            (Some(start), None) => due >= start,
            (Some(start), Some(end)) => due >= start && due < end,
            _ => false,
        }
    }

    pub fn past_end(&self, due: Instant) -> bool {
        self.deadline.is_some_and(|d| due >= d)
    }

    pub async fn sleep_until(&self, at: Instant) {
        if at > Instant::now() {
            tokio::time::sleep_until(at.into()).await;
        }
    }

    /// The horizon for a caller whose clock reads `at`: see [`super::schedule`].
    pub fn horizon(&self, at: Instant) -> f64 {
        (at.saturating_duration_since(self.t_load) + HORIZON).as_secs_f64()
    }

    /// A timer that a schedule edit wakes.
    pub fn schedule_timer(&self) -> Rc<PreciseTimer> {
        let t = Rc::new(PreciseTimer::new());
        self.timers.borrow_mut().push(t.clone());
        t
    }

    /// Whether a command was sent to this thread that it has not applied yet.
    pub fn command_waiting(&self) -> bool {
        self.commands_sent
            .load(std::sync::atomic::Ordering::Acquire)
            != self.commands_applied.get()
    }

    pub fn command_applied(&self) {
        self.commands_applied.set(self.commands_applied.get() + 1);
    }

    /// After a schedule edit: every sleeper asks the schedule again.
    pub fn schedule_changed(&self) {
        self.epoch.set(self.epoch.get() + 1);
        for t in self.timers.borrow().iter() {
            t.wake();
        }
    }

    /// Stops the load: nothing new starts; with `abort`, in-flight requests are abandoned.
    pub fn stop(&self, abort: bool) {
        self.stopping.set(true);
        if abort {
            self.aborting.set(true);
        }
        self.stop_changed.notify_waiters();
        self.vu_changed.notify_waiters();
        self.resumed.notify_waiters();
        for t in self.timers.borrow().iter() {
            t.wake();
        }
    }

    /// Resolves once the run is stopping (with `abort`: aborting).
    pub async fn stopped(&self, abort: bool) {
        loop {
            let changed = self.stop_changed.notified();
            if if abort {
                self.aborting.get()
            } else {
                self.stopping.get()
            } {
                return;
            }
            changed.await;
        }
    }

    /// Pauses from `at`: requests due from then on are skipped until a resume.
    pub fn pause(&self, at: Instant) {
        if !self.paused.replace(true) {
            self.pause_window.set((Some(at), None));
        }
    }

    /// Resumes at `at`: requests due from then on are sent again.
    pub fn resume(&self, at: Instant) {
        if self.paused.replace(false) {
            let (start, _) = self.pause_window.get();
            self.pause_window.set((start, Some(at)));
            self.resumed.notify_waiters();
        }
    }

    /// Records one finished request (nothing during warmup).
    pub fn record(
        &self,
        scenario: usize,
        intended: Instant,
        start: Instant,
        outcome: Result<Outcome, ErrorKind>,
    ) {
        if intended < self.t0 {
            return;
        }
        let end = Instant::now();
        let service = end - start;
        let latency = if self.correction {
            end - intended
        } else {
            service
        };
        let lag = start.saturating_duration_since(intended);
        let mut rec = self.recorder.borrow_mut();
        if self.plan.scenarios.explicit {
            rec.scenario_outcome(
                scenario,
                outcome
                    .as_ref()
                    .map(|e| (e.status.code(), e.bytes))
                    .map_err(|k| *k),
                latency,
            );
        }
        match outcome {
            Ok(ex) => {
                rec.response(
                    ex.status.code(),
                    latency,
                    service,
                    ex.first_byte.saturating_duration_since(start),
                    ex.bytes,
                );
                if ex.messages > 0 {
                    // Like latency: from the intended send time when correcting for it.
                    let from = if self.correction { intended } else { start };
                    let first = ex.first_message.map(|t| t.saturating_duration_since(from));
                    rec.messages(ex.messages, first);
                }
            }
            Err(kind) => rec.error(kind, latency),
        }
        if self.scheduled {
            rec.lag(lag);
        }
    }

    /// Moves the gaps between reply messages recorded by the transport since the last
    /// hand-off into `interval`; during warmup they are dropped, as warmup replies are.
    pub fn take_gaps(&self, interval: &mut crate::record::Interval, now: Instant) {
        let warm = now > self.t0;
        self.pool.gaps().drain(|h| {
            if warm {
                interval.merge_gaps(h);
            }
        });
        if let Some(latency) = self.pool.message_latency() {
            latency.drain(|h| {
                if warm {
                    interval
                        .message_latency
                        .add(h)
                        .expect("the transport's histograms have the recorder's bounds");
                }
            });
        }
    }

    /// An open-model iteration found no free VU.
    pub fn dropped(&self, due: Instant) {
        if due >= self.t0 {
            self.recorder.borrow_mut().dropped();
        }
    }

    /// The next weighted scenario: this thread walks the smooth weighted cycle, so the
    /// split is exact to within one cycle per thread, with nothing shared between threads.
    pub fn next_scenario(&self) -> usize {
        let order = &self.plan.scenarios.order;
        let c = self.scenario_cursor.get();
        self.scenario_cursor
            .set(if c + 1 >= order.len() { 0 } else { c + 1 });
        usize::from(order[c])
    }

    /// The next `${REQUEST_ID}`: unique across threads without sharing a counter.
    pub fn next_request_id(&self) -> u64 {
        let c = self.counter.get();
        self.counter.set(c + 1);
        self.share.nth(c)
    }

    /// A task (VU or dispatcher) the worker must wait for.
    pub fn task_started(&self) {
        self.active.set(self.active.get() + 1);
    }

    /// Moves a VU in or out of the active-VU gauge.
    pub fn set_vu_active(&self, state: &mut bool, active: bool) {
        if *state == active {
            return;
        }
        *state = active;
        if active {
            let v = self.vus.get() + 1;
            self.vus.set(v);
            self.vus_max.set(self.vus_max.get().max(v));
        } else {
            self.vus.set(self.vus.get().saturating_sub(1));
        }
    }

    pub fn task_finished(&self) {
        let left = self.active.get() - 1;
        self.active.set(left);
        if left == 0 {
            self.all_done.notify_one();
        }
    }
}

/// A VU of the open model: waits in its mailbox for an iteration's intended time.
pub(super) struct Mailbox {
    pub(super) job: Cell<Option<Instant>>,
    /// A replay's record for the job: its buffers go round between the reader's pool, the
    /// mailbox and the VU, so none is allocated per record.
    pub(super) entry: RefCell<crate::plan::replay::Entry>,
    pub(super) closing: Cell<bool>,
    pub(super) wake: Notify,
}

impl Mailbox {
    pub fn new() -> Rc<Mailbox> {
        Rc::new(Mailbox {
            job: Cell::new(None),
            entry: RefCell::default(),
            closing: Cell::new(false),
            wake: Notify::new(),
        })
    }

    pub fn give(&self, due: Instant) {
        self.job.set(Some(due));
        self.wake.notify_one();
    }

    pub fn close(&self) {
        self.closing.set(true);
        self.wake.notify_one();
    }
}
