//! The validated, immutable description of a test.
//!
//! `plan::build` merges the command line over the config file, applies defaults, checks
//! every value and returns every problem at once, before any socket opens. The engine only
//! ever sees a [`Plan`]; `--dry-run` prints it.

mod build_load;
pub mod checks;
pub mod load_model;
pub mod outputs;
pub mod pattern;
pub mod redact;
pub mod request;
pub mod scenario;
pub mod share;
pub mod sources;
pub mod template;
pub mod thresholds;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderName, Method};

use crate::config::{Flags, RawConfig, RawLoad, RawTarget};
pub use load_model::{LatencyKind, LoadModel};
pub use outputs::{Format, LiveView, Outputs, output_formats};
pub use request::Request;
pub use scenario::Scenarios;
use template::Template;

/// One invalid value: the field, what was given and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} = {value}: {fix}")]
pub struct PlanError {
    pub field: String,
    pub value: String,
    pub fix: String,
}

pub(crate) fn problem(field: &str, value: impl fmt::Display, fix: impl Into<String>) -> PlanError {
    PlanError {
        field: field.to_string(),
        value: value.to_string(),
        fix: fix.into(),
    }
}

/// Every problem found while building a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanErrors(pub Vec<PlanError>);

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PlanErrors {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// Where the load goes. `url` is what the user wrote; use [`Target::redacted_url`] to show it.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
}

impl Target {
    /// The URL with userinfo passwords and secret-looking query values replaced.
    pub fn redacted_url(&self) -> String {
        crate::plan::redact::url(&self.url)
    }
}

/// Which protocol carries the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    /// `streams` concurrent requests per connection at most.
    Http2 {
        streams: u64,
    },
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub target: Target,
    /// What is sent: one request, or the `[[scenarios]]` mix.
    pub scenarios: Scenarios,
    pub protocol: Protocol,
    pub load: LoadModel,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub keepalive: bool,
    pub insecure: bool,
    pub threads: usize,
    pub graceful_stop: Duration,
    pub outputs: Outputs,
    /// Whether a remote (non-loopback, non-private) target needs confirmation.
    pub confirm_remote: bool,
    /// `[thresholds]`, in key order; judged on the final result (exit 4 when any fails).
    pub thresholds: Vec<thresholds::Threshold>,
    /// `[[checks]]`, judged on every response.
    pub checks: checks::Checks,
    /// `--fail-fast`: judge thresholds on live snapshots and stop at the first breach.
    pub fail_fast: bool,
    /// A cookie store per VU.
    pub cookie_jar: bool,
    /// Follow 3xx responses (up to [`MAX_REDIRECTS`]) instead of recording them.
    pub follow_redirects: bool,
}

/// Redirect hops followed per request before the last 3xx is recorded as the response.
pub const MAX_REDIRECTS: u8 = 10;

pub const DEFAULT_CONCURRENCY: u64 = 50;
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_GRACEFUL_STOP: Duration = Duration::from_secs(5);
pub const DEFAULT_H2_STREAMS: u64 = 10;

/// Parses a humantime duration (`10s`, `1m30s`, `250ms`); plain `0` is zero.
pub fn parse_duration(field: &str, text: &str) -> Result<Duration, PlanError> {
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.starts_with('-') {
        return Err(problem(
            field,
            text,
            "must not be negative (write e.g. 10s)",
        ));
    }
    humantime::parse_duration(t).map_err(|e| {
        problem(
            field,
            text,
            format!("not a duration ({e}); write e.g. 500ms, 10s, 2m"),
        )
    })
}

/// Parses a count with optional `k` (×1,000) or `m` (×1,000,000) suffix.
pub fn parse_count(field: &str, text: &str) -> Result<u64, PlanError> {
    let t = text.trim();
    let (digits, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1_000),
        Some((i, 'm' | 'M')) => (&t[..i], 1_000_000),
        _ => (t, 1),
    };
    let fix = "must be a whole number ≥ 0, optionally with k or m (10k, 1m)";
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| problem(field, text, fix))?;
    n.checked_mul(mult)
        .ok_or_else(|| problem(field, text, "too large"))
}

