//! Replay of recorded traffic: the sources (access logs, JSONL, HAR), how one recorded
//! request is read into reusable buffers, and the checks made before a replay starts.
//!
//! A file is never held in memory: each worker thread streams it (`engine::replay`) and
//! parses fully only the records of its share. What is decided here, once, is what every
//! thread must agree on: the format, the time origin (the first record's time stamp), the
//! origin the records were sent to, and for `--loop` the period of one pass. A HAR is one
//! JSON document, not a stream of lines, so it is read whole here (documented in README:
//! convert a large capture to JSONL).

use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{DeserializeSeed, MapAccess, Visitor};

use super::{PlanError, problem};

/// The recorded formats `--log-format` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// nginx's and Apache's combined (and common) access log: `[time] "METHOD /path HTTP/1.1"`.
    /// The time may be `$time_local` (whole seconds), `$time_iso8601` or `$msec`.
    Combined,
    /// One JSON object per line: `{"t_ms":…, "method":…, "url":…, "headers":{…}, "body":…}`.
    Jsonl,
    /// HAR 1.2, from a browser's DevTools or Playwright: `startedDateTime` and the request.
    Har,
}

impl LogFormat {
    pub const NAMES: &'static str = "combined (nginx/Apache access log), jsonl, har";

    pub fn parse(s: &str) -> Option<LogFormat> {
        match s.to_ascii_lowercase().as_str() {
            "combined" | "common" | "nginx" | "apache" => Some(LogFormat::Combined),
            "jsonl" | "ndjson" => Some(LogFormat::Jsonl),
            "har" => Some(LogFormat::Har),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Combined => "combined",
            LogFormat::Jsonl => "jsonl",
            LogFormat::Har => "har",
        }
    }
}

/// What to do with a line that cannot be read as a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadLine {
    /// Count it (with the first one's number in the result) and go on.
    Skip,
    /// Refuse the file before any traffic, naming the line.
    Fail,
}

/// One recorded request, in buffers a worker reuses from record to record.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Entry {
    pub method: http::Method,
    /// Path and query, as sent on the request line.
    pub target: Vec<u8>,
    /// Recorded headers as `name: value\r\n` lines (names lower-cased), without those the
    /// connection decides (`host`, `content-length`, hop-by-hop) and those the user gave.
    pub headers: Vec<u8>,
    pub body: Vec<u8>,
}

impl Entry {
    fn clear(&mut self) {
        self.method = http::Method::GET;
        self.target.clear();
        self.headers.clear();
        self.body.clear();
    }
}

/// A record's time: Unix seconds, and whether the source only had whole seconds (then the
/// records sharing a second are spread evenly across it rather than sent at once).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stamp {
    pub t: f64,
    pub whole: bool,
}

/// Why a line is not a request; the line number is added by whoever read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("no time stamp in [brackets]")]
    NoTime,
    #[error("the time stamp is not dd/Mon/yyyy:HH:MM:SS ±zzzz, RFC 3339 or Unix seconds")]
    BadTime,
    #[error("no \"METHOD /path HTTP/x\" request")]
    NoRequest,
    #[error("the method is not an HTTP token")]
    BadMethod,
    #[error("the URL is not a path (/…) or an http(s):// URL")]
    BadUrl,
    #[error("a header name or value is not valid in HTTP")]
    BadHeader,
    #[error("not a JSON object with t_ms and url")]
    BadJson,
    #[error("sent to another origin than the first record's")]
    OtherOrigin,
}

impl LineError {
    /// Requests to another origin are not bad lines: they are counted on their own.
    pub fn is_other_origin(self) -> bool {
        self == LineError::OtherOrigin
    }
}

