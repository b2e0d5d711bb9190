//! One HTTP/2 client connection, shared by the VUs of one thread as streams.
//!
//! The state lives in a `RefCell` on the worker's thread: VUs write their HEADERS (and DATA)
//! frames straight into the connection's output buffer and wait on their stream slot; one
//! driver task per connection writes the buffer out (all the frames queued since its last
//! turn in one `write`) and parses what the server sent from a reused read buffer, filling in
//! each stream's status, byte count and captured headers and body, and waking its VU.
//!
//! Why not the `h2` crate: its client builds a `HeaderMap` for every request and response,
//! allocates stream state and frames, and takes its internal mutex several times a stream.
//! Against nginx (`bench/`, case 4) that made ~25,000 user-space instructions per request on
//! the worker (callgrind), about five times our HTTP/1.1 codec, and kept us below h2load.
//!
//! What is implemented of RFC 9113: the preface and SETTINGS (both ways, with ACKs), HEADERS
//! and CONTINUATION with HPACK, DATA with padding, flow control both ways (we advertise
//! windows of 2^30 − 1, as h2load does, and return them in large batches), PING, RST_STREAM,
//! GOAWAY (streams it did not accept are retried on a new connection), informational 1xx
//! heads and trailers. Push is disabled in our SETTINGS; priority frames are ignored.

use std::cell::RefCell;
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::hpack;
use crate::transport::capture::Capture;
use crate::transport::messages::{Gaps, Messages, Split};
use crate::transport::stream::Stream;
use crate::transport::{ErrorKind, Outcome, Status};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Frame types.
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PUSH_PROMISE: u8 = 0x5;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

// Flags.
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

// Error codes.
const REFUSED_STREAM: u32 = 0x7;
const CANCEL: u32 = 0x8;

/// The windows we advertise, for each stream and the connection.
const WINDOW: u32 = (1 << 30) - 1;
/// Received bytes are given back once this many have been consumed.
const RETURN_AT: u32 = 1 << 29;
/// The largest frame we accept: SETTINGS_MAX_FRAME_SIZE's default, which we keep.
const MAX_FRAME: usize = 16_384;
/// The highest client stream id.
const MAX_STREAM_ID: u32 = (1 << 31) - 1;

/// Why a stream ended without a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamError {
    /// The server did not process the request (GOAWAY below its id, REFUSED_STREAM): safe
    /// to send again on another connection.
    Refused,
    /// The connection stopped taking streams before this request got one: nothing was sent.
    NotSent,
    /// The request failed; counted under this kind.
    Failed(ErrorKind),
}

impl From<ErrorKind> for StreamError {
    fn from(k: ErrorKind) -> StreamError {
        StreamError::Failed(k)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Free,
    Open,
    Done,
    Failed(StreamError),
}

/// One stream's slot, reused by the streams that follow it.
struct Slot {
    id: u32,
    phase: Phase,
    status: u16,
    /// Frame bytes (headers and payload) received for this stream.
    bytes: u64,
    first_byte: Option<Instant>,
    /// The VU's capture, swapped in for the stream's lifetime when it wants one.
    capture: Capture,
    capturing: bool,
    /// Whether the final (non-1xx) head has arrived.
    headed: bool,
    waker: Option<Waker>,
    send_window: i64,
    recv_unreturned: u32,
    /// Request body bytes not yet sent (flow control holds them).
    body: Vec<u8>,
    body_sent: usize,
    /// Body bytes the VU has released so far (a paced client stream releases one message
    /// at a time); the stream ends when all of `body` is sent.
    body_ready: usize,
    /// When each released request message went out (paced gRPC streams), and how many
    /// replies have been matched to them for per-message latency.
    sent: Vec<Instant>,
    replies_timed: usize,
    /// This stream's reply messages are timed against its request messages (`sent`).
    timed: bool,
    /// gRPC: the `grpc-status` received (in trailers, or a trailers-only response).
    grpc_status: Option<u8>,
    /// The reply's messages (gRPC, SSE events, chunks), split out of its DATA frames.
    messages: Messages,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            id: 0,
            phase: Phase::Free,
            status: 0,
            bytes: 0,
            first_byte: None,
            capture: Capture::default(),
            capturing: false,
            headed: false,
            waker: None,
            send_window: 0,
            recv_unreturned: 0,
            body: Vec::new(),
            body_sent: 0,
            body_ready: 0,
            sent: Vec::new(),
            replies_timed: 0,
            timed: false,
            grpc_status: None,
            messages: Messages::default(),
        }
    }

    fn finish(&mut self, phase: Phase) {
        if self.phase == Phase::Open {
            self.phase = phase;
            if let Some(w) = self.waker.take() {
                w.wake();
            }
        }
    }
}

