//! Main thread: merges the threads' 100 ms intervals into the run total, the per-second
//! timeline and the live [`Snapshot`]. Live sinks read the snapshot from a `watch` channel;
//! the aggregator never calls a sink.

pub mod timeline;

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use crate::engine::{Delivery, Feed, TICK};
use crate::record::Interval;
use timeline::Second;
use timeline::Timeline;

/// The live figures every live sink reads. Cheap to clone: no histograms.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Snapshot {
    /// Time since the start of the run, at the latest merged tick.
    pub elapsed: Duration,
    pub requests: u64,
    pub successful: u64,
    pub failed: u64,
    pub bytes_received: u64,
    /// Requests in the last complete second.
    pub current_rps: f64,
    pub mean_rps: f64,
    pub p50_us: u64,
    pub p75_us: u64,
    pub p90_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
    pub vus: u64,
    pub dropped: u64,
    pub connections_opened: u64,
    /// Send to first byte of the response.
    pub ttfb: Timing,
    /// Opening a connection (TCP, proxy, TLS).
    pub connect: Timing,
    /// The TLS handshake with the target alone (https:// only).
    pub tls_handshake: Timing,
    /// TLS handshakes with the target, and how many resumed a session.
    pub tls_handshakes: u64,
    pub tls_resumed: u64,
    /// Messages received (gRPC replies, WebSocket replies, SSE events, chunks); 0 when
    /// responses are read whole.
    pub messages: u64,
    /// From a request's (intended) send to its reply's first message.
    pub first_message: Timing,
    /// Between consecutive messages of one reply.
    pub message_gap: Timing,
    /// Reply k from request message k's send (bidirectional gRPC streams).
    pub message_latency: Timing,
    /// Status codes seen, ascending, with counts.
    pub status: Vec<(crate::transport::Status, u64)>,
    /// Error kinds seen, with counts.
    pub errors: Vec<(&'static str, u64)>,
    /// The last (up to) 60 complete seconds, oldest first.
    pub recent: Vec<Second>,
    /// Latency counts per [`LATENCY_BUCKETS_US`] bucket (not cumulative; the last is +Inf),
    /// filled only when a sink asked for them (Prometheus).
    pub latency_buckets: Vec<u64>,
    /// Sum of all latencies in µs (for a histogram's `_sum`).
    pub latency_sum_us: f64,
    /// Per check: [passes, failures] since the start.
    pub checks: Vec<[u64; 2]>,
    /// Actual send − intended send, since the start (zero without a schedule).
    pub schedule_lag: Timing,
    /// The busiest worker thread's share of the last second spent on a CPU or waiting for
    /// one; `None` until a thread has reported twice.
    pub worker_busy: Option<f64>,
    pub done: bool,
}

/// Where part of a request's time went, for the live views: two percentiles of one phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Timing {
    pub p50_us: u64,
    pub p99_us: u64,
}

impl Timing {
    fn of(h: &hdrhistogram::Histogram<u64>) -> Timing {
        Timing {
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
        }
    }
}

impl Snapshot {
    /// An HTTP status, as snapshots count them (for sinks, which do not see the transport).
    pub fn http(code: u16) -> crate::transport::Status {
        crate::transport::Status::Http(code)
    }

    /// All checks' passes over all their judgements so far; `None` before any check ran.
    pub fn check_pass_rate(&self) -> Option<f64> {
        let (p, n) = self
            .checks
            .iter()
            .fold((0, 0), |(p, n), c| (p + c[0], n + c[0] + c[1]));
        (n > 0).then(|| p as f64 / n as f64)
    }
}

/// Ticks over which the live view judges how busy each worker thread is (one second).
const BUSY_WINDOW: usize = 10;

/// The busiest running thread's busy share over its recent samples.
fn busiest(busy: &[std::collections::VecDeque<(u64, Duration)>]) -> Option<f64> {
    busy.iter()
        .filter_map(|s| {
            let (&(t0, b0), &(t1, b1)) = (s.front()?, s.back()?);
            (t1 > t0).then(|| {
                let wall = TICK.as_secs_f64() * (t1 - t0) as f64;
                (b1.saturating_sub(b0).as_secs_f64() / wall).min(1.0)
            })
        })
        .reduce(f64::max)
}

/// Upper bounds of the exported latency buckets, in µs: 1 ms to 10 s, roughly ×2.5 apart.
pub const LATENCY_BUCKETS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

/// What the aggregator hands back when the engine has ended.
pub struct Outcome {
    pub total: Interval,
    pub timeline: Vec<Second>,
    /// Start of load to the last thread's end.
    pub duration: Duration,
    pub interrupted: u64,
    /// Sum over threads of each thread's peak VUs.
    pub vus_max: u64,
    /// Per worker thread that has ended: (CPU time used, time it waited for a CPU, time it
    /// lived).
    pub thread_cpu: Vec<(Duration, Duration, Duration)>,
    /// A replay's readers, summed over the threads that have ended.
    pub replay: crate::engine::replay::ReplayStats,
    /// Time VUs waited for connections, summed over the threads that have ended.
    pub conn_wait: Duration,
}

