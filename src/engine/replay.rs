//! One worker's stream of recorded requests: its share of the records, at their recorded
//! times.
//!
//! Every thread reads the whole source and numbers its lines alike (line `g` of the stream,
//! counted across `--loop` passes), and keeps the records whose number is in its share, so
//! the threads (and machines) together send every record once, as the share rule says.
//! Memory is bounded by the reorder window, not the file: records wait in a heap until
//! the reader has read `--reorder-window` past them, then leave in time order; one that
//! comes later than that is sent at once after its predecessor and counted. Whole-second
//! time stamps (`$time_local`) are spread evenly across their second by their place among
//! the consecutive lines that share the stamp, which every thread can compute because it
//! reads every stamp. Buffers go round a pool: a record's buffers are swapped with the VU's
//! previous ones, so in steady state reading allocates nothing.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::io::{BufRead, BufReader, Seek};
use std::sync::Arc;

use crate::plan::replay::{self, Entry, HarRecord, LineError, LogFormat, Reading, Replay, Source};
use crate::plan::share::Share;

/// What a thread's reader met, summed over threads in the result.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReplayStats {
    /// Records handed to the dispatcher.
    pub records: u64,
    pub bad_lines: u64,
    /// The first bad line's number (1-based, in its pass) and why.
    pub first_bad: Option<(u64, LineError)>,
    /// Records later than the reorder window allows: sent right after their predecessor.
    pub out_of_order: u64,
    /// Records to another origin than the recorded one: not sent.
    pub other_origin: u64,
    /// Passes begun (1 without `--loop`).
    pub passes: u64,
}

impl ReplayStats {
    pub fn add(&mut self, o: &ReplayStats) {
        self.records += o.records;
        self.bad_lines += o.bad_lines;
        self.first_bad = match (self.first_bad, o.first_bad) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        };
        self.out_of_order += o.out_of_order;
        self.other_origin += o.other_origin;
        self.passes = self.passes.max(o.passes);
    }
}

enum Input {
    Lines {
        file: BufReader<std::fs::File>,
        buf: Vec<u8>,
    },
    Har {
        records: Arc<[HarRecord]>,
        next: usize,
    },
}

/// A record ready to leave: its time (recorded seconds from time 0, pass included), its
/// number, and the pool slot holding it.
#[derive(Debug, Clone, Copy)]
struct Ready {
    t: f64,
    g: u64,
    slot: usize,
}

impl PartialEq for Ready {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Ready {}
impl PartialOrd for Ready {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ready {
    fn cmp(&self, o: &Self) -> Ordering {
        self.t.total_cmp(&o.t).then(self.g.cmp(&o.g))
    }
}

/// Consecutive lines with one whole-second stamp: how many (on every thread) and this
/// thread's among them, by rank.
#[derive(Default)]
struct Run {
    stamp: Option<f64>,
    count: u64,
    mine: Vec<(u64, u64, usize)>,
}

pub(super) struct Reader {
    input: Input,
    format: LogFormat,
    reading: Reading,
    origin_t: f64,
    speed: f64,
    period: Option<f64>,
    window: f64,
    share: Share,
    /// The next line's number across passes, and its number in this pass.
    g: u64,
    line_no: u64,
    pass: u64,
    run: Run,
    heap: BinaryHeap<Reverse<Ready>>,
    slots: Vec<Entry>,
    free: Vec<usize>,
    /// The latest time read so far (recorded seconds, pass included).
    frontier: f64,
    last_out: f64,
    eof: bool,
    /// `--loop` passes in a row that gave this thread no record: a pass can legitimately
    /// hold none of a thread's share (a file shorter than the thread count), but a file
    /// with no readable record left must not spin the thread forever.
    empty_passes: u32,
    records_at_pass: u64,
    pub stats: ReplayStats,
}

/// Passes in a row without a record after which a looping reader gives up.
const MAX_EMPTY_PASSES: u32 = 4096;

impl Reader {
    /// A reader of `replay` for this thread's share. The file was opened when the plan was
    /// built; if it cannot be opened again here (removed meanwhile), it reads as empty and
    /// this thread's replay ends at once (the run still writes its outputs).
    pub fn new(replay: &Replay, share: Share) -> Reader {
        let input = match &replay.source {
            Source::Lines(path) => Input::Lines {
                file: BufReader::with_capacity(
                    1 << 16,
                    std::fs::File::open(path).unwrap_or_else(|_| empty_file()),
                ),
                buf: Vec::with_capacity(1 << 12),
            },
            Source::Har(records) => Input::Har {
                records: records.clone(),
                next: 0,
            },
        };
        Reader {
            input,
            format: replay.format,
            reading: replay.reading.clone(),
            origin_t: replay.origin_t,
            speed: replay.speed,
            period: replay.period,
            window: match replay.source {
                // Sorted when read: nothing to wait for.
                Source::Har(_) => 0.0,
                Source::Lines(_) => replay.reorder_window.as_secs_f64(),
            },
            share,
            g: 0,
            line_no: 0,
            pass: 0,
            run: Run::default(),
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            frontier: f64::NEG_INFINITY,
            last_out: f64::NEG_INFINITY,
            eof: false,
            empty_passes: 0,
            records_at_pass: 0,
            stats: ReplayStats {
                passes: 1,
                ..ReplayStats::default()
            },
        }
    }

