//! One OS thread with a `current_thread` runtime: its VUs, its connections, its recorder.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Notify, mpsc};
use tokio::task::LocalSet;

use super::control::{self, Envelope};
use super::schedule::Schedule;
use super::shared::Shared;
use super::vu;
use super::{Delivery, Final, TICK};
use crate::plan::Plan;
use crate::plan::load_model::Shape;
use crate::plan::share::Share;
use crate::record::{Interval, Recorder};
use crate::transport::Pool;
use crate::transport::connect::Connector;

pub(super) struct Worker {
    pub idx: usize,
    pub threads: usize,
    /// This thread's share: the machine's share split among its threads.
    pub share: Share,
    pub plan: Arc<Plan>,
    pub connector: Connector,
    pub quota: Option<u64>,
    /// Start of the load (warmup included); the load model's curves start here.
    pub t_load: Instant,
    /// Start of the measured window.
    pub t0: Instant,
    /// Unix time at `t_load`, for wall-clock schedules.
    pub start_unix: f64,
    pub commands: mpsc::UnboundedReceiver<Envelope>,
    pub commands_sent: Arc<std::sync::atomic::AtomicU64>,
    pub tx: mpsc::UnboundedSender<Delivery>,
    pub returns: std::sync::mpsc::Receiver<Interval>,
}

impl Worker {
    pub fn run(self) {
        let began = Instant::now();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("building a current_thread runtime");
        let local = LocalSet::new();
        local.block_on(&rt, self.run_local(began));
    }