struct State {
    /// Frames waiting to be written; `out[written..]` is still to go.
    out: Vec<u8>,
    written: usize,
    slots: Vec<Slot>,
    free: Vec<usize>,
    open: usize,
    next_id: u32,
    peer_max_streams: usize,
    peer_initial_window: i64,
    peer_max_frame: usize,
    send_window: i64,
    recv_unreturned: u32,
    decoder: hpack::Decoder,
    /// A header block being assembled from HEADERS + CONTINUATION: its stream and flags.
    block: Vec<u8>,
    block_stream: u32,
    block_end_stream: bool,
    /// Set when the connection is finished: every stream fails with it.
    dead: Option<ErrorKind>,
    /// Set by GOAWAY (or when ids run out): no new streams.
    closing: bool,
    /// Whether the server's first SETTINGS has arrived. Streams wait for it, so that its
    /// MAX_CONCURRENT_STREAMS and windows apply from the first request (one round trip per
    /// connection, instead of streams the server would have to refuse).
    settled: bool,
    driver: Option<Waker>,
    driver_woken: bool,
    waiting: Vec<Waker>,
    gaps: Gaps,
    /// Latency of each reply message matched to the request message of the same index
    /// (bidirectional gRPC streams): the thread's histogram, as `gaps`.
    latency: Option<Gaps>,
}

/// A shared HTTP/2 connection (one per `--h2-streams` VUs of a thread).
pub struct Conn {
    st: RefCell<State>,
}

fn frame_head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
}

