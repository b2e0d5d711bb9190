//! Opening connections: TCP (with `TCP_NODELAY`), through a proxy when there is one (TLS to
//! an https:// proxy, then an HTTP CONNECT tunnel or a SOCKS5 connection), and, for
//! https://, TLS to the target on top.
//!
//! Addresses are resolved once, before the run, so DNS is never on the request path; each
//! new connection takes the next address round-robin.

use std::borrow::Cow;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_socks::TargetAddr;
use tokio_socks::tcp::Socks5Stream;

use super::http1::decode::parse_head;
pub use super::stream::Stream;
use super::{ErrorKind, Handshake, tls};
use crate::plan::proxy::{Credentials, ProxyKind};
use crate::plan::{DnsSelect, Plan, Protocol, Resolve, Scheme};

/// Client-side TLS to one server: the config and the name it is checked against.
pub type TlsTo = (
    tokio_rustls::TlsConnector,
    rustls::pki_types::ServerName<'static>,
);

/// Everything needed to open a connection to the target; cheap to clone per thread.
#[derive(Clone)]
pub struct Connector {
    /// Where TCP connects: the target's addresses, or the proxy's, as first resolved.
    pub addrs: Arc<[SocketAddr]>,
    /// How those addresses are used and resolved again.
    pub dns: Arc<Resolver>,
    /// `--local-address`: source addresses, spread over connections.
    pub local: Arc<[IpAddr]>,
    /// TLS to the target (https:// targets).
    pub tls: Option<TlsTo>,
    /// The proxy in between, if any.
    pub via: Option<Arc<Via>>,
    pub connect_timeout: Duration,
    /// What a count alone does not say, kept once for the summary.
    pub reasons: Arc<Reasons>,
}

/// The first reason seen for a failure whose kind alone does not say what to fix: a
/// refused certificate may be from an unknown issuer, expired or for another name; a
/// WebSocket upgrade may be refused with a 404 or a missing subprotocol. Written once per
/// kind, on the failure path, so a run of a million refusals builds one string.
#[derive(Debug)]
pub struct Reasons {
    first: [std::sync::OnceLock<String>; ErrorKind::COUNT],
}

impl Default for Reasons {
    fn default() -> Self {
        Reasons {
            first: std::array::from_fn(|_| std::sync::OnceLock::new()),
        }
    }
}

impl Reasons {
    /// Kind name to reason, for the results (`error_reasons`).
    pub fn by_kind(&self) -> std::collections::BTreeMap<String, String> {
        ErrorKind::ALL
            .iter()
            .filter_map(|k| {
                self.first[k.index()]
                    .get()
                    .map(|r| (k.name().to_string(), r.clone()))
            })
            .collect()
    }

    /// Keeps `why` as `kind`'s reason unless one was kept before (`why` is called only
    /// then).
    pub fn note(&self, kind: ErrorKind, why: impl FnOnce() -> String) {
        let slot = &self.first[kind.index()];
        if slot.get().is_none() {
            let _ = slot.set(why());
        }
    }

    /// Classifies a failed TLS handshake with `whom` ("the target", "the proxy"): the
    /// certificate refused apart from every other failure, keeping the first refusal's
    /// reason.
    fn handshake(&self, e: &io::Error, whom: &str) -> ErrorKind {
        let kind = handshake_error(e);
        match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(rustls::Error::InvalidCertificate(c)) => {
                self.note(kind, || format!("{whom}: {}", cert_reason(c)));
            }
            // A TLS record's first byte is its content type; an HTTP response's is `H`.
            Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)) => {
                self.note(kind, || {
                    format!("{whom} answered in plain HTTP, not TLS: use http:// (or its TLS port)")
                });
            }
            Some(other) => self.note(kind, || format!("{whom}: {other}")),
            None => {}
        }
        kind
    }
}

/// `DnsName("a.test")` (how the verifier lists a certificate's names) as `a.test`.
fn bare_name(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .unwrap_or(presented)
}

