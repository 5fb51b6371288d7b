//! What only the SQLite queue does: WAL mode, durability of a file across reopen, and a
//! property test of idempotent inserts. The state machine suite shared with PostgreSQL is in
//! `queue_backends.rs`.

use alloy_primitives::{Address, B256};
use market_protocol::ReportId;
use proptest::prelude::*;
use relayer::queue::{InsertOutcome, NewReport, ReportQueue, ReportState, SqliteQueue};

fn id(n: u8) -> ReportId {
    ReportId(B256::repeat_byte(n))
}

fn new_report(n: u8, now: u64) -> NewReport {
    NewReport { id: id(n), provider: Address::repeat_byte(0xAA), wire_json: vec![b'{', n, b'}'], now }
}

#[test]
fn uses_wal_and_survives_reopen_in_every_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.sqlite");
    let tx = B256::repeat_byte(0x77);
    {
        let q = SqliteQueue::open(&path).unwrap();
        assert_eq!(q.journal_mode().unwrap(), "wal");
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
    } // dropped: connection closed, as by a restart
    let q = SqliteQueue::open(&path).unwrap();
    let state = |n| q.get(&id(n)).unwrap().unwrap().state;
    assert_eq!(state(1), ReportState::Received);
    assert_eq!(state(2), ReportState::Verified);
    assert_eq!(state(3), ReportState::Rejected { code: "evidence_stale".into(), message: "m".into() });
    assert_eq!(state(4), ReportState::Submitted { tx_hash: tx });
    assert_eq!(state(5), ReportState::Settled { tx_hash: tx, block: 42 });
    let stored = q.get(&id(1)).unwrap().unwrap();
    assert_eq!(
        (stored.wire_json, stored.provider, stored.received_at),
        (vec![b'{', 1, b'}'], Address::repeat_byte(0xAA), 101)
    );
    assert_eq!(q.pending_verification(10).unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), vec![id(1)]);
    assert_eq!(q.submitted_txs().unwrap(), vec![tx]);
    assert!(q.get(&id(9)).unwrap().is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Whatever order and how often reports are sent, each id is stored exactly once and the
    /// first copy wins.
    #[test]
    fn each_id_stored_once_whatever_the_resends(sends in proptest::collection::vec(0u8..8, 0..40)) {
        let q = SqliteQueue::in_memory().unwrap();
        let mut first_seen = std::collections::BTreeMap::new();
        for (i, n) in sends.iter().enumerate() {
            let mut r = new_report(*n, i as u64);
            r.wire_json = vec![i as u8];
            let out = q.insert(r).unwrap();
            let is_new = !first_seen.contains_key(n);
            prop_assert_eq!(out == InsertOutcome::Inserted, is_new);
            first_seen.entry(*n).or_insert(i as u8);
        }
        let total: u64 = q.counts().unwrap().iter().map(|(_, c)| c).sum();
        prop_assert_eq!(total, first_seen.len() as u64);
        for (n, first) in first_seen {
            prop_assert_eq!(q.get(&id(n)).unwrap().unwrap().wire_json, vec![first]);
        }
    }
}
