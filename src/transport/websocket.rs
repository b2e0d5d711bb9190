//! WebSocket (RFC 6455) over the one connector: the VU's connection is opened like any other
//! (TCP, proxy tunnel, TLS for `wss://`), upgraded with an HTTP/1.1 `GET` carrying the
//! user's headers and subprotocol offers, and then kept. One request is one message and its
//! reply: latency is the round trip, measured by the engine from the intended send time like
//! any request.
//!
//! Framing, masking, ping/pong and the closing handshake are `tungstenite`'s (through
//! `tokio-tungstenite` over our [`Stream`]): a maintained codec, used until a benchmark
//! shows it is the bottleneck. A static message is compiled once and every send shares its
//! bytes (a reference count, not a copy).

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use super::capture::Capture;
use super::connect::{Reasons, Stream};
use super::{ErrorKind, Outcome, Status};
use crate::plan::template::{RenderOpts, Vars};
use crate::plan::{Request, WebSocket};

/// A WebSocket connection, upgraded.
pub type Conn = WebSocketStream<Stream>;

/// The status a reply is counted under: the upgrade's `101 Switching Protocols`, the
/// connection every reply came over (k6 reports a WebSocket session's status the same way).
pub const REPLY_STATUS: u16 = 101;

/// One scenario's message, compiled: a static one is framed once and shared by every send.
pub struct WsMessage {
    fixed: Option<Message>,
    binary: bool,
}

impl WsMessage {
    pub fn compile(request: &Request, ws: &WebSocket) -> WsMessage {
        WsMessage {
            fixed: request
                .body
                .is_static()
                .then(|| message(request.body.sample(), ws.binary)),
            binary: ws.binary,
        }
    }

    /// The message to send with these variable values. A templated one is rendered into
    /// the connection's buffers and handed to the codec as a view of `buf`: the codec
    /// masks it into its own write buffer and drops the view, so the next message finds
    /// `buf` unshared and reuses its memory; steady state allocates nothing.
    fn render(&self, request: &Request, vars: &Vars<'_>, bufs: &mut Buffers) -> Message {
        if let Some(m) = &self.fixed {
            return m.clone();
        }
        let Buffers { rendered, buf } = bufs;
        rendered.clear();
        request.body.render(vars, rendered);
        buf.clear();
        buf.reserve(rendered.len());
        buf.extend_from_slice(rendered);
        let bytes = buf.split().freeze();
        if self.binary {
            return Message::Binary(bytes);
        }
        match tungstenite::Utf8Bytes::try_from(bytes) {
            Ok(text) => Message::Text(text),
            Err(_) => message(std::mem::take(rendered), false),
        }
    }
}

/// What a connection reuses to render templated messages.
#[derive(Default)]
pub struct Buffers {
    rendered: Vec<u8>,
    buf: bytes::BytesMut,
}

/// A text or binary message of `bytes`; text that is not UTF-8 is sent with replacement
/// characters (a WebSocket text frame must be UTF-8).
fn message(bytes: Vec<u8>, binary: bool) -> Message {
    if binary {
        return Message::Binary(Bytes::from(bytes));
    }
    match String::from_utf8(bytes) {
        Ok(s) => Message::Text(s.into()),
        Err(e) => Message::Text(String::from_utf8_lossy(e.as_bytes()).into_owned().into()),
    }
}

/// The upgrade request: the URL's path, its `Host`, the user's headers and the cookie jar's,
/// and the subprotocols offered.
fn upgrade_request(
    request: &Request,
    ws: &WebSocket,
    vars: &Vars<'_>,
    opts: RenderOpts<'_>,
) -> Result<http::Request<()>, ErrorKind> {
    // tungstenite takes the whole URL (it checks the scheme); the path goes on the wire.
    let scheme = if request.scheme == http::uri::Scheme::HTTPS {
        "wss"
    } else {
        "ws"
    };
    let mut uri = format!("{scheme}://{}", request.authority).into_bytes();
    request.path.render(vars, &mut uri);
    let mut b = http::Request::get(uri.as_slice())
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", generate_key());
    let mut has_host = false;
    let mut value = Vec::new();
    for (name, t) in &request.headers {
        value.clear();
        t.render(vars, &mut value);
        has_host |= name == http::header::HOST;
        b = b.header(name, value.as_slice());
    }
    if !has_host {
        b = b.header("Host", request.authority.as_str());
    }
    if !opts.cookie.is_empty() {
        b = b.header(http::header::COOKIE, opts.cookie);
    }
    if !ws.subprotocols.is_empty() {
        b = b.header("Sec-WebSocket-Protocol", ws.subprotocols.join(", "));
    }
    // The plan checked the path and the header values: a failure here is a template value
    // that rendered into something HTTP cannot carry.
    b.body(()).map_err(|_| ErrorKind::WsUpgrade)
}

