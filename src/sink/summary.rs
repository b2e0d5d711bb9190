//! The human summary printed at the end of a run, rendered from [`Results`] alone.

use crate::results::units::{fmt_count, fmt_us};
use crate::results::{LatencyStats, Results};

/// Appends one formatted line to a `String` (which cannot fail, unlike `writeln!`'s signature).
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {{
        $out.push_str(&format!($($arg)*));
        $out.push('\n');
    }};
}

fn fmt_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

fn latency_block(out: &mut String, title: &str, l: &LatencyStats) {
    outln!(out, "{title}");
    if l.count == 0 {
        outln!(out, "  (no samples)");
        return;
    }
    let f = |v: u64| fmt_us(v);
    outln!(
        out,
        "  p50 {:>9}  p75 {:>9}  p90 {:>9}  p95 {:>9}  p99 {:>9}  p99.9 {:>9}",
        f(l.p50),
        f(l.p75),
        f(l.p90),
        f(l.p95),
        f(l.p99),
        f(l.p999)
    );
    outln!(
        out,
        "  min {:>9}  mean {:>8}  max {:>9}  stddev {:>9}",
        f(l.min),
        f(l.mean.round() as u64),
        f(l.max),
        f(l.stddev.round() as u64)
    );
}

/// Renders the summary.
pub fn render(r: &Results, serious: bool) -> String {
    let s = &r.summary;
    let m = &r.metadata;
    let mut out = String::new();
    // The verdict first, when thresholds asked for one: what a CI log reader looks for.
    if let Some((_, text)) = r.verdict() {
        outln!(out, "\n{text}");
    }
    if r.load.replay.is_some() {
        outln!(
            out,
            "\nkaioken {} — replay to {} ({})",
            m.version,
            m.target.url,
            m.target.transport()
        );
    } else if r.scenarios.is_empty() {
        outln!(
            out,
            "\nkaioken {} — {} {} ({})",
            m.version,
            m.target.method,
            m.target.url,
            m.target.transport()
        );
    } else {
        // A mix has no one method: name the origin and how many scenarios share it.
        outln!(
            out,
            "\nkaioken {} — {} scenarios on {} ({})",
            m.version,
            r.scenarios.len(),
            m.target.url,
            m.target.transport()
        );
    }
    outln!(
        out,
        "Load: {} ({} threads)",
        m.load.description,
        m.load.threads
    );
    let l = &r.load;
    if let Some(target) = l.target_rate {
        outln!(
            out,
            "Rate: asked {}/s, sent {}/s ({:.2}%), dropped {}",
            fmt_count(target.round() as u64),
            fmt_count(l.achieved_rate.round() as u64),
            l.achieved_rate / target * 100.0,
            fmt_count(l.dropped_iterations)
        );
    }
    if let Some(rp) = &l.replay {
        outln!(out, "Replay: {}", rp.line());
    }
    // Whether the generator itself limited these numbers.
    if let Some(h) = &r.health {
        outln!(out, "Health: {}", h.line());
    }
    if l.model != "closed" && l.model != "closed_rate" {
        outln!(
            out,
            "VUs:  {} of {} at most; dropped iterations {}",
            l.vus_max_reached,
            l.max_vus,
            fmt_count(l.dropped_iterations)
        );
    }
    out.push('\n');
    outln!(
        out,
        "Requests     {:>14}   in {}",
        fmt_count(s.total_requests),
        s.duration_text()
    );
    if serious {
        outln!(out, "Throughput   {:>14.1} req/s", s.requests_per_sec);
    } else {
        outln!(
            out,
            "Throughput   {:>14.1} req/s   Power level: {}",
            s.requests_per_sec,
            super::style::power_level(s.requests_per_sec)
        );
    }
    outln!(
        out,
        "Successful   {:>14}   Failed {} ({:.2}%)",
        fmt_count(s.successful),
        fmt_count(s.failed),
        s.error_rate * 100.0
    );
    outln!(
        out,
        "Received     {:>14}   Connections opened {}",
        fmt_bytes(s.bytes_received),
        fmt_count(s.connections_opened)
    );
    if s.interrupted > 0 {
        outln!(
            out,
            "Interrupted  {:>14}   (in flight when the graceful stop ended; not counted)",
            fmt_count(s.interrupted)
        );
    }
    out.push('\n');
    let kind = match r.latency_us.kind.as_str() {
        "service_time" => "service time: send → last byte",
        _ => "from intended send time (coordinated-omission corrected)",
    };
    latency_block(&mut out, &format!("Latency ({kind})"), &r.latency_us);
    if r.latency_us.kind != "service_time" || r.schedule_lag_us.count > 0 {
        latency_block(
            &mut out,
            "Service time (actual send → last byte)",
            &r.service_time_us,
        );
    }
    if r.schedule_lag_us.count > 0 {
        latency_block(
            &mut out,
            "Schedule lag (actual − intended send)",
            &r.schedule_lag_us,
        );
    }
    if let Some(m) = &r.messages {
        latency_block(
            &mut out,
            &format!(
                "Time to first message ({} messages, {:.1}/s, {:.2} per reply)",
                fmt_count(m.received),
                m.per_sec,
                m.per_reply
            ),
            &m.time_to_first_us,
        );
        if m.gap_us.count > 0 {
            latency_block(&mut out, "Gap between messages of a reply", &m.gap_us);
        }
        if m.latency_us.count > 0 {
            latency_block(
                &mut out,
                "Message latency (request message k → reply k)",
                &m.latency_us,
            );
        }
    }
    if r.connect_time_us.count > 0 {
        latency_block(&mut out, "Connect time", &r.connect_time_us);
    }
    if r.tls_handshake_us.count > 0 {
        let s = &r.summary;
        latency_block(
            &mut out,
            &format!(
                "TLS handshake ({} handshakes, {} resumed, {:.1}/s)",
                fmt_count(s.tls_handshakes),
                fmt_count(s.tls_resumed),
                s.handshakes_per_sec
            ),
            &r.tls_handshake_us,
        );
    }
    if !r.status_codes.is_empty() {
        outln!(out, "\nStatus codes");
        // gRPC statuses are names of different lengths; HTTP codes are all three digits.
        let w = r.status_codes.keys().map(String::len).max().unwrap_or(3);
        for (code, n) in &r.status_codes {
            outln!(out, "  {code:<w$}  {:>12}", fmt_count(*n));
        }
    }
    if !r.errors.is_empty() {
        outln!(out, "\nErrors");
        for (kind, n) in &r.errors {
            match r.error_reasons.get(kind) {
                Some(why) => outln!(out, "  {kind:<18} {:>12}  {why}", fmt_count(*n)),
                None => outln!(out, "  {kind:<18} {:>12}", fmt_count(*n)),
            }
        }
    }
    if !r.scenarios.is_empty() {
        group_table(
            &mut out,
            "Scenarios",
            r.scenarios.iter().map(|(n, s)| (n.as_str(), &s.stats)),
        );
        for (name, s) in &r.scenarios {
            let failed: Vec<String> = s
                .extraction_failed
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(v, n)| format!("{v} {}", fmt_count(*n)))
                .collect();
            if !failed.is_empty() {
                outln!(out, "  {name}: extraction failed: {}", failed.join(", "));
            }
            if s.missing_values > 0 {
                outln!(
                    out,
                    "  {name}: {} iterations not sent (a value they use was missing)",
                    fmt_count(s.missing_values)
                );
            }
        }
    }
    if !r.tags.is_empty() {
        group_table(
            &mut out,
            "Tags",
            r.tags.iter().map(|(n, s)| (n.as_str(), s)),
        );
    }
    if s.redirects > 0 {
        outln!(out, "\nRedirects followed: {}", fmt_count(s.redirects));
    }
    if !r.checks.is_empty() {
        outln!(out, "\nChecks");
        for c in &r.checks {
            let rate = c
                .pass_rate
                .map_or("   -  ".to_string(), |p| format!("{:6.2}%", p * 100.0));
            // k6's marks: ✓ when every response passed, ✗ otherwise.
            let mark = if c.fails == 0 && c.passes > 0 {
                '✓'
            } else {
                '✗'
            };
            outln!(
                out,
                "  {mark} {rate}  {}  ({} passed, {} failed){}",
                c.name,
                fmt_count(c.passes),
                fmt_count(c.fails),
                if c.name == c.condition {
                    String::new()
                } else {
                    format!("  [{}]", c.condition)
                }
            );
        }
    }
    if !r.thresholds.is_empty() {
        let passed = r.thresholds.iter().filter(|t| t.passed).count();
        outln!(
            out,
            "\nThresholds ({passed} of {} passed)",
            r.thresholds.len()
        );
        for t in &r.thresholds {
            let seen = t.observed_text();
            outln!(
                out,
                "  {} {:<28} observed {seen}",
                if t.passed { "✓ PASS" } else { "✗ FAIL" },
                format!("{} {}", t.name, t.condition)
            );
        }
    }
    if let Some(why) = &s.stopped_by {
        outln!(out, "\nStopped early: {why}");
    }
    out
}

