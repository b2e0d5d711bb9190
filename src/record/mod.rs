//! Per-thread latency and counter storage.
//!
//! Never allocates, locks or sends per request: each worker thread owns one [`Recorder`] and
//! the aggregator takes the thread's [`Interval`] by swap every 100 ms, returning the emptied
//! one for reuse. Memory is fixed by the histogram bounds, never by the number of requests.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::transport::{ErrorKind, Setup, Status};

/// Lowest trackable value: 1 µs.
pub const HIST_LOW_US: u64 = 1;
/// Highest trackable value: 1 hour in µs. Larger values saturate and are counted.
pub const HIST_HIGH_US: u64 = 3_600_000_000;
/// Significant figures kept: 0.1% value resolution.
pub const HIST_SIGFIG: u8 = 3;

/// A new empty histogram with the run-wide bounds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(HIST_LOW_US, HIST_HIGH_US, HIST_SIGFIG)
        .expect("constant bounds are valid")
}

const SAME_BOUNDS: &str = "every histogram of a run has the same bounds";

/// Status codes are counted in a flat array: HTTP's below 600 (anything outside 100..=599 is
/// a protocol error), then gRPC's (see `Status::code`).
pub const STATUS_SLOTS: usize = Status::SLOTS;

/// What one scenario of a `[[scenarios]]` mix measured (the run's totals include it).
#[derive(Debug, Clone)]
pub struct ScenarioInterval {
    pub latency: Histogram<u64>,
    pub responses: u64,
    pub successful: u64,
    pub status: Box<[u64; STATUS_SLOTS]>,
    pub errors: [u64; ErrorKind::COUNT],
    pub bytes_received: u64,
    /// Per extraction of the scenario, in order: responses it found nothing in.
    pub extraction_failed: Vec<u64>,
    /// Iterations not sent because a value the request reads was missing.
    pub missing_values: u64,
    /// Redirect hops followed.
    pub redirects: u64,
    /// Per check (all of the plan's, by index): [passes, failures] on this scenario.
    pub checks: Vec<[u64; 2]>,
}

impl Default for ScenarioInterval {
    fn default() -> Self {
        ScenarioInterval {
            latency: new_histogram(),
            responses: 0,
            successful: 0,
            status: Box::new([0; STATUS_SLOTS]),
            errors: [0; ErrorKind::COUNT],
            bytes_received: 0,
            extraction_failed: Vec::new(),
            missing_values: 0,
            redirects: 0,
            checks: Vec::new(),
        }
    }
}