/// Header names a replay never sends as recorded: the connection sets them (`host`,
/// `content-length`), they are hop-by-hop, or they belong to HTTP/2's framing.
fn connection_header(name: &[u8]) -> bool {
    name.first() == Some(&b':')
        || [
            &b"host"[..],
            b"content-length",
            b"transfer-encoding",
            b"connection",
            b"keep-alive",
            b"upgrade",
            b"proxy-connection",
            b"te",
            b"trailer",
        ]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

/// How a record's URL and headers are taken: whose origin it must have, and which header
/// names the user's own `-H` replaces.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reading {
    /// `scheme://host:port` of the recorded traffic (from the first absolute URL); records
    /// with another origin are counted and not sent. `None`: paths only (access logs).
    pub origin: Option<String>,
    /// Lower-case names of the user's headers, which replace recorded ones.
    pub user_headers: Vec<String>,
    /// Add `user-agent: kaioken/…` to a record without one (the user gave none with -H).
    pub default_user_agent: bool,
}

impl Reading {
    /// What every record gets after its own headers.
    fn finish(&self, entry: &mut Entry) {
        if self.default_user_agent
            && !entry
                .headers
                .split(|b| *b == b'\n')
                .any(|l| l.starts_with(b"user-agent:"))
        {
            entry.headers.extend_from_slice(
                concat!("user-agent: kaioken/", env!("CARGO_PKG_VERSION"), "\r\n").as_bytes(),
            );
        }
    }

    fn keep_header(&self, name: &[u8]) -> bool {
        !connection_header(name)
            && !self
                .user_headers
                .iter()
                .any(|u| name.eq_ignore_ascii_case(u.as_bytes()))
    }

    /// Appends one header line, refusing what would break the request's framing.
    fn header(&self, name: &str, value: &str, out: &mut Vec<u8>) -> Result<(), LineError> {
        // A token (RFC 9110), checked by hand: `HeaderName::from_bytes` allocates for any
        // name it does not know, once per record.
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty()
            || !name.bytes().all(token)
            || value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
        {
            return Err(LineError::BadHeader);
        }
        if self.keep_header(name.as_bytes()) {
            out.extend(name.bytes().map(|b| b.to_ascii_lowercase()));
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.trim().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Ok(())
    }

    /// Writes the path and query of `url` into `out`: a path as is, an absolute URL when
    /// its origin is the recorded one.
    fn target(&self, url: &str, out: &mut Vec<u8>) -> Result<(), LineError> {
        let path = if url.starts_with('/') {
            url
        } else {
            let (origin, path) = split_origin(url).ok_or(LineError::BadUrl)?;
            if let Some(o) = &self.origin
                && !o.eq_ignore_ascii_case(&origin)
            {
                return Err(LineError::OtherOrigin);
            }
            path
        };
        let path = path.split('#').next().unwrap_or(path);
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(LineError::BadUrl);
        }
        if !path.starts_with('/') {
            out.push(b'/');
        }
        out.extend_from_slice(path.as_bytes());
        Ok(())
    }
}

/// `http://Host:80/p?q` → (`http://host:80`, `/p?q`), with the scheme's default port
/// written out so that `http://a` and `http://a:80` are one origin.
pub fn split_origin(url: &str) -> Option<(String, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    if host_port.is_empty() {
        return None;
    }
    let has_port = match host_port.rfind(':') {
        Some(i) => !host_port[i..].contains(']'),
        None => false,
    };
    let origin = if has_port {
        format!("{scheme}://{}", host_port.to_ascii_lowercase())
    } else {
        format!("{scheme}://{}:{default}", host_port.to_ascii_lowercase())
    };
    // `http://a?q` asks for `/?q`: the caller writes the "/" before a bare query.
    Some((origin, path))
}

/// Reads a record's time stamp only: what every thread reads of every line (to number
/// records alike and spread whole seconds), while the rest is read by the thread that
/// sends it.
pub fn stamp(format: LogFormat, line: &[u8]) -> Result<Stamp, LineError> {
    match format {
        LogFormat::Combined => {
            let (time, _) = bracketed(line)?;
            parse_time(time)
        }
        LogFormat::Jsonl => jsonl_stamp(line),
        LogFormat::Har => Err(LineError::BadJson),
    }
}

