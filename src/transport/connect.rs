//! Opening connections: TCP (with `TCP_NODELAY`), through a proxy when there is one (TLS to
//! an https:// proxy, then an HTTP CONNECT tunnel or a SOCKS5 connection), and, for
//! https://, TLS to the target on top.
//!
//! Addresses are resolved once, before the run, so DNS is never on the request path; each
//! new connection takes the next address round-robin.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_socks::tcp::Socks5Stream;

use super::http1::decode::parse_head;
pub use super::stream::Stream;
use super::{ErrorKind, tls};
use crate::plan::proxy::{Credentials, ProxyKind};
use crate::plan::{Plan, Protocol, Scheme};

/// Client-side TLS to one server: the config and the name it is checked against.
pub type TlsTo = (
    tokio_rustls::TlsConnector,
    rustls::pki_types::ServerName<'static>,
);

/// Everything needed to open a connection to the target; cheap to clone per thread.
#[derive(Clone)]
pub struct Connector {
    /// Where TCP connects: the target's addresses, or the proxy's.
    pub addrs: Arc<[SocketAddr]>,
    /// TLS to the target (https:// targets).
    pub tls: Option<TlsTo>,
    /// The proxy in between, if any.
    pub via: Option<Arc<Via>>,
    pub connect_timeout: Duration,
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

impl Connector {
    /// Opens connection number `n` (used to pick the address round-robin).
    pub async fn connect(&self, n: usize) -> Result<Stream, ErrorKind> {
        let addr = self.addrs[n % self.addrs.len()];
        let fut = async {
            let proxied = self.via.is_some();
            let tcp = TcpStream::connect(addr).await.map_err(|e| {
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
                        match handshake_error(&e) {
                            ErrorKind::TlsCertInvalid => ErrorKind::TlsCertInvalid,
                            _ => ErrorKind::ProxyConnect,
                        }
                    })?;
                    let tunnel = via.hop.open(to_proxy, n).await?;
                    match &self.tls {
                        None => Ok(Stream::Tls(Box::new(tunnel))),
                        Some((connector, name)) => {
                            let tls = connector
                                .connect(name.clone(), tunnel)
                                .await
                                .map_err(|e| handshake_error(&e))?;
                            Ok(Stream::TlsInTls(Box::new(tls)))
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
    async fn target_tls(&self, tcp: TcpStream) -> Result<Stream, ErrorKind> {
        match &self.tls {
            None => Ok(Stream::Plain(tcp)),
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| handshake_error(&e))?;
                Ok(Stream::Tls(Box::new(tls)))
            }
        }
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
                let result = match (target, auth) {
                    (SocksTarget::Name(host, port), None) => {
                        Socks5Stream::connect_with_socket(io, (host.as_str(), *port)).await
                    }
                    (SocksTarget::Name(host, port), Some(c)) => {
                        Socks5Stream::connect_with_password_and_socket(
                            io,
                            (host.as_str(), *port),
                            &c.user,
                            &c.pass,
                        )
                        .await
                    }
                    (SocksTarget::Addrs(addrs), None) => {
                        Socks5Stream::connect_with_socket(io, addrs[n % addrs.len()]).await
                    }
                    (SocksTarget::Addrs(addrs), Some(c)) => {
                        Socks5Stream::connect_with_password_and_socket(
                            io,
                            addrs[n % addrs.len()],
                            &c.user,
                            &c.pass,
                        )
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

/// Resolves the target once, before the run: DNS is never on the request path.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, SetupError> {
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
    let target = if remote_dns {
        Vec::new()
    } else {
        resolve(&host, port)?
    };
    let first_hop = match &plan.proxy {
        None => target.clone(),
        Some(p) => resolve(&p.host, p.port).map_err(|e| match e {
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

/// The one connector of a run, built from the plan. On https with `--http2`, one probe
/// connection checks that the server's ALPN picks h2: asked for HTTP/2, the user gets HTTP/2
/// or a clear refusal, never a silent HTTP/1.1 run.
pub async fn build(plan: &Plan, route: Route) -> Result<Connector, SetupError> {
    let tls = match plan.target.scheme {
        Scheme::Http => None,
        Scheme::Https => {
            let alpn: &[&[u8]] = match plan.protocol {
                Protocol::Http2 { .. } => &[b"h2", b"http/1.1"],
                Protocol::Http1 => &[b"http/1.1"],
            };
            let config = tls::client_config(plan.insecure, &plan.tls, alpn)?;
            let name = rustls::pki_types::ServerName::try_from(plan.target.host.clone())
                .map_err(|_| SetupError::ServerName(plan.target.host.clone()))?;
            Some((tokio_rustls::TlsConnector::from(config), name))
        }
    };
    let connector = Connector {
        tls,
        via: via(plan, &route.target)?.map(Arc::new),
        addrs: route.first_hop.into(),
        connect_timeout: plan.connect_timeout,
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