    /// The next record of this thread's share: when it is due (seconds from the start of
    /// the load, speed applied) and the pool slot that holds it (give it back with
    /// [`Reader::swap_out`]). `None`: the source is done.
    pub fn next(&mut self) -> Option<(f64, usize)> {
        loop {
            if let Some(Reverse(top)) = self.heap.peek()
                && (self.eof || top.t <= self.frontier - self.window)
            {
                let Reverse(r) = self.heap.pop()?;
                self.last_out = r.t;
                self.stats.records += 1;
                return Some((r.t / self.speed, r.slot));
            }
            if self.eof {
                self.period?;
                let pushed = self.stats.records + self.heap.len() as u64;
                if pushed == self.records_at_pass {
                    self.empty_passes += 1;
                    if self.empty_passes >= MAX_EMPTY_PASSES {
                        return None;
                    }
                } else {
                    self.empty_passes = 0;
                }
                self.records_at_pass = pushed;
                self.pass += 1;
                self.stats.passes += 1;
                self.line_no = 0;
                self.eof = false;
                match &mut self.input {
                    Input::Lines { file, .. } => {
                        if file.rewind().is_err() {
                            return None;
                        }
                    }
                    Input::Har { next, .. } => *next = 0,
                }
                continue;
            }
            self.read_one();
        }
    }

    /// Hands the record in `slot` over: its buffers are swapped with `into`'s (the VU's
    /// previous record), which the pool keeps for a later record.
    pub fn swap_out(&mut self, slot: usize, into: &mut Entry) {
        std::mem::swap(&mut self.slots[slot], into);
        self.free.push(slot);
    }

    /// Gives back a record that will not be sent (paused, dropped, past the end).
    pub fn release(&mut self, slot: usize) {
        self.free.push(slot);
    }

    fn slot(&mut self) -> usize {
        self.free.pop().unwrap_or_else(|| {
            self.slots.push(Entry::default());
            self.slots.len() - 1
        })
    }

    fn pass_offset(&self) -> f64 {
        self.period.map_or(0.0, |p| p * self.pass as f64)
    }

    /// Reads one line (or HAR record), or notes the end of the source.
    fn read_one(&mut self) {
        let g = self.g;
        let mine = self.share.contains(g);
        let offset = self.pass_offset();
        if let Input::Har { records, next } = &mut self.input {
            let i = *next;
            if i >= records.len() {
                self.eof = true;
                return;
            }
            *next += 1;
            self.g += 1;
            self.line_no += 1;
            if mine {
                let slot = self.slot();
                let Input::Har { records, .. } = &self.input else {
                    unreachable!("matched above")
                };
                let t = records[i].stamp.t - self.origin_t + offset;
                self.slots[slot].clone_from(&records[i].entry);
                self.frontier = self.frontier.max(t);
                self.push(t, g, slot);
            }
            return;
        }
        let Input::Lines { file, buf } = &mut self.input else {
            unreachable!("the other input returned above")
        };
        buf.clear();
        if !matches!(file.read_until(b'\n', buf), Ok(n) if n > 0) {
            self.flush_run();
            self.eof = true;
            return;
        }
        self.g += 1;
        self.line_no += 1;
        let line = replay::trim_line(buf);
        if line.is_empty() {
            return;
        }
        // Every thread reads every access-log stamp (to spread whole seconds alike); a
        // JSONL line is read only by the thread that sends it.
        let stamp = match self.format {
            LogFormat::Combined => replay::stamp(self.format, line).ok(),
            LogFormat::Jsonl | LogFormat::Har => None,
        };
        let mut rank = 0;
        if let Some(s) = stamp {
            self.frontier = self.frontier.max(s.t - self.origin_t + offset);
            if !(s.whole && self.run.stamp == Some(s.t)) {
                self.flush_run();
            }
            if s.whole {
                self.run.stamp = Some(s.t);
                rank = self.run.count;
                self.run.count += 1;
            }
        }
        if !mine {
            return;
        }
        let slot = self.slot();
        let Input::Lines { buf, .. } = &self.input else {
            unreachable!("lines, as above")
        };
        let parsed = replay::parse(
            self.format,
            replay::trim_line(buf),
            &self.reading,
            &mut self.slots[slot],
        );
        match parsed {
            Ok(s) if s.whole && self.run.stamp == Some(s.t) => {
                self.run.mine.push((rank, g, slot));
            }
            Ok(s) => {
                let t = s.t - self.origin_t + offset;
                self.frontier = self.frontier.max(t);
                self.push(t, g, slot);
            }
            Err(e) => {
                self.free.push(slot);
                if e.is_other_origin() {
                    self.stats.other_origin += 1;
                } else {
                    self.stats.bad_lines += 1;
                    if self.stats.first_bad.is_none() {
                        self.stats.first_bad = Some((self.line_no, e));
                    }
                }
            }
        }
    }

