//! Flags other load testers taught our users, which clap does not know: one line naming
//! the flag to use here, instead of clap's "a similar argument exists" (which once pointed
//! hey's `--disable-redirects` at `--disable-keepalive`).

/// The hint for a command line clap refused, if an argument in it is another tool's habit.
pub fn hint(error: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if error.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let name = arg.split('=').next().unwrap_or(arg);
    FOREIGN
        .iter()
        .find(|(flag, _)| *flag == name)
        .map(|(flag, fix)| line(flag, fix))
}

/// The hint for a habit clap would take for something else before refusing anything: hey's
/// `-h2` parses as -h (help).
pub fn misparsed(argv: &[String]) -> Option<String> {
    argv.iter()
        .any(|a| a == "-h2")
        .then(|| line("-h2", "hey's HTTP/2 flag: use --http2"))
}

fn line(flag: &str, fix: &str) -> String {
    format!("unexpected argument '{flag}': {fix}")
}

/// (flag, what it is elsewhere and ours).
const FOREIGN: &[(&str, &str)] = &[
    (
        "--vus",
        "k6's VUs: use -c/--concurrency (or --max-vus with --arrival-rate)",
    ),
    (
        "--iterations",
        "k6's iteration count: use -n/--max-requests",
    ),
    ("--rps", "k6's request cap: use -r/--rate"),
    (
        "--out",
        "k6's output: use -o FILE (.json, .csv, .md, .html, .xml) or --prometheus-port",
    ),
    ("--summary-export", "k6's summary file: use -o FILE.json"),
    (
        "--http-debug",
        "k6's request dump: use --debug (one request, shown as sent)",
    ),
    (
        "-s",
        "wrk's Lua script: kaioken has no scripting; describe the requests in a config file ([[scenarios]]; `kaioken init` writes one) and give it with -f",
    ),
    (
        "--script",
        "wrk's Lua script: kaioken has no scripting; describe the requests in a config file ([[scenarios]]; `kaioken init` writes one) and give it with -f",
    ),
    ("-A", "hey's Accept header: use -H 'Accept: TYPE'"),
    ("-T", "hey's Content-Type: use -H 'Content-Type: TYPE'"),
    (
        "--disable-redirects",
        "hey's flag: use --no-follow-redirects",
    ),
    (
        "--redirect",
        "oha's redirect limit: kaioken follows up to 10 hops; --no-follow-redirects records 3xx as they are",
    ),
    (
        "--host",
        "use -H 'Host: NAME' (or --connect-to HOST:PORT:ADDR:PORT to reach another address)",
    ),
    (
        "--latency-correction",
        "oha's flag: here latency is counted from the intended send by default in rate-limited and open runs (--no-latency-correction turns it off)",
    ),
    (
        "-w",
        "oha's wait for in-flight requests: use --graceful-stop DURATION (default 5s)",
    ),
    (
        "--wait-ongoing-requests-after-deadline",
        "use --graceful-stop DURATION (default 5s)",
    ),
    ("--query-per-second", "oha's rate: use -r/--rate"),
    ("--body-string", "oha's body: use -b/--body"),
    ("--body-path", "oha's body file: use -D/--body-file"),
    (
        "--http-version",
        "use --http2 for HTTP/2; HTTP/1.1 is the default",
    ),
    (
        "--connections",
        "use -c/--concurrency (wrk's -c: one VU per connection for HTTP/1.1)",
    ),
];
