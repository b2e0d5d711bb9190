//! Pure rendering: `(&App, &Snapshot)` → a frame. Every figure comes from the snapshot.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Chart, Clear, Dataset, Gauge, GraphType, Paragraph, Sparkline,
};

use super::app::{App, Phase};
use super::theme::{NEUTRAL, THEMES, Theme};
use crate::aggregate::{Snapshot, Timing};
use crate::results::units::{fmt_count, fmt_us};
use crate::sink::style::power_level;

pub fn theme(app: &App) -> Theme {
    if app.serious {
        NEUTRAL
    } else {
        THEMES[app.theme % THEMES.len()]
    }
}

pub fn render(frame: &mut Frame, app: &App, s: &Snapshot, now: Instant) {
    let th = theme(app);
    let area = frame.area();
    let [header, middle, chart, bottom, health, keys] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Min(3),
        Constraint::Length(6),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    render_header(frame, header, app, s, th, now);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(middle);
    render_throughput(frame, left, app, s, th);
    render_latency(frame, right, app, s, th);
    render_latency_chart(frame, chart, app, s, th);
    let [status, errors, load] = Layout::horizontal([
        Constraint::Percentage(34),
        Constraint::Percentage(33),
        Constraint::Percentage(33),
    ])
    .areas(bottom);
    render_status(frame, status, s, th);
    render_errors(frame, errors, s, th);
    render_load(frame, load, app, s, th);
    render_health(frame, health, s, th);
    let mut key_line = vec![
        Span::styled(" q", Style::new().fg(th.accent)),
        Span::raw(" stop  "),
        Span::styled("p", Style::new().fg(th.accent)),
        Span::raw(" pause  "),
    ];
    if !app.serious {
        key_line.push(Span::styled("t", Style::new().fg(th.accent)));
        key_line.push(Span::raw(format!(" theme ({})  ", th.name)));
    }
    key_line.extend([
        Span::styled("s", Style::new().fg(th.accent)),
        Span::raw(" save result so far  "),
        Span::styled("?", Style::new().fg(th.accent)),
        Span::raw(" help"),
    ]);
    if let Some(m) = &app.message {
        key_line.push(Span::styled(format!("   {m}"), Style::new().fg(th.good)));
    }
    frame.render_widget(Paragraph::new(Line::from(key_line)), keys);
    if app.help {
        render_help(frame, area, app, th);
    }
}

fn block(title: &str, th: Theme) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(th.dim))
        .title(Span::styled(
            format!(" {title} "),
            Style::new().fg(th.accent).add_modifier(Modifier::BOLD),
        ))
}

fn render_header(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot, th: Theme, now: Instant) {
    let phase = app.phase(s.elapsed, s.done);
    let title = if app.serious {
        "kaioken".to_string()
    } else {
        "kaioken — power up!".to_string()
    };
    let b = block(&title, th);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let [line1, line2] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(inner);
    let phase_color = match phase {
        Phase::Running | Phase::Done => th.good,
        Phase::Paused | Phase::Warmup => th.warn,
        Phase::Stopping => th.bad,
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                app.header.target.clone(),
                Style::new().fg(th.text).add_modifier(Modifier::BOLD),
            ),
            Span::raw("  "),
            Span::styled(app.header.model.clone(), Style::new().fg(th.dim)),
        ])),
        line1,
    );
    let elapsed = s.elapsed.as_secs_f64();
    let paused = app.paused_for(now);
    let paused_txt = if paused.is_zero() {
        String::new()
    } else {
        format!("  paused {:.1}s", paused.as_secs_f64())
    };
    let (ratio, label) = match app.header.duration {
        Some(d) => (
            (elapsed / d.as_secs_f64()).clamp(0.0, 1.0),
            format!(
                "{} {elapsed:.1}s / {:.0}s{paused_txt}",
                phase.label(),
                d.as_secs_f64()
            ),
        ),
        None => (
            0.0,
            format!(
                "{} {elapsed:.1}s (until stopped){paused_txt}",
                phase.label()
            ),
        ),
    };
    frame.render_widget(
        Gauge::default()
            .gauge_style(Style::new().fg(phase_color))
            .ratio(ratio)
            .label(label),
        line2,
    );
}