/// Merges `args` over `file` and validates everything.
pub fn build(args: &Flags, file: Option<&RawConfig>) -> Result<Plan, PlanErrors> {
    let empty_t = RawTarget::default();
    let empty_l = RawLoad::default();
    let ft = file.and_then(|f| f.target.as_ref()).unwrap_or(&empty_t);
    let fl = file.and_then(|f| f.load.as_ref()).unwrap_or(&empty_l);
    let mut errs = Vec::new();
    macro_rules! check {
        ($e:expr) => {
            match $e {
                Ok(v) => Some(v),
                Err(e) => {
                    errs.push(e);
                    None
                }
            }
        };
    }

    // Names scenarios extract: resolved before any template is parsed.
    let raw_scenarios = file
        .and_then(|f| f.scenarios.as_deref())
        .unwrap_or_default();
    let slots = scenario::collect_slots(&mut errs, raw_scenarios);

    // Target URL (the origin every request goes to).
    let url = args
        .url
        .clone()
        .or_else(|| ft.url.as_ref().map(|u| u.0.clone()))
        .or_else(|| scenario::first_absolute_url(raw_scenarios));
    let rand_regex = args
        .rand_regex_url
        .clone()
        .or_else(|| ft.rand_regex_url.as_ref().map(|u| u.0.clone()));
    let urls_file = args
        .urls_from_file
        .clone()
        .or_else(|| ft.urls_from_file.as_ref().map(|u| PathBuf::from(&u.0)));
    let rand_path = rand_regex
        .as_deref()
        .and_then(|r| check!(sources::rand_regex("rand_regex_url", r)));
    let url_lines = urls_file
        .as_deref()
        .and_then(|p| check!(sources::lines("urls_from_file", p)));
    // Without a URL, the origin comes from the regex or the first line of the file.
    let url = url
        .or_else(|| rand_path.as_ref().and_then(|(o, _)| o.clone()))
        .or_else(|| {
            url_lines
                .as_ref()
                .map(|l| String::from_utf8_lossy(&l[0]).into_owned())
        });
    let parsed = match url.as_deref() {
        None => {
            errs.push(problem("url", "(none)", "give a URL, e.g. `kaioken run http://127.0.0.1:8080/`, or set [target] url in the config"));
            None
        }
        Some(u) => check!(parse_url_with("url", u, &slots)),
    };
    if rand_regex.is_some() && urls_file.is_some() {
        errs.push(problem(
            "rand_regex_url",
            rand_regex.as_deref().unwrap_or_default(),
            "--urls-from-file gives the paths too; keep one of them",
        ));
    }
    // The single request's path: from the URL, a regex, or a file of URLs.
    let mut path = parsed
        .as_ref()
        .map(|(_, _, p)| p.clone())
        .unwrap_or_default();
    if let (Some((target, _, _)), Some((origin, t))) = (&parsed, &rand_path) {
        if let Some(o) = origin
            && !same_origin(target, o)
        {
            errs.push(problem(
                "rand_regex_url",
                o,
                format!(
                    "its origin differs from the target {}; one run loads one origin",
                    target.redacted_url()
                ),
            ));
        }
        path = t.clone();
    }
    if let (Some((target, _, _)), Some(lines)) = (&parsed, &url_lines) {
        let mut paths = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            let text = String::from_utf8_lossy(line);
            let field = format!("urls_from_file line {}", i + 1);
            match parse_url_with(&field, &text, &template::Builtins) {
                Ok((t, _, p)) if same_origin(target, &t.url) && p.is_static() => {
                    paths.push(p.sample().into_boxed_slice());
                }
                Ok(_) => errs.push(problem(
                    &field,
                    &text,
                    format!(
                        "every URL must be a fixed URL on the target's origin {}",
                        target.redacted_url()
                    ),
                )),
                Err(e) => errs.push(e),
            }
        }
        if !paths.is_empty() {
            path = Template::lines(
                format!(
                    "<line of {}>",
                    urls_file.as_deref().unwrap_or(Path::new("")).display()
                ),
                paths.into(),
            );
        }
    }

    // Method.
    let method_s = args
        .method
        .clone()
        .or_else(|| ft.method.as_ref().map(|m| m.0.clone()))
        .unwrap_or_else(|| "GET".into());
    let method = check!(parse_method("method", &method_s));

    // Headers: file first, then -H (a later header of the same name is sent too, as curl does).
    let mut headers: Vec<(HeaderName, Template)> = Vec::new();
    if let Some(h) = &ft.headers {
        for (name, value) in h {
            if let Some(hv) = check!(parse_header_parts(
                &format!("target.headers.{name}"),
                name,
                &value.0,
                &slots,
            )) {
                headers.push(hv);
            }
        }
    }
    for h in &args.headers {
        let parsed = match h.split_once(':') {
            Some((n, v)) => {
                parse_header_parts("--header", n.trim(), v.trim(), &slots).map_err(|mut e| {
                    e.value = format!("{h:?}");
                    e
                })
            }
            None => Err(problem(
                "--header",
                format!("{h:?}"),
                "write it as `Name: value`",
            )),
        };
        if let Some(hv) = check!(parsed) {
            headers.push(hv);
        }
    }

    // Basic authentication: one more header, base64 of `user:password` (RFC 7617).
    let basic = args
        .basic_auth
        .clone()
        .or_else(|| ft.basic_auth.as_ref().map(|b| b.0.clone()));
    if let Some(cred) = basic {
        let field = if args.basic_auth.is_some() {
            "--basic-auth"
        } else {
            "target.basic_auth"
        };
        if !cred.contains(':') {
            errs.push(problem(field, "[redacted]", "write it as user:password"));
        } else if headers
            .iter()
            .any(|(n, _)| n == http::header::AUTHORIZATION)
        {
            errs.push(problem(
                field,
                "[redacted]",
                "an Authorization header is set too; keep one of them",
            ));
        } else {
            use base64::Engine;
            let value = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(cred.as_bytes())
            );
            if let Some(hv) = check!(parse_header_parts(field, "authorization", &value, &slots)) {
                headers.push(hv);
            }
        }
    }

    // Body: at most one of body, body_file, form, body_lines.
    let body_text = args
        .body
        .clone()
        .or_else(|| ft.body.as_ref().map(|b| b.0.clone()));
    let body_file = args
        .body_file
        .clone()
        .or_else(|| ft.body_file.as_ref().map(|b| PathBuf::from(&b.0)));
    let form: Vec<String> = if args.form.is_empty() {
        ft.form_data.iter().flatten().map(|f| f.0.clone()).collect()
    } else {
        args.form.clone()
    };
    let body_lines = args
        .body_lines
        .clone()
        .or_else(|| ft.body_lines.as_ref().map(|b| PathBuf::from(&b.0)));
    let given: Vec<&str> = [
        (body_text.is_some(), "body"),
        (body_file.is_some(), "body_file"),
        (!form.is_empty(), "form"),
        (body_lines.is_some(), "body_lines"),
    ]
    .iter()
    .filter(|(g, _)| *g)
    .map(|(_, n)| *n)
    .collect();
    let mut body = Template::default();
    if given.len() > 1 {
        errs.push(problem(
            given[0],
            format!("(both {} and {})", given[0], given[1]),
            format!(
                "give one request body: {} and {} cannot be combined",
                given[0], given[1]
            ),
        ));
    } else if let Some(text) = body_text {
        body = check!(Template::parse_with(&text, &slots).map_err(|e| problem(
            "body",
            format!("{text:?}"),
            e.to_string()
        )))
        .unwrap_or_default();
    } else if let Some(path) = body_file {
        match std::fs::read(&path) {
            Ok(bytes) => body = Template::literal(bytes),
            Err(e) => errs.push(problem(
                "body_file",
                path.display(),
                format!("cannot read it ({e}); check the path"),
            )),
        }
    } else if !form.is_empty() {
        if let Some((bytes, ctype)) = check!(sources::multipart("form", &form)) {
            body = Template::literal(bytes);
            headers.retain(|(n, _)| n != http::header::CONTENT_TYPE);
            headers.push((
                http::header::CONTENT_TYPE,
                Template::literal(ctype.into_bytes()),
            ));
        }
    } else if let Some(path) = body_lines
        && let Some(lines) = check!(sources::lines("body_lines", &path))
    {
        body = Template::lines(format!("<line of {}>", path.display()), lines);
    }

    let load = build_load::build_load(args, file, &mut errs);
    let timeout = dur_opt(
        &mut errs,
        "timeout",
        args.timeout.as_ref(),
        ft.timeout.as_ref().map(|s| &s.0),
        DEFAULT_TIMEOUT,
    );
    let connect_timeout = dur_opt(
        &mut errs,
        "connect_timeout",
        args.connect_timeout.as_ref(),
        ft.connect_timeout.as_ref().map(|s| &s.0),
        DEFAULT_CONNECT_TIMEOUT,
    );
    let graceful_stop = dur_opt(
        &mut errs,
        "graceful_stop",
        args.graceful_stop.as_ref(),
        fl.graceful_stop.as_ref().map(|s| &s.0),
        DEFAULT_GRACEFUL_STOP,
    );
    for (field, d) in [("timeout", timeout), ("connect_timeout", connect_timeout)] {
        if d.is_zero() {
            errs.push(problem(field, "0", "must be > 0"));
        }
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    let threads = count_at_least_one(&mut errs, "threads", args.threads, fl.threads, cpus as u64);

    let http2 = args.http2 || ft.http2.unwrap_or(false);
    let streams = count_at_least_one(
        &mut errs,
        "h2_streams",
        args.h2_streams,
        ft.h2_streams,
        DEFAULT_H2_STREAMS,
    );
    let keepalive = !(args.disable_keepalive || ft.disable_keepalive.unwrap_or(false));
    if http2 && !keepalive {
        errs.push(problem("disable_keepalive", "true", "HTTP/2 multiplexes streams on kept-alive connections; drop --http2 or --disable-keepalive"));
    }

    let mut checks = compile_checks(&mut errs, file, ft);

    // [[scenarios]]: the single-request options do not apply to them.
    let explicit_scenarios = !raw_scenarios.is_empty();
    let mut scenarios = None;
    if explicit_scenarios {
        for (set, field) in [
            (args.method.is_some() || ft.method.is_some(), "method"),
            (!given.is_empty(), given.first().copied().unwrap_or("body")),
            (rand_regex.is_some(), "rand_regex_url"),
            (urls_file.is_some(), "urls_from_file"),
        ] {
            if set {
                errs.push(problem(field, "(set)", format!("applies to the single request; with [[scenarios]] give each scenario its own {field} (or drop [[scenarios]])")));
            }
        }
        if let Some((target, authority, _)) = &parsed {
            let common = scenario::Common {
                target,
                scheme: match target.scheme {
                    Scheme::Http => http::uri::Scheme::HTTP,
                    Scheme::Https => http::uri::Scheme::HTTPS,
                },
                authority: authority.clone(),
                headers: &headers,
                keepalive,
                slots: &slots,
            };
            scenarios = scenario::build(&mut errs, raw_scenarios, &common, &mut checks);
        }
    }

    let mut thresholds = Vec::new();
    if let Some(table) = file.and_then(|f| f.thresholds.as_ref()) {
        for (key, condition) in table {
            let Some(t) = check!(thresholds::parse(key, &condition.0)) else {
                continue;
            };
            let known = |f: &thresholds::Filter| {
                scenarios.as_ref().is_some_and(|sc: &Scenarios| {
                    sc.list.iter().any(|s| {
                        if f.key == "scenario" {
                            s.name == f.value
                        } else {
                            s.tags.get(&f.key) == Some(&f.value)
                        }
                    })
                })
            };
            if let Some(f) = &t.filter
                && !known(f)
            {
                let what = if f.key == "scenario" {
                    format!("no scenario named {} in this config", f.value)
                } else {
                    format!(
                        "no scenario has the tag {}={} in this config",
                        f.key, f.value
                    )
                };
                errs.push(problem(
                    &format!("thresholds.{key}"),
                    &condition.0,
                    format!("{what}; name a [[scenarios]] entry or one of their tags"),
                ));
            } else if t.filter.is_some() && t.metric == thresholds::Metric::DroppedIterations {
                errs.push(problem(
                    &format!("thresholds.{key}"),
                    &condition.0,
                    "dropped_iterations is counted for the whole run only; drop the filter",
                ));
            } else if t.metric == thresholds::Metric::CheckPassRate && checks.is_empty() {
                errs.push(problem(
                    &format!("thresholds.{key}"),
                    &condition.0,
                    "no checks are defined in this config; add checks or drop this threshold",
                ));
            } else {
                thresholds.push(t);
            }
        }
    }
    if args.fail_fast && thresholds.is_empty() {
        errs.push(problem(
            "--fail-fast",
            "true",
            "there are no [thresholds] to fail on; add some to the config file or drop --fail-fast",
        ));
    }

    let outputs = outputs::build(&mut errs, args, fl);

    if !errs.is_empty() {
        return Err(PlanErrors(errs));
    }
    let (target, authority, _) = parsed.expect("no errors means the URL parsed");
    let method = method.expect("no errors means the method parsed");
    let load = load.expect("no errors means the load model was built");
    let vus_cap = load.vus().max(1);
    let scheme = match target.scheme {
        Scheme::Http => http::uri::Scheme::HTTP,
        Scheme::Https => http::uri::Scheme::HTTPS,
    };
    let scenarios = if explicit_scenarios {
        scenarios.expect("no errors means the scenarios compiled")
    } else {
        let request = Request::compile(method, scheme, authority, path, headers, body, keepalive);
        Scenarios::single(request, target.redacted_url())
    };
    Ok(Plan {
        target,
        scenarios,
        protocol: if http2 {
            Protocol::Http2 {
                streams: streams as u64,
            }
        } else {
            Protocol::Http1
        },
        load,
        timeout,
        connect_timeout,
        keepalive,
        insecure: args.insecure || ft.insecure.unwrap_or(false),
        threads: (threads as usize).min(vus_cap as usize).max(1),
        graceful_stop,
        outputs,
        confirm_remote: !args.yes,
        thresholds,
        checks,
        fail_fast: args.fail_fast,
        cookie_jar: args.cookie_jar || ft.cookie_jar.unwrap_or(false),
        follow_redirects: !args.no_follow_redirects && ft.follow_redirects.unwrap_or(true),
    })
}

