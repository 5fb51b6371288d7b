//! The SQLite queue's group commit seen from outside: many concurrent writers, each answered
//! with its own result, everything acknowledged durable across a reopen.

use std::sync::{Arc, Barrier};

use alloy_primitives::{Address, B256};
use market_protocol::ReportId;
use relayer::queue::{InsertOutcome, NewReport, ReportQueue, ReportState, SqliteQueue};

fn id(thread: usize, i: usize) -> ReportId {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&(thread as u64).to_be_bytes());
    b[8..16].copy_from_slice(&(i as u64).to_be_bytes());
    ReportId(B256::from(b))
}

fn body(thread: usize, i: usize) -> Vec<u8> {
    format!("{{\"t\":{thread},\"i\":{i}}}").into_bytes()
}

#[test]
fn concurrent_inserts_are_all_committed_and_survive_a_reopen() {
    const THREADS: usize = 16;
    const EACH: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.sqlite");
    {
        let q = Arc::new(SqliteQueue::open(&path).unwrap());
        let start = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (q, start) = (q.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for i in 0..EACH {
                        let r = NewReport {
                            id: id(t, i),
                            provider: Address::repeat_byte(t as u8),
                            wire_json: body(t, i),
                            now: 1000 + i as u64,
                        };
                        assert_eq!(q.insert(r).unwrap(), InsertOutcome::Inserted);
                        // Half of them also verified, through the same writer.
                        if i % 2 == 0 {
                            q.finish_verification(&id(t, i), ReportState::Verified, 2000).unwrap();
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    } // every Arc dropped: the writer thread and both connections closed
    let q = SqliteQueue::open(&path).unwrap();
    let total: u64 = q.counts().unwrap().iter().map(|(_, c)| c).sum();
    assert_eq!(total, (THREADS * EACH) as u64);
    for t in 0..THREADS {
        for i in 0..EACH {
            let stored = q.get(&id(t, i)).unwrap().expect("acknowledged report is stored");
            assert_eq!(stored.wire_json, body(t, i));
            assert_eq!(stored.provider, Address::repeat_byte(t as u8));
            let want = if i % 2 == 0 { ReportState::Verified } else { ReportState::Received };
            assert_eq!(stored.state, want);
        }
    }
}

/// The same report sent by many threads at once (so, in all likelihood, several copies in one
/// group): exactly one is inserted, every other copy is a replay, and the distinct reports
/// sent alongside all succeed.
#[test]
fn concurrent_duplicates_get_replay_and_do_not_fail_the_others() {
    const THREADS: usize = 12;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.sqlite");
    let q = Arc::new(SqliteQueue::open(&path).unwrap());
    let start = Arc::new(Barrier::new(THREADS));
    let dup = id(999, 0);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (q, start) = (q.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let mine = q
                    .insert(NewReport {
                        id: id(t, 1),
                        provider: Address::ZERO,
                        wire_json: body(t, 1),
                        now: 5,
                    })
                    .unwrap();
                let shared = q
                    .insert(NewReport { id: dup, provider: Address::ZERO, wire_json: body(t, 0), now: 5 })
                    .unwrap();
                (mine, shared)
            })
        })
        .collect();
    let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(outcomes.iter().all(|(mine, _)| *mine == InsertOutcome::Inserted));
    let inserted = outcomes.iter().filter(|(_, s)| *s == InsertOutcome::Inserted).count();
    let replays =
        outcomes.iter().filter(|(_, s)| *s == InsertOutcome::AlreadyPresent(ReportState::Received)).count();
    assert_eq!((inserted, replays), (1, THREADS - 1));
    drop(q);
    let q = SqliteQueue::open(&path).unwrap();
    let total: u64 = q.counts().unwrap().iter().map(|(_, c)| c).sum();
    assert_eq!(total, THREADS as u64 + 1);
}
