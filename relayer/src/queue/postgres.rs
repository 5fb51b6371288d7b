//! The shared queue: one PostgreSQL database for several relayer instances.
//!
//! Instances share the work through *claims*: `next_batch` picks `verified` rows with
//! `SELECT … FOR UPDATE SKIP LOCKED` (rows another instance is claiming at that very moment
//! are skipped, not waited for) and stamps them `claimed_by = <this instance>` with a lease.
//! Rows claimed by another live instance are invisible to `next_batch` and refused by
//! `mark_submitted`, so two instances never put the same report in a transaction. A lease
//! runs out only if its instance stops renewing it (crash): `submitted_txs`, called every
//! settlement pass, renews this instance's leases and adopts the `submitted` rows of an
//! instance whose lease ran out, so an orphaned transaction is still watched to its end.
//! Lease times are the database's clock, so instances' clocks need not agree.
//!
//! The `postgres` client runs its own small tokio runtime and must not be driven from inside
//! another runtime's thread (it panics there), while the relayer calls the queue from async
//! code. So each connection lives on its own plain thread, and a call hands it a closure and
//! waits for the answer: blocking, like the SQLite queue's mutex, which is what the trait
//! promises. A connection that dropped is re-opened on the next call.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

use ::postgres::{Client, GenericClient, NoTls, Row};
use alloy_primitives::{Address, B256};
use market_protocol::ReportId;

use super::{InsertOutcome, NewReport, QueueError, ReportQueue, ReportState, StoredReport};

/// Creating the schema is serialised by this advisory lock, because two instances starting
/// together would otherwise race in `CREATE TABLE IF NOT EXISTS` (a unique violation in
/// the catalog). The number is arbitrary but fixed ("RELAYER1" in ASCII).
const SCHEMA_LOCK: i64 = 0x52454c4159455231;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS relayer_reports (
    id            BYTEA PRIMARY KEY,
    provider      BYTEA NOT NULL,
    wire_json     BYTEA NOT NULL,
    state         TEXT NOT NULL,
    reason_code   TEXT,
    reason        TEXT,
    tx_hash       BYTEA,
    block         BIGINT,
    skip_reason   INTEGER,
    received_at   BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    claimed_by    TEXT,
    claimed_until TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS relayer_reports_state ON relayer_reports (state, received_at, id);
CREATE INDEX IF NOT EXISTS relayer_reports_tx ON relayer_reports (tx_hash);
CREATE TABLE IF NOT EXISTS relayer_specs (
    hash        BYTEA PRIMARY KEY,
    body        BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);
";

const COLUMNS: &str =
    "id, provider, wire_json, state, reason_code, reason, tx_hash, block, skip_reason, received_at, updated_at";

/// The same columns qualified by the table alias `r` (for `UPDATE … FROM … RETURNING`).
const R_COLUMNS: &str =
    "r.id, r.provider, r.wire_json, r.state, r.reason_code, r.reason, r.tx_hash, r.block, \
     r.skip_reason, r.received_at, r.updated_at";

/// A row is free for this instance ($1) if nobody holds it, it holds it, or the holder's
/// lease ran out.
const FREE_FOR_ME: &str = "(claimed_by IS NULL OR claimed_by = $1 OR claimed_until < clock_timestamp())";

/// How to reach the database and who this instance is.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// `postgres://user@host:port/db` or a key-value string (`host=/run/pg port=5432 …`).
    pub url: String,
    /// This instance's name in claims. Stable across restarts, a restarted instance resumes
    /// its own claims at once instead of waiting for their leases to run out.
    pub instance: String,
    /// Lease of a claim, in seconds; renewed on every settlement pass.
    pub claim_secs: u64,
    /// Connections (each on its own thread) this instance opens.
    pub connections: usize,
}

impl PostgresOptions {
    pub fn new(url: impl Into<String>, instance: impl Into<String>) -> Self {
        PostgresOptions { url: url.into(), instance: instance.into(), claim_secs: 60, connections: 4 }
    }
}

type Job = Box<dyn FnOnce(Result<&mut Client, QueueError>) + Send>;

pub struct PostgresQueue {
    jobs: Sender<Job>,
    instance: Arc<str>,
    claim_secs: f64,
}

fn db(e: ::postgres::Error) -> QueueError {
    QueueError::Db(e.to_string())
}

