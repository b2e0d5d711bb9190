//! Virtual users: a [`Client`] (how a request goes out) driven by a load model's loop (when).
//!
//! This is the request path. It allocates nothing per request (buffers are reused, the
//! static request is pre-rendered), takes no lock and sends on no channel; the recorder is a
//! thread-local `RefCell` borrowed for the few nanoseconds of a record.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use super::timer::{Deadline, PreciseTimer};
use super::worker::Shared;
use crate::plan::checks;
use crate::plan::load_model::Shape;
use crate::plan::template::RenderOpts;
use crate::plan::template::Vars;
use crate::plan::{MAX_REDIRECTS, Protocol, Request};
use crate::transport::capture::Capture;
use crate::transport::connect::Stream;
use crate::transport::http1::Http1Conn;
use crate::transport::{ErrorKind, Exchange, h2};
use http::Method;

fn vars<'a>(shared: &Shared, values: &'a [Vec<u8>]) -> Vars<'a> {
    Vars {
        request_id: shared.next_request_id(),
        timestamp_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        values,
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
    conn: RefCell<Option<Rc<h2::Conn>>>,
    connecting: Cell<bool>,
    ready: Notify,
}

impl H2Slot {
    /// The slot's connection, opening a new one (if no other VU is doing so) when there is
    /// none or the last one stopped taking streams.
    async fn get(&self, shared: &Shared) -> Result<Rc<h2::Conn>, ErrorKind> {
        loop {
            if let Some(c) = self.conn.borrow().as_ref()
                && c.usable()
            {
                return Ok(c.clone());
            }
            if self.connecting.get() {
                self.ready.notified().await;
                continue;
            }
            self.connecting.set(true);
            let r = connect(shared).await;
            self.connecting.set(false);
            self.ready.notify_waiters();
            let stream = r?;
            let conn = h2::Conn::new(shared.plan.protocol_streams());
            tokio::task::spawn_local(h2::drive(conn.clone(), stream));
            *self.conn.borrow_mut() = Some(conn.clone());
            return Ok(conn);
        }
    }
}

/// How one VU's requests go out, and what it keeps of responses.
pub(super) struct Client {
    proto: Proto,
    /// Present when checks, extraction, the cookie jar or redirects read responses.
    capture: Option<Capture>,
    state: VuState,
    deadline: Deadline,
}

/// What a VU carries between its requests.
#[derive(Default)]
struct VuState {
    /// Extracted values by slot, and whether each is set.
    values: Vec<Vec<u8>>,
    present: Vec<bool>,
    /// Whether the dependencies have run once.
    started: bool,
    jar: Option<Jar>,
    /// The `Cookie` value for the request being sent.
    cookie: Vec<u8>,
    /// The redirect target being followed: path and query.
    redirect: Vec<u8>,
    /// The request's path as sent (for the cookie jar and relative redirects).
    path: Vec<u8>,
}

/// A cookie store for one VU, for one origin.
struct Jar {
    store: cookie_store::CookieStore,
    origin: url::Url,
}

impl Jar {
    fn url(&self, path: &[u8]) -> Option<url::Url> {
        self.origin.join(std::str::from_utf8(path).ok()?).ok()
    }

    /// The `Cookie` header value for a request to `path`.
    fn header(&self, path: &[u8], out: &mut Vec<u8>) {
        out.clear();
        let Some(url) = self.url(path) else { return };
        for (name, value) in self.store.get_request_values(&url) {
            if !out.is_empty() {
                out.extend_from_slice(b"; ");
            }
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            out.extend_from_slice(value.as_bytes());
        }
    }

