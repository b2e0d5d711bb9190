//! Bytes on the wire: connecting, TLS, HTTP/1.1 and HTTP/2 (both our own lean codecs).
//!
//! Every per-request failure is classified here, once, into a `Copy` [`ErrorKind`] so that the
//! recorder can count it in a fixed array: no string is built for a failed request. Nothing in
//! this module knows about load models, recording or sinks.
//!
//! The contract the engine drives is [`session::Session`]: send one compiled request, get an
//! [`Outcome`] or an [`ErrorKind`]. Adding a protocol is a module here and a variant of
//! [`session::AnySession`]; see `docs/ARCHITECTURE.md`.

pub mod capture;
pub mod connect;
mod deadline;
pub mod grpc_reflect;
pub mod h2;
pub mod http1;
pub mod messages;
pub mod session;
pub mod stream;
pub mod tls;
pub mod websocket;

pub use deadline::Deadline;
pub use session::{AnySession, Pool, Session};

use std::time::Instant;

/// Why a request produced no usable response. The names are the JSON keys of `errors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The TCP connection was refused (nothing listening).
    ConnectRefused,
    /// The TCP or TLS connection was not established within `connect_timeout`.
    ConnectTimeout,
    /// Any other failure while connecting (unreachable network, address in use...).
    ConnectError,
    /// The host's name did not resolve when a new connection asked again (`--dns-ttl`).
    Dns,
    /// The request did not complete within `timeout`.
    Timeout,
    /// The peer reset the connection.
    Reset,
    /// The peer closed the connection before the response was complete.
    Closed,
    /// TLS handshake or record failure (other than the certificate).
    Tls,
    /// The server's certificate was refused: unknown issuer, expired, wrong name.
    TlsCertInvalid,
    /// The proxy could not be reached, or would not open the tunnel (CONNECT answered
    /// with an error, a SOCKS5 proxy that closed).
    ProxyConnect,
    /// The proxy refused the credentials (407, or SOCKS5 authentication failed).
    ProxyAuth,
    /// The SOCKS5 proxy refused the connection to the target (unreachable, not allowed,
    /// unsupported).
    Socks,
    /// The response was not valid HTTP (garbage, bad framing, h2 protocol error).
    Protocol,
    /// The response head exceeded our limit.
    HeaderTooLarge,
    /// The server did not upgrade to WebSocket (another status, a missing or wrong
    /// `Sec-WebSocket-Accept`, a subprotocol it was not offered).
    WsUpgrade,
    /// The server closed the WebSocket (a close frame) while a reply was awaited.
    WsClosed,
    /// The request message could not be encoded: a rendered JSON body that does not fit
    /// the gRPC method's input type. Nothing was sent.
    Encode,
    /// Any other I/O error.
    Io,
    /// The generator itself ran out of something a connection needs: file descriptors
    /// (EMFILE, ENFILE), local ports or addresses (EADDRNOTAVAIL), socket buffers (ENOBUFS).
    /// Not the server's doing; the health verdict counts it against the generator.
    LocalResources,
}

impl ErrorKind {
    /// Number of kinds: the size of the recorder's counter array.
    pub const COUNT: usize = 19;
    /// Every kind, in index order.
    pub const ALL: [ErrorKind; Self::COUNT] = [
        ErrorKind::ConnectRefused,
        ErrorKind::ConnectTimeout,
        ErrorKind::ConnectError,
        ErrorKind::Dns,
        ErrorKind::Timeout,
        ErrorKind::Reset,
        ErrorKind::Closed,
        ErrorKind::Tls,
        ErrorKind::TlsCertInvalid,
        ErrorKind::ProxyConnect,
        ErrorKind::ProxyAuth,
        ErrorKind::Socks,
        ErrorKind::Protocol,
        ErrorKind::HeaderTooLarge,
        ErrorKind::WsUpgrade,
        ErrorKind::WsClosed,
        ErrorKind::Encode,
        ErrorKind::Io,
        ErrorKind::LocalResources,
    ];

    /// The snake_case name used in results and summaries.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::ConnectTimeout => "connect_timeout",
            ErrorKind::ConnectError => "connect_error",
            ErrorKind::Dns => "dns",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::Closed => "closed",
            ErrorKind::Tls => "tls_handshake",
            ErrorKind::TlsCertInvalid => "tls_cert_invalid",
            ErrorKind::ProxyConnect => "proxy_connect",
            ErrorKind::ProxyAuth => "proxy_auth",
            ErrorKind::Socks => "socks",
            ErrorKind::Protocol => "protocol",
            ErrorKind::HeaderTooLarge => "header_too_large",
            ErrorKind::WsUpgrade => "ws_upgrade",
            ErrorKind::WsClosed => "ws_closed",
            ErrorKind::Encode => "encode",
            ErrorKind::Io => "io",
            ErrorKind::LocalResources => "local_resources",
        }
    }

    /// Index into a `[u64; ErrorKind::COUNT]` counter array.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Classifies an I/O error that happened after the connection was established.
    pub fn from_io(err: &std::io::Error) -> ErrorKind {
        use std::io::ErrorKind as K;
        match err.kind() {
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => ErrorKind::Reset,
            K::UnexpectedEof => ErrorKind::Closed,
            K::TimedOut => ErrorKind::Timeout,
            K::InvalidData => {
                // rustls reports record-layer failures as InvalidData.
                if err
                    .get_ref()
                    .is_some_and(|e| e.downcast_ref::<rustls::Error>().is_some())
                {
                    ErrorKind::Tls
                } else {
                    ErrorKind::Protocol
                }
            }
            _ => ErrorKind::Io,
        }
    }

    /// Classifies an I/O error raised while connecting.
    pub fn from_connect_io(err: &std::io::Error) -> ErrorKind {
        use std::io::ErrorKind as K;
        // EMFILE, ENFILE, EADDRNOTAVAIL, ENOBUFS: the generator's own limits.
        if matches!(err.raw_os_error(), Some(24 | 23 | 99 | 105)) {
            return ErrorKind::LocalResources;
        }
        match err.kind() {
            K::ConnectionRefused => ErrorKind::ConnectRefused,
            K::TimedOut => ErrorKind::ConnectTimeout,
            _ => ErrorKind::ConnectError,
        }
    }
}

