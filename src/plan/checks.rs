//! `[[checks]]`: assertions on every response, compiled once (regexes, substring finders,
//! header names) so that judging a response costs a few comparisons and no allocation.
//!
//! Two spellings, as in the seed: a condition (`status == 200`, `status in [200, 201]`,
//! `body contains "x"`, `body matches "re"`, `header NAME contains|matches|== "v"`,
//! `latency < 500ms`) and short keys (`status = 200`, `status_in`, `body_contains`,
//! `body_matches`, `max_latency`). A check with several parts passes when all do.

use std::fmt;
use std::time::Duration;

use http::HeaderName;
use memchr::memmem::Finder;
use regex::bytes::Regex;

use super::{PlanError, parse_duration, problem};

/// Bodies kept for checks are cut at this many bytes unless configured.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
}

/// One compiled condition.
#[derive(Debug, Clone)]
pub enum Cond {
    Status(Cmp, u16),
    StatusIn(Vec<u16>),
    BodyContains(Finder<'static>),
    BodyMatches(Regex),
    /// Index into [`Checks::header_names`].
    HeaderContains(usize, Finder<'static>),
    HeaderMatches(usize, Regex),
    HeaderEq(usize, Vec<u8>),
    Latency(Cmp, Duration),
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    /// The conditions as written, for reports.
    pub text: String,
    pub conds: Vec<Cond>,
    /// The scenario whose responses this check judges; `None`: every response.
    pub scope: Option<u16>,
}

/// What a response looked like, for judging.
pub struct Response<'a> {
    /// 0 when the request failed before a response.
    pub status: u16,
    pub body: &'a [u8],
    /// The value of [`Checks::header_names`]`[i]`; `None` when absent.
    pub header: &'a dyn Fn(usize) -> Option<&'a [u8]>,
    pub latency: Duration,
}

impl Check {
    /// Whether a condition reads an HTTP status (below 600) or a gRPC one (600 and up).
    pub fn reads_status(&self) -> (bool, bool) {
        let mut seen = (false, false);
        for c in &self.conds {
            let codes: &[u16] = match c {
                Cond::Status(_, v) => std::slice::from_ref(v),
                Cond::StatusIn(list) => list,
                _ => &[],
            };
            for v in codes {
                if *v >= 600 {
                    seen.1 = true;
                } else {
                    seen.0 = true;
                }
            }
        }
        seen
    }

    pub fn passes(&self, r: &Response) -> bool {
        self.conds.iter().all(|c| match c {
            Cond::Status(cmp, v) => r.status != 0 && cmp.holds(r.status, *v),
            Cond::StatusIn(list) => list.contains(&r.status),
            Cond::BodyContains(f) => f.find(r.body).is_some(),
            Cond::BodyMatches(re) => re.is_match(r.body),
            Cond::HeaderContains(i, f) => (r.header)(*i).is_some_and(|v| f.find(v).is_some()),
            Cond::HeaderMatches(i, re) => (r.header)(*i).is_some_and(|v| re.is_match(v)),
            Cond::HeaderEq(i, want) => (r.header)(*i) == Some(want.as_slice()),
            Cond::Latency(cmp, d) => cmp.holds(r.latency, *d),
        })
    }
}

/// Every check of a plan, with what they need captured from responses.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    pub list: Vec<Check>,
    /// Response headers some check reads.
    pub header_names: Vec<HeaderName>,
    pub needs_body: bool,
    /// At most this many body bytes are kept for checks.
    pub body_limit: usize,
}

impl Checks {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Registers a response header to keep (for a check or an extraction); its index.
    pub fn capture_header(&mut self, h: HeaderName) -> usize {
        match self.header_names.iter().position(|n| *n == h) {
            Some(i) => i,
            None => {
                self.header_names.push(h);
                self.header_names.len() - 1
            }
        }
    }

    fn header_index(&mut self, name: &str, field: &str, text: &str) -> Result<usize, PlanError> {
        let h = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| problem(field, text, format!("`{name}` is not a header name")))?;
        Ok(match self.header_names.iter().position(|n| *n == h) {
            Some(i) => i,
            None => {
                self.header_names.push(h);
                self.header_names.len() - 1
            }
        })
    }
}

/// One `[[checks]]` table as the config gives it.
#[derive(Debug, Default)]
pub struct RawCheck<'a> {
    pub name: Option<&'a str>,
    pub condition: Option<&'a str>,
    pub status: Option<i64>,
    pub status_in: Option<&'a [i64]>,
    pub body_contains: Option<&'a str>,
    pub body_matches: Option<&'a str>,
    pub max_latency: Option<&'a str>,
}