/// Reads a whole record into `entry`.
pub fn parse(
    format: LogFormat,
    line: &[u8],
    reading: &Reading,
    entry: &mut Entry,
) -> Result<Stamp, LineError> {
    entry.clear();
    match format {
        LogFormat::Combined => {
            let (time, rest) = bracketed(line)?;
            let stamp = parse_time(time)?;
            combined_request(rest, reading, entry)?;
            reading.finish(entry);
            Ok(stamp)
        }
        LogFormat::Jsonl => {
            let mut de = serde_json::Deserializer::from_slice(line);
            let t = JsonlSeed { reading, entry }
                .deserialize(&mut de)
                .map_err(|e| decode_error(&e))?;
            de.end().map_err(|_| LineError::BadJson)?;
            reading.finish(entry);
            Ok(Stamp {
                t: t / 1000.0,
                whole: false,
            })
        }
        LogFormat::Har => Err(LineError::BadJson),
    }
}

/// The text between the first `[` and the next `]`, and what follows.
fn bracketed(line: &[u8]) -> Result<(&[u8], &[u8]), LineError> {
    let open = memchr::memchr(b'[', line).ok_or(LineError::NoTime)?;
    let len = memchr::memchr(b']', &line[open..]).ok_or(LineError::NoTime)?;
    Ok((&line[open + 1..open + len], &line[open + len + 1..]))
}

/// `"METHOD target HTTP/x"` after the time.
fn combined_request(rest: &[u8], reading: &Reading, entry: &mut Entry) -> Result<(), LineError> {
    let open = memchr::memchr(b'"', rest).ok_or(LineError::NoRequest)?;
    let rest = &rest[open + 1..];
    let close = memchr::memchr(b'"', rest).ok_or(LineError::NoRequest)?;
    let request = std::str::from_utf8(&rest[..close]).map_err(|_| LineError::NoRequest)?;
    let mut parts = request.split(' ').filter(|p| !p.is_empty());
    let (Some(method), Some(url)) = (parts.next(), parts.next()) else {
        return Err(LineError::NoRequest);
    };
    entry.method = http::Method::from_bytes(method.as_bytes()).map_err(|_| LineError::BadMethod)?;
    reading.target(url, &mut entry.target)
}

/// `10/Oct/2000:13:55:36 -0700`, RFC 3339 (`$time_iso8601`) or Unix seconds (`$msec`).
pub fn parse_time(text: &[u8]) -> Result<Stamp, LineError> {
    let s = std::str::from_utf8(text)
        .map_err(|_| LineError::BadTime)?
        .trim();
    if let Some(t) = clf_time(s.as_bytes()) {
        return Ok(Stamp { t, whole: true });
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let t: f64 = s.parse().map_err(|_| LineError::BadTime)?;
        return Ok(Stamp {
            t,
            whole: !s.contains('.'),
        });
    }
    let ts: jiff::Timestamp = s.parse().map_err(|_| LineError::BadTime)?;
    Ok(Stamp {
        t: ts.as_second() as f64 + f64::from(ts.subsec_nanosecond()) / 1e9,
        whole: !s.contains('.'),
    })
}

/// Common Log Format time, `dd/Mon/yyyy:HH:MM:SS ±hhmm`, as Unix seconds.
fn clf_time(b: &[u8]) -> Option<f64> {
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == &b[3..6])? as i64 + 1;
    let (day, year) = (num(0..2)?, num(7..11)?);
    let (h, m, s) = (num(12..14)?, num(15..17)?, num(18..20)?);
    let sign = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (oh, om) = (num(22..24)?, num(24..26)?);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 || oh > 23 || om > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let local = days * 86_400 + h * 3600 + m * 60 + s;
    Some((local - sign * (oh * 3600 + om * 60)) as f64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A JSONL line's `t_ms`, without reading the rest into buffers.
fn jsonl_stamp(line: &[u8]) -> Result<Stamp, LineError> {
    #[derive(Deserialize)]
    struct Only {
        t_ms: f64,
    }
    let o: Only = serde_json::from_slice(line).map_err(|_| LineError::BadJson)?;
    if !o.t_ms.is_finite() {
        return Err(LineError::BadTime);
    }
    Ok(Stamp {
        t: o.t_ms / 1000.0,
        whole: false,
    })
}

/// Errors raised inside the JSONL visitor carry a `LineError` by name, prefixed with `!`.
fn decode_error(e: &serde_json::Error) -> LineError {
    let s = e.to_string();
    for k in [
        LineError::BadMethod,
        LineError::BadUrl,
        LineError::BadHeader,
        LineError::OtherOrigin,
        LineError::BadTime,
    ] {
        if s.starts_with(&format!("!{k:?}")) {
            return k;
        }
    }
    LineError::BadJson
}

fn line_error<E: serde::de::Error>(k: LineError) -> E {
    E::custom(format_args!("!{k:?}"))
}

/// A JSON string, borrowed from the line when it has no escapes (serde's own `Cow<str>`
/// always copies).
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Appends a JSON string (escapes decoded) to a buffer, or nothing for `null`.
struct AppendText<'b>(&'b mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for AppendText<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for AppendText<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or null")
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.extend_from_slice(v.as_bytes());
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

/// Reads a JSONL record straight into the entry's buffers: strings without escapes are
/// borrowed from the line, so a record costs no allocation.
struct JsonlSeed<'r> {
    reading: &'r Reading,
    entry: &'r mut Entry,
}

