//! Prometheus export against the real thing: Debian's `prometheus` scrapes kaioken's
//! `/metrics` and is asked through its HTTP API; Debian's `prometheus-pushgateway` receives
//! the pushes. Both are started by the test on loopback ports.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Target, free_port, http_get, kaioken, stderr, wait_listening, write_file};

/// A child process killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(program: &str, args: &[String]) -> Server {
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} must be installed (scripts/test installs it): {e}"));
    Server(child)
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn result_total(path: &std::path::Path) -> f64 {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["summary"]["total_requests"].as_f64().unwrap()
}

/// A PromQL instant query through Prometheus' HTTP API; the first sample's value.
fn promql(addr: &str, query: &str) -> Option<f64> {
    let encoded: String = query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = http_get(addr, &format!("/api/v1/query?query={encoded}"));
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_scrapes_the_runs_request_count() {
    let dir = tempfile::tempdir().unwrap();
    let [metrics_port, prom_port] = support::free_ports::<2>();
    let cfg = write_file(
        dir.path(),
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: kaioken\n    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
        ),
    );
    let _prom = start(
        "/usr/bin/prometheus",
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
    );
    wait_listening(prom_port);
    let prom = format!("127.0.0.1:{prom_port}");
    wait_for("prometheus to be ready", Duration::from_secs(30), || {
        http_get(&prom, "/-/ready").contains("Ready")
    });

    let t = Target::start(&["--delay", "2ms"]);
    let out = dir.path().join("r.json");
    let o = kaioken(&[
        "run",
        &t.url,
        "--no-tui",
        "-r",
        "400",
        "-c",
        "20",
        "-d",
        "5s",
        "--prometheus-port",
        &metrics_port.to_string(),
        "--prometheus-linger",
        "5s",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("http://127.0.0.1:{metrics_port}/metrics")));
    let total = result_total(&out);

    let mut seen = None;
    wait_for(
        "the final scrape in prometheus",
        Duration::from_secs(20),
        || {
            seen = promql(
                &prom,
                "max_over_time(kaioken_requests_total{job=\"kaioken\"}[5m])",
            );
            seen.is_some_and(|v| (v - total).abs() <= total * 0.01)
        },
    );
    // The histogram agrees with the counter, and PromQL can take a quantile from it.
    let count = promql(
        &prom,
        "max_over_time(kaioken_request_duration_seconds_count[5m])",
    )
    .unwrap();
    assert!((count - total).abs() <= total * 0.01, "{count} vs {total}");
    let p50 = promql(
        &prom,
        "histogram_quantile(0.5, max_over_time(kaioken_request_duration_seconds_bucket[5m]))",
    )
    .unwrap();
    // A 2 ms delay plus loopback: the median lies in the (1 ms, 2.5 ms] bucket, or in
    // (2.5 ms, 5 ms] on a loaded machine, and histogram_quantile interpolates inside it. A
    // unit slip (µs as ms) or latencies inflated ×3 land outside.
    assert!(p50 > 0.001 && p50 <= 0.005, "p50 {p50}s");
}

#[test]
fn pushgateway_receives_pushes_and_the_group_is_deleted_unless_kept() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _gw = start(
        "/usr/bin/prometheus-pushgateway",
        &[
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!(
                "--persistence.file={}",
                dir.path().join("gw.data").display()
            ),
        ],
    );
    wait_listening(port);
    let gw = format!("127.0.0.1:{port}");
    let gw_url = format!("http://{gw}");
    let t = Target::start(&[]);

    let child = support::command()
        .args([
            "run", &t.url, "--no-tui", "-r", "200", "-c", "10", "-d", "4s",
        ])
        .args(["--prometheus-pushgateway", &gw_url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // While the run goes: typed counters under job="kaioken".
    wait_for("a push", Duration::from_secs(10), || {
        let m = http_get(&gw, "/metrics");
        m.contains("# TYPE kaioken_requests_total counter")
            && m.lines()
                .any(|l| l.starts_with("kaioken_requests_total{") && l.contains("job=\"kaioken\""))
    });
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("push failed"));
    let after = http_get(&gw, "/metrics");
    assert!(
        !after.contains("kaioken_requests_total{"),
        "the group was not deleted:\n{after}"
    );

    // Kept: the final push holds the run's exact total.
    let out = dir.path().join("kept.json");
    let o = kaioken(&[
        "run",
        &t.url,
        "--no-tui",
        "-n",
        "500",
        "-c",
        "5",
        "--prometheus-pushgateway",
        &gw_url,
        "--prometheus-keep",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let kept = http_get(&gw, "/metrics");
    let line = kept
        .lines()
        .find(|l| l.starts_with("kaioken_requests_total{"))
        .unwrap_or_else(|| panic!("no kept group:\n{kept}"));
    let v: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(v, result_total(&out));
    assert_eq!(v, 500.0);
}

#[test]
fn bad_prometheus_settings_are_one_line() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port().to_string();
    let t = Target::start(&[]);
    for (args, want) in [
        (
            vec!["--prometheus-pushgateway", "https://gw.example:9091"],
            "prometheus_pushgateway = https://gw.example:9091",
        ),
        (vec!["--prometheus-port", &busy_port], "prometheus_port = "),
        (
            vec!["--prometheus-port", "0", "--prometheus-bind", "localhost"],
            "prometheus_bind = localhost",
        ),
        (
            vec![
                "--prometheus-pushgateway",
                "http://127.0.0.1:9",
                "--prometheus-push-interval",
                "1ms",
            ],
            "prometheus_push_interval",
        ),
    ] {
        let mut all = vec!["run", t.url.as_str(), "--no-tui", "-n", "10"];
        all.extend(&args);
        let o = kaioken(&all);
        // A bad flag, no config file: a usage error; a port someone else holds is not.
        let code = if args.contains(&busy_port.as_str()) {
            1
        } else {
            2
        };
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{err} lacks {want}");
    }
    assert_eq!(t.served(), 0);
}
