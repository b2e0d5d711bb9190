//! The transport contract: how a virtual user's requests reach the server, whatever the
//! protocol.
//!
//! A [`Session`] is one VU's side of a protocol: it connects (or takes a pooled connection)
//! when it needs to, sends one compiled request, reads its response, retries what the
//! protocol says was never processed, and classifies every failure into an [`ErrorKind`].
//! The per-thread state its VUs share (the connector, connection pools, the compiled
//! encoders) is a [`Pool`]. The engine knows only these two and [`Outcome`]; it never sees a
//! socket, a frame or a codec.
//!
//! Adding a protocol: a `Session` implementation in its own module, a variant of
//! [`AnySession`] (enum dispatch keeps the request path monomorphic and allocation-free), its
//! encoder in [`Encoder`], and its failure kinds in [`ErrorKind`].

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use http::Method;
use tokio::sync::Notify;

use super::capture::Capture;
use super::connect::{Answer, Connector, Stream};
use super::deadline::Deadline;
use super::h2::{self, H2Request};
use super::http1::{Forward, Http1Conn, Http1Request};
use super::messages::{Gaps, Split};
use super::websocket::{self, WsMessage};
use super::{ErrorKind, Outcome, Setup, Status};
use crate::plan::grpc::Grpc;
use crate::plan::template::{RenderOpts, Vars};
use crate::plan::{Plan, Protocol, StreamRead, WebSocket};

/// One VU's side of a protocol (see the module docs).
///
/// `async fn` here is deliberate: sessions live on one thread's `current_thread` runtime and
/// are never sent between threads, so the futures need no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait Session {
    /// Sends scenario `index`'s request, due at `due`, with these variable values and
    /// options, reads the response (keeping what `capture` asks for) and says what
    /// happened. Pooling, reconnecting and safe retries happen inside. The engine measures
    /// the request's latency from `due`; a stream timing its messages one by one measures
    /// them from it too (message k from `due` plus k intervals).
    async fn send(
        &mut self,
        pool: &Pool,
        index: usize,
        due: Instant,
        vars: &Vars<'_>,
        opts: RenderOpts<'_>,
        capture: Option<&mut Capture>,
    ) -> Result<Outcome, ErrorKind>;

    /// The set-up of a connection this session opened since the last call, for the
    /// connect-time and TLS-handshake histograms.
    fn take_setup(&mut self) -> Option<Setup>;

    /// Ends what the session holds open, as its protocol asks, when its VU is done. HTTP
    /// has nothing to say (dropping the connection is its end).
    async fn close(&mut self) {}

    /// Opens the connection before the first request, for protocols whose connections are
    /// held whatever the request rate (`--ws-connections`). A failure is left for the first
    /// request, which connects again and counts it; HTTP connects on demand.
    async fn open(&mut self, _pool: &Pool, _index: usize, _vars: &Vars<'_>) {}
}

/// A request compiled for the protocol that sends it.
enum Encoder {
    Http1(Http1Request),
    H2(H2Request),
    Ws(WsMessage),
}

