//! What the user typed: clap definitions only, no checks across flags.
//!
//! Load options are `Option`s without clap defaults so that a flag given on the command line
//! always overrides the config file, even when its value equals the default; the defaults
//! live in `plan::build`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Flags;

#[derive(Debug, Parser)]
#[command(name = "kaioken", version, about = "Load generator for HTTP/1.1, HTTP/2, WebSocket and gRPC services", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a load test against a URL or a config file.
    #[command(
        after_help = "Thresholds, checks and scenarios are set in the config file (-f): `kaioken init` writes a commented one."
    )]
    Run(Box<RunArgs>),
    /// Send recorded traffic (an nginx/Apache access log, JSONL or HAR) at its recorded
    /// times, as an open model: every option of `run` applies.
    #[command(
        after_help = "JSONL records: {\"t_ms\": 0, \"method\": \"GET\", \"url\": \"/path\", \"headers\": {\"x\": \"y\"}, \"body\": \"...\"}, one per line."
    )]
    Replay(Box<ReplayArgs>),
    /// Find the highest arrival rate the target sustains within its SLOs: steady open-model
    /// probes, growing until one fails, then bisected; every option of `run` applies.
    #[command(
        after_help = "Exit codes: 0 found, 4 when even --start misses the SLOs (or less than --min-capacity was found), 1 for errors and a generator-limited probe."
    )]
    Capacity(Box<CapacityArgs>),
    /// Serve the built-in target: a configurable HTTP/1.1 + h2c server on loopback.
    Serve(ServeArgs),
    /// Start the built-in target in-process and run a 10-second load test against it.
    Demo(DemoArgs),
    /// Print the planned rate curve of an open model (pattern or rate stages) as CSV, with a
    /// summary on stderr, without sending traffic.
    Simulate(SimulateArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Re-render a saved JSON result in any format
    Report(ReportArgs),
    /// Write a commented starter config file
    Init(InitArgs),
    /// Convert a HAR recording (browser DevTools, Playwright) into a config with one
    /// weighted scenario per distinct request
    Import(ImportArgs),
    /// Compare two saved results: exit 3 on a regression beyond noise, 5 when the load
    /// models differ (unless --force)
    Compare(CompareArgs),
    /// Print a man page (roff) to stdout: `kaioken man run > kaioken-run.1; man -l kaioken-run.1`,
    /// or write every page into a directory with --dir
    Man(ManArgs),
}

