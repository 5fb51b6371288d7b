//! The embedded queue: one SQLite file in WAL mode with `synchronous = FULL`, so a committed
//! report survives a crash or power loss.
//!
//! Writes on the intake path (`insert`, `finish_verification`) go through a group commit: one
//! writer thread owns the write connection, takes every request waiting for it (up to
//! [`MAX_GROUP`]), runs each in its own savepoint inside a single `BEGIN IMMEDIATE`
//! transaction, commits it (one fsync for the whole group) and only then answers each caller
//! with its own result. A request that fails (its savepoint rolled back) does not fail the
//! others; a failed commit fails them all. So `Ok` still means committed, at one fsync per
//! group instead of one per report. Reads and the settlement's writes use a second connection
//! behind a mutex (WAL: readers do not wait for the writer; `busy_timeout` orders the writers).

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use alloy_primitives::{Address, B256};
use market_protocol::ReportId;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{InsertOutcome, NewReport, QueueError, ReportQueue, ReportState, StoredReport};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS reports (
    id           BLOB PRIMARY KEY,
    provider     BLOB NOT NULL,
    wire_json    BLOB NOT NULL,
    state        TEXT NOT NULL,
    reason_code  TEXT,
    reason       TEXT,
    tx_hash      BLOB,
    block        INTEGER,
    skip_reason  INTEGER,
    received_at  INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_state ON reports (state, received_at);
CREATE INDEX IF NOT EXISTS reports_tx ON reports (tx_hash);
CREATE TABLE IF NOT EXISTS specs (
    hash        BLOB PRIMARY KEY,
    body        BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
";

/// The most writes committed in one transaction.
pub const MAX_GROUP: usize = 256;

/// A write for the group committer.
enum Op {
    Insert(NewReport),
    Finish { id: ReportId, outcome: ReportState, now: u64 },
}

enum Done {
    Insert(Result<InsertOutcome, QueueError>),
    Finish(Result<(), QueueError>),
}

impl Done {
    fn is_ok(&self) -> bool {
        matches!(self, Done::Insert(Ok(_)) | Done::Finish(Ok(())))
    }

    fn failed(op: &Op, e: QueueError) -> Done {
        match op {
            Op::Insert(_) => Done::Insert(Err(e)),
            Op::Finish { .. } => Done::Finish(Err(e)),
        }
    }
}

struct Job {
    op: Op,
    reply: mpsc::SyncSender<Done>,
}

pub struct SqliteQueue {
    /// Reads and the settlement's writes.
    conn: Arc<Mutex<Connection>>,
    /// To the writer thread; `None` only while dropping.
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
}

fn db(e: rusqlite::Error) -> QueueError {
    QueueError::Db(e.to_string())
}

fn writer_gone() -> QueueError {
    QueueError::Db("the queue's writer thread has stopped".into())
}

fn lock_conn(conn: &Mutex<Connection>) -> Result<std::sync::MutexGuard<'_, Connection>, QueueError> {
    conn.lock().map_err(|_| QueueError::Db("queue mutex poisoned by a panic".into()))
}

fn pragmas(conn: &Connection) -> Result<(), QueueError> {
    // journal_mode returns a row, so it is read rather than executed.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(db)?;
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
        .map_err(db)
}

impl SqliteQueue {
    /// Opens (or creates) the queue at `path`.
    pub fn open(path: &Path) -> Result<Self, QueueError> {
        let conn = Connection::open(path).map_err(db)?;
        pragmas(&conn)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        // The writer's own connection (same pragmas: `synchronous` is per connection).
        let write = Connection::open(path).map_err(db)?;
        pragmas(&write)?;
        Self::start(Arc::new(Mutex::new(conn)), Arc::new(Mutex::new(write)))
    }

    /// A throwaway in-memory queue (tests, benches). One connection (a second would be
    /// another database), shared by the writer thread and the readers.
    pub fn in_memory() -> Result<Self, QueueError> {
        let conn = Connection::open_in_memory().map_err(db)?;
        pragmas(&conn)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        let conn = Arc::new(Mutex::new(conn));
        Self::start(conn.clone(), conn)
    }

    fn start(conn: Arc<Mutex<Connection>>, write: Arc<Mutex<Connection>>) -> Result<Self, QueueError> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let writer = std::thread::Builder::new()
            .name("sqlite-queue-writer".into())
            .spawn(move || writer_loop(&write, &rx))
            .map_err(|e| QueueError::Db(format!("starting the queue writer thread: {e}")))?;
        Ok(SqliteQueue { conn, jobs: Some(jobs), writer: Some(writer) })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, QueueError> {
        lock_conn(&self.conn)
    }

    /// The SQLite journal mode actually in effect ("wal" for a file, "memory" in memory).
    pub fn journal_mode(&self) -> Result<String, QueueError> {
        self.lock()?.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(db)
    }

    /// Hands `op` to the writer and waits until its group is committed (or failed).
    fn write(&self, op: Op) -> Result<Done, QueueError> {
        let (reply, done) = mpsc::sync_channel(1);
        self.jobs.as_ref().ok_or_else(writer_gone)?.send(Job { op, reply }).map_err(|_| writer_gone())?;
        done.recv().map_err(|_| writer_gone())
    }
}

impl Drop for SqliteQueue {
    fn drop(&mut self) {
        // Closing the channel ends the writer once it has answered everything queued; joining
        // it closes the write connection before the queue is gone (a reopen then sees it all).
        self.jobs.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The writer thread: a group is whatever is waiting when the previous commit is done.
fn writer_loop(conn: &Mutex<Connection>, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let (ops, replies): (Vec<Op>, Vec<_>) = group.into_iter().map(|j| (j.op, j.reply)).unzip();
        let results = match lock_conn(conn) {
            Ok(mut c) => commit_group(&mut c, &ops),
            Err(e) => ops.iter().map(|op| Done::failed(op, QueueError::Db(e.to_string()))).collect(),
        };
        for (reply, done) in replies.into_iter().zip(results) {
            // A caller that has gone away (it cannot: it blocks on this) is no error.
            let _ = reply.send(done);
        }
    }
}

/// One transaction for `ops`, each in its own savepoint; every result is final only after the
/// commit, and a failed commit (or a failed savepoint command) fails every op.
fn commit_group(conn: &mut Connection, ops: &[Op]) -> Vec<Done> {
    let fail_all = |e: &rusqlite::Error| -> Vec<Done> {
        ops.iter().map(|op| Done::failed(op, QueueError::Db(e.to_string()))).collect()
    };
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        return fail_all(&e);
    }
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        if let Err(e) = conn.execute_batch("SAVEPOINT op") {
            let _ = conn.execute_batch("ROLLBACK");
            return fail_all(&e);
        }
        let done = match op {
            Op::Insert(report) => Done::Insert(insert_in(conn, report)),
            Op::Finish { id, outcome, now } => {
                Done::Finish(SqliteQueue::transition(conn, id, "received", outcome, *now))
            }
        };
        let end = if done.is_ok() { "RELEASE op" } else { "ROLLBACK TO op; RELEASE op" };
        if let Err(e) = conn.execute_batch(end) {
            let _ = conn.execute_batch("ROLLBACK");
            return fail_all(&e);
        }
        results.push(done);
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        // Nothing of the group is durable: every caller gets the error (its own, if it had one).
        let _ = conn.execute_batch("ROLLBACK");
        return results
            .into_iter()
            .zip(ops)
            .map(
                |(done, op)| {
                    if done.is_ok() {
                        Done::failed(op, QueueError::Db(e.to_string()))
                    } else {
                        done
                    }
                },
            )
            .collect();
    }
    results
}

