//! HPACK (RFC 7541): the response-side decoder with its dynamic table, and the request-side
//! encoder.
//!
//! Decoding hands each field to a callback as borrowed bytes (from the tables or from reused
//! scratch buffers), so a response head costs no allocation once the buffers have grown.
//! Encoding is stateless: literals without indexing (never indexed for credentials), static
//! table indices where the RFC has one. A request's block therefore does not depend on what
//! the connection sent before, which is what lets a static request be encoded once per run.

use std::collections::VecDeque;

use super::huffman;

/// RFC 7541 Appendix A.
const STATIC: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// Why a header block could not be decoded; every one is a connection error
/// (COMPRESSION_ERROR), since the dynamic table is then out of step with the peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HpackError {
    #[error("header block truncated")]
    Truncated,
    #[error("integer too large")]
    Overflow,
    #[error("index {0} not in the table")]
    BadIndex(usize),
    #[error("invalid Huffman string")]
    Huffman,
    #[error("table size update to {0} above the limit")]
    SizeUpdate(usize),
}

/// The dynamic table: entries newest first, their bytes in one buffer in insertion order.
/// Evicted bytes stay at the front until they outweigh the live ones and are then dropped in
/// one move, so the buffer stops growing at about twice the table size.
#[derive(Debug)]
struct Table {
    /// (offset into `data`, name length, value length), newest first.
    entries: VecDeque<(usize, usize, usize)>,
    data: Vec<u8>,
    /// Where the oldest live entry's bytes start; everything before is evicted.
    front: usize,
    /// Sum of entry sizes (name + value + 32, RFC 7541 §4.1).
    size: usize,
    max: usize,
}

impl Table {
    fn new(max: usize) -> Table {
        Table {
            entries: VecDeque::new(),
            data: Vec::new(),
            front: 0,
            size: 0,
            max,
        }
    }

    fn get(&self, index: usize) -> Option<(&[u8], &[u8])> {
        if index == 0 {
            return None;
        }
        if index <= STATIC.len() {
            return Some(STATIC[index - 1]);
        }
        let &(off, n, v) = self.entries.get(index - STATIC.len() - 1)?;
        Some((&self.data[off..off + n], &self.data[off + n..off + n + v]))
    }

    fn evict_to(&mut self, limit: usize) {
        while self.size > limit {
            let (off, n, v) = self.entries.pop_back().expect("size > 0 means entries");
            debug_assert_eq!(off, self.front);
            self.size -= n + v + 32;
            self.front = off + n + v;
        }
        if self.entries.is_empty() {
            self.data.clear();
            self.front = 0;
        } else if self.front > 1024 && self.front * 2 > self.data.len() {
            self.data.drain(..self.front);
            for e in &mut self.entries {
                e.0 -= self.front;
            }
            self.front = 0;
        }
    }

    fn set_max(&mut self, max: usize) {
        self.max = max;
        self.evict_to(max);
    }

    fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = name.len() + value.len() + 32;
        if size > self.max {
            // RFC 7541 §4.4: an entry larger than the table empties it and is not added.
            self.evict_to(0);
            return;
        }
        self.evict_to(self.max - size);
        let off = self.data.len();
        self.data.extend_from_slice(name);
        self.data.extend_from_slice(value);
        self.entries.push_front((off, name.len(), value.len()));
        self.size += size;
    }
}

