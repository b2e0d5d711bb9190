//! HTTP/2 against a scripted server that writes exact frames: GOAWAY mid-run, RST_STREAM,
//! PING, a small MAX_CONCURRENT_STREAMS, tiny flow-control windows under a large upload,
//! informational heads, padded and split header blocks with Huffman and the dynamic table,
//! trailers; and servers that send garbage, close mid-response or stall. The run always
//! finishes and counts what happened by kind.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use support::{kaioken, stderr, write_file};

/// What the scripted server does.
#[derive(Clone, Default)]
struct Script {
    /// SETTINGS sent after the preface.
    settings: Vec<(u16, u32)>,
    /// After this many streams on a connection: GOAWAY naming the last one, ignore later
    /// streams, close once the accepted ones are answered.
    goaway_after: Option<u64>,
    /// Reset (INTERNAL_ERROR) every k-th stream, counted over the whole server.
    rst_every: Option<u64>,
    /// A 103 head first, the real head split over padded HEADERS + CONTINUATION (Huffman,
    /// dynamic table), the body over two DATA frames (one padded), then trailers; a PING
    /// before each response.
    fancy: bool,
    /// Give back every DATA frame's bytes to both windows as it is read.
    replenish: bool,
    /// Send this instead of a preface, then close.
    garbage: Option<&'static [u8]>,
    /// Close the connection after the first response head.
    close_mid: bool,
    /// Never answer.
    stall: bool,
}

#[derive(Default)]
struct Seen {
    answered: AtomicU64,
    streams: AtomicU64,
    connections: AtomicU64,
    max_open: AtomicU64,
    ping_acks: AtomicU64,
    cancels: AtomicU64,
    /// Body length of every stream that carried one.
    bodies: Mutex<Vec<usize>>,
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Literal header without indexing, new name, plain strings (all shorter than 127).
fn literal(block: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    block.push(0x00);
    block.push(name.len() as u8);
    block.extend_from_slice(name);
    block.push(value.len() as u8);
    block.extend_from_slice(value);
}

/// "www.example.com", Huffman-coded (RFC 7541 C.4.1).
const HUFFMAN_WWW: [u8; 12] = [
    0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
];

fn read_frame(c: &mut TcpStream) -> Option<(u8, u8, u32, Vec<u8>)> {
    let mut h = [0u8; 9];
    c.read_exact(&mut h).ok()?;
    let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
    let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
    let mut p = vec![0u8; len];
    c.read_exact(&mut p).ok()?;
    Some((h[3], h[4], stream, p))
}

fn serve(script: Script) -> (String, Arc<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen = Arc::new(Seen::default());
    let s2 = seen.clone();
    thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { continue };
            let (script, seen) = (script.clone(), s2.clone());
            thread::spawn(move || connection(c, &script, &seen));
        }
    });
    (addr, seen)
}

