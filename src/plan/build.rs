//! `plan::build`: the command line merged over the config file, defaults applied, every
//! value checked, every problem returned at once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http::HeaderName;

use super::proxy::{self, Proxy, ProxyKind, ProxySource};
use super::target::Target;
use super::template::{self, Template};
use super::{
    ConnectTo, DEFAULT_CONNECT_TIMEOUT, DEFAULT_GRACEFUL_STOP, DEFAULT_H2_STREAMS, DEFAULT_TIMEOUT,
    Plan, PlanError, PlanErrors, Protocol, Request, Scenarios, Scheme, TlsFiles, build_load,
    checks, outputs, parse_duration, parse_header_parts, parse_method, parse_url_with, problem,
    same_origin, scenario, sources, thresholds,
};
use super::{Dns, DnsSelect, Resolve};
use crate::config::{Flags, RawConfig, RawLoad, RawTarget};

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

    // A replay's source, opened first: its records may name the origin.
    let replay_cfg = file.and_then(|f| f.replay.as_ref());
    let replay_path = args.replay.clone().or_else(|| {
        replay_cfg
            .and_then(|r| r.file.as_ref())
            .map(|f| PathBuf::from(&f.0))
    });
    let opened = replay_path
        .as_deref()
        .and_then(|path| check!(open_replay(args, ft, replay_cfg, path)));
    if replay_path.is_some() {
        refuse_with_replay(&mut errs, args, ft, file);
    }

    // Target URL (the origin every request goes to).
    let url = args
        .url
        .clone()
        .or_else(|| ft.url.as_ref().map(|u| u.0.clone()))
        .or_else(|| scenario::first_absolute_url(raw_scenarios))
        .or_else(|| {
            opened
                .as_ref()
                .and_then(|o| o.recorded_origin.as_ref())
                .map(|o| format!("{o}/"))
        });
    if url.is_none() && replay_path.is_some() {
        errs.push(problem(
            "target",
            "(none)",
            "an access log records paths only: give the target with --target http://HOST:PORT (or [target] url)",
        ));
    }
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
        None if replay_path.is_some() => None,
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

    if let (Some((_, _, p)), Some(u)) = (&parsed, &url)
        && opened.is_some()
        && p.sample() != b"/"
    {
        errs.push(problem(
            "target",
            u,
            "a replay sends each record's own path: give only the origin, e.g. http://127.0.0.1:8080",
        ));
    }
    let replaying = opened.is_some();
    let mut load = build_load::build_load(args, file, opened.map(|o| o.replay), &mut errs);
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
    let threads = count_at_least_one(
        &mut errs,
        "threads",
        args.threads.map(|t| t as i64),
        fl.threads,
        cpus as u64,
    );

    let http2 = args.http2 || ft.http2.unwrap_or(false);
    let streams = count_at_least_one(
        &mut errs,
        "h2_streams",
        args.h2_streams.map(|s| s as i64),
        ft.h2_streams,
        DEFAULT_H2_STREAMS,
    );
    if let Some(n) = args.h2_streams.map(|s| s as i64).or(ft.h2_streams)
        && !http2
    {
        errs.push(problem(
            "h2_streams",
            n,
            "streams per connection are an HTTP/2 setting: add --http2 (gRPC spreads its calls over --grpc-connections instead)",
        ));
    }
    let keepalive = !(args.disable_keepalive || ft.disable_keepalive.unwrap_or(false));
    if http2 && !keepalive {
        errs.push(problem("disable_keepalive", "true", "HTTP/2 multiplexes streams on kept-alive connections; drop --http2 or --disable-keepalive"));
    }
    let is_ws = parsed.as_ref().is_some_and(|(t, _, _)| t.websocket);
    // WebSocket settings apply to a ws:// target and to ws:// scenarios beside HTTP ones.
    let ws_scenarios = raw_scenarios.iter().any(|s| {
        s.url
            .as_ref()
            .is_some_and(|u| u.0.starts_with("ws://") || u.0.starts_with("wss://"))
    });
    let websocket = websocket_options(
        &mut errs,
        args,
        file.and_then(|f| f.websocket.as_ref()),
        is_ws || ws_scenarios,
    );
    if is_ws {
        let url = parsed.as_ref().map_or("", |(t, _, _)| t.url.as_str());
        if http2 {
            errs.push(problem(
                "http2",
                "true",
                format!("{url} is a WebSocket URL: its upgrade is HTTP/1.1; drop --http2"),
            ));
        }
        if !keepalive {
            errs.push(problem(
                "disable_keepalive",
                "true",
                "a WebSocket VU keeps its connection for every message; drop --disable-keepalive",
            ));
        }
        if method.as_ref().is_some_and(|m| *m != http::Method::GET) {
            errs.push(problem(
                "method",
                &method_s,
                "a WebSocket upgrade is a GET; drop --method (the body is the message)",
            ));
        }
    }

    let grpc = grpc_options(
        &mut errs,
        args,
        file.and_then(|f| f.grpc.as_ref()),
        is_ws,
        !raw_scenarios.is_empty(),
        method
            .as_ref()
            .filter(|_| args.method.is_some() || ft.method.is_some()),
        &method_s,
    );
    if grpc.is_some() && args.disable_keepalive
        || ft.disable_keepalive == Some(true) && grpc.is_some()
    {
        errs.push(problem(
            "disable_keepalive",
            "true",
            "gRPC calls are streams on kept HTTP/2 connections; drop --disable-keepalive",
        ));
    }

    let stream = stream_read(&mut errs, args, ft, &headers, is_ws, grpc.is_some());

    // message_interval is the VU's think time between messages.
    if let (Some(iv), Some(l)) = (websocket.message_interval, load.as_mut()) {
        let shown = humantime::format_duration(iv).to_string();
        match &mut l.shape {
            super::load_model::Shape::Closed { think_time, .. } if think_time.is_zero() => {
                *think_time = iv;
            }
            super::load_model::Shape::Closed { .. } => errs.push(problem(
                "websocket.message_interval",
                shown,
                "think time and message_interval both pause a VU between messages; keep one",
            )),
            super::load_model::Shape::Open { .. } => errs.push(problem(
                "websocket.message_interval",
                shown,
                "with an arrival rate the schedule spaces the messages; drop message_interval",
            )),
        }
    }
    if let (Some(n), Some(l)) = (websocket.connections, load.as_mut()) {
        hold_connections(&mut errs, args, fl, file, n, l);
    }
    let proxy = parsed
        .as_ref()
        .and_then(|(t, _, _)| choose_proxy(&mut errs, args, ft, t));
    let tls = tls_files(
        &mut errs,
        args,
        ft,
        parsed.as_ref().map(|(t, _, _)| t.scheme),
        proxy.as_ref().is_some_and(|p| p.kind == ProxyKind::Https),
    );
    let connect_to: Vec<ConnectTo> = pick_list(&args.connect_to, &ft.connect_to)
        .iter()
        .filter_map(|c| {
            ConnectTo::parse(c)
                .map_err(|fix| errs.push(problem("connect_to", c, fix)))
                .ok()
        })
        .collect();

    let tls_resume = !(args.no_tls_resume || ft.tls_resume == Some(false));
    let plain = parsed
        .as_ref()
        .is_some_and(|(t, _, _)| t.scheme == Scheme::Http)
        && !proxy.as_ref().is_some_and(|p| p.kind == ProxyKind::Https);
    if !tls_resume && plain {
        errs.push(problem(
            "tls_resume",
            "false",
            "the target is http:// and no TLS is made; drop --no-tls-resume (or use an https:// URL)",
        ));
    }
    let dns = dns(&mut errs, args, ft);
    let local_addresses = pick_list(&args.local_address, &ft.local_address)
        .iter()
        .filter_map(|a| {
            a.trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .map_err(|_| {
                    errs.push(problem(
                        "local_address",
                        a,
                        "not an IP address; give an address of this machine, e.g. 127.0.0.2",
                    ))
                })
                .ok()
        })
        .collect();

    let mut checks = compile_checks(&mut errs, file, ft);
    if websocket.fire_and_forget
        && let Some(c) = checks.list.first()
    {
        errs.push(problem(
            &format!("checks.{}", c.name),
            &c.text,
            "a fire-and-forget WebSocket awaits no reply to check; drop the checks or the mode",
        ));
    }
    for c in &checks.list {
        match (c.reads_status(), grpc.is_some()) {
            ((true, _), true) => errs.push(problem(
                &format!("checks.{}", c.name),
                &c.text,
                "a gRPC call's result is its status: write grpc_status == OK (or another status name)",
            )),
            ((_, true), false) => errs.push(problem(
                &format!("checks.{}", c.name),
                &c.text,
                "grpc_status needs a gRPC run (--grpc-service and --grpc-method); write status == 200 for HTTP",
            )),
            _ => {}
        }
    }

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
                grpc: grpc.as_ref(),
                timeout,
                replay: replay_path.is_some(),
            };
            scenarios = scenario::build(&mut errs, raw_scenarios, &common, &mut checks);
            // --stream-messages with scenarios applies to their streaming methods: refused
            // when no scenario's method takes a stream.
            if let (Some(g), Some(sc)) = (&grpc, &scenarios)
                && g.stream_messages > 1
                && sc
                    .list
                    .iter()
                    .filter_map(|s| s.grpc.as_ref())
                    .all(|c| c.descriptor.is_some() && c.stream_messages == 1)
            {
                errs.push(problem(
                    "stream_messages",
                    g.stream_messages,
                    "none of the scenarios' methods takes a stream of messages; drop --stream-messages",
                ));
            }
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
            } else if t.metric == thresholds::Metric::GrpcOkRate && grpc.is_none() {
                errs.push(problem(
                    &format!("thresholds.{key}"),
                    &condition.0,
                    "grpc_status_ok_rate needs a gRPC run (--grpc-service and --grpc-method); use error_rate for HTTP",
                ));
            } else if t.metric.needs_messages()
                && grpc.is_none()
                && !is_ws
                && stream == super::StreamRead::Whole
            {
                errs.push(problem(
                    &format!("thresholds.{key}"),
                    &condition.0,
                    "messages are counted on gRPC calls, WebSockets and with --sse or --stream-chunks; use rps or the latency thresholds for whole HTTP responses",
                ));
            } else if t.metric == thresholds::Metric::AchievedRateRatio
                && load.as_ref().is_some_and(|l| l.target_rate().is_none())
            {
                errs.push(problem(
                    &format!("thresholds.{key}"),
                    &condition.0,
                    "achieved_rate_ratio needs a target rate (--arrival-rate, -r, target_rate stages or a burst); this load model has none",
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
    // `--strict`: numbers the generator itself limited fail the run (exit 4).
    if args.strict
        && !thresholds
            .iter()
            .any(|t: &thresholds::Threshold| t.metric == thresholds::Metric::Generator)
        && let Ok(t) = thresholds::parse("generator", "ok")
    {
        thresholds.push(t);
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
    let load = load.expect("no errors means the load model was built");
    let vus_cap = load.vus().max(1);
    let threads = (threads as usize).min(vus_cap as usize).max(1);
    let protocol = if target.websocket {
        Protocol::WebSocket
    } else if let Some(g) = &grpc {
        // gRPC: the VUs of a thread share its connections, many streams each. One per
        // thread unless `--grpc-connections` asks for more.
        let per_thread_vus = vus_cap.div_ceil(threads as u64);
        let conns = g
            .connections
            .map_or(1, |n| n.div_ceil(threads as u64))
            .clamp(1, per_thread_vus);
        Protocol::Http2 {
            streams: per_thread_vus.div_ceil(conns),
        }
    } else if http2 {
        Protocol::Http2 {
            streams: streams as u64,
        }
    } else {
        Protocol::Http1
    };
    let mut method = method.expect("no errors means the method parsed");
    let (mut path, mut headers) = (path, headers);
    if let Some(g) = &grpc {
        grpc_request(g, &mut method, &mut path, &mut headers, timeout);
    }
    let scheme = match target.scheme {
        Scheme::Http => http::uri::Scheme::HTTP,
        Scheme::Https => http::uri::Scheme::HTTPS,
    };
    let mut scenarios = if explicit_scenarios {
        let mut sc = scenarios.expect("no errors means the scenarios compiled");
        if replaying {
            // Records no scenario's `match` takes are sent and counted here.
            let request =
                Request::compile(method, scheme, authority, path, headers, body, keepalive);
            sc.list.push(scenario::Scenario {
                name: "(unmatched)".into(),
                request,
                weight: 1,
                tags: Default::default(),
                extract: Vec::new(),
                uses: Vec::new(),
                url: target.redacted_url(),
                websocket: false,
                grpc: None,
                path_match: None,
            });
        }
        sc
    } else {
        let request = Request::compile(method, scheme, authority, path, headers, body, keepalive);
        let mut single = Scenarios::single(request, target.redacted_url(), target.websocket);
        single.list[0].grpc = grpc.clone();
        single
    };
    if replaying {
        // Each record brings its own user agent (the reader adds ours where it has none).
        for s in &mut scenarios.list {
            s.request.default_user_agent = false;
        }
    }
    let mut plan = Plan {
        target,
        scenarios,
        protocol,
        websocket,
        grpc,
        stream,
        load,
        timeout,
        connect_timeout,
        keepalive,
        insecure: args.insecure || ft.insecure.unwrap_or(false),
        tls,
        tls_resume,
        connect_to,
        proxy,
        dns,
        local_addresses,
        threads,
        graceful_stop,
        outputs,
        confirm_remote: !args.yes,
        thresholds,
        checks,
        fail_fast: args.fail_fast,
        cookie_jar: args.cookie_jar || ft.cookie_jar.unwrap_or(false),
        follow_redirects: !args.no_follow_redirects && ft.follow_redirects.unwrap_or(true),
    };
    super::grpc::prepare(&mut plan).map_err(|e| PlanErrors(vec![e]))?;
    Ok(plan)
}

/// A count from the command line or the file (the command line wins), at least 1.
pub(super) fn count_at_least_one(
    errs: &mut Vec<PlanError>,
    field: &str,
    cli: Option<i64>,
    file: Option<i64>,
    default: u64,
) -> i64 {
    let n = cli.or(file).unwrap_or(default as i64);
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

/// `--cacert`, `--cert` and `--key` (flags over `[target]` keys): present files, a key with
/// every certificate and the other way round, and an https:// target to use them on. Their
/// contents are read by the transport, before any traffic.
/// A repeatable flag's values, else the file's list (the command line wins).
fn pick_list(flag: &[String], key: &Option<Vec<crate::config::EnvString>>) -> Vec<String> {
    if flag.is_empty() {
        key.iter().flatten().map(|c| c.0.clone()).collect()
    } else {
        flag.to_vec()
    }
}

/// `--dns-select`, `--dns-ttl` (`0`: every connection resolves; `inf`: never again) and
/// `--resolve`.
fn dns(errs: &mut Vec<PlanError>, args: &Flags, ft: &RawTarget) -> Dns {
    let mut dns = Dns::default();
    if let Some(text) = args
        .dns_select
        .clone()
        .or_else(|| ft.dns_select.as_ref().map(|s| s.0.clone()))
    {
        match DnsSelect::parse(&text) {
            Ok(s) => dns.select = s,
            Err(fix) => errs.push(problem("dns_select", &text, fix)),
        }
    }
    if let Some(text) = args
        .dns_ttl
        .clone()
        .or_else(|| ft.dns_ttl.as_ref().map(|s| s.0.clone()))
    {
        if matches!(text.trim(), "inf" | "infinite" | "never") {
            dns.ttl = None;
        } else {
            match parse_duration("dns_ttl", &text) {
                Ok(d) => dns.ttl = Some(d),
                Err(e) => errs.push(e),
            }
        }
    }
    dns.resolve = pick_list(&args.resolve, &ft.resolve)
        .iter()
        .filter_map(|r| {
            Resolve::parse(r)
                .map_err(|fix| errs.push(problem("resolve", r, fix)))
                .ok()
        })
        .collect();
    dns
}

/// `-x` (or `[target] proxy`), else the environment's proxy for this target unless
/// `--no-proxy-env`. A malformed value is a start-up error naming where it came from; an
/// environment value is shown redacted (it may carry a password).
fn choose_proxy(
    errs: &mut Vec<PlanError>,
    args: &Flags,
    ft: &RawTarget,
    target: &Target,
) -> Option<Proxy> {
    if let Some(text) = args
        .proxy
        .clone()
        .or_else(|| ft.proxy.as_ref().map(|p| p.0.clone()))
    {
        return Proxy::parse(&text, ProxySource::Given)
            .map_err(|fix| errs.push(problem("proxy", crate::plan::redact::url(&text), fix)))
            .ok();
    }
    if args.no_proxy_env {
        return None;
    }
    let (var, value) = proxy::from_env(target, &|name| std::env::var(name).ok())?;
    Proxy::parse(&value, ProxySource::Env(var))
        .map_err(|fix| {
            errs.push(problem(
                var,
                crate::plan::redact::url(&value),
                format!("{fix}; or unset {var}, or pass --no-proxy-env"),
            ))
        })
        .ok()
}

fn tls_files(
    errs: &mut Vec<PlanError>,
    args: &Flags,
    ft: &RawTarget,
    scheme: Option<Scheme>,
    https_proxy: bool,
) -> TlsFiles {
    let pick = |flag: &Option<PathBuf>, key: &Option<crate::config::EnvString>| {
        flag.clone()
            .or_else(|| key.as_ref().map(|k| PathBuf::from(&k.0)))
    };
    let cacert = pick(&args.cacert, &ft.cacert);
    let cert = pick(&args.cert, &ft.cert);
    let key = pick(&args.key, &ft.key);
    for (field, path) in [("cacert", &cacert), ("cert", &cert), ("key", &key)] {
        if let Some(p) = path {
            if !p.is_file() {
                errs.push(problem(
                    field,
                    p.display(),
                    "no such file; give the path of a PEM file",
                ));
            } else if scheme == Some(Scheme::Http) && !https_proxy {
                errs.push(problem(
                    field,
                    p.display(),
                    "the target is http://; certificates are used with https:// targets",
                ));
            }
        }
    }
    let client = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (Some(c), None) => {
            errs.push(problem(
                "cert",
                c.display(),
                "a client certificate needs its private key: add --key FILE (or key = \"…\")",
            ));
            None
        }
        (None, Some(k)) => {
            errs.push(problem(
                "key",
                k.display(),
                "a private key needs its certificate: add --cert FILE (or cert = \"…\")",
            ));
            None
        }
        (None, None) => None,
    };
    TlsFiles { cacert, client }
}

/// `--ws-connections N`: the load model's VUs (closed) or `max_vus` (arrival rate) become
/// the N connections held, so a low message rate still keeps every one open. A VU count or
/// a VU curve given beside it would contradict it, so it is refused rather than overridden.
fn hold_connections(
    errs: &mut Vec<PlanError>,
    args: &Flags,
    fl: &crate::config::RawLoad,
    file: Option<&RawConfig>,
    n: u64,
    load: &mut super::LoadModel,
) {
    use super::load_model::{Curve, Segment, Shape};
    let field = "ws_connections";
    match &mut load.shape {
        Shape::Closed { vus, .. } => {
            if args.concurrency.is_some() || fl.concurrency.is_some() {
                errs.push(problem(
                    field,
                    n,
                    "sets the VUs, one per connection; drop -c/--concurrency",
                ));
            } else if args.ramp_up.is_some()
                || fl.ramp_up.is_some()
                || file.is_some_and(|f| f.stages.is_some())
            {
                errs.push(problem(
                    field,
                    n,
                    "holds a fixed number of connections; drop --ramp-up and [[stages]], or vary the message rate with --arrival-rate and target_rate stages",
                ));
            } else {
                *vus = Curve::new(vec![Segment::flat(Duration::MAX, n as f64)]);
            }
        }
        Shape::Open { max_vus, .. } => {
            if args.max_vus.is_some() || fl.max_vus.is_some() {
                errs.push(problem(
                    field,
                    n,
                    "sets max_vus, one VU per connection; drop --max-vus",
                ));
            } else {
                *max_vus = n;
            }
        }
    }
}

/// `--ws-binary`, `--ws-subprotocol` and `[websocket]`: only for a `ws://` or `wss://` URL
/// (elsewhere they would be ignored, so they are refused).
fn websocket_options(
    errs: &mut Vec<PlanError>,
    args: &Flags,
    file: Option<&crate::config::RawWebSocket>,
    is_ws: bool,
) -> super::WebSocket {
    let binary = args.ws_binary || file.and_then(|w| w.binary).unwrap_or(false);
    let mut fire_and_forget = args.ws_fire_and_forget;
    if !fire_and_forget && let Some(m) = file.and_then(|w| w.mode.as_ref()) {
        match m.0.as_str() {
            "echo" => {}
            "fire_and_forget" => fire_and_forget = true,
            other => errs.push(problem(
                "websocket.mode",
                other,
                "write \"echo\" (wait for each reply) or \"fire_and_forget\" (send at the pace asked)",
            )),
        }
    }
    let message_interval = file
        .and_then(|w| w.message_interval.as_ref())
        .and_then(|t| {
            parse_duration("websocket.message_interval", &t.0)
                .map_err(|e| errs.push(e))
                .ok()
        });
    let connections = match args
        .ws_connections
        .map(|n| n as i64)
        .or_else(|| file.and_then(|w| w.connections))
    {
        Some(n) if n < 1 => {
            errs.push(problem(
                "ws_connections",
                n,
                "must be at least 1 (the connections held open)",
            ));
            None
        }
        n => n.map(|n| n as u64),
    };
    let subprotocols: Vec<String> = if args.ws_subprotocol.is_empty() {
        file.and_then(|w| w.subprotocols.as_ref())
            .map(|v| v.iter().map(|s| s.0.clone()).collect())
            .unwrap_or_default()
    } else {
        args.ws_subprotocol.clone()
    };
    if !is_ws {
        let given = if args.ws_binary {
            Some(("ws_binary", "true".to_string()))
        } else if args.ws_fire_and_forget {
            Some(("ws_fire_and_forget", "true".to_string()))
        } else if let Some(p) = args.ws_subprotocol.first() {
            Some(("ws_subprotocol", p.clone()))
        } else if let Some(n) = args.ws_connections {
            Some(("ws_connections", n.to_string()))
        } else {
            file.map(|_| ("websocket", "[websocket]".to_string()))
        };
        if let Some((field, value)) = given {
            errs.push(problem(
                field,
                value,
                "WebSocket settings need a ws:// or wss:// URL; drop them or change the URL",
            ));
        }
        return super::WebSocket::default();
    }
    for p in &subprotocols {
        let token = !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
        if !token {
            errs.push(problem(
                "ws_subprotocol",
                format!("{p:?}"),
                "a subprotocol is a token (letters, digits, - . _ ~ and the like), e.g. chat.v2",
            ));
        }
    }
    super::WebSocket {
        binary,
        subprotocols,
        fire_and_forget,
        message_interval,
        connections,
    }
}

/// `--grpc-service`, `--grpc-method`, the schema flags and `[grpc]`: the method called and
/// where its types come from. The schema is loaded here (`--proto`, `--protoset`), so a
/// file that does not compile or lacks the method stops the run before any traffic.
fn grpc_options(
    errs: &mut Vec<PlanError>,
    args: &Flags,
    file: Option<&crate::config::RawGrpc>,
    is_ws: bool,
    scenarios: bool,
    method: Option<&http::Method>,
    method_s: &str,
) -> Option<super::grpc::Grpc> {
    use super::grpc::{Grpc, Schema};
    let service = args
        .grpc_service
        .clone()
        .or_else(|| file.and_then(|g| g.service.as_ref()).map(|s| s.0.clone()));
    let name = args
        .grpc_method
        .clone()
        .or_else(|| file.and_then(|g| g.method.as_ref()).map(|s| s.0.clone()));
    let files: Vec<PathBuf> = if args.proto.is_empty() {
        file.and_then(|g| g.proto.as_ref())
            .map(|v| v.iter().map(|p| PathBuf::from(&p.0)).collect())
            .unwrap_or_default()
    } else {
        args.proto.clone()
    };
    let imports: Vec<PathBuf> = if args.import_path.is_empty() {
        file.and_then(|g| g.import_paths.as_ref())
            .map(|v| v.iter().map(|p| PathBuf::from(&p.0)).collect())
            .unwrap_or_default()
    } else {
        args.import_path.clone()
    };
    let protoset = args.protoset.clone().or_else(|| {
        file.and_then(|g| g.protoset.as_ref())
            .map(|p| PathBuf::from(&p.0))
    });
    let reflect = args.reflect || file.and_then(|g| g.reflect).unwrap_or(false);
    let stream_messages = args
        .stream_messages
        .map(|n| n as i64)
        .or_else(|| file.and_then(|g| g.stream_messages));
    let connections = args
        .grpc_connections
        .map(|n| n as i64)
        .or_else(|| file.and_then(|g| g.connections));
    let interval_text = args.stream_interval.clone().or_else(|| {
        file.and_then(|g| g.stream_interval.as_ref())
            .map(|s| s.0.clone())
    });

    let Some(service) = service else {
        // Without a service nothing else of gRPC may be set: it would be ignored.
        let given = [
            (
                name.is_some(),
                "grpc_method",
                name.clone().unwrap_or_default(),
            ),
            (!files.is_empty(), "proto", String::new()),
            (!imports.is_empty(), "import_path", String::new()),
            (protoset.is_some(), "protoset", String::new()),
            (reflect, "reflect", "true".to_string()),
            (stream_messages.is_some(), "stream_messages", String::new()),
            (connections.is_some(), "grpc_connections", String::new()),
            (
                interval_text.is_some(),
                "stream_interval",
                interval_text.unwrap_or_default(),
            ),
            (file.is_some(), "grpc", "[grpc]".to_string()),
        ];
        if let Some((_, field, value)) = given.into_iter().find(|g| g.0) {
            let value = if value.is_empty() {
                "(set)".to_string()
            } else {
                value
            };
            errs.push(problem(
                field,
                value,
                "gRPC settings need the service called: add --grpc-service (e.g. helloworld.Greeter) and --grpc-method",
            ));
        }
        return None;
    };
    let before = errs.len();
    // With [[scenarios]], each may name its own method; the run's is then their default.
    let name = match name {
        Some(n) => n,
        None if scenarios => String::new(),
        None => {
            errs.push(problem(
                "grpc_method",
                "(missing)",
                format!("--grpc-service {service} needs the method called: add --grpc-method (e.g. SayHello)"),
            ));
            return None;
        }
    };
    if !valid_service(&service) {
        errs.push(problem(
            "grpc_service",
            &service,
            "a service is a dotted name such as helloworld.Greeter",
        ));
    }
    // An empty method: the scenarios name theirs.
    let defaulted = name.is_empty() && scenarios;
    if !(defaulted || valid_method(&name)) {
        errs.push(problem(
            "grpc_method",
            &name,
            "a method is a name such as SayHello (the service goes in --grpc-service)",
        ));
    }
    if is_ws {
        errs.push(problem(
            "grpc_service",
            &service,
            "gRPC needs an http:// (h2c) or https:// URL, not a WebSocket one",
        ));
    }
    if method.is_some_and(|m| *m != http::Method::POST) {
        errs.push(problem(
            "method",
            method_s,
            "a gRPC call is a POST; drop --method",
        ));
    }
    let schemas = [!files.is_empty(), protoset.is_some(), reflect];
    if schemas.iter().filter(|s| **s).count() > 1 {
        errs.push(problem(
            "proto",
            "(with protoset or reflect)",
            "give the message types one way: --proto, --protoset or --reflect",
        ));
    }
    if !imports.is_empty() && files.is_empty() {
        errs.push(problem(
            "import_path",
            imports[0].display().to_string(),
            "import paths are for --proto; add a .proto file or drop them",
        ));
    }
    let stream_messages = match stream_messages {
        None => 1,
        Some(n) if (1..=1_000_000).contains(&n) => n as u32,
        Some(n) => {
            errs.push(problem(
                "stream_messages",
                n.to_string(),
                "messages per call are 1 to 1000000",
            ));
            1
        }
    };
    let connections = match connections {
        None => None,
        Some(n) if n >= 1 => Some(n as u64),
        Some(n) => {
            errs.push(problem(
                "grpc_connections",
                n.to_string(),
                "must be at least 1",
            ));
            None
        }
    };
    let stream_interval = match interval_text
        .as_deref()
        .map(|t| parse_duration("stream_interval", t))
    {
        None => None,
        Some(Ok(d)) if d.is_zero() => None,
        Some(Ok(d)) if stream_messages < 2 => {
            errs.push(problem(
                "stream_interval",
                humantime::format_duration(d).to_string(),
                "spaces the messages of a call; add --stream-messages N (N ≥ 2)",
            ));
            None
        }
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => {
            errs.push(e);
            None
        }
    };
    let schema = if !files.is_empty() {
        Schema::Proto { files, imports }
    } else if let Some(p) = protoset {
        Schema::Protoset(p)
    } else if reflect {
        Schema::Reflect
    } else {
        Schema::Raw
    };
    if errs.len() > before {
        return None;
    }
    let mut descriptor = None;
    let pool = match super::grpc::load_pool(&schema) {
        Ok(pool) => pool,
        Err(e) => {
            errs.push(e);
            None
        }
    };
    if let Some(pool) = pool.as_ref().filter(|_| !name.is_empty()) {
        match super::grpc::find_method(pool, &service, &name, &schema_source(&schema)) {
            Ok(m) => descriptor = Some(m),
            Err(e) => errs.push(e),
        }
    }
    let g = Grpc {
        service,
        method: name,
        schema,
        descriptor,
        stream_messages,
        stream_interval,
        connections,
        prepared: false,
        pool,
    };
    // With scenarios, --stream-messages applies to their streaming methods (checked there).
    if !scenarios && stream_messages > 1 && g.descriptor.is_some() && !g.kind().client_streams() {
        errs.push(problem(
            "stream_messages",
            stream_messages.to_string(),
            format!(
                "{} is {}: it takes one message per call; drop --stream-messages",
                g.path(),
                g.kind().name()
            ),
        ));
    }
    Some(g)
}

/// Where a loaded schema came from, for messages.
pub(super) fn schema_source(schema: &super::grpc::Schema) -> String {
    match schema {
        super::grpc::Schema::Protoset(p) => p.display().to_string(),
        _ => "the .proto".to_string(),
    }
}

/// A gRPC method name: an identifier (the service goes in --grpc-service).
pub(super) fn valid_method(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A gRPC service name: dotted identifiers.
pub(super) fn valid_service(name: &str) -> bool {
    !name.is_empty() && name.split('.').all(valid_method)
}

/// Makes the plan's request a gRPC call: POST to `/{service}/{method}` (under the URL's
/// path, for a gateway that routes by prefix), the gRPC headers, and the deadline from
/// `timeout`. The body is framed by [`super::grpc::prepare`].
pub(super) fn grpc_request(
    g: &super::grpc::Grpc,
    method: &mut http::Method,
    path: &mut Template,
    headers: &mut Vec<(HeaderName, Template)>,
    timeout: Duration,
) {
    *method = http::Method::POST;
    let prefix = String::from_utf8_lossy(&path.sample()).into_owned();
    let prefix = prefix.split('?').next().unwrap_or("").trim_end_matches('/');
    *path = Template::literal(format!("{prefix}{}", g.path()).into_bytes());
    let has = |headers: &Vec<(HeaderName, Template)>, n: &str| headers.iter().any(|(h, _)| h == n);
    let mut add = |name: &'static str, value: String| {
        if !has(headers, name) {
            headers.push((
                HeaderName::from_static(name),
                Template::literal(value.into_bytes()),
            ));
        }
    };
    add("content-type", "application/grpc".to_string());
    add("te", "trailers".to_string());
    // grpc-timeout: at most 8 digits; milliseconds cover 27 hours.
    add(
        "grpc-timeout",
        format!("{}m", timeout.as_millis().min(99_999_999)),
    );
}

/// `--sse`, `--stream-chunks` (and `sse`, `stream_chunks` in `[target]`): HTTP responses
/// timed message by message. An `Accept: text/event-stream` header asks for SSE too.
fn stream_read(
    errs: &mut Vec<PlanError>,
    args: &Flags,
    ft: &RawTarget,
    headers: &[(HeaderName, Template)],
    is_ws: bool,
    grpc: bool,
) -> super::StreamRead {
    use super::StreamRead;
    let sse_flag = args.sse || ft.sse.unwrap_or(false);
    let chunks = args.stream_chunks || ft.stream_chunks.unwrap_or(false);
    let accepts_sse = headers.iter().any(|(n, v)| {
        n == http::header::ACCEPT
            && String::from_utf8_lossy(&v.sample())
                .to_ascii_lowercase()
                .contains("text/event-stream")
    });
    let (field, given) = if sse_flag {
        ("sse", true)
    } else {
        ("stream_chunks", chunks)
    };
    if given && (is_ws || grpc) {
        let what = if is_ws {
            "a WebSocket reply is one message already"
        } else {
            "a gRPC stream is read message by message already"
        };
        errs.push(problem(
            field,
            "true",
            format!("{what}; drop --{}", field.replace('_', "-")),
        ));
        return StreamRead::Whole;
    }
    if sse_flag && chunks {
        errs.push(problem(
            "stream_chunks",
            "true",
            "--sse reads events and --stream-chunks reads chunks; keep one of them",
        ));
        return StreamRead::Whole;
    }
    if sse_flag || (accepts_sse && !chunks && !is_ws && !grpc) {
        StreamRead::Sse
    } else if chunks {
        StreamRead::Chunks
    } else {
        StreamRead::Whole
    }
}

/// Opens a replay's source with its settings from the command line or `[replay]`.
fn open_replay(
    args: &Flags,
    ft: &RawTarget,
    cfg: Option<&crate::config::RawReplay>,
    path: &Path,
) -> Result<super::replay::Opened, PlanError> {
    use super::replay::{Ask, BadLine};
    let speed = args.speed.or(cfg.and_then(|c| c.speed)).unwrap_or(1.0);
    if !(speed > 0.0 && speed.is_finite()) {
        return Err(problem(
            "speed",
            speed,
            "must be a number > 0: 2 plays twice as fast, 0.5 half as fast",
        ));
    }
    let text = |a: &Option<String>, c: Option<&crate::config::EnvString>| {
        a.clone().or_else(|| c.map(|v| v.0.clone()))
    };
    let window = match text(
        &args.reorder_window,
        cfg.and_then(|c| c.reorder_window.as_ref()),
    ) {
        Some(w) => parse_duration("reorder_window", &w)?,
        None => Duration::from_secs(1),
    };
    let on_bad_line =
        match text(&args.on_bad_line, cfg.and_then(|c| c.on_bad_line.as_ref())).as_deref() {
            None | Some("skip") => BadLine::Skip,
            Some("fail") => BadLine::Fail,
            Some(other) => {
                return Err(problem(
                    "on_bad_line",
                    other,
                    "give skip (count bad lines and go on) or fail (refuse the file)",
                ));
            }
        };
    let format = text(&args.log_format, cfg.and_then(|c| c.log_format.as_ref()));
    // The user's headers replace recorded ones of the same name.
    let mut user_headers: Vec<String> = args
        .headers
        .iter()
        .filter_map(|h| h.split_once(':'))
        .map(|(n, _)| n.trim().to_ascii_lowercase())
        .chain(
            ft.headers
                .iter()
                .flat_map(|m| m.keys())
                .map(|n| n.to_ascii_lowercase()),
        )
        .collect();
    if args.basic_auth.is_some() {
        user_headers.push("authorization".into());
    }
    super::replay::open(Ask {
        path,
        format: format.as_deref(),
        speed,
        looping: args.replay_loop || cfg.and_then(|c| c.looping).unwrap_or(false),
        reorder_window: window,
        on_bad_line,
        user_headers,
    })
}

/// What a replay brings itself (each record's method, path and body), or cannot carry,
/// refused by name rather than ignored.
fn refuse_with_replay(
    errs: &mut Vec<PlanError>,
    args: &Flags,
    ft: &RawTarget,
    file: Option<&RawConfig>,
) {
    let why = "a replay sends each record's own method, path and body; drop it";
    let given = [
        ("method", args.method.is_some() || ft.method.is_some()),
        (
            "body",
            args.body.is_some() || args.body_file.is_some() || !args.form.is_empty(),
        ),
        ("body_lines", args.body_lines.is_some()),
        ("urls_from_file", args.urls_from_file.is_some()),
        ("rand_regex_url", args.rand_regex_url.is_some()),
    ];
    for (field, _) in given.iter().filter(|(_, g)| *g) {
        errs.push(problem(field, "(given)", why));
    }
    let other = [
        (
            "grpc",
            args.grpc_method.is_some() || file.is_some_and(|f| f.grpc.is_some()),
        ),
        ("sse", args.sse),
        ("stream_chunks", args.stream_chunks),
    ];
    for (field, _) in other.iter().filter(|(_, g)| *g) {
        errs.push(problem(
            field,
            "(given)",
            "a replay sends recorded HTTP requests (HTTP/1.1 or --http2); drop it",
        ));
    }
}
