//! `[thresholds]`, exit 4, `--fail-fast` and JUnit, against the built-in target.

mod support;

use std::time::{Duration, Instant};

use support::{Target, kaioken, stderr, stdout, write_file};

fn config(url: &str, load: &str, thresholds: &str) -> String {
    format!("[target]\nurl = \"{url}\"\n\n[load]\n{load}\n\n[thresholds]\n{thresholds}\n")
}

#[test]
fn every_operator_is_judged_on_the_observed_value() {
    // Exactly every 10th request gets a 500: error_rate is 0.1 over 1,000 requests.
    let t = Target::start(&["--error-rate", "0.1", "--delay", "20ms"]);
    let dir = tempfile::tempdir().unwrap();
    let passing = write_file(
        dir.path(),
        "pass.toml",
        &config(
            &t.url,
            "concurrency = 20\nmax_requests = 1000",
            r#"error_rate = "== 0.1"
p50_latency = "> 15ms"
p99_latency_ms = "<= 2000"
mean_latency_ms = ">= 19"
max_latency_ms = "< 5s"
rps = "> 10"
dropped_iterations = "== 0"
"#,
        ),
    );
    let out = dir.path().join("r.json");
    let o = kaioken(&[
        "run",
        "-f",
        passing.to_str().unwrap(),
        "--no-tui",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let th = v["thresholds"].as_array().unwrap();
    assert_eq!(th.len(), 7);
    assert!(th.iter().all(|t| t["passed"] == true), "{th:?}");
    let err = th.iter().find(|t| t["name"] == "error_rate").unwrap();
    assert_eq!(err["observed"], 0.1);
    assert!(
        stdout(&o).contains("Thresholds (7 of 7 passed)"),
        "{}",
        stdout(&o)
    );

    let failing = write_file(
        dir.path(),
        "fail.toml",
        &config(
            &t.url,
            "concurrency = 20\nmax_requests = 1000",
            r#"error_rate = "< 0.1"
p50_latency_ms = "< 5"
rps = "> 1000000"
p90_latency = ">= 1s"
"#,
        ),
    );
    let junit = dir.path().join("r.xml");
    let (html, md) = (dir.path().join("r.html"), dir.path().join("r.md"));
    let o = kaioken(&[
        "run",
        "-f",
        failing.to_str().unwrap(),
        "--no-tui",
        "-o",
        junit.to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
        "-o",
        md.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let err = stderr(&o);
    for name in [
        "error_rate < 0.1",
        "p50_latency_ms < 5",
        "rps > 1000000",
        "p90_latency >= 1000 ms",
    ] {
        assert!(err.contains(name), "{name} not named in {err}");
    }
    assert!(
        stdout(&o).contains("FAIL error_rate < 0.1"),
        "{}",
        stdout(&o)
    );
    // The verdict leads: the summary's first line, the HTML report's banner before any
    // table, the Markdown report's first line.
    let first = stdout(&o)
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_string();
    assert!(
        first.starts_with("FAIL: 4 of 4 thresholds failed: error_rate < 0.1"),
        "{first}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    let banner = page.find("data-verdict=\"fail\"").expect("a FAIL banner");
    assert!(
        banner < page.find("<table").unwrap(),
        "banner after a table"
    );
    assert!(page[banner..].contains("4 of 4 thresholds failed"));
    let report = std::fs::read_to_string(&md).unwrap();
    assert!(
        report.starts_with("**FAIL**: 4 of 4 thresholds failed"),
        "{report}"
    );

    // JUnit: parsed by an XML parser, a test case per threshold, the failures marked.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let (cases, failures) = junit_counts(&xml);
    assert_eq!(cases, 5, "{xml}");
    assert_eq!(failures, 4, "{xml}");
    assert!(xml.contains("name=\"error_rate &lt; 0.1\""), "{xml}");
}

/// (test cases, failures) read with a real XML parser; also checks the document is well-formed.
fn junit_counts(xml: &str) -> (usize, usize) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut cases, mut failures, mut depth) = (0, 0, 0i32);
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                depth += 1;
                match e.name().0 {
                    "testcase" => cases += 1,
                    "failure" => failures += 1,
                    _ => {}
                }
            }
            Event::Empty(e) if e.name().0 == "testcase" => cases += 1,
            Event::End(_) => depth -= 1,
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "unbalanced XML");
    (cases, failures)
}