impl<'de> DeserializeSeed<'de> for JsonlSeed<'_> {
    type Value = f64;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<f64, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for JsonlSeed<'_> {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<f64, A::Error> {
        let mut t = None;
        let mut url = false;
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match key.as_ref() {
                "t_ms" => {
                    let v: f64 = map.next_value()?;
                    if !v.is_finite() {
                        return Err(line_error(LineError::BadTime));
                    }
                    t = Some(v);
                }
                "method" => {
                    let Text(m) = map.next_value()?;
                    self.entry.method = http::Method::from_bytes(m.as_bytes())
                        .map_err(|_| line_error(LineError::BadMethod))?;
                }
                "url" => {
                    let Text(u) = map.next_value()?;
                    self.reading
                        .target(&u, &mut self.entry.target)
                        .map_err(line_error)?;
                    url = true;
                }
                "headers" => map.next_value_seed(HeadersSeed {
                    reading: self.reading,
                    out: &mut self.entry.headers,
                })?,
                "body" => map.next_value_seed(AppendText(&mut self.entry.body))?,
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        match (t, url) {
            (Some(t), true) => Ok(t),
            _ => Err(serde::de::Error::custom("t_ms and url are required")),
        }
    }
}

struct HeadersSeed<'r> {
    reading: &'r Reading,
    out: &'r mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for HeadersSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeadersSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of header names to values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some((Text(name), Text(value))) = map.next_entry::<Text<'de>, Text<'de>>()? {
            self.reading
                .header(&name, &value, self.out)
                .map_err(line_error)?;
        }
        Ok(())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// One HAR entry, read when the plan is built.
#[derive(Debug, Clone, PartialEq)]
pub struct HarRecord {
    pub stamp: Stamp,
    pub entry: Entry,
}

/// Where the records come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A file of lines, streamed by every worker.
    Lines(PathBuf),
    /// A HAR's entries in the file's order, with the count of entries for other origins.
    Har(Arc<[HarRecord]>),
}

/// A replay, as the engine runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub path: PathBuf,
    pub source: Source,
    pub format: LogFormat,
    /// 2.0 plays twice as fast.
    pub speed: f64,
    /// `--loop`: the length of one pass in recorded seconds (the span of the file plus one
    /// mean gap, so the last record and the next pass's first are not sent together).
    pub period: Option<f64>,
    pub reorder_window: Duration,
    pub on_bad_line: BadLine,
    /// Unix time of the first record: recorded time 0.
    pub origin_t: f64,
    pub reading: Reading,
    /// HAR entries left out because they went to another origin.
    pub other_origin_har: u64,
}

impl fmt::Display for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "replay of {} ({}) at {}× speed",
            self.path.display(),
            self.format.name(),
            self.speed
        )?;
        if self.period.is_some() {
            write!(f, ", looped")?;
        }
        Ok(())
    }
}

/// The replay settings as given (`kaioken replay` flags or `[replay]`).
pub struct Ask<'a> {
    pub path: &'a Path,
    pub format: Option<&'a str>,
    pub speed: f64,
    pub looping: bool,
    pub reorder_window: Duration,
    pub on_bad_line: BadLine,
    /// Lower-case names of the user's `-H` headers.
    pub user_headers: Vec<String>,
}