fn window_update(out: &mut Vec<u8>, stream: u32, n: u32) {
    frame_head(out, 4, WINDOW_UPDATE, 0, stream);
    out.extend_from_slice(&n.to_be_bytes());
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl State {
    fn wake_driver(&mut self) {
        if !self.driver_woken {
            self.driver_woken = true;
            if let Some(w) = &self.driver {
                w.wake_by_ref();
            }
        }
    }

    fn slot_of(&mut self, id: u32) -> Option<&mut Slot> {
        self.slots
            .iter_mut()
            .find(|s| s.id == id && s.phase == Phase::Open)
    }

    /// Ends the connection: every open stream fails with `kind`, waiters wake.
    fn fail(&mut self, kind: ErrorKind) {
        if self.dead.is_none() {
            self.dead = Some(kind);
        }
        for s in &mut self.slots {
            s.finish(Phase::Failed(StreamError::Failed(kind)));
        }
        for w in self.waiting.drain(..) {
            w.wake();
        }
    }

    /// Sends as much of each stream's pending body as the windows allow.
    fn push_bodies(&mut self) {
        let State {
            slots,
            out,
            send_window,
            peer_max_frame,
            ..
        } = self;
        for s in slots.iter_mut().filter(|s| s.phase == Phase::Open) {
            while s.body_sent < s.body_ready {
                let room = (*send_window)
                    .min(s.send_window)
                    .min(*peer_max_frame as i64);
                if room <= 0 {
                    break;
                }
                let n = (s.body_ready - s.body_sent).min(room as usize);
                let last = s.body_sent + n == s.body.len();
                frame_head(out, n, DATA, if last { END_STREAM } else { 0 }, s.id);
                out.extend_from_slice(&s.body[s.body_sent..s.body_sent + n]);
                s.body_sent += n;
                *send_window -= n as i64;
                s.send_window -= n as i64;
            }
        }
    }

    /// Handles every complete frame at the front of `buf`; returns the bytes consumed.
    fn on_frames(&mut self, buf: &[u8], now: Instant) -> Result<usize, ErrorKind> {
        let mut pos = 0;
        while buf.len() - pos >= 9 {
            let h = &buf[pos..pos + 9];
            let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
            if len > MAX_FRAME {
                return Err(ErrorKind::Protocol);
            }
            if buf.len() - pos < 9 + len {
                break;
            }
            let (kind, flags) = (h[3], h[4]);
            let stream = be32(&h[5..9]) & MAX_STREAM_ID;
            let payload = &buf[pos + 9..pos + 9 + len];
            pos += 9 + len;
            if self.block_stream != 0 && kind != CONTINUATION {
                return Err(ErrorKind::Protocol);
            }
            self.on_frame(kind, flags, stream, payload, now)?;
        }
        Ok(pos)
    }

    fn on_frame(
        &mut self,
        kind: u8,
        flags: u8,
        stream: u32,
        payload: &[u8],
        now: Instant,
    ) -> Result<(), ErrorKind> {
        let frame_bytes = 9 + payload.len() as u64;
        match kind {
            DATA => {
                let n = payload.len() as u32;
                self.recv_unreturned += n;
                if self.recv_unreturned >= RETURN_AT {
                    let n = std::mem::take(&mut self.recv_unreturned);
                    window_update(&mut self.out, 0, n);
                    self.wake_driver();
                }
                let data = unpad(flags, payload)?;
                // Borrowed field by field (not through `slot_of`) so the histograms are
                // reached without touching their reference counts on every frame.
                let State {
                    slots,
                    gaps,
                    latency,
                    ..
                } = &mut *self;
                let Some(s) = slots
                    .iter_mut()
                    .find(|s| s.id == stream && s.phase == Phase::Open)
                else {
                    return Ok(()); // a cancelled stream's late data
                };
                s.bytes += frame_bytes;
                s.messages.data(data, now, gaps);
                if !data.is_empty() {
                    s.messages.chunk(now, gaps);
                }
                if let Some(latency) = latency {
                    // Reply k answers request message k: its latency is from k's send. Sent
                    // together (no --stream-interval), every message went at the start;
                    // replies beyond the messages sent so far answer the latest one.
                    while s.replies_timed < s.messages.count as usize {
                        if let Some(t) = s.sent.get(s.replies_timed).or(s.sent.last()) {
                            latency.record(now.saturating_duration_since(*t));
                        }
                        s.replies_timed += 1;
                    }
                }
                if s.capturing {
                    s.capture.body_data(data);
                }
                if flags & END_STREAM != 0 {
                    s.finish(if s.headed {
                        Phase::Done
                    } else {
                        Phase::Failed(StreamError::Failed(ErrorKind::Protocol))
                    });
                    return Ok(());
                }
                s.recv_unreturned += n;
                if s.recv_unreturned >= RETURN_AT {
                    let n = std::mem::take(&mut s.recv_unreturned);
                    window_update(&mut self.out, stream, n);
                    self.wake_driver();
                }
            }
            HEADERS => {
                if stream == 0 {
                    return Err(ErrorKind::Protocol);
                }
                let mut frag = unpad(flags, payload)?;
                if flags & PRIORITY != 0 {
                    frag = frag.get(5..).ok_or(ErrorKind::Protocol)?;
                }
                if let Some(s) = self.slot_of(stream) {
                    s.bytes += frame_bytes;
                    s.first_byte.get_or_insert(now);
                }
                let end_stream = flags & END_STREAM != 0;
                if flags & END_HEADERS != 0 {
                    self.on_block(stream, frag, end_stream)?;
                } else {
                    self.block.clear();
                    self.block.extend_from_slice(frag);
                    self.block_stream = stream;
                    self.block_end_stream = end_stream;
                }
            }
            CONTINUATION => {
                if stream != self.block_stream || stream == 0 {
                    return Err(ErrorKind::Protocol);
                }
                if let Some(s) = self.slot_of(stream) {
                    s.bytes += frame_bytes;
                }
                self.block.extend_from_slice(payload);
                if flags & END_HEADERS != 0 {
                    let block = std::mem::take(&mut self.block);
                    self.block_stream = 0;
                    let r = self.on_block(stream, &block, self.block_end_stream);
                    self.block = block;
                    r?;
                }
            }
            RST_STREAM => {
                let code = be32(payload.get(..4).ok_or(ErrorKind::Protocol)?);
                if let Some(s) = self.slot_of(stream) {
                    s.finish(Phase::Failed(if code == REFUSED_STREAM {
                        StreamError::Refused
                    } else {
                        StreamError::Failed(ErrorKind::Reset)
                    }));
                }
            }
            SETTINGS if flags & ACK == 0 => {
                self.on_settings(payload)?;
                frame_head(&mut self.out, 0, SETTINGS, ACK, 0);
                self.wake_driver();
                if !self.settled {
                    self.settled = true;
                    for w in self.waiting.drain(..) {
                        w.wake();
                    }
                }
            }
            PUSH_PROMISE => return Err(ErrorKind::Protocol), // we disabled push
            PING if flags & ACK == 0 => {
                let data = payload.get(..8).ok_or(ErrorKind::Protocol)?;
                frame_head(&mut self.out, 8, PING, ACK, 0);
                self.out.extend_from_slice(data);
                self.wake_driver();
            }
            GOAWAY => {
                let last = be32(payload.get(..4).ok_or(ErrorKind::Protocol)?) & MAX_STREAM_ID;
                self.closing = true;
                for s in &mut self.slots {
                    if s.id > last {
                        s.finish(Phase::Failed(StreamError::Refused));
                    }
                }
                for w in self.waiting.drain(..) {
                    w.wake();
                }
            }
            WINDOW_UPDATE => {
                let inc =
                    i64::from(be32(payload.get(..4).ok_or(ErrorKind::Protocol)?) & MAX_STREAM_ID);
                if stream == 0 {
                    self.send_window += inc;
                } else if let Some(s) = self.slot_of(stream) {
                    s.send_window += inc;
                }
                self.push_bodies();
                self.wake_driver();
            }
            // SETTINGS and PING acknowledgements, PRIORITY and unknown frame types (RFC 9113
            // §4.1, §5.5) need nothing.
            _ => {}
        }
        Ok(())
    }

    fn on_settings(&mut self, payload: &[u8]) -> Result<(), ErrorKind> {
        if !payload.len().is_multiple_of(6) {
            return Err(ErrorKind::Protocol);
        }
        for p in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([p[0], p[1]]);
            let v = be32(&p[2..]);
            match id {
                0x3 => self.peer_max_streams = v as usize,
                0x4 => {
                    if v > MAX_STREAM_ID {
                        return Err(ErrorKind::Protocol);
                    }
                    let delta = i64::from(v) - self.peer_initial_window;
                    self.peer_initial_window = i64::from(v);
                    for s in self.slots.iter_mut().filter(|s| s.phase == Phase::Open) {
                        s.send_window += delta;
                    }
                }
                0x5 => {
                    if !(16_384..=16_777_215).contains(&v) {
                        return Err(ErrorKind::Protocol);
                    }
                    self.peer_max_frame = v as usize;
                }
                // HEADER_TABLE_SIZE: our encoder uses no dynamic table, so any size suits it.
                _ => {}
            }
        }
        self.push_bodies();
        Ok(())
    }

    /// A complete header block for `stream`: decoded (always, to keep the HPACK table in
    /// step), and applied to the stream if it is still ours.
    fn on_block(&mut self, stream: u32, block: &[u8], end_stream: bool) -> Result<(), ErrorKind> {
        let State { decoder, slots, .. } = self;
        let slot = slots
            .iter_mut()
            .find(|s| s.id == stream && s.phase == Phase::Open);
        let Some(s) = slot else {
            return decoder
                .decode(block, |_, _| {})
                .map_err(|_| ErrorKind::Protocol);
        };
        let trailers = s.headed;
        let mut status = 0u16;
        let mut keep = false;
        let Slot {
            capture,
            capturing,
            grpc_status,
            ..
        } = s;
        decoder
            .decode(block, |name, value| {
                if name == b"grpc-status" {
                    *grpc_status = parse_grpc_status(value);
                }
                if name == b":status" {
                    status = parse_status(value);
                    keep = *capturing
                        && !(100..200).contains(&status)
                        && capture.wants_headers(status);
                } else if keep && !name.starts_with(b":") {
                    capture.header(name, value);
                }
            })
            .map_err(|_| ErrorKind::Protocol)?;
        if !trailers {
            if status == 0 {
                s.finish(Phase::Failed(StreamError::Failed(ErrorKind::Protocol)));
                return Ok(());
            }
            if (100..200).contains(&status) {
                // An informational head: the real one follows.
                return Ok(());
            }
            s.status = status;
            s.headed = true;
        }
        if end_stream {
            s.finish(Phase::Done);
        }
        Ok(())
    }
}

