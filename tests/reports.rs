//! File outputs rendered from the result: CSV, Markdown, `report` re-rendering, bad input.

mod support;
use support::*;

#[test]
fn one_run_writes_json_csv_and_markdown_and_report_reproduces_them() {
    let t = Target::start(&["--error-rate", "0.1"]);
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    let o = kaioken(&[
        "run",
        &t.url,
        "-c",
        "4",
        "-d",
        "2s",
        "-o",
        &p("r.json"),
        "-o",
        &p("r.csv"),
        "-o",
        &p("r.md"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p("r.json")).unwrap()).unwrap();
    let total = v["summary"]["total_requests"].as_u64().unwrap();

    // CSV: a header and one row per second, every row with the header's field count.
    let csv = std::fs::read_to_string(p("r.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[..4], ["second", "requests", "errors", "rps"]);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.len() == header.len()));
    let sum: u64 = rows.iter().map(|r| r[1].parse::<u64>().unwrap()).sum();
    assert_eq!(sum, total);
    let summary = std::fs::read_to_string(p("r.summary.csv")).unwrap();
    assert!(summary.starts_with("metric,value\n"));
    assert!(
        summary.contains(&format!("total_requests,{total}\n")),
        "{summary}"
    );
    assert!(summary.contains("status_500,"), "{summary}");

    // Markdown: tables whose rows have the header's column count.
    let md = std::fs::read_to_string(p("r.md")).unwrap();
    assert!(md.contains("| requests | req/s |"), "{md}");
    assert!(md.contains(&format!("| {total} |")), "{md}");
    for table in md.split("\n\n").filter(|b| b.starts_with('|')) {
        let cols: Vec<usize> = table.lines().map(|l| l.matches('|').count()).collect();
        assert!(cols.iter().all(|c| *c == cols[0]), "ragged table:\n{table}");
    }

    // `report` re-renders the same bytes from the JSON.
    let o = kaioken(&[
        "report",
        &p("r.json"),
        "-o",
        &p("again.md"),
        "-o",
        &p("again.csv"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(p("again.md")).unwrap(), md);
    assert_eq!(std::fs::read_to_string(p("again.csv")).unwrap(), csv);
    let o = kaioken(&[
        "report",
        &p("r.json"),
        "-o",
        &p("copy.txt"),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let back: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p("copy.txt")).unwrap()).unwrap();
    assert_eq!(back, v, "JSON round trip is lossless");
}

#[test]
fn bad_report_input_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    std::fs::write(p("not.json"), "hello").unwrap();
    std::fs::write(p("other.json"), "{\"schema\": \"k6.summary/v2\"}").unwrap();
    let cases: [(Vec<String>, &str); 4] = [
        (
            vec!["report".into(), p("not.json"), "-o".into(), p("x.md")],
            "not JSON",
        ),
        (
            vec!["report".into(), p("other.json"), "-o".into(), p("x.md")],
            "schema = k6.summary/v2",
        ),
        (
            vec!["report".into(), p("other.json"), "-o".into(), p("x.xyz")],
            "output = ",
        ),
        (
            vec![
                "run".into(),
                "http://127.0.0.1:9/".into(),
                "-o".into(),
                p("a.json"),
                "-o".into(),
                p("b.csv"),
                "--format".into(),
                "md".into(),
            ],
            "--format = md",
        ),
    ];
    for (args, want) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = kaioken(&a);
        // `run`'s flags are a usage error (2); a file `report` cannot read is an error (1).
        let code = if a[0] == "run" { 2 } else { 1 };
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(want), "{args:?}: {err:?} lacks {want:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}
