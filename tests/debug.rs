//! `run --debug`: one request, dumped with secrets redacted, a timing breakdown and hints.

mod support;

use support::{Target, kaioken, stderr, stdout};

#[test]
fn debug_dumps_one_request_and_redacts_secrets() {
    let t = Target::start(&["--body-size", "16"]);
    for extra in [&[][..], &["--http2"][..]] {
        let mut args = vec![
            "run",
            t.url.as_str(),
            "-m",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-H",
            "Authorization: Bearer sekrit",
            "-b",
            "{\"name\":\"test\"}",
            "--debug",
        ];
        args.extend(extra);
        let o = kaioken(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let out = stdout(&o);
        assert!(out.contains("> POST "), "{out}");
        assert!(out.contains("> authorization: [redacted]"), "{out}");
        assert!(!out.contains("sekrit"), "{out}");
        assert!(
            out.contains("{\n  \"name\": \"test\"\n}"),
            "JSON pretty-printed: {out}"
        );
        assert!(out.contains(" 200 OK"), "{out}");
        assert!(out.contains("kaioken\nkaioken\n"), "response body: {out}");
        assert!(
            out.contains("Timing: dns ") && out.contains("first byte"),
            "{out}"
        );
    }
    // Exactly one request reached the server per debug run.
    assert_eq!(t.served(), 2);

    let o = kaioken(&[
        "run",
        &t.url,
        "-H",
        "Authorization: Bearer sekrit",
        "--debug",
        "--show-secrets",
    ]);
    assert!(
        stdout(&o).contains("> authorization: Bearer sekrit"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn debug_errors_come_with_a_hint() {
    let o = kaioken(&["run", "http://127.0.0.1:9/", "--debug"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("connection refused: is the server listening on 127.0.0.1:9?"),
        "{err}"
    );
}

/// `--debug` sends what the load run sends and shows it: a `Host` given with -H goes out
/// as given, and a body's content-length is among the headers shown.
#[test]
fn debug_shows_and_sends_the_host_given_and_the_body_length() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // Headers, then the 5-byte body.
        while !seen.ends_with(b"hello") {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .unwrap();
        String::from_utf8(seen).unwrap().to_ascii_lowercase()
    });
    let o = kaioken(&[
        "run",
        &format!("http://{addr}/x"),
        "-H",
        "Host: example.test",
        "-m",
        "POST",
        "-b",
        "hello",
        "--debug",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let seen = server.join().unwrap();
    assert!(seen.contains("\r\nhost: example.test\r\n"), "{seen}");
    assert!(!seen.contains("host: 127.0.0.1"), "{seen}");
    let shown = stdout(&o);
    assert!(
        shown.contains("> host: example.test") && shown.contains("> content-length: 5"),
        "{shown}"
    );
}
