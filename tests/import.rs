//! `kaioken import`: a HAR recorded by headless Chromium (Playwright's `recordHar`, see
//! tests/fixtures/record-har.js) browsing the built-in target's /app/ pages becomes a
//! config that runs unchanged against a fresh target; bad input is one line, exit 1.

mod support;

use support::{Target, kaioken, stderr, write_file};

const HAR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/app.har");

#[test]
fn a_recorded_session_imports_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("imported.toml");
    let o = kaioken(&["import", HAR, "-o", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("4 scenarios from 7 requests"),
        "{}",
        stderr(&o)
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    for gone in [
        "Cookie",
        "sec-ch-ua",
        "Sec-Fetch",
        "Accept-Encoding",
        "User-Agent",
        "Host",
    ] {
        assert!(!text.contains(&format!("\"{gone}")), "{gone} kept:\n{text}");
    }
    assert!(text.contains("\"authorization\" = \"Bearer tok-"), "{text}");
    assert!(
        text.contains(r#"body = '{"user":"demo","pass":"demo"}'"#),
        "{text}"
    );
    assert!(
        text.contains("# skipped: entry 7"),
        "the followed redirect is dropped:\n{text}"
    );

    // The recording's origin is gone; the same config runs against a fresh target.
    let t = Target::start(&[]);
    let o = kaioken(&[
        "run",
        "-f",
        cfg.to_str().unwrap(),
        &t.url,
        "-n",
        "700",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = t.stats();
    let n = |p: &str| s["paths"][p].as_u64().unwrap_or(0);
    // Weights 2:2:2:1 (index, login, me, redirect/1) and the redirect followed to /0.
    for (p, want) in [
        ("/app/index.html", 200),
        ("/app/login", 200),
        ("/app/me", 200),
        ("/app/redirect/1", 100),
        ("/app/redirect/0", 100),
    ] {
        assert!(n(p).abs_diff(want) <= 7, "{p}: {} {s}", n(p));
    }

    // The file exists now: no overwrite without --force.
    let o = kaioken(&["import", HAR, "-o", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    let o = kaioken(&[
        "import",
        HAR,
        "-o",
        cfg.to_str().unwrap(),
        "--force",
        "--filter",
        "login",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 scenarios from 2 requests"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_har_input_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let junk = write_file(dir.path(), "junk.har", "<html>not json</html>");
    let empty = write_file(dir.path(), "empty.har", r#"{"log": {"entries": []}}"#);
    let out = dir.path().join("o.toml");
    let out = out.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["import", junk.to_str().unwrap(), "-o", out],
            "not a HAR file",
        ),
        (
            vec!["import", empty.to_str().unwrap(), "-o", out],
            "log.entries",
        ),
        (
            vec!["import", "/surely/missing.har", "-o", out],
            "cannot read /surely/missing.har",
        ),
        (
            vec!["import", HAR, "-o", out, "--filter", "(x"],
            "--filter = (x",
        ),
    ] {
        let o = kaioken(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(needle), "{needle}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    assert!(!std::path::Path::new(out).exists());
}