#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// Target URL (http:// or https://); required unless the config file gives one.
    #[arg(help_heading = "Target")]
    pub url: Option<String>,

    /// Concurrent virtual users (connections for HTTP/1.1, streams for HTTP/2) [default: 50]
    #[arg(short = 'c', long, allow_negative_numbers = true)]
    #[arg(help_heading = "Load")]
    pub concurrency: Option<i64>,

    /// Measured duration, e.g. 30s, 2m, 1h30m [default: 10s, or until -n is reached when -n
    /// is given] (-z: oha's and hey's letter for it)
    #[arg(
        short = 'd',
        visible_short_alias = 'z',
        long,
        allow_hyphen_values = true
    )]
    #[arg(help_heading = "Load")]
    pub duration: Option<String>,

    /// Stop after exactly N requests (0 = unlimited; k and m suffixes: 10k, 1m)
    #[arg(short = 'n', long = "max-requests", allow_hyphen_values = true)]
    #[arg(help_heading = "Load")]
    pub max_requests: Option<String>,

    /// Cap the whole run at R requests/s on a shared schedule of intended slots (latency is
    /// measured from each slot: coordinated-omission correct)
    #[arg(short = 'r', long, allow_hyphen_values = true)]
    #[arg(help_heading = "Load")]
    pub rate: Option<f64>,

    /// oha's -q: read as -r, requests/s for the whole run (hey's -q is per worker: give -r
    /// with that rate times -c); a note on stderr says so
    #[arg(
        short = 'q',
        value_name = "RATE",
        conflicts_with = "rate",
        allow_hyphen_values = true
    )]
    #[arg(help_heading = "Load", hide_short_help = true)]
    pub q_rate: Option<f64>,

    /// Start the VUs linearly over this time
    #[arg(long, allow_hyphen_values = true)]
    #[arg(help_heading = "Load")]
    pub ramp_up: Option<String>,

    /// Run real load for this long before measuring; `--duration` is the measured part
    #[arg(long, allow_hyphen_values = true)]
    #[arg(help_heading = "Load", hide_short_help = true)]
    pub warmup: Option<String>,

    /// Pause between a VU's requests
    #[arg(long, allow_hyphen_values = true)]
    #[arg(help_heading = "Load", hide_short_help = true)]
    pub think_time: Option<String>,

    /// Open model: start R iterations per second whatever the server does
    #[arg(long, allow_hyphen_values = true)]
    #[arg(help_heading = "Load")]
    pub arrival_rate: Option<f64>,

    /// Open model: how arrivals are spaced, `even` or `poisson` (exponential gaps with the
    /// curve's rate, seeded by [load] seed or the pattern's seed) [default: even]
    #[arg(long, value_name = "DIST")]
    #[arg(help_heading = "Load", hide_short_help = true)]
    pub arrival_dist: Option<String>,

    /// Open model: most VUs at once; an iteration that finds none free is dropped [default: 100]
    #[arg(long, allow_hyphen_values = true)]
    #[arg(help_heading = "Load", hide_short_help = true)]
    pub max_vus: Option<i64>,

    /// Burst mode: this many requests at once...
    #[arg(long, allow_hyphen_values = true)]
    #[arg(help_heading = "Load", hide_short_help = true)]
    pub burst_rate: Option<i64>,

    /// ...every this long
    #[arg(long, allow_hyphen_values = true)]
    #[arg(help_heading = "Load", hide_short_help = true)]
    pub burst_delay: Option<String>,

    /// Record latency as service time (actual send → last byte) instead of from the intended
    /// send time
    #[arg(long)]
    #[arg(help_heading = "Load", hide_short_help = true)]
    pub no_latency_correction: bool,

    /// HTTP method [default: GET]
    #[arg(short = 'm', long)]
    #[arg(help_heading = "Request")]
    pub method: Option<String>,

    /// Request header `Name: value` (repeatable)
    #[arg(short = 'H', long = "header")]
    #[arg(help_heading = "Request")]
    pub headers: Vec<String>,

    /// Basic authentication `user:password` (sent as an Authorization header; redacted in
    /// every output)
    #[arg(short = 'a', long, value_name = "USER:PASS")]
    #[arg(help_heading = "Request", hide_short_help = true)]
    pub basic_auth: Option<String>,

    /// Request body
    #[arg(short = 'b', long)]
    #[arg(help_heading = "Request")]
    pub body: Option<String>,

    /// Read the request body from a file (sent as is, bytes unchanged; -D as in oha)
    #[arg(short = 'D', long)]
    #[arg(help_heading = "Request", hide_short_help = true)]
    pub body_file: Option<PathBuf>,

    /// Multipart form field, curl syntax: `name=value` or `name=@path[;filename=x][;type=y]`
    /// (repeatable; instead of --body)
    #[arg(short = 'F', long = "form", value_name = "FIELD")]
    #[arg(help_heading = "Request", hide_short_help = true)]
    pub form: Vec<String>,

    /// Keep a cookie store per VU: Set-Cookie from responses is sent back as browsers do
    #[arg(long)]
    #[arg(help_heading = "Request", hide_short_help = true)]
    pub cookie_jar: bool,

    /// Record 3xx responses as they are instead of following them (up to 10 hops)
    #[arg(long)]
    #[arg(help_heading = "Request", hide_short_help = true)]
    pub no_follow_redirects: bool,

    /// Request paths sampled from this regex, one per request, e.g. `/item/[0-9]{1,4}`
    /// (a full URL pattern is allowed when its origin is literal)
    #[arg(long, value_name = "REGEX")]
    #[arg(help_heading = "Request", hide_short_help = true)]
    pub rand_regex_url: Option<String>,

    /// Send these URLs (one per line, same origin), round-robin in one run-wide order
    #[arg(long, value_name = "FILE")]
    #[arg(help_heading = "Request", hide_short_help = true)]
    pub urls_from_file: Option<PathBuf>,

    /// Send these bodies (one per line), round-robin in one run-wide order
    #[arg(short = 'Z', long, value_name = "FILE")]
    #[arg(help_heading = "Request", hide_short_help = true)]
    pub body_lines: Option<PathBuf>,

    /// Use HTTP/2: prior knowledge on http://, ALPN on https://
    #[arg(long)]
    #[arg(help_heading = "Protocol")]
    pub http2: bool,

    /// Read each response as Server-Sent Events: time to first event, gaps between events,
    /// events per second (also when -H sets Accept: text/event-stream)
    #[arg(long)]
    #[arg(help_heading = "Protocol", hide_short_help = true)]
    pub sse: bool,

    /// Read each response as the chunks the server sent: time to first chunk, gaps between
    /// chunks, chunks per second (streaming APIs: first token, inter-token latency)
    #[arg(long)]
    #[arg(help_heading = "Protocol", hide_short_help = true)]
    pub stream_chunks: bool,

    /// Maximum concurrent streams per HTTP/2 connection [default: 10]
    #[arg(long)]
    #[arg(help_heading = "Protocol", hide_short_help = true)]
    pub h2_streams: Option<u64>,

    /// ws:// and wss://: send binary frames instead of text
    #[arg(long)]
    #[arg(help_heading = "Protocol", hide_short_help = true)]
    pub ws_binary: bool,

    /// ws:// and wss://: send each message without waiting for a reply; replies are
    /// counted as they come
    #[arg(long)]
    #[arg(help_heading = "Protocol", hide_short_help = true)]
    pub ws_fire_and_forget: bool,

    /// ws:// and wss://: offer this subprotocol in the upgrade (repeatable, in order of
    /// preference)
    #[arg(long, value_name = "NAME")]
    #[arg(help_heading = "Protocol", hide_short_help = true)]
    pub ws_subprotocol: Vec<String>,

    /// ws:// and wss://: hold N connections open for the whole run, whatever the message
    /// rate (connection-capacity tests); the messages are spread over them
    #[arg(long, value_name = "N")]
    #[arg(help_heading = "Protocol", hide_short_help = true)]
    pub ws_connections: Option<u64>,

    /// gRPC: the fully qualified service to call (e.g. helloworld.Greeter); needs
    /// --grpc-method
    #[arg(long, value_name = "SERVICE")]
    #[arg(help_heading = "Protocol", hide_short_help = true)]
    pub grpc_service: Option<String>,

    /// gRPC: the method of --grpc-service to call (e.g. SayHello)
    #[arg(long, value_name = "METHOD")]
    #[arg(help_heading = "Protocol", hide_short_help = true)]
    pub grpc_method: Option<String>,

    /// gRPC: compile this .proto (repeatable) and send the body as JSON encoded through it
    #[arg(long, value_name = "FILE")]
    #[arg(help_heading = "Protocol", hide_short_help = true)]
    pub proto: Vec<PathBuf>,

    /// gRPC: where the imports of --proto are found (repeatable; the .proto's directory is
    /// always searched)
    #[arg(long, value_name = "DIR")]
    #[arg(help_heading = "Protocol", hide_short_help = true)]
    pub import_path: Vec<PathBuf>,

    /// gRPC: take the message types from this compiled descriptor set (protoc
    /// --descriptor_set_out --include_imports)
    #[arg(long, value_name = "FILE")]
    #[arg(help_heading = "Protocol", hide_short_help = true)]
    pub protoset: Option<PathBuf>,

    /// gRPC: ask the server for the message types (server reflection) before the run
    #[arg(long)]
    #[arg(help_heading = "Protocol", hide_short_help = true)]
    pub reflect: bool,

    /// gRPC client and bidirectional streaming: messages sent on each call [default: 1]
    #[arg(long, value_name = "N")]
    #[arg(help_heading = "Protocol", hide_short_help = true)]
    pub stream_messages: Option<u64>,

    /// gRPC client and bidirectional streaming: send a call's messages this far apart
    /// (e.g. 100ms) instead of all at once
    #[arg(long, value_name = "DURATION")]
    #[arg(help_heading = "Protocol", hide_short_help = true)]
    pub stream_interval: Option<String>,

    /// gRPC: HTTP/2 connections the VUs share, across all threads [default: one per thread]
    #[arg(long, value_name = "N")]
    #[arg(help_heading = "Protocol", hide_short_help = true)]
    pub grpc_connections: Option<u64>,

    /// Skip TLS certificate verification
    #[arg(long)]
    #[arg(help_heading = "Network")]
    pub insecure: bool,

    /// Trust the CAs in this PEM file, besides the platform's (SSL_CERT_FILE and
    /// SSL_CERT_DIR are honoured)
    #[arg(long, value_name = "FILE")]
    #[arg(help_heading = "Network", hide_short_help = true)]
    pub cacert: Option<PathBuf>,

    /// Connect to ADDR:PORT when the URL names HOST:PORT (curl's HOST:PORT:ADDR:PORT, or
    /// HOST:ADDR:PORT); Host header and TLS name stay the URL's (repeatable)
    #[arg(long, value_name = "HOST:PORT:ADDR:PORT")]
    #[arg(help_heading = "Network", hide_short_help = true)]
    pub connect_to: Vec<String>,

    /// Send through this proxy: http://, https://, socks5:// or socks5h://, with
    /// USER:PASSWORD@ if it asks (overrides the *_PROXY environment variables)
    #[arg(short = 'x', long, value_name = "URL")]
    #[arg(help_heading = "Network")]
    pub proxy: Option<String>,

    /// Which of the host's addresses a new connection takes: first, round-robin or random
    /// [default: round-robin]
    #[arg(long, value_name = "HOW")]
    #[arg(help_heading = "Network", hide_short_help = true)]
    pub dns_select: Option<String>,

    /// How long a DNS answer is used before a new connection resolves the name again
    /// (0: every connection; inf: never) [default: 5m]
    #[arg(long, value_name = "DURATION")]
    #[arg(help_heading = "Network", hide_short_help = true)]
    pub dns_ttl: Option<String>,

    /// Use these addresses for HOST:PORT instead of asking DNS (curl's
    /// HOST:PORT:ADDR[,ADDR...]; repeatable)
    #[arg(long, value_name = "HOST:PORT:ADDRS")]
    #[arg(help_heading = "Network", hide_short_help = true)]
    pub resolve: Vec<String>,

    /// Connect from this source address (repeatable: connections are spread over them)
    #[arg(long, value_name = "ADDR")]
    #[arg(help_heading = "Network", hide_short_help = true)]
    pub local_address: Vec<String>,

    /// Ignore HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY
    #[arg(long)]
    #[arg(help_heading = "Network", hide_short_help = true)]
    pub no_proxy_env: bool,

    /// Client certificate (PEM) for mutual TLS; needs --key
    #[arg(long, value_name = "FILE")]
    #[arg(help_heading = "Network", hide_short_help = true)]
    pub cert: Option<PathBuf>,

    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1) of --cert
    #[arg(long, value_name = "FILE")]
    #[arg(help_heading = "Network", hide_short_help = true)]
    pub key: Option<PathBuf>,

    /// Full TLS handshakes only: no session resumption on new connections
    #[arg(long)]
    #[arg(help_heading = "Network", hide_short_help = true)]
    pub no_tls_resume: bool,

    /// Open a new connection for every request
    #[arg(long)]
    #[arg(help_heading = "Network", hide_short_help = true)]
    pub disable_keepalive: bool,

    /// Request timeout [default: 30s]
    #[arg(long, allow_hyphen_values = true)]
    #[arg(help_heading = "Network")]
    pub timeout: Option<String>,

    /// Connection (TCP + TLS) timeout [default: 10s]
    #[arg(long, allow_hyphen_values = true)]
    #[arg(help_heading = "Network", hide_short_help = true)]
    pub connect_timeout: Option<String>,

    /// Worker threads, each with its own runtime [default: number of CPUs] (-t as in wrk)
    #[arg(short = 't', long)]
    #[arg(help_heading = "Load")]
    pub threads: Option<u64>,

    /// How long in-flight requests may finish after the end or Ctrl-C [default: 5s]
    #[arg(long, allow_hyphen_values = true)]
    #[arg(help_heading = "Load", hide_short_help = true)]
    pub graceful_stop: Option<String>,

    /// TOML config file; flags given here override it
    #[arg(short = 'f', long)]
    #[arg(help_heading = "Target")]
    pub config: Option<PathBuf>,

    /// Write the results to this file (repeatable; the format comes from the extension:
    /// .json, .csv, .md, .html, .xml for JUnit)
    #[arg(short = 'o', long)]
    #[arg(help_heading = "Output")]
    pub output: Vec<PathBuf>,

    /// Format of a single -o file, whatever its extension
    #[arg(long, value_enum)]
    #[arg(help_heading = "Output", hide_short_help = true)]
    pub format: Option<Format>,

    /// No TUI: a status line on stderr instead (the TUI is the default when stdout is a terminal)
    #[arg(long)]
    #[arg(help_heading = "Output")]
    pub no_tui: bool,

    /// No DBZ flavour: no power levels or themes, a neutral look
    #[arg(long)]
    #[arg(help_heading = "Output", hide_short_help = true)]
    pub serious: bool,

    /// Print only the JSON result on stdout (implies --no-tui --format json; -j as in oha)
    #[arg(short = 'j', long)]
    #[arg(help_heading = "Output")]
    pub json: bool,

    /// wrk's --latency: accepted as it is what we always do (the summary always has the
    /// latency percentiles, and the JSON the whole distribution)
    #[arg(long)]
    #[arg(help_heading = "Output", hide_short_help = true)]
    pub latency: bool,

    /// Validate, print the plan and exit
    #[arg(long)]
    #[arg(help_heading = "Target")]
    pub dry_run: bool,

    /// Log the run to SQLite as it goes (one row per second; `runs` and `seconds` tables)
    #[arg(long, value_name = "PATH")]
    #[arg(help_heading = "Output", hide_short_help = true)]
    pub db_url: Option<String>,

    /// Serve live metrics on http://127.0.0.1:PORT/metrics for Prometheus (0: any free port)
    #[arg(long, value_name = "PORT")]
    #[arg(help_heading = "Output", hide_short_help = true)]
    pub prometheus_port: Option<u16>,

    /// Address for --prometheus-port [default: 127.0.0.1]
    #[arg(long, value_name = "IP")]
    #[arg(help_heading = "Output", hide_short_help = true)]
    pub prometheus_bind: Option<String>,

    /// After the run, keep /metrics up until it is scraped once more, at most this long
    /// [default: 0s]
    #[arg(long, value_name = "DURATION")]
    #[arg(help_heading = "Output", hide_short_help = true)]
    pub prometheus_linger: Option<String>,

    /// Push live metrics to this Pushgateway (http://HOST:PORT)
    #[arg(long, value_name = "URL")]
    #[arg(help_heading = "Output", hide_short_help = true)]
    pub prometheus_pushgateway: Option<String>,

    /// How often to push [default: 1s]
    #[arg(long, value_name = "DURATION")]
    #[arg(help_heading = "Output", hide_short_help = true)]
    pub prometheus_push_interval: Option<String>,

    /// Keep the pushed group on the Pushgateway after the run (default: delete it)
    #[arg(long)]
    #[arg(help_heading = "Output", hide_short_help = true)]
    pub prometheus_keep: bool,

    /// Send one request and print it, the response and a timing breakdown; no load
    #[arg(long)]
    #[arg(help_heading = "Target")]
    pub debug: bool,

    /// With --debug: show Authorization, cookies and tokens instead of [redacted]
    #[arg(long, requires = "debug")]
    #[arg(help_heading = "Target", hide_short_help = true)]
    pub show_secrets: bool,

    /// Stop the run within a second of a [thresholds] breach (judged live once 100
    /// requests completed; rps is judged at the end only); outputs are still written
    #[arg(long)]
    #[arg(help_heading = "Thresholds")]
    pub fail_fast: bool,

    /// Fail the run (exit 4) when the generator, not the server, limited it: worker threads
    /// near 100% CPU or sends late on their schedule (the `health` verdict; also
    /// `[thresholds] generator = "ok"`)
    #[arg(long)]
    #[arg(help_heading = "Thresholds", hide_short_help = true)]
    pub strict: bool,

    /// Do not ask before loading a target that is not loopback or private
    #[arg(short = 'y', long)]
    #[arg(help_heading = "Target", hide_short_help = true)]
    pub yes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Json,
    /// The per-second timeline (plus FILE.summary.csv with the summary)
    Csv,
    /// Summary tables for a pull-request comment
    #[value(alias = "markdown")]
    Md,
    /// One self-contained HTML page with SVG charts (light and dark)
    Html,
    /// JUnit XML: one test case per threshold (and check), for CI test reports
    #[value(alias = "xml")]
    Junit,
}