fn add_counts(a: &mut Vec<u64>, b: &[u64]) {
    if a.len() < b.len() {
        a.resize(b.len(), 0);
    }
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

fn add_pairs(a: &mut Vec<[u64; 2]>, b: &[[u64; 2]]) {
    if a.len() < b.len() {
        a.resize(b.len(), [0, 0]);
    }
    for (x, y) in a.iter_mut().zip(b) {
        x[0] += y[0];
        x[1] += y[1];
    }
}

impl ScenarioInterval {
    pub fn requests(&self) -> u64 {
        self.responses + self.errors.iter().sum::<u64>()
    }

    pub fn merge(&mut self, o: &ScenarioInterval) {
        self.latency.add(&o.latency).expect(SAME_BOUNDS);
        self.responses += o.responses;
        self.successful += o.successful;
        for (a, b) in self.status.iter_mut().zip(o.status.iter()) {
            *a += b;
        }
        for (a, b) in self.errors.iter_mut().zip(o.errors.iter()) {
            *a += b;
        }
        self.bytes_received += o.bytes_received;
        add_counts(&mut self.extraction_failed, &o.extraction_failed);
        self.missing_values += o.missing_values;
        self.redirects += o.redirects;
        add_pairs(&mut self.checks, &o.checks);
    }

    fn clear(&mut self) {
        self.latency.reset();
        self.responses = 0;
        self.successful = 0;
        self.status.fill(0);
        self.errors = [0; ErrorKind::COUNT];
        self.bytes_received = 0;
        self.extraction_failed.fill(0);
        self.missing_values = 0;
        self.redirects = 0;
        self.checks.fill([0, 0]);
    }
}

/// Everything measured during one interval on one thread.
#[derive(Debug, Clone)]
pub struct Interval {
    /// Completion − intended send time (equals service time in closed models).
    pub latency: Histogram<u64>,
    /// Actual send → last byte of the response.
    pub service_time: Histogram<u64>,
    /// Actual send → first byte of the response.
    pub ttfb: Histogram<u64>,
    /// TCP (+TLS) connection establishment.
    pub connect_time: Histogram<u64>,
    /// The TLS handshake with the target, on its own.
    pub tls_handshake: Histogram<u64>,
    /// TLS handshakes with the target, and how many of them resumed a session.
    pub tls_handshakes: u64,
    pub tls_resumed: u64,
    /// Actual send − intended send (only in models with a schedule).
    pub schedule_lag: Histogram<u64>,
    /// Requests that got a response (any status).
    pub responses: u64,
    /// Responses with status < 400.
    pub successful: u64,
    pub status: Box<[u64; STATUS_SLOTS]>,
    pub errors: [u64; ErrorKind::COUNT],
    pub bytes_received: u64,
    pub connections_opened: u64,
    /// Values above the histogram's upper bound, recorded at the bound.
    pub saturated: u64,
    /// Open-model iterations that found no free VU.
    pub dropped: u64,
    /// Per check (by index): [passes, failures].
    pub checks: Vec<[u64; 2]>,
    /// Redirect hops followed (each final response is counted once above).
    pub redirects: u64,
    /// Per scenario (by index) when the plan has `[[scenarios]]`; empty otherwise.
    pub scenarios: Vec<ScenarioInterval>,
    /// Messages received (gRPC reply messages, WebSocket replies).
    pub messages: u64,
    /// Intended send (actual send without latency correction) → first message complete.
    pub first_message: Histogram<u64>,
    /// Between consecutive messages of one reply (stream messages, SSE events, chunks).
    pub message_gap: Histogram<u64>,
    /// Request message k's send → reply message k (bidirectional gRPC streams).
    pub message_latency: Histogram<u64>,
    /// Gauges set by the worker when it hands the interval over (not summed by `merge`).
    pub vus: u64,
    pub vus_max: u64,
}

impl Default for Interval {
    fn default() -> Self {
        Interval {
            latency: new_histogram(),
            service_time: new_histogram(),
            ttfb: new_histogram(),
            connect_time: new_histogram(),
            tls_handshake: new_histogram(),
            tls_handshakes: 0,
            tls_resumed: 0,
            schedule_lag: new_histogram(),
            responses: 0,
            successful: 0,
            status: Box::new([0; STATUS_SLOTS]),
            errors: [0; ErrorKind::COUNT],
            bytes_received: 0,
            connections_opened: 0,
            saturated: 0,
            dropped: 0,
            checks: Vec::new(),
            redirects: 0,
            scenarios: Vec::new(),
            messages: 0,
            first_message: new_histogram(),
            message_gap: new_histogram(),
            message_latency: new_histogram(),
            vus: 0,
            vus_max: 0,
        }
    }
}

impl Interval {
    /// Requests that completed, with a response or an error.
    pub fn requests(&self) -> u64 {
        self.responses + self.errors.iter().sum::<u64>()
    }

    pub fn failed(&self) -> u64 {
        self.requests() - self.successful
    }

    /// Adds `other` into `self` (histograms and counters).
    pub fn merge(&mut self, other: &Interval) {
        self.latency.add(&other.latency).expect(SAME_BOUNDS);
        self.service_time
            .add(&other.service_time)
            .expect(SAME_BOUNDS);
        self.ttfb.add(&other.ttfb).expect(SAME_BOUNDS);
        self.connect_time
            .add(&other.connect_time)
            .expect(SAME_BOUNDS);
        self.tls_handshake
            .add(&other.tls_handshake)
            .expect(SAME_BOUNDS);
        self.tls_handshakes += other.tls_handshakes;
        self.tls_resumed += other.tls_resumed;
        self.schedule_lag
            .add(&other.schedule_lag)
            .expect(SAME_BOUNDS);
        self.responses += other.responses;
        self.successful += other.successful;
        for (a, b) in self.status.iter_mut().zip(other.status.iter()) {
            *a += b;
        }
        for (a, b) in self.errors.iter_mut().zip(other.errors.iter()) {
            *a += b;
        }
        self.bytes_received += other.bytes_received;
        self.connections_opened += other.connections_opened;
        self.saturated += other.saturated;
        self.dropped += other.dropped;
        add_pairs(&mut self.checks, &other.checks);
        self.redirects += other.redirects;
        if self.scenarios.len() < other.scenarios.len() {
            self.scenarios
                .resize_with(other.scenarios.len(), ScenarioInterval::default);
        }
        for (a, b) in self.scenarios.iter_mut().zip(&other.scenarios) {
            a.merge(b);
        }
        self.messages += other.messages;
        self.first_message
            .add(&other.first_message)
            .expect(SAME_BOUNDS);
        self.merge_gaps(&other.message_gap);
        self.message_latency
            .add(&other.message_latency)
            .expect(SAME_BOUNDS);
    }

    /// Adds gaps between messages (from the transport's per-thread histogram, which has the
    /// same bounds).
    pub fn merge_gaps(&mut self, gaps: &Histogram<u64>) {
        self.message_gap.add(gaps).expect(SAME_BOUNDS);
    }

    /// Empties the interval for reuse without freeing its memory.
    pub fn clear(&mut self) {
        self.latency.reset();
        self.service_time.reset();
        self.ttfb.reset();
        self.connect_time.reset();
        self.tls_handshake.reset();
        self.tls_handshakes = 0;
        self.tls_resumed = 0;
        self.schedule_lag.reset();
        self.responses = 0;
        self.successful = 0;
        self.status.fill(0);
        self.errors = [0; ErrorKind::COUNT];
        self.bytes_received = 0;
        self.connections_opened = 0;
        self.saturated = 0;
        self.dropped = 0;
        // Keep the length: the next interval records the same checks without reallocating.
        self.checks.fill([0, 0]);
        self.redirects = 0;
        for s in &mut self.scenarios {
            s.clear();
        }
        self.messages = 0;
        self.first_message.reset();
        self.message_gap.reset();
        self.message_latency.reset();
        self.vus = 0;
        self.vus_max = 0;
    }
}

/// Microseconds in a duration, at least 1 so a sub-microsecond exchange is still counted.
fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(HIST_LOW_US)
}

