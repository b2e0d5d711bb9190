//! WebSocket against an independent server: PyPI's `websockets` (tests/peers/ws_server.py),
//! started once for this binary on loopback. Its log is what the server saw: connections
//! with their path, chosen subprotocol and a header, and every message with its payload.
//! Each test uses its own path or its own server, so the counts are its own.

mod support;

use std::process::Child;
use std::sync::OnceLock;

use support::pki::{Pki, make_pki};
use support::{command, json, settled_lines, stderr, stdout, write_file};

struct Peer {
    _child: Child,
    pki: Pki,
    echo: u16,
    closing: u16,
    silent: u16,
    echo_tls: u16,
}

impl Peer {
    fn log(&self) -> Vec<String> {
        settled_lines(&self.pki.path("ws.log"))
    }

    /// Log lines of connections to `path` on the echo servers.
    fn opened(&self, path: &str) -> Vec<String> {
        let prefix = format!("open {path} ");
        self.log()
            .into_iter()
            .filter(|l| l.starts_with(&prefix))
            .collect()
    }

    fn count(&self, line: &str) -> usize {
        self.log().iter().filter(|l| *l == line).count()
    }
}

fn peer() -> &'static Peer {
    static P: OnceLock<Peer> = OnceLock::new();
    P.get_or_init(|| {
        let pki = make_pki();
        let log = pki.path("ws.log").display().to_string();
        let cert = pki.path("server.pem").display().to_string();
        let key = pki.path("server.key").display().to_string();
        let (child, ports) = support::python_peer(
            "ws_server.py",
            &[&log, &cert, &key],
            "run the test command from README.md (it installs PyPI's websockets)",
        );
        Peer {
            _child: child,
            pki,
            echo: ports["echo"],
            closing: ports["closing"],
            silent: ports["silent"],
            echo_tls: ports["echo_tls"],
        }
    })
}

fn run(args: &[&str]) -> std::process::Output {
    command()
        .args(["run", "--json"])
        .args(args)
        .output()
        .expect("running kaioken")
}

#[test]
fn echo_messages_with_variables_headers_and_a_subprotocol() {
    let p = peer();
    let url = format!("ws://127.0.0.1:{}/vars", p.echo);
    let o = run(&[
        &url,
        "-b",
        "hello ${REQUEST_ID}",
        "-H",
        "X-Test: yes",
        "--ws-subprotocol",
        "chat.v1",
        "-n",
        "40",
        "-c",
        "4",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["summary"]["successful"], 40);
    assert_eq!(v["status_codes"]["101"], 40);
    assert_eq!(v["metadata"]["target"]["protocol"], "websocket");
    // One connection per VU, kept: the server saw 4 upgrades to /vars, each with the header
    // and the subprotocol it chose from our offer.
    assert_eq!(v["summary"]["connections_opened"], 4);
    let opened = p.opened("/vars");
    assert_eq!(opened.len(), 4, "{opened:?}");
    assert!(
        opened.iter().all(|l| l == "open /vars chat.v1 yes"),
        "{opened:?}"
    );
    // 40 text messages, each with its own request id.
    let ids: std::collections::BTreeSet<String> = p
        .log()
        .iter()
        .filter_map(|l| l.strip_prefix("msg text hello "))
        .map(str::to_string)
        .collect();
    assert_eq!(ids.len(), 40, "{ids:?}");
    // The reply's bytes: "hello N" plus a 2-byte frame header each.
    let expected: u64 = ids.iter().map(|id| 6 + id.len() as u64 + 2).sum();
    assert_eq!(v["summary"]["bytes_received"], expected);
    // Each VU ended its session with a closing handshake: 1000, normal closure.
    assert_eq!(p.count("closed /vars 1000"), 4, "{:?}", p.log());
}

#[test]
fn binary_frames_and_checks_on_the_reply() {
    let p = peer();
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "ws.toml",
        &format!(
            "[target]\nurl = \"ws://127.0.0.1:{}/bin\"\nbody = \"ping-bin\"\n[websocket]\nbinary = true\nsubprotocols = [\"chat.v2\"]\n[[checks]]\nname = \"echoed\"\nbody_contains = \"ping-bin\"\n[[checks]]\nname = \"never\"\nbody_contains = \"pong\"\n",
            p.echo
        ),
    );
    let o = run(&["-f", config.to_str().unwrap(), "-n", "6", "-c", "1"]);
    let v = json(&o);
    assert_eq!(v["summary"]["successful"], 6, "{}", stderr(&o));
    assert_eq!(p.count("msg bin ping-bin"), 6);
    // `subprotocols` from the file was offered, and the server chose it.
    assert_eq!(p.opened("/bin"), vec!["open /bin chat.v2 -"]);
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks[0]["passes"], 6, "{checks:?}");
    assert_eq!(checks[1]["fails"], 6, "{checks:?}");
}