/// What a first look at the source found.
pub struct Opened {
    pub replay: Replay,
    /// The recorded origin, when records carry absolute URLs: the target when none is given.
    pub recorded_origin: Option<String>,
}

/// Opens the source: the format (given or detected), the first record's time and origin,
/// and where `--loop` or `--on-bad-line fail` need them, the whole file's span and validity.
pub fn open(ask: Ask) -> Result<Opened, PlanError> {
    let field = "replay";
    let shown = ask.path.display().to_string();
    let file = std::fs::File::open(ask.path).map_err(|e| {
        problem(
            field,
            &shown,
            format!("cannot open it ({e}); give the path of an access log, a JSONL file or a HAR"),
        )
    })?;
    let format = match ask.format {
        Some(f) => LogFormat::parse(f).ok_or_else(|| {
            problem(
                "log_format",
                f,
                format!("unknown format; give one of {}", LogFormat::NAMES),
            )
        })?,
        None => detect(ask.path).ok_or_else(|| {
            problem(
                field,
                &shown,
                format!(
                    "cannot tell its format from the first line; name it with --log-format: {}",
                    LogFormat::NAMES
                ),
            )
        })?,
    };
    let mut reading = Reading {
        origin: None,
        default_user_agent: !ask.user_headers.iter().any(|h| h == "user-agent"),
        user_headers: ask.user_headers,
    };
    let base = |source, origin_t, period, reading, other| Replay {
        path: ask.path.to_path_buf(),
        source,
        format,
        speed: ask.speed,
        period,
        reorder_window: ask.reorder_window,
        on_bad_line: ask.on_bad_line,
        origin_t,
        reading,
        other_origin_har: other,
    };
    if format == LogFormat::Har {
        let (records, origin, other) = read_har(ask.path, &reading)?;
        reading.origin = origin.clone();
        let first = records.first().map_or(0.0, |r| r.stamp.t);
        let last = records.last().map_or(0.0, |r| r.stamp.t);
        let period = ask
            .looping
            .then(|| period(first, last, records.len() as u64, false));
        return Ok(Opened {
            replay: base(Source::Har(records.into()), first, period, reading, other),
            recorded_origin: origin,
        });
    }
    // The first record with a time sets time 0 and, for absolute URLs, the origin.
    let mut lines = std::io::BufReader::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    let mut entry = Entry::default();
    let mut line_no = 0u64;
    let mut first: Option<Stamp> = None;
    let mut origin = None;
    let mut last: Option<Stamp> = None;
    let mut records = 0u64;
    let full = ask.looping || ask.on_bad_line == BadLine::Fail;
    loop {
        buf.clear();
        let n = lines
            .read_until(b'\n', &mut buf)
            .map_err(|e| problem(field, &shown, format!("cannot read it ({e})")))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let line = trim_line(&buf);
        if line.is_empty() {
            continue;
        }
        if first.is_none() && format == LogFormat::Jsonl {
            origin = jsonl_origin(line);
            reading.origin = origin.clone();
        }
        match parse(format, line, &reading, &mut entry) {
            Ok(s) => {
                first.get_or_insert(s);
                last = Some(s);
                records += 1;
            }
            Err(e) if e.is_other_origin() => {}
            Err(e) if ask.on_bad_line == BadLine::Fail => {
                return Err(problem(
                    "replay",
                    format!("{shown}:{line_no}"),
                    format!("{e}; fix or remove the line, or give --on-bad-line skip"),
                ));
            }
            Err(_) => {}
        }
        if first.is_some() && !full {
            break;
        }
    }
    let Some(first) = first else {
        return Err(problem(
            field,
            &shown,
            format!(
                "no record could be read as {}; check the format (--log-format: {})",
                format.name(),
                LogFormat::NAMES
            ),
        ));
    };
    let origin_t = if first.whole {
        first.t.floor()
    } else {
        first.t
    };
    let period = ask.looping.then(|| {
        let last = last.unwrap_or(first);
        period(origin_t, last.t, records, last.whole)
    });
    Ok(Opened {
        replay: base(
            Source::Lines(ask.path.to_path_buf()),
            origin_t,
            period,
            reading,
            0,
        ),
        recorded_origin: origin,
    })
}