impl Format {
    /// The canonical name, as `plan::Format::from_name` reads it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Md => "md",
            Format::Html => "html",
            Format::Junit => "junit",
        }
    }
}

impl RunArgs {
    /// The command line as a layer of raw configuration, for `plan::build`.
    pub fn flags(&self) -> Flags {
        Flags {
            url: self.url.clone(),
            concurrency: self.concurrency,
            duration: self.duration.clone(),
            max_requests: self.max_requests.clone(),
            rate: self.rate.or(self.q_rate),
            ramp_up: self.ramp_up.clone(),
            warmup: self.warmup.clone(),
            think_time: self.think_time.clone(),
            arrival_rate: self.arrival_rate,
            arrival_dist: self.arrival_dist.clone(),
            max_vus: self.max_vus,
            burst_rate: self.burst_rate,
            burst_delay: self.burst_delay.clone(),
            no_latency_correction: self.no_latency_correction,
            method: self.method.clone(),
            headers: self.headers.clone(),
            basic_auth: self.basic_auth.clone(),
            body: self.body.clone(),
            body_file: self.body_file.clone(),
            form: self.form.clone(),
            cookie_jar: self.cookie_jar,
            no_follow_redirects: self.no_follow_redirects,
            rand_regex_url: self.rand_regex_url.clone(),
            urls_from_file: self.urls_from_file.clone(),
            body_lines: self.body_lines.clone(),
            http2: self.http2,
            h2_streams: self.h2_streams,
            sse: self.sse,
            stream_chunks: self.stream_chunks,
            ws_binary: self.ws_binary,
            ws_fire_and_forget: self.ws_fire_and_forget,
            ws_subprotocol: self.ws_subprotocol.clone(),
            ws_connections: self.ws_connections,
            grpc_service: self.grpc_service.clone(),
            grpc_method: self.grpc_method.clone(),
            proto: self.proto.clone(),
            import_path: self.import_path.clone(),
            protoset: self.protoset.clone(),
            reflect: self.reflect,
            stream_messages: self.stream_messages,
            stream_interval: self.stream_interval.clone(),
            grpc_connections: self.grpc_connections,
            insecure: self.insecure,
            cacert: self.cacert.clone(),
            connect_to: self.connect_to.clone(),
            proxy: self.proxy.clone(),
            no_proxy_env: self.no_proxy_env,
            no_tls_resume: self.no_tls_resume,
            dns_select: self.dns_select.clone(),
            dns_ttl: self.dns_ttl.clone(),
            resolve: self.resolve.clone(),
            local_address: self.local_address.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            disable_keepalive: self.disable_keepalive,
            timeout: self.timeout.clone(),
            connect_timeout: self.connect_timeout.clone(),
            threads: self.threads,
            graceful_stop: self.graceful_stop.clone(),
            output: self.output.clone(),
            format: self.format.map(|f| f.name().to_string()),
            no_tui: self.no_tui,
            serious: self.serious,
            json: self.json,
            db_url: self.db_url.clone(),
            prometheus_port: self.prometheus_port,
            prometheus_bind: self.prometheus_bind.clone(),
            prometheus_linger: self.prometheus_linger.clone(),
            prometheus_pushgateway: self.prometheus_pushgateway.clone(),
            prometheus_push_interval: self.prometheus_push_interval.clone(),
            prometheus_keep: self.prometheus_keep,
            fail_fast: self.fail_fast,
            strict: self.strict,
            yes: self.yes,
            ..Flags::default()
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// The recorded traffic: an access log (combined/common), a JSONL file or a HAR.
    #[arg(help_heading = "Replay")]
    pub file: PathBuf,

    /// Send to this origin (scheme://host:port) instead of the recorded one; required for
    /// access logs, which record paths only. Same as giving URL after FILE.
    #[arg(long, value_name = "URL", help_heading = "Replay")]
    pub target: Option<String>,

    /// Play F times as fast as recorded (2 = twice as fast, 0.5 = half) [default: 1]
    #[arg(
        long,
        value_name = "F",
        allow_hyphen_values = true,
        help_heading = "Replay"
    )]
    pub speed: Option<f64>,

