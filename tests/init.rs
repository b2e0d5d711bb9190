//! `kaioken init` → `kaioken run -f` round trip.

mod support;

use support::{Target, kaioken, stderr, stdout};

#[test]
fn init_writes_a_config_that_runs_unchanged() {
    let t = Target::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("kaioken.toml");
    let c = cfg.to_str().unwrap();
    let o = kaioken(&["init", "--url", &t.url, "-o", c]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains(&format!("url = \"{}\"", t.url)));

    let o = kaioken(&["run", "-f", c, "--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let plan = stdout(&o);
    assert!(
        plan.contains("Check:       status is 2xx: status < 300"),
        "{plan}"
    );
    assert!(plan.contains("Threshold:   p95_latency_ms < 500"), "{plan}");

    // The file as written, shortened from the command line only.
    let o = kaioken(&["run", "-f", c, "-d", "1s", "--no-tui"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Thresholds (2 of 2 passed)"),
        "{}",
        stdout(&o)
    );
    assert!(t.served() > 10);

    // An existing file is kept unless --force.
    let o = kaioken(&["init", "-o", c]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("exists; pass --force"), "{err}");
    let o = kaioken(&["init", "-o", c, "--force"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        std::fs::read_to_string(&cfg)
            .unwrap()
            .contains("http://127.0.0.1:8080/")
    );
}