/// The payload of a DATA or HEADERS frame without its padding.
fn unpad(flags: u8, payload: &[u8]) -> Result<&[u8], ErrorKind> {
    if flags & PADDED == 0 {
        return Ok(payload);
    }
    let pad = usize::from(*payload.first().ok_or(ErrorKind::Protocol)?);
    if pad + 1 > payload.len() {
        return Err(ErrorKind::Protocol);
    }
    Ok(&payload[1..payload.len() - pad])
}

/// A `grpc-status` value: 0..=16 (a code outside them is UNKNOWN, as gRPC says).
fn parse_grpc_status(v: &[u8]) -> Option<u8> {
    let n = std::str::from_utf8(v).ok()?.trim().parse::<u32>().ok()?;
    Some(if n <= 16 { n as u8 } else { 2 })
}

fn parse_status(v: &[u8]) -> u16 {
    match v {
        [a, b, c] if v.iter().all(u8::is_ascii_digit) => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => 0,
    }
}

impl Conn {
    /// A connection ready to take streams (the preface and our SETTINGS are queued).
    /// `streams` caps our concurrent streams; the peer's SETTINGS may lower it.
    pub fn new(streams: usize, gaps: Gaps, latency: Option<Gaps>) -> Rc<Conn> {
        let mut out = Vec::with_capacity(16 * 1024);
        out.extend_from_slice(PREFACE);
        frame_head(&mut out, 12, SETTINGS, 0, 0);
        out.extend_from_slice(&[0, 0x2, 0, 0, 0, 0]); // ENABLE_PUSH = 0
        out.extend_from_slice(&[0, 0x4]); // INITIAL_WINDOW_SIZE
        out.extend_from_slice(&WINDOW.to_be_bytes());
        window_update(&mut out, 0, WINDOW - 65_535);
        Rc::new(Conn {
            st: RefCell::new(State {
                out,
                written: 0,
                slots: (0..streams).map(|_| Slot::new()).collect(),
                free: (0..streams).rev().collect(),
                open: 0,
                next_id: 1,
                peer_max_streams: usize::MAX,
                peer_initial_window: 65_535,
                peer_max_frame: MAX_FRAME,
                send_window: 65_535,
                recv_unreturned: 0,
                decoder: hpack::Decoder::default(),
                block: Vec::new(),
                block_stream: 0,
                block_end_stream: false,
                dead: None,
                closing: false,
                settled: false,
                driver: None,
                driver_woken: false,
                waiting: Vec::new(),
                gaps,
                latency,
            }),
        })
    }

