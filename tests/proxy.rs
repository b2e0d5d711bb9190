//! Proxies, against real ones: squid (Debian) as an HTTP proxy with and without basic
//! authentication and as an https:// proxy, and microsocks (Debian) as a SOCKS5 proxy with
//! and without a password. Behind them, nginx with a server per test, so its access log is
//! the test's alone: nginx counts what arrived (and logs the `Via` header squid adds),
//! squid's access log shows each request or tunnel, and microsocks logs each connection
//! with the address it was asked for.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

use support::pki::{Pki, make_pki};
use support::{
    command, free_port, free_ports, json, settled_lines, spawn_tied, stderr, stdout, wait_listening,
};

/// nginx servers, one per test (plain HTTP first, then TLS ones).
const PLAIN_FORWARD: usize = 0;
const PLAIN_AUTH: usize = 1;
const PLAIN_AUTH_WRONG: usize = 2;
const PLAIN_SOCKS: usize = 3;
const PLAIN_SOCKS_H: usize = 4;
const PLAIN_SOCKS_AUTH: usize = 5;
const PLAIN_ENV: usize = 6;
const PLAIN_NO_PROXY: usize = 7;
const PLAIN_H2C_TUNNEL: usize = 8;
const PLAIN_SECRETS: usize = 9;
const PLAIN_HTTPS_PROXY: usize = 10;
const TLS_TUNNEL: usize = 11;
const TLS_TUNNEL_H2: usize = 12;
const TLS_SOCKS: usize = 13;
const TLS_ENV: usize = 14;
const TLS_HTTPS_PROXY: usize = 15;
const TLS_AUTH: usize = 16;
const PLAIN_DEBUG: usize = 17;
const PLAIN_CONFIG: usize = 18;
/// Requests that check the proxies are ready before any test runs.
const WARMUP: usize = 19;
const SERVERS: usize = 20;
const FIRST_TLS: usize = TLS_TUNNEL;
const LAST_TLS: usize = TLS_AUTH;

struct Peers {
    pki: Pki,
    _nginx: Child,
    _squid: Child,
    _socks: Child,
    _socks_auth: Child,
    nginx: [u16; SERVERS],
    /// squid: plain, with basic auth, TLS.
    squid: u16,
    squid_auth: u16,
    squid_tls: u16,
    socks: u16,
    socks_auth: u16,
}

impl Peers {
    fn url(&self, server: usize) -> String {
        let scheme = if (FIRST_TLS..=LAST_TLS).contains(&server) {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}/", self.nginx[server])
    }

    fn file(&self, name: &str) -> String {
        self.pki.path(name).display().to_string()
    }

    /// nginx's log of `server`: `protocol via` per request.
    fn nginx_log(&self, server: usize) -> Vec<String> {
        settled_lines(&self.pki.path(&format!("nginx{server}.log")))
    }

    /// squid's lines about `server`'s port: `proxy-port user method url status`.
    fn squid_log(&self, server: usize) -> Vec<String> {
        let port = format!("127.0.0.1:{}", self.nginx[server]);
        settled_lines(&self.pki.path("squid/access.log"))
            .into_iter()
            .filter(|l| l.contains(&port))
            .collect()
    }

    /// microsocks' connections to `target` (`host:port` as it was asked for).
    fn socks_log(&self, file: &str, target: &str) -> usize {
        settled_lines(&self.pki.path(file))
            .iter()
            .filter(|l| l.ends_with(&format!("connected to {target}")))
            .count()
    }
}