impl<'a> RawCheck<'a> {
    /// A view of a config file's check.
    pub fn view(r: &'a crate::config::RawCheck) -> RawCheck<'a> {
        fn s(v: &Option<crate::config::EnvString>) -> Option<&str> {
            v.as_ref().map(|e| e.0.as_str())
        }
        RawCheck {
            name: s(&r.name),
            condition: s(&r.condition),
            status: r.status,
            status_in: r.status_in.as_deref(),
            body_contains: s(&r.body_contains),
            body_matches: s(&r.body_matches),
            max_latency: s(&r.max_latency),
        }
    }
}

const SYNTAX: &str = "write e.g. `status == 200`, `status in [200, 201]`, `body contains \"ok\"`, `body matches \"re\"`, `header content-type contains \"json\"`, `latency < 500ms` or, for gRPC, `grpc_status == OK`";

fn status_code(field: &str, text: &str, v: i64) -> Result<u16, PlanError> {
    u16::try_from(v)
        .ok()
        .filter(|s| (100..=599).contains(s))
        .ok_or_else(|| problem(field, text, "a status code is 100-599"))
}

pub(super) fn regex(field: &str, text: &str, re: &str) -> Result<Regex, PlanError> {
    Regex::new(re).map_err(|e| {
        let first = e.to_string();
        let reason = first.lines().last().unwrap_or("invalid").trim().to_string();
        problem(
            field,
            text,
            format!("the regex does not compile ({reason})"),
        )
    })
}

/// A `"quoted"` string (with `\"` and `\\` escapes) at the start of `s`; the rest after it.
fn quoted(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    let rest = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let (_, n) = chars.next()?;
                // Keep regex escapes other than \" and \\ intact.
                if n != '"' && n != '\\' {
                    out.push('\\');
                }
                out.push(n);
            }
            '"' => return Some((out, &rest[i + 1..])),
            _ => out.push(c),
        }
    }
    None
}

fn cmp_prefix(s: &str) -> Option<(Cmp, &str)> {
    let s = s.trim_start();
    [
        ("==", Cmp::Eq),
        ("!=", Cmp::Ne),
        ("<=", Cmp::Le),
        (">=", Cmp::Ge),
        ("<", Cmp::Lt),
        (">", Cmp::Gt),
    ]
    .iter()
    .find_map(|(p, c)| s.strip_prefix(p).map(|r| (*c, r.trim())))
}

