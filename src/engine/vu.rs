//! Virtual users: a [`Client`] (how a request goes out) driven by a load model's loop (when).
//!
//! This is the request path. It allocates nothing per request (buffers are reused, the
//! static request is pre-rendered), takes no lock and sends on no channel; the recorder is a
//! thread-local `RefCell` borrowed for the few nanoseconds of a record.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::h2::client::SendRequest;
use bytes::Bytes;
use tokio::sync::Notify;

use super::timer::PreciseTimer;
use super::worker::Shared;
use crate::plan::Protocol;
use crate::plan::checks;
use crate::plan::load_model::Shape;
use crate::plan::template::Vars;
use crate::transport::capture::Capture;
use crate::transport::connect::Stream;
use crate::transport::http1::Http1Conn;
use crate::transport::{ErrorKind, Exchange, h2};

fn vars(shared: &Shared) -> Vars {
    Vars {
        request_id: shared.next_request_id(),
        timestamp_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    }
}

/// Opens a connection and records its setup time.
async fn connect(shared: &Shared) -> Result<Stream, ErrorKind> {
    let c0 = Instant::now();
    let stream = shared.connector.connect(shared.next_connection()).await?;
    shared.recorder.borrow_mut().connected(c0.elapsed());
    Ok(stream)
}

/// One HTTP/2 connection shared by up to `streams` VUs of a thread.
#[derive(Default)]
pub(super) struct H2Slot {
    send: RefCell<Option<(u64, SendRequest<Bytes>)>>,
    generation: Cell<u64>,
    connecting: Cell<bool>,
    ready: Notify,
}

impl H2Slot {
    /// The slot's connection, opening it if no other VU is doing so.
    async fn get(&self, shared: &Shared) -> Result<(u64, SendRequest<Bytes>), ErrorKind> {
        loop {
            if let Some(s) = self.send.borrow().as_ref() {
                return Ok(s.clone());
            }
            if self.connecting.get() {
                self.ready.notified().await;
                continue;
            }
            self.connecting.set(true);
            let r = async {
                h2::handshake(connect(shared).await?, shared.plan.protocol_streams()).await
            }
            .await;
            self.connecting.set(false);
            self.ready.notify_waiters();
            let send = r?;
            let g = self.generation.get() + 1;
            self.generation.set(g);
            *self.send.borrow_mut() = Some((g, send.clone()));
            return Ok((g, send));
        }
    }

    /// Drops the connection of generation `g` after a connection-level failure.
    fn fail(&self, g: u64) {
        let mut s = self.send.borrow_mut();
        if s.as_ref().is_some_and(|(cur, _)| *cur == g) {
            *s = None;
        }
    }
}

/// How one VU's requests go out, and what it keeps of responses for checks.
pub(super) struct Client {
    proto: Proto,
    /// Present when the plan has checks.
    capture: Option<Capture>,
}

/// The protocol side of a [`Client`]. Adding a protocol adds a variant here.
enum Proto {
    Http1 {
        conn: Option<Http1Conn>,
        out: Vec<u8>,
        scratch: Vec<u8>,
    },
    H2 {
        slot: Rc<H2Slot>,
        current: Option<(u64, SendRequest<Bytes>)>,
        scratch: Vec<u8>,
    },
}

impl Client {
    /// A client for the thread's VU number `local` (HTTP/2 VUs share slots by number).
    pub fn new(shared: &Shared, local: u64) -> Client {
        let checks = &shared.plan.checks;
        let capture = (!checks.is_empty()).then(|| {
            Capture::new(
                checks.header_names.clone(),
                checks.needs_body,
                checks.body_limit,
            )
        });
        let proto = match shared.plan.protocol {
            Protocol::Http1 => Proto::Http1 {
                conn: None,
                out: Vec::new(),
                scratch: Vec::new(),
            },
            Protocol::Http2 { streams } => Proto::H2 {
                slot: shared.h2_slot(local / streams),
                current: None,
                scratch: Vec::new(),
            },
        };
        Client { proto, capture }
    }

