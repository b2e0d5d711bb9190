//! One HTTP/1.1 connection: write a request, read and frame its response.

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::decode::{BodyDecoder, DecodeError, for_each_field, parse_head};
use crate::transport::capture::Capture;
use crate::transport::messages::{Gaps, Messages, Split};
use crate::transport::stream::Stream;
use crate::transport::{ErrorKind, Outcome, Status};

/// Initial read buffer: one page, enough for any ordinary response head in one read. It is
/// zeroed when the connection opens, so at c=10,000 its size is most of the client's memory
/// (16 KB from the start made 136 MB of RSS).
const READ_BUF_START: usize = 4 * 1024;
/// A read that fills the buffer doubles it up to this, so that large bodies are read in
/// few syscalls.
const READ_BUF: usize = 16 * 1024;
/// A response head larger than this is an error rather than unbounded buffering.
const MAX_HEAD: usize = 256 * 1024;

pub struct Http1Conn {
    stream: Stream,
    buf: Vec<u8>,
    /// Bytes at `buf[..filled]` already read but not yet consumed (normally none between
    /// requests; a server that sends extra bytes leaves them here).
    filled: usize,
}

impl From<DecodeError> for ErrorKind {
    fn from(e: DecodeError) -> ErrorKind {
        match e {
            DecodeError::TooManyHeaders => ErrorKind::HeaderTooLarge,
            _ => ErrorKind::Protocol,
        }
    }
}

/// Without chunked encoding a body has no chunks of its own: each read that brought body
/// bytes counts as one for `--stream-chunks` (an empty piece that ends a "chunk").
fn messages_read(sink: &mut impl FnMut(&[u8], bool)) {
    sink(&[], true);
}

impl Http1Conn {
    pub fn new(stream: Stream) -> Http1Conn {
        Http1Conn {
            stream,
            buf: vec![0; READ_BUF_START],
            filled: 0,
        }
    }

    /// Sends `request` and reads its whole response, split into messages as `split` says
    /// (gaps between them into `gaps`). On error the connection must be dropped.
    pub async fn exchange(
        &mut self,
        request: &[u8],
        is_head: bool,
        mut capture: Option<&mut Capture>,
        split: Split,
        gaps: &Gaps,
    ) -> Result<Outcome, ErrorKind> {
        self.stream
            .write_all(request)
            .await
            .map_err(|e| ErrorKind::from_io(&e))?;
        self.stream
            .flush()
            .await
            .map_err(|e| ErrorKind::from_io(&e))?;

        let mut bytes: u64 = 0;
        let mut first_byte: Option<Instant> = None;
        // Read until a final (non-1xx) head is complete.
        let head = loop {
            if self.filled > 0 {
                match parse_head(&self.buf[..self.filled], is_head)? {
                    Some(h) if (100..200).contains(&h.status) && h.status != 101 => {
                        self.consume(h.len);
                        continue;
                    }
                    Some(h) => break h,
                    None => {}
                }
            }
            if self.filled == self.buf.len() {
                if self.buf.len() >= MAX_HEAD {
                    return Err(ErrorKind::HeaderTooLarge);
                }
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let n = self.read_more().await?;
            if n == 0 {
                // EOF before a complete head.
                return Err(if self.filled == 0 {
                    ErrorKind::Closed
                } else {
                    ErrorKind::Protocol
                });
            }
            first_byte.get_or_insert_with(Instant::now);
            bytes += n as u64;
        };
        let first_byte = first_byte.unwrap_or_else(Instant::now);

        if let Some(c) = capture.as_deref_mut() {
            c.reset();
            if c.wants_headers(head.status) {
                for_each_field(&self.buf[..head.len], |name, value| c.header(name, value));
            }
        }
        let mut messages = Messages::new(split);
        // One clock reading per read: every message completed by it arrived then.
        let now = std::cell::Cell::new(Instant::now());
        let chunked = head.framing == super::decode::Framing::Chunked;
        let mut sink = |data: &[u8], chunk_end: bool| {
            if let Some(c) = capture.as_deref_mut() {
                c.body_data(data);
            }
            if split != Split::None {
                messages.data(data, now.get(), gaps);
                if chunk_end {
                    messages.chunk(now.get(), gaps);
                }
            }
        };
        let mut body = BodyDecoder::new(head.framing);
        self.consume(head.len);
        // Body bytes that arrived with the head.
        if self.filled > 0 {
            let fed = body.feed_with(&self.buf[..self.filled], &mut sink)?;
            if fed.consumed > 0 && !chunked {
                messages_read(&mut sink);
            }
            self.consume(fed.consumed);
        }
        while !body.is_done() {
            // Nothing is kept between reads: overwrite the buffer from the start.
            self.filled = 0;
            let n = self.read_more().await?;
            if n == 0 {
                if body.ends_at_eof() {
                    break;
                }
                return Err(ErrorKind::Closed);
            }
            if split != Split::None {
                now.set(Instant::now());
            }
            bytes += n as u64;
            let fed = body.feed_with(&self.buf[..n], &mut sink)?;
            if fed.consumed > 0 && !chunked {
                messages_read(&mut sink);
            }
            self.filled = n;
            self.consume(fed.consumed);
        }
        Ok(Outcome {
            status: Status::Http(head.status),
            bytes,
            first_byte,
            keep_alive: head.keep_alive && self.filled == 0,
            messages: messages.count,
            first_message: messages.first,
        })
    }

    async fn read_more(&mut self) -> Result<usize, ErrorKind> {
        let n = self
            .stream
            .read(&mut self.buf[self.filled..])
            .await
            .map_err(|e| ErrorKind::from_io(&e))?;
        self.filled += n;
        if self.filled == self.buf.len() && self.buf.len() < READ_BUF {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        Ok(n)
    }

    /// Drops the first `n` buffered bytes.
    fn consume(&mut self, n: usize) {
        if n >= self.filled {
            self.filled = 0;
        } else {
            self.buf.copy_within(n..self.filled, 0);
            self.filled -= n;
        }
    }
}
