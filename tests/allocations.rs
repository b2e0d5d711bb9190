//! Steady-state heap allocations per request, counted by a global allocator (a count, not a
//! timing): the difference between a long and a short run against nginx, divided by the
//! difference in requests, so setup costs cancel out.
#![allow(unsafe_code)]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use kaioken::cli::RunArgs;
use support::Nginx;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: delegates every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_for(url: &str, n: u64, extra: &[&str]) -> u64 {
    let mut args = RunArgs {
        url: Some(url.to_string()),
        concurrency: Some(10),
        max_requests: Some(n.to_string()),
        json: true,
        yes: true,
        ..RunArgs::default()
    };
    for e in extra {
        match *e {
            "--http2" => args.http2 = true,
            "--insecure" => args.insecure = true,
            "--sse" => args.sse = true,
            b if b.starts_with("body=") => args.body = Some(b["body=".len()..].into()),
            f if f.ends_with(".toml") => args.config = Some(f.into()),
            other => args.url = Some(format!("{url}{other}")),
        }
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let exit = kaioken::cmd::run::run(&args).unwrap();
    assert_eq!(exit, kaioken::cmd::Exit::Success);
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

/// The allocator's count is global: the tests of this file take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn per_request(url: &str, extra: &[&str]) -> f64 {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let short = allocations_for(url, 2_000, extra);
    let long = allocations_for(url, 102_000, extra);
    long.saturating_sub(short) as f64 / 100_000.0
}

/// A status, a body and a header check: the body and a header are captured per response.
const CHECKS: &str = "[[checks]]\ncondition = \"status == 200\"\n[[checks]]\ncondition = \"body matches \\\".\\\"\"\n[[checks]]\ncondition = \"header content-type contains \\\"text\\\"\"\n";

#[test]
fn http1_static_request_allocates_nothing_per_request() {
    let n = Nginx::start();
    let per = per_request(&n.url(), &[]);
    eprintln!("HTTP/1.1 allocations per request: {per:.4}");
    assert!(per <= 0.01, "{per} allocations per request");
}

#[test]
fn http1_request_with_variables_allocates_nothing_per_request() {
    let n = Nginx::start();
    let per = per_request(&n.url(), &["item/${REQUEST_ID}"]);
    eprintln!("HTTP/1.1 with ${{REQUEST_ID}}: {per:.4} allocations per request");
    assert!(per <= 0.01, "{per} allocations per request");
}

#[test]
fn http1_with_body_and_header_checks_allocates_nothing_per_request() {
    let n = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = support::write_file(dir.path(), "checks.toml", CHECKS);
    let per = per_request(&n.url(), &[cfg.to_str().unwrap()]);
    eprintln!("HTTP/1.1 with body and header checks: {per:.4} allocations per request");
    assert!(per <= 0.01, "{per} allocations per request");
}

#[test]
fn h2_static_request_allocates_nothing_per_request() {
    let n = Nginx::start();
    let per = per_request(&n.h2_url(), &["--http2"]);
    eprintln!("HTTP/2 allocations per request: {per:.4}");
    assert!(per <= 0.01, "{per} allocations per request");
}

#[test]
fn h2_with_variables_and_checks_allocates_nothing_per_request() {
    let n = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = support::write_file(dir.path(), "checks.toml", CHECKS);
    let per = per_request(
        &n.h2_url(),
        &["--http2", "item/${REQUEST_ID}", cfg.to_str().unwrap()],
    );
    eprintln!("HTTP/2 with ${{REQUEST_ID}} and checks: {per:.4} allocations per request");
    assert!(per <= 0.01, "{per} allocations per request");
}

/// A kept TLS connection. rustls 0.23 owns one `Vec` per TLS record each way: its buffered
/// API queues each encrypted record it sends as a new `Vec`, and every API (the unbuffered one
/// too, "in-place decryption in the future") moves each decrypted record into a new `Vec`.
/// A request here is one record out and one back, so 2.0 per request is rustls's floor and
/// anything above it is ours: the bound is that floor plus the 0.01 the other tests allow.
/// (kTLS would lift the floor, but this kernel has no `tls` ULP.) nginx keeps each of the
/// 10 connections for its 10,200 requests (`keepalive_requests 100000`), so handshakes are
/// in both runs and cancel out.
#[test]
fn https_kept_connection_allocates_only_rustls_records() {
    let n = Nginx::start();
    let per = per_request(&n.tls_url(), &["--insecure"]);
    eprintln!("HTTPS (HTTP/1.1) allocations per request: {per:.4}");
    assert!(per <= 2.01, "{per} allocations per request");
    let per = per_request(&n.tls_url(), &["--insecure", "--http2"]);
    eprintln!("HTTPS (h2) allocations per request: {per:.4}");
    assert!(per <= 2.01, "{per} allocations per request");
}

/// The WebSocket echo server of tests/websocket.rs (PyPI `websockets`), logging nothing.
fn ws_echo() -> (std::process::Child, u16) {
    use std::io::BufRead;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/ws_server.py");
    let mut child = support::spawn_tied(
        "python3",
        &[script, "/dev/null"],
        std::process::Stdio::piped(),
        std::process::Stdio::inherit(),
    );
    // Read up to "ready": the server prints nothing after it, so the pipe may then close.
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut port = None;
    for line in out.lines() {
        let line = line.expect("the WebSocket server's ports");
        if line == "ready" {
            break;
        }
        if let Some(p) = line.strip_prefix("echo ") {
            port = Some(p.parse().unwrap());
        }
    }
    let port = port
        .expect("the WebSocket server did not start (PyPI websockets: see README's test command)");
    (child, port)
}

/// A static WebSocket message is framed once and shared (a reference count per send);
/// tungstenite masks it into the write buffer it keeps and reads replies into the buffer it
/// keeps, so after the upgrades (in both runs, cancelled out) a message allocates nothing.
/// A templated one is rendered into buffers the connection keeps, and allocates nothing
/// either.
#[test]
fn websocket_static_and_templated_messages_allocate_nothing_per_message() {
    let (mut server, port) = ws_echo();
    let url = format!("ws://127.0.0.1:{port}/");
    // 5,000 more messages in the long run than in the short one.
    let per_message = |body: &str| {
        let _turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let short = allocations_for(&url, 500, &[body]);
        let long = allocations_for(&url, 5_500, &[body]);
        long.saturating_sub(short) as f64 / 5_000.0
    };
    // A 64-byte text message, then the same with a variable.
    let fixed = per_message(&format!("body={}", "m".repeat(64)));
    let templated = per_message(&format!("body={}-${{REQUEST_ID}}", "t".repeat(64)));
    eprintln!("WebSocket allocations per message: {fixed:.4} static, {templated:.4} templated");
    support::stop_tied(&mut server);
    // The bound: under 1 per 100 messages, where a per-message allocation would show as
    // 1.0 or more. A templated message may grow its 10 connections' buffers once each
    // when the request ids of the long run gain a digit: 10 to 20 of 5,000, about 0.004.
    assert!(fixed <= 0.01, "{fixed} allocations per message");
    assert!(
        templated <= 0.01,
        "{templated} allocations per templated message"
    );
}

/// A static gRPC call (its message framed once, when the plan was made) on the thread's
/// shared HTTP/2 connection: the stream slot, its body buffer and the message counter are
/// reused, so a call allocates nothing (PyPI grpcio's server, as in tests/grpc.rs).
#[test]
fn grpc_static_unary_call_allocates_nothing_per_call() {
    let (mut server, ports) = support::python_peer(
        "grpc_server.py",
        &["/dev/null"],
        "PyPI grpcio, grpcio-tools and grpcio-reflection: see README's test command",
    );
    let url = format!("http://127.0.0.1:{}", ports["port"]);
    let proto = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/peers/grpc/greeter.proto"
    );
    let calls = |n: u64| {
        let args = RunArgs {
            url: Some(url.clone()),
            concurrency: Some(10),
            max_requests: Some(n.to_string()),
            json: true,
            yes: true,
            grpc_service: Some("kaioken.test.Greeter".into()),
            grpc_method: Some("SayHello".into()),
            proto: vec![proto.into()],
            body: Some(r#"{"name":"alloc"}"#.into()),
            ..RunArgs::default()
        };
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let exit = kaioken::cmd::run::run(&args).unwrap();
        assert_eq!(exit, kaioken::cmd::Exit::Success);
        ALLOCATIONS.load(Ordering::Relaxed) - before
    };
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // 5,000 more calls in the long run; the proto's compilation is in both and cancels out.
    let short = calls(500);
    let long = calls(5_500);
    drop(_turn);
    let per = long.saturating_sub(short) as f64 / 5_000.0;
    eprintln!("gRPC allocations per call: {per:.4}");
    support::stop_tied(&mut server);
    assert!(per <= 0.01, "{per} allocations per call");
}

/// Server-Sent Events on a kept HTTP/1.1 connection: the events are split out of the chunks
/// as they arrive, counted and their gaps recorded in the thread's histogram, with nothing
/// kept per event (the streaming server of tests/streams.rs, Python's standard library).
#[test]
fn sse_events_allocate_nothing_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stream.log");
    let (mut server, ports) = support::python_peer(
        "stream_server.py",
        &[log.to_str().unwrap()],
        "python3 is needed for the streaming server",
    );
    let url = format!(
        "http://127.0.0.1:{}/events?n=3&gap=0&first=0",
        ports["port"]
    );
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // 2,000 more responses of 3 events each in the long run: 6,000 more events.
    let short = allocations_for(&url, 300, &["--sse"]);
    let long = allocations_for(&url, 2_300, &["--sse"]);
    drop(_turn);
    let per = long.saturating_sub(short) as f64 / 6_000.0;
    eprintln!("SSE allocations per event: {per:.4}");
    support::stop_tied(&mut server);
    // Under 1 per 100 events, where anything per event or per response would be ≥ 0.33.
    assert!(per <= 0.01, "{per} allocations per event");
}

