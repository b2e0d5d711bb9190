//! HTTP/2 through the `h2` crate: one connection carries many VUs' requests as streams.
//!
//! The connection's driver runs as a task on the worker's own runtime, so the streams of a
//! thread never cross threads. Headers are counted only as body bytes here: `h2` does not
//! expose the wire size of HPACK-compressed heads.

use std::time::Instant;

use bytes::Bytes;
use h2::client::SendRequest;

use super::connect::Stream;
use super::{ErrorKind, Exchange};

impl From<h2::Error> for ErrorKind {
    fn from(e: h2::Error) -> ErrorKind {
        if let Some(io) = e.get_io() {
            ErrorKind::from_io(io)
        } else if e.is_reset() {
            ErrorKind::Reset
        } else if e.is_go_away() {
            ErrorKind::Closed
        } else {
            ErrorKind::Protocol
        }
    }
}

/// Performs the HTTP/2 handshake and spawns the connection driver on the current runtime.
/// `max_streams` caps our concurrent streams on this connection.
pub async fn handshake(
    stream: Stream,
    max_streams: usize,
) -> Result<SendRequest<Bytes>, ErrorKind> {
    let (send, conn) = h2::client::Builder::new()
        .initial_window_size(1 << 20)
        .initial_connection_window_size(1 << 24)
        .max_concurrent_reset_streams(max_streams.max(10))
        .handshake::<_, Bytes>(stream)
        .await?;
    tokio::spawn(async move {
        // A connection-level error also fails every open stream, and `exchange` counts
        // those; the driver's own result adds nothing.
        let _closed = conn.await;
    });
    Ok(send)
}

/// Sends one request on `send` and reads its whole response, discarding the body.
pub async fn exchange(
    send: &mut SendRequest<Bytes>,
    request: http::Request<()>,
    body: Option<Bytes>,
    mut capture: Option<&mut crate::transport::capture::Capture>,
) -> Result<Exchange, ErrorKind> {
    // Wait for a free stream slot without cloning the handle.
    std::future::poll_fn(|cx| send.poll_ready(cx)).await?;
    let end_of_stream = body.is_none();
    let (response, mut stream) = send.send_request(request, end_of_stream)?;
    if let Some(body) = body {
        stream.send_data(body, true)?;
    }
    let response = response.await?;
    let first_byte = Instant::now();
    let status = response.status().as_u16();
    if let Some(c) = capture.as_deref_mut() {
        c.reset();
        if c.wants_headers(status) {
            for (name, value) in response.headers() {
                c.header(name.as_str().as_bytes(), value.as_bytes());
            }
        }
    }
    let mut recv = response.into_body();
    let mut bytes: u64 = 0;
    while let Some(chunk) = recv.data().await {
        let chunk = chunk?;
        bytes += chunk.len() as u64;
        if let Some(c) = capture.as_deref_mut() {
            c.body_data(&chunk);
        }
        // Give the window back so the server can keep sending.
        recv.flow_control()
            .release_capacity(chunk.len())
            .map_err(ErrorKind::from)?;
    }
    Ok(Exchange {
        status,
        bytes,
        first_byte,
        keep_alive: true,
    })
}
