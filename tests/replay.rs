//! `kaioken replay`: recorded traffic sent at its recorded times, judged by what nginx saw.
//!
//! One nginx serves every test of this binary; each test sends paths under its own prefix
//! and reads only its lines of nginx's log (`$msec`, method, URI, Content-Length, a header
//! and the user agent).

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::OnceLock;

use support::{free_port, kaioken, stderr, stdout};

struct Peer {
    _child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

fn nginx() -> &'static Peer {
    static PEER: OnceLock<Peer> = OnceLock::new();
    PEER.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = support::nginx_conf(
            dir.path(),
            &format!(
                "  log_format rp \"$msec|$request_method|$request_uri|$content_length|$http_x_trace|$http_user_agent\";\n  access_log {d}/rp.log rp;\n  keepalive_requests 1000000;\n  client_max_body_size 2m;\n  server {{ listen 127.0.0.1:{port}; location / {{ return 204; }} }}\n",
                d = dir.path().display()
            ),
        );
        let child = support::spawn_nginx(dir.path(), &conf);
        support::wait_listening(port);
        Peer {
            _child: child,
            dir,
            port,
        }
    })
}

fn target() -> String {
    format!("http://127.0.0.1:{}", nginx().port)
}

/// What nginx logged for paths under `prefix`: (time, method, uri, content length, x-trace,
/// user agent).
struct Seen {
    t: f64,
    method: String,
    uri: String,
    length: String,
    trace: String,
    agent: String,
}

