//! `--db-url PATH`: the run logged into SQLite as it goes, one row per second, so a long run
//! can be queried while it runs and many runs can share one file.
//!
//! Schema `kaioken.sqlite/v1` (`PRAGMA user_version = 1`), documented in README.md:
//! `runs` (one row per run: metadata at start, summary and the full JSON result at the end)
//! and `seconds` (the per-second timeline, keyed by run, scenario and second). WAL mode, so
//! readers never block the writer. SQLite calls block, so they run on a thread of their own
//! that the live path feeds a few messages per second.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{Connection, params};
use tokio::sync::watch;

use crate::aggregate::Snapshot;
use crate::results::{Results, Second};

pub const USER_VERSION: i64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("db_url = {path}: {reason} (give a writable file path, e.g. --db-url runs.db)")]
    Open { path: String, reason: String },
    #[error(
        "db_url = {path}: holds schema version {found}, this kaioken writes version {USER_VERSION}; use another file"
    )]
    Version { path: String, found: i64 },
    #[error("db_url = {path}: {reason}")]
    Write { path: String, reason: String },
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id                 INTEGER PRIMARY KEY,
    started_at         TEXT NOT NULL,
    ended_at           TEXT,
    status             TEXT NOT NULL,
    tool_version       TEXT NOT NULL,
    method             TEXT NOT NULL,
    url                TEXT NOT NULL,
    model              TEXT NOT NULL,
    description        TEXT NOT NULL,
    latency_kind       TEXT NOT NULL,
    total_requests     INTEGER,
    successful         INTEGER,
    failed             INTEGER,
    error_rate         REAL,
    rps                REAL,
    duration_secs      REAL,
    dropped_iterations INTEGER,
    p50_us             INTEGER,
    p90_us             INTEGER,
    p95_us             INTEGER,
    p99_us             INTEGER,
    p999_us            INTEGER,
    max_us             INTEGER,
    mean_us            REAL,
    thresholds_passed  INTEGER,
    stopped_by         TEXT,
    result_json        TEXT
);
CREATE TABLE IF NOT EXISTS seconds (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    scenario    TEXT NOT NULL DEFAULT '',
    second      INTEGER NOT NULL,
    requests    INTEGER NOT NULL,
    errors      INTEGER NOT NULL,
    rps         REAL NOT NULL,
    p50_us      INTEGER NOT NULL,
    p90_us      INTEGER NOT NULL,
    p99_us      INTEGER NOT NULL,
    max_us      INTEGER NOT NULL,
    vus         INTEGER NOT NULL,
    dropped     INTEGER NOT NULL,
    target_rate REAL,
    PRIMARY KEY (run_id, scenario, second)
);
";

/// What the run is, written when it starts.
pub struct RunStart {
    pub started_at: String,
    pub method: String,
    pub url: String,
    pub model: String,
    pub description: String,
    pub latency_kind: String,
    pub target_rate: Option<f64>,
}

/// An open database with this run's row inserted.
pub struct Db {
    conn: Connection,
    path: String,
    run_id: i64,
    target_rate: Option<f64>,
    /// The next second not yet written.
    next_second: u64,
}

