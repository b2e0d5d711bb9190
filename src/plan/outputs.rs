//! How results leave the process: result files and their formats, the live view, the SQLite
//! log and Prometheus. Plain settings; the sinks that act on them live downstream in `sink`.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::build::dur_opt;
use super::{PlanError, problem};
use crate::config::{Flags, RawLoad};

/// A result file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Json,
    /// The per-second timeline (plus FILE.summary.csv with the summary).
    Csv,
    /// Summary tables for a pull-request comment.
    Md,
    /// One self-contained HTML page with SVG charts.
    Html,
    /// JUnit XML: one test case per threshold (and check).
    Junit,
}

impl Format {
    /// The format a file name asks for.
    pub fn from_path(p: &Path) -> Option<Format> {
        match p.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "md" | "markdown" => Some(Format::Md),
            "xml" => Some(Format::Junit),
            "html" | "htm" => Some(Format::Html),
            _ => None,
        }
    }

    /// The format `--format` names (its canonical names and their aliases).
    pub fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "md" | "markdown" => Some(Format::Md),
            "html" => Some(Format::Html),
            "junit" | "xml" => Some(Format::Junit),
            _ => None,
        }
    }

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

/// How results leave the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    /// Result files and their formats.
    pub files: Vec<(PathBuf, Format)>,
    /// `--json`: the JSON document alone on stdout.
    pub json_stdout: bool,
    /// `-o -`: this format on stdout instead of the summary (JSON unless --format says).
    pub stdout: Option<Format>,
    pub live: LiveView,
    /// `--serious`: no ranks, themes or quotes.
    pub serious: bool,
    /// `--db-url`: SQLite file for the per-second log.
    pub db: Option<PathBuf>,
    pub prometheus: Option<PrometheusConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveView {
    /// The full-screen TUI (stdout is a terminal).
    Tui,
    /// Periodic status on stderr.
    Progress,
    /// Nothing but the final output.
    Quiet,
}

/// Where the metrics go, from `--prometheus-*` or `[load] prometheus_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusConfig {
    /// `/metrics` listener.
    pub listen: Option<SocketAddr>,
    /// How long `/metrics` stays up after the run, waiting for a scrape of the final figures.
    pub linger: Duration,
    pub push: Option<PushConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushConfig {
    /// Base URL of the Pushgateway, e.g. `http://127.0.0.1:9091`.
    pub url: String,
    pub interval: Duration,
    /// Keep the group on the gateway after the run instead of deleting it.
    pub keep: bool,
}

/// The outputs asked for by the flags over `[load]`.
pub(super) fn build(errs: &mut Vec<PlanError>, args: &Flags, fl: &RawLoad) -> Outputs {
    let format = args.format.as_deref().and_then(|name| {
        let f = Format::from_name(name);
        if f.is_none() {
            errs.push(problem(
                "--format",
                name,
                "give one of json, csv, md, html, junit",
            ));
        }
        f
    });
    let mut files = match output_formats(&args.output, format) {
        Ok(f) => f,
        Err(e) => {
            errs.push(e);
            Vec::new()
        }
    };
    let dashes = files.iter().filter(|(p, _)| is_stdout(p)).count();
    if dashes > 1 || (dashes == 1 && args.json) {
        errs.push(problem(
            "output",
            "-",
            "stdout takes one result: give -o - once, and not with --json (which is -o - in JSON)",
        ));
    }
    let stdout = files.iter().find(|(p, _)| is_stdout(p)).map(|(_, f)| *f);
    files.retain(|(p, _)| !is_stdout(p));
    let prometheus = prometheus_config(errs, args, fl);
    let json_stdout = args.json;
    Outputs {
        files,
        json_stdout,
        stdout,
        live: if json_stdout {
            LiveView::Quiet
        } else if args.no_tui || !std::io::stdout().is_terminal() {
            LiveView::Progress
        } else {
            LiveView::Tui
        },
        serious: args.serious,
        db: args
            .db_url
            .clone()
            .or_else(|| fl.db_url.as_ref().map(|u| u.0.clone()))
            .map(|u| parse_db_url(&u)),
        prometheus,
    }
}