/// What one thread's sessions share: the connector, the compiled requests (one per
/// scenario), the HTTP/2 connection slots and the connection counter. `Rc`/`Cell`: never
/// touched by another thread.
pub struct Pool {
    connector: Connector,
    encoders: Vec<Encoder>,
    requests: Vec<crate::plan::Request>,
    protocol: Protocol,
    websocket: WebSocket,
    /// Each scenario's gRPC call when the HTTP/2 streams are gRPC calls.
    grpc: Vec<Option<Grpc>>,
    /// How each scenario's replies are read as messages, and this thread's gaps between
    /// them.
    split: Vec<Split>,
    gaps: Gaps,
    /// Per-message latency of bidirectional gRPC streams (reply k to request message k).
    latency: Option<Gaps>,
    /// Each scenario's paced gRPC client stream: its messages one `--stream-interval` apart.
    pacing: Vec<Option<h2::Pacing>>,
    timeout: Duration,
    /// Requests go to an HTTP proxy in absolute form (its 407 is `proxy_auth`).
    forward: bool,
    /// Connections opened by this thread (`--dns-select round-robin` takes the next
    /// address for each).
    connections: Cell<usize>,
    /// Time VUs waited for connections (see [`Pool::connection_wait`]).
    conn_wait: Cell<Duration>,
    /// This thread's answer for the first hop's name, resolved again after `--dns-ttl`.
    answer: RefCell<Answer>,
    h2_slots: RefCell<Vec<Rc<H2Slot>>>,
    /// Which of a VU's sessions (numbered as [`Pool::sessions`] returns them) carries each
    /// scenario.
    carrier: Vec<u16>,
    /// What each of a VU's sessions is: `None` the HTTP one, `Some(i)` a WebSocket upgraded
    /// as scenario `i` asks (its path and headers), shared by the scenarios that ask the
    /// same.
    carriers: Vec<Option<usize>>,
}

