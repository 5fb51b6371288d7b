//! The embedded queue: one SQLite file in WAL mode with `synchronous = FULL`, so a committed
//! report survives a crash or power loss. One connection behind a mutex: the relayer's write
//! rate (a few hundred reports a second at most) is far below what that serialises.

use std::path::Path;
use std::sync::Mutex;

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

pub struct SqliteQueue {
    conn: Mutex<Connection>,
}

fn db(e: rusqlite::Error) -> QueueError {
    QueueError::Db(e.to_string())
}

impl SqliteQueue {
    /// Opens (or creates) the queue at `path`.
    pub fn open(path: &Path) -> Result<Self, QueueError> {
        let conn = Connection::open(path).map_err(db)?;
        Self::init(conn)
    }

    /// A throwaway in-memory queue (tests, benches).
    pub fn in_memory() -> Result<Self, QueueError> {
        Self::init(Connection::open_in_memory().map_err(db)?)
    }

    fn init(conn: Connection) -> Result<Self, QueueError> {
        // journal_mode returns a row, so it is read rather than executed.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(db)?;
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
        )
        .map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        Ok(SqliteQueue { conn: Mutex::new(conn) })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, QueueError> {
        self.conn.lock().map_err(|_| QueueError::Db("queue mutex poisoned by a panic".into()))
    }

    /// The SQLite journal mode actually in effect ("wal" for a file, "memory" in memory).
    pub fn journal_mode(&self) -> Result<String, QueueError> {
        self.lock()?.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(db)
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
        let mut conn = self.lock()?;
        let tx = conn.transaction().map_err(db)?;
        let existing: Option<String> = tx
            .query_row("SELECT state FROM reports WHERE id = ?1", [report.id.0.as_slice()], |r| r.get(0))
            .optional()
            .map_err(db)?;
        let outcome = match existing.as_deref() {
            None => {
                tx.execute(
                    "INSERT INTO reports (id, provider, wire_json, state, received_at, updated_at)
                     VALUES (?1, ?2, ?3, 'received', ?4, ?4)",
                    params![
                        report.id.0.as_slice(),
                        report.provider.as_slice(),
                        report.wire_json,
                        ts(report.now)
                    ],
                )
                .map_err(db)?;
                InsertOutcome::Inserted
            }
            Some("rejected") => {
                tx.execute(
                    "UPDATE reports SET wire_json = ?1, state = 'received', reason_code = NULL, reason = NULL,
                     updated_at = ?2 WHERE id = ?3",
                    params![report.wire_json, ts(report.now), report.id.0.as_slice()],
                )
                .map_err(db)?;
                InsertOutcome::Retried
            }
            Some(_) => {
                let mut stmt =
                    tx.prepare_cached(&format!("SELECT {COLUMNS} FROM reports WHERE id = ?1")).map_err(db)?;
                let raw = stmt.query_row([report.id.0.as_slice()], from_row).map_err(db)?;
                InsertOutcome::AlreadyPresent(raw.into_report()?.state)
            }
        };
        tx.commit().map_err(db)?;
        Ok(outcome)
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
        Self::transition(&*self.lock()?, id, "received", &outcome, now)
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
