//! gRPC against an independent server: PyPI's `grpcio` (tests/peers/grpc_server.py, with
//! reflection), started once for this binary on loopback. Its log is what the server saw:
//! each call with its method and the request's `name`, each message of a client stream, the
//! deadline it was given and metadata. Each test sends its own names, so counts are its own.

mod support;

use std::collections::BTreeSet;
use std::process::Child;
use std::sync::OnceLock;

use support::pki::{Pki, make_pki};
use support::{command, json, settled_lines, stderr, stdout, write_file};

const PROTO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/peers/grpc/greeter.proto"
);
const SERVICE: &str = "kaioken.test.Greeter";

struct Peer {
    _child: Child,
    pki: Pki,
    port: u16,
    tls: u16,
    noreflect: u16,
}

impl Peer {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> Vec<String> {
        settled_lines(&self.pki.path("grpc.log"))
    }

    /// Log lines starting with `prefix`.
    fn lines(&self, prefix: &str) -> Vec<String> {
        self.log()
            .into_iter()
            .filter(|l| l.starts_with(prefix))
            .collect()
    }
}

fn peer() -> &'static Peer {
    static P: OnceLock<Peer> = OnceLock::new();
    P.get_or_init(|| {
        let pki = make_pki();
        let log = pki.path("grpc.log").display().to_string();
        let cert = pki.path("server.pem").display().to_string();
        let key = pki.path("server.key").display().to_string();
        let (child, ports) = support::python_peer(
            "grpc_server.py",
            &[&log, &cert, &key],
            "run the test command from README.md (it installs PyPI's grpcio, grpcio-tools and grpcio-reflection)",
        );
        Peer {
            _child: child,
            pki,
            port: ports["port"],
            tls: ports["tls"],
            noreflect: ports["noreflect"],
        }
    })
}

fn run(args: &[&str]) -> std::process::Output {
    command()
        .args(["run", "--json", "-y"])
        .args(args)
        .output()
        .expect("running kaioken")
}

/// `--grpc-service` and `--proto` plus `args`.
fn call(url: &str, method: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec![url, "--grpc-service", SERVICE, "--grpc-method", method];
    all.extend_from_slice(&["--proto", PROTO]);
    all.extend_from_slice(args);
    run(&all)
}