    /// Start again from the top at the end, until -d, -n or Ctrl-C
    #[arg(long = "loop", help_heading = "Replay")]
    pub looping: bool,

    /// combined (nginx/Apache), jsonl or har [default: detected from the file]
    #[arg(long, value_name = "FORMAT", help_heading = "Replay")]
    pub log_format: Option<String>,

    /// Records this far out of time order are sorted; later ones are sent at once and
    /// counted [default: 1s]
    #[arg(long, value_name = "DURATION", help_heading = "Replay")]
    pub reorder_window: Option<String>,

    /// skip (count it, name the first in the result) or fail (refuse the file, naming the
    /// line, before any traffic) [default: skip]
    #[arg(long, value_name = "skip|fail", help_heading = "Replay")]
    pub on_bad_line: Option<String>,

    #[command(flatten)]
    pub run: RunArgs,
}

impl ReplayArgs {
    /// The command line as flags: `run`'s, with the replay's and its target.
    pub fn flags(&self) -> Result<Flags, String> {
        let mut f = self.run.flags();
        if let (Some(t), Some(u)) = (&self.target, &self.run.url)
            && t != u
        {
            return Err(format!(
                "--target {t} and URL {u} name two targets; give one"
            ));
        }
        if self.target.is_some() {
            f.url = self.target.clone();
        }
        f.replay = Some(self.file.clone());
        f.speed = self.speed;
        f.replay_loop = self.looping;
        f.log_format = self.log_format.clone();
        f.reorder_window = self.reorder_window.clone();
        f.on_bad_line = self.on_bad_line.clone();
        Ok(f)
    }
}

