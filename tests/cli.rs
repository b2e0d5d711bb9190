//! The binary's contract: exit codes and one-line messages for bad input.

mod support;
use support::*;

/// Bad input: one line on stderr that names the problem, no panic or Debug dump; exit 2 for a
/// bad value typed on the command line (a usage error), 1 for a bad config file.
fn assert_one_line_error(args: &[&str], want: &str) {
    let o = kaioken(args);
    let err = stderr(&o);
    let code = if args.contains(&"-f") { 1 } else { 2 };
    assert_eq!(o.status.code(), Some(code), "{args:?}: stderr {err}");
    assert!(err.contains(want), "{args:?}: {err:?} lacks {want:?}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: not one line: {err:?}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("Error {"),
        "{err}"
    );
}

#[test]
fn bad_command_line_values_exit_2_with_one_line() {
    // Usage errors exit 2 as clap's own do: a duration without a unit, no URL at all.
    assert_one_line_error(
        &["run", "http://127.0.0.1:1/", "-d", "10"],
        "duration = 10: not a duration (time unit needed",
    );
    assert_one_line_error(&["run"], "url = (none): give a URL");
    assert_one_line_error(&["run", "http://[::1"], "url = http://[::1");
    assert_one_line_error(&["run", "ftp://127.0.0.1/"], "unsupported scheme `ftp`");
    assert_one_line_error(&["run", "127.0.0.1:8080"], "write a full URL");
    assert_one_line_error(
        &["run", "http://127.0.0.1:1/", "-c", "0"],
        "concurrency = 0: must be at least 1",
    );
    assert_one_line_error(
        &["run", "http://127.0.0.1:1/", "-d", "-5s"],
        "duration = -5s: must not be negative",
    );
    assert_one_line_error(
        &["run", "http://127.0.0.1:1/", "-d", "soon"],
        "duration = soon: not a duration",
    );
    assert_one_line_error(
        &["run", "http://127.0.0.1:1/", "-H", "NoColonHere"],
        "--header = \"NoColonHere\"",
    );
    assert_one_line_error(
        &[
            "run",
            "http://127.0.0.1:1/",
            "--body-file",
            "/nonexistent/body.json",
        ],
        "body_file = /nonexistent/body.json",
    );
    assert_one_line_error(
        &["run", "http://127.0.0.1:1/", "-n", "many"],
        "max_requests = many",
    );
    assert_one_line_error(&["run"], "give a URL");
}

#[test]
fn usage_errors_exit_2() {
    let o = kaioken(&["run", "--no-such-flag"]);
    assert_eq!(o.status.code(), Some(2));
    let o = kaioken(&["run", "http://127.0.0.1:1/", "-c", "abc"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn config_file_errors_exit_1_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| write_file(dir.path(), name, text).display().to_string();
    let unknown = write(
        "unknown.toml",
        "[target]\nurl = \"http://127.0.0.1:1/\"\n[load]\nconcurency = 5\n",
    );
    assert_one_line_error(
        &["run", "-f", &unknown],
        "unknown key `concurency` (did you mean `concurrency`?)",
    );
    let o = kaioken(&["run", "-f", &unknown]);
    assert!(stderr(&o).contains("unknown.toml:4:"), "{}", stderr(&o));

    let malformed = write("bad.toml", "[target]\nurl = \"http://x/\"\n[load\n");
    let o = kaioken(&["run", "-f", &malformed]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bad.toml:3:"), "{}", stderr(&o));
    assert_eq!(stderr(&o).trim_end().lines().count(), 1, "{}", stderr(&o));

    let unset = write(
        "env.toml",
        "[target]\nurl = \"http://127.0.0.1:1/\"\n[target.headers]\nAuthorization = \"Bearer ${KAIOKEN_SURELY_UNSET_TOKEN}\"\n",
    );
    assert_one_line_error(
        &["run", "-f", &unset],
        "KAIOKEN_SURELY_UNSET_TOKEN is not set",
    );
    let o = kaioken(&["run", "-f", &unset]);
    assert!(
        stderr(&o).contains("target.headers.Authorization"),
        "{}",
        stderr(&o)
    );

    assert_one_line_error(
        &["run", "-f", "/nonexistent/k.toml"],
        "cannot read config file /nonexistent/k.toml",
    );
}

#[test]
fn dry_run_prints_the_plan_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("k.toml");
    std::fs::write(
        &cfg,
        "# comment with ${NOT_AN_ENV_LOOKUP}\n[target]\nurl = \"http://127.0.0.1:9/${REQUEST_ID}\"\nmethod = \"POST\"\n[target.headers]\nAuthorization = \"Bearer ${KAIOKEN_TEST_TOKEN:-s3cret}\"\n[load]\nconcurrency = 7\nduration = \"42s\"\n",
    )
    .unwrap();
    let o = kaioken(&["run", "-f", cfg.to_str().unwrap(), "--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Configuration validated successfully!"),
        "{out}"
    );
    assert!(
        out.contains("POST http://127.0.0.1:9/${REQUEST_ID}"),
        "{out}"
    );
    assert!(out.contains("Concurrency: 7"), "{out}");
    assert!(out.contains("Duration:    42s"), "{out}");
    assert!(out.contains("authorization: [redacted]"), "{out}");
    assert!(!out.contains("s3cret"), "secret leaked: {out}");

    // A flag overrides the file even when it equals the default.
    let o = kaioken(&["run", "-f", cfg.to_str().unwrap(), "--dry-run", "-c", "50"]);
    assert!(stdout(&o).contains("Concurrency: 50"), "{}", stdout(&o));
}

#[test]
fn nothing_listening_is_counted_as_connect_refused_and_exits_1() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let o = kaioken(&["run", &url, "-c", "2", "-d", "1s", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("every request failed (connect_refused:"),
        "{}",
        stderr(&o)
    );
    let v = json(&o);
    assert!(v["errors"]["connect_refused"].as_u64().unwrap() > 0);
    assert_eq!(v["summary"]["successful"], 0);
}

#[test]
fn remote_target_is_refused_without_a_tty_unless_yes() {
    // TEST-NET-3 (RFC 5737): the refusal happens before any socket is opened.
    let o = kaioken(&["run", "http://203.0.113.7/", "-d", "1s"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not a loopback or private address; pass -y/--yes"),
        "{}",
        stderr(&o)
    );
}

/// What users of wrk, oha and hey type by habit: the same effect where the letter means
/// the same here, or one line naming our flag where it does not.
#[test]
fn habits_of_wrk_oha_and_hey_work_or_point_to_our_flag() {
    let dir = tempfile::tempdir().unwrap();
    let body = write_file(dir.path(), "body.json", "{\"k\":1}");
    // wrk's -t (threads), oha's and hey's -z (duration), oha's -D (body file): the plan
    // shows each took effect.
    let o = kaioken(&[
        "run",
        "http://127.0.0.1:9/",
        "-t",
        "2",
        "-c",
        "4",
        "-z",
        "3s",
        "-D",
        body.to_str().unwrap(),
        "--dry-run",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let plan = stdout(&o);
    for want in ["Threads:     2", "Duration:    3s", "Body:        7 bytes"] {
        assert!(plan.contains(want), "{want:?} not in\n{plan}");
    }
    // oha's -q is our -r; hey's -q differs (per worker), so a note says how it was read.
    let o = kaioken(&[
        "run",
        "http://127.0.0.1:9/",
        "-q",
        "5",
        "-n",
        "1",
        "--dry-run",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("rate-limited to 5 req/s"),
        "{}",
        stdout(&o)
    );
    let note = stderr(&o);
    assert!(
        note.contains("-q 5 is read as -r 5") && note.contains("hey"),
        "{note}"
    );
    assert_eq!(note.trim_end().lines().count(), 1, "{note}");

    // oha's -j (JSON on stdout) and wrk's --latency, on a real run.
    let t = Target::start(&[]);
    let o = kaioken(&["run", &t.url, "-n", "20", "-c", "2", "-j", "--latency"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["summary"]["total_requests"], 20);
    assert!(v["latency_us"]["p99"].as_u64().unwrap() > 0);

    // Letters that mean something else here: one line naming our flag.
    assert_one_line_error(
        &["run", "http://127.0.0.1:9/", "-d", "payload"],
        "for a request body use -b/--body",
    );
    assert_one_line_error(
        &["run", "http://127.0.0.1:9/", "-c", "-5"],
        "concurrency = -5: must be at least 1",
    );
    // Other tools' flags clap does not know: one line naming ours, exit 2 (clap alone once
    // pointed hey's --disable-redirects at --disable-keepalive).
    for (args, want) in [
        (&["-h2"][..], "'-h2': hey's HTTP/2 flag: use --http2"),
        (&["--vus", "10"], "'--vus': k6's VUs: use -c/--concurrency"),
        (&["--iterations", "10"], "use -n/--max-requests"),
        (&["--rps", "10"], "use -r/--rate"),
        (&["--summary-export=x.json"], "use -o FILE.json"),
        (
            &["-s", "x.lua"],
            "wrk's Lua script: kaioken has no scripting",
        ),
        (&["-A", "text/html"], "use -H 'Accept: TYPE'"),
        (&["-T", "text/html"], "use -H 'Content-Type: TYPE'"),
        (&["--disable-redirects"], "use --no-follow-redirects"),
        (&["--host", "x"], "use -H 'Host: NAME'"),
        (
            &["--latency-correction"],
            "from the intended send by default",
        ),
        (&["-w"], "use --graceful-stop"),
    ] {
        let mut all = vec!["run", "http://127.0.0.1:9/"];
        all.extend_from_slice(args);
        assert_one_line_error(&all, want);
    }
    // k6's `run script.js`.
    assert_one_line_error(&["run", "script.js"], "kaioken runs no k6 scripts");

    // An output format we cannot tell: the message names every format there is.
    assert_one_line_error(
        &["run", "http://127.0.0.1:9/", "-o", "r.txt", "--dry-run"],
        ".json, .csv, .md, .html or .xml (JUnit), or give --format json|csv|md|html|junit",
    );
}