/// Decodes an HPACK integer with an `n`-bit prefix starting at `buf[*pos]`.
fn integer(buf: &[u8], pos: &mut usize, n: u32) -> Result<usize, HpackError> {
    let mask = (1usize << n) - 1;
    let first = *buf.get(*pos).ok_or(HpackError::Truncated)?;
    *pos += 1;
    let mut value = usize::from(first) & mask;
    if value < mask {
        return Ok(value);
    }
    let mut shift = 0;
    loop {
        let b = *buf.get(*pos).ok_or(HpackError::Truncated)?;
        *pos += 1;
        if shift > 28 {
            return Err(HpackError::Overflow);
        }
        value += usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// The last few Huffman-coded strings and their decodings. A server repeats the same coded
/// bytes response after response (`date` changes once a second, `server` and `content-type`
/// never), so a byte comparison usually replaces the bit-by-bit decode, the largest cost of
/// a response head (~2,000 instructions of ~6,700 per request against nginx, callgrind).
#[derive(Debug, Default)]
struct HuffmanMemo {
    entries: [(Vec<u8>, Vec<u8>); 8],
    next: usize,
}

impl HuffmanMemo {
    /// Only short strings are kept: long ones are rarely repeated and would pin memory.
    const MAX: usize = 128;

    fn decode(&mut self, raw: &[u8], out: &mut Vec<u8>) -> Result<(), HpackError> {
        if let Some((_, plain)) = self.entries.iter().find(|(r, _)| r == raw) {
            out.extend_from_slice(plain);
            return Ok(());
        }
        huffman::decode(raw, out).map_err(|_| HpackError::Huffman)?;
        if raw.len() <= Self::MAX && !raw.is_empty() {
            let (r, plain) = &mut self.entries[self.next];
            r.clear();
            r.extend_from_slice(raw);
            plain.clear();
            plain.extend_from_slice(out);
            self.next = (self.next + 1) % self.entries.len();
        }
        Ok(())
    }
}

/// Decodes a string literal at `buf[*pos]` into `out` (cleared first).
fn string(
    buf: &[u8],
    pos: &mut usize,
    out: &mut Vec<u8>,
    memo: &mut HuffmanMemo,
) -> Result<(), HpackError> {
    let huff = buf.get(*pos).ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = integer(buf, pos, 7)?;
    let raw = buf.get(*pos..*pos + len).ok_or(HpackError::Truncated)?;
    *pos += len;
    out.clear();
    if huff {
        memo.decode(raw, out)
    } else {
        out.extend_from_slice(raw);
        Ok(())
    }
}

/// One connection's response-header decoder.
#[derive(Debug)]
pub struct Decoder {
    table: Table,
    /// The largest table the peer may ask for: our SETTINGS_HEADER_TABLE_SIZE (the default).
    limit: usize,
    name: Vec<u8>,
    value: Vec<u8>,
    memo: HuffmanMemo,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder {
            table: Table::new(4096),
            limit: 4096,
            name: Vec::new(),
            value: Vec::new(),
            memo: HuffmanMemo::default(),
        }
    }
}

impl Decoder {
    /// Decodes one complete header block, handing every field to `field` in order.
    pub fn decode(
        &mut self,
        block: &[u8],
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), HpackError> {
        let mut pos = 0;
        while pos < block.len() {
            let b = block[pos];
            if b & 0x80 != 0 {
                // Indexed field.
                let i = integer(block, &mut pos, 7)?;
                let (n, v) = self.table.get(i).ok_or(HpackError::BadIndex(i))?;
                field(n, v);
            } else if b & 0xe0 == 0x20 {
                let size = integer(block, &mut pos, 5)?;
                if size > self.limit {
                    return Err(HpackError::SizeUpdate(size));
                }
                self.table.set_max(size);
            } else {
                // Literal: with incremental indexing (01), without (0000) or never (0001).
                let (prefix, index) = if b & 0x40 != 0 { (6, true) } else { (4, false) };
                let i = integer(block, &mut pos, prefix)?;
                if i == 0 {
                    string(block, &mut pos, &mut self.name, &mut self.memo)?;
                } else {
                    let (n, _) = self.table.get(i).ok_or(HpackError::BadIndex(i))?;
                    self.name.clear();
                    self.name.extend_from_slice(n);
                }
                string(block, &mut pos, &mut self.value, &mut self.memo)?;
                field(&self.name, &self.value);
                if index {
                    self.table.insert(&self.name, &self.value);
                }
            }
        }
        Ok(())
    }
}

/// Appends an integer with an `n`-bit prefix whose other bits are `flags`.
fn put_integer(out: &mut Vec<u8>, flags: u8, n: u32, mut value: usize) {
    let mask = (1usize << n) - 1;
    if value < mask {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | mask as u8);
    value -= mask;
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    put_integer(out, 0, 7, s.len());
    out.extend_from_slice(s);
}

/// The static-table index of a header name (for the literal's name), if it has one.
fn name_index(name: &[u8]) -> Option<usize> {
    // Only the names a request plausibly carries; the rest are sent as literals.
    let i = match name {
        b"accept" => 19,
        b"accept-encoding" => 16,
        b"accept-language" => 17,
        b"authorization" => 23,
        b"cache-control" => 24,
        b"content-length" => 28,
        b"content-type" => 31,
        b"cookie" => 32,
        b"if-none-match" => 41,
        b"referer" => 51,
        b"user-agent" => 58,
        _ => return None,
    };
    Some(i)
}

/// Appends the pseudo-headers of a request. `method` is the method's token.
pub fn encode_start(out: &mut Vec<u8>, method: &[u8], https: bool, authority: &[u8], path: &[u8]) {
    match method {
        b"GET" => out.push(0x82),
        b"POST" => out.push(0x83),
        m => {
            put_integer(out, 0x00, 4, 2);
            put_string(out, m);
        }
    }
    out.push(if https { 0x87 } else { 0x86 });
    put_integer(out, 0x00, 4, 1);
    put_string(out, authority);
    if path == b"/" {
        out.push(0x84);
    } else {
        put_integer(out, 0x00, 4, 4);
        put_string(out, path);
    }
}

/// Appends one regular header (`name` lowercase). Credentials are marked never-indexed so
/// that no intermediary stores them in a compression table.
pub fn encode_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    let flags = if matches!(name, b"authorization" | b"cookie" | b"proxy-authorization") {
        0x10
    } else {
        0x00
    };
    match name_index(name) {
        Some(i) => put_integer(out, flags, 4, i),
        None => {
            put_integer(out, flags, 4, 0);
            put_string(out, name);
        }
    }
    put_string(out, value);
}

#[cfg(test)]
mod tests {
    use super::huffman::hex;
    use super::*;

