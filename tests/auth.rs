//! `-a/--basic-auth`: the header a real server receives, and that the secret stays out of
//! every output.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

use support::{kaioken, stderr, stdout, write_file};

/// A server that answers every request with 200 and hands each request head to the test.
fn recording_server() -> (String, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { return };
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
                head.push(b[0]);
            }
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, rx)
}

#[test]
fn basic_auth_header_is_sent_and_redacted_everywhere() {
    let (url, heads) = recording_server();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let md = dir.path().join("r.md");
    // Every format, and the SQLite log: redaction happens when the run writes its result,
    // so each output of a real run is searched (a re-rendered fixture would prove nothing).
    let others = ["r.csv", "r.xml", "r.html"].map(|n| dir.path().join(n));
    let db = dir.path().join("runs.db");
    let o = kaioken(&[
        "run",
        &url,
        "--no-tui",
        "-n",
        "3",
        "-c",
        "1",
        "-a",
        "alice:s3cr:et",
        "-o",
        out.to_str().unwrap(),
        "-o",
        md.to_str().unwrap(),
        "-o",
        others[0].to_str().unwrap(),
        "-o",
        others[1].to_str().unwrap(),
        "-o",
        others[2].to_str().unwrap(),
        "--db-url",
        db.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for _ in 0..3 {
        let head = heads.recv().unwrap();
        let auth = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
            .unwrap_or_else(|| panic!("no Authorization header in {head}"));
        // base64("alice:s3cr:et"): the password may itself contain colons.
        assert_eq!(
            auth.split_once(':').unwrap().1.trim(),
            "Basic YWxpY2U6czNjcjpldA=="
        );
    }
    let json = std::fs::read_to_string(&out).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["metadata"]["target"]["headers"]["authorization"],
        "[redacted]"
    );
    let mut texts = vec![
        json,
        std::fs::read_to_string(&md).unwrap(),
        stdout(&o),
        stderr(&o),
        String::from_utf8_lossy(&std::fs::read(&db).unwrap()).into_owned(),
    ];
    texts.extend(others.iter().map(|p| std::fs::read_to_string(p).unwrap()));
    for text in texts {
        assert!(
            !text.contains("YWxpY2U6czNjcjpldA") && !text.contains("s3cr"),
            "{text}"
        );
    }

    // The same from the config file.
    let cfg = write_file(
        dir.path(),
        "a.toml",
        &format!("[target]\nurl = \"{url}\"\nbasic_auth = \"bob:pw\"\n"),
    );
    let o = kaioken(&[
        "run",
        "-f",
        cfg.to_str().unwrap(),
        "--no-tui",
        "-n",
        "1",
        "-c",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(heads.recv().unwrap().contains("Basic Ym9iOnB3"));
}

#[test]
fn bad_basic_auth_is_one_line_without_the_secret() {
    for (args, want) in [
        (
            vec!["-a", "justauser"],
            "--basic-auth = [redacted]: write it as user:password",
        ),
        (
            vec!["-a", "u:p", "-H", "Authorization: Bearer x"],
            "an Authorization header is set too",
        ),
    ] {
        let mut all = vec!["run", "http://127.0.0.1:9/", "--dry-run"];
        all.extend(&args);
        let o = kaioken(&all);
        // A bad flag without a config file: a usage error.
        assert_eq!(o.status.code(), Some(2));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{err}");
        assert!(!err.contains("justauser") && !err.contains("u:p"), "{err}");
    }
}
