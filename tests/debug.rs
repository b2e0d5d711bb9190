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