fn peers() -> &'static Peers {
    static P: OnceLock<Peers> = OnceLock::new();
    P.get_or_init(|| {
        let pki = make_pki();
        let d = pki.dir.path().display().to_string();
        let ports = free_ports::<{ SERVERS + 5 }>();
        let nginx: [u16; SERVERS] = std::array::from_fn(|i| ports[i]);
        let mut servers = String::new();
        for (i, port) in nginx.iter().enumerate() {
            let tls = if (FIRST_TLS..=LAST_TLS).contains(&i) {
                format!(" ssl http2;\n    ssl_certificate {d}/server.pem;\n    ssl_certificate_key {d}/server.key;\n")
            } else if i == PLAIN_H2C_TUNNEL {
                // nginx's plain `http2` port speaks prior-knowledge h2c only.
                " http2;\n".to_string()
            } else {
                ";\n".to_string()
            };
            servers.push_str(&format!(
                "  server {{\n    listen 127.0.0.1:{port}{tls}    access_log {d}/nginx{i}.log seen;\n    location / {{ return 200 \"ok\\n\"; }}\n  }}\n"
            ));
        }
        let conf = support::nginx_conf(
            pki.dir.path(),
            &format!("  log_format seen \"$server_protocol via=[$http_via] pa=[$http_proxy_authorization]\";\n{servers}"),
        );
        let nginx_child = support::spawn_nginx(pki.dir.path(), &conf);

        // squid runs as the `proxy` user once started: its directory must be writable and
        // its files readable by that user.
        let sq = pki.path("squid");
        std::fs::create_dir(&sq).unwrap();
        set_mode(pki.dir.path(), 0o755);
        set_mode(&sq, 0o777);
        for f in ["server.pem", "server.key"] {
            set_mode(&pki.path(f), 0o644);
        }
        let passwd = Command::new("openssl")
            .args(["passwd", "-1", "s3cret-pass"])
            .output()
            .expect("openssl is needed to hash the squid password");
        let hash = String::from_utf8(passwd.stdout).unwrap();
        std::fs::write(sq.join("passwd"), format!("tester:{}\n", hash.trim())).unwrap();
        set_mode(&sq.join("passwd"), 0o644);
        let [squid, squid_auth, squid_tls, socks, socks_auth] = [0, 1, 2, 3, 4].map(|i| ports[SERVERS + i]);
        let s = sq.display();
        let squid_conf = format!(
            "http_port 127.0.0.1:{squid} name=plain\n\
             http_port 127.0.0.1:{squid_auth} name=auth\n\
             https_port 127.0.0.1:{squid_tls} name=tls tls-cert={d}/server.pem tls-key={d}/server.key\n\
             pid_filename {s}/squid.pid\n\
             cache_log {s}/cache.log\n\
             logformat seen %>lp %un %rm %ru %>Hs\n\
             access_log stdio:{s}/access.log seen\n\
             cache deny all\n\
             cache_mem 8 MB\n\
             coredump_dir {s}\n\
             pinger_enable off\n\
             shutdown_lifetime 0 seconds\n\
             auth_param basic program /usr/lib/squid/basic_ncsa_auth {s}/passwd\n\
             auth_param basic realm kaioken\n\
             acl authport myportname auth\n\
             acl authed proxy_auth REQUIRED\n\
             acl loopback src 127.0.0.0/8\n\
             http_access allow authport authed\n\
             http_access deny authport\n\
             http_access allow loopback\n\
             http_access deny all\n"
        );
        std::fs::write(sq.join("squid.conf"), squid_conf).unwrap();
        assert!(
            std::path::Path::new("/usr/sbin/squid").exists(),
            "squid is not installed: run the test command from README.md"
        );
        let squid_child = spawn_tied(
            "/usr/sbin/squid",
            &["-N", "-f", &sq.join("squid.conf").display().to_string()],
            Stdio::null(),
            std::fs::File::create(sq.join("stderr.log")).unwrap().into(),
        );

        assert!(
            std::path::Path::new("/usr/bin/microsocks").exists(),
            "microsocks is not installed: run the test command from README.md"
        );
        let microsocks = |port: u16, log: &str, auth: &[&str]| {
            let port = port.to_string();
            let args: Vec<&str> = ["-i", "127.0.0.1", "-p", &port]
                .into_iter()
                .chain(auth.iter().copied())
                .collect();
            spawn_tied(
                "/usr/bin/microsocks",
                &args,
                Stdio::null(),
                std::fs::File::create(pki.path(log)).unwrap().into(),
            )
        };
        let socks_child = microsocks(socks, "socks.log", &[]);
        let socks_auth_child = microsocks(socks_auth, "socks-auth.log", &["-u", "tester", "-P", "s0cks-pass"]);
        for port in nginx
            .iter()
            .chain(&[squid, squid_auth, squid_tls, socks, socks_auth])
        {
            wait_listening(*port);
        }
        // squid accepts connections before it serves them (its TLS port and its log come up
        // a moment later): one request through each port, until it succeeds (at most 10 s),
        // before any test counts anything.
        let warm = format!("http://127.0.0.1:{}/", nginx[WARMUP]);
        let ca = pki.path("ca.pem").display().to_string();
        for (proxy, trust) in [
            (format!("http://127.0.0.1:{squid}"), vec![]),
            (
                format!("https://127.0.0.1:{squid_tls}"),
                vec!["--cacert", ca.as_str()],
            ),
        ] {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                let o = command()
                    .args(["run", "-n", "1", "--json", "-x", &proxy, &warm])
                    .args(&trust)
                    .output()
                    .unwrap();
                if o.status.success() {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "squid at {proxy} not serving after 10 s: {}",
                    stderr(&o)
                );
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        Peers {
            pki,
            _nginx: nginx_child,
            _squid: squid_child,
            _socks: socks_child,
            _socks_auth: socks_auth_child,
            nginx,
            squid,
            squid_auth,
            squid_tls,
            socks,
            socks_auth,
        }
    })
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `kaioken run` with JSON on stdout, with these proxy variables set.
fn run_env(env: &[(&str, String)], args: &[&str]) -> Output {
    let mut c = command();
    c.args(["run", "--json"]).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("running kaioken")
}

fn run(args: &[&str]) -> Output {
    run_env(&[], args)
}

fn ok_count(o: &Output) -> u64 {
    assert!(o.status.success(), "exit {:?}: {}", o.status, stderr(o));
    json(o)["summary"]["successful"].as_u64().unwrap()
}

fn errors(o: &Output, kind: &str) -> u64 {
    json(o)["errors"][kind].as_u64().unwrap_or_else(|| {
        panic!("no {kind} errors in {}", stdout(o));
    })
}

#[test]
fn http_target_through_an_http_proxy_in_absolute_form() {
    let p = peers();
    let proxy = format!("http://127.0.0.1:{}", p.squid);
    let o = run(&["-x", &proxy, "-n", "30", "-c", "3", &p.url(PLAIN_FORWARD)]);
    assert_eq!(ok_count(&o), 30);
    // Every request arrived through squid (its Via header), and squid logged each one as
    // an absolute-form GET, not a tunnel.
    let seen = p.nginx_log(PLAIN_FORWARD);
    assert_eq!(seen.len(), 30, "{seen:?}");
    assert!(seen.iter().all(|l| l.contains("squid")), "{seen:?}");
    let squid = p.squid_log(PLAIN_FORWARD);
    let gets = squid
        .iter()
        .filter(|l| l.contains(&format!(" GET {} 200", p.url(PLAIN_FORWARD))))
        .count();
    assert_eq!(gets, 30, "{squid:?}");
    assert_eq!(
        json(&o)["metadata"]["target"]["proxy"],
        format!("http://127.0.0.1:{}", p.squid)
    );
}

#[test]
fn https_target_through_an_http_proxy_is_tunnelled() {
    let p = peers();
    let proxy = format!("127.0.0.1:{}", p.squid); // no scheme: http://, as curl reads it
    let ca = p.file("ca.pem");
    let o = run(&[
        "-x",
        &proxy,
        "--cacert",
        &ca,
        "-n",
        "20",
        "-c",
        "2",
        &p.url(TLS_TUNNEL),
    ]);
    assert_eq!(ok_count(&o), 20);
    let seen = p.nginx_log(TLS_TUNNEL);
    assert_eq!(seen.len(), 20, "{seen:?}");
    // A tunnel carries bytes squid cannot read: no Via header, and one CONNECT per
    // connection (two VUs, kept alive: two tunnels).
    assert!(seen.iter().all(|l| l.contains("via=[-]")), "{seen:?}");
    let squid = p.squid_log(TLS_TUNNEL);
    let connects = squid.iter().filter(|l| l.contains(" CONNECT ")).count();
    assert_eq!(connects, 2, "{squid:?}");
}

#[test]
fn http2_goes_through_a_connect_tunnel() {
    let p = peers();
    let proxy = format!("http://127.0.0.1:{}", p.squid);
    let ca = p.file("ca.pem");
    let o = run(&[
        "-x",
        &proxy,
        "--cacert",
        &ca,
        "--http2",
        "-n",
        "20",
        "-c",
        "4",
        &p.url(TLS_TUNNEL_H2),
    ]);
    assert_eq!(ok_count(&o), 20);
    let seen = p.nginx_log(TLS_TUNNEL_H2);
    assert_eq!(seen.len(), 20, "{seen:?}");
    assert!(seen.iter().all(|l| l.starts_with("HTTP/2.0")), "{seen:?}");
    // h2c cannot be forwarded in absolute form: it is tunnelled too.
    let o = run(&[
        "-x",
        &proxy,
        "--http2",
        "-n",
        "10",
        &p.url(PLAIN_H2C_TUNNEL),
    ]);
    assert_eq!(ok_count(&o), 10);
    let seen = p.nginx_log(PLAIN_H2C_TUNNEL);
    assert_eq!(seen.len(), 10, "{seen:?}");
    assert!(seen.iter().all(|l| l.starts_with("HTTP/2.0")), "{seen:?}");
    // One tunnel per connection kaioken opened, and nothing squid forwarded itself.
    let squid = p.squid_log(PLAIN_H2C_TUNNEL);
    let opened = json(&o)["summary"]["connections_opened"].as_u64().unwrap();
    assert_eq!(squid.len() as u64, opened, "{squid:?}");
    assert!(squid.iter().all(|l| l.contains(" CONNECT ")), "{squid:?}");
}

#[test]
fn proxy_credentials_are_sent_and_refused_ones_are_counted() {
    let p = peers();
    // The password is percent-encoded in the URL, as curl expects.
    let good = format!("http://tester:s3cret%2Dpass@127.0.0.1:{}", p.squid_auth);
    let o = run(&["-x", &good, "-n", "10", "-c", "2", &p.url(PLAIN_AUTH)]);
    assert_eq!(ok_count(&o), 10);
    assert_eq!(p.nginx_log(PLAIN_AUTH).len(), 10);
    let squid = p.squid_log(PLAIN_AUTH);
    assert_eq!(
        squid.iter().filter(|l| l.contains(" tester GET ")).count(),
        10,
        "{squid:?}"
    );
    // The proxy's credentials are the proxy's: they never reach the server.
    assert!(p.nginx_log(PLAIN_AUTH).iter().all(|l| l.contains("pa=[-]")));
    let tls = run(&[
        "-x",
        &good,
        "--cacert",
        &p.file("ca.pem"),
        "-n",
        "4",
        "-c",
        "1",
        &p.url(TLS_AUTH),
    ]);
    assert_eq!(ok_count(&tls), 4);
    assert_eq!(p.nginx_log(TLS_AUTH).len(), 4);

    // Wrong password: squid answers 407, nothing reaches nginx, every request is a
    // proxy_auth error (not a 407 response from the target), for forwarded requests and
    // for tunnels alike.
    let bad = format!("http://tester:wrong@127.0.0.1:{}", p.squid_auth);
    let o = run(&["-x", &bad, "-n", "6", "-c", "2", &p.url(PLAIN_AUTH_WRONG)]);
    assert_eq!(errors(&o, "proxy_auth"), 6, "{}", stdout(&o));
    assert_eq!(json(&o)["summary"]["successful"], 0);
    let o = run(&[
        "-x",
        &bad,
        "--cacert",
        &p.file("ca.pem"),
        "-n",
        "3",
        "-c",
        "1",
        &p.url(TLS_AUTH),
    ]);
    assert_eq!(errors(&o, "proxy_auth"), 3, "{}", stdout(&o));
    assert!(p.nginx_log(PLAIN_AUTH_WRONG).is_empty());
    assert_eq!(p.nginx_log(TLS_AUTH).len(), 4, "only the good run arrived");
}

#[test]
fn socks5_resolves_here_and_socks5h_lets_the_proxy_resolve() {
    let p = peers();
    let socks = format!("socks5://127.0.0.1:{}", p.socks);
    let o = run(&["-x", &socks, "-n", "20", "-c", "2", &p.url(PLAIN_SOCKS)]);
    assert_eq!(ok_count(&o), 20);
    assert_eq!(p.nginx_log(PLAIN_SOCKS).len(), 20);
    // Two kept connections, each asked for by address.
    let port = p.nginx[PLAIN_SOCKS];
    assert_eq!(p.socks_log("socks.log", &format!("127.0.0.1:{port}")), 2);

    // socks5h: the proxy is given the name.
    let port = p.nginx[PLAIN_SOCKS_H];
    let by_name = format!("http://localhost:{port}/");
    let socks_h = format!("socks5h://127.0.0.1:{}", p.socks);
    let o = run(&["-x", &socks_h, "-n", "5", "-c", "1", &by_name]);
    assert_eq!(ok_count(&o), 5);
    assert_eq!(p.nginx_log(PLAIN_SOCKS_H).len(), 5);
    assert_eq!(p.socks_log("socks.log", &format!("localhost:{port}")), 1);

    // TLS inside the SOCKS connection.
    let o = run(&[
        "-x",
        &socks,
        "--cacert",
        &p.file("ca.pem"),
        "--http2",
        "-n",
        "8",
        &p.url(TLS_SOCKS),
    ]);
    assert_eq!(ok_count(&o), 8);
    let seen = p.nginx_log(TLS_SOCKS);
    assert_eq!(
        seen.iter().filter(|l| l.starts_with("HTTP/2.0")).count(),
        8,
        "{seen:?}"
    );
}

#[test]
fn socks5_password_is_used_and_a_wrong_one_counted() {
    let p = peers();
    let port = p.nginx[PLAIN_SOCKS_AUTH];
    let good = format!("socks5://tester:s0cks-pass@127.0.0.1:{}", p.socks_auth);
    let o = run(&["-x", &good, "-n", "6", "-c", "1", &p.url(PLAIN_SOCKS_AUTH)]);
    assert_eq!(ok_count(&o), 6);
    assert_eq!(
        p.socks_log("socks-auth.log", &format!("127.0.0.1:{port}")),
        1
    );
    let bad = format!("socks5://tester:nope@127.0.0.1:{}", p.socks_auth);
    let o = run(&["-x", &bad, "-n", "4", "-c", "1", &p.url(PLAIN_SOCKS_AUTH)]);
    assert_eq!(errors(&o, "proxy_auth"), 4, "{}", stdout(&o));
    assert_eq!(
        p.nginx_log(PLAIN_SOCKS_AUTH).len(),
        6,
        "only the good run arrived"
    );
    // No proxy listening: the proxy could not be reached, counted by kind.
    let down = format!("socks5://127.0.0.1:{}", free_port());
    let o = run(&["-x", &down, "-n", "3", "-c", "1", &p.url(PLAIN_SOCKS_AUTH)]);
    assert_eq!(errors(&o, "proxy_connect"), 3, "{}", stdout(&o));
}

#[test]
fn proxy_key_in_the_config_file_with_its_password_from_the_environment() {
    let p = peers();
    let dir = tempfile::tempdir().unwrap();
    let config = support::write_file(
        dir.path(),
        "kaioken.toml",
        &format!(
            "[target]\nurl = \"{}\"\nproxy = \"http://tester:${{SQUID_PASS}}@127.0.0.1:{}\"\n",
            p.url(PLAIN_CONFIG),
            p.squid_auth
        ),
    );
    let config = config.display().to_string();
    let o = run_env(
        &[("SQUID_PASS", "s3cret-pass".into())],
        &["-f", &config, "-n", "5", "-c", "1"],
    );
    assert_eq!(ok_count(&o), 5);
    // squid authenticated each request as the user from the file, and forwarded it.
    let squid = p.squid_log(PLAIN_CONFIG);
    assert_eq!(
        squid.iter().filter(|l| l.contains(" tester GET ")).count(),
        5,
        "{squid:?}"
    );
    let nginx = p.nginx_log(PLAIN_CONFIG);
    assert_eq!(nginx.len(), 5);
    assert!(nginx.iter().all(|l| !l.contains("via=[-]")), "{nginx:?}");
    // The password never shows.
    let text = stdout(&o);
    assert!(!text.contains("s3cret"), "{text}");
    assert_eq!(
        json(&o)["metadata"]["target"]["proxy"],
        format!("http://tester:***@127.0.0.1:{}", p.squid_auth)
    );
}

#[test]
fn proxy_from_the_environment_and_no_proxy() {
    let p = peers();
    let squid = format!("http://127.0.0.1:{}", p.squid);
    let ca = p.file("ca.pem");
    let o = run_env(
        &[("HTTPS_PROXY", squid.clone())],
        &["--cacert", &ca, "-n", "6", "-c", "1", &p.url(TLS_ENV)],
    );
    assert_eq!(ok_count(&o), 6);
    assert_eq!(p.nginx_log(TLS_ENV).len(), 6);
    assert_eq!(p.squid_log(TLS_ENV).len(), 1, "one tunnel");
    let o = run_env(
        &[("http_proxy", squid.clone())],
        &["-n", "5", "-c", "1", &p.url(PLAIN_ENV)],
    );
    assert_eq!(ok_count(&o), 5);
    assert_eq!(p.squid_log(PLAIN_ENV).len(), 5);

    // NO_PROXY naming the host, and --no-proxy-env, each bypass squid.
    let url = p.url(PLAIN_NO_PROXY);
    let o = run_env(
        &[
            ("http_proxy", squid.clone()),
            ("NO_PROXY", "localhost,127.0.0.0/8".into()),
        ],
        &["-n", "4", "-c", "1", &url],
    );
    assert_eq!(ok_count(&o), 4);
    let o = run_env(
        &[("ALL_PROXY", squid)],
        &["--no-proxy-env", "-n", "4", "-c", "1", &url],
    );
    assert_eq!(ok_count(&o), 4);
    assert_eq!(p.nginx_log(PLAIN_NO_PROXY).len(), 8);
    assert!(p.squid_log(PLAIN_NO_PROXY).is_empty());
    assert!(json(&o)["metadata"]["target"].get("proxy").is_none());
}

#[test]
fn https_proxy_speaks_tls_to_the_proxy_then_tunnels() {
    let p = peers();
    let proxy = format!("https://127.0.0.1:{}", p.squid_tls);
    let ca = p.file("ca.pem");
    // http:// target: TLS to squid, then absolute-form requests inside it.
    let o = run(&[
        "-x",
        &proxy,
        "--cacert",
        &ca,
        "-n",
        "5",
        "-c",
        "1",
        &p.url(PLAIN_HTTPS_PROXY),
    ]);
    assert_eq!(ok_count(&o), 5);
    assert_eq!(p.squid_log(PLAIN_HTTPS_PROXY).len(), 5);
    // https:// target: TLS to the target inside TLS to squid.
    let o = run(&[
        "-x",
        &proxy,
        "--cacert",
        &ca,
        "--http2",
        "-n",
        "6",
        "-c",
        "2",
        &p.url(TLS_HTTPS_PROXY),
    ]);
    assert_eq!(ok_count(&o), 6);
    let seen = p.nginx_log(TLS_HTTPS_PROXY);
    assert_eq!(
        seen.iter().filter(|l| l.starts_with("HTTP/2.0")).count(),
        6,
        "{seen:?}"
    );
    // Without the CA, the proxy's certificate is refused and counted as such.
    let o = run(&[
        "-x",
        &proxy,
        "-n",
        "2",
        "-c",
        "1",
        &p.url(PLAIN_HTTPS_PROXY),
    ]);
    assert_eq!(errors(&o, "tls_cert_invalid"), 2, "{}", stdout(&o));
}

#[test]
fn proxy_passwords_never_appear_and_bad_proxies_are_one_line() {
    let p = peers();
    let proxy = format!("http://tester:s3cret-pass@127.0.0.1:{}", p.squid_auth);
    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("r.json");
    let o = command()
        .args(["run", "-x", &proxy, "-n", "3", "-c", "1", "--no-tui", "-o"])
        .arg(&out)
        .arg(p.url(PLAIN_SECRETS))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let written = std::fs::read_to_string(&out).unwrap();
    for text in [&written, &stdout(&o), &stderr(&o)] {
        assert!(!text.contains("s3cret"), "{text}");
    }
    assert!(written.contains("tester:***@127.0.0.1"), "{written}");
    let dry = command()
        .args(["run", "--dry-run", "-x", &proxy, &p.url(PLAIN_SECRETS)])
        .output()
        .unwrap();
    assert!(
        stdout(&dry).contains("Proxy:       http://tester:***@127.0.0.1"),
        "{}",
        stdout(&dry)
    );
    assert!(!stdout(&dry).contains("s3cret"));

    for (bad, says) in [
        ("ftp://127.0.0.1:21", "unknown proxy scheme \"ftp\""),
        ("http://", "proxy"),
        ("http://127.0.0.1:3128/some/path", "no path"),
    ] {
        let o = command()
            .args(["run", "--dry-run", "-x", bad, &p.url(PLAIN_SECRETS)])
            .output()
            .unwrap();
        let err = stderr(&o);
        // A bad flag, no config file: a usage error.
        assert_eq!(o.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("proxy") && err.contains(says), "{bad}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    // A malformed environment value names the variable, shows no password, and says how
    // to get past it.
    let o = command()
        .env("HTTPS_PROXY", "gopher://u:hidden-pw@h")
        .args(["run", "--dry-run", &p.url(TLS_ENV)])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("HTTPS_PROXY") && err.contains("--no-proxy-env"),
        "{err}"
    );
    assert!(!err.contains("hidden-pw"), "{err}");
}

#[test]
fn debug_goes_through_the_proxy_too() {
    let p = peers();
    let proxy = format!("http://tester:s3cret-pass@127.0.0.1:{}", p.squid_auth);
    let o = command()
        .args(["run", "--debug", "-x", &proxy, &p.url(PLAIN_DEBUG)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // The request line as sent: absolute form, the proxy's credentials redacted.
    assert!(
        out.contains(&format!("> GET {} HTTP/1.1", p.url(PLAIN_DEBUG))),
        "{out}"
    );
    assert!(out.contains("proxy-authorization: [redacted]"), "{out}");
    assert!(!out.contains("s3cret"), "{out}");
    assert_eq!(p.nginx_log(PLAIN_DEBUG).len(), 1);
    assert_eq!(p.squid_log(PLAIN_DEBUG).len(), 1);
}
