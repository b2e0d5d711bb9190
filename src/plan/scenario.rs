//! `[[scenarios]]`: the weighted mix of requests, the weight-0 dependencies that run before
//! it, and the values they extract for later requests.
//!
//! Everything here is compiled once: JSONPaths, regexes and header names are parsed when the
//! plan is built, and `${name}` references become slot numbers into a per-VU value table.

use std::collections::BTreeMap;

use regex::bytes::Regex;
use serde_json_path::JsonPath;

use http::{HeaderName, Method};

use super::checks::{self, Checks};
use super::template::{Builtins, Names, Template, Var};
use super::{
    PlanError, Request, Target, parse_header_parts, parse_method, parse_url_with, problem,
};
use crate::config::RawScenario;

/// One request of the mix.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub request: Request,
    /// 0: a dependency, run before the weighted mix and whenever a value it extracts is
    /// missing.
    pub weight: u32,
    pub tags: BTreeMap<String, String>,
    pub extract: Vec<Extract>,
    /// The extracted-value slots this request reads.
    pub uses: Vec<u16>,
    /// The URL as written (secrets redacted), for reports.
    pub url: String,
    /// A `ws://` or `wss://` scenario: its request is a message on a WebSocket upgraded
    /// at its path, beside the HTTP requests of the other scenarios (same origin).
    pub websocket: bool,
    /// In a gRPC run, the call this scenario makes: its method (the run's, or its own
    /// `grpc_method`), the types and how its body is framed.
    pub grpc: Option<super::grpc::Grpc>,
    /// In a replay, which records are this scenario's: those whose path and query match
    /// (the first scenario that matches takes a record); `None` takes the rest.
    pub path_match: Option<regex::Regex>,
}

/// One value taken from a response.
#[derive(Debug, Clone)]
pub struct Extract {
    pub name: String,
    pub slot: u16,
    pub source: Source,
    /// As written, e.g. `json:$.access_token`.
    pub text: String,
}

#[derive(Debug, Clone)]
pub enum Source {
    /// The first node a JSONPath selects: a string as is, anything else as JSON text.
    Json(JsonPath),
    /// A capture group of the first match.
    Regex { re: Regex, group: usize },
    /// A response header, by its index in the VU's capture.
    Header(usize),
    /// The whole body (up to the capture limit).
    Body,
}

impl Source {
    pub fn needs_body(&self) -> bool {
        !matches!(self, Source::Header(_))
    }
}

impl Extract {
    /// Takes the value from a response (its kept `body`, and its kept headers by index) into
    /// `out`; false when it is not there.
    pub fn apply<'r>(
        &self,
        body: &[u8],
        header: impl Fn(usize) -> Option<&'r [u8]>,
        out: &mut Vec<u8>,
    ) -> bool {
        out.clear();
        match &self.source {
            Source::Json(path) => {
                let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
                    return false;
                };
                let Some(node) = path.query(&doc).first() else {
                    return false;
                };
                match node {
                    serde_json::Value::String(s) => out.extend_from_slice(s.as_bytes()),
                    serde_json::Value::Null => return false,
                    other => out.extend_from_slice(other.to_string().as_bytes()),
                }
            }
            Source::Regex { re, group } => {
                let Some(m) = re.captures(body).and_then(|c| c.get(*group)) else {
                    return false;
                };
                out.extend_from_slice(m.as_bytes());
            }
            Source::Header(i) => match header(*i) {
                Some(v) => out.extend_from_slice(v),
                None => return false,
            },
            Source::Body => out.extend_from_slice(body),
        }
        true
    }
}

