//! Small SVG line and bar charts for the HTML report, drawn here so the report is one
//! offline file with no script library. Colours are CSS variables, so the page's light and
//! dark themes restyle the charts too.

use std::fmt::Write;

pub const W: f64 = 760.0;
pub const H: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

/// One line of a chart.
pub struct Series<'a> {
    pub name: &'a str,
    /// A CSS colour, usually `var(--c1)`.
    pub color: &'a str,
    pub points: Vec<(f64, f64)>,
}

/// How an axis turns values into labels.
pub struct Axis<'a> {
    pub label: &'a str,
    /// Tick positions with their labels; empty for automatic "nice" ticks.
    pub ticks: Vec<(f64, String)>,
    pub format: fn(f64) -> String,
}

/// 1, 2 or 5 × a power of ten: the step that gives about `n` ticks over `span`.
fn nice_step(span: f64, n: f64) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / n;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

fn auto_ticks(max: f64, format: fn(f64) -> String) -> (f64, Vec<(f64, String)>) {
    let step = nice_step(max, 5.0);
    let top = (max / step).ceil().max(1.0) * step;
    let mut ticks = Vec::new();
    let mut v = 0.0;
    while v <= top + step * 0.001 {
        ticks.push((v, format(v)));
        v += step;
    }
    (top, ticks)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A line chart with a legend. `id` names the chart for tests (`data-chart`), and each line
/// says how many points it drew (`data-points`).
pub fn line_chart(id: &str, title: &str, x: &Axis, y: &Axis, series: &[Series]) -> String {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let x_max_data = all().map(|p| p.0).fold(0.0, f64::max);
    let y_max_data = all().map(|p| p.1).fold(0.0, f64::max);
    let (x_max, x_ticks) = if x.ticks.is_empty() {
        auto_ticks(x_max_data, x.format)
    } else {
        (x.ticks.last().map_or(1.0, |t| t.0), x.ticks.clone())
    };
    let (y_max, y_ticks) = if y.ticks.is_empty() {
        auto_ticks(y_max_data, y.format)
    } else {
        (y.ticks.last().map_or(1.0, |t| t.0), y.ticks.clone())
    };
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let sx = |v: f64| LEFT + if x_max > 0.0 { v / x_max * pw } else { 0.0 };
    let sy = |v: f64| TOP + ph - if y_max > 0.0 { v / y_max * ph } else { 0.0 };

    let mut out = String::new();
    let _ = write!(
        out,
        "<figure class=\"chart\" data-chart=\"{id}\"><figcaption>{}</figcaption>\
         <svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    for (v, label) in &y_ticks {
        let yy = sy(*v);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\"/>\
             <text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            yy + 4.0,
            esc(label)
        );
    }
    for (v, label) in &x_ticks {
        let xx = sx(*v);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{TOP}\" y2=\"{:.1}\"/>\
             <text class=\"tick\" x=\"{xx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            TOP + ph,
            TOP + ph + 16.0,
            esc(label)
        );
    }
    let _ = write!(
        out,
        "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
         <text class=\"axis\" x=\"14\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {:.1})\">{}</text>",
        LEFT + pw / 2.0,
        H - 4.0,
        esc(x.label),
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        esc(y.label)
    );
    for s in series {
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|(a, b)| format!("{:.1},{:.1}", sx(*a), sy(*b)))
            .collect();
        let _ = write!(
            out,
            "<polyline class=\"series\" data-series=\"{}\" data-points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
            esc(s.name),
            pts.len(),
            s.color,
            pts.join(" ")
        );
        // A single point draws no line: mark it.
        if let [(a, b)] = s.points.as_slice() {
            let _ = write!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"/>",
                sx(*a),
                sy(*b),
                s.color
            );
        }
    }
    out.push_str("</svg><div class=\"legend\">");
    for s in series {
        let _ = write!(
            out,
            "<span><i style=\"background:{}\"></i>{}</span>",
            s.color,
            esc(s.name)
        );
    }
    out.push_str("</div></figure>");
    out
}

/// Horizontal bars with counts, e.g. status codes.
pub fn bar_chart(id: &str, title: &str, bars: &[(String, u64, &str)]) -> String {
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    let row = 26.0;
    let h = TOP + row * bars.len() as f64 + 8.0;
    let mut out = String::new();
    let _ = write!(
        out,
        "<figure class=\"chart\" data-chart=\"{id}\"><figcaption>{}</figcaption>\
         <svg viewBox=\"0 0 {W} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    let pw = W - 160.0 - 120.0;
    for (i, (label, n, color)) in bars.iter().enumerate() {
        let y = TOP + row * i as f64;
        let w = (*n as f64 / max * pw).max(1.0);
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"150\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect class=\"bar\" data-value=\"{n}\" x=\"160\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{color}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            y + 16.0,
            esc(label),
            row - 8.0,
            166.0 + w,
            y + 16.0,
            crate::results::units::fmt_count(*n)
        );
    }
    out.push_str("</svg></figure>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(100.0, 5.0), 20.0);
        assert_eq!(nice_step(7.0, 5.0), 2.0);
        assert_eq!(nice_step(0.3, 5.0), 0.1);
        let (top, ticks) = auto_ticks(93.0, |v| format!("{v}"));
        assert_eq!(top, 100.0);
        assert_eq!(ticks.len(), 6);
    }

    #[test]
    fn charts_count_their_points_and_escape_text() {
        let x = Axis {
            label: "t",
            ticks: vec![],
            format: |v| format!("{v}"),
        };
        let y = Axis {
            label: "<ms>",
            ticks: vec![],
            format: |v| format!("{v}"),
        };
        let svg = line_chart(
            "c",
            "a & b",
            &x,
            &y,
            &[Series {
                name: "p99",
                color: "red",
                points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, 1.5)],
            }],
        );
        assert!(svg.contains("data-points=\"3\""));
        assert!(svg.contains("a &amp; b") && svg.contains("&lt;ms&gt;"));
    }
}