#[test]
fn a_server_close_is_counted_with_its_code_and_the_vu_reconnects() {
    let p = peer();
    let url = format!("ws://127.0.0.1:{}/", p.closing);
    let o = run(&[&url, "-b", "x", "-n", "10", "-c", "1"]);
    let v = json(&o);
    // The server echoes 3 messages, then closes: the 4th finds the close frame. Messages
    // 1-3 and 5-7 are echoed, 4 and 8 are closes, 9-10 go on a third connection.
    assert_eq!(v["summary"]["successful"], 8, "{}", stdout(&o));
    assert_eq!(v["errors"]["ws_closed"], 2);
    assert_eq!(
        v["error_reasons"]["ws_closed"],
        "the server closed with code 4001 (enough)"
    );
    assert_eq!(v["summary"]["connections_opened"], 3);
    assert_eq!(p.count("open-closing"), 3);
    assert_eq!(p.count("msg-closing"), 8);
}

#[test]
fn an_unanswered_message_times_out_and_its_connection_is_not_reused() {
    let p = peer();
    let url = format!("ws://127.0.0.1:{}/", p.silent);
    let o = run(&[&url, "-b", "x", "-n", "3", "-c", "1", "--timeout", "200ms"]);
    let v = json(&o);
    assert_eq!(v["errors"]["timeout"], 3, "{}", stdout(&o));
    // A late reply must never be taken for the next message's: each message went on a
    // connection of its own.
    assert_eq!(p.count("open-silent"), 3);
    assert_eq!(p.count("msg-silent"), 3);
}