/// Parses an extraction source; `header_index` registers a header the capture must keep.
pub fn parse_source(
    field: &str,
    text: &str,
    header_index: &mut dyn FnMut(http::HeaderName) -> usize,
) -> Result<Source, PlanError> {
    const FORMS: &str = "write json:$.path, regex:PATTERN:GROUP, header:NAME or body";
    if text == "body" {
        return Ok(Source::Body);
    }
    let (kind, rest) = text
        .split_once(':')
        .ok_or_else(|| problem(field, text, FORMS))?;
    match kind {
        "json" => JsonPath::parse(rest).map(Source::Json).map_err(|e| {
            problem(
                field,
                text,
                format!("the JSONPath does not parse ({e}); write e.g. json:$.data.token"),
            )
        }),
        "regex" => {
            // `PATTERN:GROUP` when the text after the last colon is a group number or name.
            let (pattern, group) = match rest.rsplit_once(':') {
                Some((p, g))
                    if !g.is_empty()
                        && g.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                {
                    (p, Some(g))
                }
                _ => (rest, None),
            };
            let re = super::checks::regex(field, text, pattern)?;
            let group = match group {
                None => usize::from(re.captures_len() > 1),
                Some(g) => match g.parse::<usize>() {
                    Ok(n) => n,
                    Err(_) => re
                        .capture_names()
                        .position(|n| n == Some(g))
                        .ok_or_else(|| {
                            problem(field, text, format!("the regex has no group named {g}"))
                        })?,
                },
            };
            if group >= re.captures_len() {
                return Err(problem(
                    field,
                    text,
                    format!(
                        "group {group} does not exist (the regex has {} groups)",
                        re.captures_len() - 1
                    ),
                ));
            }
            Ok(Source::Regex { re, group })
        }
        "header" => {
            let name = http::HeaderName::from_bytes(rest.trim().as_bytes()).map_err(|_| {
                problem(
                    field,
                    text,
                    "not a header name; write e.g. header:X-Session-Id",
                )
            })?;
            Ok(Source::Header(header_index(name)))
        }
        _ => Err(problem(
            field,
            text,
            format!("unknown source `{kind}`; {FORMS}"),
        )),
    }
}

/// The names scenarios extract, resolved to slots; built before any template is parsed so
/// that `${token}` anywhere resolves, and an unknown name is reported with the choices.
#[derive(Debug, Clone, Default)]
pub struct Slots {
    pub names: Vec<String>,
}

impl Slots {
    pub fn slot(&self, name: &str) -> Option<u16> {
        self.names.iter().position(|n| n == name).map(|i| i as u16)
    }
}

impl Names for Slots {
    fn resolve(&self, name: &str) -> Option<Var> {
        Builtins
            .resolve(name)
            .or_else(|| self.slot(name).map(Var::Value))
    }

