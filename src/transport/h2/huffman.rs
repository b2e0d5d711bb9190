//! HPACK's Huffman code (RFC 7541 Appendix B), decoded into a caller's reused buffer.
//!
//! The code is canonical (codes of one length are consecutive, ordered by symbol), so the
//! RFC's table is fully described by the code length of each symbol; the codes themselves and
//! the decoding tables are derived from the lengths at compile time. Decoding looks the next
//! 8 bits up in a 256-entry table (every code of up to 8 bits: letters, digits, the usual
//! punctuation) and walks the canonical code bit by bit only for the rare longer ones.

/// Code length in bits of each symbol 0..=255 and EOS (256), from RFC 7541 Appendix B.
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, //
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, //
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, //
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, //
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, //
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, //
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, //
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, //
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, //
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, //
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, //
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, //
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, //
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, //
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, //
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, //
    30,
];

const EOS: u16 = 256;
const MAX_LEN: usize = 30;

/// The canonical code's shape: per length, its first code, how many codes it has, and where
/// its symbols start in `symbols` (all symbols ordered by length, then value).
struct Canonical {
    first: [u32; MAX_LEN + 1],
    count: [u32; MAX_LEN + 1],
    start: [u16; MAX_LEN + 1],
    symbols: [u16; 257],
    /// Each symbol's code, right-aligned (used by the encoder in tests and to build `FAST`).
    codes: [u32; 257],
}

const fn canonical() -> Canonical {
    let mut c = Canonical {
        first: [0; MAX_LEN + 1],
        count: [0; MAX_LEN + 1],
        start: [0; MAX_LEN + 1],
        symbols: [0; 257],
        codes: [0; 257],
    };
    let mut s = 0;
    while s < 257 {
        c.count[LENGTHS[s] as usize] += 1;
        s += 1;
    }
    let mut code = 0u32;
    let mut next = 0u16;
    let mut len = 1;
    while len <= MAX_LEN {
        c.first[len] = code;
        c.start[len] = next;
        let mut sym = 0;
        while sym < 257 {
            if LENGTHS[sym] as usize == len {
                c.symbols[next as usize] = sym as u16;
                c.codes[sym] = code + (next - c.start[len]) as u32;
                next += 1;
            }
            sym += 1;
        }
        code = (code + c.count[len]) << 1;
        len += 1;
    }
    c
}

static CANON: Canonical = canonical();

/// For each value of the next 8 bits: the symbol whose code they start with and its length,
/// or length 0 when that code is longer than 8 bits.
static FAST: [(u8, u8); 256] = {
    let c = canonical();
    let mut t = [(0u8, 0u8); 256];
    let mut sym = 0;
    while sym < 256 {
        let len = LENGTHS[sym] as usize;
        if len <= 8 {
            let base = (c.codes[sym] << (8 - len)) as usize;
            let mut k = 0;
            while k < (1 << (8 - len)) {
                t[base + k] = (sym as u8, len as u8);
                k += 1;
            }
        }
        sym += 1;
    }
    t
};

/// Why a Huffman-coded string is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HuffmanError {
    /// The EOS symbol appeared inside the string.
    Eos,
    /// The string ends in more than 7 bits of padding, or padding that is not all ones.
    Padding,
}

/// Appends the decoding of `src` to `out`.
pub fn decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    // Bits are consumed from the top of `acc`; `nbits` of them are valid.
    let mut acc: u64 = 0;
    let mut nbits: u32 = 0;
    let mut i = 0;
    loop {
        while nbits <= 56 && i < src.len() {
            acc |= u64::from(src[i]) << (56 - nbits);
            nbits += 8;
            i += 1;
        }
        if nbits == 0 {
            return Ok(());
        }
        let (sym, len) = FAST[(acc >> 56) as usize];
        if len != 0 && u32::from(len) <= nbits {
            out.push(sym);
            acc <<= len;
            nbits -= u32::from(len);
            continue;
        }
        // A longer code, or the string's last bits: walk the canonical code.
        let mut code = 0u32;
        let mut len = 0usize;
        loop {
            if len as u32 == nbits {
                // Out of input: what is left is padding, a prefix of EOS (all ones), < 8 bits.
                return if len < 8 && code == (1 << len) - 1 {
                    Ok(())
                } else {
                    Err(HuffmanError::Padding)
                };
            }
            code = (code << 1) | (acc >> 63) as u32;
            acc <<= 1;
            len += 1;
            if len > MAX_LEN {
                return Err(HuffmanError::Padding);
            }
            let off = code.wrapping_sub(CANON.first[len]);
            if off < CANON.count[len] {
                let sym = CANON.symbols[usize::from(CANON.start[len]) + off as usize];
                if sym == EOS {
                    return Err(HuffmanError::Eos);
                }
                out.push(sym as u8);
                nbits -= len as u32;
                break;
            }
        }
    }
}

