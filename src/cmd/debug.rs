//! `kaioken run --debug`: one request, then everything about it: the request as sent, the
//! response, and where the time went (DNS, connect, TLS, first byte, total). It uses hyper's
//! client, not the load path: here clarity matters, not speed. Secrets are redacted unless
//! `--show-secrets`.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::Exit;
use crate::plan::redact::is_secret_header;
use crate::plan::template::Vars;
use crate::plan::{Plan, Protocol, Scheme};
use crate::transport::{connect, tls};

/// Appends one formatted line to a `String`.
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {{
        $out.push_str(&format!($($arg)*));
        $out.push('\n');
    }};
}

/// Bodies longer than this are cut in the dump.
const SHOWN_BODY: usize = 64 * 1024;

fn ms(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1e3)
}

/// JSON pretty-printed; other text as is; binary as a size.
fn show_body(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "(empty body)".into();
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
        return serde_json::to_string_pretty(&v).unwrap_or_default();
    }
    let cut = &bytes[..bytes.len().min(SHOWN_BODY)];
    match std::str::from_utf8(cut) {
        Ok(s) if bytes.len() > SHOWN_BODY => format!("{s}\n… ({} bytes in all)", bytes.len()),
        Ok(s) => s.to_string(),
        Err(_) => format!("({} bytes of binary data)", bytes.len()),
    }
}

fn header_value(name: &str, value: &[u8], show_secrets: bool) -> String {
    if !show_secrets && is_secret_header(name) {
        "[redacted]".into()
    } else {
        String::from_utf8_lossy(value).into_owned()
    }
}

/// Why a debug request failed, with what to try.
fn hint(plan: &Plan, addr: Option<SocketAddr>, e: &std::io::Error) -> String {
    let at = addr.map_or_else(|| plan.target.host.clone(), |a| a.to_string());
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            format!("connection refused: is the server listening on {at}?")
        }
        std::io::ErrorKind::TimedOut => format!(
            "connecting to {at} timed out after {}: is the host reachable, is a firewall dropping packets?",
            humantime::format_duration(plan.connect_timeout)
        ),
        _ => format!("cannot connect to {at}: {e}"),
    }
}