/// An insert inside the group's transaction: check, then insert, retry or report.
fn insert_in(conn: &Connection, report: &NewReport) -> Result<InsertOutcome, QueueError> {
    let existing: Option<String> = conn
        .prepare_cached("SELECT state FROM reports WHERE id = ?1")
        .map_err(db)?
        .query_row([report.id.0.as_slice()], |r| r.get(0))
        .optional()
        .map_err(db)?;
    match existing.as_deref() {
        None => {
            conn.prepare_cached(
                "INSERT INTO reports (id, provider, wire_json, state, received_at, updated_at)
                 VALUES (?1, ?2, ?3, 'received', ?4, ?4)",
            )
            .map_err(db)?
            .execute(params![
                report.id.0.as_slice(),
                report.provider.as_slice(),
                report.wire_json,
                ts(report.now)
            ])
            .map_err(db)?;
            Ok(InsertOutcome::Inserted)
        }
        Some("rejected") => {
            conn.execute(
                "UPDATE reports SET wire_json = ?1, state = 'received', reason_code = NULL, reason = NULL,
                 updated_at = ?2 WHERE id = ?3",
                params![report.wire_json, ts(report.now), report.id.0.as_slice()],
            )
            .map_err(db)?;
            Ok(InsertOutcome::Retried)
        }
        Some(_) => {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT {COLUMNS} FROM reports WHERE id = ?1")).map_err(db)?;
            let raw = stmt.query_row([report.id.0.as_slice()], from_row).map_err(db)?;
            Ok(InsertOutcome::AlreadyPresent(raw.into_report()?.state))
        }
    }
}