/// A replay reads each record into pooled buffers and hands them to a VU by swapping, so in
/// steady state neither reading a record (JSONL with headers and a body) nor sending it
/// allocates. The pool holds what the reorder window (10 ms) and the 8 VUs need, so the
/// short run (5,000 records) has grown it; the long run's extra 10,000 records are the
/// steady state. Records have fixed-width numbers, so no buffer has to grow for a longer
/// one. The bound: these runs are paced (10,000 records/s), so the long one lasts 1 s
/// longer, and the aggregator's per-tick work (snapshots, the timeline: about 12
/// allocations per 100 ms tick, measured the same way on `--arrival-rate 10000`) adds
/// about 120 / 10,000 = 0.012 per record; one allocation per record would be 1.
/// (A JSONL string with escapes, such as a JSON body, costs serde_json's unescaping
/// buffer a couple of allocations per record: not measured here.)
#[test]
fn replayed_records_allocate_nothing_per_record() {
    let n = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let file = |records: u64| {
        let text: String = (0..records)
            .map(|i| {
                format!(
                    "{{\"t_ms\": {}, \"method\": \"POST\", \"url\": \"/r/{i:06}?q=1\", \"headers\": {{\"x-trace\": \"t{i:06}\", \"content-type\": \"application/json\"}}, \"body\": \"n={i:06}\"}}\n",
                    i as f64 * 0.1
                )
            })
            .collect();
        support::write_file(dir.path(), &format!("r{records}.jsonl"), &text)
    };
    let (short, long) = (file(5_000), file(15_000));
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let count = |path: &std::path::Path| {
        let args = kaioken::cli::ReplayArgs {
            file: path.to_path_buf(),
            target: Some(n.url()),
            speed: None,
            looping: false,
            log_format: None,
            reorder_window: Some("10ms".into()),
            on_bad_line: None,
            run: RunArgs {
                max_vus: Some(8),
                json: true,
                yes: true,
                ..RunArgs::default()
            },
        };
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let exit = kaioken::cmd::run::replay(&args).unwrap();
        assert_eq!(exit, kaioken::cmd::Exit::Success);
        ALLOCATIONS.load(Ordering::Relaxed) - before
    };
    let per = count(&long).saturating_sub(count(&short)) as f64 / 10_000.0;
    eprintln!("replay allocations per record: {per:.4}");
    assert!(per <= 0.02, "{per} allocations per record");
}