/// A refused certificate in a few words, with what to do about it.
fn cert_reason(e: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match e {
        C::UnknownIssuer => {
            "unknown issuer (trust its CA with --cacert, or skip checks with --insecure)".into()
        }
        C::Expired | C::ExpiredContext { .. } => "certificate expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "certificate not valid yet".into(),
        C::NotValidForName => "certificate not valid for the URL's host name".into(),
        C::NotValidForNameContext {
            expected,
            presented,
        } => format!(
            "certificate not valid for name {} (it names {}; the URL's host is the name \
             checked, also under --connect-to)",
            expected.to_str(),
            if presented.is_empty() {
                "no name".to_string()
            } else {
                presented
                    .iter()
                    .map(|n| bare_name(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
        C::Revoked => "certificate revoked".into(),
        C::BadSignature => "bad signature".into(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "certificate not for TLS servers (extended key usage)".into()
        }
        other => other.to_string(),
    }
}

/// The proxy a connection goes through: TLS to it (`https://` proxies), then the hop that
/// reaches the target.
pub struct Via {
    pub tls: Option<TlsTo>,
    pub hop: Hop,
}

/// How the proxy is asked for the target.
pub enum Hop {
    /// Nothing at connect time: requests go in absolute form (an HTTP proxy and an
    /// http:// target over HTTP/1.1).
    Forward,
    /// An HTTP `CONNECT` tunnel; the request is rendered once.
    Connect(Box<[u8]>),
    /// A SOCKS5 `CONNECT` to the target's name (`socks5h://`) or to one of its addresses,
    /// resolved here (`socks5://`), round-robin.
    Socks {
        target: SocksTarget,
        auth: Option<Credentials>,
    },
}

/// What a SOCKS5 proxy is asked to connect to.
pub enum SocksTarget {
    Name(String, u16),
    Addrs(Arc<[SocketAddr]>),
}

/// Where the first hop's addresses come from, and which one each connection takes.
pub struct Resolver {
    /// The name TCP connects to (the target's, its `--connect-to` address, or the proxy's).
    pub host: String,
    pub port: u16,
    pub select: DnsSelect,
    pub ttl: Option<Duration>,
    pub rules: Vec<Resolve>,
    /// The system's resolver (blocking: run off the runtime's thread). A field so that a
    /// test can make a name stop resolving mid-run.
    pub lookup: fn(&str, u16) -> io::Result<Vec<SocketAddr>>,
}

impl Resolver {
    /// The address connection number `n` takes from `answer`.
    pub fn pick(&self, answer: &[SocketAddr], n: usize) -> SocketAddr {
        match self.select {
            DnsSelect::First => answer[0],
            DnsSelect::RoundRobin => answer[n % answer.len()],
            DnsSelect::Random => answer[rand::random_range(0..answer.len())],
        }
    }

    /// Asks again: a `--resolve` rule, else the system's resolver. An empty answer is an
    /// error.
    pub async fn resolve(&self) -> Result<Arc<[SocketAddr]>, ErrorKind> {
        if let Some(a) = self
            .rules
            .iter()
            .find_map(|r| r.answer(&self.host, self.port))
        {
            return Ok(a.into());
        }
        let (host, port, lookup) = (self.host.clone(), self.port, self.lookup);
        match tokio::task::spawn_blocking(move || lookup(&host, port)).await {
            Ok(Ok(a)) if !a.is_empty() => Ok(a.into()),
            _ => Err(ErrorKind::Dns),
        }
    }
}

/// The system's resolver, as `lookup` for [`Resolver`].
pub fn system_lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    Ok((host, port).to_socket_addrs()?.collect())
}

/// A thread's current answer for the first hop and when a new connection must ask again.
pub struct Answer {
    pub addrs: Arc<[SocketAddr]>,
    pub expires: Option<Instant>,
}

impl Answer {
    /// The answer resolved before the run, valid for `ttl` from `now`.
    pub fn first(connector: &Connector, now: Instant) -> Answer {
        Answer {
            addrs: connector.addrs.clone(),
            expires: connector.dns.ttl.map(|t| now + t),
        }
    }

    /// The address for connection `n`, resolving again first when the answer expired. A
    /// failed resolution is a `dns` error for this connection; the next one asks again
    /// after a second (a name that stopped resolving is not asked for at the request rate).
    pub async fn address(
        cell: &std::cell::RefCell<Answer>,
        dns: &Resolver,
        n: usize,
    ) -> Result<SocketAddr, ErrorKind> {
        // A kept answer (`--dns-ttl inf`) reads no clock.
        let expires = cell.borrow().expires;
        let now = expires.map(|_| Instant::now());
        if let (Some(e), Some(now)) = (expires, now)
            && now >= e
        {
            match dns.resolve().await {
                Ok(addrs) => {
                    *cell.borrow_mut() = Answer {
                        addrs,
                        expires: dns.ttl.map(|t| now + t),
                    };
                }
                Err(kind) => {
                    cell.borrow_mut().expires = Some(now + Duration::from_secs(1));
                    return Err(kind);
                }
            }
        }
        Ok(dns.pick(&cell.borrow().addrs, n))
    }
}

impl Connector {
    /// Opens connection number `n` to the first address resolved before the run (the
    /// set-up probe and `--debug`; the load path uses [`Connector::connect_at`]).
    pub async fn connect(&self, n: usize) -> Result<Stream, ErrorKind> {
        let addr = self.dns.pick(&self.addrs, n);
        Ok(self.connect_at(addr, n).await?.0)
    }

    /// A TCP connection to `addr`, from the `--local-address` of its family that is next.
    async fn tcp(&self, addr: SocketAddr, n: usize) -> io::Result<TcpStream> {
        if self.local.is_empty() {
            return TcpStream::connect(addr).await;
        }
        let same = |ip: &&IpAddr| ip.is_ipv4() == addr.is_ipv4();
        let count = self.local.iter().filter(same).count();
        let Some(local) = self.local.iter().filter(same).nth(n % count.max(1)) else {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "no --local-address of this address family",
            ));
        };
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.bind(SocketAddr::new(*local, 0))?;
        socket.connect(addr).await
    }

    /// Opens connection number `n` to `addr` (the first hop: the target or the proxy), and
    /// says what the TLS handshake with the target cost.
    pub async fn connect_at(
        &self,
        addr: SocketAddr,
        n: usize,
    ) -> Result<(Stream, Option<Handshake>), ErrorKind> {
        let fut = async {
            let proxied = self.via.is_some();
            let tcp = self.tcp(addr, n).await.map_err(|e| {
                if proxied {
                    ErrorKind::ProxyConnect
                } else {
                    ErrorKind::from_connect_io(&e)
                }
            })?;
            tcp.set_nodelay(true)
                .map_err(|e| ErrorKind::from_connect_io(&e))?;
            let Some(via) = &self.via else {
                return self.target_tls(tcp).await;
            };
            match &via.tls {
                None => {
                    let tcp = via.hop.open(tcp, n).await?;
                    self.target_tls(tcp).await
                }
                Some((connector, name)) => {
                    let to_proxy = connector.connect(name.clone(), tcp).await.map_err(|e| {
                        match self.reasons.handshake(&e, "proxy") {
                            ErrorKind::TlsCertInvalid => ErrorKind::TlsCertInvalid,
                            _ => ErrorKind::ProxyConnect,
                        }
                    })?;
                    let tunnel = via.hop.open(to_proxy, n).await?;
                    match &self.tls {
                        None => Ok((Stream::Tls(Box::new(tunnel)), None)),
                        Some((connector, name)) => {
                            let t = Instant::now();
                            let tls = connector
                                .connect(name.clone(), tunnel)
                                .await
                                .map_err(|e| self.reasons.handshake(&e, "target"))?;
                            let done = handshake(t, tls.get_ref().1);
                            Ok((Stream::TlsInTls(Box::new(tls)), Some(done)))
                        }
                    }
                }
            }
        };
        match tokio::time::timeout(self.connect_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(ErrorKind::ConnectTimeout),
        }
    }

    /// TLS to the target over `tcp` for https://, else `tcp` as it is.
    async fn target_tls(&self, tcp: TcpStream) -> Result<(Stream, Option<Handshake>), ErrorKind> {
        match &self.tls {
            None => Ok((Stream::Plain(tcp), None)),
            Some((connector, name)) => {
                let t = Instant::now();
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| self.reasons.handshake(&e, "target"))?;
                let done = handshake(t, tls.get_ref().1);
                Ok((Stream::Tls(Box::new(tls)), Some(done)))
            }
        }
    }
}

