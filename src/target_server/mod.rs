//! The built-in target (`kaioken serve`, `kaioken demo`, and the test fixture): HTTP/1.1 and
//! h2c (prior knowledge) on one loopback port, with a configurable delay, error rate, status,
//! body size, chunked bodies and a stall window.
//!
//! It is built on hyper's server, because here the server is not what we measure; it only
//! has to be correct and predictable. `GET /__kaioken/stats` returns the number of requests
//! served so far (itself excluded), so tests can count server-side.

mod app;
mod behaviour;

pub use app::fnv1a;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

pub use behaviour::{Behaviour, BehaviourError, Options};
use behaviour::{Body, Delay};

struct State {
    behaviour: Behaviour,
    served: AtomicU64,
    first: std::sync::OnceLock<Instant>,
    app: app::AppState,
}

/// Binds `addr` and returns the bound address with the serving future.
pub async fn bind(
    addr: SocketAddr,
    behaviour: Behaviour,
) -> std::io::Result<(SocketAddr, impl Future<Output = ()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let state = Arc::new(State {
        behaviour,
        served: AtomicU64::new(0),
        first: std::sync::OnceLock::new(),
        app: app::AppState::default(),
    });
    let serve = async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                // Out of file descriptors or similar: keep serving the existing connections.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _nodelay = stream.set_nodelay(true);
            let state = state.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| handle(state.clone(), req));
                // A client that resets or sends garbage ends only its own connection.
                let _closed = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    };
    Ok((local, serve))
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    if req.uri().path() == "/__kaioken/stats" {
        let n = state.served.load(Ordering::Relaxed);
        let mut doc = state.app.stats();
        doc["requests"] = n.into();
        return Ok(Response::builder()
            .header("content-type", "application/json")
            .body(Body::full(Bytes::from(format!("{doc}\n"))))
            .expect("static response parts"));
    }
    if req.uri().path().starts_with("/app/") {
        let now = Instant::now();
        let first = *state.first.get_or_init(|| now);
        let n = state.served.fetch_add(1, Ordering::Relaxed);
        // Timing applies to the application too (a slow login is what a chained test wants
        // to see); --status and --error-rate do not, the routes keep their own answers.
        let b = &state.behaviour;
        if let Some(until) = b.stall_until(first, now) {
            tokio::time::sleep_until(until.into()).await;
        }
        if !matches!(b.delay, Delay::None) {
            tokio::time::sleep(b.delay.sample(n)).await;
        }
        let (parts, body) = req.into_parts();
        let body = http_body_util::BodyExt::collect(body)
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let r = state.app.handle(
            &parts.method,
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
            &body,
        );
        let mut resp = Response::builder().status(r.status);
        for (k, v) in r.headers {
            resp = resp.header(k, v);
        }
        return Ok(resp
            .body(Body::full(r.body))
            .expect("app responses are well-formed"));
    }
    let now = Instant::now();
    let first = *state.first.get_or_init(|| now);
    let n = state.served.fetch_add(1, Ordering::Relaxed);
    let b = &state.behaviour;

    // Read (and drop) the request body so the connection stays usable.
    let _body_read = http_body_util::BodyExt::collect(req.into_body()).await;

    if let Some(until) = b.stall_until(first, now) {
        tokio::time::sleep_until(until.into()).await;
    }
    match b.delay {
        Delay::None => {}
        d => tokio::time::sleep(d.sample(n)).await,
    }
    let error = b.is_error(n);
    let status = if error { 500 } else { b.status };
    // An injected error says so in its body, so body checks can tell it from a success.
    let body = if error {
        Body::full(Bytes::from_static(b"injected error\n"))
    } else if b.chunked {
        Body::chunked(b.body.clone())
    } else {
        Body::full(b.body.clone())
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(body)
        .expect("status validated when the behaviour was built"))
}
