//! One OS thread with a `current_thread` runtime: its VUs, its connections, its recorder.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::LocalSet;

use super::schedule::Schedule;
use super::vu::{self, Client, H2Slot, Mailbox};
use super::{Delivery, Final, RunState, TICK};
use crate::plan::Plan;
use crate::plan::load_model::Shape;
use crate::record::{Interval, Recorder};
use crate::transport::connect::Connector;
use crate::transport::{ErrorKind, Exchange};

pub(super) struct Worker {
    pub idx: usize,
    pub threads: usize,
    pub plan: Arc<Plan>,
    pub connector: Connector,
    pub quota: Option<u64>,
    /// Start of the load (warmup included); the load model's curves start here.
    pub t_load: Instant,
    /// Start of the measured window.
    pub t0: Instant,
    /// Unix time at `t_load`, for wall-clock schedules.
    pub start_unix: f64,
    pub control: watch::Receiver<RunState>,
    pub tx: mpsc::UnboundedSender<Delivery>,
    pub returns: std::sync::mpsc::Receiver<Interval>,
}

/// State shared by the VUs of one thread. `Rc`/`Cell`: never touched by another thread.
pub(super) struct Shared {
    pub plan: Arc<Plan>,
    pub connector: Connector,
    pub recorder: RefCell<Recorder>,
    pub stopping: Cell<bool>,
    /// Requests this thread may still start in the measured window (`u64::MAX`: unlimited).
    quota: Cell<u64>,
    pub in_flight: Cell<u64>,
    /// Per-thread request counter for `${REQUEST_ID}`.
    counter: Cell<u64>,
    /// Position in the weighted scenario cycle.
    scenario_cursor: Cell<usize>,
    thread_idx: u64,
    threads: u64,
    pub t_load: Instant,
    pub t0: Instant,
    start_unix: f64,
    deadline: Option<Instant>,
    /// Latency from the intended time (true) or from the actual send (false).
    correction: bool,
    /// Whether requests have intended times (then schedule lag is recorded).
    scheduled: bool,
    /// Connections opened by this thread (for round-robin over addresses).
    connections: Cell<usize>,
    /// Closed model with `-r`: this thread's share of the slots.
    pub slots: Option<RefCell<Schedule>>,
    /// Open model: VUs waiting for an iteration.
    pub idle: RefCell<Vec<Rc<Mailbox>>>,
    h2_slots: RefCell<Vec<Rc<H2Slot>>>,
    /// Tasks still running (VUs, plus the dispatcher in open models).
    active: Cell<u64>,
    vus: Cell<u64>,
    vus_max: Cell<u64>,
    all_done: Notify,
    paused: Cell<bool>,
    resumed: Notify,
    /// The latest pause, `[start, end)`: scheduled requests due inside it are skipped.
    pause_window: Cell<(Option<Instant>, Option<Instant>)>,
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