    /// Whether new streams can still start here.
    pub fn usable(&self) -> bool {
        let st = self.st.borrow();
        st.dead.is_none() && !st.closing
    }

    fn poll_slot(&self, cx: &mut Context<'_>) -> Poll<Result<usize, StreamError>> {
        let mut st = self.st.borrow_mut();
        match st.dead {
            // A connection that never worked is this request's failure...
            Some(k) if !st.settled => return Poll::Ready(Err(StreamError::Failed(k))),
            // ...one that served others and ended while this request waited sent nothing.
            Some(_) => return Poll::Ready(Err(StreamError::NotSent)),
            None if st.closing => return Poll::Ready(Err(StreamError::NotSent)),
            None => {}
        }
        if st.settled
            && st.open < st.peer_max_streams
            && let Some(i) = st.free.pop()
        {
            st.open += 1;
            return Poll::Ready(Ok(i));
        }
        st.waiting.push(cx.waker().clone());
        Poll::Pending
    }

    /// Opens a stream in slot `i`: queues HEADERS (and CONTINUATION) for `block` and as much
    /// of `body` as the windows allow.
    fn start(
        &self,
        i: usize,
        block: &[u8],
        body: &[u8],
        first: usize,
        read: StreamRead,
        capture: Option<&mut Capture>,
    ) {
        let mut st = self.st.borrow_mut();
        let st = &mut *st;
        let id = st.next_id;
        st.next_id += 2;
        if st.next_id > MAX_STREAM_ID {
            st.closing = true; // this connection has used up its stream ids
        }
        let s = &mut st.slots[i];
        s.id = id;
        s.phase = Phase::Open;
        s.status = 0;
        s.bytes = 0;
        s.first_byte = None;
        s.headed = false;
        s.waker = None;
        s.send_window = st.peer_initial_window;
        s.recv_unreturned = 0;
        s.body.clear();
        s.body.extend_from_slice(body);
        s.body_sent = 0;
        s.body_ready = first;
        s.sent.clear();
        s.timed = read.timed.is_some() && st.latency.is_some();
        if let Some(due) = read.timed.filter(|_| s.timed) {
            s.sent.push(due);
        }
        s.replies_timed = 0;
        s.grpc_status = None;
        s.messages = Messages::new(read.split);
        s.capturing = capture.is_some();
        if let Some(c) = capture {
            c.reset();
            std::mem::swap(c, &mut s.capture);
        }
        let end = if body.is_empty() { END_STREAM } else { 0 };
        let max = st.peer_max_frame;
        let mut chunks = block.chunks(max);
        let first = chunks.next().unwrap_or(&[]);
        let more = block.len() > max;
        frame_head(
            &mut st.out,
            first.len(),
            HEADERS,
            end | if more { 0 } else { END_HEADERS },
            id,
        );
        st.out.extend_from_slice(first);
        let mut rest = chunks.peekable();
        while let Some(c) = rest.next() {
            let last = rest.peek().is_none();
            frame_head(
                &mut st.out,
                c.len(),
                CONTINUATION,
                if last { END_HEADERS } else { 0 },
                id,
            );
            st.out.extend_from_slice(c);
        }
        if !body.is_empty() {
            st.push_bodies();
        }
        st.wake_driver();
    }

