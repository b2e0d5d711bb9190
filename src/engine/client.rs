//! One VU's requests, whatever the load model: the dependencies an iteration needs, the
//! weighted scenario, redirects, the cookie jar, checks and extraction. The bytes go through
//! the transport's [`Session`]; the loops that decide *when* live in `vu`.
//!
//! This is the request path. It allocates nothing per request (buffers are reused, the
//! static request is pre-rendered), takes no lock and sends on no channel; the recorder is a
//! thread-local `RefCell` borrowed for the few nanoseconds of a record.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use http::Method;

use super::shared::Shared;
use crate::plan::MAX_REDIRECTS;
use crate::plan::checks;
use crate::plan::replay::Entry;
use crate::plan::template::{RenderOpts, Vars};
use crate::transport::capture::Capture;
use crate::transport::{AnySession, ErrorKind, Outcome, Session};

fn vars<'a>(shared: &Shared, values: &'a [Vec<u8>]) -> Vars<'a> {
    Vars {
        request_id: shared.next_request_id(),
        timestamp_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        values,
    }
}

/// How one VU's requests go out, and what it keeps of responses.
pub(crate) struct Client {
    /// The VU's HTTP session and one per WebSocket its scenarios hold (see
    /// [`crate::transport::Pool::carrier`]); one session for a single-protocol run.
    sessions: Vec<AnySession>,
    /// Present when checks, extraction, the cookie jar or redirects read responses.
    capture: Option<Capture>,
    state: VuState,
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

impl Client {
    /// The VU is done: its session ends what it holds open as the protocol asks (a
    /// WebSocket's closing handshake), so the server sees a clean end, not a dropped socket.
    pub async fn finish(&mut self) {
        for s in &mut self.sessions {
            s.close().await;
        }
    }