fn render_throughput(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot, th: Theme) {
    let b = block("Throughput", th);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let [text, spark] = Layout::vertical([Constraint::Length(3), Constraint::Min(1)]).areas(inner);
    let mut lines = vec![
        Line::from(vec![
            Span::raw("now   "),
            Span::styled(
                format!("{:.0} req/s", s.current_rps),
                Style::new().fg(th.accent).add_modifier(Modifier::BOLD),
            ),
        ]),
        Line::from(format!(
            "mean  {:.0} req/s   total {}",
            s.mean_rps,
            fmt_count(s.requests)
        )),
    ];
    if !app.serious {
        lines.push(Line::from(vec![
            Span::raw("power "),
            Span::styled(
                power_level(s.current_rps),
                Style::new().fg(th.warn).add_modifier(Modifier::BOLD),
            ),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), text);
    let data: Vec<u64> = s.recent.iter().map(|r| r.rps.round() as u64).collect();
    let data = stretched(&data, spark.width as usize, app.header.duration);
    frame.render_widget(
        Sparkline::default()
            .data(&data)
            .style(Style::new().fg(th.chart)),
        spark,
    );
}

fn render_latency(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot, th: Theme) {
    let kind = if app.header.latency_kind == "service_time" {
        "service time"
    } else {
        "corrected: from intended send"
    };
    let b = block(&format!("Latency [{kind}]"), th);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let row = |name: &str, v: u64| {
        Line::from(vec![
            Span::styled(format!("{name:<6}"), Style::new().fg(th.dim)),
            Span::styled(fmt_us(v), Style::new().fg(th.text)),
        ])
    };
    let lines = vec![
        row("p50", s.p50_us),
        row("p90", s.p90_us),
        row("p95", s.p95_us),
        row("p99", s.p99_us),
        row("p99.9", s.p999_us),
        row("max", s.max_us),
    ];
    let [left, right] =
        Layout::horizontal([Constraint::Length(16), Constraint::Min(0)]).areas(inner);
    frame.render_widget(Paragraph::new(lines), left);
    frame.render_widget(Paragraph::new(phase_lines(s, th)), right);
}

/// Where the time went: time to first byte, connecting and (https://) the TLS handshake,
/// p50 and p99 each, with the count of handshakes (fits the 22 columns an 80-column
/// terminal leaves).
fn phase_lines(s: &Snapshot, th: Theme) -> Vec<Line<'static>> {
    let dim = Style::new().fg(th.dim);
    let text = Style::new().fg(th.text);
    let row = |name: &str, p: Timing| {
        Line::from(vec![
            Span::styled(format!("{name:<6}"), dim),
            Span::styled(format!("{:<9}", fmt_us(p.p50_us)), text),
            Span::styled(fmt_us(p.p99_us), text),
        ])
    };
    let mut lines = vec![
        Line::from(Span::styled(format!("{:<6}{:<9}p99", "", "p50"), dim)),
        row("ttfb", s.ttfb),
        row("conn", s.connect),
    ];
    // Streams and messages: their timings take the rows TLS would (six fit the panel).
    if s.messages > 0 {
        lines.push(row("1st", s.first_message));
        if s.message_latency.p99_us > 0 {
            lines.push(row("msg", s.message_latency));
        } else {
            lines.push(row("gap", s.message_gap));
        }
        let per_sec = if s.elapsed.is_zero() {
            0.0
        } else {
            s.messages as f64 / s.elapsed.as_secs_f64()
        };
        lines.push(Line::from(Span::styled(
            format!("{} msgs, {per_sec:.0}/s", fmt_count(s.messages)),
            dim,
        )));
    } else if s.tls_handshakes > 0 {
        lines.push(row("tls", s.tls_handshake));
        lines.push(Line::from(Span::styled(
            format!(
                "TLS {}, {} resumed",
                fmt_count(s.tls_handshakes),
                fmt_count(s.tls_resumed)
            ),
            dim,
        )));
    }
    lines
}

/// One column per second fills a 118-column chart in two minutes; a bounded run shorter than
/// the width gets each second repeated, so the run spans the chart as it goes (a 10 s run
/// shows its first second across a tenth of the width). Longer runs show the latest seconds.
pub(super) fn stretched(
    data: &[u64],
    width: usize,
    planned: Option<std::time::Duration>,
) -> Vec<u64> {
    let seconds = planned.map_or(0, |d| d.as_secs_f64().ceil() as usize);
    if seconds == 0 || seconds > width || data.is_empty() {
        return data[data.len().saturating_sub(width)..].to_vec();
    }
    let per = width / seconds;
    data.iter()
        .flat_map(|v| std::iter::repeat_n(*v, per))
        .collect()
}

/// p99 per second on real axes: seconds of the measured run across (the whole planned run
/// when it is at most a minute, else the latest minute), milliseconds up.
fn render_latency_chart(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot, th: Theme) {
    let peak = s.recent.iter().map(|r| r.p99_us).max().unwrap_or(0);
    let b = block(
        &format!("p99 latency per second (peak {})", fmt_us(peak)),
        th,
    );
    if area.height < 5 {
        // No room for axes: the block and its title alone.
        frame.render_widget(b, area);
        return;
    }
    // Each second is drawn at its end: second 0 covers 0–1 s.
    let points: Vec<(f64, f64)> = s
        .recent
        .iter()
        .map(|r| ((r.second + 1) as f64, r.p99_us as f64 / 1000.0))
        .collect();
    let last = points.last().map_or(0.0, |p| p.0);
    let (x0, x1) = match app.header.duration {
        Some(d) if d.as_secs_f64() <= 60.0 => (0.0, d.as_secs_f64().max(1.0)),
        _ => ((last - 60.0).max(0.0), last.max(60.0)),
    };
    let top = (peak as f64 / 1000.0 * 1.1).max(1.0);
    let dim = Style::new().fg(th.dim);
    let secs = |v: f64| format!("{v:.0}s");
    let ms = |v: f64| {
        if v >= 10.0 {
            format!("{v:.0}ms")
        } else {
            format!("{v:.1}ms")
        }
    };
    let chart = Chart::new(vec![
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(th.warn))
            .data(&points),
    ])
    .block(b)
    .x_axis(Axis::default().style(dim).bounds([x0, x1]).labels([
        secs(x0),
        secs((x0 + x1) / 2.0),
        secs(x1),
    ]))
    .y_axis(Axis::default().style(dim).bounds([0.0, top]).labels([
        "0".to_string(),
        ms(top / 2.0),
        ms(top),
    ]));
    frame.render_widget(chart, area);
}