/// `-o -`: stdout, as curl and most tools read it.
fn is_stdout(p: &std::path::Path) -> bool {
    p.as_os_str() == "-"
}

/// `sqlite://PATH`, `sqlite:PATH` or a plain path.
pub fn parse_db_url(text: &str) -> PathBuf {
    let t = text
        .strip_prefix("sqlite://")
        .or_else(|| text.strip_prefix("sqlite:"))
        .unwrap_or(text);
    PathBuf::from(t)
}

/// Pairs each `-o` file with its format: `--format` for a single file, else the extension.
pub fn output_formats(
    files: &[PathBuf],
    format: Option<Format>,
) -> Result<Vec<(PathBuf, Format)>, PlanError> {
    if let Some(f) = format
        && files.len() > 1
    {
        return Err(problem(
            "--format",
            f.name(),
            "applies to a single -o; with several, each file's extension (.json, .csv, .md, .html, .xml) gives its format",
        ));
    }
    files
        .iter()
        .map(|p| match format.or_else(|| Format::from_path(p)) {
            None if is_stdout(p) => Ok((p.clone(), Format::Json)),
            Some(f) => Ok((p.clone(), f)),
            None => Err(problem(
                "output",
                p.display(),
                "unknown format: name it .json, .csv, .md, .html or .xml (JUnit), or give --format json|csv|md|html|junit",
            )),
        })
        .collect()
}

/// `--prometheus-*` over `[load] prometheus_*`; `None` when neither output is asked for.
fn prometheus_config(
    errs: &mut Vec<PlanError>,
    args: &Flags,
    fl: &RawLoad,
) -> Option<PrometheusConfig> {
    let port = match (args.prometheus_port, fl.prometheus_port) {
        (Some(p), _) => Some(p),
        (None, Some(p)) => match u16::try_from(p) {
            Ok(p) => Some(p),
            Err(_) => {
                errs.push(problem(
                    "prometheus_port",
                    p,
                    "a TCP port is 0-65535 (0 picks a free one)",
                ));
                None
            }
        },
        (None, None) => None,
    };
    let bind_s = args
        .prometheus_bind
        .clone()
        .or_else(|| fl.prometheus_bind.as_ref().map(|b| b.0.clone()))
        .unwrap_or_else(|| "127.0.0.1".into());
    let bind: Option<IpAddr> = match bind_s.trim_matches(['[', ']']).parse() {
        Ok(ip) => Some(ip),
        Err(_) => {
            errs.push(problem(
                "prometheus_bind",
                &bind_s,
                "give an IP address, e.g. 127.0.0.1 or ::1",
            ));
            None
        }
    };
    let linger = dur_opt(
        errs,
        "prometheus_linger",
        args.prometheus_linger.as_ref(),
        fl.prometheus_linger.as_ref().map(|s| &s.0),
        Duration::ZERO,
    );
    let interval = dur_opt(
        errs,
        "prometheus_push_interval",
        args.prometheus_push_interval.as_ref(),
        fl.prometheus_push_interval.as_ref().map(|s| &s.0),
        Duration::from_secs(1),
    );
    if interval < Duration::from_millis(100) {
        errs.push(problem(
            "prometheus_push_interval",
            humantime::format_duration(interval),
            "push at most every 100ms, e.g. 1s",
        ));
    }
    let push_url = args
        .prometheus_pushgateway
        .clone()
        .or_else(|| fl.prometheus_pushgateway.as_ref().map(|u| u.0.clone()));
    if let Some(u) = &push_url
        && !u.starts_with("http://")
    {
        errs.push(problem(
            "prometheus_pushgateway",
            u,
            "give an http:// URL with host and port, e.g. http://127.0.0.1:9091",
        ));
    }
    let push = push_url.map(|url| PushConfig {
        url,
        interval,
        keep: args.prometheus_keep || fl.prometheus_keep.unwrap_or(false),
    });
    let listen = port.zip(bind).map(|(p, ip)| SocketAddr::new(ip, p));
    (listen.is_some() || push.is_some()).then_some(PrometheusConfig {
        listen,
        linger,
        push,
    })
}