    async fn send(&mut self, shared: &Shared) -> Result<Exchange, ErrorKind> {
        let plan = &shared.plan;
        let req = &plan.request;
        let Client { proto, capture } = self;
        match proto {
            Proto::Http1 { conn, out, scratch } => {
                let outcome = async {
                    if conn.is_none() {
                        *conn = Some(Http1Conn::new(connect(shared).await?));
                    }
                    let bytes: &[u8] = match req.http1.fixed() {
                        Some(b) => b,
                        None => {
                            req.http1.render_into(&vars(shared), out, scratch);
                            out
                        }
                    };
                    let c = conn.as_mut().expect("connected above");
                    match tokio::time::timeout(
                        plan.timeout,
                        c.exchange(bytes, req.is_head(), capture.as_mut()),
                    )
                    .await
                    {
                        Ok(r) => r,
                        Err(_) => Err(ErrorKind::Timeout),
                    }
                }
                .await;
                if !matches!(
                    outcome,
                    Ok(Exchange {
                        keep_alive: true,
                        ..
                    })
                ) {
                    *conn = None;
                }
                outcome
            }
            Proto::H2 {
                slot,
                current,
                scratch,
            } => {
                let outcome = async {
                    if current.is_none() {
                        *current = Some(slot.get(shared).await?);
                    }
                    let (_, send) = current.as_mut().expect("set above");
                    let v = if req.is_static() {
                        Vars::default()
                    } else {
                        vars(shared)
                    };
                    let (request, body) = req.h2_request(&v, scratch);
                    match tokio::time::timeout(
                        plan.timeout,
                        h2::exchange(send, request, body, capture.as_mut()),
                    )
                    .await
                    {
                        Ok(r) => r,
                        Err(_) => Err(ErrorKind::Timeout),
                    }
                }
                .await;
                // A timed-out stream leaves the connection usable; other failures do not.
                if let Err(kind) = outcome
                    && kind != ErrorKind::Timeout
                    && let Some((g, _)) = current.take()
                {
                    slot.fail(g);
                }
                outcome
            }
        }
    }

    /// Sends one request that was due at `intended` and records it.
    pub async fn request(&mut self, shared: &Shared, intended: Instant) {
        let start = Instant::now();
        shared.in_flight.set(shared.in_flight.get() + 1);
        let outcome = self.send(shared).await;
        shared.in_flight.set(shared.in_flight.get() - 1);
        if let Some(capture) = &self.capture {
            judge_checks(shared, capture, &outcome, intended);
        }
        shared.record(intended, start, outcome);
    }
}