/// The handshake that began at `t` and ended now on `conn`.
fn handshake(t: Instant, conn: &rustls::ClientConnection) -> Handshake {
    Handshake {
        time: t.elapsed(),
        resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
    }
}

/// A CONNECT response head larger than this is refused: proxies answer in a few lines.
const MAX_CONNECT_HEAD: usize = 16 * 1024;

impl Hop {
    /// Asks the proxy on `io` for the target; returns the same stream, now reaching it.
    async fn open<S>(&self, mut io: S, n: usize) -> Result<S, ErrorKind>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match self {
            Hop::Forward => Ok(io),
            Hop::Connect(request) => {
                io.write_all(request)
                    .await
                    .map_err(|_| ErrorKind::ProxyConnect)?;
                let mut head = Vec::with_capacity(256);
                let mut chunk = [0u8; 1024];
                loop {
                    let got = io
                        .read(&mut chunk)
                        .await
                        .map_err(|_| ErrorKind::ProxyConnect)?;
                    if got == 0 {
                        return Err(ErrorKind::ProxyConnect);
                    }
                    head.extend_from_slice(&chunk[..got]);
                    // `request_is_head`: a CONNECT answer has no body we would read.
                    match parse_head(&head, true) {
                        Ok(Some(h)) if (200..300).contains(&h.status) => {
                            // The target speaks only after we do: bytes past the head
                            // would be a proxy that does not tunnel.
                            return if h.len == head.len() {
                                Ok(io)
                            } else {
                                Err(ErrorKind::ProxyConnect)
                            };
                        }
                        Ok(Some(h)) if h.status == 407 => return Err(ErrorKind::ProxyAuth),
                        Ok(Some(_)) | Err(_) => return Err(ErrorKind::ProxyConnect),
                        Ok(None) if head.len() > MAX_CONNECT_HEAD => {
                            return Err(ErrorKind::ProxyConnect);
                        }
                        Ok(None) => {}
                    }
                }
            }
            Hop::Socks { target, auth } => {
                let to = match target {
                    SocksTarget::Name(host, port) => {
                        TargetAddr::Domain(Cow::Borrowed(host.as_str()), *port)
                    }
                    SocksTarget::Addrs(addrs) => TargetAddr::Ip(addrs[n % addrs.len()]),
                };
                let result = match auth {
                    None => Socks5Stream::connect_with_socket(io, to).await,
                    Some(c) => {
                        Socks5Stream::connect_with_password_and_socket(io, to, &c.user, &c.pass)
                            .await
                    }
                };
                result
                    .map(Socks5Stream::into_inner)
                    .map_err(|e| socks_error(&e))
            }
        }
    }
}