    fn poll_done(&self, i: usize, cx: &mut Context<'_>) -> Poll<Result<Outcome, StreamError>> {
        let mut st = self.st.borrow_mut();
        let s = &mut st.slots[i];
        let grpc = s.messages.split() == Split::Grpc;
        match s.phase {
            Phase::Done => Poll::Ready(Ok(Outcome {
                status: match (grpc, s.grpc_status) {
                    (false, _) => Status::Http(s.status),
                    (true, Some(code)) => Status::Grpc(code),
                    (true, None) => Status::grpc_from_http(s.status),
                },
                bytes: s.bytes,
                first_byte: s.first_byte.unwrap_or_else(Instant::now),
                keep_alive: true,
                messages: s.messages.count,
                first_message: s.messages.first,
            })),
            Phase::Failed(e) => Poll::Ready(Err(e)),
            Phase::Open | Phase::Free => {
                if !s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    s.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    /// Lets the stream in slot `i` send its body up to `upto` bytes (the next message of a
    /// paced stream); `due`: when that message was due, for its per-message latency.
    fn release_body(&self, i: usize, upto: usize, due: Option<Instant>) {
        let mut st = self.st.borrow_mut();
        let s = &mut st.slots[i];
        if s.phase != Phase::Open {
            return;
        }
        s.body_ready = upto.min(s.body.len());
        if let Some(due) = due.filter(|_| s.timed) {
            s.sent.push(due);
        }
        let st = &mut *st;
        st.push_bodies();
        st.wake_driver();
    }

    /// Frees slot `i`, cancelling its stream if it is still open (the VU gave up on it),
    /// and hands the capture back.
    fn release(&self, i: usize, capture: Option<&mut Capture>) {
        let mut st = self.st.borrow_mut();
        let st = &mut *st;
        let s = &mut st.slots[i];
        if let Some(c) = capture {
            std::mem::swap(c, &mut s.capture);
        }
        s.capturing = false;
        let id = s.id;
        let cancel = s.phase == Phase::Open && st.dead.is_none();
        s.phase = Phase::Free;
        s.id = 0;
        s.waker = None;
        st.free.push(i);
        st.open -= 1;
        if cancel {
            frame_head(&mut st.out, 4, RST_STREAM, 0, id);
            st.out.extend_from_slice(&CANCEL.to_be_bytes());
            st.wake_driver();
        }
        // Every waiter re-checks (one may have given up since it queued its waker).
        for w in st.waiting.drain(..) {
            w.wake();
        }
        if st.closing && st.open == 0 {
            st.wake_driver(); // to close the socket
        }
    }
}

/// Frees the stream slot however the exchange ends (completion, error or a dropped future
/// after a timeout).
struct Guard<'a> {
    conn: &'a Conn,
    slot: usize,
    capture: Option<&'a mut Capture>,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.conn.release(self.slot, self.capture.as_deref_mut());
    }
}

/// How a request body of several equal messages is paced: one message every `every`.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    pub messages: usize,
    pub every: std::time::Duration,
}