fn connect(url: &str) -> Result<Client, QueueError> {
    Client::connect(url, NoTls).map_err(|e| QueueError::Db(format!("connecting to PostgreSQL: {e}")))
}

/// A connection's thread: runs jobs one at a time, reconnecting when the connection closed.
fn worker(url: String, jobs: Arc<Mutex<Receiver<Job>>>, mut client: Option<Client>) {
    loop {
        // The lock is held only while waiting for the next job, not while running it.
        let job = match jobs.lock() {
            Ok(rx) => match rx.recv() {
                Ok(job) => job,
                Err(_) => return, // the queue was dropped
            },
            Err(_) => return,
        };
        if client.as_ref().is_none_or(|c| c.is_closed()) {
            client = None;
            match connect(&url) {
                Ok(c) => client = Some(c),
                Err(e) => {
                    job(Err(e));
                    continue;
                }
            }
        }
        job(Ok(client.as_mut().expect("connected above")));
    }
}

impl PostgresQueue {
    /// Connects, creates the tables if needed and starts the connection threads. Fails (not
    /// later, at the first report) if the database cannot be reached.
    pub fn connect(options: PostgresOptions) -> Result<Self, QueueError> {
        if options.instance.is_empty() {
            return Err(QueueError::Db("instance name must not be empty".into()));
        }
        // On a plain thread: the client panics when driven from a tokio worker, and the
        // binary connects from inside its runtime.
        let url = options.url.clone();
        let first = thread::spawn(move || -> Result<Client, QueueError> {
            let mut first = connect(&url)?;
            let mut tx = first.transaction().map_err(db)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).map_err(db)?;
            tx.batch_execute(SCHEMA).map_err(db)?;
            tx.commit().map_err(db)?;
            Ok(first)
        })
        .join()
        .map_err(|_| QueueError::Db("the connecting thread panicked".into()))??;

        let (send, recv) = mpsc::channel::<Job>();
        let recv = Arc::new(Mutex::new(recv));
        let mut first = Some(first);
        for i in 0..options.connections.max(1) {
            let (url, recv, client) = (options.url.clone(), recv.clone(), first.take());
            thread::Builder::new()
                .name(format!("relayer-pg-{i}"))
                .spawn(move || worker(url, recv, client))
                .map_err(|e| QueueError::Db(format!("starting a connection thread: {e}")))?;
        }
        Ok(PostgresQueue {
            jobs: send,
            instance: options.instance.into(),
            claim_secs: options.claim_secs as f64,
        })
    }

    /// This instance's name in claims.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Runs `f` on one of the connections and waits for its result.
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |client| {
            let _ = tx.send(client.and_then(f));
        });
        self.jobs.send(job).map_err(|_| QueueError::Db("PostgreSQL connection threads stopped".into()))?;
        rx.recv().map_err(|_| QueueError::Db("PostgreSQL connection thread died".into()))?
    }

    /// Removes this instance's claims on `verified` rows (e.g. on shutdown), so other
    /// instances need not wait for the lease.
    pub fn release_claims(&self) -> Result<u64, QueueError> {
        let me = self.instance.clone();
        self.run(move |c| {
            c.execute(
                "UPDATE relayer_reports SET claimed_by = NULL, claimed_until = NULL
                 WHERE claimed_by = $1 AND state = 'verified'",
                &[&&*me],
            )
            .map_err(db)
        })
    }
}

fn b256(bytes: &[u8], what: &str) -> Result<B256, QueueError> {
    B256::try_from(bytes).map_err(|_| QueueError::Corrupt(format!("{what} is {} bytes", bytes.len())))
}

fn ts(now: u64) -> i64 {
    i64::try_from(now).unwrap_or(i64::MAX)
}

