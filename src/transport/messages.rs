//! A reply read as a stream of messages: gRPC's length-prefixed messages, Server-Sent
//! Events (`--sse`), or the chunks a server flushed (`--stream-chunks`). Whatever the
//! framing, each message is counted as it completes, the first one's time is kept (time to
//! first message, or first token for a streaming LLM API), and the gap since the message
//! before it goes into the thread's gap histogram.
//!
//! The gap histogram is the thread's own ([`Gaps`]): messages arrive while the VU awaits
//! its reply, so they cannot wait for the recorder; the worker moves the gaps into its
//! interval at each hand-off.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use hdrhistogram::Histogram;

/// How replies are split into messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Split {
    /// Plain HTTP: a reply is not read as messages.
    #[default]
    None,
    /// gRPC: a 5-byte prefix (flag, big-endian length) before each message.
    Grpc,
    /// `text/event-stream`: an event ends at a blank line (comment-only blocks are not
    /// events).
    Sse,
    /// Each chunk the server sent: an HTTP/1.1 chunk of chunked encoding, an HTTP/2 DATA
    /// frame, or (for a body with neither) each read that brought body bytes.
    Chunks,
}

/// One thread's histogram of gaps between consecutive messages of a reply, in µs.
#[derive(Clone)]
pub struct Gaps(Rc<RefCell<Histogram<u64>>>);

impl Default for Gaps {
    fn default() -> Self {
        // The recorder's bounds (1 µs .. 1 h, 3 significant figures), so intervals merge it.
        let h = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant bounds");
        Gaps(Rc::new(RefCell::new(h)))
    }
}

impl Gaps {
    pub fn record(&self, gap: std::time::Duration) {
        let us = (gap.as_micros() as u64).max(1);
        self.0.borrow_mut().saturating_record(us);
    }

    /// Hands the gaps recorded since the last call to `f` (the worker's hand-off), then
    /// forgets them.
    pub fn drain(&self, f: impl FnOnce(&Histogram<u64>)) {
        let mut h = self.0.borrow_mut();
        if !h.is_empty() {
            f(&h);
            h.reset();
        }
    }
}

/// The message state of one reply.
#[derive(Debug, Clone, Copy, Default)]
pub struct Messages {
    split: Split,
    pub count: u32,
    pub first: Option<Instant>,
    last: Option<Instant>,
    /// gRPC: bytes of the current prefix seen (0..5), the prefix, and payload bytes left.
    prefix_len: u8,
    prefix: [u8; 5],
    left: u32,
    /// SSE: the current line has no byte yet; its first byte; a CR just ended a line (so a
    /// following LF is part of it); the event has a field line.
    line_empty: bool,
    line_first: u8,
    after_cr: bool,
    pending: bool,
}

impl Messages {
    pub fn new(split: Split) -> Messages {
        Messages {
            split,
            line_empty: true,
            ..Messages::default()
        }
    }

    pub fn split(&self) -> Split {
        self.split
    }

    fn message(&mut self, now: Instant, gaps: &Gaps) {
        self.count += 1;
        self.first.get_or_insert(now);
        if let Some(last) = self.last {
            gaps.record(now.saturating_duration_since(last));
        }
        self.last = Some(now);
    }

    /// Body bytes as they arrived (decoded from HTTP's framing).
    pub fn data(&mut self, data: &[u8], now: Instant, gaps: &Gaps) {
        match self.split {
            Split::None | Split::Chunks => {}
            Split::Grpc => self.grpc(data, now, gaps),
            Split::Sse => self.sse(data, now, gaps),
        }
    }

    /// The end of a chunk (HTTP/1.1 chunk, HTTP/2 DATA frame, or a read) with data in it.
    pub fn chunk(&mut self, now: Instant, gaps: &Gaps) {
        if self.split == Split::Chunks {
            self.message(now, gaps);
        }
    }