    /// Records one finished request (nothing during warmup).
    pub fn record(
        &self,
        scenario: usize,
        intended: Instant,
        start: Instant,
        outcome: Result<Exchange, ErrorKind>,
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
                    .map(|e| (e.status, e.bytes))
                    .map_err(|k| *k),
                latency,
            );
        }
        match outcome {
            Ok(ex) => rec.response(
                ex.status,
                latency,
                service,
                ex.first_byte.saturating_duration_since(start),
                ex.bytes,
            ),
            Err(kind) => rec.error(kind, latency),
        }
        if self.scheduled {
            rec.lag(lag);
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
        c * self.threads + self.thread_idx
    }

    pub fn next_connection(&self) -> usize {
        let n = self.connections.get();
        self.connections.set(n + 1);
        n
    }

    /// The HTTP/2 connection slot `n` of this thread.
    pub fn h2_slot(&self, n: u64) -> Rc<H2Slot> {
        let mut slots = self.h2_slots.borrow_mut();
        while slots.len() <= n as usize {
            slots.push(Rc::new(H2Slot::default()));
        }
        slots[n as usize].clone()
    }

    /// This thread's share of the open model's arrivals.
    pub fn schedule(&self) -> Schedule {
        match &self.plan.load.shape {
            Shape::Open { arrivals, .. } => {
                Schedule::new(arrivals, self.thread_idx, self.threads, self.start_unix)
            }
            Shape::Closed { .. } => Schedule::constant(0.0, 0, 1),
        }
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

impl Worker {
    pub fn run(self) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("building a current_thread runtime");
        let local = LocalSet::new();
        local.block_on(&rt, self.run_local());
    }

    async fn run_local(self) {
        let Worker {
            idx,
            threads,
            plan,
            connector,
            quota,
            t_load,
            t0,
            start_unix,
            mut control,
            tx,
            returns,
        } = self;
        let deadline = plan.load.duration().map(|d| t0 + d);
        // Completions in the graceful-stop tail belong to the run's last tick, so the
        // timeline has exactly `duration` seconds.
        let last_tick = deadline.map_or(u64::MAX, |d| tick_index(t0, d).max(1));
        let slots = match &plan.load.shape {
            Shape::Closed { rate: Some(r), .. } => Some(RefCell::new(Schedule::constant(
                *r,
                idx as u64,
                threads as u64,
            ))),
            _ => None,
        };
        let shared = Rc::new(Shared {
            plan: plan.clone(),
            connector,
            recorder: RefCell::new(Recorder::default()),
            stopping: Cell::new(false),
            quota: Cell::new(quota.unwrap_or(u64::MAX)),
            in_flight: Cell::new(0),
            counter: Cell::new(0),
            // Threads start at evenly spaced points of the cycle.
            scenario_cursor: Cell::new(idx * plan.scenarios.order.len() / threads.max(1)),
            thread_idx: idx as u64,
            threads: threads as u64,
            t_load,
            t0,
            start_unix,
            deadline,
            correction: plan.load.latency_kind() == crate::plan::LatencyKind::FromIntendedSend,
            scheduled: plan.load.has_schedule(),
            connections: Cell::new(0),
            slots,
            idle: RefCell::new(Vec::new()),
            h2_slots: RefCell::new(Vec::new()),
            active: Cell::new(0),
            vus: Cell::new(0),
            vus_max: Cell::new(0),
            all_done: Notify::new(),
            paused: Cell::new(false),
            resumed: Notify::new(),
            pause_window: Cell::new((None, None)),
        });

        // Pause and resume: mirror the control state into the thread's own flag.
        let pauser = {
            let shared = shared.clone();
            let mut control = control.clone();
            tokio::task::spawn_local(async move {
                loop {
                    let paused = *control.borrow_and_update() == RunState::Paused;
                    let was = shared.paused.replace(paused);
                    if paused && !was {
                        shared.pause_window.set((Some(Instant::now()), None));
                    } else if !paused && was {
                        let (start, _) = shared.pause_window.get();
                        shared.pause_window.set((start, Some(Instant::now())));
                        shared.resumed.notify_waiters();
                    }
                    if control.changed().await.is_err() {
                        break;
                    }
                }
            })
        };

        // Interval hand-off, aligned to t0 + k·TICK on every thread.
        let flusher = {
            let shared = shared.clone();
            let tx = tx.clone();
            tokio::task::spawn_local(async move {
                let mut tick = tokio::time::interval_at((t0 + TICK).into(), TICK);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    let at = tick.tick().await;
                    let k = tick_index(t0, at.into_std()).min(last_tick);
                    let spare = returns.try_recv().unwrap_or_default();
                    let mut interval = shared.recorder.borrow_mut().take(spare);
                    interval.vus = shared.vus.get();
                    interval.vus_max = shared.vus_max.get();
                    if tx
                        .send(Delivery {
                            thread: idx,
                            tick: k,
                            interval,
                            last: None,
                        })
                        .is_err()
                    {
                        break;
                    }
                }
            })
        };

        // Start the load: closed VUs by global index (j ≡ idx mod threads), or the dispatcher.
        let mut handles = Vec::new();
        match &plan.load.shape {
            Shape::Closed { .. } => {
                let total = plan.load.vus();
                let mine = (idx as u64..total).step_by(threads);
                for (local, j) in mine.enumerate() {
                    let s = shared.clone();
                    let client = Client::new(&s, local as u64);
                    s.task_started();
                    handles.push(tokio::task::spawn_local(async move {
                        vu::closed_vu(&s, j, client).await;
                        s.task_finished();
                    }));
                }
            }
            Shape::Open { max_vus, .. } => {
                let mine = super::share(*max_vus, idx, threads);
                let s = shared.clone();
                s.task_started();
                handles.push(tokio::task::spawn_local(async move {
                    vu::dispatch(s.clone(), mine).await;
                    s.task_finished();
                }));
            }
        }

        // Wait for the load to end; once it is ending, give in-flight requests the graceful
        // period, then abandon them.
        let mut interrupted = 0;
        if shared.active.get() > 0 {
            let ending = async {
                let end_signal = wait_for(&mut control, |s| {
                    matches!(s, RunState::Stopping | RunState::Abort)
                });
                // At the deadline nothing new is due (`may_start` checks each due time), but a
                // request due just before it and woken late must still go: only a stop
                // command cuts the schedule short.
                match deadline {
                    Some(d) => tokio::select! {
                        _ = tokio::time::sleep_until(d.into()) => {}
                        _ = end_signal => shared.stopping.set(true),
                    },
                    None => {
                        end_signal.await;
                        shared.stopping.set(true);
                    }
                }
                // Idle open-model VUs must not wait for work that will never come.
                for m in shared.idle.borrow_mut().drain(..) {
                    m.close();
                }
                tokio::select! {
                    _ = tokio::time::sleep(plan.graceful_stop) => {}
                    _ = wait_for(&mut control, |s| s == RunState::Abort) => {}
                }
            };
            tokio::select! {
                _ = shared.all_done.notified() => {}
                _ = ending => {
                    interrupted = shared.in_flight.get();
                    for h in &handles {
                        h.abort();
                    }
                }
            }
        }
        let ended = Instant::now();
        flusher.abort();
        pauser.abort();
        let mut interval = shared.recorder.borrow_mut().take(Interval::default());
        interval.vus = shared.vus.get();
        interval.vus_max = shared.vus_max.get();
        // The aggregator may already be gone if the process is exiting; nothing to do then.
        let _gone = tx.send(Delivery {
            thread: idx,
            tick: final_tick_index(t0, ended).min(last_tick),
            interval,
            last: Some(Final { ended, interrupted }),
        });
    }
}

/// Resolves once the control state satisfies `f` (never, if the sender is gone).
async fn wait_for(control: &mut watch::Receiver<RunState>, f: impl Fn(RunState) -> bool) {
    loop {
        if f(*control.borrow_and_update()) {
            return;
        }
        if control.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The index of the tick boundary nearest `at` (ticks are 1-based from t0; a tick's
/// scheduled instant is exact, so rounding only absorbs float noise).
fn tick_index(t0: Instant, at: Instant) -> u64 {
    let ns = at.saturating_duration_since(t0).as_nanos();
    let tick = TICK.as_nanos();
    ((ns + tick / 2) / tick) as u64
}

/// The first tick boundary at or after `at`: the final, partial interval's index.
fn final_tick_index(t0: Instant, at: Instant) -> u64 {
    let ns = at.saturating_duration_since(t0).as_nanos();
    (ns.div_ceil(TICK.as_nanos()) as u64).max(1)
}