/// The codec's settings. Its read buffer: tungstenite zero-fills the free part of it before
/// every read, and its default of 128 KiB put 35% of a WebSocket echo run's CPU in
/// `memset` (perf record, 50 VUs against the Python echo server); 16 KiB, a TLS record's
/// size, reads any reply of that size at once and costs an eighth of it per read (and an
/// eighth of the memory per connection).
fn config() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default().read_buffer_size(16 * 1024)
}

/// Upgrades `stream`; a refusal is `ws_upgrade`, with its first reason kept.
pub async fn upgrade(
    stream: Stream,
    request: &Request,
    ws: &WebSocket,
    vars: &Vars<'_>,
    opts: RenderOpts<'_>,
    reasons: &Reasons,
) -> Result<Conn, ErrorKind> {
    let req = upgrade_request(request, ws, vars, opts).inspect_err(|&kind| {
        reasons.note(kind, || {
            "a path or header value rendered into bytes an HTTP request cannot carry".into()
        })
    })?;
    match tokio_tungstenite::client_async_with_config(req, stream, Some(config())).await {
        Ok((conn, _response)) => Ok(conn),
        Err(e) => {
            let kind = match &e {
                tungstenite::Error::Io(io) => ErrorKind::from_io(io),
                tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                    ErrorKind::Closed
                }
                _ => ErrorKind::WsUpgrade,
            };
            if kind == ErrorKind::WsUpgrade {
                reasons.note(kind, || upgrade_refusal(&e));
            }
            Err(kind)
        }
    }
}

/// Why the server did not upgrade, in a few words.
fn upgrade_refusal(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Http(response) => {
            let status = response.status();
            let hint = match status.as_u16() {
                404 => " (check the URL's path)",
                401 | 403 => " (check the credentials in the headers)",
                400 => " (does it require a subprotocol or a header? see --ws-subprotocol, -H)",
                _ => "",
            };
            format!("the server answered {status} instead of 101 Switching Protocols{hint}")
        }
        other => format!("the upgrade failed: {other}"),
    }
}

/// Sends `msg` and waits for the next data message: the reply. Pings are answered by the
/// codec as they arrive; a close frame is `ws_closed` with its code kept as the reason.
async fn round_trip(
    conn: &mut Conn,
    msg: Message,
    capture: Option<&mut Capture>,
    reasons: &Reasons,
) -> Result<Outcome, ErrorKind> {
    conn.send(msg).await.map_err(|e| stream_error(&e))?;
    loop {
        let payload = match conn.next().await {
            None => return Err(ErrorKind::Closed),
            Some(Err(e)) => return Err(stream_error(&e)),
            Some(Ok(Message::Text(t))) => Bytes::from(t),
            Some(Ok(Message::Binary(b))) => b,
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Close(frame))) => {
                reasons.note(ErrorKind::WsClosed, || close_reason(frame.as_ref()));
                return Err(ErrorKind::WsClosed);
            }
        };
        if let Some(c) = capture {
            c.reset();
            c.body_data(&payload);
        }
        // The codec hands over whole messages: the first byte's time is the message's.
        let now = std::time::Instant::now();
        return Ok(Outcome {
            status: Status::Http(REPLY_STATUS),
            bytes: frame_len(payload.len()),
            first_byte: now,
            keep_alive: true,
            messages: 1,
            first_message: Some(now),
        });
    }
}