/// A count from the command line or the file (the command line wins), at least 1.
fn count_at_least_one(
    errs: &mut Vec<PlanError>,
    field: &str,
    cli: Option<u64>,
    file: Option<i64>,
    default: u64,
) -> i64 {
    let n = cli.map(|c| c as i64).or(file).unwrap_or(default as i64);
    if n < 1 {
        errs.push(problem(field, n, "must be at least 1"));
    }
    n
}

fn compile_checks(
    errs: &mut Vec<PlanError>,
    file: Option<&RawConfig>,
    ft: &RawTarget,
) -> checks::Checks {
    let limit = match ft.check_body_limit {
        None => checks::DEFAULT_BODY_LIMIT,
        Some(n) if (0..=1 << 30).contains(&n) => n as usize,
        Some(n) => {
            errs.push(problem(
                "target.check_body_limit",
                n,
                "give a byte count from 0 to 1073741824 (default 1048576)",
            ));
            checks::DEFAULT_BODY_LIMIT
        }
    };
    let raw = file.and_then(|f| f.checks.as_deref()).unwrap_or_default();
    let views: Vec<checks::RawCheck> = raw.iter().map(checks::RawCheck::view).collect();
    match checks::compile(&views, limit) {
        Ok(c) => c,
        Err(mut e) => {
            errs.append(&mut e);
            checks::Checks::default()
        }
    }
}

