//! The validated, immutable description of a test.
//!
//! `plan::build` merges the command line over the config file, applies defaults, checks
//! every value and returns every problem at once, before any socket opens. The engine only
//! ever sees a [`Plan`]; `--dry-run` prints it.

mod build;
mod build_load;
pub mod capacity;
pub mod checks;
mod display;
pub mod grpc;
pub mod load_model;
pub mod outputs;
pub mod pattern;
pub mod proxy;
pub mod redact;
pub mod replay;
pub mod request;
pub mod scenario;
pub mod share;
pub mod sources;
mod target;
pub mod template;
pub mod thresholds;

use std::fmt;
use std::time::Duration;

pub use build::build;
pub use load_model::{LatencyKind, LoadModel};
pub use outputs::{Format, LiveView, Outputs, output_formats};
pub use request::Request;
pub use scenario::Scenarios;
pub use target::{ConnectTo, Dns, DnsSelect, Resolve, Scheme, Target, TlsFiles};
use target::{parse_header_parts, parse_method, parse_url_with, same_origin};

/// One invalid value: the field, what was given and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} = {value}: {fix}")]
pub struct PlanError {
    pub field: String,
    pub value: String,
    pub fix: String,
}

pub(crate) fn problem(field: &str, value: impl fmt::Display, fix: impl Into<String>) -> PlanError {
    PlanError {
        field: field.to_string(),
        value: value.to_string(),
        fix: fix.into(),
    }
}

/// Every problem found while building a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanErrors(pub Vec<PlanError>);

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PlanErrors {}

/// Which protocol carries the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    /// `streams` concurrent requests per connection at most.
    Http2 {
        streams: u64,
    },
    /// `ws://` and `wss://`: each VU keeps one WebSocket; a request is one message and its
    /// reply (see [`WebSocket`]).
    WebSocket,
}

/// How an HTTP response is read: whole, or as a stream of messages whose arrival is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamRead {
    #[default]
    Whole,
    /// `--sse`: Server-Sent Events, each ending at a blank line.
    Sse,
    /// `--stream-chunks`: each chunk the server sent.
    Chunks,
}

/// How WebSocket messages are framed and what the upgrade offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebSocket {
    /// Binary frames (`--ws-binary`) instead of text.
    pub binary: bool,
    /// `Sec-WebSocket-Protocol` offers, in order (`--ws-subprotocol`).
    pub subprotocols: Vec<String>,
    /// `--ws-fire-and-forget`: a request is one message sent; replies are not awaited but
    /// counted as they come.
    pub fire_and_forget: bool,
    /// `message_interval`: the pause between a VU's messages (applied as its think time).
    pub message_interval: Option<Duration>,
    /// `--ws-connections`: this many connections are opened when the run starts and held
    /// to its end, one per VU, whatever the message rate; the load model's VUs (or
    /// `max_vus`) are set to it.
    pub connections: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub target: Target,
    /// What is sent: one request, or the `[[scenarios]]` mix.
    pub scenarios: Scenarios,
    pub protocol: Protocol,
    /// Framing and subprotocols of a `ws://` or `wss://` target.
    pub websocket: WebSocket,
    /// The gRPC method called (`--grpc-service`, `--grpc-method`, `[grpc]`): the requests
    /// are then gRPC calls over [`Protocol::Http2`].
    pub grpc: Option<grpc::Grpc>,
    /// `--sse`, `--stream-chunks`: responses timed message by message.
    pub stream: StreamRead,
    pub load: LoadModel,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub keepalive: bool,
    pub insecure: bool,
    /// `--cacert`, `--cert`, `--key`.
    pub tls: TlsFiles,
    /// TLS session resumption on new connections (off with `--no-tls-resume`).
    pub tls_resume: bool,
    /// `--connect-to` rules, first match wins.
    pub connect_to: Vec<ConnectTo>,
    /// The proxy every connection goes through (`-x`, or the environment's).
    pub proxy: Option<proxy::Proxy>,
    /// `--dns-select`, `--dns-ttl`, `--resolve`.
    pub dns: Dns,
    /// `--local-address`: connections are spread over these source addresses.
    pub local_addresses: Vec<std::net::IpAddr>,
    pub threads: usize,
    pub graceful_stop: Duration,
    pub outputs: Outputs,
    /// Whether a remote (non-loopback, non-private) target needs confirmation.
    pub confirm_remote: bool,
    /// `[thresholds]`, in key order; judged on the final result (exit 4 when any fails).
    pub thresholds: Vec<thresholds::Threshold>,
    /// `[[checks]]`, judged on every response.
    pub checks: checks::Checks,
    /// `--fail-fast`: judge thresholds on live snapshots and stop at the first breach.
    pub fail_fast: bool,
    /// A cookie store per VU.
    pub cookie_jar: bool,
    /// Follow 3xx responses (up to [`MAX_REDIRECTS`]) instead of recording them.
    pub follow_redirects: bool,
}

/// Redirect hops followed per request before the last 3xx is recorded as the response.
pub const MAX_REDIRECTS: u8 = 10;

pub const DEFAULT_CONCURRENCY: u64 = 50;
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_GRACEFUL_STOP: Duration = Duration::from_secs(5);
pub const DEFAULT_H2_STREAMS: u64 = 10;