#[derive(Debug, Clone, Args)]
pub struct CapacityArgs {
    /// An SLO every probe must meet, e.g. 'p99 < 200ms' or 'error_rate < 0.01'; repeatable
    /// (error_rate < 0.01 is implied when none names the error rate)
    #[arg(long, value_name = "'METRIC OP VALUE'", help_heading = "Capacity")]
    pub slo: Vec<String>,

    /// The first probe's rate, requests/s [default: 100]
    #[arg(
        long,
        value_name = "RATE",
        allow_negative_numbers = true,
        help_heading = "Capacity"
    )]
    pub start: Option<f64>,

    /// The highest rate probed, requests/s [default: 100000]
    #[arg(
        long,
        value_name = "RATE",
        allow_negative_numbers = true,
        help_heading = "Capacity"
    )]
    pub max: Option<f64>,

    /// How long each probe holds its rate after the warmup (--warmup, default 2s); the best
    /// pass is confirmed with a probe twice as long [default: 20s]
    #[arg(long, value_name = "DURATION", help_heading = "Capacity")]
    pub probe: Option<String>,

    /// Stop bisecting when (lowest fail − highest pass) / highest pass is at most this
    /// [default: 5%]
    #[arg(long, value_name = "PERCENT", help_heading = "Capacity")]
    pub tolerance: Option<String>,

    /// Exit 4 when the capacity found is below this rate (for CI)
    #[arg(
        long,
        value_name = "RATE",
        allow_negative_numbers = true,
        help_heading = "Capacity"
    )]
    pub min_capacity: Option<f64>,

    #[command(flatten)]
    pub run: RunArgs,
}