pub(crate) fn dur_opt(
    errs: &mut Vec<PlanError>,
    field: &str,
    cli: Option<&String>,
    file: Option<&String>,
    default: Duration,
) -> Duration {
    match cli.or(file) {
        Some(s) => parse_duration(field, s).unwrap_or_else(|e| {
            errs.push(e);
            default
        }),
        None => default,
    }
}

fn parse_header_parts(
    field: &str,
    name: &str,
    value: &str,
    names: &dyn template::Names,
) -> Result<(HeaderName, Template), PlanError> {
    let name_ok = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        problem(
            field,
            format!("{name:?}"),
            "header names are tokens without spaces or colons, e.g. X-Api-Key",
        )
    })?;
    let t = Template::parse_with(value, names)
        .map_err(|e| problem(field, format!("{value:?}"), e.to_string()))?;
    http::HeaderValue::from_bytes(&t.sample()).map_err(|_| {
        problem(
            field,
            format!("{value:?}"),
            "header values must not contain control characters",
        )
    })?;
    Ok((name_ok, t))
}

/// Whether `url` has the target's scheme, host and port.
fn same_origin(target: &Target, url: &str) -> bool {
    parse_url_with("url", url, &template::Builtins).is_ok_and(|(t, _, _)| {
        t.scheme == target.scheme
            && t.host.eq_ignore_ascii_case(&target.host)
            && t.port == target.port
    })
}