impl Pool {
    /// Compiles every scenario's request for the plan's protocol.
    pub fn new(plan: &Plan, connector: Connector) -> Pool {
        let requests: Vec<crate::plan::Request> = plan
            .scenarios
            .list
            .iter()
            .map(|s| s.request.clone())
            .collect();
        // An http:// target through an HTTP proxy: absolute-form requests.
        let forward = super::connect::forwards(plan).then(|| Forward {
            proxy_authorization: super::connect::proxy_authorization(plan),
        });
        let scenarios = &plan.scenarios.list;
        let encoders = scenarios
            .iter()
            .map(|s| match plan.protocol {
                _ if s.websocket => Encoder::Ws(WsMessage::compile(&s.request, &plan.websocket)),
                Protocol::Http1 | Protocol::WebSocket => {
                    Encoder::Http1(Http1Request::compile(&s.request, forward.as_ref()))
                }
                Protocol::Http2 { .. } => Encoder::H2(H2Request::compile(&s.request)),
            })
            .collect();
        let mut carriers: Vec<Option<usize>> = Vec::new();
        let carrier = scenarios
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let same = |c: &Option<usize>| match (c, s.websocket) {
                    (None, false) => true,
                    (Some(j), true) => {
                        let r = &scenarios[*j].request;
                        r.path == s.request.path && r.headers == s.request.headers
                    }
                    _ => false,
                };
                let k = carriers.iter().position(same).unwrap_or_else(|| {
                    carriers.push(s.websocket.then_some(i));
                    carriers.len() - 1
                });
                k as u16
            })
            .collect();
        Pool {
            answer: RefCell::new(Answer::first(&connector, Instant::now())),
            connector,
            encoders,
            requests,
            protocol: plan.protocol,
            websocket: plan.websocket.clone(),
            grpc: scenarios.iter().map(|s| s.grpc.clone()).collect(),
            split: scenarios
                .iter()
                .map(|s| match plan.stream {
                    _ if s.grpc.is_some() => Split::Grpc,
                    StreamRead::Whole => Split::None,
                    StreamRead::Sse => Split::Sse,
                    StreamRead::Chunks => Split::Chunks,
                })
                .collect(),
            gaps: Gaps::default(),
            latency: scenarios
                .iter()
                .any(|s| s.grpc.as_ref().is_some_and(timed))
                .then(Gaps::default),
            pacing: scenarios
                .iter()
                .map(|s| {
                    let g = s.grpc.as_ref()?;
                    g.stream_interval.map(|every| h2::Pacing {
                        messages: g.stream_messages as usize,
                        every,
                    })
                })
                .collect(),
            timeout: plan.timeout,
            forward: forward.is_some(),
            connections: Cell::new(0),
            conn_wait: Cell::new(Duration::ZERO),
            h2_slots: RefCell::new(Vec::new()),
            carrier,
            carriers,
        }
    }

    /// Which of a VU's sessions carries scenario `index`.
    pub fn carrier(&self, index: usize) -> usize {
        usize::from(self.carrier[index])
    }

    /// For each of a VU's sessions, the scenario whose WebSocket it holds (`None`: HTTP).
    pub fn carriers(&self) -> &[Option<usize>] {
        &self.carriers
    }

    /// The sessions of the thread's VU number `local`: one for the HTTP scenarios, one per
    /// distinct WebSocket the scenarios ask for.
    pub fn sessions(&self, local: u64) -> Vec<AnySession> {
        self.carriers
            .iter()
            .map(|c| match c {
                Some(_) => AnySession::Ws(WsSession::default()),
                None => self.session(local),
            })
            .collect()
    }

    /// Gaps between the messages of replies on this thread since the last hand-off.
    pub fn gaps(&self) -> &Gaps {
        &self.gaps
    }

    /// Per-message latency on bidirectional gRPC streams since the last hand-off.
    pub fn message_latency(&self) -> Option<&Gaps> {
        self.latency.as_ref()
    }

    /// The HTTP session of the thread's VU number `local` (HTTP/2 VUs share slots by
    /// number).
    fn session(&self, local: u64) -> AnySession {
        match self.protocol {
            Protocol::Http1 | Protocol::WebSocket => AnySession::Http1(Http1Session::default()),
            Protocol::Http2 { streams } => AnySession::H2(H2Session {
                slot: self.h2_slot(local / streams.max(1)),
                current: None,
                block: Vec::new(),
                body: Vec::new(),
                framed: Vec::new(),
                scratch: Vec::new(),
                deadline: Deadline::default(),
                connected: None,
            }),
        }
    }

    /// Opens a new connection; its set-up time goes to `connected`, and with a failed
    /// attempt's to the time this thread's VUs waited for connections.
    async fn connect(&self, connected: &mut Option<Setup>) -> Result<Stream, ErrorKind> {
        let c0 = Instant::now();
        let n = self.connections.get();
        self.connections.set(n + 1);
        let r = async {
            let addr = Answer::address(&self.answer, &self.connector.dns, n).await?;
            self.connector.connect_at(addr, n).await
        }
        .await;
        let total = c0.elapsed();
        self.conn_wait.set(self.conn_wait.get() + total);
        let (stream, tls) = r?;
        *connected = Some(Setup { total, tls });
        Ok(stream)
    }

    /// Time this thread's VUs spent waiting for a connection so far: opening their own, or
    /// waiting while another VU opened the HTTP/2 connection they share.
    pub fn connection_wait(&self) -> Duration {
        self.conn_wait.get()
    }

    fn h2_slot(&self, n: u64) -> Rc<H2Slot> {
        let mut slots = self.h2_slots.borrow_mut();
        while slots.len() <= n as usize {
            slots.push(Rc::new(H2Slot::default()));
        }
        slots[n as usize].clone()
    }

    fn streams(&self) -> usize {
        match self.protocol {
            Protocol::Http1 | Protocol::WebSocket => 1,
            Protocol::Http2 { streams } => streams as usize,
        }
    }
}

/// Every protocol's session, dispatched without a vtable or a boxed future.
pub enum AnySession {
    Http1(Http1Session),
    H2(H2Session),
    Ws(WsSession),
}

impl Session for AnySession {
    async fn send(
        &mut self,
        pool: &Pool,
        index: usize,
        due: Instant,
        vars: &Vars<'_>,
        opts: RenderOpts<'_>,
        capture: Option<&mut Capture>,
    ) -> Result<Outcome, ErrorKind> {
        match self {
            AnySession::Http1(s) => s.send(pool, index, due, vars, opts, capture).await,
            AnySession::H2(s) => s.send(pool, index, due, vars, opts, capture).await,
            AnySession::Ws(s) => s.send(pool, index, due, vars, opts, capture).await,
        }
    }