/// Judges every check on the response just received (a transport error fails them all).
fn judge_checks(
    shared: &Shared,
    capture: &Capture,
    outcome: &Result<Exchange, ErrorKind>,
    intended: Instant,
) {
    let header = |i: usize| capture.value(i);
    let response = checks::Response {
        status: outcome.as_ref().map_or(0, |e| e.status),
        body: if outcome.is_ok() { &capture.body } else { &[] },
        header: &header,
        latency: intended.elapsed(),
    };
    let got_response = outcome.is_ok();
    let mut rec = shared.recorder.borrow_mut();
    for (i, check) in shared.plan.checks.list.iter().enumerate() {
        rec.check(i, got_response && check.passes(&response));
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// A closed-model VU with global index `j`: active while the VU curve is above `j`; with
/// `-r`, each request takes the thread's next slot of the shared schedule.
pub(super) async fn closed_vu(shared: &Shared, j: u64, mut client: Client) {
    let Shape::Closed {
        vus, think_time, ..
    } = &shared.plan.load.shape
    else {
        return;
    };
    let mut active = false;
    let timer = shared.slots.as_ref().map(|_| PreciseTimer::new());
    // Until when this VU is known to be active: the stage curve is consulted only when its
    // level may have crossed `j`, not on every request.
    let mut active_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if active_until.is_none_or(|u| now >= u) {
            let t = now.saturating_duration_since(shared.t_load);
            match vus.first_above(j as f64, t) {
                None => break,
                Some(at) if at > t => {
                    shared.set_vu_active(&mut active, false);
                    active_until = None;
                    shared.sleep_until(shared.t_load + at).await;
                    continue;
                }
                Some(_) => {
                    shared.set_vu_active(&mut active, true);
                    let until = vus.above_until(j as f64, t);
                    active_until = Some(
                        shared
                            .t_load
                            .checked_add(until)
                            .unwrap_or(now + Duration::from_secs(86_400 * 365)),
                    );
                }
            }
        }
        if shared.wait_if_paused().await {
            continue;
        }
        let intended = match &shared.slots {
            Some(slots) => {
                let Some(off) = slots.borrow_mut().next_arrival() else {
                    break;
                };
                let due = shared.t_load + secs(off);
                if shared.due_in_pause(due) {
                    continue;
                }
                if !shared.may_start(due) {
                    break;
                }
                if let Some(t) = &timer {
                    t.sleep_until(due).await;
                }
                due
            }
            None => {
                if !shared.may_start(now) {
                    break;
                }
                now
            }
        };
        client.request(shared, intended).await;
        if !think_time.is_zero() {
            shared.sleep_until(Instant::now() + *think_time).await;
        }
    }
    shared.set_vu_active(&mut active, false);
}

/// A VU of the open model: waits in its mailbox for an iteration's intended time.
pub(super) struct Mailbox {
    job: Cell<Option<Instant>>,
    closing: Cell<bool>,
    wake: Notify,
}

impl Mailbox {
    pub fn new() -> Rc<Mailbox> {
        Rc::new(Mailbox {
            job: Cell::new(None),
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

pub(super) async fn open_vu(shared: &Shared, mailbox: Rc<Mailbox>, mut client: Client) {
    let mut active = false;
    shared.set_vu_active(&mut active, true);
    loop {
        match mailbox.job.take() {
            Some(due) => {
                client.request(shared, due).await;
                shared.idle.borrow_mut().push(mailbox.clone());
            }
            None if mailbox.closing.get() => break,
            None => mailbox.wake.notified().await,
        }
    }
    shared.set_vu_active(&mut active, false);
}

/// Hands each due iteration of this thread's schedule to a free VU, starting VUs up to the
/// thread's share of `max_vus` and counting the rest as dropped.
pub(super) async fn dispatch(shared: Rc<Shared>, max_vus: u64) {
    let mut schedule = shared.schedule();
    let timer = PreciseTimer::new();
    let mut spawned = 0u64;
    let mut mailboxes: Vec<Rc<Mailbox>> = Vec::new();
    while let Some(off) = schedule.next_arrival() {
        let due = shared.t_load + secs(off);
        if shared.past_end(due) {
            break;
        }
        timer.sleep_until(due).await;
        // Paused when this fell due: skip it, and everything due during the pause.
        if shared.wait_if_paused().await || shared.due_in_pause(due) {
            continue;
        }
        if shared.stopping.get() {
            break;
        }
        let idle = shared.idle.borrow_mut().pop();
        let mailbox = match idle {
            Some(m) => m,
            None if spawned < max_vus => {
                let m = Mailbox::new();
                mailboxes.push(m.clone());
                let client = Client::new(&shared, spawned);
                spawned += 1;
                shared.task_started();
                let (s, mb) = (shared.clone(), m.clone());
                tokio::task::spawn_local(async move {
                    open_vu(&s, mb, client).await;
                    s.task_finished();
                });
                m
            }
            None => {
                shared.dropped(due);
                continue;
            }
        };
        if !shared.may_start(due) {
            shared.idle.borrow_mut().push(mailbox);
            break;
        }
        mailbox.give(due);
    }
    for m in &mailboxes {
        m.close();
    }
}