fn parse_method(field: &str, text: &str) -> Result<Method, PlanError> {
    Method::from_bytes(text.to_ascii_uppercase().as_bytes()).map_err(|_| {
        problem(
            field,
            text,
            "must be an HTTP method token such as GET or POST",
        )
    })
}

/// Splits and validates an http(s) URL. Variables are allowed in the path and query.
fn parse_url_with(
    field: &str,
    url: &str,
    names: &dyn template::Names,
) -> Result<(Target, http::uri::Authority, Template), PlanError> {
    let fix_form = "write a full URL such as http://127.0.0.1:8080/path";
    let (scheme_s, rest) = url
        .split_once("://")
        .ok_or_else(|| problem(field, url, fix_form))?;
    let scheme = match scheme_s.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => {
            return Err(problem(
                "url",
                url,
                format!("unsupported scheme `{other}`: kaioken speaks http:// and https://"),
            ));
        }
    };
    let (auth_s, path_s) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path_s = if path_s.starts_with('?') {
        format!("/{path_s}")
    } else {
        path_s.to_string()
    };
    // Userinfo is not sent (use -a / a header); strip it from the authority.
    let host_port = auth_s.rsplit_once('@').map_or(auth_s, |(_, h)| h);
    if host_port.is_empty() || host_port.contains("${") {
        return Err(problem(
            "url",
            url,
            format!("missing or variable host; {fix_form}"),
        ));
    }
    let authority: http::uri::Authority = host_port
        .parse()
        .map_err(|_| problem(field, url, format!("malformed host or port; {fix_form}")))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = match authority.port_u16() {
        Some(p) => p,
        None if host_port
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.is_empty() && !p.ends_with(']')) =>
        {
            return Err(problem(
                "url",
                url,
                format!("malformed host or port (ports are 1-65535); {fix_form}"),
            ));
        }
        None if host_port.ends_with(':') => {
            return Err(problem(field, url, "empty port; write host:port"));
        }
        None => match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        },
    };
    let path =
        Template::parse_with(&path_s, names).map_err(|e| problem(field, url, e.to_string()))?;
    http::uri::PathAndQuery::try_from(path.sample()).map_err(|_| {
        problem(
            "url",
            url,
            "the path has characters that must be percent-encoded",
        )
    })?;
    Ok((
        Target {
            url: url.to_string(),
            scheme,
            host,
            port,
        },
        authority,
        path,
    ))
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sc = &self.scenarios;
        if sc.explicit {
            writeln!(f, "Origin:      {}", self.target.redacted_url())?;
            writeln!(f, "Scenarios:   {} defined", sc.list.len())?;
            let total = sc.total_weight().max(1) as f64;
            for s in &sc.list {
                let share = if s.weight == 0 {
                    "weight=0 (dependency: runs first, and again when its values are missing)"
                        .to_string()
                } else {
                    format!(
                        "weight={} ({:.0}%)",
                        s.weight,
                        f64::from(s.weight) * 100.0 / total
                    )
                };
                writeln!(f, "  - {} ({} {}) {share}", s.name, s.request.method, s.url)?;
                for e in &s.extract {
                    writeln!(f, "      extracts ${{{}}} from {}", e.name, e.text)?;
                }
                if !s.tags.is_empty() {
                    let tags: Vec<String> =
                        s.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    writeln!(f, "      tags {}", tags.join(", "))?;
                }
            }
        } else {
            writeln!(
                f,
                "Target:      {} {}",
                self.request().method,
                self.target.redacted_url()
            )?;
        }
        let proto = match self.protocol {
            Protocol::Http1 if self.keepalive => "HTTP/1.1, keep-alive".to_string(),
            Protocol::Http1 => "HTTP/1.1, new connection per request".to_string(),
            Protocol::Http2 { streams } => {
                format!("HTTP/2, up to {streams} streams per connection")
            }
        };
        writeln!(f, "Protocol:    {proto}")?;
        writeln!(f, "Load model:  {}", self.load)?;
        writeln!(f, "Concurrency: {}", self.load.vus())?;
        match self.load.duration() {
            Some(d) => writeln!(f, "Duration:    {}", humantime::format_duration(d))?,
            None => writeln!(
                f,
                "Duration:    until {} requests",
                self.load.max_requests().unwrap_or(0)
            )?,
        }
        writeln!(f, "Threads:     {}", self.threads)?;
        writeln!(
            f,
            "Timeouts:    request {}, connect {}",
            humantime::format_duration(self.timeout),
            humantime::format_duration(self.connect_timeout)
        )?;
        if self.cookie_jar {
            writeln!(f, "Cookies:     a cookie jar per VU")?;
        }
        if !self.follow_redirects {
            writeln!(f, "Redirects:   not followed (3xx recorded as is)")?;
        }
        if !sc.explicit {
            for (name, value) in &self.request().headers {
                let shown = if crate::plan::redact::is_secret_header(name.as_str()) {
                    "[redacted]".to_string()
                } else {
                    value.to_string()
                };
                writeln!(f, "Header:      {name}: {shown}")?;
            }
            if !self.request().body.is_empty() {
                writeln!(
                    f,
                    "Body:        {} bytes",
                    self.request().body.sample().len()
                )?;
            }
        }
        for c in &self.checks.list {
            writeln!(f, "Check:       {c}")?;
        }
        for t in &self.thresholds {
            writeln!(f, "Threshold:   {t}")?;
        }
        if self.fail_fast {
            writeln!(f, "Fail fast:   stop at the first threshold breach")?;
        }
        Ok(())
    }
}

