//! `--db-url`: the run logged to SQLite, queried with real SQL while it runs and after.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use support::{Target, kaioken, stderr};

#[test]
fn runs_and_seconds_are_queryable_live_and_after() {
    let t = Target::start(&["--delay", "1ms"]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.db");
    let json = dir.path().join("r.json");

    // A first run: the file then holds an earlier run when the second one starts.
    let o = kaioken(&[
        "run",
        &t.url,
        "--no-tui",
        "-c",
        "5",
        "-d",
        "2s",
        "--db-url",
        db.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    let mut child = support::command()
        .args(["run", &t.url, "--no-tui", "-c", "5", "-d", "4s", "-o"])
        .arg(&json)
        .arg("--db-url")
        .arg(format!("sqlite://{}", db.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // While it runs: its row says running and completed seconds are already there.
    let deadline = Instant::now() + Duration::from_secs(10);
    let conn = Connection::open(&db).unwrap();
    loop {
        let live: i64 = conn
            .query_row(
                "SELECT count(*) FROM seconds JOIN runs ON runs.id = seconds.run_id WHERE runs.status = 'running'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if live >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no live second was written");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(child.wait().unwrap().success());

    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1);
    let mut stmt = conn
        .prepare(
            "SELECT runs.id, runs.status, runs.total_requests, count(seconds.second), sum(seconds.requests), runs.result_json
             FROM runs JOIN seconds ON seconds.run_id = runs.id GROUP BY runs.id ORDER BY runs.id",
        )
        .unwrap();
    let rows: Vec<(i64, String, i64, i64, i64, String)> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 2);
    for (id, status, total, seconds, summed, _) in &rows {
        assert_eq!(status, "finished", "run {id}");
        assert_eq!(total, summed, "run {id}: seconds add up to the total");
        assert!(*total > 100);
        let want = if *id == 1 { 2 } else { 4 };
        assert!(
            (want..=want + 1).contains(seconds),
            "run {id}: {seconds} seconds"
        );
    }
    // The stored JSON is the result the run wrote to -o.
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let stored: serde_json::Value = serde_json::from_str(&rows[1].5).unwrap();
    assert_eq!(stored, file);
    assert_eq!(
        file["summary"]["total_requests"].as_i64().unwrap(),
        rows[1].2
    );
}

#[test]
fn unusable_databases_fail_before_any_load() {
    let t = Target::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.db");
    Connection::open(&other)
        .unwrap()
        .pragma_update(None, "user_version", 7)
        .unwrap();
    for (db, want) in [
        (dir.path().join("missing/dir/x.db"), "db_url = "),
        (other, "schema version 7"),
    ] {
        let o = kaioken(&[
            "run",
            &t.url,
            "--no-tui",
            "-n",
            "10",
            "--db-url",
            db.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{err}");
    }
    assert_eq!(t.served(), 0, "no request may be sent");
}
