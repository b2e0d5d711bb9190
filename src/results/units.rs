//! How figures are written for people: counts with thousands separators, durations in the
//! most readable unit, threshold values with their unit. One place, so that the summary, the
//! reports, the TUI and `compare` print the same number the same way.

/// `1234567` → `1,234,567`.
pub fn fmt_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Microseconds in the most readable unit.
pub fn fmt_us(us: u64) -> String {
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..1_000_000 => format!("{:.2}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// A figure with its unit, for messages and summaries.
pub fn fmt_value(v: f64, unit: &str) -> String {
    match unit {
        "ms" => format!("{v:.2} ms"),
        "ratio" => format!("{v:.4}"),
        "req/s" => format!("{v:.1} req/s"),
        "verdict" if v == 0.0 => "ok".to_string(),
        "verdict" => "generator_bound".to_string(),
        _ => format!("{v:.0}"),
    }
}