fn parse_condition(checks: &mut Checks, field: &str, text: &str) -> Result<Cond, PlanError> {
    let bad = |why: &str| problem(field, text, format!("{why}; {SYNTAX}"));
    let t = text.trim();
    let (subject, rest) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
    let rest = rest.trim();
    match subject {
        "status" => {
            if let Some(list) = rest.strip_prefix("in") {
                let inner = list
                    .trim()
                    .strip_prefix('[')
                    .and_then(|l| l.strip_suffix(']'))
                    .ok_or_else(|| bad("a status list is written [200, 201]"))?;
                let codes = inner
                    .split(',')
                    .map(|c| {
                        let v: i64 = c
                            .trim()
                            .parse()
                            .map_err(|_| bad("status codes are numbers"))?;
                        status_code(field, text, v)
                    })
                    .collect::<Result<Vec<u16>, _>>()?;
                return Ok(Cond::StatusIn(codes));
            }
            let (cmp, v) = cmp_prefix(rest).ok_or_else(|| bad("missing comparison"))?;
            let v: i64 = v
                .parse()
                .map_err(|_| bad("status is compared with a number"))?;
            Ok(Cond::Status(cmp, status_code(field, text, v)?))
        }
        "grpc_status" => {
            // gRPC statuses are counted after HTTP's (transport::Status::code).
            let code = |c: &str| {
                super::grpc::status_code(c)
                    .map(|c| 600 + u16::from(c))
                    .ok_or_else(|| {
                        bad("a gRPC status is a name such as OK or UNAVAILABLE, or its number 0-16")
                    })
            };
            if let Some(list) = rest.strip_prefix("in") {
                let inner = list
                    .trim()
                    .strip_prefix('[')
                    .and_then(|l| l.strip_suffix(']'))
                    .ok_or_else(|| bad("a status list is written [OK, NOT_FOUND]"))?;
                let codes = inner
                    .split(',')
                    .map(code)
                    .collect::<Result<Vec<u16>, _>>()?;
                return Ok(Cond::StatusIn(codes));
            }
            match cmp_prefix(rest) {
                Some((cmp @ (Cmp::Eq | Cmp::Ne), v)) => Ok(Cond::Status(cmp, code(v)?)),
                _ => Err(bad(
                    "grpc_status is compared with == or != (e.g. grpc_status == OK)",
                )),
            }
        }
        "body" => {
            checks.needs_body = true;
            let (verb, arg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let (value, tail) =
                quoted(arg).ok_or_else(|| bad("the value must be a \"quoted\" string"))?;
            if !tail.trim().is_empty() {
                return Err(bad("unexpected text after the value"));
            }
            match verb {
                "contains" => Ok(Cond::BodyContains(
                    Finder::new(value.as_bytes()).into_owned(),
                )),
                "matches" => Ok(Cond::BodyMatches(regex(field, text, &value)?)),
                _ => Err(bad("body takes `contains` or `matches`")),
            }
        }
        "header" => {
            let (name, after) = rest
                .split_once(char::is_whitespace)
                .ok_or_else(|| bad("header needs a name and a test"))?;
            let i = checks.header_index(name, field, text)?;
            let (verb, arg) = after
                .trim()
                .split_once(char::is_whitespace)
                .unwrap_or((after.trim(), ""));
            let (value, tail) =
                quoted(arg).ok_or_else(|| bad("the value must be a \"quoted\" string"))?;
            if !tail.trim().is_empty() {
                return Err(bad("unexpected text after the value"));
            }
            match verb {
                "contains" => Ok(Cond::HeaderContains(
                    i,
                    Finder::new(value.as_bytes()).into_owned(),
                )),
                "matches" => Ok(Cond::HeaderMatches(i, regex(field, text, &value)?)),
                "==" => Ok(Cond::HeaderEq(i, value.into_bytes())),
                _ => Err(bad("header takes `contains`, `matches` or `==`")),
            }
        }
        "latency" => {
            let (cmp, v) = cmp_prefix(rest).ok_or_else(|| bad("missing comparison"))?;
            Ok(Cond::Latency(cmp, parse_duration(field, v)?))
        }
        _ => Err(bad(&format!("unknown subject `{subject}`"))),
    }
}

/// Compiles the `[[checks]]` tables; `index` numbers them in errors.
pub fn compile(raw: &[RawCheck], body_limit: usize) -> Result<Checks, Vec<PlanError>> {
    let mut checks = Checks {
        body_limit,
        ..Checks::default()
    };
    let errs = compile_into(&mut checks, raw, "checks", None);
    if errs.is_empty() {
        Ok(checks)
    } else {
        Err(errs)
    }
}

/// Compiles `raw` (the array at config key `key`) into `checks`, judged only on the
/// responses of scenario `scope` when given; returns the problems found.
pub fn compile_into(
    checks: &mut Checks,
    raw: &[RawCheck],
    key: &str,
    scope: Option<u16>,
) -> Vec<PlanError> {
    let mut errs = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let base = format!("{key}[{i}]");
        let mut conds = Vec::new();
        let mut texts = Vec::new();
        let given = r.condition.is_some()
            || r.status.is_some()
            || r.status_in.is_some()
            || r.body_contains.is_some()
            || r.body_matches.is_some()
            || r.max_latency.is_some();
        let mut add = |res: Result<Cond, PlanError>, text: String| match res {
            Ok(c) => {
                conds.push(c);
                texts.push(text);
            }
            Err(e) => errs.push(e),
        };
        if let Some(c) = r.condition {
            add(
                parse_condition(checks, &format!("{base}.condition"), c),
                c.trim().to_string(),
            );
        }
        if let Some(s) = r.status {
            let f = format!("{base}.status");
            add(
                status_code(&f, &s.to_string(), s).map(|v| Cond::Status(Cmp::Eq, v)),
                format!("status == {s}"),
            );
        }
        if let Some(list) = r.status_in {
            let f = format!("{base}.status_in");
            let codes: Result<Vec<u16>, PlanError> = list
                .iter()
                .map(|v| status_code(&f, &format!("{list:?}"), *v))
                .collect();
            add(codes.map(Cond::StatusIn), format!("status in {list:?}"));
        }
        if let Some(s) = r.body_contains {
            checks.needs_body = true;
            add(
                Ok(Cond::BodyContains(Finder::new(s.as_bytes()).into_owned())),
                format!("body contains {s:?}"),
            );
        }
        if let Some(s) = r.body_matches {
            checks.needs_body = true;
            add(
                regex(&format!("{base}.body_matches"), s, s).map(Cond::BodyMatches),
                format!("body matches {s:?}"),
            );
        }
        if let Some(s) = r.max_latency {
            add(
                parse_duration(&format!("{base}.max_latency"), s)
                    .map(|d| Cond::Latency(Cmp::Le, d)),
                format!("latency <= {s}"),
            );
        }
        if !given {
            errs.push(problem(&base, r.name.unwrap_or("(unnamed)"), format!("a check needs a condition or a short key (status, status_in, body_contains, body_matches, max_latency); {SYNTAX}")));
            continue;
        }
        if conds.is_empty() {
            continue;
        }
        let text = texts.join(" and ");
        checks.list.push(Check {
            name: r.name.map_or_else(|| text.clone(), str::to_string),
            text,
            conds,
            scope,
        });
    }
    errs
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name == self.text {
            write!(f, "{}", self.text)
        } else {
            write!(f, "{}: {}", self.name, self.text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(cond: &str) -> Checks {
        compile(
            &[RawCheck {
                condition: Some(cond),
                ..RawCheck::default()
            }],
            DEFAULT_BODY_LIMIT,
        )
        .unwrap()
    }

    fn judge(c: &Checks, status: u16, body: &[u8], header: Option<&[u8]>, ms: u64) -> bool {
        let lookup = move |_: usize| header;
        let r = Response {
            status,
            body,
            header: &lookup,
            latency: Duration::from_millis(ms),
        };
        c.list[0].passes(&r)
    }

    #[test]
    fn conditions_judge_as_written() {
        let c = one("status == 200");
        assert!(judge(&c, 200, b"", None, 1) && !judge(&c, 500, b"", None, 1));
        let c = one("status in [200, 201, 204]");
        assert!(judge(&c, 204, b"", None, 1) && !judge(&c, 404, b"", None, 1));
        let c = one("status < 400");
        assert!(judge(&c, 302, b"", None, 1) && !judge(&c, 0, b"", None, 1));
        let c = one("body contains \"success\"");
        assert!(c.needs_body);
        assert!(
            judge(&c, 200, b"{\"r\":\"success\"}", None, 1) && !judge(&c, 200, b"fail", None, 1)
        );
        let c = one("body matches \"\\\\{.*\\\\}\"");
        assert!(judge(&c, 200, b"x{a}y", None, 1) && !judge(&c, 200, b"none", None, 1));
        let c = one("header Content-Type contains \"json\"");
        assert_eq!(c.header_names, [HeaderName::from_static("content-type")]);
        assert!(!c.needs_body);
        assert!(judge(&c, 200, b"", Some(b"application/json"), 1) && !judge(&c, 200, b"", None, 1));
        let c = one("header x-id == \"7\"");
        assert!(judge(&c, 200, b"", Some(b"7"), 1) && !judge(&c, 200, b"", Some(b"70"), 1));
        let c = one("header x-id matches \"^[0-9]+$\"");
        assert!(judge(&c, 200, b"", Some(b"70"), 1) && !judge(&c, 200, b"", Some(b"a"), 1));
        let c = one("latency < 500ms");
        assert!(judge(&c, 200, b"", None, 499) && !judge(&c, 200, b"", None, 500));
    }

    #[test]
    fn short_keys_combine() {
        let c = compile(
            &[RawCheck {
                name: Some("ok"),
                status: Some(200),
                body_contains: Some("users"),
                max_latency: Some("1s"),
                ..RawCheck::default()
            }],
            10,
        )
        .unwrap();
        assert_eq!(
            c.list[0].text,
            "status == 200 and body contains \"users\" and latency <= 1s"
        );
        assert!(judge(&c, 200, b"users: []", None, 5));
        assert!(!judge(&c, 200, b"nothing", None, 5));
        assert!(!judge(&c, 201, b"users", None, 5));
        assert!(!judge(&c, 200, b"users", None, 1500));
    }

    #[test]
    fn bad_checks_name_the_field_and_fix() {
        let err = |raw: RawCheck| compile(&[raw], 10).unwrap_err().remove(0);
        let e = err(RawCheck {
            condition: Some("status = 200"),
            ..RawCheck::default()
        });
        assert_eq!(e.field, "checks[0].condition");
        assert!(
            e.fix.contains("missing comparison") && e.fix.contains("status == 200"),
            "{e}"
        );
        let e = err(RawCheck {
            condition: Some("body matches \"(\""),
            ..RawCheck::default()
        });
        assert!(e.fix.contains("regex does not compile"), "{e}");
        let e = err(RawCheck {
            condition: Some("cookies contain x"),
            ..RawCheck::default()
        });
        assert!(e.fix.contains("unknown subject `cookies`"), "{e}");
        let e = err(RawCheck {
            status: Some(99),
            ..RawCheck::default()
        });
        assert_eq!(e.field, "checks[0].status");
        let e = err(RawCheck {
            name: Some("empty"),
            ..RawCheck::default()
        });
        assert!(e.fix.contains("needs a condition"), "{e}");
        let e = err(RawCheck {
            condition: Some("body contains success"),
            ..RawCheck::default()
        });
        assert!(e.fix.contains("quoted"), "{e}");
    }
}