/// A response's status, in its protocol's own terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// An HTTP status code (HTTP/1.1 and HTTP/2).
    Http(u16),
    /// A gRPC status code (0 = OK .. 16 = UNAUTHENTICATED), from the `grpc-status` trailer
    /// or, when the server sent none, mapped from the HTTP status as gRPC specifies.
    Grpc(u8),
}

/// Where gRPC codes start in the status counters: after every HTTP code, so one array
/// counts both without ambiguity.
const GRPC_BASE: u16 = 600;

impl Status {
    /// Counter slots needed for every status: HTTP's 0..600 and gRPC's 17 codes.
    pub const SLOTS: usize = GRPC_BASE as usize + 17;

    /// The HTTP status, for the rules that are HTTP's own (redirects, a 401 that makes
    /// extracted values stale); `None` for a protocol without one.
    pub fn http(self) -> Option<u16> {
        match self {
            Status::Http(code) => Some(code),
            Status::Grpc(_) => None,
        }
    }

    /// The number counted in the results' `status_codes` and judged by checks: the HTTP
    /// code, or a gRPC code after [`GRPC_BASE`] (see [`Status::from_code`]).
    pub fn code(self) -> u16 {
        match self {
            Status::Http(code) => code,
            Status::Grpc(c) => GRPC_BASE + u16::from(c),
        }
    }

    /// The status a counter slot stands for.
    pub fn from_code(code: u16) -> Status {
        match code.checked_sub(GRPC_BASE) {
            Some(c) => Status::Grpc(c.min(16) as u8),
            None => Status::Http(code),
        }
    }

    /// Whether the response counts as successful: HTTP below 400, gRPC `OK`.
    pub fn is_ok(self) -> bool {
        match self {
            Status::Http(code) => code < 400,
            Status::Grpc(c) => c == 0,
        }
    }

    /// How bad it is, for colours: 0 good, 1 a client's fault, 2 a server's.
    pub fn severity(self) -> u8 {
        match self {
            Status::Http(c) if c < 400 => 0,
            Status::Http(c) if c < 500 => 1,
            Status::Http(_) => 2,
            Status::Grpc(0) => 0,
            // The codes a caller causes: INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS,
            // PERMISSION_DENIED, FAILED_PRECONDITION, OUT_OF_RANGE, UNAUTHENTICATED.
            Status::Grpc(3 | 5 | 6 | 7 | 9 | 11 | 16) => 1,
            Status::Grpc(_) => 2,
        }
    }

    /// The gRPC status of a response that carried no `grpc-status` (the gRPC spec's
    /// "HTTP to gRPC status code mapping").
    pub fn grpc_from_http(code: u16) -> Status {
        Status::Grpc(match code {
            400 => 13,             // INTERNAL
            401 => 16,             // UNAUTHENTICATED
            403 => 7,              // PERMISSION_DENIED
            404 => 12,             // UNIMPLEMENTED
            429 | 502..=504 => 14, // UNAVAILABLE
            _ => 2,                // UNKNOWN
        })
    }
}

/// In live snapshots: an HTTP status as its number, a gRPC one by name.
impl serde::Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Status::Http(c) => s.serialize_u16(*c),
            Status::Grpc(_) => s.collect_str(self),
        }
    }
}

/// The key in `status_codes`: the HTTP code, or the gRPC status name.
impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Http(c) => write!(f, "{c}"),
            Status::Grpc(c) => {
                f.write_str(crate::plan::grpc::STATUS_NAMES[usize::from(*c).min(16)])
            }
        }
    }
}

/// What opening one connection cost: the whole set-up (TCP, proxy, TLS) and, for TLS to
/// the target, the handshake on its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setup {
    pub total: std::time::Duration,
    pub tls: Option<Handshake>,
}

/// One TLS handshake with the target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Handshake {
    pub time: std::time::Duration,
    /// The session was resumed (a ticket or ID from an earlier connection).
    pub resumed: bool,
}

/// What one completed request/response exchange measured.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub status: Status,
    /// Bytes read from the wire for this response (head and body, after TLS).
    pub bytes: u64,
    /// When the first byte of the response arrived.
    pub first_byte: Instant,
    /// Whether the connection may be reused for the next request.
    pub keep_alive: bool,
    /// Messages in the reply: gRPC's length-prefixed messages (several on a stream); 0 for
    /// HTTP, 1 for a WebSocket reply.
    pub messages: u32,
    /// When the reply's first message was complete (gRPC, WebSocket).
    pub first_message: Option<Instant>,
}