const COLUMNS: &str =
    "id, provider, wire_json, state, reason_code, reason, tx_hash, block, skip_reason, received_at, updated_at";

fn b256(bytes: Vec<u8>, what: &str) -> Result<B256, QueueError> {
    B256::try_from(bytes.as_slice())
        .map_err(|_| QueueError::Corrupt(format!("{what} is {} bytes", bytes.len())))
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        id: row.get(0)?,
        provider: row.get(1)?,
        wire_json: row.get(2)?,
        state: row.get(3)?,
        reason_code: row.get(4)?,
        reason: row.get(5)?,
        tx_hash: row.get(6)?,
        block: row.get(7)?,
        skip_reason: row.get(8)?,
        received_at: row.get(9)?,
        updated_at: row.get(10)?,
    })
}

struct RawRow {
    id: Vec<u8>,
    provider: Vec<u8>,
    wire_json: Vec<u8>,
    state: String,
    reason_code: Option<String>,
    reason: Option<String>,
    tx_hash: Option<Vec<u8>>,
    block: Option<i64>,
    skip_reason: Option<i64>,
    received_at: i64,
    updated_at: i64,
}

impl RawRow {
    fn into_report(self) -> Result<StoredReport, QueueError> {
        let tx = |t: Option<Vec<u8>>| -> Result<B256, QueueError> {
            b256(t.ok_or_else(|| QueueError::Corrupt("tx_hash missing".into()))?, "tx_hash")
        };
        let block = |b: Option<i64>| -> Result<u64, QueueError> {
            b.and_then(|b| u64::try_from(b).ok()).ok_or_else(|| QueueError::Corrupt("block missing".into()))
        };
        let state = match self.state.as_str() {
            "received" => ReportState::Received,
            "verified" => ReportState::Verified,
            "rejected" => ReportState::Rejected {
                code: self.reason_code.unwrap_or_default(),
                message: self.reason.unwrap_or_default(),
            },
            "submitted" => ReportState::Submitted { tx_hash: tx(self.tx_hash)? },
            "settled" => ReportState::Settled { tx_hash: tx(self.tx_hash)?, block: block(self.block)? },
            "skipped" => ReportState::Skipped {
                tx_hash: tx(self.tx_hash)?,
                block: block(self.block)?,
                reason: self
                    .skip_reason
                    .and_then(|r| u8::try_from(r).ok())
                    .ok_or_else(|| QueueError::Corrupt("skip_reason missing".into()))?,
            },
            other => return Err(QueueError::Corrupt(format!("unknown state {other:?}"))),
        };
        Ok(StoredReport {
            id: ReportId(b256(self.id, "id")?),
            provider: Address::try_from(self.provider.as_slice())
                .map_err(|_| QueueError::Corrupt("provider is not 20 bytes".into()))?,
            wire_json: self.wire_json,
            state,
            received_at: self.received_at as u64,
            updated_at: self.updated_at as u64,
        })
    }
}

fn ts(now: u64) -> i64 {
    i64::try_from(now).unwrap_or(i64::MAX)
}

