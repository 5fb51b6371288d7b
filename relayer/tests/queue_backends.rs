//! One queue test suite, run against both backends: the embedded SQLite queue and the
//! shared PostgreSQL queue on a real server (see `support/pg.rs`). Then what only the shared
//! queue promises: two instances on one database never claim the same report, a crashed
//! instance's claims and transactions are taken over once its lease runs out, and a queue
//! reopened after its connection closed still has everything.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};

use alloy_primitives::{Address, B256};
use market_protocol::ReportId;
use relayer::queue::{
    InsertOutcome, NewReport, PostgresOptions, PostgresQueue, QueueError, ReportQueue, ReportState,
    SqliteQueue,
};
use support::pg::PgServer;

fn id(n: u8) -> ReportId {
    ReportId(B256::repeat_byte(n))
}

fn new_report(n: u8, now: u64) -> NewReport {
    NewReport { id: id(n), provider: Address::repeat_byte(0xAA), wire_json: vec![b'{', n, b'}'], now }
}

// ---- the shared suite: what every `ReportQueue` must do ----

fn inserting_the_same_id_twice_is_idempotent(q: &dyn ReportQueue) {
    assert_eq!(q.insert(new_report(1, 1)).unwrap(), InsertOutcome::Inserted);
    q.finish_verification(&id(1), ReportState::Verified, 2).unwrap();
    let mut again = new_report(1, 3);
    again.wire_json = b"different bytes".to_vec();
    assert_eq!(q.insert(again).unwrap(), InsertOutcome::AlreadyPresent(ReportState::Verified));
    let stored = q.get(&id(1)).unwrap().unwrap();
    assert_eq!(stored.wire_json, vec![b'{', 1, b'}'], "the first copy is kept");
    assert_eq!(
        (stored.state, stored.provider, stored.received_at),
        (ReportState::Verified, Address::repeat_byte(0xAA), 1)
    );
    assert_eq!(q.counts().unwrap(), vec![("verified".to_string(), 1)]);
    assert!(q.get(&id(9)).unwrap().is_none());
}

fn a_rejected_report_can_be_resent_for_a_new_verification(q: &dyn ReportQueue) {
    q.insert(new_report(1, 1)).unwrap();
    let rejected = ReportState::Rejected { code: "evidence_stale".into(), message: "expired".into() };
    q.finish_verification(&id(1), rejected.clone(), 2).unwrap();
    assert_eq!(q.get(&id(1)).unwrap().unwrap().state, rejected);
    let mut again = new_report(1, 3);
    again.wire_json = b"fresh evidence".to_vec();
    assert_eq!(q.insert(again).unwrap(), InsertOutcome::Retried);
    let stored = q.get(&id(1)).unwrap().unwrap();
    assert_eq!((stored.state, stored.wire_json), (ReportState::Received, b"fresh evidence".to_vec()));
    assert_eq!(q.pending_verification(10).unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), vec![id(1)]);
}

fn transitions_from_the_wrong_state_are_refused_and_change_nothing(q: &dyn ReportQueue) {
    let tx = B256::repeat_byte(1);
    q.insert(new_report(1, 1)).unwrap();
    // received -> submitted skips verification.
    let err = q.mark_submitted(&[id(1)], tx, 2).unwrap_err();
    assert!(matches!(err, QueueError::WrongState { ref actual, .. } if actual == "received"), "{err}");
    // A batch with one bad id is refused as a whole.
    q.insert(new_report(2, 1)).unwrap();
    q.finish_verification(&id(2), ReportState::Verified, 2).unwrap();
    assert!(q.mark_submitted(&[id(2), id(1)], tx, 3).is_err());
    assert_eq!(q.get(&id(2)).unwrap().unwrap().state, ReportState::Verified, "rolled back");
    // Verification can finish only once.
    let err = q.finish_verification(&id(2), ReportState::Verified, 4).unwrap_err();
    assert!(matches!(err, QueueError::WrongState { .. }), "{err}");
    assert!(matches!(q.finish_verification(&id(9), ReportState::Verified, 4), Err(QueueError::NotFound(_))));
    // Only outcome states are outcomes; only verification outcomes finish verification.
    assert!(q.mark_outcome(&id(2), ReportState::Verified, 5).is_err());
    assert!(q.finish_verification(&id(1), ReportState::Submitted { tx_hash: tx }, 5).is_err());
    assert_eq!(q.get(&id(1)).unwrap().unwrap().state, ReportState::Received);
}

