//! One OS thread with a `current_thread` runtime: its VUs, its connections, its recorder.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::LocalSet;

use super::vu;
use super::{Delivery, Final, RunState, TICK};
use crate::plan::{Plan, Protocol};
use crate::record::{Interval, Recorder};
use crate::transport::connect::Connector;

pub(super) struct Worker {
    pub idx: usize,
    pub threads: usize,
    pub plan: Arc<Plan>,
    pub connector: Connector,
    pub vus: u64,
    pub quota: Option<u64>,
    pub t0: Instant,
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
    /// Requests this thread may still start (`u64::MAX`: unlimited).
    pub quota: Cell<u64>,
    pub in_flight: Cell<u64>,
    /// Per-thread request counter for `${REQUEST_ID}`.
    pub counter: Cell<u64>,
    pub thread_idx: u64,
    pub threads: u64,
    pub deadline: Option<Instant>,
    /// Connections opened by this thread (for round-robin over addresses).
    pub connections: Cell<usize>,
    active_vus: Cell<u64>,
    all_done: Notify,
}

impl Shared {
    /// Takes one request from the quota; false when the quota is spent or the run is ending.
    pub fn may_start(&self, now: Instant) -> bool {
        if self.stopping.get() || self.deadline.is_some_and(|d| now >= d) {
            return false;
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

    fn vu_finished(&self) {
        let left = self.active_vus.get() - 1;
        self.active_vus.set(left);
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
            vus,
            quota,
            t0,
            mut control,
            tx,
            returns,
        } = self;
        let deadline = plan.load.duration().map(|d| t0 + d);
        // Completions in the graceful-stop tail belong to the run's last tick, so the
        // timeline has exactly `duration` seconds.
        let last_tick = deadline.map_or(u64::MAX, |d| tick_index(t0, d).max(1));
        let shared = Rc::new(Shared {
            plan: plan.clone(),
            connector,
            recorder: RefCell::new(Recorder::default()),
            stopping: Cell::new(false),
            quota: Cell::new(quota.unwrap_or(u64::MAX)),
            in_flight: Cell::new(0),
            counter: Cell::new(0),
            thread_idx: idx as u64,
            threads: threads as u64,
            deadline,
            connections: Cell::new(0),
            active_vus: Cell::new(vus),
            all_done: Notify::new(),
        });

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
                    let interval = shared.recorder.borrow_mut().take(spare);
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

        let mut handles = Vec::with_capacity(vus as usize);
        match plan.protocol {
            Protocol::Http1 => {
                for _ in 0..vus {
                    let s = shared.clone();
                    handles.push(tokio::task::spawn_local(async move {
                        vu::http1_loop(&s).await;
                        s.vu_finished();
                    }));
                }
            }
            Protocol::Http2 { streams } => {
                let slots = vus.div_ceil(streams).max(1);
                let pool: Rc<Vec<vu::H2Slot>> =
                    Rc::new((0..slots).map(|_| vu::H2Slot::default()).collect());
                for v in 0..vus {
                    let s = shared.clone();
                    let pool = pool.clone();
                    handles.push(tokio::task::spawn_local(async move {
                        vu::h2_loop(&s, &pool[(v / streams) as usize]).await;
                        s.vu_finished();
                    }));
                }
            }
        }

        // Wait for the VUs; once the run is ending, give in-flight requests the graceful
        // period, then abandon them.
        let mut interrupted = 0;
        if vus > 0 {
            let ending = async {
                let end_signal = async {
                    loop {
                        if *control.borrow_and_update() != RunState::Running {
                            return;
                        }
                        if control.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                };
                match deadline {
                    Some(d) => tokio::select! {
                        _ = tokio::time::sleep_until(d.into()) => {}
                        _ = end_signal => {}
                    },
                    None => end_signal.await,
                }
                shared.stopping.set(true);
                let grace = tokio::time::sleep(plan.graceful_stop);
                let abort = async {
                    loop {
                        if *control.borrow_and_update() == RunState::Abort {
                            return;
                        }
                        if control.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                };
                tokio::select! {
                    _ = grace => {}
                    _ = abort => {}
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
        let interval = shared.recorder.borrow_mut().take(Interval::default());
        // The aggregator may already be gone if the process is exiting; nothing to do then.
        let _gone = tx.send(Delivery {
            thread: idx,
            tick: final_tick_index(t0, ended).min(last_tick),
            interval,
            last: Some(Final { ended, interrupted }),
        });
    }
}

/// The index of the tick boundary at or after `at` (ticks are 1-based from t0).
fn tick_index(t0: Instant, at: Instant) -> u64 {
    let ns = at.saturating_duration_since(t0).as_nanos();
    let tick = TICK.as_nanos();
    // A tick that fired a hair early still belongs to its boundary.
    ((ns + tick / 2) / tick) as u64
}

/// The first tick boundary at or after `at`: the final, partial interval's index.
fn final_tick_index(t0: Instant, at: Instant) -> u64 {
    let ns = at.saturating_duration_since(t0).as_nanos();
    (ns.div_ceil(TICK.as_nanos()) as u64).max(1)
}
