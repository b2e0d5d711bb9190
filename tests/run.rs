//! End-to-end runs against the built-in target: the JSON result, outputs, config files,
//! graceful stop and the demo.

mod support;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

#[test]
fn json_result_has_the_versioned_schema() {
    let t = Target::start(&["--delay", "1ms"]);
    let o = kaioken(&[
        "run",
        &t.url,
        "-c",
        "4",
        "-d",
        "2s",
        "--json",
        "-H",
        "Authorization: Bearer hunter2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["schema"], "kaioken.result/v1");
    let m = &v["metadata"];
    assert_eq!(m["tool"], "kaioken");
    assert!(m["started_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(m["target"]["method"], "GET");
    assert_eq!(m["target"]["headers"]["authorization"], "[redacted]");
    assert!(!stdout(&o).contains("hunter2"), "secret leaked");
    assert_eq!(m["load"]["model"], "closed");
    assert_eq!(m["load"]["concurrency"], 4);
    assert!(m["host"]["cpus"].as_u64().unwrap() >= 1);
    let s = &v["summary"];
    for k in [
        "total_requests",
        "successful",
        "failed",
        "error_rate",
        "requests_per_sec",
        "bytes_received",
        "duration_secs",
    ] {
        assert!(!s[k].is_null(), "summary.{k} missing");
    }
    let total = s["total_requests"].as_u64().unwrap();
    assert_eq!(total, t.served(), "the server saw exactly what we counted");
    assert_eq!(v["latency_us"]["kind"], "service_time");
    for k in [
        "min", "max", "mean", "stddev", "p50", "p75", "p90", "p95", "p99", "p999",
    ] {
        assert!(
            !v["latency_us"][k].is_null() && !v["service_time_us"][k].is_null(),
            "{k}"
        );
    }
    // A 1 ms server delay: every service time is at least 1 ms.
    assert!(
        v["latency_us"]["min"].as_u64().unwrap() >= 1000,
        "{}",
        v["latency_us"]
    );
    assert_eq!(v["status_codes"]["200"].as_u64().unwrap(), total);
    assert!(v["errors"].as_object().unwrap().is_empty());
    let tl = v["timeline"].as_array().unwrap();
    assert_eq!(tl.len(), 2);
    for sec in tl {
        for k in ["requests", "errors", "rps", "p50_us", "p99_us"] {
            assert!(!sec[k].is_null(), "timeline {k}");
        }
    }
    let hist = v["histograms"]["latency"].as_str().unwrap();
    let decoded = kaioken::results::histogram_codec::decode(hist).unwrap();
    assert_eq!(decoded.len(), total);
    assert!(
        kaioken::results::histogram_codec::decode(
            v["histograms"]["service_time"].as_str().unwrap()
        )
        .is_ok()
    );
}

#[test]
fn error_statuses_are_failures_and_chunked_bodies_are_read() {
    let t = Target::start(&["--error-rate", "0.25", "--chunked", "--body-size", "3000"]);
    let o = kaioken(&["run", &t.url, "-n", "4000", "-c", "8", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["status_codes"]["500"], 1000);
    assert_eq!(v["status_codes"]["200"], 3000);
    assert_eq!(v["summary"]["failed"], 1000);
    assert_eq!(v["summary"]["error_rate"], 0.25);
    assert_eq!(
        v["summary"]["connections_opened"], 8,
        "chunked bodies keep connections alive"
    );
    // The 3,000 successes carry 3,000-byte chunked bodies (the 500s a short error text).
    assert!(v["summary"]["bytes_received"].as_u64().unwrap() > 3000 * 3000);
}

#[test]
fn output_file_is_written_and_config_file_drives_the_run() {
    let t = Target::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("k.toml");
    std::fs::write(
        &cfg,
        r#"[target]
url = "${KAIOKEN_IT_URL}"
method = "POST"
body = '{"id": ${REQUEST_ID}}'
timeout = "2s"
[target.headers]
X-Env = "${KAIOKEN_IT_UNSET:-fallback}"
[load]
concurrency = 3
max_requests = "1k"
"#,
    )
    .unwrap();
    let out = dir.path().join("result.json");
    let o = support::command()
        .args([
            "run",
            "-f",
            cfg.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .env("KAIOKEN_IT_URL", &t.url)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Requests"),
        "human summary on stdout: {}",
        stdout(&o)
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(v["summary"]["total_requests"], 1000);
    assert_eq!(v["metadata"]["target"]["method"], "POST");
    assert_eq!(v["metadata"]["target"]["headers"]["x-env"], "fallback");
    assert_eq!(t.served(), 1000);
    // No temp file left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn unwritable_output_is_one_line_and_exit_1() {
    let t = Target::start(&[]);
    let o = kaioken(&[
        "run",
        &t.url,
        "-n",
        "10",
        "-c",
        "1",
        "-o",
        "/nonexistent-dir/r.json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot write /nonexistent-dir/r.json"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn sigterm_stops_gracefully_and_writes_outputs() {
    let t = Target::start(&["--delay", "50ms"]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let child = support::command()
        .args([
            "run",
            &t.url,
            "-c",
            "10",
            "-d",
            "60s",
            "--no-tui",
            "-o",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = std::time::Instant::now();
    let o = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped within the graceful period"
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let total = v["summary"]["total_requests"].as_u64().unwrap();
    // ~10 VUs × 20 req/s × 1.5 s; in-flight requests finished (50 ms ≪ graceful stop).
    assert!(total > 100, "{total}");
    assert_eq!(v["summary"]["interrupted"], 0);
    assert_eq!(
        t.served(),
        total,
        "every request the server answered was counted"
    );
    assert!(v["summary"]["duration_secs"].as_f64().unwrap() < 5.0);
}

#[test]
fn demo_runs_a_real_load_test() {
    let o = kaioken(&["demo", "-d", "2s", "-c", "10", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert!(v["summary"]["total_requests"].as_u64().unwrap() > 1000);
    assert_eq!(v["summary"]["failed"], 0);
    assert!(
        v["metadata"]["target"]["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
}

#[test]
fn h2c_against_the_built_in_target() {
    let t = Target::start(&[]);
    let o = kaioken(&["run", &t.url, "--http2", "-n", "3000", "-c", "20", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["summary"]["successful"], 3000);
    assert_eq!(v["metadata"]["target"]["protocol"], "h2");
    assert_eq!(t.served(), 3000);
}

/// `-n` with `-d`: the run stops at whichever comes first, and rates divide by the time the
/// run took, not by the duration it was allowed.
#[test]
fn a_spent_request_budget_ends_a_timed_run_early_and_rates_use_the_real_time() {
    let t = Target::start(&[]);
    let started = std::time::Instant::now();
    let o = kaioken(&[
        "run", &t.url, "-n", "2000", "-c", "4", "-d", "60s", "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let v = json(&o);
    let s = &v["summary"];
    assert_eq!(s["total_requests"], 2000);
    let secs = s["duration_secs"].as_f64().unwrap();
    assert!(secs < 30.0, "{secs}");
    let rps = s["requests_per_sec"].as_f64().unwrap();
    assert!((rps * secs - 2000.0).abs() < 1.0, "{rps} × {secs}");
}
