//! Files → raw, untrusted config: serde types that mirror the TOML format.
//!
//! Nothing here checks ranges or combinations; that is `plan::build`'s job. This module only
//! guarantees that the file parses, that every key is known, and that `${VAR}` references in
//! string values resolve. Errors carry the file, line/column where known, the key path and a
//! fix.

pub mod env;
mod error;
mod flags;
pub mod har;
mod kar98k;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub use env::{EnvString, TemplateString};
pub use error::{ConfigError, locate, nearest};
pub use flags::Flags;

/// The whole config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub target: Option<RawTarget>,
    pub load: Option<RawLoad>,
    pub stages: Option<Vec<RawStage>>,
    pub pattern: Option<RawPattern>,
    /// `metric = "OP VALUE"`, e.g. `p95_latency_ms = "< 500"`.
    pub thresholds: Option<BTreeMap<String, EnvString>>,
    pub checks: Option<Vec<RawCheck>>,
    pub scenarios: Option<Vec<RawScenario>>,
    pub websocket: Option<RawWebSocket>,
    pub grpc: Option<RawGrpc>,
    pub replay: Option<RawReplay>,
    pub capacity: Option<RawCapacity>,
}

/// `[capacity]`: the search `kaioken capacity` runs (other commands ignore it).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCapacity {
    /// SLOs every probe must meet, e.g. `["p99 < 200ms", "error_rate < 0.01"]`.
    pub slo: Option<Vec<EnvString>>,
    /// The first probe's rate (requests/s).
    pub start: Option<f64>,
    /// The highest rate probed.
    pub max: Option<f64>,
    /// How long each probe holds its rate, e.g. `20s`.
    pub probe: Option<EnvString>,
    /// How narrow the final bracket is, e.g. `5%`.
    pub tolerance: Option<EnvString>,
    /// Finding less than this is exit 4.
    pub min_capacity: Option<f64>,
}

/// `[replay]`: recorded traffic sent at its recorded times (`kaioken replay`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReplay {
    /// An access log, a JSONL file or a HAR.
    pub file: Option<EnvString>,
    /// 2.0 plays twice as fast (default 1).
    pub speed: Option<f64>,
    /// Start again from the top at the end.
    #[serde(rename = "loop")]
    pub looping: Option<bool>,
    /// `combined`, `jsonl` or `har` (default: detected).
    pub log_format: Option<EnvString>,
    /// How far out of time order records may come and still be sorted (default 1s).
    pub reorder_window: Option<EnvString>,
    /// `skip` (default) or `fail`.
    pub on_bad_line: Option<EnvString>,
}

/// `[grpc]`: the method called and where its message types come from.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGrpc {
    /// Fully qualified service name, e.g. `helloworld.Greeter`.
    pub service: Option<EnvString>,
    pub method: Option<EnvString>,
    /// `.proto` files compiled at start; the body is then JSON.
    pub proto: Option<Vec<EnvString>>,
    pub import_paths: Option<Vec<EnvString>>,
    /// A compiled `FileDescriptorSet`.
    pub protoset: Option<EnvString>,
    /// Server reflection.
    pub reflect: Option<bool>,
    /// Messages sent per call on client and bidirectional streams.
    pub stream_messages: Option<i64>,
    /// Pause between a call's messages on client and bidirectional streams.
    pub stream_interval: Option<EnvString>,
    /// HTTP/2 connections shared by the VUs, across all threads.
    pub connections: Option<i64>,
}

/// `[websocket]`: how messages to a `ws://` or `wss://` target are framed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebSocket {
    /// Binary frames instead of text.
    pub binary: Option<bool>,
    /// `Sec-WebSocket-Protocol` offers, in order.
    pub subprotocols: Option<Vec<EnvString>>,
    /// `echo` (wait for each reply) or `fire_and_forget` (send at the pace asked).
    pub mode: Option<EnvString>,
    /// Pause between a VU's messages (its think time).
    pub message_interval: Option<EnvString>,
    /// Connections held open for the whole run, whatever the message rate.
    pub connections: Option<i64>,
}