/// Huffman-encodes `src` (tests and the test server's peers use it; requests are sent as
/// plain literals).
#[cfg(test)]
pub fn encode(src: &[u8], out: &mut Vec<u8>) {
    let mut acc: u64 = 0;
    let mut nbits = 0u32;
    for &b in src {
        let len = u32::from(LENGTHS[usize::from(b)]);
        acc = (acc << len) | u64::from(CANON.codes[usize::from(b)]);
        nbits += len;
        while nbits >= 8 {
            out.push((acc >> (nbits - 8)) as u8);
            nbits -= 8;
        }
    }
    if nbits > 0 {
        // Pad with the most significant bits of EOS (ones).
        out.push(((acc << (8 - nbits)) as u8) | ((1u8 << (8 - nbits)) - 1));
    }
}

/// Bytes from the RFC's hex notation ("f1e3 c2e5 ..."), for the tests of this module and
/// of `hpack`.
#[cfg(test)]
pub(super) fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The Huffman-coded strings of RFC 7541 Appendix C.4 and C.6.
    const RFC: [(&str, &str); 8] = [
        ("f1e3 c2e5 f23a 6ba0 ab90 f4ff", "www.example.com"),
        ("a8eb 1064 9cbf", "no-cache"),
        ("25a8 49e9 5ba9 7d7f", "custom-key"),
        ("25a8 49e9 5bb8 e8b4 bf", "custom-value"),
        ("6402", "302"),
        ("aec3 771a 4b", "private"),
        (
            "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
            "Mon, 21 Oct 2013 20:13:21 GMT",
        ),
        (
            "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3",
            "https://www.example.com",
        ),
    ];

    #[test]
    fn decodes_and_encodes_the_rfc_examples() {
        for (coded, plain) in RFC {
            let mut out = Vec::new();
            decode(&hex(coded), &mut out).unwrap();
            assert_eq!(out, plain.as_bytes());
            let mut enc = Vec::new();
            encode(plain.as_bytes(), &mut enc);
            assert_eq!(enc, hex(coded), "{plain}");
        }
    }

    #[test]
    fn the_derived_code_is_the_rfcs() {
        // Spot checks against Appendix B's "code as hex" column.
        for (sym, code) in [
            (0usize, 0x1ff8u32),
            (b' ' as usize, 0x14),
            (b'0' as usize, 0x0),
            (b'a' as usize, 0x3),
            (b'z' as usize, 0x7b),
            (255, 0x3ffffee),
            (256, 0x3fffffff),
        ] {
            assert_eq!(CANON.codes[sym], code, "symbol {sym}");
        }
    }

    #[test]
    fn bad_padding_and_eos_are_refused() {
        let mut out = Vec::new();
        // 'a' is 00011 (5 bits); padding with zeros is invalid.
        assert_eq!(decode(&[0b0001_1000], &mut out), Err(HuffmanError::Padding));
        // A whole byte of ones is 8 bits of padding: too long.
        assert_eq!(
            decode(&[0b0001_1111, 0xff], &mut out),
            Err(HuffmanError::Padding)
        );
        // EOS itself (30 ones) inside the string.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff], &mut out),
            Err(HuffmanError::Eos)
        );
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut enc = Vec::new();
            encode(&bytes, &mut enc);
            let mut out = Vec::new();
            decode(&enc, &mut out).unwrap();
            prop_assert_eq!(out, bytes);
        }

        /// Against an independent implementation whose table was written out separately
        /// (httlib-huffman): a wrong code length in `LENGTHS` shifts every code after it in
        /// the canonical order, which a round trip through our own encoder cannot see but
        /// these comparisons do, both ways, for every byte value.
        #[test]
        fn agrees_with_an_independent_implementation(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut ours = Vec::new();
            encode(&bytes, &mut ours);
            let mut theirs = Vec::new();
            httlib_huffman::encode(&bytes, &mut theirs).unwrap();
            prop_assert_eq!(&ours, &theirs);
            let mut out = Vec::new();
            decode(&theirs, &mut out).unwrap();
            prop_assert_eq!(out, bytes);
        }
    }

    #[test]
    fn every_symbol_is_coded_as_the_independent_table_codes_it() {
        for b in 0..=255u8 {
            // Each byte alone and twice, so its padding and its code's end are both seen.
            for input in [vec![b], vec![b, b]] {
                let (mut ours, mut theirs) = (Vec::new(), Vec::new());
                encode(&input, &mut ours);
                httlib_huffman::encode(&input, &mut theirs).unwrap();
                assert_eq!(ours, theirs, "byte {b}");
            }
        }
    }
}