    /// Places the records of the finished run of equal whole-second stamps evenly across
    /// their second, each by its place among all the run's lines.
    fn flush_run(&mut self) {
        let Some(stamp) = self.run.stamp.take() else {
            return;
        };
        let n = self.run.count.max(1) as f64;
        let base = stamp - self.origin_t + self.pass_offset();
        let mut mine = std::mem::take(&mut self.run.mine);
        for &(rank, g, slot) in &mine {
            self.push(base + (rank as f64 + 0.5) / n, g, slot);
        }
        mine.clear();
        self.run.mine = mine;
        self.run.count = 0;
    }

    /// Queues a record; one earlier than a record already sent came later than the reorder
    /// window allows, and goes right after it.
    fn push(&mut self, t: f64, g: u64, slot: usize) {
        let t = if t < self.last_out {
            self.stats.out_of_order += 1;
            self.last_out
        } else {
            t
        };
        self.heap.push(Reverse(Ready { t, g, slot }));
    }
}

/// A file that reads as empty, for a source that vanished between planning and running.
fn empty_file() -> std::fs::File {
    std::fs::File::open("/dev/null").expect("/dev/null opens")
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use super::*;
    use crate::plan::replay::{Ask, BadLine};

    fn spec(text: &str, looping: bool, window_ms: u64) -> (tempfile::TempDir, Replay) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let opened = crate::plan::replay::open(Ask {
            path: &path,
            format: None,
            speed: 1.0,
            looping,
            reorder_window: Duration::from_millis(window_ms),
            on_bad_line: BadLine::Skip,
            user_headers: Vec::new(),
        })
        .unwrap();
        (dir, opened.replay)
    }

    fn clf(sec: u32, path: &str) -> String {
        format!("1.2.3.4 - - [07/Dec/2026:10:00:{sec:02} +0000] \"GET {path} HTTP/1.1\" 200 1\n")
    }

    /// Every record of the file, as (offset, path), from the readers of `parts` shares.
    fn drain(replay: &Replay, parts: u64, limit: usize) -> Vec<(f64, String)> {
        let mut out = Vec::new();
        for i in 0..parts {
            let mut r = Reader::new(replay, Share::part(i, parts));
            let mut e = Entry::default();
            while let Some((t, slot)) = r.next() {
                r.swap_out(slot, &mut e);
                out.push((t, String::from_utf8(e.target.clone()).unwrap()));
                if out.len() >= limit {
                    break;
                }
            }
        }
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        out
    }

    #[test]
    fn whole_seconds_are_spread_across_their_second() {
        // 2 records in second 0, 4 in second 1: at 1/4, 3/4, then 1 + 1/8, 3/8, 5/8, 7/8.
        let text: String = [
            (0, "/a"),
            (0, "/b"),
            (1, "/c"),
            (1, "/d"),
            (1, "/e"),
            (1, "/f"),
        ]
        .iter()
        .map(|(s, p)| clf(*s, p))
        .collect();
        let (_d, replay) = spec(&text, false, 1000);
        for parts in [1, 2, 3] {
            let got = drain(&replay, parts, 100);
            let times: Vec<f64> = got.iter().map(|g| g.0).collect();
            assert_eq!(
                times,
                [0.25, 0.75, 1.125, 1.375, 1.625, 1.875],
                "{parts} threads"
            );
            let paths: Vec<&str> = got.iter().map(|g| g.1.as_str()).collect();
            assert_eq!(paths, ["/a", "/b", "/c", "/d", "/e", "/f"]);
        }
    }