    /// Stores the `Set-Cookie` lines of the response to a request for `path`.
    fn store(&mut self, path: &[u8], set_cookie: &[u8]) {
        if set_cookie.is_empty() {
            return;
        }
        let Some(url) = self.url(path) else { return };
        for line in set_cookie.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            if let Ok(text) = std::str::from_utf8(line) {
                // A cookie the store refuses (bad domain, malformed) is ignored, as browsers do.
                let _ignored = self.store.parse(text, &url);
            }
        }
    }
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
        current: Option<Rc<h2::Conn>>,
        block: Vec<u8>,
        body: Vec<u8>,
        scratch: Vec<u8>,
    },
}

impl Client {
    /// A client for the thread's VU number `local` (HTTP/2 VUs share slots by number).
    pub fn new(shared: &Shared, local: u64) -> Client {
        let plan = &shared.plan;
        let checks = &plan.checks;
        let needs = !checks.is_empty()
            || plan.scenarios.extracts()
            || plan.cookie_jar
            || plan.follow_redirects;
        let capture = needs.then(|| {
            let mut c = Capture::new(
                checks.header_names.clone(),
                checks.needs_body,
                checks.body_limit,
            );
            if plan.cookie_jar {
                c = c.with_cookies();
            }
            if plan.follow_redirects {
                c = c.with_location();
            }
            c
        });
        let proto = match plan.protocol {
            Protocol::Http1 => Proto::Http1 {
                conn: None,
                out: Vec::new(),
                scratch: Vec::new(),
            },
            Protocol::Http2 { streams } => Proto::H2 {
                slot: shared.h2_slot(local / streams),
                current: None,
                block: Vec::new(),
                body: Vec::new(),
                scratch: Vec::new(),
            },
        };
        let slots = plan.scenarios.slots.names.len();
        let state = VuState {
            values: vec![Vec::new(); slots],
            present: vec![false; slots],
            jar: plan.cookie_jar.then(|| Jar {
                store: cookie_store::CookieStore::default(),
                origin: url::Url::parse(&format!(
                    "{}://{}:{}/",
                    match plan.target.scheme {
                        crate::plan::Scheme::Http => "http",
                        crate::plan::Scheme::Https => "https",
                    },
                    if plan.target.host.contains(':') {
                        format!("[{}]", plan.target.host)
                    } else {
                        plan.target.host.clone()
                    },
                    plan.target.port
                ))
                .expect("the target's origin is a valid URL"),
            }),
            ..VuState::default()
        };
        Client {
            proto,
            capture,
            state,
            deadline: Deadline::default(),
        }
    }

    /// One iteration that was due at `intended`: the dependencies it needs, then the next
    /// scenario of the weighted cycle (or the single request).
    pub async fn iteration(&mut self, shared: &Shared, intended: Instant) {
        let scenarios = &shared.plan.scenarios;
        if !scenarios.explicit {
            self.request(shared, 0, intended).await;
            return;
        }
        for &d in &scenarios.deps {
            let dep = &scenarios.list[usize::from(d)];
            let missing = dep
                .extract
                .iter()
                .any(|e| !self.state.present[usize::from(e.slot)]);
            if !self.state.started || missing {
                // A dependency is not scheduled: its latency is its own service time.
                self.request(shared, usize::from(d), Instant::now()).await;
                if shared.stopping.get() {
                    return;
                }
            }
        }
        self.state.started = true;
        let i = shared.next_scenario();
        let s = &scenarios.list[i];
        if s.uses.iter().any(|v| !self.state.present[usize::from(*v)]) {
            // Sending `${token}` as an empty string would test nothing: count it instead.
            if intended >= shared.t0 {
                shared.recorder.borrow_mut().scenario(i).missing_values += 1;
            }
            return;
        }
        self.request(shared, i, intended).await;
    }

