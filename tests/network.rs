//! Where connections go and come from, against a real nginx listening on three loopback
//! addresses: `--resolve` gives a name three addresses, `--dns-select` spreads connections
//! over them (nginx logs the address each connection reached), and `--local-address`
//! spreads them over source addresses (nginx logs the client address). One server per test,
//! each logging to its own file.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Output};
use std::sync::OnceLock;

use support::{command, free_ports, json, settled_lines, stderr, wait_listening};

const ROUND_ROBIN: usize = 0;
const FIRST: usize = 1;
const RANDOM: usize = 2;
const LOCAL: usize = 3;
const BAD_INPUT: usize = 4;
const CONFIG: usize = 5;
const SERVERS: usize = 6;

/// The addresses each server listens on, all on its one port.
const LISTEN: [&str; 3] = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];

struct Servers {
    dir: tempfile::TempDir,
    _child: Child,
    ports: [u16; SERVERS],
}

impl Servers {
    /// Per log line: `server_addr remote_addr connection`.
    fn log(&self, server: usize) -> Vec<(String, String, u64)> {
        settled_lines(&self.dir.path().join(format!("access{server}.log")))
            .iter()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap())
            })
            .collect()
    }

    /// Distinct connections per address picked out of each line by `key`.
    fn connections_by(
        &self,
        server: usize,
        key: impl Fn(&(String, String, u64)) -> String,
    ) -> BTreeMap<String, usize> {
        let mut seen: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
        for line in self.log(server) {
            seen.entry(key(&line)).or_default().insert(line.2);
        }
        seen.into_iter().map(|(k, v)| (k, v.len())).collect()
    }
}

fn servers() -> &'static Servers {
    static S: OnceLock<Servers> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let ports = free_ports::<SERVERS>();
        let mut blocks = String::new();
        for (i, port) in ports.iter().enumerate() {
            let listen: String = LISTEN
                .iter()
                .map(|a| format!("    listen {a}:{port};\n"))
                .collect();
            blocks.push_str(&format!(
                "  server {{\n{listen}    access_log {d}/access{i}.log seen;\n    location / {{ return 200 \"ok\\n\"; }}\n  }}\n"
            ));
        }
        let conf = support::nginx_conf(
            dir.path(),
            &format!("  log_format seen \"$server_addr $remote_addr $connection\";\n{blocks}"),
        );
        let child = support::spawn_nginx(dir.path(), &conf);
        for port in ports {
            wait_listening(port);
        }
        Servers {
            dir,
            _child: child,
            ports,
        }
    })
}

