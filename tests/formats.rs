//! Every file format rendered from one fixed result (tests/fixtures/result.json, a real run
//! with a 5% error rate, a redacted Authorization header, two checks (one at 95%) and four
//! thresholds, one failing),
//! each checked with a parser for its format. The HTML is checked in Chromium (tests/html.rs).

mod support;

use std::path::PathBuf;

use support::{kaioken, stderr};

fn fixture() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/result.json"
    ))
}

fn render(dir: &std::path::Path, names: &[&str]) {
    let mut args = vec!["report".to_string(), fixture().display().to_string()];
    for n in names {
        args.push("-o".into());
        args.push(dir.join(n).display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = kaioken(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn every_format_parses() {
    let dir = tempfile::tempdir().unwrap();
    render(dir.path(), &["r.json", "r.csv", "r.md", "r.xml", "r.html"]);
    let fixture_text = std::fs::read_to_string(fixture()).unwrap();

    // JSON: the library's own type reads it, and nothing is lost.
    let json = std::fs::read_to_string(dir.path().join("r.json")).unwrap();
    let typed: kaioken::results::Results = serde_json::from_str(&json).unwrap();
    assert_eq!(typed.schema, "kaioken.result/v1");
    assert_eq!(typed.thresholds.len(), 4);
    let a: serde_json::Value = serde_json::from_str(&json).unwrap();
    let b: serde_json::Value = serde_json::from_str(&fixture_text).unwrap();
    assert_eq!(a, b);
    // Redaction happens when a run writes its result (`report` re-renders what it is
    // given): tests/auth.rs searches every output of a real run for the secret.

    // CSV: an RFC 4180 reader, every record the header's width, seconds summing to the total.
    let mut rd = csv::Reader::from_path(dir.path().join("r.csv")).unwrap();
    let header = rd.headers().unwrap().clone();
    assert_eq!(&header[0], "second");
    let mut requests = 0u64;
    for rec in rd.records() {
        let rec = rec.unwrap();
        assert_eq!(rec.len(), header.len());
        requests += rec[1].parse::<u64>().unwrap();
        let _rps: f64 = rec[3].parse().unwrap();
    }
    assert_eq!(requests, typed.summary.total_requests);
    let mut rd = csv::Reader::from_path(dir.path().join("r.summary.csv")).unwrap();
    let rows: Vec<(String, String)> = rd
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[1].to_string())
        })
        .collect();
    assert_eq!(rows[0], ("schema".into(), "kaioken.summary.csv/v1".into()));
    assert!(
        rows.contains(&("threshold p99_latency < 5 ms".into(), "fail".into())),
        "{rows:?}"
    );

    // Markdown: every table rectangular, the failing threshold marked.
    let md = std::fs::read_to_string(dir.path().join("r.md")).unwrap();
    for table in md.split("\n\n").filter(|b| b.starts_with('|')) {
        let cols: Vec<usize> = table.lines().map(|l| l.matches('|').count()).collect();
        assert!(cols.iter().all(|c| *c == cols[0]), "ragged table:\n{table}");
        assert!(table.lines().nth(1).unwrap().starts_with("|---"), "{table}");
    }
    assert!(
        md.contains("| `p99_latency` | `< 5 ms` |") && md.contains("**FAIL**"),
        "{md}"
    );

    // JUnit: a real XML reader; a case per check and per threshold plus the run; the 95%
    // check and the p99 threshold fail.
    let xml = std::fs::read_to_string(dir.path().join("r.xml")).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures, mut suites) = (0, 0, 0);
    loop {
        use quick_xml::events::Event;
        match reader.read_event().expect("well-formed JUnit XML") {
            Event::Start(e) | Event::Empty(e) => match e.name().0 {
                "testsuite" => suites += 1,
                "testcase" => cases += 1,
                "failure" => failures += 1,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!((suites, cases, failures), (3, 7, 2), "{xml}");
    assert!(
        xml.contains("<testsuites name=\"kaioken\" tests=\"7\" failures=\"2\""),
        "{xml}"
    );
    assert!(
        xml.contains("120 of 2400 responses failed (pass rate 95.00%)"),
        "{xml}"
    );
    assert_eq!(typed.checks.len(), 2);
    assert!(
        md.contains("| status is 200 | `status == 200` | 2280 | 120 | 95.00% |"),
        "{md}"
    );

    // Every output renders byte-identically again from the JSON it came from.
    let again = tempfile::tempdir().unwrap();
    let o = kaioken(&[
        "report",
        dir.path().join("r.json").to_str().unwrap(),
        "-o",
        again.path().join("r.html").to_str().unwrap(),
        "-o",
        again.path().join("r.xml").to_str().unwrap(),
    ]);
    assert!(o.status.success());
    for f in ["r.html", "r.xml"] {
        assert_eq!(
            std::fs::read(dir.path().join(f)).unwrap(),
            std::fs::read(again.path().join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn unwritable_outputs_and_unknown_formats_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (out, want) in [
        (
            "/nonexistent-dir/r.html",
            "cannot write /nonexistent-dir/r.html",
        ),
        ("r.pdf", "output = "),
    ] {
        let target = if out.starts_with('/') {
            out.to_string()
        } else {
            dir.path().join(out).display().to_string()
        };
        let o = kaioken(&["report", fixture().to_str().unwrap(), "-o", &target]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{err}");
    }
}

/// `-o -` is stdout, as in curl: the document alone (JSON unless --format), no summary, and
/// twice (or with --json) is refused.
#[test]
fn dash_output_is_stdout() {
    let t = support::Target::start(&[]);
    let o = kaioken(&["run", &t.url, "-n", "50", "-o", "-"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["total_requests"], 50);
    let o = kaioken(&["run", &t.url, "-n", "50", "-o", "-", "--format", "md"]);
    let md = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(md.starts_with("## kaioken: GET "), "{md}");
    assert!(!md.contains("Power level"), "the summary came too: {md}");
    assert!(
        !std::path::Path::new("-").exists(),
        "a file named - was written"
    );
    for extra in [&["-o", "-"][..], &["--json"]] {
        let mut args = vec!["run", t.url.as_str(), "-n", "1", "-o", "-"];
        args.extend_from_slice(extra);
        let o = kaioken(&args);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("output = -: stdout takes one result"),
            "{}",
            stderr(&o)
        );
    }
}
