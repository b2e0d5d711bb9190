//! The command line as one layer of raw configuration: what `kaioken run` was given, as plain
//! values, before any check. `plan::build` lays it over the file (a flag given here always
//! wins, even when its value equals the default). It is clap-free on purpose: the plan is
//! built from configuration, never from a parser's types, so that a daemon's reload, a
//! segment of a distributed run or a test can build the same plan without an argv.

use std::path::PathBuf;

/// The flags of `kaioken run` that describe the test (not the ones that pick what the command
/// does, such as `--dry-run` or `--debug`). Field names are the flags' long names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flags {
    pub url: Option<String>,
    pub concurrency: Option<u64>,
    pub duration: Option<String>,
    pub max_requests: Option<String>,
    pub rate: Option<f64>,
    pub ramp_up: Option<String>,
    pub warmup: Option<String>,
    pub think_time: Option<String>,
    pub arrival_rate: Option<f64>,
    pub max_vus: Option<i64>,
    pub burst_rate: Option<i64>,
    pub burst_delay: Option<String>,
    pub no_latency_correction: bool,
    pub method: Option<String>,
    pub headers: Vec<String>,
    pub basic_auth: Option<String>,
    pub body: Option<String>,
    pub body_file: Option<PathBuf>,
    pub form: Vec<String>,
    pub cookie_jar: bool,
    pub no_follow_redirects: bool,
    pub rand_regex_url: Option<String>,
    pub urls_from_file: Option<PathBuf>,
    pub body_lines: Option<PathBuf>,
    pub http2: bool,
    pub h2_streams: Option<u64>,
    pub ws_binary: bool,
    pub ws_subprotocol: Vec<String>,
    pub insecure: bool,
    pub cacert: Option<PathBuf>,
    pub connect_to: Vec<String>,
    pub proxy: Option<String>,
    pub no_proxy_env: bool,
    pub no_tls_resume: bool,
    pub dns_select: Option<String>,
    pub dns_ttl: Option<String>,
    pub resolve: Vec<String>,
    pub local_address: Vec<String>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub disable_keepalive: bool,
    pub timeout: Option<String>,
    pub connect_timeout: Option<String>,
    pub threads: Option<u64>,
    pub graceful_stop: Option<String>,
    pub output: Vec<PathBuf>,
    /// `--format`, by its canonical name (`json`, `csv`, `md`, `html`, `junit`).
    pub format: Option<String>,
    pub no_tui: bool,
    pub serious: bool,
    pub json: bool,
    pub db_url: Option<String>,
    pub prometheus_port: Option<u16>,
    pub prometheus_bind: Option<String>,
    pub prometheus_linger: Option<String>,
    pub prometheus_pushgateway: Option<String>,
    pub prometheus_push_interval: Option<String>,
    pub prometheus_keep: bool,
    pub fail_fast: bool,
    pub yes: bool,
}