pub fn debug(plan: &Plan, show_secrets: bool) -> anyhow::Result<Exit> {
    if plan.protocol == Protocol::WebSocket {
        anyhow::bail!(
            "--debug shows one HTTP exchange; for {} run a short test instead (-n 1 --json \
             shows the reply's size and the upgrade's time)",
            plan.target.redacted_url()
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    // --reflect: the types first, over the run's own connector, as a run would.
    if plan
        .grpc
        .as_ref()
        .is_some_and(|g| g.schema == crate::plan::grpc::Schema::Reflect)
    {
        let mut plan = plan.clone();
        let connector = rt.block_on(connect::build(&plan, connect::route(&plan)?))?;
        rt.block_on(crate::transport::grpc_reflect::resolve(
            &mut plan, &connector,
        ))
        .map_err(|e| anyhow!(e))?;
        return rt.block_on(exchange(&plan, show_secrets));
    }
    rt.block_on(exchange(plan, show_secrets))
}

async fn exchange(plan: &Plan, show_secrets: bool) -> anyhow::Result<Exit> {
    let h2 = matches!(plan.protocol, Protocol::Http2 { .. });
    let vars = Vars {
        request_id: 0,
        timestamp_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        values: &[],
    };
    let (req, body) = crate::transport::h2::http_request(
        plan.request(),
        &vars,
        crate::plan::template::RenderOpts::default(),
        &mut Vec::new(),
    );
    let (mut parts, ()) = req.into_parts();
    let mut body = body.unwrap_or_default();
    // gRPC: a body with variables is framed now, as the load path frames it per call.
    if let Some(g) = plan.scenarios.list[0].grpc.as_ref().filter(|g| !g.prepared) {
        let mut framed = Vec::new();
        g.frame(&body, &mut framed)
            .map_err(|e| anyhow!("body: {e}"))?;
        body = Bytes::from(framed);
    }

    let t0 = Instant::now();
    let route = connect::route(plan)?;
    let dns = t0.elapsed();
    if plan.proxy.is_some() || !plan.local_addresses.is_empty() {
        // Through a proxy or from a chosen source address, the load path's own connector
        // opens the way (CONNECT, SOCKS5, TLS to the proxy, the bound socket); its set-up
        // time is shown as connect, TLS included.
        let forward = connect::forwards(plan);
        let connector = connect::build(plan, route).await?;
        let t1 = Instant::now();
        let stream = connector.connect(0).await.map_err(|kind| match &plan.proxy {
            Some(proxy) => anyhow!(
                "through the proxy {}: {} (check the proxy URL, its credentials, and that it may reach {}:{})",
                proxy.redacted(),
                kind.name(),
                plan.target.host,
                plan.target.port
            ),
            None => anyhow!(
                "connecting to {}:{} failed: {}",
                plan.target.host,
                plan.target.port,
                kind.name()
            ),
        })?;
        let connect = t1.elapsed();
        let picked_h2 = match plan.target.scheme {
            Scheme::Http => h2,
            Scheme::Https => stream.alpn() == Some(b"h2"),
        };
        if forward && let Some(auth) = connect::proxy_authorization(plan) {
            parts.headers.insert(
                http::header::PROXY_AUTHORIZATION,
                auth.parse().context("proxy credentials")?,
            );
        }
        let r = send(
            TokioIo::new(stream),
            picked_h2,
            &mut parts,
            body.clone(),
            plan,
            forward,
        )
        .await?;
        return report(
            plan.scenarios.list[0].grpc.as_ref(),
            show_secrets,
            &parts,
            &body,
            picked_h2,
            r,
            [dns, connect],
            None,
        );
    }
    // `route` refuses an empty answer, so there is a first address.
    let addr = route.first_hop[0];
    let t1 = Instant::now();
    let tcp = tokio::time::timeout(plan.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| {
            anyhow!(hint(
                plan,
                Some(addr),
                &std::io::Error::from(std::io::ErrorKind::TimedOut)
            ))
        })?
        .map_err(|e| anyhow!(hint(plan, Some(addr), &e)))?;
    let _nodelay = tcp.set_nodelay(true);
    let connect = t1.elapsed();

    let (tls_time, use_h2, response) = match plan.target.scheme {
        Scheme::Http => {
            let io = TokioIo::new(tcp);
            let r = send(io, h2, &mut parts, body.clone(), plan, false).await?;
            (None, h2, r)
        }
        Scheme::Https => {
            let alpn: &[&[u8]] = if h2 {
                &[b"h2", b"http/1.1"]
            } else {
                &[b"http/1.1"]
            };
            let connector = tokio_rustls::TlsConnector::from(tls::client_config(
                plan.insecure,
                &plan.tls,
                alpn,
            )?);
            let name = rustls::pki_types::ServerName::try_from(plan.target.host.clone()).map_err(
                |_| {
                    anyhow!(
                        "url: host {} is not a valid TLS server name",
                        plan.target.host
                    )
                },
            )?;
            let t2 = Instant::now();
            let stream = connector.connect(name, tcp).await.map_err(|e| {
                anyhow!("TLS handshake with {addr} failed: {e} (for a private CA, pass --cacert FILE; to skip verification, --insecure)")
            })?;
            let tls_time = t2.elapsed();
            let picked_h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            let r = send(
                TokioIo::new(stream),
                picked_h2,
                &mut parts,
                body.clone(),
                plan,
                false,
            )
            .await?;
            (Some(tls_time), picked_h2, r)
        }
    };
    report(
        plan.scenarios.list[0].grpc.as_ref(),
        show_secrets,
        &parts,
        &body,
        use_h2,
        response,
        [dns, connect],
        tls_time,
    )
}

/// A gRPC body: its messages as JSON through the method's `types` when a schema is known,
/// else as the bytes they are.
fn show_grpc(
    g: &crate::plan::grpc::Grpc,
    framed: &[u8],
    types: impl Fn(&prost_reflect::MethodDescriptor) -> prost_reflect::MessageDescriptor,
) -> String {
    let Some(m) = g.descriptor.as_ref().filter(|_| g.json()) else {
        return show_body(framed);
    };
    let mut shown = Vec::new();
    let mut rest = framed;
    while rest.len() >= 5 {
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let Some(msg) = rest.get(5..5 + len) else {
            break;
        };
        match prost_reflect::DynamicMessage::decode(types(m), msg) {
            Ok(d) => shown.push(serde_json::to_string(&d).unwrap_or_default()),
            Err(_) => shown.push(show_body(msg)),
        }
        rest = &rest[5 + len..];
    }
    if shown.is_empty() {
        "(no message)".to_string()
    } else {
        shown.join("\n")
    }
}

/// Prints the exchange: the request as sent, the response, where the time went.
#[allow(clippy::too_many_arguments)]
fn report(
    grpc: Option<&crate::plan::grpc::Grpc>,
    show_secrets: bool,
    parts: &http::request::Parts,
    body: &Bytes,
    use_h2: bool,
    response: Sent,
    [dns, connect]: [Duration; 2],
    tls_time: Option<Duration>,
) -> anyhow::Result<Exit> {
    let (resp, ttfb, total, resp_body, trailers) = response;

    let mut out = String::new();
    // The request as sent.
    let version = if use_h2 { "HTTP/2" } else { "HTTP/1.1" };
    outln!(out, "> {} {} {version}", parts.method, parts.uri);
    for (name, value) in &parts.headers {
        outln!(
            out,
            "> {name}: {}",
            header_value(name.as_str(), value.as_bytes(), show_secrets)
        );
    }
    outln!(out, ">");
    if let Some(g) = grpc {
        outln!(out, "{}", show_grpc(g, body, |m| m.input()));
    } else if !body.is_empty() {
        outln!(out, "{}", show_body(body));
    }
    out.push('\n');
    // The response.
    outln!(
        out,
        "< {version} {} {}",
        resp.status.as_u16(),
        resp.status.canonical_reason().unwrap_or("")
    );
    for (name, value) in &resp.headers {
        outln!(
            out,
            "< {name}: {}",
            header_value(name.as_str(), value.as_bytes(), show_secrets)
        );
    }
    outln!(out, "<");
    match grpc {
        Some(g) => outln!(out, "{}", show_grpc(g, &resp_body, |m| m.output())),
        None => outln!(out, "{}", show_body(&resp_body)),
    }
    if let Some(t) = &trailers {
        for (name, value) in t {
            outln!(
                out,
                "< {name}: {}",
                header_value(name.as_str(), value.as_bytes(), show_secrets)
            );
        }
    }
    if grpc.is_some() {
        let code = trailers
            .as_ref()
            .or(Some(&resp.headers))
            .and_then(|h| h.get("grpc-status"))
            .and_then(|v| v.to_str().ok()?.trim().parse::<usize>().ok());
        let name = code
            .and_then(|c| crate::plan::grpc::STATUS_NAMES.get(c))
            .copied()
            .unwrap_or("none (mapped from the HTTP status in a run)");
        outln!(out, "gRPC status: {name}");
    }
    out.push('\n');
    outln!(
        out,
        "Timing: dns {} · connect {} · tls {} · first byte {} · total {}",
        ms(dns),
        ms(connect),
        tls_time.map_or("-".to_string(), ms),
        ms(ttfb),
        ms(total)
    );
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(out.as_bytes()) {
        // A closed pipe (`| head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("writing to stdout")?,
    }
    Ok(Exit::Success)
}

type Sent = (
    http::response::Parts,
    Duration,
    Duration,
    Bytes,
    Option<http::HeaderMap>,
);

/// Sends the request on `io` with HTTP/1.1 or HTTP/2; returns the response head, time to
/// first byte and total time (both from the send), and the body.
async fn send<I>(
    io: TokioIo<I>,
    h2: bool,
    parts: &mut http::request::Parts,
    body: Bytes,
    plan: &Plan,
    forward: bool,
) -> anyhow::Result<Sent>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let timeout = plan.timeout;
    let too_slow = || {
        anyhow!(
            "no response within {} (raise --timeout, or check the server)",
            humantime::format_duration(timeout)
        )
    };
    if !h2 {
        // HTTP/1.1 wants the path in the request line and the authority in Host; `parts`
        // then shows what went on the wire.
        let host = parts
            .uri
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let path = parts
            .uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.to_string());
        // Through an HTTP proxy (absolute form) the whole URL stays in the request line.
        if !forward {
            parts.uri = path.parse().context("request path")?;
        }
        // A `-H 'Host: …'` goes out as given, as the load run sends it.
        let user_host = plan
            .request()
            .headers
            .iter()
            .find(|(n, _)| n == http::header::HOST)
            .map(|(_, t)| t.sample());
        let host = match user_host {
            Some(h) => http::HeaderValue::from_bytes(&h).context("host header")?,
            None => host.parse().context("host header")?,
        };
        parts.headers.insert(http::header::HOST, host);
    }
    // The length hyper puts on the wire for this body, shown with the other headers.
    if !body.is_empty() && !parts.headers.contains_key(http::header::CONTENT_LENGTH) {
        parts
            .headers
            .insert(http::header::CONTENT_LENGTH, body.len().into());
    }
    let mut req = http::Request::new(Full::new(body));
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.headers_mut() = parts.headers.clone();
    let t = Instant::now();
    let resp = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| {
                anyhow!("HTTP/2 handshake failed: {e} (does the server speak h2c? drop --http2)")
            })?;
        tokio::spawn(conn);
        tokio::time::timeout(timeout, sender.send_request(req)).await
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| anyhow!("HTTP/1.1 handshake failed: {e}"))?;
        tokio::spawn(conn);
        tokio::time::timeout(timeout, sender.send_request(req)).await
    };
    let resp = resp.map_err(|_| too_slow())?.map_err(|e| {
        anyhow!("the server's response failed: {e} (is it an HTTP server on this port?)")
    })?;
    let ttfb = t.elapsed();
    let (head, incoming) = resp.into_parts();
    let collected = tokio::time::timeout(timeout, incoming.collect())
        .await
        .map_err(|_| too_slow())?
        .map_err(|e| anyhow!("reading the response body failed: {e}"))?;
    let trailers = collected.trailers().cloned();
    Ok((head, ttfb, t.elapsed(), collected.to_bytes(), trailers))
}
