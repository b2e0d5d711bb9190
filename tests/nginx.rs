//! Against a real nginx: keep-alive, --disable-keepalive, h2c, exact -n, runtime variables.

mod support;
use support::*;

#[test]
fn exactly_n_requests_are_sent_counted_by_nginx() {
    let n = Nginx::start();
    let o = kaioken(&["run", &n.url(), "-n", "10000", "-c", "13", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["summary"]["total_requests"], 10000);
    assert_eq!(v["status_codes"]["200"], 10000);
    assert_eq!(n.logged(), 10000);
    assert_eq!(v["summary"]["connections_opened"], 13);
}

#[test]
fn keepalive_run_for_a_duration() {
    let n = Nginx::start();
    let o = kaioken(&["run", &n.url(), "-c", "20", "-d", "2s", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    let total = v["summary"]["total_requests"].as_u64().unwrap();
    assert!(total > 1000, "{total}");
    assert_eq!(
        n.logged() as u64,
        total,
        "every request counted by us was served"
    );
    let secs = v["summary"]["duration_secs"].as_f64().unwrap();
    assert!((2.0..2.5).contains(&secs), "{secs}");
    assert_eq!(v["summary"]["connections_opened"], 20);
    let timeline = v["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 2, "{}", v["timeline"]);
    let per_second: u64 = timeline
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(per_second, total, "the timeline accounts for every request");
}

#[test]
fn disable_keepalive_opens_a_connection_per_request() {
    let n = Nginx::start();
    let o = kaioken(&[
        "run",
        &n.url(),
        "-n",
        "300",
        "-c",
        "5",
        "--disable-keepalive",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["summary"]["successful"], 300);
    assert_eq!(v["summary"]["connections_opened"], 300);
    assert_eq!(n.logged(), 300);
}

#[test]
fn h2c_prior_knowledge_multiplexes_streams() {
    let n = Nginx::start();
    let o = kaioken(&[
        "run",
        &n.h2_url(),
        "--http2",
        "-n",
        "5000",
        "-c",
        "40",
        "--h2-streams",
        "10",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["metadata"]["target"]["protocol"], "h2");
    assert_eq!(v["summary"]["successful"], 5000);
    // 40 VUs, 10 streams per connection: 4 connections in all.
    assert_eq!(v["summary"]["connections_opened"], 4);
    assert_eq!(n.logged(), 5000);
    let log = std::fs::read_to_string(n.access_log()).unwrap();
    assert!(log.lines().all(|l| l.ends_with(" 200")), "{log}");
}

/// nginx closes each h2 connection with GOAWAY after 50 requests and takes 3 streams at a
/// time: every request still arrives exactly once and none fails.
#[test]
fn h2_goaway_and_a_stream_limit_lose_nothing() {
    let n = Nginx::start();
    let url = format!("http://127.0.0.1:{}/", n.h2_strict_port);
    let o = kaioken(&[
        "run",
        &url,
        "--http2",
        "-n",
        "5000",
        "-c",
        "20",
        "--h2-streams",
        "10",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["summary"]["successful"], 5000, "{}", v["errors"]);
    assert_eq!(v["summary"]["failed"], 0);
    assert!(v["summary"]["connections_opened"].as_u64().unwrap() >= 100);
    assert_eq!(n.logged(), 5000);
}

#[test]
fn request_id_is_rendered_uniquely_per_request() {
    let n = Nginx::start();
    let url = format!("{}item/${{REQUEST_ID}}?t=${{TIMESTAMP_MS}}", n.url());
    let o = kaioken(&["run", &url, "-n", "2000", "-c", "8", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let log = std::fs::read_to_string(n.access_log()).unwrap();
    let ids: std::collections::HashSet<u64> = log
        .lines()
        .map(|l| {
            let uri = l.split(' ').nth(1).unwrap();
            uri.trim_start_matches("/item/")
                .split('?')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 2000, "every ${{REQUEST_ID}} is unique");
    assert_eq!(*ids.iter().max().unwrap(), 1999, "ids are dense from 0");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let ts: u64 = log
        .lines()
        .next()
        .unwrap()
        .split("?t=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        now_ms - ts < 60_000,
        "TIMESTAMP_MS is the current time: {ts} vs {now_ms}"
    );
}

#[test]
fn https_with_insecure_over_http1_and_h2_via_alpn() {
    let n = Nginx::start();
    let o = kaioken(&[
        "run",
        &n.tls_url(),
        "--insecure",
        "-n",
        "500",
        "-c",
        "5",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["summary"]["successful"], 500);
    assert_eq!(v["metadata"]["target"]["protocol"], "http/1.1");
    assert_eq!(v["summary"]["connections_opened"], 5);

    let o = kaioken(&[
        "run",
        &n.tls_url(),
        "--insecure",
        "--http2",
        "-n",
        "500",
        "-c",
        "20",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["summary"]["successful"], 500);
    assert_eq!(v["metadata"]["target"]["protocol"], "h2", "ALPN picked h2");
    assert_eq!(n.logged(), 1000);
}

#[test]
fn an_untrusted_certificate_is_a_tls_error() {
    let n = Nginx::start();
    let o = kaioken(&["run", &n.tls_url(), "-n", "20", "-c", "2", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["errors"]["tls_cert_invalid"], 20, "{}", v["errors"]);
    assert_eq!(n.logged(), 0);
}

/// The two wrong guesses a new user makes first, each answered on the run's last line with
/// what to do: https:// to a plain port, --http2 (prior knowledge) to an HTTP/1.1 server.
#[test]
fn a_wrong_scheme_or_protocol_says_what_to_use() {
    let n = Nginx::start();
    let plain_as_tls = format!("https://127.0.0.1:{}/", n.port);
    let h1 = n.url();
    for (args, hint) in [
        (
            vec![plain_as_tls.as_str(), "--insecure"],
            "answered in plain HTTP, not TLS: use http://",
        ),
        (
            vec![h1.as_str(), "--http2"],
            "does not speak HTTP/2 by prior knowledge; drop --http2",
        ),
    ] {
        let o = kaioken(&[&["run"][..], &args, &["-n", "3", "-c", "1", "--no-tui"]].concat());
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = stderr(&o);
        let last = err.trim_end().lines().last().unwrap_or_default();
        assert!(
            last.starts_with("kaioken: every request failed") && last.contains(hint),
            "{args:?}: {err}"
        );
    }
}