/// Classifies a failed SOCKS5 exchange: refused credentials apart from every other refusal
/// (the proxy could not reach the target, a command or address type it does not support).
fn socks_error(e: &tokio_socks::Error) -> ErrorKind {
    use tokio_socks::Error as E;
    match e {
        E::NoAcceptableAuthMethods | E::PasswordAuthFailure(_) | E::AuthorizationRequired => {
            ErrorKind::ProxyAuth
        }
        E::Io(_) => ErrorKind::ProxyConnect,
        _ => ErrorKind::Socks,
    }
}

/// Classifies a failed TLS handshake: the server's certificate refused (unknown issuer,
/// expired, wrong name) apart from every other handshake failure.
fn handshake_error(e: &io::Error) -> ErrorKind {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(_)) => ErrorKind::TlsCertInvalid,
        Some(_) => ErrorKind::Tls,
        None => match ErrorKind::from_io(e) {
            ErrorKind::Reset | ErrorKind::Closed => ErrorKind::Reset,
            _ => ErrorKind::Tls,
        },
    }
}

/// Why the run cannot start: each names what to check.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot resolve host {host}: {why} (check the URL's host name)")]
    Resolve { host: String, why: String },
    #[error(
        "cannot resolve proxy host {host}: {why} (check the --proxy URL or the *_PROXY variable)"
    )]
    ResolveProxy { host: String, why: String },
    #[error("local_address = {addr}: {why} (give an address of this machine, e.g. 127.0.0.2)")]
    LocalAddress { addr: IpAddr, why: String },
    #[error("url: host {0} is not a valid TLS server name")]
    ServerName(String),
    #[error(transparent)]
    Tls(#[from] tls::TlsSetupError),
    #[error(
        "http2 = true: {0} did not pick h2 in the TLS handshake (ALPN); drop --http2 to test \
         it over HTTP/1.1"
    )]
    NoH2(String),
}

