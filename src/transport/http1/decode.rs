//! Response decoding: the head with `httparse`, the body framing by hand.
//!
//! The body is counted and discarded, never copied: a load generator that buffers bodies
//! pays for memory bandwidth the user did not ask to measure. The decoder is a pure state
//! machine over byte slices so that its result cannot depend on where a read splits the
//! stream (tested below, including a property test over random splits).

/// How the end of the response body is found (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body ends when the server closes the connection.
    Close,
    /// No body at all (HEAD, 1xx, 204, 304).
    Empty,
}

/// The parts of a response head the engine needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub framing: Framing,
    /// False when the server said `Connection: close`, spoke HTTP/1.0 without keep-alive,
    /// or uses close-delimited framing.
    pub keep_alive: bool,
    /// Length of the head in bytes, including the blank line.
    pub len: usize,
}

/// Why a response could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed response head")]
    BadHead,
    #[error("malformed Content-Length")]
    BadLength,
    #[error("malformed chunk")]
    BadChunk,
    #[error("too many response headers")]
    TooManyHeaders,
}

/// Maximum number of response headers we parse; more is a protocol error.
const MAX_HEADERS: usize = 96;

/// Parses a response head from the start of `buf`. Returns `Ok(None)` when more bytes are
/// needed. Informational (1xx) responses are returned like any other; the caller skips them.
///
/// A plain, complete head (CRLF line ends, printable ASCII) is read by [`scan_plain`]; any
/// other input (a partial head, bare LF, obs-text, a control byte, a malformed line) goes
/// to httparse, which then decides. httparse was the largest user-space cost per request
/// (~1,100 of ~4,900 instructions for nginx's five-header head, callgrind), most of it on
/// generality a well-formed head does not need; the scan accepts a strict subset of what
/// httparse accepts and yields the same fields (a differential property test holds it to
/// that), so the verdict on every input is still httparse's.
pub fn parse_head(buf: &[u8], request_is_head: bool) -> Result<Option<Head>, DecodeError> {
    if let Some(head) = scan_plain(buf, request_is_head) {
        return head.map(Some);
    }
    parse_head_httparse(buf, request_is_head)
}

/// The head as httparse reads it.
fn parse_head_httparse(buf: &[u8], request_is_head: bool) -> Result<Option<Head>, DecodeError> {
    let mut fields = Fields::default();
    let Some((status, http10, len)) = httparse_head(buf, |name, value| fields.add(name, value))?
    else {
        return Ok(None);
    };
    fields
        .finish(status, http10, len, request_is_head)
        .map(Some)
}

/// Hands every field of a complete head to `field`, in order (what checks read headers
/// from; the head has already been judged by [`parse_head`]).
pub fn for_each_field(head: &[u8], field: impl FnMut(&[u8], &[u8])) {
    let _ = httparse_head(head, field);
}

/// Reads a head with httparse and hands each field to `field`. Returns the status, whether
/// the response is HTTP/1.0 and the head's length, or `None` when more bytes are needed.
fn httparse_head(
    buf: &[u8],
    mut field: impl FnMut(&[u8], &[u8]),
) -> Result<Option<(u16, bool, usize)>, DecodeError> {
    // Uninitialised slots: initialising 96 empty headers per response was ~300 of the
    // ~5,500 user-space instructions per request (callgrind); httparse writes the slots it
    // hands back and never reads the rest.
    let mut headers = [const { std::mem::MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        buf,
        &mut headers,
    ) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(DecodeError::TooManyHeaders),
        Err(_) => return Err(DecodeError::BadHead),
    };
    let status = resp.code.ok_or(DecodeError::BadHead)?;
    for h in resp.headers.iter() {
        field(h.name.as_bytes(), h.value);
    }
    Ok(Some((status, resp.version == Some(0), len)))
}

/// Token bytes (RFC 9110 §5.6.2): what a header name is made of.
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    t
};