/// The closing handshake: our close frame (1000, normal closure), then the server's.
pub async fn close(conn: &mut Conn) {
    let normal = CloseFrame {
        code: tungstenite::protocol::frame::coding::CloseCode::Normal,
        reason: "".into(),
    };
    if conn.close(Some(normal)).await.is_ok() {
        while let Some(Ok(_)) = conn.next().await {}
    }
}

/// Bytes of an unmasked server frame carrying `payload` bytes: the header is 2, 4 or 10
/// bytes by the payload's size (RFC 6455, 5.2).
fn frame_len(payload: usize) -> u64 {
    let header = match payload {
        0..126 => 2,
        126..65536 => 4,
        _ => 10,
    };
    (payload + header) as u64
}

fn close_reason(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(f) if !f.reason.is_empty() => {
            format!(
                "the server closed with code {} ({})",
                u16::from(f.code),
                f.reason
            )
        }
        Some(f) => format!("the server closed with code {}", u16::from(f.code)),
        None => "the server closed without a code".to_string(),
    }
}

fn stream_error(e: &tungstenite::Error) -> ErrorKind {
    use tungstenite::error::ProtocolError;
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            ErrorKind::Closed
        }
        tungstenite::Error::Io(io) => ErrorKind::from_io(io),
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            ErrorKind::Reset
        }
        _ => ErrorKind::Protocol,
    }
}

/// One message of `request` with these variable values, and its reply, on `conn`.
pub async fn exchange(
    conn: &mut Conn,
    message: &WsMessage,
    request: &Request,
    vars: &Vars<'_>,
    bufs: &mut Buffers,
    capture: Option<&mut Capture>,
    reasons: &Reasons,
) -> Result<Outcome, ErrorKind> {
    round_trip(conn, message.render(request, vars, bufs), capture, reasons).await
}

/// Fire-and-forget: sends the message (its latency is the send), then takes, without
/// waiting, what the server has sent since: those messages and their bytes are counted with
/// this send. A close frame or a failed read ends the connection after the send that was
/// made (`keep_alive` false: the VU reconnects for its next message).
pub async fn fire(
    conn: &mut Conn,
    message: &WsMessage,
    request: &Request,
    vars: &Vars<'_>,
    bufs: &mut Buffers,
    reasons: &Reasons,
) -> Result<Outcome, ErrorKind> {
    use futures_util::FutureExt;
    conn.send(message.render(request, vars, bufs))
        .await
        .map_err(|e| stream_error(&e))?;
    let now = std::time::Instant::now();
    let (mut messages, mut bytes, mut keep_alive) = (0u32, 0u64, true);
    while let Some(next) = conn.next().now_or_never() {
        match next {
            Some(Ok(Message::Text(t))) => {
                messages += 1;
                bytes += frame_len(t.len());
            }
            Some(Ok(Message::Binary(b))) => {
                messages += 1;
                bytes += frame_len(b.len());
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Close(frame))) => {
                reasons.note(ErrorKind::WsClosed, || close_reason(frame.as_ref()));
                keep_alive = false;
                break;
            }
            Some(Err(_)) | None => {
                keep_alive = false;
                break;
            }
        }
    }
    Ok(Outcome {
        status: Status::Http(REPLY_STATUS),
        bytes,
        first_byte: now,
        keep_alive,
        messages,
        first_message: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_length_follows_the_payload_size_classes() {
        assert_eq!(frame_len(0), 2);
        assert_eq!(frame_len(125), 127);
        assert_eq!(frame_len(126), 130);
        assert_eq!(frame_len(65_535), 65_539);
        assert_eq!(frame_len(65_536), 65_546);
    }

    #[test]
    fn text_that_is_not_utf8_is_sent_with_replacements() {
        assert_eq!(message(b"hi".to_vec(), false), Message::Text("hi".into()));
        assert_eq!(
            message(vec![b'a', 0xff], false),
            Message::Text("a\u{fffd}".into())
        );
        assert_eq!(
            message(vec![0xff], true),
            Message::Binary(Bytes::from_static(&[0xff]))
        );
    }
}