impl Plan {
    /// The single request (the first scenario's with `[[scenarios]]`).
    pub fn request(&self) -> &Request {
        self.scenarios.first()
    }

    /// Streams per HTTP/2 connection (1 for HTTP/1.1).
    pub fn protocol_streams(&self) -> usize {
        match self.protocol {
            Protocol::Http1 => 1,
            Protocol::Http2 { streams } => streams as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: &str) -> Flags {
        Flags {
            url: Some(url.to_string()),
            ..Flags::default()
        }
    }

    #[test]
    fn defaults() {
        let p = build(&args("http://127.0.0.1:8080/x?y=1"), None).unwrap();
        assert_eq!(p.load.name(), "closed");
        assert_eq!(p.load.vus(), 50);
        assert_eq!(p.load.duration(), Some(DEFAULT_DURATION));
        assert_eq!(p.load.max_requests(), None);
        assert_eq!(p.load.latency_kind(), LatencyKind::ServiceTime);
        assert_eq!(p.target.port, 8080);
        let r = p.request();
        assert!(r.is_static());
        assert_eq!(r.authority.as_str(), "127.0.0.1:8080");
        assert_eq!(r.path.sample(), b"/x?y=1");
        assert!(r.headers.is_empty() && r.body.is_empty() && r.keepalive);
    }

    #[test]
    fn n_alone_means_no_time_limit() {
        let mut a = args("http://h/");
        a.max_requests = Some("10k".into());
        let p = build(&a, None).unwrap();
        assert_eq!(p.load.duration(), None);
        assert_eq!(p.load.max_requests(), Some(10_000));
        assert_eq!(p.target.port, 80);
    }

    #[test]
    fn cli_overrides_file_even_at_default_value() {
        let file = RawConfig::parse("[load]\nconcurrency = 7\nduration = \"3s\"\n", "t").unwrap();
        let mut a = args("http://h/");
        a.concurrency = Some(50);
        let p = build(&a, Some(&file)).unwrap();
        assert_eq!(p.load.vus(), 50);
        assert_eq!(p.load.duration(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn bad_inputs_name_the_field() {
        type Edit = fn(&mut Flags);
        let cases: &[(&str, Edit, &str)] = &[
            ("ftp://h/", |_| {}, "unsupported scheme `ftp`"),
            ("not a url", |_| {}, "write a full URL"),
            ("http://h:99999/", |_| {}, "malformed host or port"),
            ("http://h/", |a| a.concurrency = Some(0), "concurrency = 0"),
            (
                "http://h/",
                |a| a.duration = Some("-5s".into()),
                "duration = -5s",
            ),
            (
                "http://h/",
                |a| a.duration = Some("soon".into()),
                "not a duration",
            ),
            (
                "http://h/",
                |a| a.headers = vec!["NoColon".into()],
                "`Name: value`",
            ),
            (
                "http://h/",
                |a| a.headers = vec!["Bad Name: x".into()],
                "header names are tokens",
            ),
            (
                "http://h/",
                |a| a.body_file = Some("/nonexistent/kaioken".into()),
                "body_file = /nonexistent/kaioken",
            ),
            ("http://h/${NOPE}", |_| {}, "unknown variable ${NOPE}"),
            (
                "http://h/",
                |a| a.max_requests = Some("lots".into()),
                "max_requests = lots",
            ),
        ];
        for (url, edit, want) in cases {
            let mut a = args(url);
            edit(&mut a);
            let e = build(&a, None).unwrap_err().to_string();
            assert!(e.contains(want), "{url}: {e:?} lacks {want:?}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn counts_and_durations() {
        assert_eq!(parse_count("n", "10k").unwrap(), 10_000);
        assert_eq!(parse_count("n", "1m").unwrap(), 1_000_000);
        assert_eq!(parse_count("n", "0").unwrap(), 0);
        assert!(parse_count("n", "-1").is_err());
        assert_eq!(
            parse_duration("d", "1m30s").unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(parse_duration("d", "0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn runtime_vars_make_request_dynamic() {
        let mut a = args("http://h/i/${REQUEST_ID}");
        a.method = Some("post".into());
        a.body = Some("{\"t\":${TIMESTAMP_MS}}".into());
        let p = build(&a, None).unwrap();
        assert!(!p.request().is_static());
        assert_eq!(p.request().method, Method::POST);
    }
}
