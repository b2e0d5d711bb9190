//! README.md's quick-start examples are run as written, by bash (`-euo pipefail`, with the
//! built `kaioken` first on PATH, as after the set-up), against a live built-in target that
//! stands in for http://127.0.0.1:8080. A shell, not a word splitter: what bash would do to
//! an unquoted `${REQUEST_ID}` happens here too.

mod support;
use support::*;

/// The `kaioken ...` lines of the block after `<!-- tested-examples -->`.
fn readme_examples() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let (_, after) = readme
        .split_once("<!-- tested-examples -->")
        .expect("README marks its tested examples");
    let block = after
        .split("```")
        .nth(1)
        .expect("a fenced block follows the marker");
    block
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("kaioken ") && !l.starts_with("kaioken serve"))
        .map(str::to_string)
        .collect()
}

#[test]
fn readme_examples_run_as_written() {
    let t = Target::start(&["--delay", "uniform:1ms-3ms"]);
    let dir = tempfile::tempdir().unwrap();
    let examples = readme_examples();
    assert!(examples.len() >= 8, "{examples:?}");
    for line in &examples {
        let line = line.replace("http://127.0.0.1:8080/", &t.url);
        // examples/ paths are relative to the repository; outputs go to a scratch dir.
        let cwd = if line.contains("examples/") {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        } else {
            dir.path()
        };
        let bin = std::path::Path::new(support::bin()).parent().unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut bash = std::process::Command::new("bash");
        for var in support::PROXY_VARS {
            bash.env_remove(var);
        }
        let served_before = t.served();
        let o = bash
            .args(["-euo", "pipefail", "-c", &line])
            .env("PATH", path)
            .stdin(std::process::Stdio::null())
            .current_dir(cwd)
            .env("TARGET_URL", &t.url)
            .output()
            .unwrap();
        let served = t.served() - served_before;
        if line.starts_with("kaioken compare") {
            // Two real runs on a shared machine: a regression verdict is possible and valid.
            assert!(
                matches!(o.status.code(), Some(0 | 3)),
                "{line}\n{}",
                stderr(&o)
            );
            assert!(stdout(&o).contains("p99"), "{}", stdout(&o));
            continue;
        }
        assert_eq!(o.status.code(), Some(0), "{line}\n{}", stderr(&o));
        if line.contains("--json") {
            let v = json(&o);
            assert_eq!(v["summary"]["total_requests"], 100, "{line}");
        } else if line.starts_with("kaioken simulate") {
            assert!(stdout(&o).starts_with("t_secs,rate,"), "{}", stdout(&o));
            assert!(stderr(&o).contains("planned requests"), "{}", stderr(&o));
        } else if line.contains("--dry-run") {
            assert!(stdout(&o).contains("Configuration validated successfully!"));
        } else {
            // The summary's request count is what the server saw (the built-in target
            // counts every request it answers).
            let out = stdout(&o);
            let requests: u64 = out
                .lines()
                .find_map(|l| l.strip_prefix("Requests"))
                .and_then(|rest| rest.split_whitespace().next())
                .map(|n| n.replace(',', "").parse().unwrap())
                .unwrap_or_else(|| panic!("{line}: no Requests line in {out}"));
            assert!(requests > 0, "{line}: {out}");
            if line.contains("--warmup") {
                // Warm-up requests reach the server but are not measured.
                assert!(served > requests, "{line}: the server saw {served}");
            } else {
                assert_eq!(requests, served, "{line}: the server saw {served}");
            }
        }
        if line.contains("-o result.json") {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.path().join("result.json")).unwrap())
                    .unwrap();
            assert_eq!(v["schema"], "kaioken.result/v1");
        }
        if line.contains("-n 10k") {
            assert!(stdout(&o).contains("10,000"), "{}", stdout(&o));
        }
    }
}