/// How one stream's request goes out and its reply is read: what a gRPC call, an SSE
/// request and a plain request on the same connection do differently.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamRead {
    /// How the reply is split into messages (gRPC also means `grpc-status` is its result).
    pub split: Split,
    /// The body's messages one at a time, `every` apart (a paced gRPC client stream).
    pub pacing: Option<Pacing>,
    /// Reply k is timed from when request message k was due, starting at this instant
    /// (bidirectional gRPC streams).
    pub timed: Option<Instant>,
}

/// Sends one request (`block` is its HPACK header block) and waits for the whole response.
/// With `read.pacing`, the body's messages go out one at a time, `every` apart from the
/// first.
pub async fn exchange(
    conn: &Conn,
    block: &[u8],
    body: &[u8],
    capture: Option<&mut Capture>,
    read: StreamRead,
) -> Result<Outcome, StreamError> {
    let (pacing, timed) = (read.pacing, read.timed);
    let slot = poll_fn(|cx| conn.poll_slot(cx)).await?;
    let mut guard = Guard {
        conn,
        slot,
        capture,
    };
    let Some(p) = pacing.filter(|p| p.messages > 1 && !body.is_empty()) else {
        conn.start(
            slot,
            block,
            body,
            body.len(),
            read,
            guard.capture.as_deref_mut(),
        );
        return poll_fn(|cx| conn.poll_done(slot, cx)).await;
    };
    let each = body.len() / p.messages;
    conn.start(slot, block, body, each, read, guard.capture.as_deref_mut());
    let t0 = tokio::time::Instant::now();
    let mut released = 1;
    loop {
        if released == p.messages {
            return poll_fn(|cx| conn.poll_done(slot, cx)).await;
        }
        let next = t0 + p.every * released as u32;
        tokio::select! {
            done = poll_fn(|cx| conn.poll_done(slot, cx)) => return done,
            () = tokio::time::sleep_until(next) => {
                // Message k was due k intervals after the call: its latency counts from
                // then, however late this task woke.
                let due = timed.map(|d| d + p.every * released as u32);
                released += 1;
                conn.release_body(slot, each * released, due);
            }
        }
    }
}

