//! Opening connections: TCP (with `TCP_NODELAY`) and, for https, TLS on top.
//!
//! Addresses are resolved once, before the run, so DNS is never on the request path; each
//! new connection takes the next address round-robin.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::{ErrorKind, tls};
use crate::plan::{Plan, Protocol, Scheme};

/// A plain or TLS connection. An enum rather than a trait object: one predictable branch per
/// I/O call, no allocation, and the HTTP codec stays monomorphic.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// The ALPN protocol the server selected, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(s) => s.get_ref().1.alpn_protocol(),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Everything needed to open a connection to the target; cheap to clone per thread.
#[derive(Clone)]
pub struct Connector {
    pub addrs: Arc<[SocketAddr]>,
    pub tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    pub connect_timeout: Duration,
}

impl Connector {
    /// Opens connection number `n` (used to pick the address round-robin).
    pub async fn connect(&self, n: usize) -> Result<Stream, ErrorKind> {
        let addr = self.addrs[n % self.addrs.len()];
        let fut = async {
            let tcp = TcpStream::connect(addr)
                .await
                .map_err(|e| ErrorKind::from_connect_io(&e))?;
            tcp.set_nodelay(true)
                .map_err(|e| ErrorKind::from_connect_io(&e))?;
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
        };
        match tokio::time::timeout(self.connect_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(ErrorKind::ConnectTimeout),
        }
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

/// Resolves where the run's connections go: the target, or the address of the first
/// `--connect-to` rule that matches it.
pub fn resolve_target(plan: &Plan) -> Result<Vec<SocketAddr>, SetupError> {
    let (host, port) = (&plan.target.host, plan.target.port);
    match plan.connect_to.iter().find(|c| c.matches(host, port)) {
        Some(c) => resolve(&c.addr, c.to_port.unwrap_or(port)),
        None => resolve(host, port),
    }
}

/// The one connector of a run, built from the plan. On https with `--http2`, one probe
/// connection checks that the server's ALPN picks h2: asked for HTTP/2, the user gets HTTP/2
/// or a clear refusal, never a silent HTTP/1.1 run.
pub async fn build(plan: &Plan, addrs: Vec<SocketAddr>) -> Result<Connector, SetupError> {
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
        addrs: addrs.into(),
        tls,
        connect_timeout: plan.connect_timeout,
    };
    if plan.target.scheme == Scheme::Https && matches!(plan.protocol, Protocol::Http2 { .. }) {
        // A failed probe is not fatal: the run will count the same failure by kind.
        if let Ok(stream) = connector.connect(0).await
            && matches!(stream, Stream::Tls(_))
            && stream.alpn() != Some(b"h2")
        {
            return Err(SetupError::NoH2(plan.target.redacted_url()));
        }
    }
    Ok(connector)
}