    /// Sends scenario `index`'s request (following redirects), judges and extracts from the
    /// final response, and records it.
    async fn request(&mut self, shared: &Shared, index: usize, intended: Instant) {
        let plan = &shared.plan;
        let scenario = &plan.scenarios.list[index];
        let req = &scenario.request;
        let Client {
            proto,
            capture,
            state,
            deadline,
        } = self;
        let start = Instant::now();
        shared.in_flight.set(shared.in_flight.get() + 1);
        let v = if req.is_static() && state.jar.is_none() {
            Vars::default()
        } else {
            vars(shared, &state.values)
        };
        if let Some(jar) = &state.jar {
            state.path.clear();
            req.path.render(&v, &mut state.path);
            jar.header(&state.path, &mut state.cookie);
        }
        let opts = RenderOpts {
            cookie: &state.cookie,
            ..RenderOpts::default()
        };
        let mut outcome = send(proto, capture.as_mut(), deadline, shared, req, &v, opts).await;
        let mut hops = 0u64;
        let mut method = req.method.clone();
        while plan.follow_redirects
            && let Ok(ex) = &outcome
            && matches!(ex.status, 301 | 302 | 303 | 307 | 308)
            && hops < u64::from(MAX_REDIRECTS)
            && let Some(c) = capture.as_ref()
            && !c.location.is_empty()
        {
            if state.jar.is_none() {
                state.path.clear();
                req.path.render(&v, &mut state.path);
            }
            if let Some(jar) = &mut state.jar {
                jar.store(&state.path, &c.set_cookie);
            }
            // Only same-origin targets are followed: connections go to one origin.
            if !same_origin_path(&plan.target, &state.path, &c.location, &mut state.redirect) {
                break;
            }
            // Browsers' rules: 303 becomes GET; so do 301/302 after a POST. 307/308 repeat.
            let keep_body = matches!(ex.status, 307 | 308);
            if !keep_body && method != Method::HEAD {
                method = Method::GET;
            }
            std::mem::swap(&mut state.path, &mut state.redirect);
            if let Some(jar) = &state.jar {
                jar.header(&state.path, &mut state.cookie);
            }
            hops += 1;
            let opts = RenderOpts {
                method: Some(&method),
                path: Some(&state.path),
                body: keep_body,
                cookie: &state.cookie,
            };
            outcome = send(proto, capture.as_mut(), deadline, shared, req, &v, opts).await;
        }
        shared.in_flight.set(shared.in_flight.get() - 1);
        let measured = intended >= shared.t0;
        if let Some(c) = capture.as_ref() {
            if let (Some(jar), Ok(_)) = (&mut state.jar, &outcome) {
                jar.store(&state.path, &c.set_cookie);
            }
            if measured && !plan.checks.is_empty() {
                judge_checks(shared, index, c, &outcome, intended);
            }
            extract(shared, index, c, &outcome, state, measured);
        }
        // A 401 on a request that carried extracted values: they are stale (an expired
        // token), so the dependencies that produce them run again.
        if let Ok(ex) = &outcome
            && ex.status == 401
        {
            for s in &scenario.uses {
                state.present[usize::from(*s)] = false;
            }
        }
        if hops > 0 && measured {
            let i = plan.scenarios.explicit.then_some(index);
            shared.recorder.borrow_mut().redirects(i, hops);
        }
        shared.record(index, intended, start, outcome);
    }
}

/// Resolves `location` (from a response to `path`) into `out` as a path and query; false
/// when it points to another origin or does not parse.
fn same_origin_path(
    target: &crate::plan::Target,
    path: &[u8],
    location: &[u8],
    out: &mut Vec<u8>,
) -> bool {
    let (Ok(path), Ok(location)) = (std::str::from_utf8(path), std::str::from_utf8(location))
    else {
        return false;
    };
    let scheme = match target.scheme {
        crate::plan::Scheme::Http => "http",
        crate::plan::Scheme::Https => "https",
    };
    let host = if target.host.contains(':') {
        format!("[{}]", target.host)
    } else {
        target.host.clone()
    };
    let Ok(base) = url::Url::parse(&format!("{scheme}://{host}:{}{path}", target.port)) else {
        return false;
    };
    let Ok(next) = base.join(location.trim()) else {
        return false;
    };
    if next.scheme() != base.scheme()
        || next.host_str() != base.host_str()
        || next.port_or_known_default() != base.port_or_known_default()
    {
        return false;
    }
    out.clear();
    out.extend_from_slice(next.path().as_bytes());
    if let Some(q) = next.query() {
        out.push(b'?');
        out.extend_from_slice(q.as_bytes());
    }
    true
}