/// Runs the connection: writes what the streams queue, reads and dispatches what the server
/// sends, until the connection fails or is no longer used.
/// `reasons`, when given, keeps why the connection failed where a few words help the user.
pub async fn drive(
    conn: Rc<Conn>,
    mut io: Stream,
    reasons: Option<std::sync::Arc<crate::transport::connect::Reasons>>,
) {
    let mut buf = vec![0u8; 4 * (MAX_FRAME + 9)];
    let (mut start, mut end) = (0usize, 0usize);
    poll_fn(|cx| {
        let mut st = conn.st.borrow_mut();
        st.driver_woken = false;
        if st.dead.is_some() {
            return Poll::Ready(());
        }
        // Read and dispatch everything the socket has.
        loop {
            let mut rb = ReadBuf::new(&mut buf[end..]);
            match Pin::new(&mut io).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    if n == 0 {
                        st.fail(ErrorKind::Closed);
                        return Poll::Ready(());
                    }
                    end += n;
                    match st.on_frames(&buf[start..end], Instant::now()) {
                        Ok(used) => start += used,
                        Err(k) => {
                            // An HTTP/1.1 answer to our preface: the server does not speak
                            // HTTP/2 by prior knowledge. Say so, not just "protocol".
                            if !st.settled
                                && buf[start..end].starts_with(b"HTTP/1.")
                                && let Some(r) = &reasons
                            {
                                r.note(k, || {
                                    "the server answered in HTTP/1.1: it does not speak HTTP/2 by prior knowledge; drop --http2, or use https:// where ALPN picks h2".into()
                                });
                            }
                            st.fail(k);
                            return Poll::Ready(());
                        }
                    }
                    if start == end {
                        (start, end) = (0, 0);
                    } else if buf.len() - end < MAX_FRAME + 9 {
                        buf.copy_within(start..end, 0);
                        (start, end) = (0, end - start);
                    }
                }
                Poll::Ready(Err(e)) => {
                    st.fail(ErrorKind::from_io(&e));
                    return Poll::Ready(());
                }
                Poll::Pending => break,
            }
        }
        // Write everything queued, in as few writes as the socket takes.
        while st.written < st.out.len() {
            let State { out, written, .. } = &mut *st;
            match Pin::new(&mut io).poll_write(cx, &out[*written..]) {
                Poll::Ready(Ok(0)) => {
                    st.fail(ErrorKind::Closed);
                    return Poll::Ready(());
                }
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => {
                    st.fail(ErrorKind::from_io(&e));
                    return Poll::Ready(());
                }
                Poll::Pending => break,
            }
        }
        if st.written == st.out.len() {
            st.out.clear();
            st.written = 0;
            if let Poll::Ready(Err(e)) = Pin::new(&mut io).poll_flush(cx) {
                st.fail(ErrorKind::from_io(&e));
                return Poll::Ready(());
            }
        }
        // Closed to new streams (GOAWAY) or unused, with nothing in flight: close it.
        if st.open == 0 && (st.closing || Rc::strong_count(&conn) == 1) {
            st.dead.get_or_insert(ErrorKind::Closed);
            return Poll::Ready(());
        }
        if !st.driver.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            st.driver = Some(cx.waker().clone());
        }
        Poll::Pending
    })
    .await;
}
