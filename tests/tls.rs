//! TLS trust and mutual TLS against a real nginx, with a private PKI made at test time: a
//! CA, a server certificate it signed, a client certificate it signed, an expired server
//! certificate and one for another name. One nginx per test binary; each test has servers
//! of its own, so the server-side counts are the test's alone.

mod support;

use std::process::Child;
use std::sync::OnceLock;

use support::pki::{Pki, make_pki};
use support::{free_ports, json, kaioken, settled_lines, stderr, wait_listening};

/// nginx with one TLS server per case, each logging to its own file.
struct Servers {
    _child: Child,
    pki: Pki,
    ports: [u16; SERVERS],
}

const TRUSTED: usize = 0;
const MTLS: usize = 1;
const EXPIRED: usize = 2;
const WRONG_NAME: usize = 3;
const ENV_TRUST: usize = 4;
const CONNECT_TO: usize = 5;
const H1_ONLY: usize = 6;
const BAD_FILES: usize = 7;
const CONFIG: usize = 8;
const RESUME: usize = 9;
const KEY_FORMS: usize = 10;
const SERVERS: usize = 11;

impl Servers {
    fn url(&self, server: usize) -> String {
        format!("https://127.0.0.1:{}/", self.ports[server])
    }

    /// The server's access log once it has settled (see [`settled_lines`]).
    fn log(&self, server: usize) -> Vec<String> {
        settled_lines(&self.pki.path(&format!("access{server}.log")))
    }

    fn file(&self, name: &str) -> String {
        self.pki.path(name).display().to_string()
    }
}

fn servers() -> &'static Servers {
    static S: OnceLock<Servers> = OnceLock::new();
    S.get_or_init(|| {
        let pki = make_pki();
        let d = pki.dir.path().display().to_string();
        let ports = free_ports::<SERVERS>();
        let server = |i: usize, cert: &str, extra: &str| {
            format!(
                "  server {{\n    listen 127.0.0.1:{port} ssl http2;\n    ssl_certificate {d}/{cert}.pem;\n    ssl_certificate_key {d}/{cert}.key;\n    access_log {d}/access{i}.log tls;\n{extra}    location / {{ return 200 \"tls ok\\n\"; }}\n  }}\n",
                port = ports[i]
            )
        };
        let mtls = format!("    ssl_client_certificate {d}/ca.pem;\n    ssl_verify_client on;\n");
        let servers = format!(
            "  ssl_protocols TLSv1.2 TLSv1.3;\n  log_format tls \"$status $ssl_protocol $ssl_client_verify [$ssl_client_s_dn] $http_host $ssl_server_name\";\n  log_format resume \"$ssl_protocol reused=$ssl_session_reused\";\n{}{}{}{}{}{}{}{}{}{}{}",
            server(TRUSTED, "server", ""),
            server(MTLS, "server", &mtls),
            server(EXPIRED, "expired", ""),
            server(WRONG_NAME, "other", ""),
            // TLS 1.2 only: the older protocol works too.
            server(ENV_TRUST, "server", "    ssl_protocols TLSv1.2;\n"),
            server(CONNECT_TO, "server", ""),
            // HTTP/1.1 only: ALPN never picks h2.
            server(H1_ONLY, "server", "").replace(" ssl http2;", " ssl;"),
            server(BAD_FILES, "server", ""),
            server(CONFIG, "server", &mtls),
            server(RESUME, "server", "").replace(" tls;\n", " resume;\n"),
            server(KEY_FORMS, "server", &mtls),
        );
        let conf = support::nginx_conf(pki.dir.path(), &servers);
        let child = support::spawn_nginx(pki.dir.path(), &conf);
        for p in ports {
            wait_listening(p);
        }
        Servers {
            _child: child,
            pki,
            ports,
        }
    })
}