/// Sends one request and reads its response.
async fn send(
    proto: &mut Proto,
    capture: Option<&mut Capture>,
    deadline: &mut Deadline,
    shared: &Shared,
    req: &Request,
    vars: &Vars<'_>,
    opts: RenderOpts<'_>,
) -> Result<Exchange, ErrorKind> {
    let plan = &shared.plan;
    let head = req.is_head() && opts.method.is_none_or(|m| *m == Method::HEAD);
    match proto {
        Proto::Http1 { conn, out, scratch } => {
            let outcome = async {
                if conn.is_none() {
                    *conn = Some(Http1Conn::new(connect(shared).await?));
                }
                let bytes: &[u8] = match req.http1.fixed() {
                    Some(b) if opts.is_plain() => b,
                    _ => {
                        req.http1.render_into(vars, opts, out, scratch);
                        out
                    }
                };
                let c = conn.as_mut().expect("connected above");
                deadline
                    .within(plan.timeout, c.exchange(bytes, head, capture))
                    .await
                    .unwrap_or(Err(ErrorKind::Timeout))
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
            block,
            body,
            scratch,
        } => {
            let (block, body) = req.h2_encoded(vars, opts, block, body, scratch);
            let mut capture = capture;
            // A stream the server did not process (GOAWAY, REFUSED_STREAM) goes again on a
            // fresh connection, as browsers do; after three refusals it counts as closed. A
            // request that found its connection going away before it got a stream was never
            // sent: it waits for the next connection (bounded, against a server that sends
            // GOAWAY as soon as it accepts).
            let (mut refusals, mut unsent) = (0, 0);
            loop {
                let outcome = async {
                    if current.as_ref().is_none_or(|c| !c.usable()) {
                        *current = Some(slot.get(shared).await?);
                    }
                    let conn = current.as_ref().expect("set above");
                    let ex = h2::exchange(conn, block, body, capture.as_deref_mut());
                    deadline
                        .within(plan.timeout, ex)
                        .await
                        .unwrap_or(Err(ErrorKind::Timeout.into()))
                }
                .await;
                match outcome {
                    Ok(ex) => return Ok(ex),
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
    }
}

/// Judges every check that applies to scenario `index` on the response just received (a
/// transport error fails them all).
fn judge_checks(
    shared: &Shared,
    index: usize,
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
    let explicit = shared.plan.scenarios.explicit;
    let mut rec = shared.recorder.borrow_mut();
    for (i, check) in shared.plan.checks.list.iter().enumerate() {
        if check.scope.is_some_and(|s| usize::from(s) != index) {
            continue;
        }
        let passed = got_response && check.passes(&response);
        rec.check(i, passed);
        if explicit {
            rec.scenario_check(index, i, passed);
        }
    }
}

/// Takes scenario `index`'s values from its response; a value not found is counted and left
/// unset (so a dependency producing it runs again), never set to an empty string.
fn extract(
    shared: &Shared,
    index: usize,
    capture: &Capture,
    outcome: &Result<Exchange, ErrorKind>,
    state: &mut VuState,
    measured: bool,
) {
    let scenario = &shared.plan.scenarios.list[index];
    for (e, ex) in scenario.extract.iter().enumerate() {
        let slot = usize::from(ex.slot);
        let found = outcome.is_ok() && ex.apply(capture, &mut state.values[slot]);
        state.present[slot] = found;
        if !found && measured {
            shared.recorder.borrow_mut().extraction_failed(index, e);
        }
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
        client.iteration(shared, intended).await;
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
                client.iteration(shared, due).await;
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