    async fn run_local(self, began: Instant) {
        let Worker {
            idx,
            threads,
            share,
            plan,
            connector,
            quota,
            t_load,
            t0,
            start_unix,
            commands,
            commands_sent,
            tx,
            returns,
        } = self;
        let deadline = plan.load.duration().map(|d| t0 + d);
        // Completions in the graceful-stop tail belong to the run's last tick, so the
        // timeline has exactly `duration` seconds.
        let last_tick = deadline.map_or(u64::MAX, |d| tick_index(t0, d).max(1));
        let (schedule, vu_curve, think_time, max_vus) = match &plan.load.shape {
            Shape::Closed {
                vus,
                think_time,
                rate,
            } => (
                rate.map(|r| Schedule::constant(r, share.clone())),
                vus.clone(),
                *think_time,
                0,
            ),
            Shape::Open { arrivals, max_vus } => (
                Some(match plan.load.poisson_seed {
                    Some(seed) => Schedule::new(arrivals, share.clone(), start_unix)
                        .with_targets(super::schedule::Targets::poisson(seed)),
                    None => Schedule::new(arrivals, share.clone(), start_unix),
                }),
                Default::default(),
                Default::default(),
                share.count_below(*max_vus),
            ),
        };
        let shared = Rc::new(Shared {
            plan: plan.clone(),
            pool: Pool::new(&plan, connector),
            recorder: RefCell::new(Recorder::default()),
            stopping: Cell::new(false),
            quota: Cell::new(quota.unwrap_or(u64::MAX)),
            in_flight: Cell::new(0),
            counter: Cell::new(0),
            // Threads start at evenly spaced points of the cycle.
            scenario_cursor: Cell::new(idx * plan.scenarios.order.len() / threads.max(1)),
            share: share.clone(),
            t_load,
            t0,
            deadline,
            correction: plan.load.latency_kind() == crate::plan::LatencyKind::FromIntendedSend,
            scheduled: plan.load.has_schedule(),
            schedule: schedule.map(RefCell::new),
            replay: plan
                .load
                .replay()
                .map(|r| RefCell::new(super::replay::Reader::new(r, share.clone()))),
            path_matchers: plan
                .scenarios
                .list
                .iter()
                .map(|s| s.path_match.clone())
                .collect(),
            epoch: Cell::new(0),
            timers: RefCell::new(Vec::new()),
            vu_curve: RefCell::new(vu_curve),
            vu_epoch: Cell::new(0),
            vu_changed: Notify::new(),
            vus_started: Cell::new(0),
            think_time: Cell::new(think_time),
            max_vus: Cell::new(max_vus),
            tasks: RefCell::new(Vec::new()),
            aborting: Cell::new(false),
            stop_changed: Notify::new(),
            commands_sent,
            commands_applied: Cell::new(0),
            idle: RefCell::new(Vec::new()),
            active: Cell::new(0),
            vus: Cell::new(0),
            vus_max: Cell::new(0),
            all_done: Notify::new(),
            paused: Cell::new(false),
            resumed: Notify::new(),
            pause_window: Cell::new((None, None)),
        });

        // Commands: applied at their instant, in the order sent.
        let steering = tokio::task::spawn_local(control::serve(shared.clone(), commands));

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
                    shared.take_gaps(&mut interval, at.into_std());
                    interval.vus = shared.vus.get();
                    interval.vus_max = shared.vus_max.get();
                    if tx
                        .send(Delivery {
                            thread: idx,
                            tick: k,
                            interval,
                            busy: super::thread_cpu() + super::thread_waited(),
                            last: None,
                        })
                        .is_err()
                    {
                        break;
                    }
                }
            })
        };

        // Start the load: the closed VUs whose global index is in this thread's share, or the
        // dispatcher of this thread's share of the arrivals.
        match &plan.load.shape {
            Shape::Closed { .. } => vu::start_closed_vus(&shared, plan.load.vus()),
            Shape::Open { .. } => {
                let s = shared.clone();
                s.task_started();
                let h = tokio::task::spawn_local(async move {
                    if s.replay.is_some() {
                        vu::dispatch_replay(s.clone()).await;
                    } else {
                        vu::dispatch(s.clone()).await;
                    }
                    s.task_finished();
                });
                shared.tasks.borrow_mut().push(h);
            }
        }

        // Wait for the load to end; once it is ending, give in-flight requests the graceful
        // period, then abandon them.
        let mut interrupted = 0;
        if shared.active.get() > 0 {
            let ending = async {
                let end_signal = shared.stopped(false);
                // At the deadline nothing new is due (`may_start` checks each due time), but a
                // request due just before it and woken late must still go: only a stop
                // command cuts the schedule short.
                match deadline {
                    Some(d) => tokio::select! {
                        _ = tokio::time::sleep_until(d.into()) => {}
                        _ = end_signal => {}
                    },
                    None => end_signal.await,
                }
                // Idle open-model VUs must not wait for work that will never come.
                for m in shared.idle.borrow_mut().drain(..) {
                    m.close();
                }
                tokio::select! {
                    _ = tokio::time::sleep(plan.graceful_stop) => {}
                    _ = shared.stopped(true) => {}
                }
            };
            tokio::select! {
                _ = shared.all_done.notified() => {}
                _ = ending => {
                    interrupted = shared.in_flight.get();
                    for h in shared.tasks.borrow().iter() {
                        h.abort();
                    }
                }
            }
        }
        let ended = Instant::now();
        flusher.abort();
        steering.abort();
        let mut interval = shared.recorder.borrow_mut().take(Interval::default());
        shared.take_gaps(&mut interval, ended);
        interval.vus = shared.vus.get();
        interval.vus_max = shared.vus_max.get();
        // The aggregator may already be gone if the process is exiting; nothing to do then.
        let _gone = tx.send(Delivery {
            thread: idx,
            tick: final_tick_index(t0, ended).min(last_tick),
            interval,
            busy: super::thread_cpu() + super::thread_waited(),
            last: Some(Final {
                ended,
                interrupted,
                cpu: super::thread_cpu(),
                waited: super::thread_waited(),
                lived: ended.saturating_duration_since(began),
                replay: shared
                    .replay
                    .as_ref()
                    .map(|r| r.borrow().stats)
                    .unwrap_or_default(),
                conn_wait: shared.pool.connection_wait(),
            }),
        });
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