fn connection(mut c: TcpStream, script: &Script, seen: &Seen) {
    seen.connections.fetch_add(1, Ordering::Relaxed);
    let mut preface = [0u8; 24];
    if c.read_exact(&mut preface).is_err() || &preface != b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" {
        return;
    }
    if let Some(g) = script.garbage {
        let _ = c.write_all(g);
        return finish(c);
    }
    let mut out = Vec::new();
    let mut p = Vec::new();
    for (id, v) in &script.settings {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    frame(&mut out, 0x4, 0, 0, &p);
    if c.write_all(&out).is_err() {
        return;
    }
    let mut on_conn = 0u64;
    let mut last_accepted: Option<u32> = None;
    let mut open: Vec<(u32, usize)> = Vec::new(); // (stream, body bytes so far)
    let mut first_head = true;
    while let Some((kind, flags, stream, payload)) = read_frame(&mut c) {
        out.clear();
        match kind {
            0x1 => {
                if last_accepted.is_some_and(|l| stream > l) {
                    continue; // after our GOAWAY: not processed
                }
                on_conn += 1;
                seen.streams.fetch_add(1, Ordering::Relaxed);
                open.push((stream, 0));
                seen.max_open
                    .fetch_max(open.len() as u64, Ordering::Relaxed);
                if script.goaway_after == Some(on_conn) {
                    last_accepted = Some(stream);
                    let mut g = stream.to_be_bytes().to_vec();
                    g.extend_from_slice(&0u32.to_be_bytes());
                    frame(&mut out, 0x7, 0, 0, &g);
                }
                if flags & 0x1 == 0 {
                    let _ = c.write_all(&out);
                    continue; // a body follows
                }
            }
            0x0 => {
                let n = payload.len();
                if let Some(o) = open.iter_mut().find(|o| o.0 == stream) {
                    o.1 += n;
                }
                if script.replenish && n > 0 {
                    frame(&mut out, 0x8, 0, 0, &(n as u32).to_be_bytes());
                    frame(&mut out, 0x8, 0, stream, &(n as u32).to_be_bytes());
                }
                if flags & 0x1 == 0 {
                    let _ = c.write_all(&out);
                    continue;
                }
                let body = open.iter().find(|o| o.0 == stream).map_or(0, |o| o.1);
                seen.bodies.lock().unwrap().push(body);
            }
            0x3 => {
                seen.cancels.fetch_add(1, Ordering::Relaxed);
                open.retain(|o| o.0 != stream);
                continue;
            }
            0x6 if flags & 0x1 != 0 => {
                if payload == b"kaiokenp" {
                    seen.ping_acks.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            _ => continue, // SETTINGS (and its ACK), WINDOW_UPDATE
        }
        // The request on `stream` is complete: answer it.
        if script.stall {
            continue;
        }
        open.retain(|o| o.0 != stream);
        let k = seen.answered.fetch_add(1, Ordering::Relaxed) + 1;
        if script.rst_every.is_some_and(|e| k.is_multiple_of(e)) {
            frame(&mut out, 0x3, 0, stream, &2u32.to_be_bytes());
        } else if script.fancy {
            frame(&mut out, 0x6, 0, 0, b"kaiokenp");
            let mut info = vec![0x08, 3];
            info.extend_from_slice(b"103");
            frame(&mut out, 0x1, 0x4, stream, &info);
            let mut block = vec![0x88]; // :status 200
            if first_head {
                // x-check: www.example.com, added to the dynamic table (index 62).
                block.extend_from_slice(&[0x40, 7]);
                block.extend_from_slice(b"x-check");
                block.push(0x80 | HUFFMAN_WWW.len() as u8);
                block.extend_from_slice(&HUFFMAN_WWW);
                first_head = false;
            } else {
                block.push(0xbe);
            }
            literal(&mut block, b"content-type", b"text/plain");
            let (a, b) = block.split_at(3);
            let mut padded = vec![4u8];
            padded.extend_from_slice(a);
            padded.extend_from_slice(&[0; 4]);
            frame(&mut out, 0x1, 0x8, stream, &padded);
            frame(&mut out, 0x9, 0x4, stream, b);
            let mut d = vec![2u8];
            d.extend_from_slice(b"hello ");
            d.extend_from_slice(&[0, 0]);
            frame(&mut out, 0x0, 0x8, stream, &d);
            frame(&mut out, 0x0, 0, stream, b"fancy\n");
            let mut trailers = Vec::new();
            literal(&mut trailers, b"x-trailer", b"1");
            frame(&mut out, 0x1, 0x5, stream, &trailers);
        } else {
            let mut block = vec![0x88];
            literal(&mut block, b"content-type", b"text/plain");
            frame(&mut out, 0x1, 0x4, stream, &block);
            if script.close_mid {
                let _ = c.write_all(&out);
                return finish(c);
            }
            frame(&mut out, 0x0, 0x1, stream, b"hello h2\n");
        }
        if c.write_all(&out).is_err() {
            return;
        }
        if last_accepted.is_some() && open.is_empty() {
            return finish(c); // went away and everything accepted is answered
        }
    }
}

/// Closes our side and reads until the client closes its own, so that no unread byte turns
/// the close into a reset (which would race with the client reading our last frames).
fn finish(mut c: TcpStream) {
    let _ = c.shutdown(std::net::Shutdown::Write);
    let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let mut sink = [0u8; 4096];
    while matches!(c.read(&mut sink), Ok(n) if n > 0) {}
}

/// Waits (up to 5 s) for the server thread to have seen `want` of `counter`: it reads the
/// client's last frames after the client has exited.
fn settle(counter: &AtomicU64, want: u64) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while counter.load(Ordering::Relaxed) < want && std::time::Instant::now() < deadline {
        thread::sleep(std::time::Duration::from_millis(10));
    }
    counter.load(Ordering::Relaxed)
}

fn run(addr: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let url = format!("http://{addr}/");
    let mut args = vec![
        "run",
        &url,
        "--http2",
        "--no-tui",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = kaioken(&args);
    let v = std::fs::read(&out)
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or(serde_json::Value::Null);
    (o.status.code(), v, stderr(&o))
}

#[test]
fn goaway_mid_run_retries_what_the_server_did_not_take() {
    let (addr, seen) = serve(Script {
        goaway_after: Some(7),
        ..Script::default()
    });
    let (code, v, err) = run(&addr, &["-n", "500", "-c", "10", "--h2-streams", "10"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["status_codes"]["200"], 500, "{v}");
    assert_eq!(v["summary"]["failed"], 0);
    // Every request was processed exactly once, over many connections.
    assert_eq!(seen.answered.load(Ordering::Relaxed), 500);
    assert!(seen.connections.load(Ordering::Relaxed) >= 500 / 7);
}

#[test]
fn reset_streams_are_counted_and_the_connection_goes_on() {
    let (addr, seen) = serve(Script {
        rst_every: Some(10),
        ..Script::default()
    });
    let (code, v, err) = run(
        &addr,
        &[
            "-n",
            "1000",
            "-c",
            "4",
            "--h2-streams",
            "4",
            "--threads",
            "1",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["status_codes"]["200"], 900, "{v}");
    assert_eq!(v["errors"]["reset"], 100, "{v}");
    assert_eq!(seen.connections.load(Ordering::Relaxed), 1);
}

#[test]
fn split_padded_huffman_heads_informational_heads_trailers_and_pings() {
    let (addr, seen) = serve(Script {
        fancy: true,
        ..Script::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_file(
        dir.path(),
        "c.toml",
        "[[checks]]\nname = \"header\"\ncondition = 'header x-check == \"www.example.com\"'\n\
         [[checks]]\nname = \"body\"\ncondition = 'body matches \"^hello fancy\\n$\"'\n\
         [[checks]]\nname = \"type\"\ncondition = 'header content-type == \"text/plain\"'\n",
    );
    let (code, v, err) = run(
        &addr,
        &[
            "-f",
            cfg.to_str().unwrap(),
            "-n",
            "300",
            "-c",
            "3",
            "--h2-streams",
            "3",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["status_codes"]["200"], 300, "{v}");
    for c in v["checks"].as_array().unwrap() {
        assert_eq!(c["pass_rate"], 1.0, "{c}");
    }
    assert_eq!(settle(&seen.ping_acks, 300), 300);
}

#[test]
fn a_low_stream_limit_and_tiny_windows_still_carry_large_uploads() {
    let (addr, seen) = serve(Script {
        settings: vec![(0x3, 2), (0x4, 1000), (0x5, 16_384)],
        replenish: true,
        ..Script::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let body: String = (0..200_000)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let file = write_file(dir.path(), "body.txt", &body);
    let (code, v, err) = run(
        &addr,
        &[
            "-m",
            "POST",
            "--body-file",
            file.to_str().unwrap(),
            "-n",
            "60",
            "-c",
            "10",
            "--h2-streams",
            "10",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["status_codes"]["200"], 60, "{v}");
    assert!(seen.max_open.load(Ordering::Relaxed) <= 2);
    let bodies = seen.bodies.lock().unwrap();
    assert_eq!(bodies.len(), 60);
    assert!(bodies.iter().all(|&n| n == 200_000), "{bodies:?}");
}

#[test]
fn garbage_is_a_protocol_error_and_the_report_is_written() {
    let (addr, _) = serve(Script {
        garbage: Some(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
        ..Script::default()
    });
    let (code, v, err) = run(&addr, &["-n", "20", "-c", "2", "--h2-streams", "2"]);
    assert_eq!(code, Some(1), "every request failed: {err}");
    assert_eq!(v["errors"]["protocol"], 20, "{v}");
}

#[test]
fn a_connection_closed_mid_response_is_counted_as_closed() {
    let (addr, seen) = serve(Script {
        close_mid: true,
        ..Script::default()
    });
    let (code, v, err) = run(&addr, &["-n", "30", "-c", "1", "--h2-streams", "1"]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(v["errors"]["closed"], 30, "{v}");
    assert_eq!(seen.connections.load(Ordering::Relaxed), 30);
}

#[test]
fn a_stalled_server_times_out_and_streams_are_cancelled() {
    let (addr, seen) = serve(Script {
        stall: true,
        ..Script::default()
    });
    let started = std::time::Instant::now();
    let (code, v, err) = run(
        &addr,
        &[
            "-d",
            "1s",
            "-c",
            "3",
            "--h2-streams",
            "3",
            "--timeout",
            "300ms",
            "--threads",
            "1",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    let timeouts = v["errors"]["timeout"].as_u64().unwrap();
    assert!((9..=12).contains(&timeouts), "{timeouts}");
    // Each timed-out stream was cancelled (RST_STREAM), on the one connection.
    assert!(settle(&seen.cancels, timeouts) >= timeouts - 3);
    assert_eq!(seen.connections.load(Ordering::Relaxed), 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
