//! The SQLite queue: idempotent inserts, state machine, durability across reopen.

use alloy_primitives::{Address, B256};
use market_protocol::ReportId;
use proptest::prelude::*;
use relayer::queue::{InsertOutcome, NewReport, QueueError, ReportQueue, ReportState, SqliteQueue};

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

#[test]
fn inserting_the_same_id_twice_is_idempotent() {
    let q = SqliteQueue::in_memory().unwrap();
    assert_eq!(q.insert(new_report(1, 1)).unwrap(), InsertOutcome::Inserted);
    q.finish_verification(&id(1), ReportState::Verified, 2).unwrap();
    let mut again = new_report(1, 3);
    again.wire_json = b"different bytes".to_vec();
    assert_eq!(q.insert(again).unwrap(), InsertOutcome::AlreadyPresent(ReportState::Verified));
    let stored = q.get(&id(1)).unwrap().unwrap();
    assert_eq!(stored.wire_json, vec![b'{', 1, b'}'], "the first copy is kept");
    assert_eq!(stored.state, ReportState::Verified);
    assert_eq!(q.counts().unwrap(), vec![("verified".to_string(), 1)]);
}

#[test]
fn a_rejected_report_can_be_resent_for_a_new_verification() {
    let q = SqliteQueue::in_memory().unwrap();
    q.insert(new_report(1, 1)).unwrap();
    q.finish_verification(
        &id(1),
        ReportState::Rejected { code: "evidence_stale".into(), message: String::new() },
        2,
    )
    .unwrap();
    let mut again = new_report(1, 3);
    again.wire_json = b"fresh evidence".to_vec();
    assert_eq!(q.insert(again).unwrap(), InsertOutcome::Retried);
    let stored = q.get(&id(1)).unwrap().unwrap();
    assert_eq!((stored.state, stored.wire_json), (ReportState::Received, b"fresh evidence".to_vec()));
}

#[test]
fn transitions_from_the_wrong_state_are_refused_and_change_nothing() {
    let q = SqliteQueue::in_memory().unwrap();
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
    // Only outcome states are outcomes.
    assert!(q.mark_outcome(&id(2), ReportState::Verified, 5).is_err());
}

#[test]
fn a_dropped_transaction_requeues_its_reports_in_order() {
    let q = SqliteQueue::in_memory().unwrap();
    let (tx1, tx2) = (B256::repeat_byte(1), B256::repeat_byte(2));
    for n in 1..=3 {
        q.insert(new_report(n, n as u64)).unwrap();
        q.finish_verification(&id(n), ReportState::Verified, 10).unwrap();
    }
    assert_eq!(q.next_batch(2).unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), vec![id(1), id(2)]);
    q.mark_submitted(&[id(1), id(2)], tx1, 11).unwrap();
    q.mark_submitted(&[id(3)], tx2, 12).unwrap();
    assert!(q.next_batch(10).unwrap().is_empty());
    assert_eq!(q.requeue_submitted(tx1, 13).unwrap(), 2);
    assert_eq!(q.next_batch(10).unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), vec![id(1), id(2)]);
    assert_eq!(q.get(&id(3)).unwrap().unwrap().state, ReportState::Submitted { tx_hash: tx2 });
    q.mark_outcome(&id(3), ReportState::Skipped { tx_hash: tx2, block: 9, reason: 2 }, 14).unwrap();
    assert_eq!(
        q.get(&id(3)).unwrap().unwrap().state,
        ReportState::Skipped { tx_hash: tx2, block: 9, reason: 2 }
    );
    assert_eq!(q.requeue_submitted(tx2, 15).unwrap(), 0, "final states are not requeued");
}

#[test]
fn specs_are_stored_once_by_hash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.sqlite");
    let h = B256::repeat_byte(5);
    {
        let q = SqliteQueue::open(&path).unwrap();
        assert!(q.put_spec(h, b"spec body", 1).unwrap());
        assert!(!q.put_spec(h, b"spec body", 2).unwrap());
    }
    let q = SqliteQueue::open(&path).unwrap();
    assert_eq!(q.get_spec(&h).unwrap().as_deref(), Some(&b"spec body"[..]));
    assert_eq!(q.get_spec(&B256::ZERO).unwrap(), None);
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
