//! Every output format for a capacity search, each rendered from the
//! `kaioken.capacity/v1` document alone (so `kaioken report` reproduces it), each leading with
//! the answer's sentence.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use quick_xml::escape::escape;

use super::html::{SCRIPT, esc, head, ms};
use super::svg::{self, Axis, Series};
use crate::plan::Format;
use crate::results::capacity::{CapacityResult, rate_text};
use crate::results::units::fmt_us;
use crate::results::{ResultsError, atomic_write};

/// The files one output asks for.
pub fn render(format: Format, path: &Path, doc: &CapacityResult) -> Vec<(PathBuf, Vec<u8>)> {
    let body = match format {
        Format::Json => doc.to_json(),
        Format::Md => markdown(doc),
        Format::Html => html(doc),
        Format::Junit => junit(doc),
        Format::Csv => csv(doc),
    };
    vec![(path.to_path_buf(), body.into_bytes())]
}

/// Writes every requested output atomically.
pub fn write_all(files: &[(PathBuf, Format)], doc: &CapacityResult) -> Result<(), ResultsError> {
    for (path, format) in files {
        for (p, bytes) in render(*format, path, doc) {
            atomic_write::write(&p, &bytes)?;
        }
    }
    Ok(())
}

fn verdict_word(doc: &CapacityResult) -> &'static str {
    match doc.answer.outcome.as_str() {
        "found" | "at_least_max" => "passed",
        _ => "failed",
    }
}

/// One row per probe: rate, verdict, latency, errors and why it failed.
fn csv(doc: &CapacityResult) -> String {
    let mut out = String::from(
        "probe,rate_rps,confirm,passed,sent_rps,p50_us,p99_us,error_rate,dropped,generator,reasons\n",
    );
    for p in &doc.probes {
        let s = &p.result.summary;
        let reasons = p.reasons.join("; ").replace('"', "\"\"");
        let _ = writeln!(
            out,
            "{},{},{},{},{:.2},{},{},{:.6},{},{},\"{}\"",
            p.index,
            p.rate_rps,
            p.confirm,
            p.passed,
            p.result.load.achieved_rate,
            p.result.latency_us.p50,
            p.result.latency_us.p99,
            s.error_rate,
            s.dropped_iterations,
            if p.generator.is_some() {
                "limited"
            } else {
                "ok"
            },
            reasons
        );
    }
    out
}

fn markdown(doc: &CapacityResult) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "**{}**: {}\n", verdict_word(doc), doc.answer.line);
    let m = &doc.search;
    let _ = writeln!(out, "## kaioken capacity: {}\n", m.target);
    let _ = writeln!(
        out,
        "SLOs: {}; probes of {:.0}s after {:.0}s warmup, bracket within {:.0}%; latency from the intended send time. {} → {}\n",
        m.slos.join(", "),
        m.probe_secs,
        m.warmup_secs,
        m.tolerance * 100.0,
        m.started_at,
        m.ended_at
    );
    out.push_str("| # | rate (req/s) | verdict | p50 | p99 | errors | why |\n|---:|---:|---|---:|---:|---:|---|\n");
    for p in &doc.probes {
        let verdict = match (&p.generator, p.passed) {
            (Some(_), _) => "generator-limited",
            (None, true) => "pass",
            (None, false) => "fail",
        };
        let confirm = if p.confirm { " (confirm)" } else { "" };
        let why = p
            .generator
            .clone()
            .unwrap_or_else(|| p.reasons.join("; "))
            .replace('|', "\\|");
        let _ = writeln!(
            out,
            "| {} | {}{confirm} | {verdict} | {} | {} | {:.2}% | {why} |",
            p.index,
            rate_text(p.rate_rps),
            fmt_us(p.result.latency_us.p50),
            fmt_us(p.result.latency_us.p99),
            p.result.summary.error_rate * 100.0,
        );
    }
    out
}

