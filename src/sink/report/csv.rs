//! CSV (RFC 4180 fields: a header row, quoting where needed, dot decimals; `\n` line ends,
//! which every spreadsheet reads). The columns are documented in README.md; the summary file
//! names its schema (`kaioken.summary.csv/v1`) in its first row.

use std::fmt::Write;

use crate::results::Results;

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One row per second of the run.
pub fn timeline(r: &Results) -> String {
    let mut out = String::from(
        "second,requests,errors,rps,p50_us,p90_us,p99_us,max_us,vus,dropped,target_rate\n",
    );
    let target = r
        .load
        .target_rate
        .map_or(String::new(), |t| format!("{t:.3}"));
    for s in &r.timeline {
        // Writing to a String cannot fail.
        let _infallible = writeln!(
            out,
            "{},{},{},{:.3},{},{},{},{},{},{},{}",
            s.second,
            s.requests,
            s.errors,
            s.rps,
            s.p50_us,
            s.p90_us,
            s.p99_us,
            s.max_us,
            s.vus,
            s.dropped,
            target
        );
    }
    out
}

/// `metric,value` rows: the summary, latency figures, status codes and errors.
pub fn summary(r: &Results) -> String {
    let s = &r.summary;
    let mut rows: Vec<(String, String)> = vec![
        ("schema".into(), "kaioken.summary.csv/v1".into()),
        ("url".into(), r.metadata.target.url.clone()),
        ("method".into(), r.metadata.target.method.clone()),
        ("model".into(), r.load.model.clone()),
        ("latency_kind".into(), r.latency_us.kind.clone()),
        ("started_at".into(), r.metadata.started_at.clone()),
        ("total_requests".into(), s.total_requests.to_string()),
        ("successful".into(), s.successful.to_string()),
        ("failed".into(), s.failed.to_string()),
        ("error_rate".into(), format!("{:.6}", s.error_rate)),
        (
            "requests_per_sec".into(),
            format!("{:.3}", s.requests_per_sec),
        ),
        ("duration_secs".into(), format!("{:.3}", s.duration_secs)),
        ("paused_secs".into(), format!("{:.3}", s.paused_secs)),
        (
            "generator".into(),
            r.health
                .as_ref()
                .map_or(String::new(), |h| h.verdict.clone()),
        ),
        (
            "worker_cpu_max".into(),
            r.health
                .as_ref()
                .map_or(String::new(), |h| format!("{:.3}", h.worker_cpu_max)),
        ),
        ("bytes_received".into(), s.bytes_received.to_string()),
        (
            "dropped_iterations".into(),
            s.dropped_iterations.to_string(),
        ),
        (
            "replay_records".into(),
            r.load
                .replay
                .as_ref()
                .map_or(String::new(), |rp| rp.records.to_string()),
        ),
        (
            "replay_bad_lines".into(),
            r.load
                .replay
                .as_ref()
                .map_or(String::new(), |rp| rp.bad_lines.to_string()),
        ),
        (
            "replay_out_of_order".into(),
            r.load
                .replay
                .as_ref()
                .map_or(String::new(), |rp| rp.out_of_order.to_string()),
        ),
    ];
    let l = &r.latency_us;
    for (k, v) in [
        ("min", l.min),
        ("p50", l.p50),
        ("p75", l.p75),
        ("p90", l.p90),
        ("p95", l.p95),
        ("p99", l.p99),
        ("p999", l.p999),
        ("max", l.max),
    ] {
        rows.push((format!("latency_{k}_us"), v.to_string()));
    }
    rows.push(("latency_mean_us".into(), format!("{:.3}", l.mean)));
    for (code, n) in &r.status_codes {
        rows.push((format!("status_{code}"), n.to_string()));
    }
    for (kind, n) in &r.errors {
        rows.push((format!("error_{kind}"), n.to_string()));
    }
    for c in &r.checks {
        rows.push((format!("check {} passes", c.name), c.passes.to_string()));
        rows.push((format!("check {} fails", c.name), c.fails.to_string()));
    }
    for t in &r.thresholds {
        let verdict = if t.passed { "pass" } else { "fail" };
        rows.push((
            format!("threshold {} {}", t.name, t.condition),
            verdict.to_string(),
        ));
    }
    let mut out = String::from("metric,value\n");
    for (k, v) in rows {
        out.push_str(&field(&k));
        out.push(',');
        out.push_str(&field(&v));
        out.push('\n');
    }
    out
}