fn a_dropped_transaction_requeues_its_reports_in_order(q: &dyn ReportQueue) {
    let (tx1, tx2) = (B256::repeat_byte(1), B256::repeat_byte(2));
    for n in 1..=3 {
        q.insert(new_report(n, n as u64)).unwrap();
        q.finish_verification(&id(n), ReportState::Verified, 10).unwrap();
    }
    assert_eq!(q.next_batch(2).unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), vec![id(1), id(2)]);
    q.mark_submitted(&[id(1), id(2)], tx1, 11).unwrap();
    q.mark_submitted(&[id(3)], tx2, 12).unwrap();
    assert!(q.next_batch(10).unwrap().is_empty());
    assert_eq!(q.submitted_txs().unwrap(), vec![tx1, tx2]);
    assert_eq!(q.submitted_in(tx1).unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), vec![id(1), id(2)]);
    assert_eq!(q.requeue_submitted(tx1, 13).unwrap(), 2);
    assert_eq!(q.next_batch(10).unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), vec![id(1), id(2)]);
    assert_eq!(q.get(&id(3)).unwrap().unwrap().state, ReportState::Submitted { tx_hash: tx2 });
    q.mark_outcome(&id(3), ReportState::Skipped { tx_hash: tx2, block: 9, reason: 2 }, 14).unwrap();
    assert_eq!(
        q.get(&id(3)).unwrap().unwrap().state,
        ReportState::Skipped { tx_hash: tx2, block: 9, reason: 2 }
    );
    assert_eq!(q.requeue_submitted(tx2, 15).unwrap(), 0, "final states are not requeued");
    assert!(q.submitted_txs().unwrap().is_empty());
    q.mark_submitted(&[id(1)], tx1, 16).unwrap();
    q.mark_outcome(&id(1), ReportState::Settled { tx_hash: tx1, block: 10 }, 17).unwrap();
    assert_eq!(q.get(&id(1)).unwrap().unwrap().state, ReportState::Settled { tx_hash: tx1, block: 10 });
    assert!(matches!(
        q.mark_outcome(&id(1), ReportState::Settled { tx_hash: tx1, block: 11 }, 18),
        Err(QueueError::WrongState { .. })
    ));
    let counts: BTreeMap<String, u64> = q.counts().unwrap().into_iter().collect();
    assert_eq!(
        counts,
        BTreeMap::from([("settled".into(), 1), ("skipped".into(), 1), ("verified".into(), 1)])
    );
}

fn specs_are_stored_once_by_hash(q: &dyn ReportQueue) {
    let h = B256::repeat_byte(5);
    assert!(q.put_spec(h, b"spec body", 1).unwrap());
    assert!(!q.put_spec(h, b"other body", 2).unwrap());
    assert_eq!(q.get_spec(&h).unwrap().as_deref(), Some(&b"spec body"[..]));
    assert_eq!(q.get_spec(&B256::ZERO).unwrap(), None);
}

/// Whatever order and how often reports are sent, each id is stored exactly once and the
/// first copy wins (a deterministic pseudo-random sequence; the SQLite proptest covers more).
fn each_id_stored_once_whatever_the_resends(q: &dyn ReportQueue) {
    let mut first_seen = BTreeMap::new();
    let mut x: u32 = 12345;
    for i in 0..120u32 {
        x = x.wrapping_mul(1103515245).wrapping_add(12345);
        let n = ((x >> 16) % 16) as u8;
        let mut r = new_report(n, i as u64);
        r.wire_json = i.to_be_bytes().to_vec();
        let out = q.insert(r).unwrap();
        assert_eq!(out == InsertOutcome::Inserted, !first_seen.contains_key(&n));
        first_seen.entry(n).or_insert(i);
    }
    let total: u64 = q.counts().unwrap().iter().map(|(_, c)| c).sum();
    assert_eq!(total, first_seen.len() as u64);
    for (n, first) in first_seen {
        assert_eq!(q.get(&id(n)).unwrap().unwrap().wire_json, first.to_be_bytes().to_vec());
    }
}

