//! `[[checks]]` against the built-in target: known pass rates, every form, live-path
//! capture over HTTP/1.1 (plain and chunked) and HTTP/2, and bad input.

mod support;

use support::{Target, kaioken, stderr, stdout, write_file};

fn run_json(dir: &std::path::Path, cfg: &str, extra: &[&str]) -> serde_json::Value {
    let p = write_file(dir, "checks.toml", cfg);
    let out = dir.join("r.json");
    let mut args = vec![
        "run",
        "-f",
        p.to_str().unwrap(),
        "--no-tui",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    let o = kaioken(&args);
    assert!(matches!(o.status.code(), Some(0 | 4)), "{}", stderr(&o));
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

fn rates(v: &serde_json::Value) -> Vec<(String, f64)> {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["pass_rate"].as_f64().unwrap(),
            )
        })
        .collect()
}

const CHECKS: &str = r#"
[[checks]]
name = "status"
condition = "status == 200"
[[checks]]
name = "in"
condition = "status in [200, 201]"
[[checks]]
name = "below 400"
condition = "status < 400"
[[checks]]
name = "contains"
condition = "body contains \"kaioken\""
[[checks]]
name = "matches"
condition = "body matches \"^(kaioken\\n)+$\""
[[checks]]
name = "header"
condition = "header content-type == \"text/plain\""
[[checks]]
name = "header matches"
condition = "header content-type matches \"^text/\""
[[checks]]
name = "short"
status = 200
body_contains = "kaio"
[[checks]]
name = "always"
condition = "latency < 10s"
[[checks]]
name = "short latency"
max_latency = "10s"
"#;

#[test]
fn every_check_form_has_the_known_pass_rate() {
    // Exactly every 10th response is a 500 with the body "injected error".
    for (label, serve, extra) in [
        (
            "http1",
            vec!["--error-rate", "0.1", "--body-size", "64"],
            vec![],
        ),
        (
            "chunked",
            vec!["--error-rate", "0.1", "--body-size", "64", "--chunked"],
            vec![],
        ),
        (
            "h2",
            vec!["--error-rate", "0.1", "--body-size", "64"],
            vec!["--http2"],
        ),
    ] {
        let t = Target::start(&serve);
        let dir = tempfile::tempdir().unwrap();
        let cfg = format!(
            "[target]\nurl = \"{}\"\n[load]\nconcurrency = 8\nmax_requests = 2000\n{CHECKS}\n[thresholds]\ncheck_pass_rate = \"> 0.9\"\n",
            t.url
        );
        let v = run_json(dir.path(), &cfg, &extra);
        let got = rates(&v);
        let want = [
            ("status", 0.9),
            ("in", 0.9),
            ("below 400", 0.9),
            ("contains", 0.9),
            ("matches", 0.9),
            ("header", 1.0),
            ("header matches", 1.0),
            ("short", 0.9),
            ("always", 1.0),
            ("short latency", 1.0),
        ];
        assert_eq!(got.len(), want.len(), "{label}");
        for ((name, rate), (wname, wrate)) in got.iter().zip(want) {
            assert_eq!(name, wname, "{label}");
            assert!(
                (rate - wrate).abs() <= 0.005,
                "{label}: {name} pass rate {rate}, want {wrate}"
            );
        }
        let c = &v["checks"][0];
        assert_eq!(
            c["passes"].as_u64().unwrap() + c["fails"].as_u64().unwrap(),
            2000,
            "{label}"
        );
        // 6 checks at 0.9 and 4 at 1.0 over the same responses: 0.94.
        let th = &v["thresholds"][0];
        assert!(
            (th["observed"].as_f64().unwrap() - 0.94).abs() < 0.005,
            "{label}: {th}"
        );
        assert_eq!(th["passed"], true);
    }
}

#[test]
fn checks_appear_in_summary_and_junit_and_fail_thresholds() {
    let t = Target::start(&["--error-rate", "0.1"]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[target]\nurl = \"{}\"\n[load]\nconcurrency = 4\nmax_requests = 500\n[[checks]]\nname = \"ok\"\nstatus = 200\n[thresholds]\ncheck_pass_rate = \">= 0.99\"\n",
            t.url
        ),
    );
    let xml = dir.path().join("r.xml");
    let o = kaioken(&[
        "run",
        "-f",
        cfg.to_str().unwrap(),
        "--no-tui",
        "-o",
        xml.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let out = stdout(&o);
    // k6's mark: ✗ as not every response passed.
    assert!(
        out.contains("✗  90.00%  ok  (450 passed, 50 failed)"),
        "{out}"
    );
    assert!(out.contains("✗ FAIL check_pass_rate >= 0.99"), "{out}");
    assert!(
        stderr(&o).contains("check_pass_rate >= 0.99 (observed 0.9000)"),
        "{}",
        stderr(&o)
    );
    let junit = std::fs::read_to_string(&xml).unwrap();
    assert!(
        junit.contains("<testsuite name=\"kaioken.checks\" tests=\"1\" failures=\"1\""),
        "{junit}"
    );
    assert!(
        junit.contains("50 of 500 responses failed (pass rate 90.00%)"),
        "{junit}"
    );
    // --dry-run lists them.
    let o = kaioken(&["run", "-f", cfg.to_str().unwrap(), "--dry-run"]);
    assert!(
        stdout(&o).contains("Check:       ok: status == 200"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_failed_request_fails_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = "[target]\nurl = \"http://127.0.0.1:9/\"\n[load]\nmax_requests = 20\nconcurrency = 2\n[[checks]]\ncondition = \"latency < 10s\"\n";
    let p = write_file(dir.path(), "c.toml", cfg);
    let out = dir.path().join("r.json");
    let o = kaioken(&[
        "run",
        "-f",
        p.to_str().unwrap(),
        "--no-tui",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    // Refused connections: no response to judge, so even a latency-only check fails.
    assert_eq!(v["checks"][0]["passes"], 0, "{}", v["checks"]);
    assert_eq!(v["checks"][0]["fails"], 20);
}

#[test]
fn bad_checks_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (check, want) in [
        (
            "condition = \"status = 200\"",
            "checks[0].condition = status = 200: missing comparison",
        ),
        (
            "condition = \"body matches \\\"([\\\"\"",
            "the regex does not compile",
        ),
        ("condition = \"cookie has x\"", "unknown subject `cookie`"),
        (
            "status = 42",
            "checks[0].status = 42: a status code is 100-599",
        ),
        ("name = \"nothing\"", "needs a condition"),
        ("statu = 200", "did you mean `status`"),
    ] {
        let p = write_file(
            dir.path(),
            "bad.toml",
            &format!("[target]\nurl = \"http://127.0.0.1:9/\"\n[[checks]]\n{check}\n"),
        );
        let o = kaioken(&["run", "-f", p.to_str().unwrap(), "--dry-run"]);
        assert_eq!(o.status.code(), Some(1), "{check}");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{check}: {err}");
    }
}