/// Reads a complete head made only of `HTTP/1.x DDD reason`, `token: value` lines with
/// values of tab and printable ASCII, CRLF line ends and a blank line. `None` when the
/// input is anything else, including a head that is not complete yet.
fn scan_plain(buf: &[u8], request_is_head: bool) -> Option<Result<Head, DecodeError>> {
    let line = buf.get(..13)?;
    if &line[..7] != b"HTTP/1." || line[8] != b' ' || line[12] != b' ' {
        return None;
    }
    let http10 = match line[7] {
        b'1' => false,
        b'0' => true,
        _ => return None,
    };
    let mut status = 0u16;
    for &d in &line[9..12] {
        if !d.is_ascii_digit() {
            return None;
        }
        status = status * 10 + u16::from(d - b'0');
    }
    let mut at = text_end(buf, 13)?;
    let mut fields = Fields::default();
    let mut count = 0;
    loop {
        at += 2;
        let start = at;
        while buf.get(at).is_some_and(|&b| TOKEN[usize::from(b)]) {
            at += 1;
        }
        if at == start {
            return (buf.get(at..at + 2)? == b"\r\n")
                .then(|| fields.finish(status, http10, at + 2, request_is_head));
        }
        if buf.get(at) != Some(&b':') {
            return None;
        }
        let name = &buf[start..at];
        at += 1;
        while matches!(buf.get(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        let value = at;
        at = text_end(buf, at)?;
        count += 1;
        if count > MAX_HEADERS {
            return None;
        }
        fields.add(name, &buf[value..at]);
    }
}

/// From `from`, the index of the CR of a CRLF with only tab and printable ASCII before it;
/// `None` on any other byte or at the end of `buf`. Eight bytes at a time: a line is
/// mostly plain text, and one word test finds the first byte below 0x20 or above 0x7E.
fn text_end(buf: &[u8], mut from: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    loop {
        let special = match buf.get(from..from + 8) {
            Some(w) => {
                let w = u64::from_le_bytes(w.try_into().expect("eight bytes"));
                // Per byte: below 0x20 (the borrow of w - 0x20 reaches the high bit of a
                // byte that had it clear), at or above 0x80, or 0x7F (+1 carries into the
                // high bit). Borrows and carries only travel upwards from a flagged byte,
                // so the lowest flag is exact.
                let flags = ((w.wrapping_sub(ONES * 0x20) & !w) | w | w.wrapping_add(ONES)) & HIGH;
                if flags == 0 {
                    from += 8;
                    continue;
                }
                from + (flags.trailing_zeros() / 8) as usize
            }
            None => {
                let rest = buf.get(from..)?;
                from + rest.iter().position(|&b| !(0x20..0x7f).contains(&b))?
            }
        };
        match buf[special] {
            b'\t' => from = special + 1,
            b'\r' if buf.get(special + 1) == Some(&b'\n') => return Some(special),
            _ => return None,
        }
    }
}

/// What the engine takes from the header fields, in the order they came.
#[derive(Default)]
struct Fields {
    /// What the last `Connection` header that named `close` or `keep-alive` said.
    keep_alive: Option<bool>,
    length: Option<u64>,
    chunked: bool,
    /// The first bad field: reported once the whole head has parsed.
    error: Option<DecodeError>,
}

impl Fields {
    fn add(&mut self, name: &[u8], value: &[u8]) {
        if token_eq(name, b"content-length") {
            match parse_decimal(value) {
                Some(n) if self.length.is_none_or(|prev| prev == n) => self.length = Some(n),
                _ => {
                    self.error.get_or_insert(DecodeError::BadLength);
                }
            }
        } else if token_eq(name, b"transfer-encoding") {
            // Chunked must be the final coding; anything else is close-delimited.
            self.chunked = last_token_is(value, b"chunked");
        } else if token_eq(name, b"connection") {
            if has_token(value, b"close") {
                self.keep_alive = Some(false);
            } else if has_token(value, b"keep-alive") {
                self.keep_alive = Some(true);
            }
        }
    }

    /// The head, given its status line (HTTP/1.0 closes unless told otherwise).
    fn finish(
        self,
        status: u16,
        http10: bool,
        len: usize,
        request_is_head: bool,
    ) -> Result<Head, DecodeError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut keep_alive = self.keep_alive.unwrap_or(!http10);
        let framing =
            if request_is_head || (100..200).contains(&status) || status == 204 || status == 304 {
                Framing::Empty
            } else if self.chunked {
                Framing::Chunked
            } else if let Some(n) = self.length {
                Framing::Length(n)
            } else {
                keep_alive = false;
                Framing::Close
            };
        Ok(Head {
            status,
            framing,
            keep_alive,
            len,
        })
    }
}

/// Whether a header name equals `lower` (lowercase letters and `-`) ignoring ASCII case.
///
/// Cheaper than `eq_ignore_ascii_case` (every response header is compared against three
/// names) because both readers of a head (the plain scan and httparse) have already
/// checked that `name` is a token: ORing 0x20 into a
/// token byte lowercases a letter and leaves a digit or `-` as it is, and no other token
/// byte becomes a letter, digit or `-`. The fold has no early exit, so it vectorises.
fn token_eq(name: &[u8], lower: &[u8]) -> bool {
    name.len() == lower.len()
        && name
            .iter()
            .zip(lower)
            .fold(0u8, |diff, (a, b)| diff | ((a | 0x20) ^ b))
            == 0
}

fn parse_decimal(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Some(n)
}

fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

fn last_token_is(value: &[u8], token: &[u8]) -> bool {
    value
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Progress of the body decoder after one `feed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// Bytes of the input that belong to this response.
    pub consumed: usize,
    /// The body is complete; bytes after `consumed` belong to the next response.
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// Reading hex digits of a chunk size.
    Size { size: u64, digits: u8 },
    /// Skipping a chunk extension up to LF.
    Ext { size: u64 },
    /// Inside chunk data.
    Data { left: u64 },
    /// Expecting CR LF after chunk data (`seen_cr` tracks the CR).
    DataEnd { seen_cr: bool },
    /// At the start of a trailer line (or the final blank line).
    TrailerStart,
    /// Inside a trailer field line, up to LF.
    TrailerLine,
    /// Saw CR at the start of a trailer line: expecting LF to finish.
    FinalLf,
}

/// Counts and discards a response body according to its [`Framing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyDecoder {
    Length { left: u64 },
    Chunked(Chunk),
    Close,
    Done,
}

impl BodyDecoder {
    pub fn new(framing: Framing) -> BodyDecoder {
        match framing {
            Framing::Length(0) | Framing::Empty => BodyDecoder::Done,
            Framing::Length(n) => BodyDecoder::Length { left: n },
            Framing::Chunked => BodyDecoder::Chunked(Chunk::Size { size: 0, digits: 0 }),
            Framing::Close => BodyDecoder::Close,
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self, BodyDecoder::Done)
    }

    /// Whether the body ends only at EOF (so EOF is success, not an error).
    pub fn ends_at_eof(&self) -> bool {
        matches!(self, BodyDecoder::Close)
    }

    /// Feeds the next bytes of the stream.
    pub fn feed(&mut self, input: &[u8]) -> Result<Fed, DecodeError> {
        self.feed_with(input, |_, _| {})
    }

    /// Like [`feed`](Self::feed), handing each piece of body data (without chunk framing) to
    /// `data`, with whether the piece ends a chunk of chunked encoding: how checks see the
    /// body and `--stream-chunks` counts chunks. With a no-op `data` this compiles to `feed`.
    pub fn feed_with(
        &mut self,
        input: &[u8],
        mut data: impl FnMut(&[u8], bool),
    ) -> Result<Fed, DecodeError> {
        match self {
            BodyDecoder::Done => Ok(Fed {
                consumed: 0,
                done: true,
            }),
            BodyDecoder::Close => {
                data(input, false);
                Ok(Fed {
                    consumed: input.len(),
                    done: false,
                })
            }
            BodyDecoder::Length { left } => {
                let take = (*left).min(input.len() as u64);
                data(&input[..take as usize], false);
                *left -= take;
                let done = *left == 0;
                if done {
                    *self = BodyDecoder::Done;
                }
                Ok(Fed {
                    consumed: take as usize,
                    done,
                })
            }
            BodyDecoder::Chunked(state) => {
                let (consumed, done) = feed_chunked(state, input, &mut data)?;
                if done {
                    *self = BodyDecoder::Done;
                }
                Ok(Fed { consumed, done })
            }
        }
    }
}

fn feed_chunked(
    state: &mut Chunk,
    input: &[u8],
    data: &mut impl FnMut(&[u8], bool),
) -> Result<(usize, bool), DecodeError> {
    let mut i = 0;
    while i < input.len() {
        if let Chunk::Data { left } = *state {
            let take = left.min((input.len() - i) as u64);
            let left = left - take;
            data(&input[i..i + take as usize], left == 0);
            i += take as usize;
            *state = if left == 0 {
                Chunk::DataEnd { seen_cr: false }
            } else {
                Chunk::Data { left }
            };
            continue;
        }
        let b = input[i];
        i += 1;
        *state = match *state {
            Chunk::Size { size, digits } => match b {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    if digits >= 15 {
                        return Err(DecodeError::BadChunk);
                    }
                    let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                    Chunk::Size {
                        size: size * 16 + d,
                        digits: digits + 1,
                    }
                }
                b';' | b' ' | b'\t' | b'\r' if digits > 0 => Chunk::Ext { size },
                b'\n' if digits > 0 => end_of_size_line(size),
                _ => return Err(DecodeError::BadChunk),
            },
            Chunk::Ext { size } => {
                if b == b'\n' {
                    end_of_size_line(size)
                } else {
                    Chunk::Ext { size }
                }
            }
            Chunk::DataEnd { seen_cr } => match (seen_cr, b) {
                (false, b'\r') => Chunk::DataEnd { seen_cr: true },
                (_, b'\n') => Chunk::Size { size: 0, digits: 0 },
                _ => return Err(DecodeError::BadChunk),
            },
            Chunk::TrailerStart => match b {
                b'\r' => Chunk::FinalLf,
                b'\n' => return Ok((i, true)),
                _ => Chunk::TrailerLine,
            },
            Chunk::TrailerLine => {
                if b == b'\n' {
                    Chunk::TrailerStart
                } else {
                    Chunk::TrailerLine
                }
            }
            Chunk::FinalLf => {
                if b == b'\n' {
                    return Ok((i, true));
                }
                return Err(DecodeError::BadChunk);
            }
            Chunk::Data { .. } => unreachable!("handled above"),
        };
    }
    Ok((i, false))
}

fn end_of_size_line(size: u64) -> Chunk {
    if size == 0 {
        Chunk::TrailerStart
    } else {
        Chunk::Data { left: size }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn head(s: &str) -> Head {
        parse_head(s.as_bytes(), false).unwrap().unwrap()
    }

    #[test]
    fn content_length_head() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(h.status, 200);
        assert_eq!(h.framing, Framing::Length(5));
        assert!(h.keep_alive);
        assert_eq!(h.len, 38);
    }

    #[test]
    fn partial_head_needs_more() {
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le", false),
            Ok(None)
        );
    }

    #[test]
    fn connection_close_and_http10() {
        let h = head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        assert!(!h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert!(!h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n");
        assert!(h.keep_alive);
    }

    #[test]
    fn close_delimited_when_no_length() {
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(h.framing, Framing::Close);
        assert!(!h.keep_alive);
    }

    #[test]
    fn chunked_wins_over_length_and_no_body_statuses() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        assert_eq!(
            head("HTTP/1.1 204 No Content\r\n\r\n").framing,
            Framing::Empty
        );
        assert_eq!(
            head("HTTP/1.1 304 Not Modified\r\n\r\n").framing,
            Framing::Empty
        );
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true)
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Empty);
    }

    #[test]
    fn garbage_and_bad_length_are_errors() {
        assert_eq!(
            parse_head(b"SSH-2.0-OpenSSH\r\n\r\n", false),
            Err(DecodeError::BadHead)
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false),
            Err(DecodeError::BadLength)
        );
        assert_eq!(
            parse_head(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                false
            ),
            Err(DecodeError::BadLength)
        );
    }

    /// Feeds `body` in pieces split at `cuts`; returns (consumed, done).
    fn feed_split(
        framing: Framing,
        body: &[u8],
        cuts: &[usize],
    ) -> Result<(usize, bool), DecodeError> {
        feed_split_data(framing, body, cuts, &mut Vec::new())
    }

    /// Feeds `body` in pieces cut at `cuts`, collecting the decoded body data into `data`.
    fn feed_split_data(
        framing: Framing,
        body: &[u8],
        cuts: &[usize],
        data: &mut Vec<u8>,
    ) -> Result<(usize, bool), DecodeError> {
        let mut d = BodyDecoder::new(framing);
        let mut consumed = 0;
        let mut start = 0;
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
        points.sort_unstable();
        points.push(body.len());
        for end in points {
            if end < start {
                continue;
            }
            let mut piece = &body[start..end];
            while !piece.is_empty() {
                let fed = d.feed_with(piece, |b, _| data.extend_from_slice(b))?;
                consumed += fed.consumed;
                if fed.done {
                    return Ok((consumed, true));
                }
                piece = &piece[fed.consumed..];
            }
            start = end;
        }
        Ok((consumed, d.is_done()))
    }

    #[test]
    fn chunked_body_with_extension_and_trailer() {
        let body = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        assert_eq!(
            feed_split(Framing::Chunked, body, &[]),
            Ok((body.len() - 4, true))
        );
    }

    #[test]
    fn chunked_rejects_garbage() {
        assert_eq!(
            feed_split(Framing::Chunked, b"zz\r\n", &[]),
            Err(DecodeError::BadChunk)
        );
        assert_eq!(
            feed_split(Framing::Chunked, b"2\r\nabXY", &[]),
            Err(DecodeError::BadChunk)
        );
    }

    #[test]
    fn length_body_stops_at_boundary() {
        assert_eq!(
            feed_split(Framing::Length(3), b"abcdef", &[1]),
            Ok((3, true))
        );
    }

    fn chunked_encode(parts: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in parts.iter().filter(|p| !p.is_empty()) {
            out.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
            out.extend_from_slice(p);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    /// Response heads assembled from pieces that are valid, unusual or broken, each piece
    /// usually valid (so that whole heads often are, and the scan reads them).
    fn head_strategy() -> impl Strategy<Value = Vec<u8>> {
        fn mostly(good: &[&'static str], bad: &[&'static str]) -> BoxedStrategy<Vec<u8>> {
            let mut all: Vec<Vec<u8>> = Vec::new();
            for _ in 0..4 {
                all.extend(good.iter().map(|s| s.as_bytes().to_vec()));
            }
            all.extend(bad.iter().map(|s| s.as_bytes().to_vec()));
            prop::sample::select(all).boxed()
        }
        let text = prop::collection::vec(
            mostly(
                &[
                    "a",
                    "Z",
                    "0",
                    " ",
                    "\t",
                    ",",
                    "~",
                    "close",
                    "keep-alive",
                    "chunked",
                    "12",
                ],
                &["\x01", "\x7f", "\u{80}", "\u{ff}", "\r", "\n", "\0"],
            ),
            0..6,
        )
        .prop_map(|v| v.concat());
        let eol = || mostly(&["\r\n"], &["\n", "\r", ""]);
        let name = mostly(
            &[
                "Content-Length",
                "content-length",
                "CONTENT-LENGTH",
                "Transfer-Encoding",
                "transfer-encoding",
                "Connection",
                "connection",
                "Server",
                "Date",
                "X-A_b.c~1",
                "Content-Lengthx",
            ],
            &["Bad Name", "Bad\x01", "", "é", "a\tb"],
        );
        let colon = mostly(&[":", ": ", ":\t", ":  "], &[" :", ""]);
        let line =
            (name, colon, text.clone(), eol()).prop_map(|(n, c, v, e)| [n, c, v, e].concat());
        (
            mostly(
                &["HTTP/1.1 ", "HTTP/1.0 "],
                &["HTTP/1.2 ", "HTTP/2.0 ", "http/1.1 ", "HTTP/1.1"],
            ),
            mostly(
                &["200", "204", "304", "101", "404", "599"],
                &["20x", "2000", "000"],
            ),
            mostly(&[" "], &["", "\t", "  "]),
            text,
            eol(),
            prop::collection::vec(line, 0..8),
            eol(),
        )
            .prop_map(|(v, c, sp, reason, e, lines, end)| {
                [v, c, sp, reason, e, lines.concat(), end].concat()
            })
    }

    #[test]
    fn nginx_head_takes_the_scan() {
        let wire = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 01 Dec 2026 22:51:24 GMT\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n";
        let head = scan_plain(wire, false).expect("plain").unwrap();
        assert_eq!(head.framing, Framing::Length(3));
        assert_eq!(head.len, wire.len() - 3);
        assert!(head.keep_alive);
    }

    proptest! {
        /// The decoder's verdict does not depend on where reads split the stream.
        #[test]
        fn chunked_split_invariant(
            parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..6),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
            tail in proptest::collection::vec(any::<u8>(), 0..10),
        ) {
            let mut wire = chunked_encode(&parts);
            let body_len = wire.len();
            wire.extend_from_slice(&tail);
            prop_assert_eq!(feed_split(Framing::Chunked, &wire, &cuts), Ok((body_len, true)));
        }

        /// The body data handed out is the body itself, chunk framing removed, however the
        /// reads split it.
        #[test]
        fn chunked_data_is_the_body(
            parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..6),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let wire = chunked_encode(&parts);
            let mut data = Vec::new();
            feed_split_data(Framing::Chunked, &wire, &cuts, &mut data).unwrap();
            prop_assert_eq!(data, parts.concat());
        }

        /// On any token (what httparse lets through as a header name), `token_eq` agrees with
        /// `eq_ignore_ascii_case` for the names the head parser looks for.
        #[test]
        fn token_eq_is_case_insensitive_equality(
            name in "[-!#$%&'*+.^_`|~0-9A-Za-z]{0,20}",
            pick in 0usize..3,
            recase in proptest::collection::vec(any::<bool>(), 17),
        ) {
            let lower = [&b"content-length"[..], b"transfer-encoding", b"connection"][pick];
            prop_assert_eq!(token_eq(name.as_bytes(), lower), name.as_bytes().eq_ignore_ascii_case(lower));
            // The name itself in any mix of cases matches.
            let mixed: Vec<u8> = lower
                .iter()
                .zip(&recase)
                .map(|(b, up)| if *up { b.to_ascii_uppercase() } else { *b })
                .collect();
            prop_assert!(token_eq(&mixed, lower));
        }

        /// Wherever the plain scan reads a head, httparse reads the same one: status, framing,
        /// keep-alive, length and error, on heads built from valid and invalid pieces.
        #[test]
        fn the_plain_scan_agrees_with_httparse(
            head in head_strategy(),
            tail in proptest::collection::vec(any::<u8>(), 0..8),
        ) {
            let mut wire = head;
            wire.extend_from_slice(&tail);
            if let Some(fast) = scan_plain(&wire, false) {
                prop_assert_eq!(fast.map(Some), parse_head_httparse(&wire, false), "{:?}", String::from_utf8_lossy(&wire));
            }
        }

        /// A head of the plain shape is read by the scan itself (the fast path is taken),
        /// whatever the case of names, whitespace and tabs in values.
        #[test]
        fn plain_heads_take_the_scan(
            code in 100u16..600,
            reason in "[ -~\t]{0,12}",
            fields in proptest::collection::vec(("[-!#$%&'*+.^_`|~0-9A-Za-z]{1,16}", "[ \t]{0,2}", "[ -~\t]{0,40}"), 0..10),
        ) {
            let mut wire = format!("HTTP/1.1 {code} {reason}\r\n");
            for (name, ows, value) in &fields {
                wire.push_str(&format!("{name}:{ows}{value}\r\n"));
            }
            wire.push_str("\r\n");
            let fast = scan_plain(wire.as_bytes(), false);
            prop_assert!(fast.is_some(), "{:?}", wire);
            prop_assert_eq!(fast.unwrap().map(Some), parse_head_httparse(wire.as_bytes(), false));
        }

        /// Arbitrary bytes: the scan reads nothing httparse would read differently.
        #[test]
        fn the_plain_scan_agrees_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut wire = b"HTTP/1.1 200 OK\r\n".to_vec();
            wire.extend_from_slice(&bytes);
            for w in [&bytes[..], &wire[..]] {
                if let Some(fast) = scan_plain(w, false) {
                    prop_assert_eq!(fast.map(Some), parse_head_httparse(w, false));
                }
            }
        }

        /// Arbitrary bytes never panic the head parser or the chunk decoder.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_head(&bytes, false);
            let _ = feed_split(Framing::Chunked, &bytes, &[3, 17]);
        }
    }
}