/// Every state survives closing and reopening the queue (a restart).
fn every_state_survives_a_reopen(open: &dyn Fn() -> Box<dyn ReportQueue>) {
    let tx = B256::repeat_byte(0x77);
    {
        let q = open();
        for n in 1..=5 {
            assert_eq!(q.insert(new_report(n, 100 + n as u64)).unwrap(), InsertOutcome::Inserted);
        }
        q.finish_verification(&id(2), ReportState::Verified, 200).unwrap();
        q.finish_verification(
            &id(3),
            ReportState::Rejected { code: "evidence_stale".into(), message: "m".into() },
            200,
        )
        .unwrap();
        q.finish_verification(&id(4), ReportState::Verified, 200).unwrap();
        q.finish_verification(&id(5), ReportState::Verified, 200).unwrap();
        q.mark_submitted(&[id(4), id(5)], tx, 300).unwrap();
        q.mark_outcome(&id(5), ReportState::Settled { tx_hash: tx, block: 42 }, 400).unwrap();
        assert!(q.put_spec(B256::repeat_byte(9), b"spec", 1).unwrap());
    }
    let q = open();
    let state = |n| q.get(&id(n)).unwrap().unwrap().state;
    assert_eq!(state(1), ReportState::Received);
    assert_eq!(state(2), ReportState::Verified);
    assert_eq!(state(3), ReportState::Rejected { code: "evidence_stale".into(), message: "m".into() });
    assert_eq!(state(4), ReportState::Submitted { tx_hash: tx });
    assert_eq!(state(5), ReportState::Settled { tx_hash: tx, block: 42 });
    let stored = q.get(&id(1)).unwrap().unwrap();
    assert_eq!((stored.wire_json, stored.received_at), (vec![b'{', 1, b'}'], 101));
    assert_eq!(q.submitted_txs().unwrap(), vec![tx]);
    assert_eq!(q.get_spec(&B256::repeat_byte(9)).unwrap().as_deref(), Some(&b"spec"[..]));
}

type Case = (&'static str, fn(&dyn ReportQueue));
const SUITE: [Case; 6] = [
    ("idempotent insert", inserting_the_same_id_twice_is_idempotent),
    ("rejected resend", a_rejected_report_can_be_resent_for_a_new_verification),
    ("wrong-state transitions", transitions_from_the_wrong_state_are_refused_and_change_nothing),
    ("requeue", a_dropped_transaction_requeues_its_reports_in_order),
    ("specs", specs_are_stored_once_by_hash),
    ("resends", each_id_stored_once_whatever_the_resends),
];

#[test]
fn sqlite_passes_the_queue_suite() {
    for (name, case) in SUITE {
        let dir = tempfile::tempdir().unwrap();
        let q = SqliteQueue::open(&dir.path().join("q.sqlite")).unwrap();
        eprintln!("sqlite: {name}");
        case(&q);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reopen.sqlite");
    every_state_survives_a_reopen(&|| Box::new(SqliteQueue::open(&path).unwrap()));
}

fn pg(url: &str, instance: &str) -> PostgresQueue {
    PostgresQueue::connect(PostgresOptions::new(url, instance)).unwrap()
}

#[test]
fn postgres_passes_the_queue_suite() {
    let server = PgServer::start();
    for (i, (name, case)) in SUITE.into_iter().enumerate() {
        let url = server.fresh_database(&format!("suite_{i}"));
        eprintln!("postgres: {name}");
        case(&pg(&url, "a"));
    }
    let url = server.fresh_database("reopen");
    every_state_survives_a_reopen(&|| Box::new(pg(&url, "a")));
    // The unix socket (key-value form) reaches the same data.
    let q = pg(&server.socket_conninfo("reopen"), "a");
    assert_eq!(q.get(&id(2)).unwrap().unwrap().state, ReportState::Verified);
}

#[test]
fn postgres_unreachable_is_an_error_at_connect() {
    // A port nothing listens on (bound then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err =
        PostgresQueue::connect(PostgresOptions::new(format!("postgres://relayer@127.0.0.1:{port}/x"), "a"))
            .err()
            .expect("nothing listens there");
    assert!(err.to_string().contains("connecting to PostgreSQL"), "{err}");
    let err = PostgresQueue::connect(PostgresOptions::new("postgres://x@127.0.0.1:1/x", "")).err().unwrap();
    assert!(err.to_string().contains("instance"), "{err}");
}

#[test]
fn two_instances_claim_every_report_exactly_once() {
    let server = PgServer::start();
    let url = server.fresh_database("shared");
    const REPORTS: usize = 300;
    {
        let seed = pg(&url, "seed");
        for n in 0..REPORTS {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(n as u64).to_be_bytes());
            let r = NewReport {
                id: ReportId(B256::from(id)),
                provider: Address::ZERO,
                wire_json: vec![1],
                now: n as u64,
            };
            seed.insert(r.clone()).unwrap();
            seed.finish_verification(&r.id, ReportState::Verified, n as u64).unwrap();
        }
    }
    // Both instances start together and batch as fast as they can: each claims a batch,
    // then marks it submitted in a transaction of its own.
    let barrier = Arc::new(Barrier::new(2));
    let workers: Vec<_> = ["one", "two"]
        .into_iter()
        .enumerate()
        .map(|(w, name)| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                let q = pg(&url, name);
                barrier.wait();
                let mut claimed = Vec::new();
                for round in 0u32.. {
                    let batch = q.next_batch(7).unwrap();
                    if batch.is_empty() {
                        break;
                    }
                    let ids: Vec<_> = batch.iter().map(|r| r.id).collect();
                    let mut tx = [0u8; 32];
                    tx[0] = w as u8 + 1;
                    tx[1..5].copy_from_slice(&round.to_be_bytes());
                    // A claimed batch is always ours to submit: never Claimed/WrongState.
                    q.mark_submitted(&ids, B256::from(tx), 1).unwrap();
                    claimed.extend(ids);
                }
                claimed
            })
        })
        .collect();
    let results: Vec<Vec<ReportId>> = workers.into_iter().map(|h| h.join().unwrap()).collect();
    let mut all: Vec<ReportId> = results.concat();
    eprintln!("instance one claimed {}, two claimed {}", results[0].len(), results[1].len());
    all.sort_by_key(|r| r.0);
    let before = all.len();
    all.dedup();
    assert_eq!(before, all.len(), "a report was claimed by both instances");
    assert_eq!(all.len(), REPORTS, "every report was claimed");
    let check = pg(&url, "check");
    assert_eq!(check.counts().unwrap(), vec![("submitted".to_string(), REPORTS as u64)]);
}