fn into_report(row: &Row) -> Result<StoredReport, QueueError> {
    let get = |e: ::postgres::Error| QueueError::Corrupt(e.to_string());
    let tx_hash: Option<Vec<u8>> = row.try_get(6).map_err(get)?;
    let block: Option<i64> = row.try_get(7).map_err(get)?;
    let skip: Option<i32> = row.try_get(8).map_err(get)?;
    let tx = || -> Result<B256, QueueError> {
        b256(tx_hash.as_deref().ok_or_else(|| QueueError::Corrupt("tx_hash missing".into()))?, "tx_hash")
    };
    let block = || -> Result<u64, QueueError> {
        block.and_then(|b| u64::try_from(b).ok()).ok_or_else(|| QueueError::Corrupt("block missing".into()))
    };
    let state_name: String = row.try_get(3).map_err(get)?;
    let state = match state_name.as_str() {
        "received" => ReportState::Received,
        "verified" => ReportState::Verified,
        "rejected" => ReportState::Rejected {
            code: row.try_get::<_, Option<String>>(4).map_err(get)?.unwrap_or_default(),
            message: row.try_get::<_, Option<String>>(5).map_err(get)?.unwrap_or_default(),
        },
        "submitted" => ReportState::Submitted { tx_hash: tx()? },
        "settled" => ReportState::Settled { tx_hash: tx()?, block: block()? },
        "skipped" => ReportState::Skipped {
            tx_hash: tx()?,
            block: block()?,
            reason: skip
                .and_then(|r| u8::try_from(r).ok())
                .ok_or_else(|| QueueError::Corrupt("skip_reason missing".into()))?,
        },
        other => return Err(QueueError::Corrupt(format!("unknown state {other:?}"))),
    };
    let id: Vec<u8> = row.try_get(0).map_err(get)?;
    let provider: Vec<u8> = row.try_get(1).map_err(get)?;
    let received_at: i64 = row.try_get(9).map_err(get)?;
    let updated_at: i64 = row.try_get(10).map_err(get)?;
    Ok(StoredReport {
        id: ReportId(b256(&id, "id")?),
        provider: Address::try_from(provider.as_slice())
            .map_err(|_| QueueError::Corrupt("provider is not 20 bytes".into()))?,
        wire_json: row.try_get(2).map_err(get)?,
        state,
        received_at: received_at as u64,
        updated_at: updated_at as u64,
    })
}

fn into_reports(rows: &[Row]) -> Result<Vec<StoredReport>, QueueError> {
    rows.iter().map(into_report).collect()
}

/// Columns that carry a state's data: `state, reason_code, reason, tx_hash, block,
/// skip_reason`.
type StateCols = (&'static str, Option<String>, Option<String>, Option<Vec<u8>>, Option<i64>, Option<i32>);

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
            (name, None, None, Some(tx_hash.to_vec()), Some(ts(*block)), Some(i32::from(*reason)))
        }
    }
}

/// Moves `id` from `from` to `to` (clearing any claim); errors name the actual state.
fn transition(
    c: &mut impl GenericClient,
    id: &ReportId,
    from: &'static str,
    to: &ReportState,
    now: u64,
) -> Result<(), QueueError> {
    let (state, code, reason, tx, block, skip) = state_cols(to);
    let n = c
        .execute(
            "UPDATE relayer_reports SET state = $1, reason_code = $2, reason = $3, tx_hash = $4, block = $5,
             skip_reason = $6, updated_at = $7, claimed_by = NULL, claimed_until = NULL
             WHERE id = $8 AND state = $9",
            &[&state, &code, &reason, &tx, &block, &skip, &ts(now), &id.0.as_slice(), &from],
        )
        .map_err(db)?;
    if n == 1 {
        return Ok(());
    }
    wrong_state(c, id, from)
}

fn wrong_state<T>(
    c: &mut impl GenericClient,
    id: &ReportId,
    expected: &'static str,
) -> Result<T, QueueError> {
    let row = c
        .query_opt("SELECT state, claimed_by FROM relayer_reports WHERE id = $1", &[&id.0.as_slice()])
        .map_err(db)?;
    match row {
        None => Err(QueueError::NotFound(*id)),
        Some(row) => {
            let actual: String = row.get(0);
            let by: Option<String> = row.get(1);
            match by {
                Some(by) if actual == expected => Err(QueueError::Claimed { id: *id, by }),
                _ => Err(QueueError::WrongState { id: *id, expected, actual }),
            }
        }
    }
}