    fn take_setup(&mut self) -> Option<Setup> {
        match self {
            AnySession::Http1(s) => s.take_setup(),
            AnySession::H2(s) => s.take_setup(),
            AnySession::Ws(s) => s.take_setup(),
        }
    }

    async fn close(&mut self) {
        match self {
            AnySession::Http1(s) => s.close().await,
            AnySession::H2(s) => s.close().await,
            AnySession::Ws(s) => s.close().await,
        }
    }

    async fn open(&mut self, pool: &Pool, index: usize, vars: &Vars<'_>) {
        if let AnySession::Ws(s) = self {
            s.open(pool, index, vars).await;
        }
    }
}

/// HTTP/1.1: the VU owns one connection, kept while the server keeps it.
#[derive(Default)]
pub struct Http1Session {
    conn: Option<Http1Conn>,
    out: Vec<u8>,
    scratch: Vec<u8>,
    deadline: Deadline,
    connected: Option<Setup>,
}

impl Session for Http1Session {
    async fn send(
        &mut self,
        pool: &Pool,
        index: usize,
        _due: Instant,
        vars: &Vars<'_>,
        opts: RenderOpts<'_>,
        capture: Option<&mut Capture>,
    ) -> Result<Outcome, ErrorKind> {
        let Encoder::Http1(enc) = &pool.encoders[index] else {
            unreachable!("an HTTP/1.1 session gets HTTP/1.1 encoders");
        };
        let head = pool.requests[index].is_head() && opts.method.is_none_or(|m| *m == Method::HEAD);
        let Http1Session {
            conn,
            out,
            scratch,
            deadline,
            connected,
        } = self;
        let outcome = async {
            if conn.is_none() {
                *conn = Some(Http1Conn::new(pool.connect(connected).await?));
            }
            let bytes: &[u8] = match enc.fixed() {
                Some(b) if opts.is_plain() => b,
                _ => {
                    enc.render_into(vars, opts, out, scratch);
                    out
                }
            };
            let c = conn.as_mut().expect("connected above");
            deadline
                .within(
                    pool.timeout,
                    c.exchange(bytes, head, capture, pool.split[index], &pool.gaps),
                )
                .await
                .unwrap_or(Err(ErrorKind::Timeout))
        }
        .await;
        // Through an HTTP proxy in absolute form, a 407 is the proxy's refusal of its
        // credentials: the request never reached the target.
        let outcome = match outcome {
            Ok(o) if pool.forward && o.status == Status::Http(407) => Err(ErrorKind::ProxyAuth),
            other => other,
        };
        if !matches!(
            outcome,
            Ok(Outcome {
                keep_alive: true,
                ..
            })
        ) {
            *conn = None;
        }
        outcome
    }

    fn take_setup(&mut self) -> Option<Setup> {
        self.connected.take()
    }
}

/// One HTTP/2 connection shared by up to `streams` VUs of a thread.
#[derive(Default)]
struct H2Slot {
    conn: RefCell<Option<Rc<h2::Conn>>>,
    connecting: Cell<bool>,
    ready: Notify,
}

impl H2Slot {
    /// The slot's connection, opening a new one (if no other VU is doing so) when there is
    /// none or the last one stopped taking streams.
    async fn get(
        &self,
        pool: &Pool,
        connected: &mut Option<Setup>,
    ) -> Result<Rc<h2::Conn>, ErrorKind> {
        loop {
            if let Some(c) = self.conn.borrow().as_ref()
                && c.usable()
            {
                return Ok(c.clone());
            }
            if self.connecting.get() {
                let w0 = Instant::now();
                self.ready.notified().await;
                pool.conn_wait.set(pool.conn_wait.get() + w0.elapsed());
                continue;
            }
            self.connecting.set(true);
            let r = pool.connect(connected).await;
            self.connecting.set(false);
            self.ready.notify_waiters();
            let stream = r?;
            let conn = h2::Conn::new(pool.streams(), pool.gaps.clone(), pool.latency.clone());
            let reasons = Some(pool.connector.reasons.clone());
            tokio::task::spawn_local(h2::drive(conn.clone(), stream, reasons));
            *self.conn.borrow_mut() = Some(conn.clone());
            return Ok(conn);
        }
    }
}