impl CapacityArgs {
    /// The command line as flags: `run`'s, with the search's.
    pub fn flags(&self) -> Flags {
        let mut f = self.run.flags();
        f.slo = self.slo.clone();
        f.cap_start = self.start;
        f.cap_max = self.max;
        f.probe = self.probe.clone();
        f.tolerance = self.tolerance.clone();
        f.min_capacity = self.min_capacity;
        f
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to bind
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,

    /// Port to listen on (0 picks a free one; the address is printed)
    #[arg(long, default_value_t = 8080)]
    pub port: u16,

    #[command(flatten)]
    pub behaviour: TargetBehaviour,
}

/// How the built-in target answers.
#[derive(Debug, Clone, Default, Args)]
pub struct TargetBehaviour {
    /// Response delay: `10ms`, `uniform:5ms-20ms` or `exp:10ms` (exponential with that mean)
    #[arg(long)]
    pub delay: Option<String>,

    /// Fraction of requests answered with 500 and the body `injected error` (exact: every
    /// 1/rate-th request)
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,

    /// Status code of normal responses
    #[arg(long, default_value_t = 200)]
    pub status: u16,

    /// Response body size in bytes
    #[arg(long, default_value_t = 2)]
    pub body_size: usize,

    /// Send bodies with chunked transfer encoding (HTTP/1.1)
    #[arg(long)]
    pub chunked: bool,