#[test]
fn wss_verifies_the_server_with_the_ca() {
    let p = peer();
    let url = format!("wss://127.0.0.1:{}/tls", p.echo_tls);
    let ca = p.pki.path("ca.pem").display().to_string();
    let o = run(&[&url, "--cacert", &ca, "-b", "secure", "-n", "5", "-c", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["summary"]["successful"], 5);
    assert_eq!(v["summary"]["tls_handshakes"], 1);
    assert_eq!(p.opened("/tls").len(), 1);
    // Without the CA the certificate is refused, by kind, before any upgrade.
    let o = run(&[&url, "-b", "secure", "-n", "2", "-c", "1"]);
    assert_eq!(json(&o)["errors"]["tls_cert_invalid"], 2);
    assert_eq!(p.opened("/tls").len(), 1);
}

#[test]
fn messages_follow_an_arrival_rate_across_connections() {
    let p = peer();
    let url = format!("ws://127.0.0.1:{}/rate", p.echo);
    let o = run(&[
        &url,
        "-b",
        "r",
        "--arrival-rate",
        "200",
        "--max-vus",
        "20",
        "-d",
        "2s",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    // 200 messages/s for 2 s: the schedule holds 400 arrivals; the issue's bound is ±2%
    // of the rate, so the server must see 392..=408 messages on /rate's connections.
    let sent = v["summary"]["total_requests"].as_u64().unwrap();
    let seen = p.count("msg text r");
    assert!(
        (392..=408).contains(&seen),
        "server saw {seen}, sent {sent}"
    );
    // Connections are VUs, not messages.
    let conns = p.opened("/rate").len();
    assert!(conns <= 20, "{conns} connections for 400 messages");
    assert_eq!(v["load"]["dropped_iterations"], 0);
}

#[test]
fn an_http_server_refuses_the_upgrade_with_its_status() {
    let t = support::Target::start(&[]);
    let url = t.url.replace("http://", "ws://");
    let o = run(&[&url, "-b", "x", "-n", "2", "-c", "1"]);
    let v = json(&o);
    assert_eq!(v["errors"]["ws_upgrade"], 2, "{}", stdout(&o));
    let why = v["error_reasons"]["ws_upgrade"].as_str().unwrap();
    assert!(why.contains("answered 200 OK instead of 101"), "{why}");
}

#[test]
fn websocket_settings_in_the_wrong_place_are_one_line() {
    for (args, field) in [
        (&["http://127.0.0.1:9/", "--ws-binary"][..], "ws_binary"),
        (&["ws://127.0.0.1:9/", "--http2"][..], "http2"),
        (&["ws://127.0.0.1:9/", "-m", "POST"][..], "method"),
        (
            &["ws://127.0.0.1:9/", "--ws-subprotocol", "a b"][..],
            "ws_subprotocol",
        ),
        (
            &["ws://127.0.0.1:9/", "--disable-keepalive"][..],
            "disable_keepalive",
        ),
    ] {
        let o = command().arg("run").args(args).output().unwrap();
        // Flags alone: usage errors.
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains(field), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn fire_and_forget_sends_at_the_interval_and_counts_replies() {
    let p = peer();
    let url = format!("ws://127.0.0.1:{}/fire", p.echo);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_file(
        dir.path(),
        "ws.toml",
        "[websocket]\nmode = \"fire_and_forget\"\nmessage_interval = \"50ms\"\n",
    );
    let o = run(&[
        &url,
        "--config",
        cfg.to_str().unwrap(),
        "-b",
        "fire",
        "-n",
        "20",
        "-c",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    // 20 sends, each counted under 101 with no reply awaited; the server saw all 20.
    assert_eq!(v["status_codes"]["101"], 20);
    assert_eq!(p.count("msg text fire"), 20, "{:?}", p.log());
    // Each VU pauses 50 ms between its 10 messages: 9 pauses, so at least 0.45 s.
    assert!(
        v["summary"]["duration_secs"].as_f64().unwrap() >= 0.45,
        "{v}"
    );
    // A reply (1 ms away on loopback) is taken at the VU's next send, 50 ms later; only
    // each VU's last reply may come after its last send: at least 18 of 20 are counted.
    let got = v["messages"]["received"].as_u64().unwrap();
    assert!((18..=20).contains(&got), "{got} replies counted");

    // The flag form, and its refusals: on an http:// URL, and with checks.
    let o = run(&[
        &url,
        "--ws-fire-and-forget",
        "-b",
        "x",
        "-n",
        "3",
        "-c",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(&["http://127.0.0.1:1/", "--ws-fire-and-forget"]);
    assert_eq!(o.status.code(), Some(2), "a usage error");
    assert!(stderr(&o).contains("ws://"), "{}", stderr(&o));
    let checks = write_file(
        dir.path(),
        "c.toml",
        "[[checks]]\ncondition = 'body contains \"x\"'\n",
    );
    let o = run(&[
        &url,
        "--ws-fire-and-forget",
        "--config",
        checks.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("awaits no reply"), "{}", stderr(&o));
}

#[test]
fn ws_connections_holds_every_connection_at_a_low_message_rate() {
    let p = peer();
    let url = format!("ws://127.0.0.1:{}/held", p.echo);
    let o = run(&[
        &url,
        "-b",
        "held",
        "--ws-connections",
        "30",
        "--arrival-rate",
        "20",
        "-d",
        "2s",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    // 30 connections open from the start, although 20 messages/s need one or two: the
    // server saw exactly 30 upgrades, and each ended with a normal close (1000).
    assert_eq!(p.opened("/held").len(), 30, "{:?}", p.log());
    assert_eq!(p.count("closed /held 1000"), 30, "{:?}", p.log());
    // The schedule holds 20/s × 2 s = 40 arrivals (k/20 s for k = 0..39); the server saw
    // them all, with no message dropped for want of a connection.
    assert_eq!(p.count("msg text held"), 40, "{:?}", p.log());
    assert_eq!(v["load"]["dropped_iterations"], 0);

    // The config key, under a closed model: 4 connections carry -n 8.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_file(dir.path(), "ws.toml", "[websocket]\nconnections = 4\n");
    let url = format!("ws://127.0.0.1:{}/held4", p.echo);
    let o = run(&[
        &url,
        "--config",
        cfg.to_str().unwrap(),
        "-b",
        "h4",
        "-n",
        "8",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(p.opened("/held4").len(), 4, "{:?}", p.log());
    assert_eq!(p.count("msg text h4"), 8);

    // A count beside it that contradicts it, zero, or an http:// URL: one line, exit 2.
    for (args, fix) in [
        (&["-c", "3"][..], "drop -c/--concurrency"),
        (
            &["--arrival-rate", "5", "--max-vus", "3"][..],
            "drop --max-vus",
        ),
        (&["--ramp-up", "1s"][..], "drop --ramp-up"),
    ] {
        let o = command()
            .args(["run", "ws://127.0.0.1:9/", "--ws-connections", "5"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: a usage error");
        let err = stderr(&o);
        assert!(err.contains("ws_connections") && err.contains(fix), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    for url in ["ws://127.0.0.1:9/", "http://127.0.0.1:9/"] {
        let n = if url.starts_with("ws") { "0" } else { "2" };
        let o = command()
            .args(["run", url, "--ws-connections", n])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{url}: a usage error");
        assert!(stderr(&o).contains("ws_connections"), "{}", stderr(&o));
    }
}

#[test]
fn scenarios_mix_an_http_login_with_messages_on_two_websockets() {
    let p = peer();
    let dir = tempfile::tempdir().unwrap();
    let base = format!("127.0.0.1:{}", p.echo);
    // The target is a WebSocket; the login is plain HTTP on the same origin, run once per
    // VU (weight 0) for the token the messages carry. `/mix-room` is relative, so a
    // WebSocket like the target.
    let cfg = write_file(
        dir.path(),
        "mix.toml",
        &format!(
            r#"[target]
url = "ws://{base}/"
cookie_jar = true
[load]
concurrency = 2
threads = 1
max_requests = 8
[[scenarios]]
name = "login"
url = "http://{base}/http/login"
weight = 0
[scenarios.extract]
token = "body"
[[scenarios]]
name = "chat"
url = "ws://{base}/mix-chat"
body = "hi ${{token}}"
weight = 3
[[scenarios.checks]]
name = "echoed"
condition = "body contains \"hi token-\""
[[scenarios]]
name = "room"
url = "/mix-room"
body = "room"
weight = 1
"#
        ),
    );
    let o = run(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stderr(&o), stdout(&o));
    let v = json(&o);
    let log = p.log();
    // One login per VU: the token stays set, so the dependency does not run again.
    let logins: Vec<&String> = log
        .iter()
        .filter(|l| l.starts_with("http /http/login"))
        .collect();
    assert_eq!(logins.len(), 2, "{log:?}");
    // The 8 iterations of the 3:1 cycle on one thread: exactly 6 chat and 2 room messages,
    // each chat message carrying a token the server handed out.
    let chats: Vec<&String> = log
        .iter()
        .filter(|l| l.starts_with("msg text hi token-"))
        .collect();
    assert_eq!(chats.len(), 6, "{log:?}");
    assert_eq!(p.count("msg text room"), 2, "{log:?}");
    assert_eq!(
        v["scenarios"]["chat"]["total_requests"], 6,
        "{}",
        v["scenarios"]
    );
    assert_eq!(v["scenarios"]["chat"]["status_codes"]["101"], 6);
    assert_eq!(v["scenarios"]["login"]["status_codes"]["200"], 2);
    // Each VU holds one connection per WebSocket path, kept for all its messages: at
    // most one per VU (2) for each path, whichever VUs the cycle gave its messages to.
    let (chat, room) = (p.opened("/mix-chat").len(), p.opened("/mix-room").len());
    assert!(
        (1..=2).contains(&chat) && (1..=2).contains(&room),
        "{log:?}"
    );
    // The cookie the login set went out on every upgrade.
    let cookies = log
        .iter()
        .filter(|l| l.starts_with("cookie /mix-") && l.contains(" seen="))
        .count();
    assert_eq!(cookies, chat + room, "{log:?}");
    // The check on the chat replies passed on all 6.
    assert_eq!(v["checks"][0]["passes"], 6, "{}", v["checks"]);
}