/// HTTP/2: the VU's requests are streams on its slot's shared connection.
pub struct H2Session {
    slot: Rc<H2Slot>,
    current: Option<Rc<h2::Conn>>,
    block: Vec<u8>,
    body: Vec<u8>,
    /// A gRPC call's rendered body as length-prefixed messages.
    framed: Vec<u8>,
    scratch: Vec<u8>,
    deadline: Deadline,
    connected: Option<Setup>,
}

impl Session for H2Session {
    async fn send(
        &mut self,
        pool: &Pool,
        index: usize,
        due: Instant,
        vars: &Vars<'_>,
        opts: RenderOpts<'_>,
        mut capture: Option<&mut Capture>,
    ) -> Result<Outcome, ErrorKind> {
        let Encoder::H2(enc) = &pool.encoders[index] else {
            unreachable!("an HTTP/2 session gets HTTP/2 encoders");
        };
        let H2Session {
            slot,
            current,
            block,
            body,
            framed,
            scratch,
            deadline,
            connected,
        } = self;
        let (block, mut body) =
            enc.encoded(&pool.requests[index], vars, opts, block, body, scratch);
        // A gRPC body with variables becomes its messages now (a static one was framed once,
        // when the plan was made).
        let call = pool.grpc[index].as_ref();
        let timed = call.is_some_and(timed).then_some(due);
        if let Some(g) = call.filter(|g| !g.prepared) {
            if let Err(why) = g.frame(body, framed) {
                pool.connector
                    .reasons
                    .note(ErrorKind::Encode, || format!("request body {why}"));
                return Err(ErrorKind::Encode);
            }
            body = framed;
        }
        // A stream the server did not process (GOAWAY, REFUSED_STREAM) goes again on a
        // fresh connection, as browsers do; after three refusals it counts as closed. A
        // request that found its connection going away before it got a stream was never
        // sent: it waits for the next connection (bounded, against a server that sends
        // GOAWAY as soon as it accepts).
        let (mut refusals, mut unsent) = (0, 0);
        loop {
            let outcome = async {
                if current.as_ref().is_none_or(|c| !c.usable()) {
                    *current = Some(slot.get(pool, connected).await?);
                }
                let conn = current.as_ref().expect("set above");
                let read = h2::StreamRead {
                    split: pool.split[index],
                    pacing: pool.pacing[index],
                    timed,
                };
                let ex = h2::exchange(conn, block, body, capture.as_deref_mut(), read);
                deadline
                    .within(pool.timeout, ex)
                    .await
                    .unwrap_or(Err(ErrorKind::Timeout.into()))
            }
            .await;
            match outcome {
                Ok(ex) => {
                    // Checks and extraction read a gRPC reply as JSON when the types are known.
                    if let (Some(g), Some(c)) = (call, capture)
                        && let Some(json) = g.reply_json(&c.body)
                    {
                        c.body = json;
                    }
                    return Ok(ex);
                }
                Err(h2::StreamError::Refused) if refusals < 3 => {
                    refusals += 1;
                    *current = None;
                }
                Err(h2::StreamError::NotSent) if unsent < 100 => {
                    unsent += 1;
                    *current = None;
                }
                Err(h2::StreamError::Refused | h2::StreamError::NotSent) => {
                    return Err(ErrorKind::Closed);
                }
                Err(h2::StreamError::Failed(kind)) => return Err(kind),
            }
        }
    }

    fn take_setup(&mut self) -> Option<Setup> {
        self.connected.take()
    }
}