fn seen(prefix: &str) -> Vec<Seen> {
    support::settled_lines(&nginx().dir.path().join("rp.log"))
        .iter()
        .filter_map(|l| {
            let f: Vec<&str> = l.splitn(6, '|').collect();
            (f.len() == 6 && f[2].starts_with(prefix)).then(|| Seen {
                t: f[0].parse().unwrap(),
                method: f[1].into(),
                uri: f[2].into(),
                length: f[3].into(),
                trace: f[4].into(),
                agent: f[5].into(),
            })
        })
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Replays `file` to the shared nginx with `extra` arguments, writing the result into
/// `dir`: the process's output and the result (`Null` when the run wrote none).
fn replay(dir: &Path, file: &Path, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    let out = dir.join("r.json");
    let _ = std::fs::remove_file(&out);
    let t = target();
    let mut args = vec!["replay", file.to_str().unwrap(), "--target", &t, "--no-tui"];
    let out_s = out.to_str().unwrap().to_string();
    args.extend(["-o", &out_s]);
    args.extend(extra);
    let o = kaioken(&args);
    let r = std::fs::read_to_string(&out)
        .map(|s| serde_json::from_str(&s).unwrap())
        .unwrap_or(serde_json::Value::Null);
    (o, r)
}

fn clf_time(unix: u64) -> String {
    let ts = jiff::Timestamp::from_second(unix as i64).unwrap();
    ts.strftime("%d/%b/%Y:%H:%M:%S +0000").to_string()
}

/// 10,000 lines of an nginx access log over 10 s, with a different count in every second
/// (`$time_local` has whole seconds: the records of a second are spread across it).
/// nginx's per-second counts, aligned on the median of (arrival − recorded time), match
/// the log's within ±2%: a request moves to a neighbouring second only if its lag differs
/// from the median by more than its distance to the boundary, and at ≥ 700/s, 2% (14
/// requests) is a 14 ms stall at every boundary, far beyond a 2-core machine's scheduling
/// noise of about a millisecond.
#[test]
fn an_access_log_replays_its_per_second_counts_server_side() {
    let dir = tempfile::tempdir().unwrap();
    let counts = [700u64, 1300, 900, 1100, 800, 1200, 1000, 1000, 750, 1250];
    assert_eq!(counts.iter().sum::<u64>(), 10_000);
    let base = 1_796_637_600u64;
    let mut log = String::new();
    let mut recorded = std::collections::HashMap::new();
    for (s, n) in counts.iter().enumerate() {
        for i in 0..*n {
            let path = format!("/sec/{s}/{i}");
            // Where the replay places it: spread across its second.
            recorded.insert(path.clone(), s as f64 + (i as f64 + 0.5) / *n as f64);
            log.push_str(&format!(
                "10.0.0.{} - - [{}] \"GET {path} HTTP/1.1\" 200 612 \"-\" \"Mozilla/5.0\"\n",
                i % 250,
                clf_time(base + s as u64)
            ));
        }
    }
    let file = write(dir.path(), "access.log", &log);
    let (o, r) = replay(dir.path(), &file, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let seen = seen("/sec/");
    assert_eq!(seen.len(), 10_000);
    let mut lag: Vec<f64> = seen.iter().map(|s| s.t - recorded[&s.uri]).collect();
    lag.sort_by(f64::total_cmp);
    let median = lag[lag.len() / 2];
    let mut per_second = [0u64; 10];
    for s in &seen {
        let sec = (s.t - median).floor().clamp(0.0, 9.0) as usize;
        per_second[sec] += 1;
    }
    for (s, (got, want)) in per_second.iter().zip(counts).enumerate() {
        let tolerance = want as f64 * 0.02;
        assert!(
            (*got as f64 - want as f64).abs() <= tolerance,
            "second {s}: nginx saw {got}, the log has {want}: {per_second:?}"
        );
    }
    // Latency is measured from the recorded times, and the result says what it read.
    assert_eq!(r["load"]["model"], "replay");
    assert_eq!(r["load"]["latency"], "from_intended_send");
    assert_eq!(r["load"]["replay"]["records"], 10_000);
    assert_eq!(r["load"]["replay"]["format"], "combined");
    assert_eq!(r["load"]["replay"]["bad_lines"], 0);
    assert_eq!(r["summary"]["total_requests"], 10_000);
}

fn jsonl(t_ms: f64, url: &str, extra: &str) -> String {
    format!("{{\"t_ms\": {t_ms}, \"url\": \"{url}\"{extra}}}\n")
}

/// 400 records over 4 s at --speed 2 arrive over 2 s: the span from the first arrival to
/// the last is (3.99 s − 0 s) / 2 = 1.995 s. Tolerance 100 ms: the lag of two requests
/// (one each end) on a loaded machine; a speed ignored would give 3.99 s.
#[test]
fn speed_2_halves_the_duration() {
    let dir = tempfile::tempdir().unwrap();
    let log: String = (0..400)
        .map(|i| jsonl(i as f64 * 10.0, &format!("/speed/{i}"), ""))
        .collect();
    // Named .har, which detection would read as a HAR (and refuse): --log-format decides.
    let file = write(dir.path(), "rec.har", &log);
    let (o, r) = replay(
        dir.path(),
        &file,
        &["--speed", "2", "--log-format", "jsonl"],
    );
    assert_eq!(r["load"]["replay"]["format"], "jsonl");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let seen = seen("/speed/");
    assert_eq!(seen.len(), 400);
    let (lo, hi) = seen.iter().fold((f64::MAX, f64::MIN), |(lo, hi), s| {
        (lo.min(s.t), hi.max(s.t))
    });
    assert!((hi - lo - 1.995).abs() < 0.1, "span {:.3} s", hi - lo);
    assert!(stdout(&o).contains("at 2× speed"), "{}", stdout(&o));
}

/// A JSONL record's method, headers and body reach the server; the connection's own
/// headers are not replayed; the user's -H replaces a recorded header of its name; a record
/// for another origin is counted, not sent.
#[test]
fn jsonl_records_carry_method_headers_and_body() {
    let dir = tempfile::tempdir().unwrap();
    let origin = "http://shop.example:8080";
    let log = [
        jsonl(
            0.0,
            &format!("{origin}/rec/a?x=1"),
            r#", "method": "POST", "headers": {"X-Trace": "t-1", "Content-Length": "999", "User-Agent": "recorded/1.0"}, "body": "{\"item\": 7}""#,
        ),
        jsonl(50.0, &format!("{origin}/rec/b"), r#", "headers": {"x-trace": "t-2"}"#),
        jsonl(60.0, "http://cdn.example/rec/other", ""),
        jsonl(100.0, "/rec/c", r#", "method": "DELETE""#),
    ]
    .concat();
    let file = write(dir.path(), "rec.jsonl", &log);
    let (o, r) = replay(dir.path(), &file, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut seen = seen("/rec/");
    seen.sort_by(|a, b| a.uri.cmp(&b.uri));
    let got: Vec<(&str, &str, &str, &str)> = seen
        .iter()
        .map(|s| {
            (
                s.method.as_str(),
                s.uri.as_str(),
                s.length.as_str(),
                s.trace.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("POST", "/rec/a?x=1", "11", "t-1"),
            ("GET", "/rec/b", "-", "t-2"),
            ("DELETE", "/rec/c", "-", "-"),
        ]
    );
    assert_eq!(seen[0].agent, "recorded/1.0");
    assert!(seen[1].agent.starts_with("kaioken/"), "{}", seen[1].agent);
    assert_eq!(r["load"]["replay"]["other_origin"], 1);

    // -H replaces the recorded header of its name.
    let log = jsonl(0.0, "/hdr/a", r#", "headers": {"X-Trace": "recorded"}"#);
    let file = write(dir.path(), "hdr.jsonl", &log);
    let (o, _) = replay(dir.path(), &file, &["-H", "X-Trace: mine"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let seen = support::settled_lines(&nginx().dir.path().join("rp.log"));
    let line = seen.iter().find(|l| l.contains("|/hdr/a|")).unwrap();
    assert!(line.contains("|mine|"), "{line}");
}

/// A HAR replays at its entries' startedDateTime offsets (here 0 and 300 ms), with the
/// origin of its first entry; the entry for another origin is left out.
#[test]
fn a_har_replays_at_its_recorded_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let entry = |t: &str, url: &str| {
        format!(
            r#"{{"startedDateTime": "{t}", "request": {{"method": "GET", "url": "{url}", "headers": [{{"name": "x-trace", "value": "har"}}]}}, "response": {{"status": 200}}}}"#
        )
    };
    let har = format!(
        r#"{{"log": {{"version": "1.2", "entries": [{}, {}, {}]}}}}"#,
        entry(
            "2026-12-07T10:00:00.000Z",
            &format!("{}/har/first", target())
        ),
        entry("2026-12-07T10:00:00.100Z", "https://fonts.example/x.woff"),
        entry(
            "2026-12-07T10:00:00.300Z",
            &format!("{}/har/second", target())
        ),
    );
    let file = write(dir.path(), "session.har", &har);
    let o = kaioken(&["replay", file.to_str().unwrap(), "--no-tui"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut seen = seen("/har/");
    seen.sort_by(|a, b| a.t.total_cmp(&b.t));
    let uris: Vec<&str> = seen.iter().map(|s| s.uri.as_str()).collect();
    assert_eq!(uris, ["/har/first", "/har/second"]);
    assert!(seen.iter().all(|s| s.trace == "har"));
    // 300 ms apart as recorded; ±50 ms for the lag of either request.
    let gap = seen[1].t - seen[0].t;
    assert!((gap - 0.3).abs() < 0.05, "{gap}");
}

/// A malformed line is counted and named by its number (skip, the default), or refuses
/// the file before any traffic (fail).
#[test]
fn a_bad_line_is_skipped_and_named_or_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let log = format!(
        "{}{}this is not a log line\n{}",
        format_args!(
            "1.2.3.4 - - [{}] \"GET /bad/1 HTTP/1.1\" 200 1\n",
            clf_time(1_796_637_600)
        ),
        format_args!(
            "1.2.3.4 - - [{}] \"GET /bad/2 HTTP/1.1\" 200 1\n",
            clf_time(1_796_637_600)
        ),
        format_args!(
            "1.2.3.4 - - [{}] \"GET /bad/4 HTTP/1.1\" 200 1\n",
            clf_time(1_796_637_601)
        ),
    );
    let file = write(dir.path(), "access.log", &log);
    let (o, r) = replay(dir.path(), &file, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(r["load"]["replay"]["bad_lines"], 1);
    let first = r["load"]["replay"]["first_bad_line"].as_str().unwrap();
    assert!(
        first.ends_with("access.log:3: no time stamp in [brackets]"),
        "{first}"
    );
    assert!(stdout(&o).contains("1 bad line skipped"), "{}", stdout(&o));
    assert_eq!(seen("/bad/").len(), 3);

    let fail_log = log.replace("/bad/", "/fail/");
    let file = write(dir.path(), "fail.log", &fail_log);
    let (o, r) = replay(dir.path(), &file, &["--on-bad-line", "fail"]);
    assert!(r.is_null(), "no result is written for a refused file");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("fail.log:3") && err.contains("no time stamp"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(seen("/fail/").len(), 0);
}

/// Bad input gets one line naming the field, the value and the fix, before any traffic.
#[test]
fn bad_replay_input_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = write(
        dir.path(),
        "a.log",
        &format!(
            "1.2.3.4 - - [{}] \"GET /x HTTP/1.1\" 200 1\n",
            clf_time(1_796_637_600)
        ),
    );
    let no_time = write(
        dir.path(),
        "no-time.har",
        r#"{"log": {"entries": [{"request": {"method": "GET", "url": "http://127.0.0.1:9/"}}]}}"#,
    );
    let unknown = write(dir.path(), "what.txt", "hello\nworld\n");
    let l = log.to_str().unwrap();
    let t = target();
    let with_path = format!("{t}/api");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![l, "--target", &t, "--log-format", "w3c"], "log_format"),
        (vec![l, "--target", &t, "--speed", "0"], "speed"),
        (vec![l, "--target", &t, "--speed", "-2"], "speed"),
        (vec![no_time.to_str().unwrap()], "startedDateTime"),
        (
            vec![unknown.to_str().unwrap(), "--target", &t],
            "--log-format",
        ),
        (vec![l], "--target"),
        (
            vec![l, "--target", &t, "--arrival-rate", "10"],
            "arrival_rate",
        ),
        (vec![l, "--target", &t, "-c", "10"], "concurrency"),
        (vec![l, "--target", &t, "-m", "POST"], "method"),
        (vec![l, "--target", &with_path], "only the origin"),
        (vec![l, &t, "--target", "http://127.0.0.1:9"], "two targets"),
        (
            vec![l, "--target", &t, "--on-bad-line", "ignore"],
            "on_bad_line",
        ),
    ];
    for (args, names) in cases {
        let mut all = vec!["replay"];
        all.extend(&args);
        all.push("--no-tui");
        let o = kaioken(&all);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(names), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("Error {"),
            "{err}"
        );
    }
}

/// A 1 GB JSONL file (4,096 records of 256 KiB bodies) replays at constant memory: the
/// file is streamed, so the generator's peak RSS is bounded by what is in flight, not by
/// the file. The bound, in 256 KiB records: 16 VUs each hold up to four (its record, the
/// one waiting in its mailbox, the rendered request and its body) = 64; each thread's
/// pool holds its share of a 50 ms reorder window (51 records at 1,024/s) plus what its
/// VUs handed back (16) = 83 over two threads; 147 × 256 KiB = 37 MB, plus a baseline of
/// about 10 MB and the allocator's slack: under 96 MB, against the 1 GB a reader that held
/// the file would need (and the 70 MB that leaking the buffers of 280 dropped records
/// took before that was fixed).
#[test]
fn a_1gb_log_replays_at_constant_rss() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let body = "x".repeat(256 * 1024);
        for i in 0..4096 {
            // 1,024 records per recorded second, over 4 s; played at 2× in 2 s.
            writeln!(
                f,
                "{{\"t_ms\": {}, \"method\": \"POST\", \"url\": \"/big/{i}\", \"body\": \"{body}\"}}",
                i as f64 * 1000.0 / 1024.0
            )
            .unwrap();
        }
    }
    assert!(std::fs::metadata(&path).unwrap().len() >= 1 << 30);
    let mut child = support::command()
        .args([
            "replay",
            path.to_str().unwrap(),
            "--target",
            &target(),
            "--speed",
            "2",
            "--reorder-window",
            "50ms",
            "--max-vus",
            "16",
            "--no-tui",
            "-o",
            dir.path().join("big.json").to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    while child.try_wait().unwrap().is_none() {
        if let Ok(s) = std::fs::read_to_string(&status)
            && let Some(kb) = s
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success());
    // The whole file was read: every record was sent (nginx saw it) or dropped for want of
    // a VU (the cap that bounds memory; how many depends on the machine's load).
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("big.json")).unwrap()).unwrap();
    let sent = seen("/big/").len() as u64;
    assert_eq!(r["load"]["replay"]["records"], 4096);
    assert_eq!(r["summary"]["total_requests"], sent);
    let dropped = r["load"]["dropped_iterations"].as_u64().unwrap();
    assert_eq!(sent + dropped, 4096);
    assert!(sent > 0);
    assert!(peak_kb > 0 && peak_kb < 96 * 1024, "peak RSS {peak_kb} kB");
}

/// `[replay]` in a config file, with scenarios that group records by path: each record goes
/// to the first scenario whose `match` takes it (with that scenario's headers and checks),
/// the rest to "(unmatched)"; per-scenario results and a threshold filtered by scenario
/// work as in any run.
#[test]
fn a_config_replay_groups_records_into_scenarios_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let log: String = (0..30)
        .map(|i| {
            let path = match i % 3 {
                0 => format!("/grp/api/{i}"),
                1 => format!("/grp/static/{i}.css"),
                _ => format!("/grp/other/{i}"),
            };
            jsonl(i as f64 * 10.0, &path, "")
        })
        .collect();
    let file = write(dir.path(), "rec.jsonl", &log);
    let cfg = write(
        dir.path(),
        "replay.toml",
        &format!(
            r#"[target]
url = "{t}/"
[replay]
file = "{f}"
speed = 2.0
[[scenarios]]
name = "api"
match = "^/grp/api/"
headers = {{ x-trace = "api" }}
checks = [{{ status = 204 }}]
[[scenarios]]
name = "static"
match = '\.css$'
[thresholds]
'p99_latency_ms{{scenario="api"}}' = "< 5000"
"#,
            t = target(),
            f = file.display()
        ),
    );
    let out = dir.path().join("r.json");
    let o = kaioken(&[
        "run",
        "-f",
        cfg.to_str().unwrap(),
        "--no-tui",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let count = |name: &str| r["scenarios"][name]["total_requests"].as_u64().unwrap();
    assert_eq!(
        (count("api"), count("static"), count("(unmatched)")),
        (10, 10, 10),
        "{}",
        r["scenarios"]
    );
    assert_eq!(r["thresholds"][0]["passed"], true, "{}", r["thresholds"]);
    assert_eq!(r["scenarios"]["api"]["url"], "match ^/grp/api/");
    assert_eq!(r["scenarios"]["api"]["method"], "recorded");
    let seen = seen("/grp/");
    assert_eq!(seen.len(), 30);
    for s in &seen {
        let want = if s.uri.starts_with("/grp/api/") {
            "api"
        } else {
            "-"
        };
        assert_eq!(s.trace, want, "{}", s.uri);
    }

    // `match` outside a replay, and what a record brings itself, are refused by name.
    let bad = write(
        dir.path(),
        "bad.toml",
        &format!(
            "[target]\nurl = \"{t}/\"\n[replay]\nfile = \"{f}\"\n[[scenarios]]\nname = \"a\"\nmatch = \"^/\"\nmethod = \"POST\"\n",
            t = target(),
            f = file.display()
        ),
    );
    let o = kaioken(&["run", "-f", bad.to_str().unwrap(), "--no-tui"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("scenarios[0].method"), "{}", stderr(&o));
    let no_replay = write(
        dir.path(),
        "noreplay.toml",
        &format!(
            "[target]\nurl = \"{t}/\"\n[[scenarios]]\nname = \"a\"\nurl = \"/x\"\nmatch = \"^/\"\n",
            t = target()
        ),
    );
    let o = kaioken(&[
        "run",
        "-f",
        no_replay.to_str().unwrap(),
        "--no-tui",
        "-n",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("scenarios[0].match"), "{}", stderr(&o));
}

/// `--loop` starts again one period later: 10 records 100 ms apart make a period of 1 s
/// (their 0.9 s span plus one mean gap), so `-d 2.45s` sends the records due at 0.0–0.9,
/// 1.0–1.9 and 2.0–2.4 s: exactly 25, in 3 passes (2.45 s sits between two records, so
/// float rounding of the offsets cannot move one across the end).
#[test]
fn loop_repeats_the_file_until_the_duration() {
    let dir = tempfile::tempdir().unwrap();
    let log: String = (0..10)
        .map(|i| jsonl(i as f64 * 100.0, &format!("/loop/{i}"), ""))
        .collect();
    let file = write(dir.path(), "loop.jsonl", &log);
    let (o, r) = replay(dir.path(), &file, &["--loop", "-d", "2.45s"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(seen("/loop/").len(), 25);
    assert_eq!(r["summary"]["total_requests"], 25);
    assert_eq!(r["load"]["replay"]["passes"], 3, "{}", r["load"]["replay"]);
}
