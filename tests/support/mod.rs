//! Real servers for integration tests, each on an ephemeral loopback port, stopped on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub mod pki;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_kaioken")
}

/// The proxy variables kaioken reads: removed from every run the tests start, so a
/// machine with a proxy configured sends the tests' loopback traffic where they expect.
pub const PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// The kaioken binary as a command, without the machine's proxy variables.
pub fn command() -> Command {
    let mut c = Command::new(bin());
    for var in PROXY_VARS {
        c.env_remove(var);
    }
    c.stdin(Stdio::null());
    c
}

/// Runs the kaioken binary with `args`.
pub fn kaioken(args: &[&str]) -> Output {
    command().args(args).output().expect("running kaioken")
}

/// A log file's lines once it has settled. Servers write a request's line when they
/// finalise it, just after the response the client already read (squid: a tunnel's line
/// when it closes), and on a loaded 2-core machine a server can wait a scheduler slice or
/// more before it runs again: read every 50 ms until the file has not changed for 250 ms
/// (500 ms while it is empty, so a late first line is not taken for "nothing arrived"),
/// at most 5 s. A missing file is an empty log.
pub fn settled_lines(path: &Path) -> Vec<String> {
    let read = || {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = read();
    let mut since = Instant::now();
    loop {
        thread::sleep(Duration::from_millis(50));
        let now = read();
        if now != last {
            last = now;
            since = Instant::now();
            continue;
        }
        let quiet = if last.is_empty() { 500 } else { 250 };
        if since.elapsed() >= Duration::from_millis(quiet) || Instant::now() > deadline {
            return last;
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(o)))
}

/// `kaioken serve --port 0 ARGS...`, killed on drop.
pub struct Target {
    child: Child,
    pub url: String,
    pub addr: String,
}

impl Target {
    pub fn start(args: &[&str]) -> Target {
        let mut child = Command::new(bin())
            .args(["serve", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting kaioken serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("reading the serve banner");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in banner {line:?}"))
            .to_string();
        let addr = url.trim_start_matches("http://").to_string();
        Target {
            child,
            url: format!("{url}/"),
            addr,
        }
    }

    /// The server's counters (`GET /__kaioken/stats`).
    pub fn stats(&self) -> serde_json::Value {
        serde_json::from_str(&http_get(&self.addr, "/__kaioken/stats")).expect("stats JSON")
    }

    /// Requests served so far, counted by the server.
    pub fn served(&self) -> u64 {
        let body = http_get(&self.addr, "/__kaioken/stats");
        let v: serde_json::Value = serde_json::from_str(&body).expect("stats JSON");
        v["requests"].as_u64().expect("requests count")
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal blocking HTTP/1.0 GET, for reading test servers' state.
pub fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connecting to the test server");
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// Writes `text` to `dir/name` (a config file for a test) and returns its path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("writing a test file");
    p
}

/// `N` distinct free loopback ports. All are held while they are chosen: ports picked one
/// at a time can repeat, and nginx takes two `listen` lines on one port as virtual hosts
/// of one server (no error), so a test would count another server's requests.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real nginx (Debian's nginx-light) with one HTTP/1.1 port and one h2c port, logging every
/// request to an access log so tests can count server-side.
pub struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
    pub h2_port: u16,
    /// HTTPS with a self-signed certificate for 127.0.0.1; ALPN offers h2 and http/1.1.
    pub tls_port: u16,
    /// h2c that sends GOAWAY after 50 requests per connection and allows 3 streams.
    pub h2_strict_port: u16,
}

impl Nginx {
    pub fn start() -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let (port, h2_port, tls_port, h2_strict_port) = free_ports::<4>().into();
        let cert = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
        let conf = nginx_conf(
            dir.path(),
            &format!(
                r#"  log_format count "$request_method $request_uri $status";
  access_log {d}/access.log count;
  keepalive_requests 100000;
  server {{
    listen 127.0.0.1:{port};
    location / {{ return 200 "hello from nginx\n"; }}
  }}
  server {{
    listen 127.0.0.1:{h2_port} http2;
    location / {{ return 200 "hello from nginx h2\n"; }}
  }}
  server {{
    listen 127.0.0.1:{tls_port} ssl http2;
    ssl_certificate {d}/cert.pem;
    ssl_certificate_key {d}/key.pem;
    location / {{ return 200 "hello from nginx tls\n"; }}
  }}
  server {{
    listen 127.0.0.1:{h2_strict_port} http2;
    keepalive_requests 50;
    http2_max_concurrent_streams 3;
    location / {{ return 200 "hello from strict nginx h2\n"; }}
  }}
"#,
                d = dir.path().display()
            ),
        );
        let child = spawn_nginx(dir.path(), &conf);
        let n = Nginx {
            child,
            dir,
            port,
            h2_port,
            tls_port,
            h2_strict_port,
        };
        wait_listening(port);
        wait_listening(h2_strict_port);
        wait_listening(h2_port);
        wait_listening(tls_port);
        n
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn h2_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.h2_port)
    }

    pub fn tls_url(&self) -> String {
        format!("https://127.0.0.1:{}/", self.tls_port)
    }

    pub fn access_log(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }

    /// Requests nginx has logged. nginx creates its log when it starts, so a missing log
    /// is a broken test set-up, not "nothing logged".
    pub fn logged(&self) -> usize {
        std::fs::read_to_string(self.access_log())
            .unwrap_or_else(|e| panic!("nginx's access log: {e}"))
            .lines()
            .count()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        stop_tied(&mut self.child);
    }
}

/// An nginx.conf that keeps every file nginx writes in `dir` (so it runs unprivileged,
/// beside other instances): `http` is the inside of the `http` block.
pub fn nginx_conf(dir: &Path, http: &str) -> String {
    format!(
        "worker_processes 1;\nerror_log {d}/error.log;\npid {d}/nginx.pid;\nevents {{ worker_connections 4096; }}\nhttp {{\n  client_body_temp_path {d};\n  proxy_temp_path {d};\n  fastcgi_temp_path {d};\n  uwsgi_temp_path {d};\n  scgi_temp_path {d};\n{http}}}\n",
        d = dir.display()
    )
}

/// Starts Debian's nginx in the foreground with `conf` written to `dir/nginx.conf`.
pub fn spawn_nginx(dir: &Path, conf: &str) -> Child {
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect(
            "nginx is not installed: run the test command from README.md (it installs nginx-light)",
        );
    let dir = dir.display().to_string();
    let conf = format!("{dir}/nginx.conf");
    spawn_tied(
        nginx,
        &[
            "-p",
            &dir,
            "-c",
            &conf,
            "-g",
            "daemon off; master_process off;",
        ],
        Stdio::null(),
        Stdio::inherit(),
    )
}

/// Stops a program started by [`spawn_tied`]: closing the shell's stdin makes it kill
/// the program.
pub fn stop_tied(child: &mut Child) {
    drop(child.stdin.take());
    let _ = child.wait();
}

/// Starts `program` so that it dies with the test process, even when its handle lives in
/// a `static` that is never dropped: a shell runs it and waits for its own stdin, a pipe
/// from this process, to close (which happens when this process exits, however it exits),
/// then kills it.
pub fn spawn_tied(program: &str, args: &[&str], stdout: Stdio, stderr: Stdio) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg("\"$@\" </dev/null & pid=$!; while read -r _; do :; done; kill -9 $pid")
        .arg("sh")
        .arg(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {program}: {e}"))
}

/// Starts one of the Python peers in tests/peers (`script` and its arguments), tied to the
/// test process, and reads the `name port` lines it prints up to `ready`. `missing` says
/// what to do when it does not start (which PyPI packages the test command installs).
/// (The child is returned, not waited for: it is tied to the test process's life.)
#[allow(dead_code)] // not every test binary starts a Python peer
#[allow(clippy::zombie_processes)]
pub fn python_peer(
    script: &str,
    args: &[&str],
    missing: &str,
) -> (Child, std::collections::HashMap<String, u16>) {
    let path = format!("{}/tests/peers/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut all = vec![path.as_str()];
    all.extend_from_slice(args);
    let mut child = spawn_tied("python3", &all, Stdio::piped(), Stdio::inherit());
    let mut ports = std::collections::HashMap::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("{script} did not start: {missing}"))
            .unwrap();
        if line == "ready" {
            return (child, ports);
        }
        let (name, port) = line.split_once(' ').unwrap();
        ports.insert(name.to_string(), port.parse::<u16>().unwrap());
    }
}

pub fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listening on {port} after 10 s"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// A raw TCP server that answers every request with `reply` and then, if `close`, closes.
/// Returns its address; the thread lives as long as the test process.
pub fn raw_server(reply: &'static [u8], close: bool) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut pending = Vec::new();
                loop {
                    let n = match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        if reply.is_empty() {
                            // Stall: never answer.
                            continue;
                        }
                        if conn.write_all(reply).is_err() {
                            return;
                        }
                        if close {
                            let _ = conn.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}
