//! HTTP/1.1 framing against servers that answer with exact bytes, including misbehaving ones.

mod support;
use support::*;

fn run_json(url: &str, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    let mut args = vec!["run", url, "--json"];
    args.extend_from_slice(extra);
    let o = kaioken(&args);
    let v = json(&o);
    (o, v)
}

#[test]
fn close_delimited_bodies_reconnect_each_time() {
    let addr = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until close",
        true,
    );
    let (o, v) = run_json(&format!("http://{addr}/"), &["-n", "200", "-c", "4"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(v["summary"]["total_requests"], 200);
    assert_eq!(v["summary"]["successful"], 200);
    assert_eq!(v["summary"]["connections_opened"], 200);
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n".len() as u64;
    assert_eq!(
        v["summary"]["bytes_received"].as_u64().unwrap(),
        200 * (head + 16)
    );
}

#[test]
fn chunked_bodies_keep_the_connection() {
    let addr = raw_server(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n3\r\nabc\r\n0\r\nTrailer: 1\r\n\r\n", false);
    let (o, v) = run_json(&format!("http://{addr}/"), &["-n", "500", "-c", "2"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(v["summary"]["successful"], 500);
    assert_eq!(v["summary"]["connections_opened"], 2);
}

#[test]
fn garbage_is_a_protocol_error_and_the_report_is_still_written() {
    let addr = raw_server(b"SSH-2.0-OpenSSH_9.2\r\n\r\n", true);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let o = kaioken(&[
        "run",
        &format!("http://{addr}/"),
        "-n",
        "50",
        "-c",
        "2",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "every request failed: {}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(v["errors"]["protocol"], 50);
    assert_eq!(v["summary"]["failed"], 50);
}

#[test]
fn a_stalled_server_times_out_by_kind_and_the_run_ends() {
    let addr = raw_server(b"", false);
    let started = std::time::Instant::now();
    let (o, v) = run_json(
        &format!("http://{addr}/"),
        &["-d", "1s", "-c", "3", "--timeout", "300ms"],
    );
    assert_eq!(o.status.code(), Some(1));
    let timeouts = v["errors"]["timeout"].as_u64().unwrap();
    // Each VU times out every 300 ms for 1 s: 3 × (3 or 4).
    assert!((9..=12).contains(&timeouts), "{timeouts}");
    // Timeouts are slow requests: their latency is recorded.
    // The timeout fires at 300 ms, not before and not much after: the timer is exact to a
    // millisecond, and 100 ms covers a loaded machine's scheduling (a timeout at twice
    // its value, or on a coarse 1 s check, fails).
    let p50 = v["latency_us"]["p50"].as_u64().unwrap();
    assert!((300_000..=400_000).contains(&p50), "p50 {p50} µs");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn reset_midway_is_counted_as_closed() {
    // Promises 100 bytes, sends 4, closes.
    let addr = raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabcd", true);
    let (o, v) = run_json(&format!("http://{addr}/"), &["-n", "20", "-c", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(v["errors"]["closed"], 20, "{v}");
}

#[test]
fn heads_and_bodies_larger_than_the_first_read_buffer_arrive_whole() {
    // The read buffer starts at 4 KB and grows: a 9 KB head, then a 100 KB body.
    let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..60 {
        head.extend_from_slice(format!("X-Filler-{i:02}: {}\r\n", "v".repeat(140)).as_bytes());
    }
    head.extend_from_slice(b"Content-Length: 100000\r\n\r\n");
    assert!(head.len() > 9_000);
    let mut response = head.clone();
    response.extend(std::iter::repeat_n(b'b', 100_000));
    let response: &'static [u8] = response.leak();
    let addr = raw_server(response, false);
    let (o, v) = run_json(&format!("http://{addr}/"), &["-n", "300", "-c", "3"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(v["summary"]["successful"], 300);
    assert_eq!(v["summary"]["connections_opened"], 3, "framing held");
    assert_eq!(
        v["summary"]["bytes_received"].as_u64().unwrap(),
        300 * response.len() as u64
    );
}

#[test]
fn a_body_that_never_ends_times_out_while_it_streams() {
    // Chunks as fast as the socket takes them, forever: the timeout must still fire even
    // though every read finds data.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let chunk = [b"1000\r\n".as_slice(), &[b'x'; 4096], b"\r\n"]
            .concat()
            .repeat(16);
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let chunk = chunk.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
                if conn.write_all(head).is_err() {
                    return;
                }
                // Ends when the client gives up and closes.
                while conn.write_all(&chunk).is_ok() {}
            });
        }
    });
    let started = std::time::Instant::now();
    let (o, v) = run_json(
        &format!("http://{addr}/"),
        &["-d", "2s", "-c", "2", "--timeout", "300ms"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let timeouts = v["errors"]["timeout"].as_u64().unwrap();
    // Each VU times out every 300 ms for 2 s: 2 × (6 or 7), less on a loaded machine.
    assert!((6..=16).contains(&timeouts), "{timeouts}");
    // The timeout fires at 300 ms, not before and not much after: the timer is exact to a
    // millisecond, and 100 ms covers a loaded machine's scheduling (a timeout at twice
    // its value, or on a coarse 1 s check, fails).
    let p50 = v["latency_us"]["p50"].as_u64().unwrap();
    assert!((300_000..=400_000).contains(&p50), "p50 {p50} µs");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