/// Columns that carry a state's data, in `state, reason_code, reason, tx_hash, block,
/// skip_reason` order.
type StateCols = (&'static str, Option<String>, Option<String>, Option<Vec<u8>>, Option<i64>, Option<i64>);

fn state_cols(state: &ReportState) -> StateCols {
    let name = state.name();
    match state {
        ReportState::Received | ReportState::Verified => (name, None, None, None, None, None),
        ReportState::Rejected { code, message } => {
            (name, Some(code.clone()), Some(message.clone()), None, None, None)
        }
        ReportState::Submitted { tx_hash } => (name, None, None, Some(tx_hash.to_vec()), None, None),
        ReportState::Settled { tx_hash, block } => {
            (name, None, None, Some(tx_hash.to_vec()), Some(ts(*block)), None)
        }
        ReportState::Skipped { tx_hash, block, reason } => {
            (name, None, None, Some(tx_hash.to_vec()), Some(ts(*block)), Some(i64::from(*reason)))
        }
    }
}

impl SqliteQueue {
    /// Moves `id` from state `from` to `to` in one statement; errors name the actual state.
    fn transition(
        conn: &Connection,
        id: &ReportId,
        from: &'static str,
        to: &ReportState,
        now: u64,
    ) -> Result<(), QueueError> {
        let (state, code, reason, tx, block, skip) = state_cols(to);
        let n = conn
            .execute(
                "UPDATE reports SET state = ?1, reason_code = ?2, reason = ?3, tx_hash = ?4, block = ?5,
                 skip_reason = ?6, updated_at = ?7 WHERE id = ?8 AND state = ?9",
                params![state, code, reason, tx, block, skip, ts(now), id.0.as_slice(), from],
            )
            .map_err(db)?;
        if n == 1 {
            return Ok(());
        }
        let actual: Option<String> = conn
            .query_row("SELECT state FROM reports WHERE id = ?1", [id.0.as_slice()], |r| r.get(0))
            .optional()
            .map_err(db)?;
        match actual {
            None => Err(QueueError::NotFound(*id)),
            Some(actual) => Err(QueueError::WrongState { id: *id, expected: from, actual }),
        }
    }

    fn select(
        &self,
        where_clause: &str,
        p: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<StoredReport>, QueueError> {
        let conn = self.lock()?;
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM reports {where_clause}")).map_err(db)?;
        let rows = stmt.query_map(p, from_row).map_err(db)?;
        rows.map(|r| r.map_err(db)?.into_report()).collect()
    }
}

impl ReportQueue for SqliteQueue {
    fn insert(&self, report: NewReport) -> Result<InsertOutcome, QueueError> {
        match self.write(Op::Insert(report))? {
            Done::Insert(r) => r,
            Done::Finish(_) => Err(QueueError::Db("queue writer answered the wrong request".into())),
        }
    }

    fn get(&self, id: &ReportId) -> Result<Option<StoredReport>, QueueError> {
        Ok(self.select("WHERE id = ?1", &[&id.0.as_slice()])?.into_iter().next())
    }

    fn finish_verification(&self, id: &ReportId, outcome: ReportState, now: u64) -> Result<(), QueueError> {
        if !matches!(outcome, ReportState::Verified | ReportState::Rejected { .. }) {
            return Err(QueueError::WrongState {
                id: *id,
                expected: "verified or rejected",
                actual: outcome.name().into(),
            });
        }
        match self.write(Op::Finish { id: *id, outcome, now })? {
            Done::Finish(r) => r,
            Done::Insert(_) => Err(QueueError::Db("queue writer answered the wrong request".into())),
        }
    }

    fn pending_verification(&self, limit: usize) -> Result<Vec<StoredReport>, QueueError> {
        self.select("WHERE state = 'received' ORDER BY received_at, id LIMIT ?1", &[&(limit as i64)])
    }

    fn next_batch(&self, limit: usize) -> Result<Vec<StoredReport>, QueueError> {
        self.select("WHERE state = 'verified' ORDER BY received_at, id LIMIT ?1", &[&(limit as i64)])
    }

    fn mark_submitted(&self, ids: &[ReportId], tx_hash: B256, now: u64) -> Result<(), QueueError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction().map_err(db)?;
        for id in ids {
            Self::transition(&tx, id, "verified", &ReportState::Submitted { tx_hash }, now)?;
        }
        tx.commit().map_err(db)
    }

    fn mark_outcome(&self, id: &ReportId, outcome: ReportState, now: u64) -> Result<(), QueueError> {
        if !matches!(outcome, ReportState::Settled { .. } | ReportState::Skipped { .. }) {
            return Err(QueueError::WrongState {
                id: *id,
                expected: "settled or skipped",
                actual: outcome.name().into(),
            });
        }
        Self::transition(&*self.lock()?, id, "submitted", &outcome, now)
    }

    fn replace_submitted(&self, old: B256, new: B256, now: u64) -> Result<usize, QueueError> {
        self.lock()?
            .execute(
                "UPDATE reports SET tx_hash = ?1, updated_at = ?2 WHERE state = 'submitted' AND tx_hash = ?3",
                params![new.as_slice(), ts(now), old.as_slice()],
            )
            .map_err(db)
    }

    fn requeue_submitted(&self, tx_hash: B256, now: u64) -> Result<usize, QueueError> {
        self.lock()?
            .execute(
                "UPDATE reports SET state = 'verified', tx_hash = NULL, updated_at = ?1
                 WHERE state = 'submitted' AND tx_hash = ?2",
                params![ts(now), tx_hash.as_slice()],
            )
            .map_err(db)
    }

    fn submitted_in(&self, tx_hash: B256) -> Result<Vec<StoredReport>, QueueError> {
        self.select(
            "WHERE state = 'submitted' AND tx_hash = ?1 ORDER BY received_at, id",
            &[&tx_hash.as_slice()],
        )
    }

    fn submitted_txs(&self) -> Result<Vec<B256>, QueueError> {
        let conn = self.lock()?;
        let mut stmt = conn
            .prepare_cached("SELECT DISTINCT tx_hash FROM reports WHERE state = 'submitted' ORDER BY tx_hash")
            .map_err(db)?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0)).map_err(db)?;
        rows.map(|r| b256(r.map_err(db)?, "tx_hash")).collect()
    }

    fn counts(&self) -> Result<Vec<(String, u64)>, QueueError> {
        let conn = self.lock()?;
        let mut stmt = conn
            .prepare_cached("SELECT state, COUNT(*) FROM reports GROUP BY state ORDER BY state")
            .map_err(db)?;
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))).map_err(db)?;
        rows.map(|r| r.map_err(db)).collect()
    }

    fn put_spec(&self, hash: B256, body: &[u8], now: u64) -> Result<bool, QueueError> {
        let n = self
            .lock()?
            .execute(
                "INSERT OR IGNORE INTO specs (hash, body, created_at) VALUES (?1, ?2, ?3)",
                params![hash.as_slice(), body, ts(now)],
            )
            .map_err(db)?;
        Ok(n == 1)
    }

    fn get_spec(&self, hash: &B256) -> Result<Option<Vec<u8>>, QueueError> {
        self.lock()?
            .query_row("SELECT body FROM specs WHERE hash = ?1", [hash.as_slice()], |r| r.get(0))
            .optional()
            .map_err(db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(n: u8) -> NewReport {
        NewReport {
            id: ReportId(B256::repeat_byte(n)),
            provider: Address::repeat_byte(0xAA),
            wire_json: vec![n],
            now: 100,
        }
    }

    fn fresh() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        pragmas(&conn).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn
    }

    fn state(conn: &Connection, n: u8) -> Option<String> {
        conn.query_row("SELECT state FROM reports WHERE id = ?1", [B256::repeat_byte(n).as_slice()], |r| {
            r.get(0)
        })
        .optional()
        .unwrap()
    }

    /// One group, deterministic: a duplicate and two failing verifications in the middle get
    /// their own answers; everything else in the group is committed.
    #[test]
    fn a_failing_write_in_a_group_fails_only_itself() {
        let mut conn = fresh();
        let ops = vec![
            Op::Insert(report(1)),
            Op::Insert(report(2)),
            Op::Insert(report(1)), // duplicate inside the group: replay
            Op::Finish { id: ReportId(B256::repeat_byte(9)), outcome: ReportState::Verified, now: 101 },
            Op::Finish { id: ReportId(B256::repeat_byte(2)), outcome: ReportState::Verified, now: 101 },
            Op::Finish { id: ReportId(B256::repeat_byte(2)), outcome: ReportState::Verified, now: 102 },
            Op::Insert(report(3)),
        ];
        let done = commit_group(&mut conn, &ops);
        assert_eq!(done.len(), ops.len());
        assert!(matches!(done[0], Done::Insert(Ok(InsertOutcome::Inserted))));
        assert!(matches!(done[1], Done::Insert(Ok(InsertOutcome::Inserted))));
        assert!(matches!(done[2], Done::Insert(Ok(InsertOutcome::AlreadyPresent(ReportState::Received)))));
        assert!(matches!(done[3], Done::Finish(Err(QueueError::NotFound(_)))));
        assert!(matches!(done[4], Done::Finish(Ok(()))));
        assert!(matches!(done[5], Done::Finish(Err(QueueError::WrongState { .. }))));
        assert!(matches!(done[6], Done::Insert(Ok(InsertOutcome::Inserted))));
        // Committed: no transaction left open, the rows are there.
        assert!(conn.is_autocommit());
        assert_eq!(state(&conn, 1).as_deref(), Some("received"));
        assert_eq!(state(&conn, 2).as_deref(), Some("verified"));
        assert_eq!(state(&conn, 3).as_deref(), Some("received"));
        assert_eq!(state(&conn, 9), None);
        let first: Vec<u8> = conn
            .query_row(
                "SELECT wire_json FROM reports WHERE id = ?1",
                [B256::repeat_byte(1).as_slice()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(first, vec![1]);
    }

    /// A failed commit (here: the transaction cannot begin, one is already open) answers every
    /// write with an error and commits none of them.
    #[test]
    fn a_group_that_cannot_commit_fails_every_write() {
        let mut conn = fresh();
        conn.execute_batch("BEGIN").unwrap();
        let ops = vec![Op::Insert(report(1)), Op::Insert(report(2))];
        let done = commit_group(&mut conn, &ops);
        assert!(done.iter().all(|d| matches!(d, Done::Insert(Err(QueueError::Db(_))))));
        conn.execute_batch("ROLLBACK").unwrap();
        assert_eq!(state(&conn, 1), None);
    }
}