impl Db {
    /// Opens (or creates) the file and inserts the run, so a bad path fails before any load.
    pub fn open(path: &Path, start: &RunStart) -> Result<Db, DbError> {
        let shown = path.display().to_string();
        let open_err = |e: rusqlite::Error| DbError::Open {
            path: shown.clone(),
            reason: e.to_string(),
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        let found: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(open_err)?;
        if found != 0 && found != USER_VERSION {
            return Err(DbError::Version { path: shown, found });
        }
        conn.execute_batch(SCHEMA).map_err(open_err)?;
        conn.pragma_update(None, "user_version", USER_VERSION)
            .map_err(open_err)?;
        conn.execute(
            "INSERT INTO runs (started_at, status, tool_version, method, url, model, description, latency_kind)
             VALUES (?1, 'running', ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                start.started_at,
                env!("CARGO_PKG_VERSION"),
                start.method,
                start.url,
                start.model,
                start.description,
                start.latency_kind
            ],
        )
        .map_err(open_err)?;
        let run_id = conn.last_insert_rowid();
        Ok(Db {
            conn,
            path: shown,
            run_id,
            target_rate: start.target_rate,
            next_second: 0,
        })
    }

    fn write_err(&self, e: rusqlite::Error) -> DbError {
        DbError::Write {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    /// Writes the seconds not written yet, in one transaction.
    pub fn seconds(&mut self, seconds: &[Second]) -> Result<(), DbError> {
        let fresh: Vec<&Second> = seconds
            .iter()
            .filter(|s| s.second >= self.next_second)
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction().map_err(|e| DbError::Write {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO seconds
                     (run_id, scenario, second, requests, errors, rps, p50_us, p90_us, p99_us, max_us, vus, dropped, target_rate)
                     VALUES (?1, '', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .map_err(|e| DbError::Write {
                    path: self.path.clone(),
                    reason: e.to_string(),
                })?;
            for s in &fresh {
                insert
                    .execute(params![
                        self.run_id,
                        s.second as i64,
                        s.requests as i64,
                        s.errors as i64,
                        s.rps,
                        s.p50_us as i64,
                        s.p90_us as i64,
                        s.p99_us as i64,
                        s.max_us as i64,
                        s.vus as i64,
                        s.dropped as i64,
                        self.target_rate
                    ])
                    .map_err(|e| DbError::Write {
                        path: self.path.clone(),
                        reason: e.to_string(),
                    })?;
            }
        }
        tx.commit().map_err(|e| self.write_err(e))?;
        if let Some(last) = fresh.last() {
            self.next_second = last.second + 1;
        }
        Ok(())
    }

    /// The final result: every remaining second, the summary and the JSON itself.
    pub fn finish(mut self, r: &Results) -> Result<(), DbError> {
        self.seconds(&r.timeline)?;
        let s = &r.summary;
        let l = &r.latency_us;
        let thresholds_passed =
            (!r.thresholds.is_empty()).then(|| r.thresholds.iter().all(|t| t.passed) as i64);
        self.conn
            .execute(
                "UPDATE runs SET ended_at = ?2, status = 'finished', started_at = ?3,
                   total_requests = ?4, successful = ?5, failed = ?6, error_rate = ?7, rps = ?8,
                   duration_secs = ?9, dropped_iterations = ?10, p50_us = ?11, p90_us = ?12,
                   p95_us = ?13, p99_us = ?14, p999_us = ?15, max_us = ?16, mean_us = ?17,
                   thresholds_passed = ?18, stopped_by = ?19, result_json = ?20
                 WHERE id = ?1",
                params![
                    self.run_id,
                    r.metadata.ended_at,
                    r.metadata.started_at,
                    s.total_requests as i64,
                    s.successful as i64,
                    s.failed as i64,
                    s.error_rate,
                    s.requests_per_sec,
                    s.duration_secs,
                    s.dropped_iterations as i64,
                    l.p50 as i64,
                    l.p90 as i64,
                    l.p95 as i64,
                    l.p99 as i64,
                    l.p999 as i64,
                    l.max as i64,
                    l.mean,
                    thresholds_passed,
                    s.stopped_by,
                    r.to_json()
                ],
            )
            .map_err(|e| self.write_err(e))?;
        Ok(())
    }
}

enum Msg {
    Seconds(Vec<Second>),
    Finish(Box<Results>),
}

/// The database on its own thread. Live seconds are best-effort (a failure is reported
/// once at the end); the final write's error is returned by [`Writer::finish`].
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    thread: JoinHandle<Result<(), DbError>>,
}

impl Writer {
    pub fn start(db: Db) -> Writer {
        let (tx, rx) = mpsc::channel::<Msg>();
        let thread = std::thread::Builder::new()
            .name("kaioken-sqlite".into())
            .spawn(move || {
                let mut db = db;
                let mut live_error = None;
                while let Ok(msg) = rx.recv() {
                    match msg {
                        Msg::Seconds(s) => {
                            if let Err(e) = db.seconds(&s) {
                                live_error.get_or_insert(e);
                            }
                        }
                        Msg::Finish(r) => return db.finish(&r).and(live_error.map_or(Ok(()), Err)),
                    }
                }
                Ok(())
            })
            .expect("spawning the SQLite thread");
        Writer { tx, thread }
    }

    /// Forwards newly completed seconds from the live snapshots until the run is done.
    pub fn follow(
        &self,
        mut rx: watch::Receiver<Snapshot>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let tx = self.tx.clone();
        async move {
            let mut next = 0u64;
            while rx.changed().await.is_ok() {
                let fresh: Vec<Second> = rx
                    .borrow_and_update()
                    .recent
                    .iter()
                    .filter(|s| s.second >= next)
                    .cloned()
                    .collect();
                if let Some(last) = fresh.last() {
                    next = last.second + 1;
                    if tx.send(Msg::Seconds(fresh)).is_err() {
                        return;
                    }
                }
            }
        }
    }

    pub fn finish(self, r: &Results) -> Result<(), DbError> {
        // A send fails only if the thread ended early; join reports why.
        let _sent = self.tx.send(Msg::Finish(Box::new(r.clone())));
        drop(self.tx);
        self.thread.join().unwrap_or_else(|_| {
            Err(DbError::Write {
                path: String::new(),
                reason: "the SQLite writer thread panicked".into(),
            })
        })
    }
}