    fn grpc(&mut self, mut data: &[u8], now: Instant, gaps: &Gaps) {
        while !data.is_empty() {
            if self.prefix_len < 5 {
                let n = (5 - usize::from(self.prefix_len)).min(data.len());
                let at = usize::from(self.prefix_len);
                self.prefix[at..at + n].copy_from_slice(&data[..n]);
                self.prefix_len += n as u8;
                data = &data[n..];
                if self.prefix_len < 5 {
                    return;
                }
                let p = self.prefix;
                self.left = u32::from_be_bytes([p[1], p[2], p[3], p[4]]);
            }
            let n = (self.left as usize).min(data.len());
            self.left -= n as u32;
            data = &data[n..];
            if self.left == 0 {
                self.message(now, gaps);
                self.prefix_len = 0;
            }
        }
    }

    /// The event-stream line rules (WHATWG HTML, "Parsing an event stream"): lines end at
    /// CRLF, LF or CR; a blank line dispatches the event if a field line came before it.
    fn sse(&mut self, data: &[u8], now: Instant, gaps: &Gaps) {
        for &b in data {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue; // the LF of a CRLF
                }
            }
            if b == b'\r' || b == b'\n' {
                self.after_cr = b == b'\r';
                if self.line_empty {
                    if self.pending {
                        self.pending = false;
                        self.message(now, gaps);
                    }
                } else {
                    // A comment line (`:keep-alive`) is not part of an event.
                    self.pending |= self.line_first != b':';
                    self.line_empty = true;
                }
            } else if self.line_empty {
                self.line_empty = false;
                self.line_first = b;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed_split(m: &mut Messages, wire: &[u8], cuts: &[usize], gaps: &Gaps) {
        let now = Instant::now();
        let (mut at, mut i) = (0, 0);
        while at < wire.len() {
            let n = cuts[i % cuts.len()].min(wire.len() - at);
            m.data(&wire[at..at + n], now, gaps);
            at += n;
            i += 1;
        }
    }

    proptest! {
        /// However the stream is cut into frames, every gRPC message is counted once.
        #[test]
        fn counts_grpc_messages_across_any_split(
            lens in proptest::collection::vec(0usize..40, 0..8),
            cuts in proptest::collection::vec(1usize..13, 1..50),
        ) {
            let mut wire = Vec::new();
            for l in &lens {
                wire.push(0);
                wire.extend_from_slice(&(*l as u32).to_be_bytes());
                wire.extend(std::iter::repeat_n(7u8, *l));
            }
            let mut m = Messages::new(Split::Grpc);
            feed_split(&mut m, &wire, &cuts, &Gaps::default());
            prop_assert_eq!(m.count as usize, lens.len());
            prop_assert_eq!(m.first.is_some(), !lens.is_empty());
        }

        /// Events end at blank lines whatever the line endings and however the bytes are
        /// cut; comment-only blocks are not events.
        #[test]
        fn counts_sse_events_across_any_split_and_line_ending(
            events in proptest::collection::vec((1usize..4, any::<bool>()), 0..8),
            ending in 0usize..3,
            cuts in proptest::collection::vec(1usize..9, 1..50),
        ) {
            let eol = ["\n", "\r\n", "\r"][ending];
            let mut wire = String::new();
            let mut expected = 0;
            for (lines, comment) in &events {
                for i in 0..*lines {
                    if *comment {
                        wire.push_str(&format!(":ping {i}{eol}"));
                    } else {
                        wire.push_str(&format!("data: token {i}{eol}"));
                    }
                }
                wire.push_str(eol);
                expected += usize::from(!comment);
            }
            let mut m = Messages::new(Split::Sse);
            feed_split(&mut m, wire.as_bytes(), &cuts, &Gaps::default());
            prop_assert_eq!(m.count as usize, expected);
        }
    }

    #[test]
    fn gaps_are_recorded_between_messages_only() {
        let gaps = Gaps::default();
        let mut m = Messages::new(Split::Chunks);
        let t = Instant::now();
        m.chunk(t, &gaps);
        m.chunk(t + std::time::Duration::from_millis(5), &gaps);
        m.chunk(t + std::time::Duration::from_millis(15), &gaps);
        let mut seen = Vec::new();
        gaps.drain(|h| seen = h.iter_recorded().map(|v| v.value_iterated_to()).collect());
        // Two gaps, 5 ms and 10 ms (within the histogram's 0.1% resolution).
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!((4_995..=5_005).contains(&seen[0]) && (9_990..=10_010).contains(&seen[1]));
        assert_eq!(m.first, Some(t));
        gaps.drain(|_| panic!("drained once"));
    }
}