/// One pass of a loop: the span, plus the second the last whole-second stamp covers, or
/// plus one mean gap between records.
fn period(first: f64, last: f64, records: u64, whole: bool) -> f64 {
    let span = (last - first).max(0.0);
    let p = if whole {
        span + 1.0
    } else if records > 1 {
        span + span / (records - 1) as f64
    } else {
        1.0
    };
    if p > 0.0 { p } else { 1.0 }
}

/// A line without its line ending.
pub fn trim_line(buf: &[u8]) -> &[u8] {
    let mut end = buf.len();
    while end > 0 && matches!(buf[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    let line = &buf[..end];
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(line.len());
    &line[start..]
}

/// The origin of a JSONL line's absolute URL.
fn jsonl_origin(line: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Url<'a> {
        #[serde(borrow)]
        url: Cow<'a, str>,
    }
    let u: Url = serde_json::from_slice(line).ok()?;
    split_origin(&u.url).map(|(o, _)| o)
}

/// The format, from the name's extension or the first non-empty line.
fn detect(path: &Path) -> Option<LogFormat> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("har") => return Some(LogFormat::Har),
        Some("jsonl" | "ndjson") => return Some(LogFormat::Jsonl),
        _ => {}
    }
    let mut lines = std::io::BufReader::new(std::fs::File::open(path).ok()?);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if lines.read_until(b'\n', &mut buf).ok()? == 0 {
            return None;
        }
        let line = trim_line(&buf);
        if line.is_empty() {
            continue;
        }
        if line.starts_with(b"{") {
            return if memchr::memmem::find(line, b"\"t_ms\"").is_some() {
                Some(LogFormat::Jsonl)
            } else {
                Some(LogFormat::Har)
            };
        }
        let (time, rest) = bracketed(line).ok()?;
        parse_time(time).ok()?;
        return memchr::memchr(b'"', rest).map(|_| LogFormat::Combined);
    }
}

#[derive(Deserialize)]
struct Har {
    log: HarLog,
}

#[derive(Deserialize)]
struct HarLog {
    entries: Vec<HarEntry>,
}

#[derive(Deserialize)]
struct HarEntry {
    #[serde(rename = "startedDateTime")]
    started: Option<String>,
    request: HarRequest,
}

#[derive(Deserialize)]
struct HarRequest {
    method: String,
    url: String,
    #[serde(default)]
    headers: Vec<HarHeader>,
    #[serde(rename = "postData", default)]
    post_data: Option<HarPost>,
}

#[derive(Deserialize)]
struct HarHeader {
    name: String,
    value: String,
}

#[derive(Deserialize)]
struct HarPost {
    #[serde(default)]
    text: Option<String>,
}

type HarRead = (Vec<HarRecord>, Option<String>, u64);

