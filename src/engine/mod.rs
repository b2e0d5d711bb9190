//! Runs a [`Plan`]: one OS thread per share of the load, each with its own `current_thread`
//! tokio runtime owning its virtual users and connections. Knows no sink.
//!
//! Why `current_thread` runtimes rather than one multi-threaded runtime: a VU's connection,
//! recorder and counters then live on one thread, so the request path needs no atomics,
//! locks or channels, and nothing migrates between cores. VUs, arrivals, `-n` and request ids
//! are split across threads (and machines) by one rule, [`Share`], so that the parts always
//! add up to the whole.
//!
//! Output: every 100 ms each thread hands its [`Interval`] to the [`Feed`], which the
//! aggregator drains; the interval comes back emptied for reuse. Input: [`Control`], the one
//! command channel (pause, resume, stop, set rate or VUs, spike, replace the model).

mod client;
pub mod control;
pub mod replay;
pub mod schedule;
mod shared;
mod timer;
mod vu;
mod worker;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::plan::Plan;
use crate::plan::share::Share;
use crate::record::Interval;
use crate::transport::connect::Connector;
pub use control::{Applied, Command, Control, Refused, RunState, Ticket};

/// Interval length: the aggregator's resolution and the live view's refresh.
pub const TICK: Duration = Duration::from_millis(100);

/// One thread's interval, handed to the aggregator.
#[derive(Debug)]
pub struct Delivery {
    pub thread: usize,
    /// The interval covers (t0 + (tick−1)·TICK, t0 + tick·TICK].
    pub tick: u64,
    pub interval: Interval,
    /// The thread's CPU time plus its time waiting for a CPU, since it started: the live
    /// health view's measure of how busy the generator is.
    pub busy: Duration,
    /// Set on the thread's final delivery.
    pub last: Option<Final>,
}

/// What a thread reports when it ends.
#[derive(Debug, Clone, Copy)]
pub struct Final {
    pub ended: Instant,
    pub interrupted: u64,
    /// CPU time the thread used, and how long it lived: how busy the generator was.
    pub cpu: Duration,
    pub lived: Duration,
    /// Time the thread was ready to run but waited for a CPU (`/proc/thread-self/schedstat`;
    /// zero where the kernel does not say): on a shared machine a starved generator shows
    /// here rather than as CPU time.
    pub waited: Duration,
    /// What a replay's reader met on this thread (zero for other models).
    pub replay: replay::ReplayStats,
    /// Time this thread's VUs waited for connections (opening them, or for another VU
    /// opening a shared one).
    pub conn_wait: Duration,
}

/// Run-queue wait of the calling thread so far, from the second field of
/// `/proc/thread-self/schedstat` (ns).
pub fn thread_waited() -> Duration {
    // Read into a stack buffer: the flusher calls this every tick, and the request path's
    // allocation tests count every allocation of a run.
    use std::io::Read;
    let mut buf = [0u8; 128];
    let n = std::fs::File::open("/proc/thread-self/schedstat")
        .and_then(|mut f| f.read(&mut buf))
        .unwrap_or(0);
    std::str::from_utf8(&buf[..n])
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// CPU time the calling thread has used (CLOCK_THREAD_CPUTIME_ID: one vDSO call, no
/// syscall on Linux; read once when a worker ends).
pub fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// The receiving side: deliveries in, emptied intervals back to their thread.
pub struct Feed {
    pub rx: mpsc::UnboundedReceiver<Delivery>,
    returns: Vec<std::sync::mpsc::Sender<Interval>>,
    pub threads: usize,
}

impl Feed {
    /// Gives an interval back to its thread, cleared, so it never allocates a new one.
    pub fn give_back(&self, thread: usize, mut interval: Interval) {
        interval.clear();
        // A thread that already ended has dropped its receiver; the interval is just freed.
        let _ended = self.returns[thread].send(interval);
    }
}

/// Controls a running engine.
pub struct EngineHandle {
    control: Control,
    threads: Vec<JoinHandle<()>>,
}

impl EngineHandle {
    /// Sends a command; see [`Control::send`].
    pub fn send(&self, command: Command) -> Result<Ticket, Refused> {
        self.control.send(command)
    }

    pub fn control(&self) -> Control {
        self.control.clone()
    }

    pub fn state(&self) -> RunState {
        self.control.state()
    }

    /// Waits for every worker thread to end.
    pub fn join(self) {
        for t in self.threads {
            if t.join().is_err() {
                eprintln!("kaioken: a worker thread panicked; its last interval is lost");
            }
        }
    }
}

/// When the load starts and its measured window begins.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Start of the load, warmup included: the load model's time zero.
    pub t_load: Instant,
    /// Start of the measured window (`t_load + warmup`); ticks count from here.
    pub t0: Instant,
    /// Unix time at `t_load`, for wall-clock schedules.
    pub start_unix: f64,
}

/// Starts the load (all threads share the clock, so their ticks align). `segment` is this
/// machine's share of the test ([`Share::whole`] when it runs alone); thread `t` of `T`
/// runs `segment.split(t, T)`.
pub fn start(
    plan: Arc<Plan>,
    connector: Connector,
    clock: Clock,
    segment: &Share,
) -> (EngineHandle, Feed) {
    let threads = plan.threads;
    let (tx, rx) = mpsc::unbounded_channel();
    let mut commands = Vec::with_capacity(threads);
    let mut returns = Vec::with_capacity(threads);
    let mut handles = Vec::with_capacity(threads);
    for idx in 0..threads {
        let (ret_tx, ret_rx) = std::sync::mpsc::channel();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        commands.push(control::Queue {
            queue: cmd_tx,
            sent: sent.clone(),
        });
        let share = segment.split(idx as u64, threads as u64);
        returns.push(ret_tx);
        let w = worker::Worker {
            idx,
            threads,
            plan: plan.clone(),
            connector: connector.clone(),
            quota: plan.load.max_requests().map(|n| share.count_below(n)),
            share,
            t_load: clock.t_load,
            t0: clock.t0,
            start_unix: clock.start_unix,
            commands: cmd_rx,
            commands_sent: sent,
            tx: tx.clone(),
            returns: ret_rx,
        };
        let h = std::thread::Builder::new()
            .name(format!("kaioken-worker-{idx}"))
            .spawn(move || w.run())
            .expect("spawning a worker thread");
        handles.push(h);
    }
    (
        EngineHandle {
            control: Control::new(&plan, clock.t_load, commands),
            threads: handles,
        },
        Feed {
            rx,
            returns,
            threads,
        },
    )
}
