//! One virtual user: take a slot, send, record, repeat.
//!
//! This is the request path. It allocates nothing per request (buffers are reused, the
//! static request is pre-rendered), takes no lock and sends on no channel; the recorder is
//! a thread-local `RefCell` borrowed for the few nanoseconds of a record.

use std::cell::{Cell, RefCell};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ::h2::client::SendRequest;
use bytes::Bytes;
use tokio::sync::Notify;

use super::worker::Shared;
use crate::plan::template::Vars;
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

/// Records the outcome of one request that started (was due) at `start`.
fn record(shared: &Shared, start: Instant, outcome: Result<Exchange, ErrorKind>) {
    let end = Instant::now();
    let elapsed = end - start;
    let mut rec = shared.recorder.borrow_mut();
    match outcome {
        Ok(ex) => rec.response(
            ex.status,
            elapsed,
            elapsed,
            ex.first_byte.saturating_duration_since(start),
            ex.bytes,
        ),
        Err(kind) => rec.error(kind, elapsed),
    }
}

/// Opens a connection and records its setup time.
async fn connect(shared: &Shared) -> Result<crate::transport::connect::Stream, ErrorKind> {
    let c0 = Instant::now();
    let stream = shared.connector.connect(shared.next_connection()).await?;
    shared.recorder.borrow_mut().connected(c0.elapsed());
    Ok(stream)
}

pub(super) async fn http1_loop(shared: &Shared) {
    let plan = &shared.plan;
    let req = &plan.request;
    let is_head = req.is_head();
    let dynamic = req.http1.fixed().is_none();
    let mut conn: Option<Http1Conn> = None;
    let (mut out, mut scratch) = (Vec::new(), Vec::new());
    loop {
        let start = Instant::now();
        if !shared.may_start(start) {
            break;
        }
        shared.in_flight.set(shared.in_flight.get() + 1);
        let outcome = async {
            if conn.is_none() {
                conn = Some(Http1Conn::new(connect(shared).await?));
            }
            let bytes: &[u8] = if dynamic {
                req.http1.render_into(&vars(shared), &mut out, &mut scratch);
                &out
            } else {
                req.http1.fixed().unwrap_or_default()
            };
            let c = conn.as_mut().expect("connected above");
            match tokio::time::timeout(plan.timeout, c.exchange(bytes, is_head)).await {
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
            conn = None;
        }
        record(shared, start, outcome);
        shared.in_flight.set(shared.in_flight.get() - 1);
    }
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
                let stream = connect(shared).await?;
                h2::handshake(stream, shared.plan.protocol_streams()).await
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

pub(super) async fn h2_loop(shared: &Shared, slot: &H2Slot) {
    let plan = &shared.plan;
    let req = &plan.request;
    let dynamic = !req.is_static();
    let mut scratch = Vec::new();
    let mut current: Option<(u64, SendRequest<Bytes>)> = None;
    loop {
        let start = Instant::now();
        if !shared.may_start(start) {
            break;
        }
        shared.in_flight.set(shared.in_flight.get() + 1);
        let outcome = async {
            if current.is_none() {
                current = Some(slot.get(shared).await?);
            }
            let (_, send) = current.as_mut().expect("set above");
            let v = if dynamic {
                vars(shared)
            } else {
                Vars::default()
            };
            let (request, body) = req.h2_request(&v, &mut scratch);
            match tokio::time::timeout(plan.timeout, h2::exchange(send, request, body)).await {
                Ok(r) => r,
                Err(_) => Err(ErrorKind::Timeout),
            }
        }
        .await;
        if let Err(kind) = outcome {
            // Stream-level problems leave the connection usable; the rest do not.
            if !matches!(kind, ErrorKind::Timeout)
                && let Some((g, _)) = current.take()
            {
                slot.fail(g);
            }
        }
        record(shared, start, outcome);
        shared.in_flight.set(shared.in_flight.get() - 1);
    }
}