/// A HAR's entries sorted by `startedDateTime` (file order among equals), for the origin
/// of the first one.
fn read_har(path: &Path, reading: &Reading) -> Result<HarRead, PlanError> {
    let shown = path.display().to_string();
    let text = std::fs::read(path)
        .map_err(|e| problem("replay", &shown, format!("cannot read it ({e})")))?;
    let har: Har = serde_json::from_slice(&text).map_err(|e| {
        problem(
            "replay",
            &shown,
            format!("not a HAR file ({e}); export one from DevTools (Network → Save all as HAR)"),
        )
    })?;
    let mut reading = reading.clone();
    let mut out = Vec::with_capacity(har.log.entries.len());
    let mut other = 0;
    for (i, e) in har.log.entries.iter().enumerate() {
        let field = format!("{shown}: log.entries[{i}]");
        let Some(started) = e.started.as_deref() else {
            return Err(problem(
                &field,
                "(no startedDateTime)",
                "a replay needs each entry's time; export the HAR again with timings, or convert it to JSONL with t_ms",
            ));
        };
        let stamp = parse_time(started.as_bytes()).map_err(|_| {
            problem(
                &format!("{field}.startedDateTime"),
                started,
                "write an RFC 3339 time such as 2026-12-07T10:00:00.123Z",
            )
        })?;
        if reading.origin.is_none() {
            reading.origin = split_origin(&e.request.url).map(|(o, _)| o);
        }
        let mut entry = Entry {
            method: http::Method::from_bytes(e.request.method.as_bytes()).map_err(|_| {
                problem(
                    &format!("{field}.request.method"),
                    &e.request.method,
                    "must be an HTTP method",
                )
            })?,
            ..Entry::default()
        };
        match reading.target(&e.request.url, &mut entry.target) {
            Ok(()) => {}
            Err(LineError::OtherOrigin) => {
                other += 1;
                continue;
            }
            Err(err) => {
                return Err(problem(
                    &format!("{field}.request.url"),
                    &e.request.url,
                    err.to_string(),
                ));
            }
        }
        for h in &e.request.headers {
            reading
                .header(&h.name, &h.value, &mut entry.headers)
                .map_err(|err| {
                    problem(
                        &format!("{field}.request.headers"),
                        &h.name,
                        err.to_string(),
                    )
                })?;
        }
        // Cookies a browser sent ride in the HAR's headers already.
        if let Some(t) = e.request.post_data.as_ref().and_then(|p| p.text.as_deref()) {
            entry.body.extend_from_slice(t.as_bytes());
        }
        reading.finish(&mut entry);
        out.push(HarRecord {
            stamp: Stamp {
                t: stamp.t,
                whole: false,
            },
            entry,
        });
    }
    if out.is_empty() {
        return Err(problem(
            "replay",
            &shown,
            "the HAR has no entries to replay",
        ));
    }
    out.sort_by(|a, b| a.stamp.t.total_cmp(&b.stamp.t));
    Ok((out, reading.origin, other))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read(format: LogFormat, line: &str) -> Result<(Stamp, Entry), LineError> {
        let mut e = Entry::default();
        let r = Reading {
            origin: Some("http://shop.test:80".into()),
            user_headers: vec!["authorization".into()],
            default_user_agent: false,
        };
        parse(format, line.as_bytes(), &r, &mut e).map(|s| (s, e))
    }

    #[test]
    fn combined_lines_give_time_method_and_path() {
        let (s, e) = read(
            LogFormat::Combined,
            r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "POST /cart?id=7 HTTP/1.1" 200 2326 "-" "curl/8""#,
        )
        .unwrap();
        // 2000-10-10 20:55:36 UTC.
        assert_eq!(
            s,
            Stamp {
                t: 971_211_336.0,
                whole: true
            }
        );
        assert_eq!(e.method, http::Method::POST);
        assert_eq!(e.target, b"/cart?id=7");
        let (s, _) = read(
            LogFormat::Combined,
            r#"::1 - - [2026-12-07T10:00:00.250+00:00] "GET / HTTP/2.0" 200 1"#,
        )
        .unwrap();
        assert_eq!(
            s,
            Stamp {
                t: 1_796_637_600.25,
                whole: false
            }
        );
        let (s, _) = read(
            LogFormat::Combined,
            r#"x [1796637600.125] "GET /a HTTP/1.1" 200"#,
        )
        .unwrap();
        assert_eq!(s.t, 1_796_637_600.125);
        assert!(!s.whole);
    }

    #[test]
    fn bad_combined_lines_say_why() {
        let bad = [
            (r#"no time "GET / HTTP/1.1""#, LineError::NoTime),
            (
                r#"[32/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1""#,
                LineError::BadTime,
            ),
            (
                r#"[10/Oct/2000:13:55:36 -0700] "-" 400 0"#,
                LineError::NoRequest,
            ),
            (r#"[10/Oct/2000:13:55:36 -0700] 200"#, LineError::NoRequest),
            (
                r#"[10/Oct/2000:13:55:36 -0700] "G(T / HTTP/1.1""#,
                LineError::BadMethod,
            ),
            (
                r#"[10/Oct/2000:13:55:36 -0700] "GET nopath HTTP/1.1""#,
                LineError::BadUrl,
            ),
        ];
        for (line, want) in bad {
            assert_eq!(
                read(LogFormat::Combined, line).map(|_| ()),
                Err(want),
                "{line}"
            );
        }
    }

    #[test]
    fn jsonl_records_fill_the_buffers_and_drop_connection_headers() {
        let (s, e) = read(
            LogFormat::Jsonl,
            r#"{"t_ms": 1500.5, "method": "PUT", "url": "http://SHOP.test/items/1?x=1", "headers": {"X-Trace": "a b", "Host": "old", "Content-Length": "9", "authorization": "recorded"}, "body": "{\"n\":1}"}"#,
        )
        .unwrap();
        assert_eq!(
            s,
            Stamp {
                t: 1.5005,
                whole: false
            }
        );
        assert_eq!(e.method, http::Method::PUT);
        assert_eq!(e.target, b"/items/1?x=1");
        // The user's -H authorization replaces the recorded one.
        assert_eq!(e.headers, b"x-trace: a b\r\n");
        assert_eq!(e.body, br#"{"n":1}"#);
        assert_eq!(
            read(
                LogFormat::Jsonl,
                r#"{"t_ms": 1, "url": "http://other.test/"}"#
            )
            .map(|_| ()),
            Err(LineError::OtherOrigin)
        );
        assert_eq!(
            read(
                LogFormat::Jsonl,
                r#"{"t_ms": 1, "url": "/a", "headers": {"x": "a\r\nb: c"}}"#
            )
            .map(|_| ()),
            Err(LineError::BadHeader)
        );
        assert_eq!(
            read(LogFormat::Jsonl, r#"{"url": "/a"}"#).map(|_| ()),
            Err(LineError::BadJson)
        );
        assert_eq!(
            read(
                LogFormat::Jsonl,
                r#"{"t_ms": 1, "url": "/a", "method": "G T"}"#
            )
            .map(|_| ()),
            Err(LineError::BadMethod)
        );
        let (_, e) = read(LogFormat::Jsonl, r#"{"t_ms": 2, "url": "/plain"}"#).unwrap();
        assert_eq!(
            (e.method, e.target),
            (http::Method::GET, b"/plain".to_vec())
        );
    }

    #[test]
    fn origins_name_the_default_port() {
        assert_eq!(
            split_origin("HTTP://a.test/x").unwrap(),
            ("http://a.test:80".to_string(), "/x")
        );
        assert_eq!(
            split_origin("https://u:p@[::1]:8443?q").unwrap(),
            ("https://[::1]:8443".to_string(), "?q")
        );
        assert_eq!(
            split_origin("https://[::1]/").unwrap().0,
            "https://[::1]:443"
        );
        assert!(split_origin("ftp://a/").is_none());
    }

    proptest! {
        /// The hand-written CLF parser agrees with jiff on every valid date and offset.
        #[test]
        fn clf_time_agrees_with_jiff(
            secs in 0i64..4_102_444_800, off_h in 0i64..14, off_m in 0i64..60, neg: bool,
        ) {
            let off = if neg { -(off_h * 3600 + off_m * 60) } else { off_h * 3600 + off_m * 60 };
            let ts = jiff::Timestamp::from_second(secs).unwrap();
            let zoned = ts.to_zoned(jiff::tz::TimeZone::fixed(
                jiff::tz::Offset::from_seconds(off as i32).unwrap(),
            ));
            let text = zoned.strftime("%d/%b/%Y:%H:%M:%S %z").to_string();
            prop_assert_eq!(clf_time(text.as_bytes()), Some(secs as f64), "{}", text);
        }

        /// No line makes the readers panic, and a record read is well-formed.
        #[test]
        fn any_line_is_read_or_refused(line in ".{0,120}") {
            for f in [LogFormat::Combined, LogFormat::Jsonl] {
                if let Ok((_, e)) = read(f, &line) {
                    prop_assert!(e.target.starts_with(b"/"));
                    prop_assert!(!e.headers.windows(2).any(|w| w == b"\r\n") || e.headers.ends_with(b"\r\n"));
                }
                let _ = stamp(f, line.as_bytes());
            }
        }
    }
}