#[test]
fn fail_fast_stops_a_long_run_within_seconds_and_writes_outputs() {
    let t = Target::start(&["--delay", "50ms"]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_file(
        dir.path(),
        "ff.toml",
        &config(
            &t.url,
            "concurrency = 20\nduration = \"60s\"",
            "p95_latency_ms = \"< 10\"\nrps = \"> 1000000\"",
        ),
    );
    let out = dir.path().join("ff.json");
    let xml = dir.path().join("ff.xml");
    let started = Instant::now();
    let o = kaioken(&[
        "run",
        "-f",
        cfg.to_str().unwrap(),
        "--no-tui",
        "--fail-fast",
        "-o",
        out.to_str().unwrap(),
        "-o",
        xml.to_str().unwrap(),
    ]);
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(took < Duration::from_secs(3), "fail-fast took {took:?}");
    assert!(
        stderr(&o).contains("threshold breached: p95_latency_ms < 10"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert!(
        v["summary"]["stopped_by"]
            .as_str()
            .unwrap()
            .starts_with("fail-fast: p95_latency_ms < 10"),
        "{}",
        v["summary"]
    );
    // It waited for the minimum sample before judging.
    assert!(v["summary"]["total_requests"].as_u64().unwrap() >= 100);
    assert!(std::fs::read_to_string(&xml).unwrap().contains("<failure"));
}

#[test]
fn thresholds_in_dry_run_and_bad_thresholds_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = "http://127.0.0.1:9/";
    let ok = write_file(
        dir.path(),
        "ok.toml",
        &config(url, "duration = \"1s\"", "p95_latency = \"< 500ms\""),
    );
    let o = kaioken(&[
        "run",
        "-f",
        ok.to_str().unwrap(),
        "--dry-run",
        "--fail-fast",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Threshold:   p95_latency < 500"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("Fail fast:"), "{}", stdout(&o));

    for (line, want) in [
        ("p95_latncy_ms = \"< 5\"", "did you mean p95_latency_ms?"),
        // The suffix-less spelling is a candidate too, and a latency without _ms needs a unit.
        ("p99_latncy = \"< 1s\"", "did you mean p99_latency?"),
        ("p95_latency = \"< 500\"", "give the unit, e.g. \"< 500ms\""),
        ("error_rate = \"0.01\"", "start with an operator"),
        ("error_rate = \"< lots\"", "the value must be a number"),
        ("p95_latency_ms = \"< soon\"", "a duration"),
        ("check_pass_rate = \"> 0.9\"", "no checks are defined"),
        (
            "'p95_latency_ms{scenario=\"login\"}' = \"< 200\"",
            "no scenario named login",
        ),
    ] {
        let p = write_file(
            dir.path(),
            "bad.toml",
            &config(url, "duration = \"1s\"", line),
        );
        let o = kaioken(&["run", "-f", p.to_str().unwrap(), "--dry-run"]);
        assert_eq!(o.status.code(), Some(1), "{line}");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        // The error names the line the threshold is written on.
        let text = std::fs::read_to_string(&p).unwrap();
        let n = text.lines().position(|l| l == line).unwrap() + 1;
        assert!(err.contains(&format!("bad.toml:{n}: thresholds.")), "{err}");
        assert!(
            err.contains("thresholds.") && err.contains(want),
            "{line}: {err}"
        );
    }
    let none = write_file(
        dir.path(),
        "none.toml",
        &format!("[target]\nurl = \"{url}\"\n"),
    );
    let o = kaioken(&[
        "run",
        "-f",
        none.to_str().unwrap(),
        "--fail-fast",
        "--dry-run",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--fail-fast"), "{}", stderr(&o));
}