/// JUnit: one test case, the search's verdict, so CI lists it beside thresholds.
fn junit(doc: &CapacityResult) -> String {
    let failure = match doc.answer.outcome.as_str() {
        "found" | "at_least_max" => match (doc.search.min_capacity_rps, doc.answer.sustained_rps) {
            (Some(min), Some(got)) if got < min => Some(format!(
                "{} (below --min-capacity {})",
                doc.answer.line,
                rate_text(min)
            )),
            _ => None,
        },
        _ => Some(doc.answer.line.clone()),
    };
    let name = match doc.search.min_capacity_rps {
        Some(min) => format!("capacity at least {} req/s", rate_text(min)),
        None => "capacity found".to_string(),
    };
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"kaioken\">\n");
    let _ = writeln!(
        out,
        "  <testsuite name=\"kaioken.capacity\" tests=\"1\" failures=\"{}\" errors=\"0\" skipped=\"0\" timestamp=\"{}\">",
        u8::from(failure.is_some()),
        escape(doc.search.started_at.trim_end_matches('Z'))
    );
    let head = format!(
        "    <testcase classname=\"kaioken.capacity\" name=\"{}\" time=\"0\"",
        escape(&name)
    );
    match failure {
        None => {
            let _ = writeln!(
                out,
                "{head}>\n      <system-out>{}</system-out>\n    </testcase>",
                escape(&doc.answer.line)
            );
        }
        Some(m) => {
            let _ = writeln!(
                out,
                "{head}>\n      <failure message=\"{m}\" type=\"capacity\">{m}</failure>\n    </testcase>",
                m = escape(&m)
            );
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn html(doc: &CapacityResult) -> String {
    let m = &doc.search;
    let mut out = String::with_capacity(32 * 1024);
    head(
        &mut out,
        &m.version,
        &doc.schema,
        &format!("kaioken capacity: {}", m.target),
    );
    let _ = write!(
        out,
        "<button id=\"theme\" type=\"button\">light / dark</button>\
         <h1>Capacity: {}</h1><div class=\"muted\">SLOs {} · probes of {:.0}s after {:.0}s warmup · latency from the intended send time · {} → {} · kaioken {}</div>",
        esc(&m.target),
        esc(&m.slos.join(", ")),
        m.probe_secs,
        m.warmup_secs,
        esc(&m.started_at),
        esc(&m.ended_at),
        esc(&m.version)
    );
    let ok = verdict_word(doc) == "passed";
    let _ = write!(
        out,
        "<div class=\"verdict {}\" data-verdict=\"{}\" data-outcome=\"{}\">{}</div>",
        if ok { "ok" } else { "bad" },
        if ok { "pass" } else { "fail" },
        esc(&doc.answer.outcome),
        esc(&doc.answer.line)
    );

    // Rate against latency and errors, one point per rate (the latest probe at a rate, as
    // the search judged it), sorted by rate.
    let mut by_rate: Vec<&crate::results::capacity::Probe> = Vec::new();
    for p in &doc.probes {
        by_rate.retain(|q| q.rate_rps != p.rate_rps);
        by_rate.push(p);
    }
    by_rate.sort_by(|a, b| a.rate_rps.total_cmp(&b.rate_rps));
    let x_max = by_rate.last().map_or(1.0, |p| p.rate_rps);
    let point = |f: &dyn Fn(&crate::results::capacity::Probe) -> f64| -> Vec<(f64, f64)> {
        by_rate.iter().map(|p| (p.rate_rps, f(p))).collect()
    };
    let p50 = point(&|p| p.result.latency_us.p50 as f64 / 1000.0);
    let p99 = point(&|p| p.result.latency_us.p99 as f64 / 1000.0);
    let y_top = p99.iter().map(|p| p.1).fold(0.0, f64::max);
    let mut series = vec![
        Series {
            name: "p50",
            color: "var(--c1)",
            points: p50,
        },
        Series {
            name: "p99",
            color: "var(--c2)",
            points: p99,
        },
    ];
    // The latency SLOs as horizontal lines; the knee (the answer) as a vertical one.
    let slo_lines: Vec<(String, f64)> = doc
        .probes
        .first()
        .map(|p| {
            p.slos
                .iter()
                .filter(|t| t.unit == "ms")
                .filter_map(|t| {
                    t.condition
                        .trim_start_matches(['<', '=', ' '])
                        .split_whitespace()
                        .next()?
                        .parse()
                        .ok()
                        .map(|v: f64| (format!("SLO {} {}", t.name, t.condition), v))
                })
                .collect()
        })
        .unwrap_or_default();
    let knee = doc.answer.sustained_rps;
    let top = slo_lines.iter().map(|s| s.1).fold(y_top, f64::max);
    for (name, v) in &slo_lines {
        series.push(Series {
            name,
            color: "var(--c3)",
            points: vec![(0.0, *v), (x_max, *v)],
        });
    }
    if let Some(k) = knee {
        series.push(Series {
            name: "sustained rate",
            color: "var(--c4)",
            points: vec![(k, 0.0), (k, top)],
        });
    }
    let rate_axis = Axis {
        label: "rate (req/s)",
        ticks: Vec::new(),
        format: |v| rate_text(v),
    };
    out.push_str("<h2>Latency against rate</h2><div class=\"charts\">");
    out.push_str(&svg::line_chart(
        "capacity-latency",
        "p50 and p99 latency by probe rate",
        &rate_axis,
        &Axis {
            label: "latency",
            ticks: Vec::new(),
            format: ms,
        },
        &series,
    ));
    let mut err_series = vec![Series {
        name: "error rate",
        color: "var(--c3)",
        points: point(&|p| p.result.summary.error_rate * 100.0),
    }];
    if let Some(k) = knee {
        let top = err_series[0].points.iter().map(|p| p.1).fold(1.0, f64::max);
        err_series.push(Series {
            name: "sustained rate",
            color: "var(--c4)",
            points: vec![(k, 0.0), (k, top)],
        });
    }
    out.push_str(&svg::line_chart(
        "capacity-errors",
        "error rate by probe rate",
        &rate_axis,
        &Axis {
            label: "errors (%)",
            ticks: Vec::new(),
            format: |v| format!("{v:.1}%"),
        },
        &err_series,
    ));
    out.push_str("</div><h2>Probes</h2><table><tr><th>#</th><th>rate (req/s)</th><th>verdict</th><th>sent (req/s)</th><th>p50</th><th>p99</th><th>errors</th><th>why</th></tr>");
    for p in &doc.probes {
        let (class, word) = match (&p.generator, p.passed) {
            (Some(_), _) => ("fail", "generator-limited"),
            (None, true) => ("pass", "pass"),
            (None, false) => ("fail", "fail"),
        };
        let why = p.generator.clone().unwrap_or_else(|| p.reasons.join("; "));
        let _ = write!(
            out,
            "<tr data-probe=\"{}\"><td>{}</td><td>{}{}</td><td class=\"{class}\">{word}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{:.2}%</td><td>{}</td></tr>",
            p.index,
            p.index,
            esc(&rate_text(p.rate_rps)),
            if p.confirm { " (confirm)" } else { "" },
            p.result.load.achieved_rate,
            fmt_us(p.result.latency_us.p50),
            fmt_us(p.result.latency_us.p99),
            p.result.summary.error_rate * 100.0,
            esc(&why)
        );
    }
    let _ = write!(
        out,
        "</table></main><script>{SCRIPT}</script></body></html>"
    );
    out
}