/// `[[scenarios]]`: one request of a weighted mix, or (weight 0) a dependency.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: Option<EnvString>,
    /// Absolute, or relative to `[target] url`.
    pub url: Option<TemplateString>,
    pub method: Option<EnvString>,
    pub headers: Option<BTreeMap<String, TemplateString>>,
    pub body: Option<TemplateString>,
    pub body_file: Option<EnvString>,
    pub weight: Option<i64>,
    pub tags: Option<BTreeMap<String, EnvString>>,
    /// `name = "json:$.path" | "regex:RE:GROUP" | "header:NAME" | "body"`.
    pub extract: Option<BTreeMap<String, EnvString>>,
    pub checks: Option<Vec<RawCheck>>,
    /// In a gRPC run: the method this scenario calls (default: `[grpc] method`).
    pub grpc_method: Option<EnvString>,
    /// In a gRPC run: the service of `grpc_method` (default: `[grpc] service`).
    pub grpc_service: Option<EnvString>,
    /// In a replay: the records whose path and query match this regex belong here.
    #[serde(rename = "match")]
    pub path_match: Option<EnvString>,
}

/// `[[checks]]`: a condition and/or short keys, all of which must hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub name: Option<EnvString>,
    pub condition: Option<EnvString>,
    pub status: Option<i64>,
    pub status_in: Option<Vec<i64>>,
    pub body_contains: Option<EnvString>,
    pub body_matches: Option<EnvString>,
    pub max_latency: Option<EnvString>,
}

/// `[[stages]]`: a linear ramp to `target` VUs or `target_rate` iterations/s.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub duration: Option<EnvString>,
    pub target: Option<f64>,
    pub target_rate: Option<f64>,
}

/// `[pattern]`: irregular traffic (also what a kar98k YAML file maps onto).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPattern {
    #[serde(alias = "base_tps")]
    pub base_rate: Option<f64>,
    #[serde(alias = "max_tps")]
    pub max_rate: Option<f64>,
    #[serde(alias = "floor_tps")]
    pub floor_rate: Option<f64>,
    pub seed: Option<u64>,
    pub timezone: Option<EnvString>,
    pub interpolate: Option<bool>,
    pub schedule: Option<RawSchedule>,
    pub spikes: Option<RawSpikes>,
    pub noise: Option<RawNoise>,
}

/// A schedule as `"9-17:1.5, 0-5:0.3"` or as a list of `{ hours, multiplier }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawSchedule {
    Text(String),
    Rules(Vec<RawHourRule>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHourRule {
    pub hours: Vec<i64>,
    #[serde(alias = "tps_multiplier")]
    pub multiplier: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpikes {
    pub enabled: Option<bool>,
    /// Mean spikes per second.
    pub lambda: Option<f64>,
    /// Mean gap between spikes (alternative to `lambda`).
    pub interval: Option<EnvString>,
    #[serde(alias = "spike_factor")]
    pub factor: Option<Factor>,
    pub ramp_up: Option<EnvString>,
    pub hold: Option<EnvString>,
    pub ramp_down: Option<EnvString>,
    pub min_gap: Option<EnvString>,
}

/// A spike factor: fixed, or `[low, high]` drawn per spike.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Factor {
    Fixed(f64),
    Range(Vec<f64>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNoise {
    pub enabled: Option<bool>,
    pub amplitude: Option<f64>,
    pub tau: Option<EnvString>,
}

/// `[target]`: what to send and how.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub url: Option<EnvString>,
    pub method: Option<EnvString>,
    pub timeout: Option<EnvString>,
    pub connect_timeout: Option<EnvString>,
    pub http2: Option<bool>,
    pub h2_streams: Option<i64>,
    /// Read responses as Server-Sent Events.
    pub sse: Option<bool>,
    /// Read responses as the chunks the server sent.
    pub stream_chunks: Option<bool>,
    pub insecure: Option<bool>,
    /// `HOST:PORT:ADDR:PORT` overrides of where connections go (curl's `--connect-to`).
    pub connect_to: Option<Vec<EnvString>>,
    /// TLS session resumption on new connections (default true).
    pub tls_resume: Option<bool>,
    /// `first`, `round-robin` or `random`: which address a new connection takes.
    pub dns_select: Option<EnvString>,
    /// How long a DNS answer is used (`0`: every connection; `inf`: never).
    pub dns_ttl: Option<EnvString>,
    /// `HOST:PORT:ADDR[,ADDR...]` answers used instead of DNS.
    pub resolve: Option<Vec<EnvString>>,
    /// Source addresses connections are spread over.
    pub local_address: Option<Vec<EnvString>>,
    /// `http://`, `https://`, `socks5://` or `socks5h://` proxy URL (`-x`).
    pub proxy: Option<EnvString>,
    /// PEM file of CAs trusted in addition to the platform's.
    pub cacert: Option<EnvString>,
    /// PEM client certificate (chain) for mTLS; needs `key`.
    pub cert: Option<EnvString>,
    /// PEM private key of `cert` (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<EnvString>,
    pub disable_keepalive: Option<bool>,
    pub body: Option<TemplateString>,
    pub body_file: Option<EnvString>,
    pub headers: Option<BTreeMap<String, TemplateString>>,
    /// Multipart fields in curl's `-F` syntax (instead of a body).
    pub form_data: Option<Vec<EnvString>>,
    /// A cookie store per VU.
    pub cookie_jar: Option<bool>,
    /// Follow redirects (default true, up to 10).
    pub follow_redirects: Option<bool>,
    /// Paths sampled from this regex, one per request.
    pub rand_regex_url: Option<EnvString>,
    /// URLs, one per line, sent round-robin.
    pub urls_from_file: Option<EnvString>,
    /// Bodies, one per line, sent round-robin.
    pub body_lines: Option<EnvString>,
    /// `user:password` for HTTP basic authentication.
    pub basic_auth: Option<EnvString>,
    /// Bytes of a response body kept for checks (default 1 MiB).
    pub check_body_limit: Option<i64>,
}

/// `[load]`: how much and for how long.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    pub concurrency: Option<i64>,
    pub duration: Option<EnvString>,
    pub max_requests: Option<Count>,
    pub threads: Option<i64>,
    pub graceful_stop: Option<EnvString>,
    pub rate: Option<f64>,
    pub ramp_up: Option<EnvString>,
    pub warmup: Option<EnvString>,
    pub think_time: Option<EnvString>,
    pub arrival_rate: Option<f64>,
    pub max_vus: Option<i64>,
    pub burst_rate: Option<i64>,
    pub burst_delay: Option<EnvString>,
    pub latency_correction: Option<bool>,
    /// `even` (default) or `poisson`: how an open model spaces its arrivals.
    pub arrival_dist: Option<EnvString>,
    /// Seed of Poisson arrivals (default: the pattern's seed, else 1).
    pub seed: Option<u64>,
    /// SQLite file for the per-second log (`--db-url`).
    pub db_url: Option<EnvString>,
    pub prometheus_port: Option<i64>,
    pub prometheus_bind: Option<EnvString>,
    pub prometheus_linger: Option<EnvString>,
    pub prometheus_pushgateway: Option<EnvString>,
    pub prometheus_push_interval: Option<EnvString>,
    pub prometheus_keep: Option<bool>,
}

/// A count written as a number or as a string with a `k`/`m` suffix.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Count {
    Number(i64),
    Text(String),
}