/// Asks a running aggregator for the run so far as an [`Outcome`], from which a whole result
/// file is assembled (the TUI's `s`). Cloning the totals costs what a key press may.
#[derive(Clone)]
pub struct Tap(mpsc::UnboundedSender<oneshot::Sender<Outcome>>);

impl Tap {
    /// The run so far; `None` once the aggregator has finished.
    pub async fn outcome(&self) -> Option<Outcome> {
        let (tx, rx) = oneshot::channel();
        self.0.send(tx).ok()?;
        rx.await.ok()
    }
}

pub struct Aggregator {
    /// Requests from [`Tap`]s, if one was made.
    taps: Option<mpsc::UnboundedReceiver<oneshot::Sender<Outcome>>>,
    t0: Instant,
    last_tick: u64,
    total: Interval,
    timeline: Timeline,
    /// Latest tick delivered by each thread (`u64::MAX` once it has ended).
    progress: Vec<u64>,
    ended: Option<Instant>,
    interrupted: u64,
    /// Latest VU gauges per thread: (active, peak).
    vus: Vec<(u64, u64)>,
    thread_cpu: Vec<(Duration, Duration, Duration)>,
    replay: crate::engine::replay::ReplayStats,
    conn_wait: Duration,
    /// Per running thread: its busy time at each of its last [`BUSY_WINDOW`] + 1 ticks.
    busy: Vec<std::collections::VecDeque<(u64, Duration)>>,
    snapshot: watch::Sender<Snapshot>,
    /// Whether snapshots carry latency buckets.
    buckets: bool,
}

impl Aggregator {
    /// `duration`: the measured duration, if bounded. Workers label everything after it
    /// with its last tick, so that tick is complete only when each thread has ended.
    pub fn new(
        t0: Instant,
        threads: usize,
        duration: Option<Duration>,
    ) -> (Aggregator, watch::Receiver<Snapshot>) {
        let last_tick =
            duration.map_or(u64::MAX, |d| (d.as_nanos() / TICK.as_nanos()).max(1) as u64);
        let (tx, rx) = watch::channel(Snapshot::default());
        (
            Aggregator {
                taps: None,
                t0,
                last_tick,
                total: Interval::default(),
                // Bounded runs keep every second; unbounded ones the last hour.
                timeline: Timeline::new(if duration.is_some() { usize::MAX } else { 3600 }),
                progress: vec![0; threads],
                ended: None,
                interrupted: 0,
                vus: vec![(0, 0); threads],
                thread_cpu: Vec::with_capacity(threads),
                replay: Default::default(),
                conn_wait: Duration::ZERO,
                busy: vec![std::collections::VecDeque::new(); threads],
                snapshot: tx,
                buckets: false,
            },
            rx,
        )
    }

    /// Makes every snapshot carry latency bucket counts (for a Prometheus histogram).
    pub fn with_latency_buckets(mut self) -> Aggregator {
        self.buckets = true;
        self
    }

    /// A handle that asks for the run so far while [`Aggregator::run`] drains the feed.
    pub fn tap(&mut self) -> Tap {
        let (tx, rx) = mpsc::unbounded_channel();
        self.taps = Some(rx);
        Tap(tx)
    }

    /// Drains the feed until every thread has sent its final interval, answering taps.
    pub async fn run(mut self, mut feed: Feed) -> Outcome {
        let mut taps = self.taps.take();
        loop {
            tokio::select! {
                d = feed.rx.recv() => {
                    let Some(d) = d else { break };
                    let (thread, interval) = self.accept(d);
                    feed.give_back(thread, interval);
                    if self.progress.iter().all(|p| *p == u64::MAX) {
                        break;
                    }
                }
                Some(reply) = next_tap(&mut taps) => {
                    let _gone = reply.send(self.so_far());
                }
            }
        }
        self.finish()
    }

    /// The run through the latest tick every thread has completed.
    fn so_far(&self) -> Outcome {
        let tick = self.progress.iter().copied().min().unwrap_or(0);
        let duration = match (tick, self.ended) {
            (u64::MAX, Some(e)) => e.saturating_duration_since(self.t0),
            _ => TICK * tick.min(u64::from(u32::MAX)) as u32,
        };
        Outcome {
            total: self.total.clone(),
            timeline: self.timeline.recent(usize::MAX),
            duration,
            interrupted: self.interrupted,
            vus_max: self.vus.iter().map(|v| v.1).sum(),
            thread_cpu: self.thread_cpu.clone(),
            replay: self.replay,
            conn_wait: self.conn_wait,
        }
    }