#[test]
fn another_instances_claim_is_respected_until_its_lease_runs_out() {
    let server = PgServer::start();
    let url = server.fresh_database("lease");
    let mut short = PostgresOptions::new(&url, "a");
    short.claim_secs = 2;
    let a = PostgresQueue::connect(short).unwrap();
    let b = pg(&url, "b");
    for n in 1..=3 {
        a.insert(new_report(n, n as u64)).unwrap();
        a.finish_verification(&id(n), ReportState::Verified, 5).unwrap();
    }
    let tx = B256::repeat_byte(0xA1);
    assert_eq!(a.next_batch(2).unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), vec![id(1), id(2)]);
    // b sees only what a did not claim, and cannot submit a's claim.
    assert_eq!(b.next_batch(10).unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), vec![id(3)]);
    let err = b.mark_submitted(&[id(1)], B256::repeat_byte(0xB1), 6).unwrap_err();
    assert!(matches!(err, QueueError::Claimed { ref by, .. } if by == "a"), "{err}");
    a.mark_submitted(&[id(1), id(2)], tx, 6).unwrap();
    // b does not watch a's transaction while a is alive (it could be signed, not yet sent).
    assert!(b.submitted_txs().unwrap().is_empty());
    assert_eq!(a.submitted_txs().unwrap(), vec![tx]);
    // a "crashes": it stops renewing. After the lease b adopts the transaction.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(b.submitted_txs().unwrap(), vec![tx]);
    assert!(a.submitted_txs().unwrap().is_empty(), "b holds it now");
    b.mark_outcome(&id(1), ReportState::Settled { tx_hash: tx, block: 3 }, 7).unwrap();
    // A released claim is free at once.
    assert_eq!(b.release_claims().unwrap(), 1);
    assert_eq!(a.next_batch(10).unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), vec![id(3)]);
}

#[test]
fn postgres_queue_survives_a_server_restart_of_its_connections() {
    let server = PgServer::start();
    let url = server.fresh_database("reconnect");
    let q = pg(&url, "a");
    q.insert(new_report(1, 1)).unwrap();
    // Kill every connection of the queue from another session (as a server restart or a
    // network cut would); the next calls reconnect instead of failing forever.
    let mut admin = postgres::Client::connect(&server.url("postgres"), postgres::NoTls).unwrap();
    admin
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = 'reconnect' AND pid <> pg_backend_pid()",
        )
        .unwrap();
    let mut ok = false;
    for _ in 0..10 {
        if q.get(&id(1)).map(|r| r.is_some()).unwrap_or(false) {
            ok = true;
            break;
        }
    }
    assert!(ok, "the queue never reconnected");
    assert_eq!(q.insert(new_report(1, 2)).unwrap(), InsertOutcome::AlreadyPresent(ReportState::Received));
}

/// The binary opens and uses the queue from inside its tokio runtime (and the settlement
/// loop calls it from async code): the synchronous client must not panic there.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_queue_works_from_inside_a_tokio_runtime() {
    let server = PgServer::start();
    let url = server.fresh_database("from_async");
    let q = pg(&url, "a");
    assert_eq!(q.insert(new_report(1, 1)).unwrap(), InsertOutcome::Inserted);
    q.finish_verification(&id(1), ReportState::Verified, 2).unwrap();
    assert_eq!(q.next_batch(5).unwrap().len(), 1);
    let q = Arc::new(q);
    let q2 = q.clone();
    tokio::spawn(async move { q2.get(&id(1)).unwrap().unwrap().state })
        .await
        .map(|s| {
            assert_eq!(s, ReportState::Verified);
        })
        .unwrap();
}