/// Parses a humantime duration (`10s`, `1m30s`, `250ms`); plain `0` is zero.
pub fn parse_duration(field: &str, text: &str) -> Result<Duration, PlanError> {
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.starts_with('-') {
        return Err(problem(
            field,
            text,
            "must not be negative (write e.g. 10s)",
        ));
    }
    humantime::parse_duration(t).map_err(|e| {
        problem(
            field,
            text,
            format!("not a duration ({e}); write e.g. 500ms, 10s, 2m"),
        )
    })
}

/// Parses a count with optional `k` (×1,000) or `m` (×1,000,000) suffix.
pub fn parse_count(field: &str, text: &str) -> Result<u64, PlanError> {
    let t = text.trim();
    let (digits, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1_000),
        Some((i, 'm' | 'M')) => (&t[..i], 1_000_000),
        _ => (t, 1),
    };
    let fix = "must be a whole number ≥ 0, optionally with k or m (10k, 1m)";
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| problem(field, text, fix))?;
    n.checked_mul(mult)
        .ok_or_else(|| problem(field, text, "too large"))
}

impl Plan {
    /// The single request (the first scenario's with `[[scenarios]]`).
    pub fn request(&self) -> &Request {
        self.scenarios.first()
    }

    /// Streams per HTTP/2 connection (1 for HTTP/1.1).
    pub fn protocol_streams(&self) -> usize {
        match self.protocol {
            Protocol::Http1 | Protocol::WebSocket => 1,
            Protocol::Http2 { streams } => streams as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Flags, RawConfig};

    fn args(url: &str) -> Flags {
        Flags {
            url: Some(url.to_string()),
            ..Flags::default()
        }
    }

    #[test]
    fn defaults() {
        let p = build(&args("http://127.0.0.1:8080/x?y=1"), None).unwrap();
        assert_eq!(p.load.name(), "closed");
        assert_eq!(p.load.vus(), 50);
        assert_eq!(p.load.duration(), Some(DEFAULT_DURATION));
        assert_eq!(p.load.max_requests(), None);
        assert_eq!(p.load.latency_kind(), LatencyKind::ServiceTime);
        assert_eq!(p.target.port, 8080);
        let r = p.request();
        assert!(r.is_static());
        assert_eq!(r.authority.as_str(), "127.0.0.1:8080");
        assert_eq!(r.path.sample(), b"/x?y=1");
        assert!(r.headers.is_empty() && r.body.is_empty() && r.keepalive);
    }

    #[test]
    fn n_alone_means_no_time_limit() {
        let mut a = args("http://h/");
        a.max_requests = Some("10k".into());
        let p = build(&a, None).unwrap();
        assert_eq!(p.load.duration(), None);
        assert_eq!(p.load.max_requests(), Some(10_000));
        assert_eq!(p.target.port, 80);
    }

    #[test]
    fn cli_overrides_file_even_at_default_value() {
        let file = RawConfig::parse("[load]\nconcurrency = 7\nduration = \"3s\"\n", "t").unwrap();
        let mut a = args("http://h/");
        a.concurrency = Some(50);
        let p = build(&a, Some(&file)).unwrap();
        assert_eq!(p.load.vus(), 50);
        assert_eq!(p.load.duration(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn bad_inputs_name_the_field() {
        type Edit = fn(&mut Flags);
        let cases: &[(&str, Edit, &str)] = &[
            ("ftp://h/", |_| {}, "unsupported scheme `ftp`"),
            ("not a url", |_| {}, "write a full URL"),
            ("http://h:99999/", |_| {}, "malformed host or port"),
            ("http://h/", |a| a.concurrency = Some(0), "concurrency = 0"),
            (
                "http://h/",
                |a| a.duration = Some("-5s".into()),
                "duration = -5s",
            ),
            (
                "http://h/",
                |a| a.duration = Some("soon".into()),
                "not a duration",
            ),
            (
                "http://h/",
                |a| a.headers = vec!["NoColon".into()],
                "`Name: value`",
            ),
            (
                "http://h/",
                |a| a.headers = vec!["Bad Name: x".into()],
                "header names are tokens",
            ),
            (
                "http://h/",
                |a| a.body_file = Some("/nonexistent/kaioken".into()),
                "body_file = /nonexistent/kaioken",
            ),
            ("http://h/${NOPE}", |_| {}, "unknown variable ${NOPE}"),
            (
                "http://h/",
                |a| a.max_requests = Some("lots".into()),
                "max_requests = lots",
            ),
        ];
        for (url, edit, want) in cases {
            let mut a = args(url);
            edit(&mut a);
            let e = build(&a, None).unwrap_err().to_string();
            assert!(e.contains(want), "{url}: {e:?} lacks {want:?}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn counts_and_durations() {
        assert_eq!(parse_count("n", "10k").unwrap(), 10_000);
        assert_eq!(parse_count("n", "1m").unwrap(), 1_000_000);
        assert_eq!(parse_count("n", "0").unwrap(), 0);
        assert!(parse_count("n", "-1").is_err());
        assert_eq!(
            parse_duration("d", "1m30s").unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(parse_duration("d", "0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn runtime_vars_make_request_dynamic() {
        let mut a = args("http://h/i/${REQUEST_ID}");
        a.method = Some("post".into());
        a.body = Some("{\"t\":${TIMESTAMP_MS}}".into());
        let p = build(&a, None).unwrap();
        assert!(!p.request().is_static());
        assert_eq!(p.request().method, http::Method::POST);
    }
}
