//! The three faces of a comparison: a terminal table, a Markdown table for a pull-request
//! comment, and JSON for scripts. All read the same [`Comparison`].

use super::{Comparison, Row, Side, Verdict};
use crate::results::units::{fmt_count, fmt_us};

fn value(row: &Row, v: f64) -> String {
    match row.unit {
        "us" => fmt_us(v.round() as u64),
        "req/s" => format!("{v:.1}"),
        _ => format!("{:.2}%", v * 100.0),
    }
}

fn delta(row: &Row) -> String {
    match row.delta_pct {
        Some(d) => format!("{d:+.1}%"),
        None if row.verdict == Verdict::Info => "-".to_string(),
        None if row.current == 0.0 => "0".to_string(),
        None => "new".to_string(),
    }
}

fn limit(row: &Row) -> String {
    match (row.limit_pct, row.metric) {
        (None, _) => "-".to_string(),
        (Some(l), "rps") => format!("-{l}%"),
        (Some(l), _) => format!("+{l}%"),
    }
}

fn noise(row: &Row) -> &'static str {
    if row.significant {
        "significant"
    } else {
        "within noise"
    }
}

fn side_line(name: &str, s: &Side) -> String {
    format!(
        "{name:<9} {}  {}  {} requests in {:.1}s  [{}; latency: {}]  {}",
        s.file,
        s.started_at,
        fmt_count(s.requests),
        s.duration_secs,
        s.description,
        s.latency,
        s.target
    )
}

pub fn text(c: &Comparison) -> String {
    let mut out = String::new();
    out.push_str(&side_line("baseline", &c.baseline));
    out.push('\n');
    out.push_str(&side_line("current", &c.current));
    out.push_str("\n\n");
    // The metric column fits the longest name (message rows are longer than p99's).
    let w = c
        .rows
        .iter()
        .map(|r| r.metric.len())
        .max()
        .unwrap_or(0)
        .max(11);
    out.push_str(&format!(
        "{:<w$} {:>12} {:>12} {:>9} {:>7}  {:<13} {}\n",
        "metric", "baseline", "current", "delta", "limit", "change is", "verdict"
    ));
    for row in &c.rows {
        out.push_str(&format!(
            "{:<w$} {:>12} {:>12} {:>9} {:>7}  {:<13} {}\n",
            row.metric,
            value(row, row.baseline),
            value(row, row.current),
            delta(row),
            limit(row),
            noise(row),
            row.verdict.label()
        ));
    }
    out.push('\n');
    out.push_str(&verdict_line(c));
    out.push('\n');
    out
}

fn verdict_line(c: &Comparison) -> String {
    let noisy = c
        .rows
        .iter()
        .filter(|r| r.verdict == Verdict::WithinNoise)
        .count();
    match (c.regressions, noisy) {
        (0, 0) => "No regressions.".to_string(),
        (0, n) => format!(
            "No regressions ({n} change(s) past a limit but within the runs' noise; run longer to decide)."
        ),
        (n, _) => {
            let names: Vec<&str> = c
                .rows
                .iter()
                .filter(|r| r.verdict == Verdict::Regression)
                .map(|r| r.metric)
                .collect();
            format!("{n} regression(s): {}.", names.join(", "))
        }
    }
}

pub fn markdown(c: &Comparison) -> String {
    let mut out = String::from("## kaioken compare\n\n");
    out.push_str("| | file | started | requests | load | latency |\n|---|---|---|---:|---|---|\n");
    for (name, s) in [("baseline", &c.baseline), ("current", &c.current)] {
        out.push_str(&format!(
            "| {name} | `{}` | {} | {} | {} | {} |\n",
            s.file.replace('|', "\\|"),
            s.started_at,
            fmt_count(s.requests),
            s.description.replace('|', "\\|"),
            s.latency
        ));
    }
    out.push_str("\n| metric | baseline | current | delta | limit | change is | verdict |\n");
    out.push_str("|---|---:|---:|---:|---:|---|---|\n");
    for row in &c.rows {
        let verdict = match row.verdict {
            Verdict::Regression => "**REGRESSION**".to_string(),
            v => v.label().to_string(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            row.metric,
            value(row, row.baseline),
            value(row, row.current),
            delta(row),
            limit(row),
            noise(row),
            verdict
        ));
    }
    out.push('\n');
    out.push_str(&verdict_line(c));
    out.push('\n');
    out
}

pub fn json(c: &Comparison) -> String {
    serde_json::to_string_pretty(c).expect("comparison serializes")
}