fn run(args: &[&str]) -> Output {
    let o = command()
        .args(["run", "--json", "--threads", "1"])
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

/// `--resolve` giving `api.test` the three addresses of `server`'s port.
fn resolve(server: usize) -> (String, String) {
    let port = servers().ports[server];
    (
        format!("api.test:{port}:{}", LISTEN.join(",")),
        format!("http://api.test:{port}/"),
    )
}

#[test]
fn round_robin_spreads_connections_over_every_address() {
    let (rule, url) = resolve(ROUND_ROBIN);
    // Six kept connections on one thread: connection n takes address n mod 3.
    let o = run(&["--resolve", &rule, "-c", "6", "-n", "60", &url]);
    assert_eq!(json(&o)["summary"]["successful"], 60);
    let by_addr = servers().connections_by(ROUND_ROBIN, |l| l.0.clone());
    let want: BTreeMap<String, usize> = LISTEN.iter().map(|a| (a.to_string(), 2)).collect();
    assert_eq!(by_addr, want);
}

#[test]
fn first_takes_one_address_and_random_takes_several() {
    let (rule, url) = resolve(FIRST);
    run(&[
        "--resolve",
        &rule,
        "--dns-select",
        "first",
        "-c",
        "6",
        "-n",
        "30",
        &url,
    ]);
    let by_addr = servers().connections_by(FIRST, |l| l.0.clone());
    assert_eq!(
        by_addr.keys().collect::<Vec<_>>(),
        vec!["127.0.0.1"],
        "{by_addr:?}"
    );
    assert_eq!(by_addr["127.0.0.1"], 6);

    // 30 new connections at random over 3 addresses: all on one address has probability
    // 3 · (1/3)^30 ≈ 1.6e-14, so "more than one address" cannot fail by chance; a random
    // that is not random (always the first) fails it.
    let (rule, url) = resolve(RANDOM);
    run(&[
        "--resolve",
        &rule,
        "--dns-select",
        "random",
        "--disable-keepalive",
        "-c",
        "1",
        "-n",
        "30",
        &url,
    ]);
    let by_addr = servers().connections_by(RANDOM, |l| l.0.clone());
    assert!(by_addr.len() > 1, "{by_addr:?}");
    assert_eq!(by_addr.values().sum::<usize>(), 30);
}

#[test]
fn local_addresses_are_spread_over_connections() {
    let s = servers();
    let url = format!("http://127.0.0.1:{}/", s.ports[LOCAL]);
    let o = run(&[
        "--local-address",
        "127.0.0.5",
        "--local-address",
        "127.0.0.6",
        "-c",
        "4",
        "-n",
        "40",
        &url,
    ]);
    assert_eq!(json(&o)["summary"]["successful"], 40);
    let by_client = s.connections_by(LOCAL, |l| l.1.clone());
    let want: BTreeMap<String, usize> =
        [("127.0.0.5".to_string(), 2), ("127.0.0.6".to_string(), 2)]
            .into_iter()
            .collect();
    assert_eq!(by_client, want);
}

#[test]
fn bad_names_and_addresses_are_one_line_before_any_traffic() {
    let s = servers();
    let url = format!("http://127.0.0.1:{}/", s.ports[BAD_INPUT]);
    for (args, says) in [
        (vec!["--local-address", "not-an-ip"], "local_address"),
        // TEST-NET-1: never an address of this machine.
        (vec!["--local-address", "192.0.2.1"], "192.0.2.1"),
        (vec!["--local-address", "::1"], "family"),
        (vec!["--resolve", "api.test:80"], "resolve"),
        (
            vec!["--resolve", "api.test:80:999.1.1.1"],
            "not an IP address",
        ),
        (vec!["--dns-select", "fastest"], "dns_select"),
        (vec!["--dns-ttl", "soon"], "dns_ttl"),
        (vec!["--no-tls-resume"], "tls_resume"),
    ] {
        let o = command()
            .args(["run", "-n", "1"])
            .args(&args)
            .arg(&url)
            .output()
            .unwrap();
        let err = stderr(&o);
        // A bad flag, no config file: a usage error.
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
    assert!(s.log(BAD_INPUT).is_empty(), "refused runs send nothing");
}

#[test]
fn the_target_keys_in_a_config_file_take_effect() {
    let s = servers();
    let port = s.ports[CONFIG];
    let dir = tempfile::tempdir().unwrap();
    let config = support::write_file(
        dir.path(),
        "kaioken.toml",
        &format!(
            "[target]\nurl = \"http://api.test:{port}/\"\nresolve = [\"api.test:{port}:127.0.0.2,127.0.0.3\"]\ndns_select = \"first\"\ndns_ttl = \"inf\"\nlocal_address = [\"127.0.0.7\"]\n"
        ),
    );
    let o = run(&["-f", &config.display().to_string(), "-c", "3", "-n", "12"]);
    assert_eq!(json(&o)["summary"]["successful"], 12);
    // resolve: only the given addresses; dns_select = first: all on the first of them;
    // local_address: every connection from 127.0.0.7.
    let log = s.log(CONFIG);
    assert_eq!(log.len(), 12, "{log:?}");
    assert!(
        log.iter()
            .all(|(to, from, _)| to == "127.0.0.2" && from == "127.0.0.7"),
        "{log:?}"
    );
}