/// The recording side of one thread.
#[derive(Debug, Default)]
pub struct Recorder {
    current: Interval,
}

impl Recorder {
    fn record_hist(h: &mut Histogram<u64>, v: Duration, saturated: &mut u64) {
        let us = micros(v);
        if us > HIST_HIGH_US {
            *saturated += 1;
        }
        h.saturating_record(us);
    }

    /// Records a response.
    pub fn response(
        &mut self,
        status: u16,
        latency: Duration,
        service: Duration,
        ttfb: Duration,
        bytes: u64,
    ) {
        let iv = &mut self.current;
        Self::record_hist(&mut iv.latency, latency, &mut iv.saturated);
        Self::record_hist(&mut iv.service_time, service, &mut iv.saturated);
        Self::record_hist(&mut iv.ttfb, ttfb, &mut iv.saturated);
        iv.responses += 1;
        if Status::from_code(status).is_ok() {
            iv.successful += 1;
        }
        iv.status[usize::from(status).min(STATUS_SLOTS - 1)] += 1;
        iv.bytes_received += bytes;
    }

    /// Records the messages of a reply (gRPC, WebSocket) and when the first was complete.
    pub fn messages(&mut self, n: u32, first: Option<Duration>) {
        let iv = &mut self.current;
        iv.messages += u64::from(n);
        if let Some(d) = first {
            Self::record_hist(&mut iv.first_message, d, &mut iv.saturated);
        }
    }

    /// Records a request that ended in a transport error. Its latency is recorded too: a
    /// timeout is a slow request, not a missing one.
    pub fn error(&mut self, kind: ErrorKind, latency: Duration) {
        let iv = &mut self.current;
        Self::record_hist(&mut iv.latency, latency, &mut iv.saturated);
        iv.errors[kind.index()] += 1;
    }

    pub fn connected(&mut self, setup: Setup) {
        let iv = &mut self.current;
        Self::record_hist(&mut iv.connect_time, setup.total, &mut iv.saturated);
        iv.connections_opened += 1;
        if let Some(tls) = setup.tls {
            Self::record_hist(&mut iv.tls_handshake, tls.time, &mut iv.saturated);
            iv.tls_handshakes += 1;
            iv.tls_resumed += u64::from(tls.resumed);
        }
    }

    /// Records how late a request was sent relative to its intended time.
    pub fn lag(&mut self, lag: Duration) {
        let iv = &mut self.current;
        Self::record_hist(&mut iv.schedule_lag, lag, &mut iv.saturated);
    }