fn render_status(frame: &mut Frame, area: Rect, s: &Snapshot, th: Theme) {
    let b = block("Status codes", th);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let total: u64 = s.status.iter().map(|(_, n)| n).sum();
    let lines: Vec<Line> = s
        .status
        .iter()
        .take(inner.height as usize)
        .map(|(code, n)| {
            let color = match code.severity() {
                0 => th.good,
                1 => th.warn,
                _ => th.bad,
            };
            let share = if total > 0 {
                *n as f64 * 100.0 / total as f64
            } else {
                0.0
            };
            Line::from(vec![
                Span::styled(format!("{code} "), Style::new().fg(color)),
                Span::raw(format!("{} ({share:.1}%)", fmt_count(*n))),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn render_errors(frame: &mut Frame, area: Rect, s: &Snapshot, th: Theme) {
    let b = block("Errors", th);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    // With checks, the last line is their live pass rate.
    let room = (inner.height as usize).saturating_sub(usize::from(!s.checks.is_empty()));
    let mut lines: Vec<Line> = if s.errors.is_empty() {
        vec![Line::styled("none", Style::new().fg(th.good))]
    } else {
        s.errors
            .iter()
            .take(room)
            .map(|(k, n)| {
                Line::from(vec![
                    Span::styled(format!("{k} "), Style::new().fg(th.bad)),
                    Span::raw(fmt_count(*n)),
                ])
            })
            .collect()
    };
    if !s.checks.is_empty() {
        let rate = s.check_pass_rate().unwrap_or(1.0);
        let color = if rate == 1.0 { th.good } else { th.bad };
        lines.push(Line::from(vec![
            Span::raw("checks "),
            Span::styled(
                format!("{:.2}% passed", rate * 100.0),
                Style::new().fg(color),
            ),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Whether the generator itself is limiting the run, as the result's verdict will say.
fn render_health(frame: &mut Frame, area: Rect, s: &Snapshot, th: Theme) {
    let local = s
        .errors
        .iter()
        .find(|(k, _)| *k == "local_resources")
        .map_or(0, |(_, n)| *n);
    let (ok, line) = crate::results::health::live(s.worker_busy, s.schedule_lag.p99_us, local);
    let colour = if ok { th.good } else { th.bad };
    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(
            format!(" {line}"),
            Style::new().fg(colour),
        ))),
        area,
    );
}

fn render_load(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot, th: Theme) {
    let b = block("Load", th);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let mut lines = vec![Line::from(format!(
        "VUs {} / {}",
        s.vus, app.header.max_vus
    ))];
    if let Some(r) = app.header.target_rate {
        lines.push(Line::from(format!("rate {:.0} / {r:.0} /s", s.current_rps)));
    }
    if s.dropped > 0 || app.header.target_rate.is_some() {
        lines.push(Line::from(vec![
            Span::raw("dropped "),
            Span::styled(
                fmt_count(s.dropped),
                Style::new().fg(if s.dropped > 0 { th.bad } else { th.good }),
            ),
        ]));
    }
    lines.push(Line::from(format!(
        "conns {}  recv {}",
        fmt_count(s.connections_opened),
        bytes(s.bytes_received)
    )));
    frame.render_widget(Paragraph::new(lines), inner);
}

fn bytes(b: u64) -> String {
    match b {
        0..1_048_576 => format!("{:.1}K", b as f64 / 1024.0),
        _ => format!("{:.1}M", b as f64 / 1_048_576.0),
    }
}

fn render_help(frame: &mut Frame, area: Rect, app: &App, th: Theme) {
    let mut lines = vec![
        "q / Esc / Ctrl-C  stop (outputs are written)",
        "                  twice: abandon in-flight",
        "p / space         pause / resume the load",
        "s                 save a result file (JSON)",
        "?                 toggle this help",
    ];
    if !app.serious {
        lines.insert(3, "t                 next theme");
    }
    // Sized to its text (plus the border), so nothing is cut at 80×24 or 120×40.
    let widest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u16;
    let w = (widest + 4).min(area.width);
    let h = (lines.len() as u16 + 2).min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, r);
    let text: Vec<Line> = lines
        .into_iter()
        .map(|l| Line::from(format!(" {l}")))
        .collect();
    frame.render_widget(Paragraph::new(text).block(block("Keys", th)), r);
}