    /// Hold every request that arrives in a window until it ends: `START+LENGTH`, measured
    /// from the first request, e.g. `4s+2s`
    #[arg(long)]
    pub stall: Option<String>,

    /// Server worker threads [default: number of CPUs]
    #[arg(long)]
    pub threads: Option<usize>,
}

impl TargetBehaviour {
    /// The flags as the built-in target's options.
    pub fn options(&self) -> crate::target_server::Options {
        crate::target_server::Options {
            delay: self.delay.clone(),
            error_rate: self.error_rate,
            status: self.status,
            body_size: self.body_size,
            chunked: self.chunked,
            stall: self.stall.clone(),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// Target URL to put in the config
    #[arg(short = 'u', long)]
    pub url: Option<String>,

    /// Where to write it
    #[arg(short = 'o', long, default_value = "kaioken.toml")]
    pub output: PathBuf,

    /// Overwrite an existing file
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The HAR file (HTTP Archive 1.2)
    pub file: PathBuf,

    /// Where to write the config
    #[arg(short = 'o', long, default_value = "kaioken.toml")]
    pub output: PathBuf,

    /// Keep only requests whose URL matches this regex, e.g. "api/v2"
    #[arg(long, value_name = "REGEX")]
    pub filter: Option<String>,

    /// Overwrite an existing file
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The earlier result (kaioken run -o FILE.json)
    pub baseline: PathBuf,

    /// The result to judge against it
    pub current: PathBuf,

    /// p99 latency regression limit (%)
    #[arg(long, default_value_t = 10.0, value_name = "PCT")]
    pub threshold_p99: f64,

    /// p99.9 latency regression limit (%)
    #[arg(long, default_value_t = 15.0, value_name = "PCT")]
    pub threshold_p999: f64,

    /// Error-rate regression limit (% of the baseline's rate)
    #[arg(long, default_value_t = 50.0, value_name = "PCT")]
    pub threshold_error_rate: f64,

    /// Throughput regression limit (% drop in requests/s)
    #[arg(long, default_value_t = 10.0, value_name = "PCT")]
    pub threshold_rps: f64,

    /// Compare results of different load models (open vs closed) anyway
    #[arg(long)]
    pub force: bool,

    /// Print the comparison as JSON
    #[arg(long, conflicts_with = "md")]
    pub json: bool,

    /// Print the comparison as a Markdown table (for a pull-request comment)
    #[arg(long)]
    pub md: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// The subcommand whose page to print (run, serve, compare, ...) [default: the top-level
    /// page, which lists them]
    #[arg(value_name = "SUBCOMMAND")]
    pub command: Option<String>,

    /// Write every page (kaioken.1, kaioken-run.1, ...) into this directory instead
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// A result written by `kaioken run -o FILE.json`
    pub result: PathBuf,

    /// Output file(s); the format comes from the extension or --format
    #[arg(short = 'o', long, required = true)]
    pub output: Vec<PathBuf>,

    /// Format of a single -o file
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Config file (TOML with [pattern] or rate stages, or kar98k YAML)
    #[arg(short = 'f', long)]
    pub config: PathBuf,

    /// How much of the curve to plan [default: the config's duration, or 1h]
    #[arg(short = 'd', long, allow_hyphen_values = true)]
    pub duration: Option<String>,

    /// Interval between CSV rows
    #[arg(long, default_value = "1s", allow_hyphen_values = true)]
    pub step: String,

    /// Wall-clock start for time-of-day schedules (RFC 3339, or `now`) [default: today 00:00
    /// in the pattern's time zone, so a seeded curve is the same on every call]
    #[arg(long)]
    pub start: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Concurrent virtual users
    #[arg(short = 'c', long, default_value_t = 50)]
    pub concurrency: u64,

    /// Duration
    #[arg(short = 'd', long, default_value = "10s")]
    pub duration: String,

    /// Write the results to this file
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,

    /// Print only the JSON result on stdout
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub behaviour: TargetBehaviour,
}
