//! The HTML report: one self-contained file (inline CSS, inline SVG, a few lines of script
//! for the theme switch; nothing fetched), readable offline, light or dark.

use std::fmt::Write;

use super::svg::{self, Axis, Series};
use crate::results::units::{fmt_count, fmt_us};
use crate::results::{LatencyStats, Results, histogram_codec};

pub(super) const STYLE: &str = r#"
:root{--bg:#fbfbfd;--fg:#1d1f24;--muted:#646a76;--card:#fff;--line:#e3e5ea;--c1:#2563eb;--c2:#d97706;--c3:#dc2626;--c4:#059669;--c5:#7c3aed;--ok:#059669;--bad:#dc2626}
@media (prefers-color-scheme: dark){:root:not([data-theme=light]){--bg:#111318;--fg:#e6e8ee;--muted:#9aa1ad;--card:#1a1d24;--line:#2c303a;--c1:#60a5fa;--c2:#fbbf24;--c3:#f87171;--c4:#34d399;--c5:#a78bfa;--ok:#34d399;--bad:#f87171}}
:root[data-theme=dark]{--bg:#111318;--fg:#e6e8ee;--muted:#9aa1ad;--card:#1a1d24;--line:#2c303a;--c1:#60a5fa;--c2:#fbbf24;--c3:#f87171;--c4:#34d399;--c5:#a78bfa;--ok:#34d399;--bad:#f87171}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px}h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 10px}
.muted{color:var(--muted)}.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin-top:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}.card b{display:block;font-size:20px}
.charts{display:grid;align-items:start;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:14px}
.chart{margin:0;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px}
figcaption{font-weight:600;margin-bottom:4px}svg{width:100%;height:auto;display:block}
.grid{stroke:var(--line);stroke-width:1}.tick{fill:var(--muted);font-size:11px}.axis{fill:var(--muted);font-size:12px}
.legend{display:flex;gap:14px;flex-wrap:wrap;color:var(--muted);font-size:12px}.legend i{display:inline-block;width:12px;height:3px;margin-right:5px;vertical-align:middle}
table{border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:8px;min-width:50%}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:right}th:first-child,td:first-child{text-align:left}
.pass{color:var(--ok);font-weight:600}.fail{color:var(--bad);font-weight:600}
.verdict{margin:12px 0;padding:10px 14px;border-radius:6px;color:#fff;font-weight:600}.verdict.ok{background:var(--ok)}.verdict.bad{background:var(--bad)}
button{float:right;background:var(--card);color:var(--fg);border:1px solid var(--line);border-radius:6px;padding:4px 10px;cursor:pointer}
"#;

pub(super) const SCRIPT: &str = r#"
document.getElementById('theme').addEventListener('click',function(){var r=document.documentElement;var dark=r.dataset.theme?r.dataset.theme==='dark':matchMedia('(prefers-color-scheme: dark)').matches;r.dataset.theme=dark?'light':'dark';});
"#;

pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page up to `<main>`: the offline-only security policy, the generator, the title and
/// the inline style, shared by every HTML report.
pub(super) fn head(out: &mut String, version: &str, schema: &str, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\
         <meta name=\"generator\" content=\"kaioken {} ({})\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>",
        esc(version),
        esc(schema),
        esc(title)
    );
}

pub(super) fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.1}s", v / 1000.0)
    } else if v >= 10.0 || v == 0.0 {
        format!("{v:.0}ms")
    } else {
        format!("{v:.1}ms")
    }
}

fn secs(v: f64) -> String {
    format!("{v:.0}s")
}

fn count(v: f64) -> String {
    fmt_count(v.round() as u64)
}

fn card(out: &mut String, label: &str, value: &str) {
    let _ = write!(
        out,
        "<div class=\"card\"><span class=\"muted\">{}</span><b>{}</b></div>",
        esc(label),
        esc(value)
    );
}

fn latency_row(out: &mut String, name: &str, l: &LatencyStats) {
    if l.count == 0 {
        return;
    }
    let _ = write!(
        out,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        esc(name),
        fmt_us(l.min),
        fmt_us(l.p50),
        fmt_us(l.p75),
        fmt_us(l.p90),
        fmt_us(l.p95),
        fmt_us(l.p99),
        fmt_us(l.p999),
        fmt_us(l.max),
        fmt_us(l.mean.round() as u64)
    );
}

/// The percentile spectrum, HdrHistogram style: x is −log10(1 − q), so 90%, 99%, 99.9% …
/// are evenly spaced and the tail is as wide as the body.
fn spectrum(encoded: &str) -> Vec<(f64, f64)> {
    let Ok(h) = histogram_codec::decode(encoded) else {
        return Vec::new();
    };
    if h.is_empty() {
        return Vec::new();
    }
    h.iter_quantiles(5)
        .map(|v| (v.quantile_iterated_to(), v.value_iterated_to()))
        .filter(|(q, _)| *q < 0.99999)
        .map(|(q, v)| (-(1.0 - q).log10(), v as f64 / 1000.0))
        .collect()
}