/// One row per scenario or tag: requests, share, rate, errors and latency percentiles.
fn group_table<'a>(
    out: &mut String,
    title: &str,
    rows: impl Iterator<Item = (&'a str, &'a crate::results::GroupStats)>,
) {
    outln!(
        out,
        "\n{title}\n  {:<24} {:>10} {:>6} {:>10} {:>7} {:>9} {:>9} {:>9}",
        "name",
        "requests",
        "share",
        "req/s",
        "errors",
        "p50",
        "p95",
        "p99"
    );
    for (name, g) in rows {
        outln!(
            out,
            "  {:<24} {:>10} {:>5.1}% {:>10.1} {:>6.2}% {:>9} {:>9} {:>9}",
            name,
            fmt_count(g.total_requests),
            g.share * 100.0,
            g.requests_per_sec,
            g.error_rate * 100.0,
            fmt_us(g.latency_us.p50),
            fmt_us(g.latency_us.p95),
            fmt_us(g.latency_us.p99)
        );
    }
}

/// The terminal summary of a capacity search: the answer first, then one line per probe.
pub fn capacity(doc: &crate::results::capacity::CapacityResult) -> String {
    let mut out = String::new();
    out.push_str(&doc.answer.line);
    out.push_str("\n\n");
    let m = &doc.search;
    out.push_str(&format!(
        "  {}\n  SLOs: {}\n  latency: from the intended send time (open model, coordinated-omission corrected)\n\n",
        m.target,
        m.slos.join(", ")
    ));
    for p in &doc.probes {
        out.push_str(&format!("  probe {:>2}: {}\n", p.index, p.line()));
    }
    if let Some(proof) = doc.proof() {
        let h = proof
            .result
            .health
            .as_ref()
            .map(|h| h.line())
            .unwrap_or_default();
        out.push_str(&format!("\n  {h}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(1234567), "1,234,567");
        assert_eq!(fmt_us(999), "999µs");
        assert_eq!(fmt_us(1500), "1.50ms");
        assert_eq!(fmt_us(2_500_000), "2.50s");
        assert_eq!(fmt_bytes(2048), "2.00 KiB");
    }
}