    fn fields(d: &mut Decoder, block: &[u8]) -> Vec<(String, String)> {
        let mut v = Vec::new();
        d.decode(block, |n, val| {
            v.push((
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(val.to_vec()).unwrap(),
            ))
        })
        .unwrap();
        v
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn rfc_c3_requests_without_huffman_share_a_table() {
        let mut d = Decoder::default();
        let first = hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
        assert_eq!(
            fields(&mut d, &first),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com")
            ])
        );
        assert_eq!(d.table.size, 57);
        let second = hex("8286 84be 5808 6e6f 2d63 6163 6865");
        assert_eq!(
            fields(&mut d, &second),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
                ("cache-control", "no-cache")
            ])
        );
        assert_eq!(d.table.size, 110);
    }

    #[test]
    fn rfc_c6_responses_with_huffman_evict_from_a_small_table() {
        let mut d = Decoder::default();
        d.table.set_max(256);
        let first = hex(
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6              2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        );
        let want = [
            (":status", "302"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ("location", "https://www.example.com"),
        ];
        assert_eq!(fields(&mut d, &first), pairs(&want));
        assert_eq!(d.table.size, 222);
        // ":status: 307" evicts ":status: 302"; the rest are indexed from the table.
        let second = hex("4883 640e ff c1 c0 bf");
        let mut want2 = want;
        want2[0] = (":status", "307");
        assert_eq!(fields(&mut d, &second), pairs(&want2));
        assert_eq!(d.table.size, 222);
        assert_eq!(d.table.entries.len(), 4);
    }

    #[test]
    fn the_table_keeps_its_size_and_its_buffer_bounded() {
        let mut d = Decoder::default();
        let mut block = Vec::new();
        for i in 0..10_000u32 {
            block.clear();
            // Literal with incremental indexing, new name.
            block.push(0x40);
            put_string(&mut block, format!("x-header-{}", i % 97).as_bytes());
            put_string(&mut block, format!("value-{i}").as_bytes());
            block.push(0xbe); // index 62: the entry just added
            let f = fields(&mut d, &block);
            assert_eq!(f[0], f[1]);
            assert!(d.table.size <= 4096);
        }
        assert!(
            d.table.data.len() <= 2 * 4096 + 64,
            "{}",
            d.table.data.len()
        );
    }

    #[test]
    fn repeated_huffman_strings_decode_the_same_from_the_memo() {
        let mut d = Decoder::default();
        let mut plain = Decoder::default();
        let mut block = Vec::new();
        for i in 0..200u32 {
            block.clear();
            // Literal without indexing, new name; both strings Huffman-coded. Ten distinct
            // values cycle through a memo of eight.
            for s in [format!("x-{}", i % 10), format!("value {} of ten", i % 10)] {
                let mut coded = Vec::new();
                huffman::encode(s.as_bytes(), &mut coded);
                if block.is_empty() {
                    block.push(0x00);
                }
                put_integer(&mut block, 0x80, 7, coded.len());
                block.extend_from_slice(&coded);
            }
            let got = fields(&mut d, &block);
            assert_eq!(got[0].0, format!("x-{}", i % 10));
            assert_eq!(got[0].1, format!("value {} of ten", i % 10));
            // The memo never changes an answer: a fresh decoder agrees.
            plain.memo = HuffmanMemo::default();
            assert_eq!(fields(&mut plain, &block), got);
        }
        let mut bad = vec![0x00, 0x81, 0x00, 0x81, 0xff];
        assert_eq!(d.decode(&bad, |_, _| {}), Err(HpackError::Huffman));
        bad[4] = 0xfe;
        assert_eq!(d.decode(&bad, |_, _| {}), Err(HpackError::Huffman));
    }

    #[test]
    fn bad_blocks_are_errors() {
        let mut d = Decoder::default();
        for (block, err) in [
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f][..],
                HpackError::Overflow,
            ),
            (&[0xbe][..], HpackError::BadIndex(62)),
            (&[0x80][..], HpackError::BadIndex(0)),
            (&[0x3f, 0xe2, 0x1f][..], HpackError::SizeUpdate(4097)),
            (&[0x40, 0x05, b'a'][..], HpackError::Truncated),
        ] {
            assert_eq!(d.decode(block, |_, _| {}), Err(err), "{block:02x?}");
        }
    }

    #[test]
    fn encoded_requests_decode_to_what_was_sent() {
        let mut out = Vec::new();
        encode_start(&mut out, b"PATCH", true, b"api.test:8443", b"/items/7?x=1");
        encode_header(&mut out, b"authorization", b"Bearer t");
        encode_header(&mut out, b"x-trace", b"abc");
        encode_header(&mut out, b"user-agent", &[b'u'; 300]);
        let ua = "u".repeat(300);
        let mut d = Decoder::default();
        assert_eq!(
            fields(&mut d, &out),
            pairs(&[
                (":method", "PATCH"),
                (":scheme", "https"),
                (":authority", "api.test:8443"),
                (":path", "/items/7?x=1"),
                ("authorization", "Bearer t"),
                ("x-trace", "abc"),
                ("user-agent", &ua),
            ])
        );
        // Stateless: nothing was added to the peer's table.
        assert_eq!(d.table.size, 0);
        assert_eq!(out[out.len() - 303..out.len() - 300], [0x7f, 0xad, 0x01]);
    }
}
