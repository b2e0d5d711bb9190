//! Markdown summary tables, pasteable into a pull-request comment.

use crate::results::units::fmt_us;
use crate::results::{LatencyStats, Results};

fn push(out: &mut String, line: &str) {
    out.push_str(line);
    out.push('\n');
}

pub fn render(r: &Results) -> String {
    let s = &r.summary;
    let m = &r.metadata;
    let mut out = String::new();
    // The verdict leads, so a pull-request comment says it before any table.
    if let Some((_, text)) = r.verdict() {
        let (word, rest) = text.split_once(':').unwrap_or((&text, ""));
        push(&mut out, &format!("**{word}**:{rest}"));
        push(&mut out, "");
    }
    push(
        &mut out,
        &format!("## kaioken: {} {}", m.target.method, m.target.url),
    );
    push(&mut out, "");
    push(
        &mut out,
        &format!(
            "{} ({}), {} → {}",
            m.load.description,
            m.target.transport(),
            m.started_at,
            m.ended_at
        ),
    );
    push(&mut out, "");
    if let Some(h) = &r.health {
        push(&mut out, &format!("Health: {}", h.line()));
        push(&mut out, "");
    }
    if let Some(rp) = &r.load.replay {
        push(&mut out, &format!("Replay: {}", rp.line()));
        push(&mut out, "");
    }
    push(
        &mut out,
        "| requests | req/s | successful | failed | error rate | dropped | duration |",
    );
    push(&mut out, "|---:|---:|---:|---:|---:|---:|---:|");
    push(
        &mut out,
        &format!(
            "| {} | {:.1} | {} | {} | {:.2}% | {} | {} |",
            s.total_requests,
            s.requests_per_sec,
            s.successful,
            s.failed,
            s.error_rate * 100.0,
            s.dropped_iterations,
            s.duration_text()
        ),
    );
    push(&mut out, "");
    push(
        &mut out,
        "| latency | p50 | p75 | p90 | p95 | p99 | p99.9 | max | mean |",
    );
    push(&mut out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let row = |name: &str, l: &LatencyStats| {
        format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
            fmt_us(l.p50),
            fmt_us(l.p75),
            fmt_us(l.p90),
            fmt_us(l.p95),
            fmt_us(l.p99),
            fmt_us(l.p999),
            fmt_us(l.max),
            fmt_us(l.mean.round() as u64)
        )
    };
    push(
        &mut out,
        &row(&format!("latency ({})", r.latency_us.kind), &r.latency_us),
    );
    push(&mut out, &row("service time", &r.service_time_us));
    if r.schedule_lag_us.count > 0 {
        push(&mut out, &row("schedule lag", &r.schedule_lag_us));
    }
    if let Some(m) = &r.messages {
        push(&mut out, &row("time to first message", &m.time_to_first_us));
        if m.gap_us.count > 0 {
            push(&mut out, &row("gap between messages", &m.gap_us));
        }
        if m.latency_us.count > 0 {
            push(&mut out, &row("message latency", &m.latency_us));
        }
        push(&mut out, "");
        push(
            &mut out,
            &format!(
                "Messages received: {} ({:.1}/s, {:.2} per reply)",
                m.received, m.per_sec, m.per_reply
            ),
        );
    }
    if !r.status_codes.is_empty() {
        push(&mut out, "");
        push(&mut out, "| status | count |");
        push(&mut out, "|---|---:|");
        for (code, n) in &r.status_codes {
            push(&mut out, &format!("| {code} | {n} |"));
        }
    }
    if !r.errors.is_empty() {
        push(&mut out, "");
        push(&mut out, "| error | count |");
        push(&mut out, "|---|---:|");
        for (kind, n) in &r.errors {
            push(&mut out, &format!("| {kind} | {n} |"));
        }
        for (kind, why) in &r.error_reasons {
            push(&mut out, "");
            push(&mut out, &format!("{kind}: {}", why.replace('|', "\\|")));
        }
    }
    if !r.checks.is_empty() {
        push(&mut out, "");
        push(
            &mut out,
            "| check | condition | passed | failed | pass rate |",
        );
        push(&mut out, "|---|---|---:|---:|---:|");
        for c in &r.checks {
            push(
                &mut out,
                &format!(
                    "| {} | `{}` | {} | {} | {} |",
                    c.name.replace('|', "\\|"),
                    c.condition.replace('|', "\\|"),
                    c.passes,
                    c.fails,
                    c.pass_rate
                        .map_or("-".to_string(), |p| format!("{:.2}%", p * 100.0))
                ),
            );
        }
    }
    if !r.thresholds.is_empty() {
        push(&mut out, "");
        push(&mut out, "| threshold | condition | observed | result |");
        push(&mut out, "|---|---|---:|---|");
        for t in &r.thresholds {
            let seen = t.observed_text();
            push(
                &mut out,
                &format!(
                    "| `{}` | `{}` | {seen} | {} |",
                    t.name.replace('|', "\\|"),
                    t.condition,
                    if t.passed { "pass" } else { "**FAIL**" }
                ),
            );
        }
    }
    if let Some(why) = &s.stopped_by {
        push(&mut out, "");
        push(&mut out, &format!("Stopped early: {why}"));
    }
    out
}