    /// Merges one delivery; returns its interval for reuse.
    pub fn accept(&mut self, d: Delivery) -> (usize, Interval) {
        self.total.merge(&d.interval);
        self.vus[d.thread] = (d.interval.vus, d.interval.vus_max);
        let samples = &mut self.busy[d.thread];
        if d.last.is_some() {
            samples.clear();
        } else {
            samples.push_back((d.tick, d.busy));
            while samples.len() > BUSY_WINDOW + 1 {
                samples.pop_front();
            }
        }
        self.timeline
            .add(d.thread, self.progress.len(), d.tick, &d.interval);
        match d.last {
            Some(f) => {
                self.progress[d.thread] = u64::MAX;
                self.ended = Some(self.ended.map_or(f.ended, |e| e.max(f.ended)));
                self.interrupted += f.interrupted;
                self.thread_cpu.push((f.cpu, f.waited, f.lived));
                self.replay.add(&f.replay);
                self.conn_wait += f.conn_wait;
            }
            None => {
                let done_through = d.tick.min(self.last_tick.saturating_sub(1));
                self.progress[d.thread] = self.progress[d.thread].max(done_through);
            }
        }
        let complete_through = self.progress.iter().copied().min().unwrap_or(0);
        self.timeline
            .close_through(complete_through, self.t0, self.ended);
        self.publish(complete_through);
        (d.thread, d.interval)
    }

    fn publish(&self, tick: u64) {
        let t = &self.total;
        let elapsed = if tick == u64::MAX {
            self.ended.map_or(Duration::ZERO, |e| e - self.t0)
        } else {
            TICK * tick as u32
        };
        let requests = t.requests();
        let secs = elapsed.as_secs_f64();
        let snap = Snapshot {
            elapsed,
            requests,
            successful: t.successful,
            failed: t.failed(),
            bytes_received: t.bytes_received,
            current_rps: self.timeline.last_rps(),
            mean_rps: if secs > 0.0 {
                requests as f64 / secs
            } else {
                0.0
            },
            p50_us: t.latency.value_at_quantile(0.5),
            p75_us: t.latency.value_at_quantile(0.75),
            p90_us: t.latency.value_at_quantile(0.9),
            p95_us: t.latency.value_at_quantile(0.95),
            p99_us: t.latency.value_at_quantile(0.99),
            p999_us: t.latency.value_at_quantile(0.999),
            max_us: t.latency.max(),
            mean_us: t.latency.mean(),
            vus: self.vus.iter().map(|v| v.0).sum(),
            dropped: t.dropped,
            connections_opened: t.connections_opened,
            ttfb: Timing::of(&t.ttfb),
            connect: Timing::of(&t.connect_time),
            tls_handshake: Timing::of(&t.tls_handshake),
            tls_handshakes: t.tls_handshakes,
            tls_resumed: t.tls_resumed,
            messages: t.messages,
            first_message: Timing::of(&t.first_message),
            message_gap: Timing::of(&t.message_gap),
            message_latency: Timing::of(&t.message_latency),
            status: t
                .status
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(c, n)| (crate::transport::Status::from_code(c as u16), *n))
                .collect(),
            errors: crate::transport::ErrorKind::ALL
                .iter()
                .filter(|k| t.errors[k.index()] > 0)
                .map(|k| (k.name(), t.errors[k.index()]))
                .collect(),
            recent: self.timeline.recent(60),
            latency_buckets: if self.buckets {
                latency_buckets(&t.latency)
            } else {
                Vec::new()
            },
            latency_sum_us: t.latency.mean() * t.latency.len() as f64,
            checks: t.checks.clone(),
            schedule_lag: Timing::of(&t.schedule_lag),
            worker_busy: busiest(&self.busy),
            done: tick == u64::MAX,
        };
        self.snapshot.send_replace(snap);
    }

    pub fn finish(mut self) -> Outcome {
        let ended = self.ended.unwrap_or_else(Instant::now);
        self.timeline.close_through(u64::MAX, self.t0, Some(ended));
        Outcome {
            total: self.total,
            timeline: self.timeline.into_seconds(),
            duration: ended.saturating_duration_since(self.t0),
            interrupted: self.interrupted,
            vus_max: self.vus.iter().map(|v| v.1).sum(),
            thread_cpu: self.thread_cpu.clone(),
            replay: self.replay,
            conn_wait: self.conn_wait,
        }
    }
}

/// The next tap request; never, without a tap.
async fn next_tap(
    taps: &mut Option<mpsc::UnboundedReceiver<oneshot::Sender<Outcome>>>,
) -> Option<oneshot::Sender<Outcome>> {
    match taps {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Counts per [`LATENCY_BUCKETS_US`] bucket, plus the overflow bucket.
fn latency_buckets(h: &hdrhistogram::Histogram<u64>) -> Vec<u64> {
    let mut out = Vec::with_capacity(LATENCY_BUCKETS_US.len() + 1);
    let mut below = 0u64;
    for bound in LATENCY_BUCKETS_US {
        // Values equivalent to the bound count as ≤ it, within the histogram's precision.
        let upto = h.count_between(0, bound);
        out.push(upto.saturating_sub(below));
        below = upto;
    }
    out.push(h.len().saturating_sub(below));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_partition_every_value() {
        let mut h = crate::record::new_histogram();
        for v in [100, 900, 1_000, 7_000, 30_000_000] {
            h.record(v).unwrap();
        }
        let b = latency_buckets(&h);
        assert_eq!(b.len(), LATENCY_BUCKETS_US.len() + 1);
        assert_eq!(b.iter().sum::<u64>(), 5);
        assert_eq!((b[0], b[1], b[3], b[4], b[14]), (1, 2, 0, 1, 1));
    }
}