#[test]
fn a_private_ca_is_trusted_with_cacert_and_refused_without() {
    let s = servers();
    let url = s.url(TRUSTED);
    // Without the CA: every connection's certificate is refused, counted by kind.
    let o = kaioken(&["run", &url, "-n", "6", "-c", "2", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["errors"]["tls_cert_invalid"], 6, "{}", v["errors"]);
    assert_eq!(
        v["error_reasons"]["tls_cert_invalid"],
        "target: unknown issuer (trust its CA with --cacert, or skip checks with --insecure)"
    );
    assert!(s.log(TRUSTED).is_empty());
    // The summary gives the reason once, on the kind's line.
    let o = kaioken(&["run", &url, "-n", "3", "-c", "1"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.matches("unknown issuer").count(), 1, "{out}");
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("tls_cert_invalid") && l.contains("unknown issuer")),
        "{out}"
    );
    // With it: HTTP/1.1 and HTTP/2 (ALPN), every request verified and served.
    let ca = s.file("ca.pem");
    let o = kaioken(&[
        "run", &url, "--cacert", &ca, "-n", "10", "-c", "2", "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["summary"]["successful"], 10);
    let o = kaioken(&[
        "run", &url, "--cacert", &ca, "--http2", "-n", "10", "-c", "2", "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["summary"]["successful"], 10);
    assert_eq!(v["metadata"]["target"]["protocol"], "h2");
    assert_eq!(
        v["metadata"]["target"]["tls"],
        serde_json::json!({"verified": true, "cacert": ca})
    );
    // --insecure is said in the summary, not only in the flags.
    let o = kaioken(&["run", &url, "--insecure", "-n", "2", "-c", "1", "--no-tui"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        support::stdout(&o).contains("TLS certificates NOT verified (--insecure)"),
        "{}",
        support::stdout(&o)
    );
    let log = s.log(TRUSTED);
    assert_eq!(log.len(), 22, "{log:?}");
    assert!(log.iter().all(|l| l.starts_with("200 TLSv1.3")), "{log:?}");
}

#[test]
fn ssl_cert_file_from_the_environment_is_the_trust_store() {
    let s = servers();
    let o = support::command()
        .args(["run", &s.url(ENV_TRUST), "-n", "4", "-c", "1", "--json"])
        .env("SSL_CERT_FILE", s.file("ca.pem"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["summary"]["successful"], 4);
    let log = s.log(ENV_TRUST);
    assert_eq!(log.len(), 4);
    assert!(log.iter().all(|l| l.starts_with("200 TLSv1.2 ")), "{log:?}");
}

#[test]
fn mutual_tls_presents_the_client_certificate() {
    let s = servers();
    let url = s.url(MTLS);
    let ca = s.file("ca.pem");
    let (cert, key) = (s.file("client.pem"), s.file("client.key"));
    let o = kaioken(&[
        "run", &url, "--cacert", &ca, "--cert", &cert, "--key", &key, "-n", "8", "-c", "2",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["summary"]["successful"], 8);
    let verified: Vec<String> = s
        .log(MTLS)
        .into_iter()
        .filter(|l| l.contains("SUCCESS [CN=kaioken test client]"))
        .collect();
    assert_eq!(verified.len(), 8, "{:?}", s.log(MTLS));
    // Without the certificate nginx answers 400 "No required SSL certificate was sent".
    let o = kaioken(&["run", &url, "--cacert", &ca, "-n", "3", "-c", "1", "--json"]);
    let v = json(&o);
    assert_eq!(v["status_codes"]["400"], 3, "{v}");
    let log = s.log(MTLS);
    assert_eq!(
        log.iter()
            .filter(|l| l.starts_with("400 ") && l.contains(" NONE "))
            .count(),
        3,
        "{log:?}"
    );
}

#[test]
fn expired_and_wrong_name_certificates_are_counted_as_invalid() {
    let s = servers();
    let ca = s.file("ca.pem");
    for (server, reason) in [
        (EXPIRED, "target: certificate expired"),
        (
            WRONG_NAME,
            "target: certificate not valid for name 127.0.0.1 (it names other.example; the \
             URL's host is the name checked, also under --connect-to)",
        ),
    ] {
        let o = kaioken(&[
            "run",
            &s.url(server),
            "--cacert",
            &ca,
            "-n",
            "4",
            "-c",
            "1",
            "--json",
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let v = json(&o);
        assert_eq!(v["errors"]["tls_cert_invalid"], 4, "{}", v["errors"]);
        assert_eq!(v["error_reasons"]["tls_cert_invalid"], reason);
        assert!(s.log(server).is_empty());
    }
}

#[test]
fn unusable_tls_files_are_one_clear_line_before_any_traffic() {
    let s = servers();
    let url = s.url(BAD_FILES);
    let ca = s.file("ca.pem");
    // Each case but the broken CA files also trusts the CA, so a flag that were ignored
    // would let the request through to nginx's log.
    let cases: [(&[&str], &str); 5] = [
        (
            &["--cacert", &ca, "--cert", &s.file("client.pem")],
            "cert = ",
        ),
        (&["--cacert", &ca, "--key", &s.file("client.key")], "key = "),
        (&["--cacert", &s.file("not-pem.pem")], "cacert = "),
        (
            &["--cacert", "/nonexistent/ca.pem"],
            "cacert = /nonexistent/ca.pem",
        ),
        (
            &[
                "--cacert",
                &ca,
                "--cert",
                &s.file("client.pem"),
                "--key",
                &s.file("stray.key"),
            ],
            "does not belong to the certificate",
        ),
    ];
    for (flags, expect) in cases {
        let mut args = vec!["run", url.as_str(), "-n", "1"];
        args.extend_from_slice(flags);
        let o = kaioken(&args);
        // Files given by flag, no config file: usage errors.
        assert_eq!(o.status.code(), Some(2), "{flags:?}");
        let err = stderr(&o);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{flags:?}: {err}");
        assert!(lines[0].contains(expect), "{flags:?}: {err}");
    }
    // A certificate on an http:// target is a mistake, not ignored.
    let o = kaioken(&["run", "http://127.0.0.1:9/", "--cacert", &s.file("ca.pem")]);
    assert_eq!(o.status.code(), Some(2), "a usage error");
    assert!(stderr(&o).contains("https://"), "{}", stderr(&o));
    assert!(s.log(BAD_FILES).is_empty(), "{:?}", s.log(BAD_FILES));
}

#[test]
fn tls_and_connect_to_keys_in_the_config_file() {
    let s = servers();
    let dir = tempfile::tempdir().unwrap();
    let config = support::write_file(
        dir.path(),
        "kaioken.toml",
        &format!(
            "[target]\nurl = \"https://localhost:4433/\"\nconnect_to = [\"localhost:4433:127.0.0.1:{port}\"]\ncacert = \"{ca}\"\ncert = \"{cert}\"\nkey = \"{key}\"\n",
            port = s.ports[CONFIG],
            ca = s.file("ca.pem"),
            cert = s.file("client.pem"),
            key = s.file("client.key"),
        ),
    );
    let o = kaioken(&[
        "run",
        "-f",
        &config.display().to_string(),
        "-n",
        "3",
        "-c",
        "1",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Every key took effect: the connection went to the loopback port (connect_to), the CA
    // verified nginx (cacert), nginx verified the client (cert, key), Host and SNI are the
    // URL's.
    let log = s.log(CONFIG);
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(
        log.iter().all(|l| l.starts_with("200 ")
            && l.contains("SUCCESS [CN=kaioken test client]")
            && l.ends_with(" localhost:4433 localhost")),
        "{log:?}"
    );
}

#[test]
fn connect_to_keeps_the_host_and_the_tls_name() {
    let s = servers();
    // The URL names a host and port nobody serves; --connect-to sends the connections to
    // the loopback nginx. Its certificate is for "localhost", so verification passes only
    // if the TLS name is the URL's host, and nginx logs the Host header and the SNI.
    let port = s.ports[CONNECT_TO];
    let rule = format!("localhost:4433:127.0.0.1:{port}");
    let o = kaioken(&[
        "run",
        "https://localhost:4433/",
        "--connect-to",
        &rule,
        "--cacert",
        &s.file("ca.pem"),
        "-n",
        "5",
        "-c",
        "1",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["summary"]["successful"], 5);
    let log = s.log(CONNECT_TO);
    assert_eq!(log.len(), 5, "{log:?}");
    assert!(
        log.iter().all(|l| l.ends_with(" localhost:4433 localhost")),
        "{log:?}"
    );
    // A rule for another host leaves the URL alone (nothing listens on :4433 here).
    let o = kaioken(&[
        "run",
        "https://localhost:4433/",
        "--connect-to",
        &format!("other.test:4433:127.0.0.1:{port}"),
        "-n",
        "1",
        "--json",
    ]);
    assert_eq!(json(&o)["errors"]["connect_refused"], 1, "{}", stderr(&o));
    // A malformed rule is one line naming the flag and the form.
    let o = kaioken(&["run", "https://localhost/", "--connect-to", "localhost"]);
    assert_eq!(o.status.code(), Some(2), "a usage error");
    let err = stderr(&o);
    assert!(
        err.contains("connect_to = localhost") && err.contains("HOST:PORT:ADDR:PORT"),
        "{err}"
    );
}

#[test]
fn http2_is_required_when_asked_for_on_https() {
    let s = servers();
    let url = s.url(H1_ONLY);
    let ca = s.file("ca.pem");
    let o = kaioken(&["run", &url, "--cacert", &ca, "--http2", "-n", "3"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("did not pick h2") && err.contains("drop --http2"),
        "{err}"
    );
    // Only the probe connected; no request was sent.
    assert!(s.log(H1_ONLY).is_empty());
    let o = kaioken(&["run", &url, "--cacert", &ca, "-n", "3", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["metadata"]["target"]["protocol"], "http/1.1");
    assert_eq!(s.log(H1_ONLY).len(), 3);
}

#[test]
fn handshakes_are_timed_and_resumed_unless_asked_not_to() {
    let s = servers();
    let ca = s.file("ca.pem");
    let url = s.url(RESUME);
    // A new connection per request: 20 handshakes, the first full, the next 19 resuming
    // the session the one before left (nginx logs `r` for a reused session).
    let o = kaioken(&[
        "run",
        &url,
        "--cacert",
        &ca,
        "--disable-keepalive",
        "-n",
        "20",
        "-c",
        "1",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["summary"]["tls_handshakes"], 20, "{}", v["summary"]);
    assert_eq!(v["summary"]["tls_resumed"], 19, "{}", v["summary"]);
    assert_eq!(v["tls_handshake_us"]["count"], 20);
    assert!(v["summary"]["handshakes_per_sec"].as_f64().unwrap() > 0.0);
    assert!(
        !v["histograms"]["tls_handshake"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    let log = s.log(RESUME);
    assert_eq!(log.len(), 20, "{log:?}");
    assert_eq!(
        log.iter().filter(|l| l.ends_with("reused=r")).count(),
        19,
        "{log:?}"
    );

    // --no-tls-resume: every handshake is full, on both sides.
    let o = kaioken(&[
        "run",
        &url,
        "--cacert",
        &ca,
        "--disable-keepalive",
        "--no-tls-resume",
        "-n",
        "10",
        "-c",
        "1",
        "--json",
    ]);
    let v = json(&o);
    assert_eq!(v["summary"]["tls_handshakes"], 10);
    // Zero counters are left out of the results.
    assert!(
        v["summary"].get("tls_resumed").is_none(),
        "{}",
        v["summary"]
    );
    let log = s.log(RESUME);
    assert_eq!(log.len(), 30);
    assert!(log[20..].iter().all(|l| l.ends_with("reused=.")), "{log:?}");

    // The same from a config file: tls_resume = false and disable_keepalive = true.
    let dir = tempfile::tempdir().unwrap();
    let config = support::write_file(
        dir.path(),
        "kaioken.toml",
        &format!(
            "[target]\nurl = \"{url}\"\ncacert = \"{ca}\"\ntls_resume = false\ndisable_keepalive = true\n"
        ),
    );
    let o = kaioken(&[
        "run",
        "-f",
        &config.display().to_string(),
        "-n",
        "5",
        "-c",
        "1",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["summary"]["tls_handshakes"], 5);
    let log = s.log(RESUME);
    assert_eq!(log.len(), 35, "{log:?}");
    assert!(log[30..].iter().all(|l| l.ends_with("reused=.")), "{log:?}");

    // The summary says it in words; kept connections handshake once each. (Whether the
    // second of two concurrent connections resumes depends on which started first, so
    // the resumed count is not asserted here.)
    let o = kaioken(&[
        "run", &url, "--cacert", &ca, "-n", "10", "-c", "2", "--no-tui",
    ]);
    let text = support::stdout(&o);
    assert!(text.contains("TLS handshake (2 handshakes, "), "{text}");
}

#[test]
fn client_keys_in_pkcs1_and_sec1_are_read() {
    let s = servers();
    let d = s.pki.dir.path();
    let openssl = |args: &[&str]| {
        let o = std::process::Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .expect("openssl");
        assert!(o.status.success(), "openssl {args:?}: {}", stderr(&o));
    };
    // An RSA client certificate signed by the test CA, its key in PKCS#1 ("RSA PRIVATE
    // KEY"), and the ECDSA client key rewritten in SEC1 ("EC PRIVATE KEY").
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "rsa8.key",
        "-subj",
        "/CN=rsa client",
        "-out",
        "rsa.csr",
    ]);
    // Extensions make it X.509 v3 (a v1 certificate is refused by rustls).
    std::fs::write(
        d.join("client-ext.cnf"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "rsa.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-days",
        "2",
        "-extfile",
        "client-ext.cnf",
        "-out",
        "rsa.pem",
    ]);
    openssl(&["rsa", "-in", "rsa8.key", "-traditional", "-out", "rsa1.key"]);
    openssl(&["ec", "-in", "client.key", "-out", "client-sec1.key"]);
    let text = |f: &str| std::fs::read_to_string(d.join(f)).unwrap();
    assert!(text("rsa1.key").contains("BEGIN RSA PRIVATE KEY"));
    assert!(text("client-sec1.key").contains("BEGIN EC PRIVATE KEY"));
    let ca = s.file("ca.pem");
    let url = s.url(KEY_FORMS);
    for (cert, key) in [("rsa.pem", "rsa1.key"), ("client.pem", "client-sec1.key")] {
        let o = kaioken(&[
            "run",
            &url,
            "--cacert",
            &ca,
            "--cert",
            &s.file(cert),
            "--key",
            &s.file(key),
            "-n",
            "2",
            "-c",
            "1",
            "--json",
        ]);
        assert_eq!(o.status.code(), Some(0), "{key}: {}", stderr(&o));
    }
    let log = s.log(KEY_FORMS);
    assert_eq!(log.len(), 4, "{log:?}");
    assert_eq!(
        log.iter()
            .filter(|l| l.contains("SUCCESS [CN=rsa client]"))
            .count(),
        2,
        "{log:?}"
    );
    assert_eq!(
        log.iter()
            .filter(|l| l.contains("SUCCESS [CN=kaioken test client]"))
            .count(),
        2,
        "{log:?}"
    );
}