    /// Records one check's verdict on one response.
    pub fn check(&mut self, index: usize, passed: bool) {
        let checks = &mut self.current.checks;
        if checks.len() <= index {
            checks.resize(index + 1, [0, 0]);
        }
        checks[index][usize::from(!passed)] += 1;
    }

    /// The interval of scenario `i` (grown on first use; kept across intervals).
    pub fn scenario(&mut self, i: usize) -> &mut ScenarioInterval {
        let s = &mut self.current.scenarios;
        if s.len() <= i {
            s.resize_with(i + 1, ScenarioInterval::default);
        }
        &mut s[i]
    }

    /// Records scenario `i`'s share of a request already recorded in the totals.
    pub fn scenario_outcome(
        &mut self,
        i: usize,
        outcome: Result<(u16, u64), ErrorKind>,
        latency: Duration,
    ) {
        let s = self.scenario(i);
        s.latency.saturating_record(micros(latency));
        match outcome {
            Ok((status, bytes)) => {
                s.responses += 1;
                if Status::from_code(status).is_ok() {
                    s.successful += 1;
                }
                s.status[usize::from(status).min(STATUS_SLOTS - 1)] += 1;
                s.bytes_received += bytes;
            }
            Err(kind) => s.errors[kind.index()] += 1,
        }
    }

    /// Records one check's verdict on scenario `i`'s response.
    pub fn scenario_check(&mut self, i: usize, index: usize, passed: bool) {
        let checks = &mut self.scenario(i).checks;
        if checks.len() <= index {
            checks.resize(index + 1, [0, 0]);
        }
        checks[index][usize::from(!passed)] += 1;
    }

    /// Extraction `e` of scenario `i` found nothing.
    pub fn extraction_failed(&mut self, i: usize, e: usize) {
        let f = &mut self.scenario(i).extraction_failed;
        if f.len() <= e {
            f.resize(e + 1, 0);
        }
        f[e] += 1;
    }

    /// `hops` redirects were followed for one request of scenario `i` (`None`: no scenarios).
    pub fn redirects(&mut self, i: Option<usize>, hops: u64) {
        self.current.redirects += hops;
        if let Some(i) = i {
            self.scenario(i).redirects += hops;
        }
    }

    pub fn dropped(&mut self) {
        self.current.dropped += 1;
    }

    /// Swaps out the current interval for `empty` (which must be cleared).
    pub fn take(&mut self, empty: Interval) -> Interval {
        std::mem::replace(&mut self.current, empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_merges() {
        let mut r = Recorder::default();
        let ms = Duration::from_millis;
        r.response(200, ms(5), ms(5), ms(1), 100);
        r.response(503, ms(7), ms(7), ms(2), 50);
        r.error(ErrorKind::Timeout, ms(30));
        r.connected(Setup {
            total: ms(1),
            tls: None,
        });
        r.connected(Setup {
            total: ms(3),
            tls: Some(crate::transport::Handshake {
                time: ms(2),
                resumed: true,
            }),
        });
        let a = r.take(Interval::default());
        assert_eq!(a.connections_opened, 2);
        assert_eq!((a.tls_handshakes, a.tls_resumed), (1, 1));
        assert_eq!(a.tls_handshake.len(), 1);
        assert_eq!(a.requests(), 3);
        assert_eq!(a.successful, 1);
        assert_eq!(a.failed(), 2);
        assert_eq!(a.status[200], 1);
        assert_eq!(a.status[503], 1);
        assert_eq!(a.errors[ErrorKind::Timeout.index()], 1);
        assert_eq!(a.latency.len(), 3);
        assert_eq!(a.service_time.len(), 2);
        let mut total = Interval::default();
        total.merge(&a);
        total.merge(&a);
        assert_eq!(total.requests(), 6);
        assert_eq!((total.tls_handshakes, total.tls_handshake.len()), (2, 2));
        assert_eq!(total.bytes_received, 300);
        total.clear();
        assert_eq!(total.requests(), 0);
        assert_eq!(total.latency.len(), 0);
    }

    #[test]
    fn saturates_and_counts_huge_values() {
        let mut r = Recorder::default();
        r.error(ErrorKind::Timeout, Duration::from_secs(7200));
        let a = r.take(Interval::default());
        assert_eq!(a.saturated, 1);
        assert!(a.latency.max() >= HIST_HIGH_US);
    }
}