pub fn render(r: &Results) -> String {
    let m = &r.metadata;
    let s = &r.summary;
    let mut out = String::with_capacity(64 * 1024);
    head(
        &mut out,
        &m.version,
        &r.schema,
        &format!("kaioken: {} {}", m.target.method, m.target.url),
    );
    let _ = write!(
        out,
        "<button id=\"theme\" type=\"button\">light / dark</button>\
         <h1>{} {}</h1><div class=\"muted\">{} · {} · {} → {} · kaioken {}</div>",
        esc(&m.target.method),
        esc(&m.target.url),
        esc(&m.load.description),
        esc(&m.target.transport()),
        esc(&m.started_at),
        esc(&m.ended_at),
        esc(&m.version)
    );
    // The verdict first: a coloured banner naming what failed, before any figure.
    if let Some((passed, text)) = r.verdict() {
        let class = if passed { "ok" } else { "bad" };
        let _ = write!(
            out,
            "<div class=\"verdict {class}\" data-verdict=\"{}\">{}</div>",
            if passed { "pass" } else { "fail" },
            esc(&text)
        );
    }
    let latency_label = if r.latency_us.kind == "service_time" {
        "service time"
    } else {
        "from intended send (corrected)"
    };

    out.push_str("<div class=\"cards\">");
    card(&mut out, "requests", &fmt_count(s.total_requests));
    card(
        &mut out,
        "requests/s",
        &format!("{:.1}", s.requests_per_sec),
    );
    card(
        &mut out,
        "error rate",
        &format!("{:.2}%", s.error_rate * 100.0),
    );
    card(&mut out, "p50", &fmt_us(r.latency_us.p50));
    card(&mut out, "p99", &fmt_us(r.latency_us.p99));
    card(&mut out, "p99.9", &fmt_us(r.latency_us.p999));
    if let Some(t) = r.load.target_rate {
        card(
            &mut out,
            "target → achieved",
            &format!("{t:.0} → {:.0}/s", r.load.achieved_rate),
        );
    }
    if s.dropped_iterations > 0 {
        card(&mut out, "dropped", &fmt_count(s.dropped_iterations));
    }
    out.push_str("</div>");
    let _ = write!(
        out,
        "<p class=\"muted\">Latency is measured {latency_label}.{}</p>",
        s.stopped_by
            .as_ref()
            .map(|w| format!(" Stopped early: {}.", esc(w)))
            .unwrap_or_default()
    );

    // Charts.
    let t = &r.timeline;
    let time = Axis {
        label: "seconds",
        ticks: vec![],
        format: secs,
    };
    out.push_str("<h2>Over time</h2><div class=\"charts\">");
    let at = |f: fn(&crate::results::Second) -> f64| -> Vec<(f64, f64)> {
        t.iter().map(|s| (s.second as f64, f(s))).collect()
    };
    out.push_str(&svg::line_chart(
        "latency-over-time",
        &format!("Latency per second ({latency_label})"),
        &time,
        &Axis {
            label: "ms",
            ticks: vec![],
            format: ms,
        },
        &[
            Series {
                name: "p50",
                color: "var(--c1)",
                points: at(|s| s.p50_us as f64 / 1000.0),
            },
            Series {
                name: "p90",
                color: "var(--c2)",
                points: at(|s| s.p90_us as f64 / 1000.0),
            },
            Series {
                name: "p99",
                color: "var(--c3)",
                points: at(|s| s.p99_us as f64 / 1000.0),
            },
        ],
    ));
    out.push_str(&svg::line_chart(
        "rps-over-time",
        "Requests and errors per second",
        &time,
        &Axis {
            label: "per second",
            ticks: vec![],
            format: count,
        },
        &[
            Series {
                name: "requests/s",
                color: "var(--c1)",
                points: at(|s| s.rps),
            },
            Series {
                name: "errors/s",
                color: "var(--c3)",
                points: at(|s| s.errors as f64),
            },
        ],
    ));
    out.push_str("</div><h2>Latency distribution</h2><div class=\"charts\">");
    let spectrum_ticks = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
        .map(|(i, l)| (i as f64, l.to_string()))
        .collect();
    let mut spectra = vec![Series {
        name: latency_label,
        color: "var(--c5)",
        points: spectrum(&r.histograms.latency),
    }];
    if r.latency_us.kind != "service_time" {
        spectra.push(Series {
            name: "service time",
            color: "var(--c4)",
            points: spectrum(&r.histograms.service_time),
        });
    }
    out.push_str(&svg::line_chart(
        "percentile-spectrum",
        "Latency by percentile (HdrHistogram)",
        &Axis {
            label: "percentile",
            ticks: spectrum_ticks,
            format: secs,
        },
        &Axis {
            label: "ms",
            ticks: vec![],
            format: ms,
        },
        &spectra,
    ));
    let mut bars: Vec<(String, u64, &str)> = r
        .status_codes
        .iter()
        .map(|(code, n)| {
            let color = match code.as_bytes().first() {
                Some(b'2') => "var(--c4)",
                Some(b'3') => "var(--c1)",
                Some(b'4') => "var(--c2)",
                _ => "var(--c3)",
            };
            (format!("HTTP {code}"), *n, color)
        })
        .collect();
    bars.extend(r.errors.iter().map(|(k, n)| (k.clone(), *n, "var(--c3)")));
    if !bars.is_empty() {
        out.push_str(&svg::bar_chart(
            "outcomes",
            "Status codes and errors",
            &bars,
        ));
    }
    for (kind, why) in &r.error_reasons {
        out.push_str(&format!("<p><b>{}</b>: {}</p>", esc(kind), esc(why)));
    }
    out.push_str("</div>");

    // Tables.
    out.push_str("<h2>Latency</h2><table><tr><th></th><th>min</th><th>p50</th><th>p75</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th><th>mean</th></tr>");
    latency_row(
        &mut out,
        &format!("latency ({latency_label})"),
        &r.latency_us,
    );
    if r.latency_us.kind != "service_time" {
        latency_row(&mut out, "service time", &r.service_time_us);
    }
    latency_row(&mut out, "time to first byte", &r.ttfb_us);
    if let Some(m) = &r.messages {
        latency_row(
            &mut out,
            &format!(
                "time to first message ({} messages, {:.1}/s, {:.2} per reply)",
                m.received, m.per_sec, m.per_reply
            ),
            &m.time_to_first_us,
        );
        if m.gap_us.count > 0 {
            latency_row(&mut out, "gap between messages of a reply", &m.gap_us);
        }
        if m.latency_us.count > 0 {
            latency_row(
                &mut out,
                "message latency (request k → reply k)",
                &m.latency_us,
            );
        }
    }
    latency_row(&mut out, "connect", &r.connect_time_us);
    latency_row(
        &mut out,
        &format!(
            "TLS handshake ({} resumed of {}, {:.1}/s)",
            r.summary.tls_resumed, r.summary.tls_handshakes, r.summary.handshakes_per_sec
        ),
        &r.tls_handshake_us,
    );
    latency_row(&mut out, "schedule lag", &r.schedule_lag_us);
    out.push_str("</table>");

    if !r.checks.is_empty() {
        out.push_str("<h2>Checks</h2><table data-table=\"checks\"><tr><th>check</th><th>condition</th><th>passed</th><th>failed</th><th>pass rate</th></tr>");
        for c in &r.checks {
            let class = if c.fails == 0 { "pass" } else { "fail" };
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td></tr>",
                esc(&c.name),
                esc(&c.condition),
                fmt_count(c.passes),
                fmt_count(c.fails),
                c.pass_rate
                    .map_or("-".to_string(), |p| format!("{:.2}%", p * 100.0))
            );
        }
        out.push_str("</table>");
    }
    if !r.thresholds.is_empty() {
        out.push_str("<h2>Thresholds</h2><table data-table=\"thresholds\"><tr><th>threshold</th><th>condition</th><th>observed</th><th>result</th></tr>");
        for th in &r.thresholds {
            let seen = th.observed_text();
            let (class, word) = if th.passed {
                ("pass", "pass")
            } else {
                ("fail", "FAIL")
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{word}</td></tr>",
                esc(&th.name),
                esc(&th.condition),
                esc(&seen)
            );
        }
        out.push_str("</table>");
    }

    out.push_str("<h2>Run</h2><table>");
    let rows: [(&str, String); 14] = [
        ("model", r.load.model.clone()),
        (
            "replay",
            r.load
                .replay
                .as_ref()
                .map_or("—".to_string(), |rp| rp.line()),
        ),
        ("latency measure", r.load.latency.clone()),
        ("successful", fmt_count(s.successful)),
        ("failed", fmt_count(s.failed)),
        ("duration", s.duration_text()),
        (
            "generator health",
            r.health
                .as_ref()
                .map_or("not measured".to_string(), |h| h.line()),
        ),
        ("bytes received", fmt_count(s.bytes_received)),
        ("connections opened", fmt_count(s.connections_opened)),
        ("max VUs reached", fmt_count(r.load.vus_max_reached)),
        ("threads", m.load.threads.to_string()),
        ("timeout", format!("{}s", m.load.timeout_secs)),
        (
            "host",
            format!(
                "{} ({} {}, {} CPUs)",
                m.host.hostname, m.host.os, m.host.arch, m.host.cpus
            ),
        ),
        ("schema", r.schema.clone()),
    ];
    for (k, v) in rows {
        let _ = write!(out, "<tr><td>{}</td><td>{}</td></tr>", esc(k), esc(&v));
    }
    for (name, value) in &m.target.headers {
        let _ = write!(
            out,
            "<tr><td>header {}</td><td>{}</td></tr>",
            esc(name),
            esc(value)
        );
    }
    out.push_str("</table>");
    let _ = writeln!(out, "</main><script>{SCRIPT}</script></body></html>");
    out
}