impl SetupError {
    /// Whether the fix is in what was given (a file, an address, a name) rather than in the
    /// network or the server: the command's usage errors when it came from flags.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            SetupError::LocalAddress { .. } | SetupError::ServerName(_) | SetupError::Tls(_)
        )
    }
}

/// Resolves `host` once, before the run (a `--resolve` rule first): DNS is never on the
/// request path.
pub fn resolve(rules: &[Resolve], host: &str, port: u16) -> Result<Vec<SocketAddr>, SetupError> {
    if let Some(a) = rules.iter().find_map(|r| r.answer(host, port)) {
        return Ok(a);
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| SetupError::Resolve {
            host: host.to_string(),
            why: e.to_string(),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(SetupError::Resolve {
            host: host.to_string(),
            why: "no addresses".to_string(),
        });
    }
    Ok(addrs)
}

/// Where a run's connections go, resolved once before the run.
pub struct Route {
    /// The target's addresses as this machine resolves them (after `--connect-to`); empty
    /// under a `socks5h://` proxy, which resolves the name itself.
    pub target: Vec<SocketAddr>,
    /// Where TCP connects: the target's addresses, or the proxy's.
    pub first_hop: Vec<SocketAddr>,
}

/// The host and port the target is reached at: the URL's, or those of the first
/// `--connect-to` rule that matches it.
fn destination(plan: &Plan) -> (String, u16) {
    let (host, port) = (&plan.target.host, plan.target.port);
    match plan.connect_to.iter().find(|c| c.matches(host, port)) {
        Some(c) => (c.addr.clone(), c.to_port.unwrap_or(port)),
        None => (host.clone(), port),
    }
}

/// Resolves where the run's connections go: the target (or its `--connect-to` address),
/// and the proxy when there is one.
pub fn route(plan: &Plan) -> Result<Route, SetupError> {
    let (host, port) = destination(plan);
    let remote_dns = plan
        .proxy
        .as_ref()
        .is_some_and(|p| p.kind == ProxyKind::Socks5h);
    let rules = &plan.dns.resolve;
    let target = if remote_dns {
        Vec::new()
    } else {
        resolve(rules, &host, port)?
    };
    let first_hop = match &plan.proxy {
        None => target.clone(),
        Some(p) => resolve(rules, &p.host, p.port).map_err(|e| match e {
            SetupError::Resolve { host, why } => SetupError::ResolveProxy { host, why },
            other => other,
        })?,
    };
    Ok(Route { target, first_hop })
}

/// Whether requests go to an HTTP proxy in absolute form: an http:// target over HTTP/1.1
/// without `--connect-to`. That is how curl and browsers send plain HTTP through a proxy,
/// and it lets the proxy see (and log) each request. Everything else is tunnelled.
pub fn forwards(plan: &Plan) -> bool {
    let (host, port) = (&plan.target.host, plan.target.port);
    plan.proxy
        .as_ref()
        .is_some_and(|p| matches!(p.kind, ProxyKind::Http | ProxyKind::Https))
        && plan.target.scheme == Scheme::Http
        && plan.protocol == Protocol::Http1
        && !plan.connect_to.iter().any(|c| c.matches(host, port))
}

/// `Proxy-Authorization: Basic …` for an HTTP proxy that has credentials.
pub fn proxy_authorization(plan: &Plan) -> Option<String> {
    use base64::Engine;
    let c = plan.proxy.as_ref()?.auth.as_ref()?;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.user, c.pass));
    Some(format!("Basic {token}"))
}