impl ReportQueue for PostgresQueue {
    fn insert(&self, report: NewReport) -> Result<InsertOutcome, QueueError> {
        self.run(move |c| {
            let mut tx = c.transaction().map_err(db)?;
            // ON CONFLICT makes a concurrent insert of the same id (another instance) wait
            // for the first to commit and then do nothing, instead of failing.
            let n = tx
                .execute(
                    "INSERT INTO relayer_reports (id, provider, wire_json, state, received_at, updated_at)
                     VALUES ($1, $2, $3, 'received', $4, $4) ON CONFLICT (id) DO NOTHING",
                    &[
                        &report.id.0.as_slice(),
                        &report.provider.as_slice(),
                        &report.wire_json,
                        &ts(report.now),
                    ],
                )
                .map_err(db)?;
            let outcome = if n == 1 {
                InsertOutcome::Inserted
            } else {
                let row = tx
                    .query_one(
                        &format!("SELECT {COLUMNS} FROM relayer_reports WHERE id = $1 FOR UPDATE"),
                        &[&report.id.0.as_slice()],
                    )
                    .map_err(db)?;
                let existing = into_report(&row)?;
                if matches!(existing.state, ReportState::Rejected { .. }) {
                    tx.execute(
                        "UPDATE relayer_reports SET wire_json = $1, state = 'received', reason_code = NULL,
                         reason = NULL, updated_at = $2 WHERE id = $3",
                        &[&report.wire_json, &ts(report.now), &report.id.0.as_slice()],
                    )
                    .map_err(db)?;
                    InsertOutcome::Retried
                } else {
                    InsertOutcome::AlreadyPresent(existing.state)
                }
            };
            tx.commit().map_err(db)?;
            Ok(outcome)
        })
    }

    fn get(&self, id: &ReportId) -> Result<Option<StoredReport>, QueueError> {
        let id = *id;
        self.run(move |c| {
            let row = c
                .query_opt(
                    &format!("SELECT {COLUMNS} FROM relayer_reports WHERE id = $1"),
                    &[&id.0.as_slice()],
                )
                .map_err(db)?;
            row.as_ref().map(into_report).transpose()
        })
    }

    fn finish_verification(&self, id: &ReportId, outcome: ReportState, now: u64) -> Result<(), QueueError> {
        if !matches!(outcome, ReportState::Verified | ReportState::Rejected { .. }) {
            return Err(QueueError::WrongState {
                id: *id,
                expected: "verified or rejected",
                actual: outcome.name().into(),
            });
        }
        let id = *id;
        self.run(move |c| transition(c, &id, "received", &outcome, now))
    }