    fn known(&self, name: &str) -> String {
        let extracted = if self.names.is_empty() {
            "no scenario extracts it".to_string()
        } else {
            format!(
                "scenarios extract only {}",
                self.names
                    .iter()
                    .map(|n| format!("${{{n}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        format!(
            "unknown variable ${{{name}}}: {name} is not set in the environment, is not a runtime variable ({}) and {extracted}; export {name}, write ${{{name}:-default}}, or extract it in a scenario's [scenarios.extract]",
            Var::NAMES.map(|n| format!("${{{n}}}")).join(", ")
        )
    }
}

/// The compiled mix.
#[derive(Debug, Clone)]
pub struct Scenarios {
    pub list: Vec<Scenario>,
    /// One cycle of the weighted scenarios, smoothly interleaved (see [`smooth_order`]).
    pub order: Vec<u16>,
    /// Weight-0 scenarios, in file order.
    pub deps: Vec<u16>,
    pub slots: Slots,
    /// Whether the config defined `[[scenarios]]` (then results are kept per scenario).
    pub explicit: bool,
}

impl Scenarios {
    /// The single request of a run without `[[scenarios]]`.
    pub fn single(request: Request, url: String, websocket: bool) -> Scenarios {
        Scenarios {
            list: vec![Scenario {
                name: "default".into(),
                request,
                weight: 1,
                tags: BTreeMap::new(),
                extract: Vec::new(),
                uses: Vec::new(),
                url,
                websocket,
                grpc: None,
                path_match: None,
            }],
            order: vec![0],
            deps: Vec::new(),
            slots: Slots::default(),
            explicit: false,
        }
    }

    /// The first request (the only one without `[[scenarios]]`).
    pub fn first(&self) -> &Request {
        &self.list[0].request
    }

    pub fn total_weight(&self) -> u64 {
        self.list.iter().map(|s| u64::from(s.weight)).sum()
    }

    /// Whether any scenario extracts values (then VUs keep a value table).
    pub fn extracts(&self) -> bool {
        !self.slots.names.is_empty()
    }

    /// The dependency that produces each slot (the first one, in file order).
    pub fn producer(&self, slot: u16) -> Option<u16> {
        self.deps.iter().copied().find(|&d| {
            self.list[usize::from(d)]
                .extract
                .iter()
                .any(|e| e.slot == slot)
        })
    }
}

/// Collects the names `[scenarios.extract]` tables define, in file order.
pub(super) fn collect_slots(errs: &mut Vec<PlanError>, raw: &[RawScenario]) -> Slots {
    let mut slots = Slots::default();
    for (i, s) in raw.iter().enumerate() {
        for name in s.extract.iter().flatten().map(|(k, _)| k) {
            let ok = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !Var::is_runtime(name);
            if !ok {
                errs.push(problem(
                    &format!("scenarios[{i}].extract.{name}"),
                    name,
                    "a value name is letters, digits and _, and not REQUEST_ID or TIMESTAMP_MS",
                ));
            } else if slots.slot(name).is_none() {
                slots.names.push(name.clone());
            }
        }
    }
    if slots.names.len() > usize::from(u16::MAX) {
        errs.push(problem(
            "scenarios.extract",
            slots.names.len(),
            "at most 65535 names",
        ));
    }
    slots
}

/// The call scenario `r` makes in a gRPC run: the run's method unless it names its own
/// (`grpc_method`, `grpc_service`), found in the loaded types; `None` (an HTTP request) when
/// neither it nor `[grpc]` names one. Outside a gRPC run those keys are refused.
fn scenario_call(
    errs: &mut Vec<PlanError>,
    r: &RawScenario,
    key: &str,
    common: &Common,
) -> Option<super::grpc::Grpc> {
    let Some(run) = common.grpc else {
        let given = [
            ("grpc_method", &r.grpc_method),
            ("grpc_service", &r.grpc_service),
        ];
        if let Some((field, Some(v))) = given.into_iter().find(|(_, v)| v.is_some()) {
            errs.push(problem(
                &format!("{key}.{field}"),
                &v.0,
                "a scenario calls a gRPC method in a gRPC run: set [grpc] service and the types (proto, protoset or reflect)",
            ));
        }
        return None;
    };
    let mut g = run.clone();
    let before = errs.len();
    if let Some(s) = &r.grpc_service {
        if !super::build::valid_service(&s.0) {
            errs.push(problem(
                &format!("{key}.grpc_service"),
                &s.0,
                "a service is a dotted name such as helloworld.Greeter",
            ));
        }
        g.service = s.0.clone();
    }
    match &r.grpc_method {
        Some(m) if !super::build::valid_method(&m.0) => errs.push(problem(
            &format!("{key}.grpc_method"),
            &m.0,
            "a method is a name such as SayHello (its service goes in grpc_service)",
        )),
        Some(m) => g.method = m.0.clone(),
        // No method anywhere: an HTTP request on the same connections (a health check
        // beside the calls, on a gateway that serves both).
        None if g.method.is_empty() => return None,
        None => {}
    }
    if errs.len() > before {
        return None;
    }
    let own = r.grpc_method.is_some() || r.grpc_service.is_some();
    if let Some(pool) = g.pool.as_ref().filter(|_| own) {
        let source = super::build::schema_source(&g.schema);
        match super::grpc::find_method(pool, &g.service, &g.method, &source) {
            Ok(m) => g.descriptor = Some(m),
            Err(mut e) => {
                e.field = format!("{key}.{}", e.field);
                errs.push(e);
                return None;
            }
        }
    }
    g.fit_stream_messages();
    Some(g)
}

/// The first absolute scenario URL: the origin when neither `--url` nor `[target] url` is set.
pub(super) fn first_absolute_url(raw: &[RawScenario]) -> Option<String> {
    raw.iter()
        .filter_map(|s| s.url.as_ref())
        .find(|u| u.0.contains("://"))
        .map(|u| u.0.clone())
}

/// What every scenario shares.
pub(super) struct Common<'a> {
    pub target: &'a Target,
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    /// `[target.headers]`, `-H` and basic auth: sent by every scenario unless it sets the
    /// same header itself.
    pub headers: &'a [(HeaderName, Template)],
    pub keepalive: bool,
    pub slots: &'a Slots,
    /// The run's gRPC method and types: every scenario is then a call.
    pub grpc: Option<&'a super::grpc::Grpc>,
    /// Sent as each call's deadline (`grpc-timeout`).
    pub timeout: std::time::Duration,
    /// A replay: scenarios pick records by `match` and send them as recorded.
    pub replay: bool,
}

/// Compiles `[[scenarios]]`; checks they define are added to `checks` with their scope.
pub(super) fn build(
    errs: &mut Vec<PlanError>,
    raw: &[RawScenario],
    common: &Common,
    checks: &mut Checks,
) -> Option<Scenarios> {
    let n0 = errs.len();
    let mut list: Vec<Scenario> = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let key = format!("scenarios[{i}]");
        let name = r
            .name
            .as_ref()
            .map_or_else(|| format!("scenario_{}", i + 1), |n| n.0.clone());
        if list.iter().any(|s| s.name == name) {
            errs.push(problem(
                &format!("{key}.name"),
                &name,
                "scenario names must be unique",
            ));
        }
        // A replay's scenario is a group of records by path: what the record brings is
        // refused here, and the path is the record's.
        let path_match = replay_match(errs, r, &key, common.replay);
        // URL: absolute on the target's origin, or a path relative to it.
        let url_text = r.url.as_ref().map(|u| u.0.as_str()).unwrap_or("");
        let mut websocket = common.target.websocket;
        let path = if common.replay {
            Some(Template::literal(b"/".to_vec()))
        } else if url_text.is_empty() && common.grpc.is_some() {
            // A call goes to /{service}/{method} under the target's path.
            let prefix = url::Url::parse(&common.target.url)
                .map_or_else(|_| "/".to_string(), |u| u.path().to_string());
            Some(Template::literal(prefix.into_bytes()))
        } else if url_text.is_empty() {
            errs.push(problem(
                &format!("{key}.url"),
                "(none)",
                "give each scenario a url: a full URL or a path such as /users",
            ));
            None
        } else if url_text.starts_with('/') {
            Template::parse_with(url_text, common.slots)
                .map_err(|e| problem(&format!("{key}.url"), url_text, e.to_string()))
                .map_err(|e| errs.push(e))
                .ok()
        } else {
            match parse_url_with(&format!("{key}.url"), url_text, common.slots) {
                Ok((t, _, p)) => {
                    websocket = t.websocket;
                    if t.scheme != common.target.scheme
                        || !t.host.eq_ignore_ascii_case(&common.target.host)
                        || t.port != common.target.port
                    {
                        errs.push(problem(&format!("{key}.url"), url_text, format!("every scenario goes to one origin ({}); write a path such as /users, or run one test per origin", common.target.redacted_url())));
                    }
                    Some(p)
                }
                Err(e) => {
                    errs.push(e);
                    None
                }
            }
        };
        let call = scenario_call(errs, r, &key, common);
        let method = match &r.method {
            None if call.is_some() => Some(Method::POST),
            None => Some(Method::GET),
            Some(m) if call.is_some() && !m.0.eq_ignore_ascii_case("POST") => {
                errs.push(problem(
                    &format!("{key}.method"),
                    &m.0,
                    "a gRPC call is a POST; drop the method",
                ));
                None
            }
            Some(m) if websocket && !m.0.eq_ignore_ascii_case("GET") => {
                errs.push(problem(
                    &format!("{key}.method"),
                    &m.0,
                    "a WebSocket scenario is a message on a connection upgraded by a GET; drop the method (the body is the message)",
                ));
                None
            }
            Some(m) => parse_method(&format!("{key}.method"), &m.0)
                .map_err(|e| errs.push(e))
                .ok(),
        };
        // Headers: the scenario's own replace shared ones of the same name.
        let mut own: Vec<(HeaderName, Template)> = Vec::new();
        for (hn, hv) in r.headers.iter().flatten() {
            match parse_header_parts(&format!("{key}.headers.{hn}"), hn, &hv.0, common.slots) {
                Ok(h) => own.push(h),
                Err(e) => errs.push(e),
            }
        }
        let mut headers: Vec<(HeaderName, Template)> = common
            .headers
            .iter()
            .filter(|(n, _)| !own.iter().any(|(o, _)| o == n))
            .cloned()
            .collect();
        headers.extend(own);
        let body = match (&r.body, &r.body_file) {
            (Some(_), Some(_)) => {
                errs.push(problem(
                    &format!("{key}.body"),
                    "(both body and body_file)",
                    "give either a body or a body_file, not both",
                ));
                Template::default()
            }
            (Some(b), None) => Template::parse_with(&b.0, common.slots)
                .map_err(|e| {
                    errs.push(problem(
                        &format!("{key}.body"),
                        format!("{:?}", b.0),
                        e.to_string(),
                    ))
                })
                .unwrap_or_default(),
            (None, Some(f)) => match std::fs::read(&f.0) {
                Ok(bytes) => Template::literal(bytes),
                Err(e) => {
                    errs.push(problem(
                        &format!("{key}.body_file"),
                        &f.0,
                        format!("cannot read it ({e}); check the path"),
                    ));
                    Template::default()
                }
            },
            (None, None) => Template::default(),
        };
        let weight = match r.weight {
            None => 1,
            Some(w) if (0..=i64::from(u32::MAX)).contains(&w) => w as u32,
            Some(w) => {
                errs.push(problem(
                    &format!("{key}.weight"),
                    w,
                    "a weight is a whole number ≥ 0 (0 makes it a dependency)",
                ));
                1
            }
        };
        let mut extract = Vec::new();
        for (vname, text) in r.extract.iter().flatten() {
            let field = format!("{key}.extract.{vname}");
            let src = parse_source(&field, &text.0, &mut |h| checks.capture_header(h));
            match (src, common.slots.slot(vname)) {
                (Ok(source), Some(slot)) => {
                    checks.needs_body |= source.needs_body();
                    extract.push(Extract {
                        name: vname.clone(),
                        slot,
                        source,
                        text: text.0.clone(),
                    });
                }
                (Err(e), _) => errs.push(e),
                (Ok(_), None) => {} // reported by collect_slots
            }
        }
        if let Some(raw_checks) = &r.checks {
            let views: Vec<checks::RawCheck> =
                raw_checks.iter().map(checks::RawCheck::view).collect();
            errs.extend(checks::compile_into(
                checks,
                &views,
                &format!("{key}.checks"),
                Some(i as u16),
            ));
        }
        let (Some(mut path), Some(mut method)) = (path, method) else {
            continue;
        };
        if let Some(g) = &call {
            super::build::grpc_request(g, &mut method, &mut path, &mut headers, common.timeout);
        }
        let request = Request::compile(
            method,
            common.scheme.clone(),
            common.authority.clone(),
            path,
            headers,
            body,
            common.keepalive,
        );
        let uses = request.slots();
        list.push(Scenario {
            name,
            request,
            weight,
            tags: r
                .tags
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect(),
            extract,
            uses,
            url: match &path_match {
                Some(m) => format!("match {m}"),
                None => crate::plan::redact::url(url_text),
            },
            websocket,
            grpc: call,
            path_match,
        });
    }
    if raw.len() > usize::from(u16::MAX) {
        errs.push(problem("scenarios", raw.len(), "at most 65535 scenarios"));
    }
    let weights: Vec<u32> = list.iter().map(|s| s.weight).collect();
    if errs.len() == n0 && weights.iter().all(|w| *w == 0) {
        errs.push(problem(
            "scenarios.weight",
            "0 everywhere",
            "weight 0 marks a dependency; give at least one scenario a weight ≥ 1",
        ));
    }
    let order = smooth_order(&weights);
    if order.len() as u64 > MAX_CYCLE {
        errs.push(problem("scenarios.weight", weights.iter().map(u32::to_string).collect::<Vec<_>>().join(":"), "the weights' ratio is too fine; use smaller weights (their sum over their gcd at most 1,000,000)"));
    }
    let deps: Vec<u16> = (0..list.len() as u16)
        .filter(|&i| list[usize::from(i)].weight == 0)
        .collect();
    let scenarios = Scenarios {
        list,
        order,
        deps,
        slots: common.slots.clone(),
        explicit: true,
    };
    (errs.len() == n0).then_some(scenarios)
}

/// The largest cycle [`smooth_order`] builds.
pub const MAX_CYCLE: u64 = 1_000_000;

/// One cycle of smooth weighted round-robin (as nginx balances upstreams): each scenario
/// appears exactly `weight / gcd` times, spread evenly, so any window of the sequence is
/// within one request per scenario of the exact split. Zero weights never appear.
/// A replay scenario's `match`, compiled; the keys a record brings itself are refused.
/// Outside a replay, `match` is refused.
fn replay_match(
    errs: &mut Vec<PlanError>,
    r: &RawScenario,
    key: &str,
    replay: bool,
) -> Option<regex::Regex> {
    let Some(text) = &r.path_match else {
        if replay {
            errs.push(problem(
                &format!("{key}.match"),
                "(none)",
                "in a replay each scenario picks its records by a regex on the path, e.g. match = \"^/api/\"",
            ));
        }
        return None;
    };
    if !replay {
        errs.push(problem(
            &format!("{key}.match"),
            &text.0,
            "match picks a replay's records (kaioken replay, or [replay]); give this scenario a url instead",
        ));
        return None;
    }
    let brought = [
        ("url", r.url.is_some()),
        ("method", r.method.is_some()),
        ("body", r.body.is_some() || r.body_file.is_some()),
        ("weight", r.weight.is_some()),
        ("extract", r.extract.is_some()),
        ("grpc_method", r.grpc_method.is_some()),
    ];
    for (field, _) in brought.iter().filter(|(_, g)| *g) {
        errs.push(problem(
            &format!("{key}.{field}"),
            "(given)",
            "a replay sends each record's own method, path and body at its own time; a scenario only groups them (match, headers, tags, checks)",
        ));
    }
    regex::Regex::new(&text.0)
        .map_err(|e| {
            errs.push(problem(
                &format!("{key}.match"),
                &text.0,
                format!("not a regex ({e})"),
            ))
        })
        .ok()
}

pub fn smooth_order(weights: &[u32]) -> Vec<u16> {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let g = weights
        .iter()
        .filter(|w| **w > 0)
        .fold(0u64, |g, w| gcd(g, u64::from(*w)));
    if g == 0 {
        return Vec::new();
    }
    let w: Vec<i64> = weights.iter().map(|x| (u64::from(*x) / g) as i64).collect();
    let total: i64 = w.iter().sum();
    let mut current = vec![0i64; w.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for i in 0..w.len() {
            current[i] += w[i];
            if w[i] > 0 && (w[best] == 0 || current[i] > current[best]) {
                best = i;
            }
        }
        current[best] -= total;
        out.push(best as u16);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn seven_two_one() {
        let o = smooth_order(&[7, 2, 1]);
        assert_eq!(o.len(), 10);
        assert_eq!(o.iter().filter(|&&i| i == 0).count(), 7);
        assert_eq!(o.iter().filter(|&&i| i == 2).count(), 1);
        assert_eq!(smooth_order(&[0, 4, 0, 2]), vec![1, 3, 1]);
        assert!(smooth_order(&[0, 0]).is_empty());
    }

    proptest! {
        /// Every window of every length starting anywhere in the repeated cycle is within
        /// two requests per scenario of the exact share.
        #[test]
        fn every_window_is_near_the_exact_split(
            weights in proptest::collection::vec(0u32..20, 1..6),
            start in 0usize..200,
            len in 1usize..400,
        ) {
            let o = smooth_order(&weights);
            prop_assume!(!o.is_empty());
            let total: u32 = weights.iter().sum::<u32>();
            for (i, w) in weights.iter().enumerate() {
                let n = (start..start + len).filter(|k| usize::from(o[k % o.len()]) == i).count();
                let exact = len as f64 * f64::from(*w) / f64::from(total);
                prop_assert!((n as f64 - exact).abs() <= 2.0, "{weights:?} {i}: {n} vs {exact}");
            }
        }
    }

    fn src(text: &str) -> Result<Source, PlanError> {
        let mut names = Vec::new();
        parse_source("extract.x", text, &mut |h| {
            names.push(h);
            names.len() - 1
        })
    }

    #[test]
    fn sources_parse_and_apply() {
        let body = br#"{"access_token":"tok-1","user":{"id":42},"list":[{"n":"a"}]}"#;
        let header = |i: usize| (i == 0).then_some(&b"s-9"[..]);
        let mut out = Vec::new();
        let ex = |text: &str, slot_src: Source| Extract {
            name: "x".into(),
            slot: 0,
            source: slot_src,
            text: text.into(),
        };
        for (text, want) in [
            ("json:$.access_token", Some("tok-1")),
            ("json:$.user.id", Some("42")),
            ("json:$.list[0].n", Some("a")),
            ("json:$.missing", None),
            (r#"regex:"access_token":"([^"]+)":1"#, Some("tok-1")),
            (r#"regex:"id":(?P<id>\d+):id"#, Some("42")),
            (r#"regex:tok-\d"#, Some("tok-1")),
            ("regex:nomatch(x)", None),
            (
                "body",
                Some(r#"{"access_token":"tok-1","user":{"id":42},"list":[{"n":"a"}]}"#),
            ),
        ] {
            let ok = ex(text, src(text).unwrap()).apply(body, header, &mut out);
            assert_eq!(
                ok.then(|| String::from_utf8(out.clone()).unwrap())
                    .as_deref(),
                want,
                "{text}"
            );
        }
        let mut names = Vec::new();
        let h = parse_source("e", "header:X-Session-Id", &mut |n| {
            names.push(n);
            0
        })
        .unwrap();
        assert!(ex("header", h).apply(body, header, &mut out));
        assert_eq!(out, b"s-9");
    }

    #[test]
    fn bad_sources_name_the_problem() {
        for (text, needle) in [
            ("json:$$..[", "JSONPath does not parse"),
            ("regex:(unclosed", "regex does not compile"),
            ("regex:a(b):3", "group 3 does not exist"),
            ("xpath://a", "unknown source `xpath`"),
            ("header:bad name", "not a header name"),
            ("nothing", "write json:"),
        ] {
            let e = src(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
            assert!(e.starts_with("extract.x = "), "{e}");
        }
    }
}
