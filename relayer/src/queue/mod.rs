//! The durable report queue: every report the relayer acknowledges is in it, with its state.
//!
//! Behind a trait so an embedded SQLite store (the default, one relayer) and a shared
//! PostgreSQL store (several relayers, row locking) serve the same pipeline. Methods are
//! synchronous: SQLite is embedded, and the async callers run them on a blocking thread.
//! Every method that returns `Ok` has committed: a report is acknowledged only after that.

pub mod postgres;
pub mod sqlite;

use std::path::PathBuf;

use alloy_primitives::{Address, B256};
use market_protocol::ReportId;

pub use self::postgres::{PostgresOptions, PostgresQueue};
pub use sqlite::SqliteQueue;

/// Where a report is in its life. `Settled` and `Skipped` are final; `Rejected` is final
/// unless the provider resends the same report with better evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportState {
    /// Stored, signature checked, evidence not yet verified.
    Received,
    /// Evidence verified: waiting to be batched.
    Verified,
    /// Refused by the relayer; `code` is the stable API error code.
    Rejected { code: String, message: String },
    /// Sent in a settlement transaction, not yet confirmed.
    Submitted { tx_hash: B256 },
    /// The market settled it (ReportSettled) in that transaction and block.
    Settled { tx_hash: B256, block: u64 },
    /// The market skipped it (ReportSkipped) with that reason code.
    Skipped { tx_hash: B256, block: u64, reason: u8 },
}

impl ReportState {
    /// Stable name for the API and the database.
    pub fn name(&self) -> &'static str {
        match self {
            ReportState::Received => "received",
            ReportState::Verified => "verified",
            ReportState::Rejected { .. } => "rejected",
            ReportState::Submitted { .. } => "submitted",
            ReportState::Settled { .. } => "settled",
            ReportState::Skipped { .. } => "skipped",
        }
    }
}

/// A report as stored: the wire JSON it arrived in (so it can be re-verified and settled
/// after a restart) and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    pub id: ReportId,
    pub provider: Address,
    pub wire_json: Vec<u8>,
    pub state: ReportState,
    pub received_at: u64,
    pub updated_at: u64,
}

/// A report to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReport {
    pub id: ReportId,
    pub provider: Address,
    pub wire_json: Vec<u8>,
    pub now: u64,
}

/// What an insert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// New report, stored as `Received`.
    Inserted,
    /// A previously rejected report sent again: reset to `Received` for a new verification.
    Retried,
    /// Already there (not rejected): nothing changed. The caller reports a replay.
    AlreadyPresent(ReportState),
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("database: {0}")]
    Db(String),
    #[error("report {0} is not in the queue")]
    NotFound(ReportId),
    #[error("report {id} is {actual}, expected {expected}")]
    WrongState { id: ReportId, expected: &'static str, actual: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Shared queue: another relayer instance holds the report (it is batching it).
    #[error("report {id} is claimed by relayer instance {by:?}")]
    Claimed { id: ReportId, by: String },
    #[error("queue database {0:?}: expected postgres://…, postgresql://…, sqlite://path or a file path")]
    BadUrl(String),
}

/// Where the queue lives, from `queue.database` / `RELAYER_DATABASE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueLocation {
    /// `sqlite://path` or a bare file path: the embedded queue.
    Sqlite(PathBuf),
    /// `postgres://…` / `postgresql://…`: the shared queue.
    Postgres(String),
}

impl QueueLocation {
    pub fn parse(text: &str) -> Result<Self, QueueError> {
        let t = text.trim();
        if t.starts_with("postgres://") || t.starts_with("postgresql://") {
            return Ok(QueueLocation::Postgres(t.to_string()));
        }
        let path = t.strip_prefix("sqlite://").unwrap_or(t);
        // Any other scheme is a typo (mysql://, postgre://), not a file name.
        if path.is_empty() || path.contains("://") {
            return Err(QueueError::BadUrl(text.to_string()));
        }
        Ok(QueueLocation::Sqlite(PathBuf::from(path)))
    }

    /// The location with any password removed, for logs.
    pub fn redacted(&self) -> String {
        match self {
            QueueLocation::Sqlite(p) => format!("sqlite://{}", p.display()),
            QueueLocation::Postgres(url) => match (url.find("://"), url.rfind('@')) {
                (Some(s), Some(at)) if at > s => {
                    let user = url[s + 3..at].split(':').next().unwrap_or("");
                    format!("{}{}@{}", &url[..s + 3], user, &url[at + 1..])
                }
                _ => url.clone(),
            },
        }
    }
}

/// The durable queue. Implementations must be safe to call from several threads.
pub trait ReportQueue: Send + Sync {
    /// Stores a report as `Received` unless it is already present (idempotent by id).
    fn insert(&self, report: NewReport) -> Result<InsertOutcome, QueueError>;
    fn get(&self, id: &ReportId) -> Result<Option<StoredReport>, QueueError>;
    /// `Received` -> `Verified` or `Rejected`.
    fn finish_verification(&self, id: &ReportId, outcome: ReportState, now: u64) -> Result<(), QueueError>;
    /// Reports left `Received` (e.g. by a crash mid-verification), oldest first.
    fn pending_verification(&self, limit: usize) -> Result<Vec<StoredReport>, QueueError>;
    /// Up to `limit` `Verified` reports, oldest first, to put in the next batch.
    fn next_batch(&self, limit: usize) -> Result<Vec<StoredReport>, QueueError>;
    /// `Verified` -> `Submitted(tx)` for all `ids`, atomically.
    fn mark_submitted(&self, ids: &[ReportId], tx_hash: B256, now: u64) -> Result<(), QueueError>;
    /// `Submitted` -> `Settled` / `Skipped`, from the transaction's events.
    fn mark_outcome(&self, id: &ReportId, outcome: ReportState, now: u64) -> Result<(), QueueError>;
    /// A stuck transaction was replaced (same nonce, higher fees): its `Submitted` reports
    /// now belong to `new` (and `updated_at` restarts the replacement timer).
    fn replace_submitted(&self, old: B256, new: B256, now: u64) -> Result<usize, QueueError>;
    /// A transaction was dropped or reorged out: its reports go back to `Verified`.
    fn requeue_submitted(&self, tx_hash: B256, now: u64) -> Result<usize, QueueError>;
    /// Reports still `Submitted` in transaction `tx_hash`.
    fn submitted_in(&self, tx_hash: B256) -> Result<Vec<StoredReport>, QueueError>;
    /// Transactions with reports still `Submitted` (to watch after a restart).
    fn submitted_txs(&self) -> Result<Vec<B256>, QueueError>;
    /// Counts per state name, for metrics.
    fn counts(&self) -> Result<Vec<(String, u64)>, QueueError>;

    /// Content-addressed job specs: stores `body` under `hash` (idempotent).
    fn put_spec(&self, hash: B256, body: &[u8], now: u64) -> Result<bool, QueueError>;
    fn get_spec(&self, hash: &B256) -> Result<Option<Vec<u8>>, QueueError>;
}