/// The proxy part of the connector: TLS to an https:// proxy and the hop to the target.
fn via(plan: &Plan, target: &[SocketAddr]) -> Result<Option<Via>, SetupError> {
    let Some(proxy) = &plan.proxy else {
        return Ok(None);
    };
    let tls = match proxy.kind {
        ProxyKind::Https => {
            // The proxy speaks HTTP/1.1 whatever the target speaks inside the tunnel.
            let config = tls::client_config(plan.insecure, &plan.tls, &[b"http/1.1"])?;
            let name = rustls::pki_types::ServerName::try_from(proxy.host.clone())
                .map_err(|_| SetupError::ServerName(proxy.host.clone()))?;
            Some((tokio_rustls::TlsConnector::from(config), name))
        }
        _ => None,
    };
    let (host, port) = destination(plan);
    let hop = match proxy.kind {
        ProxyKind::Http | ProxyKind::Https if forwards(plan) => Hop::Forward,
        ProxyKind::Http | ProxyKind::Https => {
            let authority = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            let mut request = format!("CONNECT {authority} HTTP/1.1\r\nhost: {authority}\r\n");
            if let Some(auth) = proxy_authorization(plan) {
                request.push_str(&format!("proxy-authorization: {auth}\r\n"));
            }
            request.push_str("\r\n");
            Hop::Connect(request.into_bytes().into_boxed_slice())
        }
        ProxyKind::Socks5 | ProxyKind::Socks5h => Hop::Socks {
            target: if proxy.kind == ProxyKind::Socks5h {
                SocksTarget::Name(host, port)
            } else {
                SocksTarget::Addrs(target.to_vec().into())
            },
            auth: proxy.auth.clone(),
        },
    };
    Ok(Some(Via { tls, hop }))
}

/// Checks `--local-address`: each must be an address of this machine (bound once here),
/// and one must share a family with the addresses connections go to.
fn local_addresses(plan: &Plan, first_hop: &[SocketAddr]) -> Result<Arc<[IpAddr]>, SetupError> {
    for ip in &plan.local_addresses {
        let bound = std::net::TcpListener::bind(SocketAddr::new(*ip, 0));
        if let Err(e) = bound {
            return Err(SetupError::LocalAddress {
                addr: *ip,
                why: e.to_string(),
            });
        }
    }
    if let (Some(ip), false) = (
        plan.local_addresses.first(),
        plan.local_addresses
            .iter()
            .any(|l| first_hop.iter().any(|a| a.is_ipv4() == l.is_ipv4())),
    ) {
        return Err(SetupError::LocalAddress {
            addr: *ip,
            why:
                "no local address has the family (IPv4 or IPv6) of the addresses connections go to"
                    .into(),
        });
    }
    Ok(plan.local_addresses.clone().into())
}