    fn jsonl(t_ms: f64, path: &str) -> String {
        format!("{{\"t_ms\": {t_ms}, \"url\": \"{path}\"}}\n")
    }

    #[test]
    fn records_within_the_window_are_sorted_and_later_ones_counted() {
        // /c comes 300 ms after /b in the file, though earlier (within a 500 ms window):
        // sorted. /e comes after /g, 1.6 s later than it (beyond the window): sent right
        // after its predecessor and counted.
        let text: String = [
            (0.0, "/a"),
            (400.0, "/b"),
            (100.0, "/c"),
            (1500.0, "/d"),
            (1600.0, "/f"),
            (2200.0, "/g"),
            (600.0, "/e"),
        ]
        .iter()
        .map(|(t, p)| jsonl(*t, p))
        .collect();
        let (_d, replay) = spec(&text, false, 500);
        let mut r = Reader::new(&replay, Share::whole());
        let mut e = Entry::default();
        let mut got = Vec::new();
        while let Some((t, slot)) = r.next() {
            r.swap_out(slot, &mut e);
            got.push((
                (t * 1000.0).round(),
                String::from_utf8(e.target.clone()).unwrap(),
            ));
        }
        let want = [
            (0.0, "/a"),
            (100.0, "/c"),
            (400.0, "/b"),
            (1500.0, "/d"),
            (1600.0, "/f"),
            (1600.0, "/e"),
            (2200.0, "/g"),
        ];
        assert_eq!(got.len(), want.len());
        for ((t, p), (wt, wp)) in got.iter().zip(want) {
            assert_eq!((*t, p.as_str()), (wt, wp));
        }
        assert_eq!(r.stats.out_of_order, 1);
        assert_eq!(r.stats.records, 7);
    }

    #[test]
    fn a_loop_repeats_the_file_one_period_later_and_bad_lines_count_once() {
        // Records at 0, 1, 2 s: span 2 s plus one mean gap (1 s) = a period of 3 s.
        let text = format!(
            "{}not json\n{}{}",
            jsonl(0.0, "/a"),
            jsonl(1000.0, "/b"),
            jsonl(2000.0, "/c")
        );
        let (_d, replay) = spec(&text, true, 0);
        assert_eq!(replay.period, Some(3.0));
        let mut all = Vec::new();
        let mut bad = [0, 0];
        let mut passes = [0, 0];
        for i in 0..2 {
            let mut r = Reader::new(&replay, Share::part(i, 2));
            let mut e = Entry::default();
            while let Some((t, slot)) = r.next() {
                r.swap_out(slot, &mut e);
                if t >= 9.0 {
                    break;
                }
                all.push(t);
            }
            bad[i as usize] = r.stats.bad_lines;
            passes[i as usize] = r.stats.passes;
            if let Some((line, why)) = r.stats.first_bad {
                assert_eq!((line, why), (2, LineError::BadJson));
            }
        }
        all.sort_by(f64::total_cmp);
        assert_eq!(all, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        // Four lines a pass, so the bad line (line 2: number 4k + 1 in pass k) is always
        // the second thread's: counted once in every pass it began, never by the first.
        assert_eq!(bad, [0, passes[1]]);
        assert!(passes[1] >= 3);
    }

    #[test]
    fn a_loop_gives_each_thread_its_records_even_from_a_one_line_file() {
        // One record, three threads: line g = pass, so thread i sends the record of pass
        // i, i + 3, …; none spins forever on the passes that hold nothing of its share.
        let (_d, replay) = spec(&jsonl(0.0, "/one"), true, 0);
        for i in 0..3u64 {
            let mut r = Reader::new(&replay, Share::part(i, 3));
            let mut e = Entry::default();
            let (t, slot) = r.next().expect("a record within 3 passes");
            r.swap_out(slot, &mut e);
            assert_eq!(t, replay.period.unwrap() * i as f64);
        }
        // A share that never holds a readable record gives up after MAX_EMPTY_PASSES.
        let (_d, replay) = spec(
            &format!("{}{}", jsonl(0.0, "/a"), "bad\n".repeat(3)),
            true,
            0,
        );
        let mut r = Reader::new(&replay, Share::part(1, 4));
        // Thread 1 of 4 never owns line 0 (4 lines a pass): nothing, after the limit.
        assert_eq!(r.next(), None);
        assert_eq!(r.stats.passes, u64::from(MAX_EMPTY_PASSES));
        assert_eq!(r.stats.bad_lines, u64::from(MAX_EMPTY_PASSES));
    }
}