impl RawConfig {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<RawConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let origin = path.display().to_string();
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => kar98k::parse(&text, &origin),
            _ => Self::parse(&text, &origin),
        }
    }

    /// Parses config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<RawConfig, ConfigError> {
        let de = toml::Deserializer::parse(text)
            .map_err(|e| ConfigError::from_toml(origin, text, &e, None))?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            ConfigError::from_toml(origin, text, e.inner(), Some(path))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_keys() {
        let c = RawConfig::parse(
            r#"
            # ${NOT_INTERPOLATED_IN_COMMENTS}
            [target]
            url = "http://127.0.0.1:8080/x"
            method = "POST"
            timeout = "5s"
            body = '{"id": ${REQUEST_ID}}'
            [target.headers]
            X-A = "${KAIOKEN_TEST_UNSET_VAR:-dflt}"
            [load]
            concurrency = 10
            duration = "3s"
            max_requests = "10k"
            "#,
            "t.toml",
        )
        .unwrap();
        let t = c.target.unwrap();
        assert_eq!(t.url.unwrap().0, "http://127.0.0.1:8080/x");
        assert_eq!(t.body.unwrap().0, r#"{"id": ${REQUEST_ID}}"#);
        assert_eq!(t.headers.unwrap()["X-A"].0, "dflt");
        assert!(matches!(c.load.unwrap().max_requests, Some(Count::Text(s)) if s == "10k"));
    }

    #[test]
    fn unknown_key_names_nearest() {
        let e = RawConfig::parse("[load]\nconcurency = 5\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("load.concurency"), "{e}");
        assert!(e.contains("did you mean `concurrency`"), "{e}");
        assert!(e.contains("t.toml:2"), "{e}");
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let e = RawConfig::parse("[load]\nconcurrency = = 5\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.toml:2:"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn unset_env_names_key() {
        let e = RawConfig::parse(
            "[target]\nurl = \"${KAIOKEN_TEST_SURELY_UNSET}\"\n",
            "t.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("target.url"), "{e}");
        assert!(e.contains("KAIOKEN_TEST_SURELY_UNSET"), "{e}");
    }
}