/// The one connector of a run, built from the plan. On https with `--http2`, one probe
/// connection checks that the server's ALPN picks h2: asked for HTTP/2, the user gets HTTP/2
/// or a clear refusal, never a silent HTTP/1.1 run.
pub async fn build(plan: &Plan, route: Route) -> Result<Connector, SetupError> {
    let tls = match plan.target.scheme {
        Scheme::Http => None,
        Scheme::Https => {
            let alpn: &[&[u8]] = match plan.protocol {
                Protocol::Http2 { .. } => &[b"h2", b"http/1.1"],
                // The WebSocket upgrade is an HTTP/1.1 request.
                Protocol::Http1 | Protocol::WebSocket => &[b"http/1.1"],
            };
            let mut config = tls::client_config(plan.insecure, &plan.tls, alpn)?;
            if !plan.tls_resume {
                // Every handshake a full one: what a client that never returns costs.
                Arc::make_mut(&mut config).resumption = rustls::client::Resumption::disabled();
            }
            let name = rustls::pki_types::ServerName::try_from(plan.target.host.clone())
                .map_err(|_| SetupError::ServerName(plan.target.host.clone()))?;
            Some((tokio_rustls::TlsConnector::from(config), name))
        }
    };
    let local = local_addresses(plan, &route.first_hop)?;
    let (host, port) = match &plan.proxy {
        Some(p) => (p.host.clone(), p.port),
        None => destination(plan),
    };
    let connector = Connector {
        tls,
        via: via(plan, &route.target)?.map(Arc::new),
        addrs: route.first_hop.into(),
        dns: Arc::new(Resolver {
            host,
            port,
            select: plan.dns.select,
            ttl: plan.dns.ttl,
            rules: plan.dns.resolve.clone(),
            lookup: system_lookup,
        }),
        local,
        connect_timeout: plan.connect_timeout,
        reasons: Arc::default(),
    };
    if plan.target.scheme == Scheme::Https && matches!(plan.protocol, Protocol::Http2 { .. }) {
        // A failed probe is not fatal: the run will count the same failure by kind.
        if let Ok(stream) = connector.connect(0).await
            && matches!(stream, Stream::Tls(_) | Stream::TlsInTls(_))
            && stream.alpn() != Some(b"h2")
        {
            return Err(SetupError::NoH2(plan.target.redacted_url()));
        }
    }
    Ok(connector)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static ASKED: AtomicUsize = AtomicUsize::new(0);

    /// Answers once, then the name stops resolving.
    fn answers_once(_: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        match ASKED.fetch_add(1, Ordering::SeqCst) {
            0 => Ok(vec![SocketAddr::from(([127, 0, 0, 2], port))]),
            _ => Err(io::Error::other("no such host")),
        }
    }

    fn never_asked(_: &str, _: u16) -> io::Result<Vec<SocketAddr>> {
        panic!("a kept answer was asked again")
    }

    fn resolver(
        ttl: Option<Duration>,
        lookup: fn(&str, u16) -> io::Result<Vec<SocketAddr>>,
    ) -> Resolver {
        Resolver {
            host: "svc.test".into(),
            port: 80,
            select: DnsSelect::RoundRobin,
            ttl,
            rules: Vec::new(),
            lookup,
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn an_expired_answer_is_asked_again_and_a_name_that_stops_resolving_is_a_dns_error() {
        let rt = runtime();
        let dns = resolver(Some(Duration::ZERO), answers_once);
        let first: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let cell = RefCell::new(Answer {
            addrs: vec![first].into(),
            expires: Some(Instant::now()),
        });
        let again: SocketAddr = "127.0.0.2:80".parse().unwrap();
        // TTL 0: a new connection asks again and takes the new answer.
        assert_eq!(rt.block_on(Answer::address(&cell, &dns, 0)), Ok(again));
        // The name stopped resolving: this connection is a dns error, not a crash.
        assert_eq!(
            rt.block_on(Answer::address(&cell, &dns, 1)),
            Err(ErrorKind::Dns)
        );
        // Within the next second the last answer is used without asking.
        assert_eq!(rt.block_on(Answer::address(&cell, &dns, 2)), Ok(again));
        assert_eq!(ASKED.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn without_a_ttl_the_first_answer_is_kept_and_spread() {
        let rt = runtime();
        let dns = resolver(None, never_asked);
        let addrs: Vec<SocketAddr> = ["127.0.0.1:80", "127.0.0.2:80", "127.0.0.3:80"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let cell = RefCell::new(Answer {
            addrs: addrs.clone().into(),
            expires: None,
        });
        let picked: Vec<SocketAddr> = (0..6)
            .map(|n| rt.block_on(Answer::address(&cell, &dns, n)).unwrap())
            .collect();
        assert_eq!(&picked[..3], &addrs[..]);
        assert_eq!(&picked[3..], &addrs[..]);
    }

    #[test]
    fn a_resolve_rule_answers_instead_of_dns() {
        let rt = runtime();
        let mut dns = resolver(Some(Duration::ZERO), never_asked);
        dns.rules = vec![Resolve::parse("svc.test:80:127.0.0.9").unwrap()];
        let cell = RefCell::new(Answer {
            addrs: vec!["127.0.0.1:80".parse().unwrap()].into(),
            expires: Some(Instant::now()),
        });
        assert_eq!(
            rt.block_on(Answer::address(&cell, &dns, 0)),
            Ok("127.0.0.9:80".parse().unwrap())
        );
    }
}
