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
        let o = bash
            .args(["-euo", "pipefail", "-c", &line])
            .env("PATH", path)
            .stdin(std::process::Stdio::null())
            .current_dir(cwd)
            .env("TARGET_URL", &t.url)
            .output()
            .unwrap();
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
            assert!(stdout(&o).contains("Requests"), "{line}: {}", stdout(&o));
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