/// Every other ```sh block of README.md, whole, through bash with the binary on PATH and HOME
/// in a scratch directory, against the built-in target (and a real Pushgateway for its block).
/// What a test cannot wait for is shortened, and said here: `-d 30s`/`-d 10m` become `-d 1s`,
/// a `run -f` of the 30-second starter config gets `-d 1s`, port 9464 becomes 0 (any free
/// port). The files a block reads (results to compare, a runs.db with three runs) are made
/// first by the same binary. Left out: the set-up block (it is what built this binary) and the
/// benchmark block (minutes of load against peers; `bench/` is run on its own).
#[test]
fn readme_sh_blocks_run_in_bash() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let tested = readme
        .split_once("<!-- tested-examples -->")
        .map(|(_, after)| after.split("```").nth(1).unwrap_or_default().to_string())
        .unwrap();
    let blocks: Vec<String> = readme
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap().replace("\\\n", " "))
        .filter(|b| {
            !tested.contains(b.trim()) && !b.contains("cargo install") && !b.contains("./bench/run")
        })
        .collect();
    assert!(blocks.len() >= 6, "{blocks:?}");
    let t = Target::start(&[]);
    let gw_dir = tempfile::tempdir().unwrap();
    let gw_port = free_port();
    let mut gw = spawn_tied(
        "/usr/bin/prometheus-pushgateway",
        &[
            &format!("--web.listen-address=127.0.0.1:{gw_port}"),
            &format!(
                "--persistence.file={}",
                gw_dir.path().join("gw.data").display()
            ),
        ],
        std::process::Stdio::null(),
        std::process::Stdio::null(),
    );
    wait_listening(gw_port);
    let bin = std::path::Path::new(support::bin()).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for block in &blocks {
        let dir = tempfile::tempdir().unwrap();
        let script = block
            .replace("http://127.0.0.1:8080/", &t.url)
            .replace(
                "http://127.0.0.1:9091",
                &format!("http://127.0.0.1:{gw_port}"),
            )
            .replace("-d 30s", "-d 1s")
            .replace("-d 10m", "-d 1s")
            .replace("--prometheus-port 9464", "--prometheus-port 0")
            .replace("run -f kaioken.toml", "run -f kaioken.toml -d 1s --no-tui");
        let setup = if script.contains("compare baseline.json current.json") {
            format!(
                "kaioken run {u} -n 200 -c 4 -o baseline.json >/dev/null\nkaioken run {u} -n 200 -c 4 -o current.json >/dev/null\n",
                u = t.url
            )
        } else if script.contains("runs.db") {
            format!(
                "for i in 1 2 3; do kaioken run {} -n 50 --db-url runs.db >/dev/null; done\n",
                t.url
            )
        } else {
            String::new()
        };
        let mut bash = std::process::Command::new("bash");
        for var in support::PROXY_VARS {
            bash.env_remove(var);
        }
        let o = bash
            .args(["-euo", "pipefail", "-c", &format!("{setup}{script}")])
            .env("PATH", &path)
            .env("HOME", dir.path())
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .stdin(std::process::Stdio::null())
            .current_dir(dir.path())
            .output()
            .unwrap();
        let code = o.status.code();
        if script.contains("kaioken compare") {
            // Two real runs on a shared machine: a regression verdict is possible and valid.
            assert!(matches!(code, Some(0 | 3)), "{script}\n{}", stderr(&o));
            assert!(stdout(&o).contains("p99"), "{}", stdout(&o));
            continue;
        }
        assert_eq!(code, Some(0), "{script}\n{}", stderr(&o));
        // Each block's effect, as the README describes it.
        if script.contains("kaioken init") {
            assert!(stdout(&o).contains("Requests"), "{}", stdout(&o));
        }
        if script.contains("kaioken replay") {
            let r: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(dir.path().join("replay.json")).unwrap(),
            )
            .unwrap();
            assert_eq!(r["load"]["replay"]["records"], 2, "{r}");
            assert_eq!(r["summary"]["successful"], 2, "{r}");
        }
        if script.contains("kaioken capacity") {
            // The built-in target is far from its capacity at 200 req/s: every probe passes.
            let c: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(dir.path().join("capacity.json")).unwrap(),
            )
            .unwrap();
            assert_eq!(c["answer"]["outcome"], "at_least_max", "{c}");
            assert!(
                stdout(&o).starts_with("sustains at least 200 req/s within p99 < 50ms"),
                "{}",
                stdout(&o)
            );
        }
        if script.contains("kaioken report") {
            let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
            assert!(md.contains("p99"), "{md}");
        }
        if script.contains("runs.db") {
            let rows = stdout(&o);
            // Three runs listed by the first query, run 3's seconds by the second.
            assert!(
                rows.lines()
                    .filter(|l| l.starts_with(['1', '2', '3']))
                    .count()
                    >= 3,
                "{rows}"
            );
        }
        if script.contains("kaioken man") {
            assert!(stdout(&o).contains("--concurrency") || stdout(&o).contains("concurrency"));
            assert!(dir.path().join("man/kaioken-run.1").exists());
            let rc = std::fs::read_to_string(dir.path().join(".bashrc")).unwrap();
            assert!(rc.contains("_kaioken"), "completions were not appended");
        }
    }
    stop_tied(&mut gw);
}