/// WebSocket: the VU keeps one upgraded connection; a request is one message and its reply.
/// The connection is opened again after a close, a failure or a timeout (a late reply must
/// not be taken for the next message's).
#[derive(Default)]
pub struct WsSession {
    /// Boxed: the codec's state is large, and a VU may hold one of these per WebSocket
    /// path beside an HTTP session that has none (one allocation per connection).
    conn: Option<Box<websocket::Conn>>,
    bufs: websocket::Buffers,
    deadline: Deadline,
    connected: Option<Setup>,
}

impl Session for WsSession {
    async fn send(
        &mut self,
        pool: &Pool,
        index: usize,
        _due: Instant,
        vars: &Vars<'_>,
        opts: RenderOpts<'_>,
        capture: Option<&mut Capture>,
    ) -> Result<Outcome, ErrorKind> {
        let Encoder::Ws(message) = &pool.encoders[index] else {
            unreachable!("a WebSocket session gets WebSocket encoders");
        };
        let request = &pool.requests[index];
        let reasons = &pool.connector.reasons;
        let WsSession {
            conn,
            bufs,
            deadline,
            connected,
        } = self;
        let outcome = async {
            if conn.is_none() {
                *conn = Some(Box::new(
                    ws_connect(pool, index, vars, opts, connected).await?,
                ));
            }
            let c = conn.as_mut().expect("connected above");
            if pool.websocket.fire_and_forget {
                let ex = websocket::fire(c, message, request, vars, bufs, reasons);
                return deadline
                    .within(pool.timeout, ex)
                    .await
                    .unwrap_or(Err(ErrorKind::Timeout));
            }
            let ex = websocket::exchange(c, message, request, vars, bufs, capture, reasons);
            deadline
                .within(pool.timeout, ex)
                .await
                .unwrap_or(Err(ErrorKind::Timeout))
        }
        .await;
        if !matches!(
            outcome,
            Ok(Outcome {
                keep_alive: true,
                ..
            })
        ) {
            *conn = None;
        }
        outcome
    }

    fn take_setup(&mut self) -> Option<Setup> {
        self.connected.take()
    }

    async fn open(&mut self, pool: &Pool, index: usize, vars: &Vars<'_>) {
        if self.conn.is_none() {
            let opts = RenderOpts::default();
            self.conn = ws_connect(pool, index, vars, opts, &mut self.connected)
                .await
                .ok()
                .map(Box::new);
        }
    }

    /// Sends a close frame (1000, normal closure) and waits briefly for the server's: the
    /// server sees a clean end of the session, as browsers and k6 end theirs.
    async fn close(&mut self) {
        if let Some(mut c) = self.conn.take() {
            let _ =
                tokio::time::timeout(Duration::from_millis(500), websocket::close(&mut c)).await;
        }
    }
}

/// Opens and upgrades a WebSocket for scenario `index`. Connect time runs to the 101: the
/// upgrade is part of opening a WebSocket.
async fn ws_connect(
    pool: &Pool,
    index: usize,
    vars: &Vars<'_>,
    opts: RenderOpts<'_>,
    connected: &mut Option<Setup>,
) -> Result<websocket::Conn, ErrorKind> {
    let request = &pool.requests[index];
    let c0 = Instant::now();
    let stream = pool.connect(connected).await?;
    let up = websocket::upgrade(
        stream,
        request,
        &pool.websocket,
        vars,
        opts,
        &pool.connector.reasons,
    );
    let c = tokio::time::timeout(pool.connector.connect_timeout, up)
        .await
        .unwrap_or(Err(ErrorKind::ConnectTimeout))?;
    if let Some(s) = connected.as_mut() {
        s.total = c0.elapsed();
    }
    Ok(c)
}

/// Whether a call's reply messages are timed one by one against its request messages
/// (bidirectional streams: reply k answers message k).
fn timed(g: &Grpc) -> bool {
    g.kind() == crate::plan::grpc::Kind::Bidirectional
}