    fn pending_verification(&self, limit: usize) -> Result<Vec<StoredReport>, QueueError> {
        let limit = limit as i64;
        self.run(move |c| {
            let rows = c
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM relayer_reports WHERE state = 'received'
                         ORDER BY received_at, id LIMIT $1"
                    ),
                    &[&limit],
                )
                .map_err(db)?;
            into_reports(&rows)
        })
    }

    /// Claims (or re-claims) up to `limit` `verified` rows for this instance, oldest first.
    fn next_batch(&self, limit: usize) -> Result<Vec<StoredReport>, QueueError> {
        let (me, lease, limit) = (self.instance.clone(), self.claim_secs, limit as i64);
        self.run(move |c| {
            let rows = c
                .query(
                    &format!(
                        "WITH picked AS (
                             SELECT id FROM relayer_reports
                             WHERE state = 'verified' AND {FREE_FOR_ME}
                             ORDER BY received_at, id LIMIT $2
                             FOR UPDATE SKIP LOCKED)
                         UPDATE relayer_reports r
                         SET claimed_by = $1, claimed_until = clock_timestamp() + make_interval(secs => $3)
                         FROM picked WHERE r.id = picked.id
                         RETURNING {R_COLUMNS}"
                    ),
                    &[&&*me, &limit, &lease],
                )
                .map_err(db)?;
            let mut batch = into_reports(&rows)?;
            // RETURNING has no order.
            batch.sort_by_key(|a| (a.received_at, a.id.0));
            Ok(batch)
        })
    }

    fn mark_submitted(&self, ids: &[ReportId], tx_hash: B256, now: u64) -> Result<(), QueueError> {
        let (me, lease, ids) = (self.instance.clone(), self.claim_secs, ids.to_vec());
        self.run(move |c| {
            let mut tx = c.transaction().map_err(db)?;
            for id in &ids {
                let n = tx
                    .execute(
                        &format!(
                            "UPDATE relayer_reports SET state = 'submitted', tx_hash = $2, updated_at = $3,
                             claimed_by = $1, claimed_until = clock_timestamp() + make_interval(secs => $4)
                             WHERE id = $5 AND state = 'verified' AND {FREE_FOR_ME}"
                        ),
                        &[&&*me, &tx_hash.as_slice(), &ts(now), &lease, &id.0.as_slice()],
                    )
                    .map_err(db)?;
                if n != 1 {
                    // Dropping `tx` rolls the whole batch back.
                    return wrong_state(&mut tx, id, "verified");
                }
            }
            tx.commit().map_err(db)
        })
    }

    fn mark_outcome(&self, id: &ReportId, outcome: ReportState, now: u64) -> Result<(), QueueError> {
        if !matches!(outcome, ReportState::Settled { .. } | ReportState::Skipped { .. }) {
            return Err(QueueError::WrongState {
                id: *id,
                expected: "settled or skipped",
                actual: outcome.name().into(),
            });
        }
        let id = *id;
        self.run(move |c| transition(c, &id, "submitted", &outcome, now))
    }

    fn replace_submitted(&self, old: B256, new: B256, now: u64) -> Result<usize, QueueError> {
        self.run(move |c| {
            let n = c
                .execute(
                    "UPDATE relayer_reports SET tx_hash = $1, updated_at = $2
                     WHERE state = 'submitted' AND tx_hash = $3",
                    &[&new.as_slice(), &ts(now), &old.as_slice()],
                )
                .map_err(db)?;
            Ok(n as usize)
        })
    }

    fn requeue_submitted(&self, tx_hash: B256, now: u64) -> Result<usize, QueueError> {
        self.run(move |c| {
            let n = c
                .execute(
                    "UPDATE relayer_reports SET state = 'verified', tx_hash = NULL, updated_at = $1,
                     claimed_by = NULL, claimed_until = NULL
                     WHERE state = 'submitted' AND tx_hash = $2",
                    &[&ts(now), &tx_hash.as_slice()],
                )
                .map_err(db)?;
            Ok(n as usize)
        })
    }

    fn submitted_in(&self, tx_hash: B256) -> Result<Vec<StoredReport>, QueueError> {
        self.run(move |c| {
            let rows = c
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM relayer_reports WHERE state = 'submitted' AND tx_hash = $1
                         ORDER BY received_at, id"
                    ),
                    &[&tx_hash.as_slice()],
                )
                .map_err(db)?;
            into_reports(&rows)
        })
    }

    /// The transactions this instance watches: its own (their leases renewed) and those of
    /// instances whose lease ran out (adopted). Another live instance's are not returned:
    /// this one would otherwise re-queue a transaction the other signed but has not yet
    /// broadcast.
    fn submitted_txs(&self) -> Result<Vec<B256>, QueueError> {
        let (me, lease) = (self.instance.clone(), self.claim_secs);
        self.run(move |c| {
            let rows = c
                .query(
                    &format!(
                        "UPDATE relayer_reports
                         SET claimed_by = $1, claimed_until = clock_timestamp() + make_interval(secs => $2)
                         WHERE state = 'submitted' AND {FREE_FOR_ME}
                         RETURNING tx_hash"
                    ),
                    &[&&*me, &lease],
                )
                .map_err(db)?;
            let mut txs = rows
                .iter()
                .map(|r| {
                    let h: Option<Vec<u8>> = r.get(0);
                    b256(h.as_deref().unwrap_or_default(), "tx_hash")
                })
                .collect::<Result<Vec<_>, _>>()?;
            txs.sort();
            txs.dedup();
            Ok(txs)
        })
    }

    fn counts(&self) -> Result<Vec<(String, u64)>, QueueError> {
        self.run(|c| {
            let rows = c
                .query("SELECT state, COUNT(*) FROM relayer_reports GROUP BY state ORDER BY state", &[])
                .map_err(db)?;
            Ok(rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64)).collect())
        })
    }

    fn put_spec(&self, hash: B256, body: &[u8], now: u64) -> Result<bool, QueueError> {
        let body = body.to_vec();
        self.run(move |c| {
            let n = c
                .execute(
                    "INSERT INTO relayer_specs (hash, body, created_at) VALUES ($1, $2, $3)
                     ON CONFLICT (hash) DO NOTHING",
                    &[&hash.as_slice(), &body, &ts(now)],
                )
                .map_err(db)?;
            Ok(n == 1)
        })
    }

    fn get_spec(&self, hash: &B256) -> Result<Option<Vec<u8>>, QueueError> {
        let hash = *hash;
        self.run(move |c| {
            let row = c
                .query_opt("SELECT body FROM relayer_specs WHERE hash = $1", &[&hash.as_slice()])
                .map_err(db)?;
            Ok(row.map(|r| r.get(0)))
        })
    }
}
