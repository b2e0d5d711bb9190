//! The HTML report in a real browser: Debian's Chromium, headless, renders the report of the
//! fixed result; the page must log nothing to the console (the page's Content-Security-Policy
//! turns any attempt to fetch something into a console error), every chart must have drawn
//! data points, and the light and dark themes must both apply.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{kaioken, stderr};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs headless Chromium on `page` with `extra` flags; returns (stdout, stderr).
fn chromium(page: &Path, profile: &Path, extra: &[&str]) -> (String, String) {
    let o = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("{CHROMIUM} must be installed (scripts/test installs it): {e}"));
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn console_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// The RGB of the pixel at (x, y) of a PNG screenshot.
fn pixel(png_path: &Path, x: u32, y: u32) -> [u8; 3] {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bpp = info.color_type.samples();
    let i = (y as usize * info.width as usize + x as usize) * bpp;
    [buf[i], buf[i + 1], buf[i + 2]]
}

fn report(dir: &Path) -> PathBuf {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/result.json");
    let page = dir.join("report.html");
    let o = kaioken(&["report", fixture, "-o", page.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    page
}

#[test]
fn report_renders_in_chromium_with_data_and_both_themes() {
    let dir = tempfile::tempdir().unwrap();
    let page = report(dir.path());
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing is loaded from elsewhere.
    for attr in ["src=\"http", "href=\"http", "src=\"//", "@import", "url("] {
        assert!(!html.contains(attr), "external reference {attr}");
    }

    let (dom, log) = chromium(&page, &dir.path().join("p1"), &["--dump-dom"]);
    assert!(
        console_lines(&log).is_empty(),
        "console output: {:?}",
        console_lines(&log)
    );
    assert!(
        dom.contains("<h1>GET http://127.0.0.1:18403/api/items?page=2</h1>"),
        "{dom}"
    );
    for chart in [
        "latency-over-time",
        "rps-over-time",
        "percentile-spectrum",
        "outcomes",
    ] {
        let start = dom
            .find(&format!("data-chart=\"{chart}\""))
            .unwrap_or_else(|| panic!("chart {chart} missing"));
        let body = &dom[start..start + dom[start..].find("</figure>").unwrap()];
        if chart == "outcomes" {
            assert!(
                body.contains("data-value=\"2280\"") && body.contains("data-value=\"120\""),
                "{body}"
            );
            continue;
        }
        let drawn: Vec<usize> = body
            .match_indices("data-points=\"")
            .map(|(i, m)| {
                let rest = &body[i + m.len()..];
                rest[..rest.find('"').unwrap()].parse().unwrap()
            })
            .collect();
        assert!(
            !drawn.is_empty() && drawn.iter().all(|n| *n >= 5),
            "{chart}: {drawn:?}"
        );
    }
    assert!(dom.contains("class=\"fail\">FAIL</td>"), "thresholds table");
    assert!(dom.contains("data-table=\"checks\""), "checks table");
    assert!(
        dom.contains("class=\"fail\">95.00%</td>"),
        "the 95% check is marked"
    );
    // Redaction happens when a run writes its result (`report` re-renders what it is
    // given): tests/auth.rs searches every output of a real run for the secret.

    // Light by default, dark when the system prefers it.
    let light = dir.path().join("light.png");
    let dark = dir.path().join("dark.png");
    let (_, log) = chromium(
        &page,
        &dir.path().join("p2"),
        &[
            "--window-size=1200,1600",
            &format!("--screenshot={}", light.display()),
        ],
    );
    assert!(console_lines(&log).is_empty(), "{log}");
    let (_, log) = chromium(
        &page,
        &dir.path().join("p3"),
        &[
            "--force-dark-mode",
            "--window-size=1200,1600",
            &format!("--screenshot={}", dark.display()),
        ],
    );
    assert!(console_lines(&log).is_empty(), "{log}");
    let bg_light = pixel(&light, 5, 5);
    let bg_dark = pixel(&dark, 5, 5);
    assert!(
        bg_light.iter().all(|c| *c > 230),
        "light background {bg_light:?}"
    );
    assert!(
        bg_dark.iter().all(|c| *c < 40),
        "dark background {bg_dark:?}"
    );
}

#[test]
fn the_console_check_catches_errors() {
    // The detector itself: a page with a script error and a blocked fetch must be caught.
    let dir = tempfile::tempdir().unwrap();
    let page = report(dir.path());
    let html = std::fs::read_to_string(&page).unwrap().replace(
        "</main>",
        "</main><img src=\"http://127.0.0.1:9/x.png\"><script>undefinedFunction();</script>",
    );
    let bad = dir.path().join("bad.html");
    std::fs::write(&bad, html).unwrap();
    let (_, log) = chromium(&bad, &dir.path().join("p"), &["--dump-dom"]);
    let lines = console_lines(&log);
    assert!(
        lines.iter().any(|l| l.contains("undefinedFunction")),
        "{log}"
    );
    assert!(
        lines.iter().any(|l| l.contains("Content Security Policy")),
        "{lines:?}"
    );
}