    /// Opens the VU's connection ahead of its first message when the plan holds connections
    /// (`--ws-connections`); its set-up goes to the connect-time histograms.
    pub async fn open(&mut self, shared: &Shared) {
        if shared.plan.websocket.connections.is_none() {
            return;
        }
        let v = vars(shared, &self.state.values);
        let pool = &shared.pool;
        for (session, first) in self.sessions.iter_mut().zip(pool.carriers()) {
            let Some(index) = *first else { continue };
            session.open(pool, index, &v).await;
            if let Some(setup) = session.take_setup() {
                shared.recorder.borrow_mut().connected(setup);
            }
        }
    }

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
            sessions: shared.pool.sessions(local),
            capture,
            state,
        }
    }

    /// One iteration that was due at `intended`: the dependencies it needs, then the next
    /// scenario of the weighted cycle (or the single request).
    pub async fn iteration(&mut self, shared: &Shared, intended: Instant) {
        let scenarios = &shared.plan.scenarios;
        if !scenarios.explicit {
            self.request(shared, 0, intended, None).await;
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
                self.request(shared, usize::from(d), Instant::now(), None)
                    .await;
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
        self.request(shared, i, intended, None).await;
    }

    /// One replayed record, due at `intended`: its method, path, headers and body over the
    /// plan's request (the target, the user's headers), through the same checks, cookies
    /// and redirects as any request.
    pub async fn replay(&mut self, shared: &Shared, intended: Instant, entry: &Entry) {
        // With scenarios, the first whose `match` takes the record's path (the last,
        // unmatched one takes any).
        let matchers = &shared.path_matchers;
        let index = if matchers.len() == 1 {
            0
        } else {
            let path = std::str::from_utf8(&entry.target).unwrap_or("");
            matchers
                .iter()
                .position(|m| m.as_ref().is_none_or(|m| m.is_match(path)))
                .unwrap_or(matchers.len() - 1)
        };
        self.request(shared, index, intended, Some(entry)).await;
    }

    /// Sends scenario `index`'s request (following redirects), judges and extracts from the
    /// final response, and records it.
    async fn request(
        &mut self,
        shared: &Shared,
        index: usize,
        intended: Instant,
        entry: Option<&Entry>,
    ) {
        let plan = &shared.plan;
        let scenario = &plan.scenarios.list[index];
        let req = &scenario.request;
        let Client {
            sessions,
            capture,
            state,
        } = self;
        let session = &mut sessions[shared.pool.carrier(index)];
        let start = Instant::now();
        shared.in_flight.set(shared.in_flight.get() + 1);
        let v = if req.is_static() && state.jar.is_none() {
            Vars::default()
        } else {
            vars(shared, &state.values)
        };
        let render_path = |v: &Vars, out: &mut Vec<u8>| {
            out.clear();
            match entry {
                Some(e) => out.extend_from_slice(&e.target),
                None => req.path.render(v, out),
            }
        };
        if let Some(jar) = &state.jar {
            render_path(&v, &mut state.path);
            jar.header(&state.path, &mut state.cookie);
        }
        let opts = RenderOpts {
            cookie: &state.cookie,
            method: entry.map(|e| &e.method),
            path: entry.map(|e| e.target.as_slice()),
            headers: entry.map_or(&[], |e| e.headers.as_slice()),
            body_bytes: entry.map(|e| e.body.as_slice()),
            ..RenderOpts::default()
        };
        let mut outcome = session
            .send(&shared.pool, index, intended, &v, opts, capture.as_mut())
            .await;
        let mut hops = 0u64;
        let mut method = entry.map_or(&req.method, |e| &e.method).clone();
        while plan.follow_redirects
            && let Ok(ex) = &outcome
            && let Some(code @ (301 | 302 | 303 | 307 | 308)) = ex.status.http()
            && hops < u64::from(MAX_REDIRECTS)
            && let Some(c) = capture.as_ref()
            && !c.location.is_empty()
        {
            if state.jar.is_none() {
                render_path(&v, &mut state.path);
            }
            if let Some(jar) = &mut state.jar {
                jar.store(&state.path, &c.set_cookie);
            }
            // Only same-origin targets are followed: connections go to one origin.
            if !same_origin_path(&plan.target, &state.path, &c.location, &mut state.redirect) {
                break;
            }
            // Browsers' rules: 303 becomes GET; so do 301/302 after a POST. 307/308 repeat.
            let keep_body = matches!(code, 307 | 308);
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
                headers: entry.map_or(&[], |e| e.headers.as_slice()),
                body_bytes: entry.map(|e| e.body.as_slice()),
            };
            outcome = session
                .send(&shared.pool, index, intended, &v, opts, capture.as_mut())
                .await;
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
            && ex.status.http() == Some(401)
        {
            for s in &scenario.uses {
                state.present[usize::from(*s)] = false;
            }
        }
        if hops > 0 && measured {
            let i = plan.scenarios.explicit.then_some(index);
            shared.recorder.borrow_mut().redirects(i, hops);
        }
        if let Some(setup) = session.take_setup() {
            shared.recorder.borrow_mut().connected(setup);
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

/// Judges every check that applies to scenario `index` on the response just received (a
/// transport error fails them all).
fn judge_checks(
    shared: &Shared,
    index: usize,
    capture: &Capture,
    outcome: &Result<Outcome, ErrorKind>,
    intended: Instant,
) {
    let header = |i: usize| capture.value(i);
    let response = checks::Response {
        status: outcome.as_ref().map_or(0, |e| e.status.code()),
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
    outcome: &Result<Outcome, ErrorKind>,
    state: &mut VuState,
    measured: bool,
) {
    let scenario = &shared.plan.scenarios.list[index];
    for (e, ex) in scenario.extract.iter().enumerate() {
        let slot = usize::from(ex.slot);
        let found = outcome.is_ok()
            && ex.apply(&capture.body, |i| capture.value(i), &mut state.values[slot]);
        state.present[slot] = found;
        if !found && measured {
            shared.recorder.borrow_mut().extraction_failed(index, e);
        }
    }
}