#[test]
fn unary_calls_with_json_variables_metadata_checks_and_a_deadline() {
    let p = peer();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_file(
        dir.path(),
        "grpc.toml",
        r#"
[[checks]]
name = "ok"
condition = "grpc_status == OK"

[[checks]]
name = "greets"
condition = 'body contains "\"message\":\"hello unary-"'
"#,
    );
    let o = call(
        &p.url(),
        "SayHello",
        &[
            "--config",
            cfg.to_str().unwrap(),
            "-b",
            r#"{"name":"unary-${REQUEST_ID}"}"#,
            "-H",
            "x-tenant: acme",
            "-n",
            "60",
            "-c",
            "4",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["metadata"]["target"]["protocol"], "grpc");
    assert_eq!(v["status_codes"]["OK"], 60, "{}", v["status_codes"]);
    assert_eq!(v["summary"]["successful"], 60);
    // Both checks judged every reply (decoded to JSON through the proto) and passed.
    for c in v["checks"].as_array().unwrap() {
        assert_eq!(
            (c["passes"].as_u64(), c["fails"].as_u64()),
            (Some(60), Some(0)),
            "{c}"
        );
    }
    // The server saw 60 calls, each with its own rendered name and the metadata.
    let names: BTreeSet<String> = p
        .lines("SayHello unary-")
        .into_iter()
        .map(|l| l["SayHello ".len()..].to_string())
        .collect();
    assert_eq!(names.len(), 60, "{names:?}");
    assert!(p.lines("tenant acme").len() >= 60);
    // One reply message per call.
    assert_eq!(v["messages"]["received"], 60);
    assert_eq!(v["messages"]["per_reply"], 1.0);
    // The VUs of a thread share one HTTP/2 connection: at most one per thread, never one
    // per call.
    assert!(
        v["summary"]["connections_opened"].as_u64().unwrap() <= 2,
        "{v}"
    );

    // The deadline is `timeout`: the server sees about 7 s left (one decimal, so 7.0 or
    // 6.9 after the call's own flight).
    let o = call(
        &p.url(),
        "SayHello",
        &["-b", r#"{"name":"deadline"}"#, "--timeout", "7s", "-n", "1"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let left = p.lines("remaining ");
    assert!(
        left.iter()
            .any(|l| l == "remaining 7.0" || l == "remaining 6.9"),
        "{left:?}"
    );
}

#[test]
fn server_streams_are_counted_by_message() {
    let p = peer();
    let o = call(
        &p.url(),
        "Count",
        &[
            "-b",
            r#"{"name":"stream","count":5,"delay_ms":2}"#,
            "-n",
            "20",
            "-c",
            "2",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["status_codes"]["OK"], 20);
    // 5 messages per call, counted across however the server framed them.
    assert_eq!(v["messages"]["received"], 100, "{}", v["messages"]);
    assert_eq!(v["messages"]["per_reply"], 5.0);
    // The first message comes after one 2 ms pause, the whole call after five: the time to
    // first message is below the call's latency (compared at the median).
    let first = v["messages"]["time_to_first_us"]["p50"].as_u64().unwrap();
    let whole = v["latency_us"]["p50"].as_u64().unwrap();
    assert!(
        first >= 2_000 && first < whole,
        "first {first} whole {whole}"
    );
    assert_eq!(p.lines("Count stream").len(), 20);
}

#[test]
fn client_and_bidirectional_streams_send_the_messages_asked() {
    let p = peer();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_file(
        dir.path(),
        "c.toml",
        "[[checks]]\nname = \"all three\"\ncondition = 'body contains \"got 3\"'\n",
    );
    let cfgs = cfg.to_str().unwrap();
    let o = call(
        &p.url(),
        "Collect",
        &[
            "--config",
            cfgs,
            "--stream-messages",
            "3",
            "-b",
            r#"{"name":"collect"}"#,
            "-n",
            "10",
            "-c",
            "2",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["checks"][0]["passes"], 10, "{}", v["checks"]);
    assert_eq!(p.lines("msg Collect collect").len(), 30);
    assert_eq!(p.lines("Collect collect").len(), 10);

    let o = call(
        &p.url(),
        "Chat",
        &[
            "--stream-messages",
            "4",
            "-b",
            r#"{"name":"chat"}"#,
            "-n",
            "10",
            "-c",
            "2",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    // Each of the 4 messages answered: 40 replies in all.
    assert_eq!(v["messages"]["received"], 40);
    assert_eq!(p.lines("msg Chat chat").len(), 40);
}

#[test]
fn a_failing_share_is_counted_by_status_and_judged_by_thresholds() {
    let p = peer();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_file(
        dir.path(),
        "t.toml",
        "[thresholds]\ngrpc_status_ok_rate = \">= 0.8\"\nerror_rate = \"< 0.3\"\n",
    );
    // The server fails every 4th Flaky call it receives (no other test calls Flaky): of 100
    // calls exactly 25 are UNAVAILABLE, whatever their order.
    let o = call(
        &p.url(),
        "Flaky",
        &[
            "--config",
            cfg.to_str().unwrap(),
            "-b",
            r#"{"name":"flaky"}"#,
            "-n",
            "100",
            "-c",
            "4",
        ],
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["status_codes"]["OK"], 75, "{}", v["status_codes"]);
    assert_eq!(v["status_codes"]["UNAVAILABLE"], 25);
    assert_eq!(v["summary"]["failed"], 25);
    let t: Vec<(String, bool)> = v["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["passed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(t.contains(&("grpc_status_ok_rate".into(), false)), "{t:?}");
    assert!(t.contains(&("error_rate".into(), true)), "{t:?}");
    assert_eq!(v["thresholds"][1]["observed"], 0.75);
    assert_eq!(p.lines("Flaky flaky").len(), 100);
}

#[test]
fn reflection_gives_the_types_and_its_absence_is_one_line() {
    let p = peer();
    let o = run(&[
        &p.url(),
        "--grpc-service",
        SERVICE,
        "--grpc-method",
        "SayHello",
        "--reflect",
        "-b",
        r#"{"name":"reflected"}"#,
        "-n",
        "5",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["status_codes"]["OK"], 5);
    assert_eq!(p.lines("SayHello reflected").len(), 5);

    let bare = format!("http://127.0.0.1:{}", p.noreflect);
    let o = run(&[
        &bare,
        "--grpc-service",
        SERVICE,
        "--grpc-method",
        "SayHello",
        "--reflect",
        "-n",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("does not offer reflection") && err.contains("--proto"),
        "{err}"
    );

    let o = run(&[
        &p.url(),
        "--grpc-service",
        "kaioken.test.Nope",
        "--grpc-method",
        "SayHello",
        "--reflect",
        "-n",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no service kaioken.test.Nope"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn raw_protobuf_bodies_are_sent_as_they_are() {
    let p = peer();
    let dir = tempfile::tempdir().unwrap();
    // HelloRequest{name: "raw"}: field 1, length-delimited (0x0a), 3 bytes.
    let body = dir.path().join("req.bin");
    std::fs::write(&body, [0x0a, 3, b'r', b'a', b'w']).unwrap();
    let o = run(&[
        &p.url(),
        "--grpc-service",
        SERVICE,
        "--grpc-method",
        "SayHello",
        "--body-file",
        body.to_str().unwrap(),
        "-n",
        "7",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["status_codes"]["OK"], 7);
    assert_eq!(p.lines("SayHello raw").len(), 7);
}

#[test]
fn tls_with_a_private_ca() {
    let p = peer();
    let url = format!("https://127.0.0.1:{}", p.tls);
    let ca = p.pki.path("ca.pem");
    let o = call(
        &url,
        "SayHello",
        &[
            "--cacert",
            ca.to_str().unwrap(),
            "-b",
            r#"{"name":"tls"}"#,
            "-n",
            "6",
            "-c",
            "2",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["status_codes"]["OK"], 6);
    assert!(v["summary"]["tls_handshakes"].as_u64().unwrap() >= 1);
    assert_eq!(p.lines("SayHello tls").len(), 6);
}

#[test]
fn an_arrival_rate_of_calls_is_what_the_server_sees() {
    let p = peer();
    // 150 calls/s for 2 s: 300 intended sends. The server counts every call it received;
    // a run that ends mid-call may lose at most the calls in flight (a few ms each at
    // this rate: at most 2), so ±2% (6 calls) bounds a pacing defect, not noise.
    let o = call(
        &p.url(),
        "SayHello",
        &[
            "--arrival-rate",
            "150",
            "-d",
            "2s",
            "--max-vus",
            "50",
            "-b",
            r#"{"name":"rate"}"#,
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let seen = p.lines("SayHello rate").len();
    assert!((294..=306).contains(&seen), "server saw {seen} calls");
    let v = json(&o);
    assert_eq!(v["metadata"]["load"]["model"], "open");
}

#[test]
fn bad_grpc_input_is_one_line_and_exit_2() {
    let p = peer();
    let dir = tempfile::tempdir().unwrap();
    let broken = write_file(
        dir.path(),
        "broken.proto",
        "syntax = \"proto3\";\nmessage {\n",
    );
    let url = p.url();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![&url, "--grpc-method", "SayHello"], "--grpc-service"),
        (vec![&url, "--grpc-service", SERVICE], "--grpc-method"),
        (
            vec![
                &url,
                "--grpc-service",
                SERVICE,
                "--grpc-method",
                "SayHello",
                "--proto",
                broken.to_str().unwrap(),
            ],
            "does not compile",
        ),
        (
            vec![
                &url,
                "--grpc-service",
                SERVICE,
                "--grpc-method",
                "Nope",
                "--proto",
                PROTO,
            ],
            "SayHello, Count, Collect, Chat, Flaky",
        ),
        (
            vec![
                &url,
                "--grpc-service",
                SERVICE,
                "--grpc-method",
                "SayHello",
                "--proto",
                PROTO,
                "-b",
                r#"{"nmae":"x"}"#,
            ],
            "kaioken.test.HelloRequest",
        ),
        (
            vec![
                &url,
                "--grpc-service",
                SERVICE,
                "--grpc-method",
                "SayHello",
                "--proto",
                PROTO,
                "--stream-messages",
                "3",
            ],
            "unary",
        ),
        (
            vec![
                "ws://127.0.0.1:1/",
                "--grpc-service",
                SERVICE,
                "--grpc-method",
                "SayHello",
            ],
            "not a WebSocket",
        ),
        (
            vec![
                &url,
                "--grpc-service",
                SERVICE,
                "--grpc-method",
                "SayHello",
                "-m",
                "GET",
            ],
            "POST",
        ),
    ];
    for (args, want) in cases {
        let o = run(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(stdout(&o).is_empty(), "{args:?}");
    }
}

/// README's `[grpc]` example runs as written, with the test server's names and proto.
#[test]
fn the_readme_grpc_example_runs() {
    let p = peer();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let (_, after) = readme.split_once("### gRPC").unwrap();
    let block = after
        .split_once("```toml\n")
        .unwrap()
        .1
        .split_once("```")
        .unwrap()
        .0;
    let cfg = block
        .replace("helloworld.Greeter", SERVICE)
        .replace("protos/helloworld.proto", PROTO);
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "readme.toml", &cfg);
    let o = run(&[
        &p.url(),
        "--config",
        path.to_str().unwrap(),
        "-b",
        r#"{"name":"readme"}"#,
        "-n",
        "20",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["status_codes"]["OK"], 20);
    assert_eq!(v["thresholds"][0]["passed"], true);
    assert_eq!(p.lines("SayHello readme").len(), 20);

    // The scenarios example after it: 8 iterations of its 3:1 mix on one thread.
    let block = after
        .split("```toml\n")
        .nth(2)
        .unwrap()
        .split_once("```")
        .unwrap()
        .0;
    assert!(block.contains("[[scenarios]]"), "{block}");
    let cfg = block
        .replace("helloworld.Greeter", SERVICE)
        .replace("protos/helloworld.proto", PROTO);
    let path = write_file(dir.path(), "readme-scenarios.toml", &cfg);
    let before = p.lines("SayHello u-").len();
    let o = run(&[
        &p.url(),
        "--config",
        path.to_str().unwrap(),
        "-n",
        "8",
        "-c",
        "1",
        "--threads",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["scenarios"]["greet"]["status_codes"]["OK"], 6);
    assert_eq!(v["scenarios"]["chat"]["status_codes"]["OK"], 2);
    assert_eq!(p.lines("SayHello u-").len() - before, 6);
}

#[test]
fn debug_shows_the_call_as_json_with_its_status() {
    let p = peer();
    let o = command()
        .args([
            "run",
            &p.url(),
            "--grpc-service",
            SERVICE,
            "--grpc-method",
            "Count",
            "--reflect",
            "-b",
            r#"{"name":"dbg-${REQUEST_ID}","count":2}"#,
            "--debug",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    // The request as sent (its variables rendered), both streamed replies decoded through
    // the reflected types, the trailers and the status by name.
    for want in [
        "> POST http://127.0.0.1:",
        "/kaioken.test.Greeter/Count HTTP/2",
        "> content-type: application/grpc",
        r#"{"name":"dbg-0","count":2}"#,
        r#"{"message":"dbg-0 0"}"#,
        r#"{"message":"dbg-0 1","index":1}"#,
        "< grpc-status: 0",
        "gRPC status: OK",
    ] {
        assert!(out.contains(want), "{want:?} not in:\n{out}");
    }
    assert_eq!(p.lines("Count dbg-0").len(), 1);
}

#[test]
fn paced_bidirectional_streams_time_each_message() {
    let p = peer();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_file(
        dir.path(),
        "t.toml",
        "[thresholds]\nmessage_latency_p99_ms = \"< 100\"\n",
    );
    // 4 messages per call, 50 ms apart: a call lasts at least 3 × 50 ms. The server answers
    // each message as it comes, so each reply follows its own request message by what the
    // server took (about a millisecond). Timed from the call's start instead, the 4th reply
    // of every call would be ≥ 150 ms late, so a p99 under 100 ms tells the two apart
    // while leaving the busy Python server 100 ms for any one reply.
    let o = call(
        &p.url(),
        "Chat",
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--stream-messages",
            "4",
            "--stream-interval",
            "50ms",
            "-b",
            r#"{"name":"paced"}"#,
            "-n",
            "6",
            "-c",
            "2",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    let m = &v["messages"];
    assert_eq!(m["received"], 24, "{m}");
    assert_eq!(m["latency_us"]["count"], 24, "{m}");
    assert!(
        v["latency_us"]["min"].as_u64().unwrap() >= 150_000,
        "{}",
        v["latency_us"]
    );
    // Replies 50 ms apart, as the requests were (the gap is the spacing, give or take the
    // server's time per message).
    let gap = m["gap_us"]["p50"].as_u64().unwrap();
    assert!((40_000..80_000).contains(&gap), "median gap {gap}");
    assert_eq!(v["thresholds"][0]["passed"], true, "{}", v["thresholds"]);
    assert_eq!(p.lines("msg Chat paced").len(), 24);

    // Coordinated omission: one VU at -r 20 (a call due every 50 ms) whose calls take at
    // least 150 ms falls behind its schedule. Call k is due at 50·k ms but starts no
    // earlier than 150·k ms, so every message of call 5 is sent ≥ 500 ms after it was
    // due; measured from the intended send, its latency shows that wait (from the actual
    // send it would be the server's millisecond).
    let o = call(
        &p.url(),
        "Chat",
        &[
            "--stream-messages",
            "4",
            "--stream-interval",
            "50ms",
            "-b",
            r#"{"name":"behind"}"#,
            "-r",
            "20",
            "-n",
            "6",
            "-c",
            "1",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["load"]["latency"], "from_intended_send");
    let lat = &v["messages"]["latency_us"];
    assert_eq!(lat["count"], 24, "{lat}");
    assert!(lat["max"].as_u64().unwrap() >= 500_000, "{lat}");

    // Without --stream-messages the interval has nothing to space.
    let o = call(&p.url(), "Chat", &["--stream-interval", "10ms", "-n", "1"]);
    assert_eq!(o.status.code(), Some(2), "a usage error");
    assert!(stderr(&o).contains("--stream-messages"), "{}", stderr(&o));
}

#[test]
fn a_protoset_and_more_connections() {
    let p = peer();
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("greeter.protoset");
    // The descriptor set as users make it: protoc (grpcio-tools') with its imports.
    let made = std::process::Command::new("python3")
        .args([
            "-m",
            "grpc_tools.protoc",
            &format!(
                "-I{}",
                std::path::Path::new(PROTO).parent().unwrap().display()
            ),
            "--include_imports",
            &format!("--descriptor_set_out={}", set.display()),
            PROTO,
        ])
        .status()
        .unwrap();
    assert!(made.success());
    let o = run(&[
        &p.url(),
        "--grpc-service",
        SERVICE,
        "--grpc-method",
        "SayHello",
        "--protoset",
        set.to_str().unwrap(),
        "--grpc-connections",
        "4",
        "--threads",
        "2",
        "-b",
        r#"{"name":"protoset"}"#,
        "-n",
        "40",
        "-c",
        "8",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["status_codes"]["OK"], 40);
    // 4 connections across 2 threads, each shared by 2 of the 8 VUs: exactly 4 opened.
    assert_eq!(v["summary"]["connections_opened"], 4, "{}", v["summary"]);
    // The JSON body was encoded through the protoset: the server read the name.
    assert_eq!(p.lines("SayHello protoset").len(), 40);
}

#[test]
fn import_path_finds_the_imported_messages() {
    let p = peer();
    let dir = tempfile::tempdir().unwrap();
    // The greeter's messages in their own file, imported by a service file in another
    // directory: as a repository of shared protos is laid out.
    let types = dir.path().join("types/kaioken/test");
    std::fs::create_dir_all(&types).unwrap();
    let full = std::fs::read_to_string(PROTO).unwrap();
    let messages: String = full.split("service Greeter").next().unwrap().to_string();
    std::fs::write(types.join("messages.proto"), messages).unwrap();
    let svc = dir.path().join("svc");
    std::fs::create_dir_all(&svc).unwrap();
    let service = write_file(
        &svc,
        "greeter.proto",
        "syntax = \"proto3\";\npackage kaioken.test;\nimport \"kaioken/test/messages.proto\";\n\
         service Greeter {\n  rpc SayHello(HelloRequest) returns (HelloReply);\n}\n",
    );
    let types_dir = dir.path().join("types");
    let args = |with_import: bool| {
        let mut a = vec![
            p.url(),
            "--grpc-service".into(),
            SERVICE.into(),
            "--grpc-method".into(),
            "SayHello".into(),
            "--proto".into(),
            service.display().to_string(),
            "-b".into(),
            r#"{"name":"imported"}"#.into(),
            "-n".into(),
            "5".into(),
            "-c".into(),
            "1".into(),
        ];
        if with_import {
            a.extend(["--import-path".into(), types_dir.display().to_string()]);
        }
        a
    };
    let a = args(true);
    let o = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["status_codes"]["OK"], 5);
    assert_eq!(p.lines("SayHello imported").len(), 5);

    // Without it the import is not found: one line naming the file, exit 2 (the fix is a
    // flag, and no config file is involved).
    let a = args(false);
    let o = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("kaioken/test/messages.proto"), "{err}");
}

#[test]
fn scenarios_call_their_own_methods_and_feed_each_other() {
    let p = peer();
    let dir = tempfile::tempdir().unwrap();
    // A unary call once per VU (weight 0) whose reply feeds the bidirectional calls; a
    // server-streaming call beside them. --stream-messages 3 applies to the one method
    // that takes a stream (Chat); the others send one message.
    let cfg = write_file(
        dir.path(),
        "mix.toml",
        &format!(
            r#"[target]
url = "{url}"
[load]
concurrency = 2
threads = 1
max_requests = 8
[grpc]
service = "{SERVICE}"
proto = ["{PROTO}"]
stream_messages = 3
[[scenarios]]
name = "hello"
grpc_method = "SayHello"
body = '{{"name":"mix"}}'
weight = 0
[scenarios.extract]
greeting = "json:$.message"
[[scenarios]]
name = "count"
grpc_method = "Count"
body = '{{"name":"mixc","count":3}}'
[[scenarios]]
name = "chat"
grpc_method = "Chat"
body = '{{"name":"${{greeting}}"}}'
[[scenarios.checks]]
name = "ok"
condition = "grpc_status == OK"
"#,
            url = p.url()
        ),
    );
    let o = run(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    // One hello per VU; the 8 iterations of the 1:1 cycle on one thread: 4 and 4.
    assert_eq!(p.lines("SayHello mix").len(), 2);
    assert_eq!(p.lines("Count mixc").len(), 4);
    let sc = &v["scenarios"];
    assert_eq!(sc["count"]["status_codes"]["OK"], 4, "{sc}");
    assert_eq!(sc["chat"]["status_codes"]["OK"], 4, "{sc}");
    assert_eq!(v["checks"][0]["passes"], 4, "{}", v["checks"]);
    // Each chat call sent 3 messages carrying the hello reply's text, taken as JSON.
    assert_eq!(p.lines("msg Chat hello mix").len(), 12, "{:?}", p.log());
    // Replies: 1 per hello, 3 per count, 3 per chat (one per message) = 2 + 12 + 12.
    let m = &v["messages"];
    assert_eq!(m["received"], 26, "{m}");
    // Only the bidirectional calls time their messages one by one: 4 × 3.
    assert_eq!(m["latency_us"]["count"], 12, "{m}");
    // --dry-run names each scenario's call.
    let o = command()
        .args(["run", "--dry-run", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let shown = stdout(&o);
    assert!(
        shown.contains("count (gRPC server streaming /kaioken.test.Greeter/Count)")
            && shown.contains("chat (gRPC bidirectional streaming /kaioken.test.Greeter/Chat)"),
        "{shown}"
    );

    // The keys outside a gRPC run, and a method the proto lacks: one line, exit 1.
    let bad = write_file(
        dir.path(),
        "bad.toml",
        &format!(
            "[target]\nurl = \"{}\"\n[grpc]\nservice = \"{SERVICE}\"\nproto = [\"{PROTO}\"]\n[[scenarios]]\ngrpc_method = \"Nope\"\n",
            p.url()
        ),
    );
    let o = run(&["--config", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("scenarios[0].grpc_method") && err.contains("SayHello"),
        "{err}"
    );
    let http = write_file(
        dir.path(),
        "http.toml",
        "[target]\nurl = \"http://127.0.0.1:9/\"\n[[scenarios]]\nurl = \"/\"\ngrpc_method = \"SayHello\"\n",
    );
    let o = run(&["--config", http.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("[grpc] service"), "{}", stderr(&o));
}

#[test]
fn http_and_grpc_scenarios_share_a_gateways_connection() {
    let p = peer();
    // Debian's nginx as the gateway: gRPC to the Python server, a health check of its own.
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let d = dir.path().display();
    let conf = support::nginx_conf(
        dir.path(),
        &format!(
            "  log_format seen \"$request_method $uri $status\";\n  server {{\n    listen 127.0.0.1:{port} http2;\n    access_log {d}/gw.log seen;\n    location /kaioken.test.Greeter/ {{ grpc_pass grpc://127.0.0.1:{}; }}\n    location = /healthz {{ return 200 \"ok\\n\"; }}\n  }}\n",
            p.port
        ),
    );
    let mut nginx = support::spawn_nginx(dir.path(), &conf);
    support::wait_listening(port);
    // [grpc] names no method: the scenario without grpc_method is an HTTP request.
    let cfg = write_file(
        dir.path(),
        "gw.toml",
        &format!(
            r#"[target]
url = "http://127.0.0.1:{port}"
[load]
concurrency = 2
threads = 1
max_requests = 8
[grpc]
service = "{SERVICE}"
proto = ["{PROTO}"]
[[scenarios]]
name = "health"
url = "/healthz"
[[scenarios.checks]]
name = "up"
condition = "status == 200"
[[scenarios]]
name = "hello"
grpc_method = "SayHello"
body = '{{"name":"gw"}}'
weight = 3
"#
        ),
    );
    let o = run(&["--config", cfg.to_str().unwrap()]);
    support::stop_tied(&mut nginx);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    // The 8 iterations of the 1:3 cycle on one thread: 2 health checks, 6 calls, each
    // counted in its own terms (an HTTP status, a gRPC status).
    let sc = &v["scenarios"];
    assert_eq!(sc["health"]["status_codes"]["200"], 2, "{sc}");
    assert_eq!(sc["hello"]["status_codes"]["OK"], 6, "{sc}");
    assert_eq!(v["checks"][0]["passes"], 2, "{}", v["checks"]);
    // What the gateway and the server saw; all of it over one HTTP/2 connection.
    let seen = settled_lines(&dir.path().join("gw.log"));
    let count = |line: &str| seen.iter().filter(|l| *l == line).count();
    assert_eq!(count("GET /healthz 200"), 2, "{seen:?}");
    assert_eq!(
        count("POST /kaioken.test.Greeter/SayHello 200"),
        6,
        "{seen:?}"
    );
    assert_eq!(p.lines("SayHello gw").len(), 6);
    assert_eq!(v["summary"]["connections_opened"], 1, "{}", v["summary"]);
    // Only the calls' replies are messages.
    assert_eq!(v["messages"]["received"], 6, "{}", v["messages"]);
}
