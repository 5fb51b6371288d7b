//! The settlement loop against a fake chain that behaves like the market (a nonce settles
//! once; a second settlement of it is skipped NONCE_USED) and a mempool that can drop,
//! revert, or hold transactions.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{keccak256, Address, B256, U256};
use market_protocol::{evidence_digest, Evidence, EvidenceIdentity, MarketDomain, SignedReport, UsageReport};
use proptest::prelude::*;
use relayer::directory::BoxFuture;
use relayer::queue::{NewReport, ReportQueue, ReportState, SqliteQueue};
use relayer::settlement::{
    batch_due, step, BatchPolicy, ChainError, EntryOutcome, PreparedTx, SettledLookup, SettlementChain,
    TxStatus,
};

type Key = (U256, Address, U256);

#[derive(Default)]
struct FakeState {
    prepared: HashMap<B256, Vec<Key>>,
    mempool: Vec<B256>,
    receipts: HashMap<B256, TxStatus>,
    used_nonces: HashSet<Key>,
    /// How many times the market settled each report: must end at exactly 1.
    settle_count: HashMap<Key, u32>,
    fail_next_broadcast: bool,
    block: u64,
    txs_prepared: u64,
    /// Where the market settled each report (its ReportSettled event).
    settled_in: HashMap<Key, (B256, u64)>,
    /// Replacement -> the transaction it replaces (same account nonce: one of them lands).
    replaces: HashMap<B256, B256>,
    /// The original lands while its replacement is being signed (a race with a block).
    mine_original_on_replace: bool,
    /// Transactions the mempool dropped, which may come back (another node re-gossips them).
    dropped: Vec<B256>,
}

#[derive(Default, Clone)]
struct FakeChain(Arc<Mutex<FakeState>>);

fn key(r: &SignedReport) -> Key {
    (r.report.jobId, r.report.provider, r.report.nonce)
}

impl SettlementChain for FakeChain {
    fn prepare(&self, reports: &[SignedReport]) -> BoxFuture<'_, Result<PreparedTx, ChainError>> {
        let mut s = self.0.lock().unwrap();
        s.txs_prepared += 1;
        // Like a real signed tx: distinct per (account nonce, contents).
        let hash =
            keccak256([s.txs_prepared.to_be_bytes().as_slice(), &reports.len().to_be_bytes()].concat());
        s.prepared.insert(hash, reports.iter().map(key).collect());
        Box::pin(async move { Ok(PreparedTx { hash, raw: vec![] }) })
    }

    fn broadcast(&self, tx: &PreparedTx) -> BoxFuture<'_, Result<(), ChainError>> {
        let mut s = self.0.lock().unwrap();
        let replaced = s.replaces.get(&tx.hash).copied();
        let r = if std::mem::take(&mut s.fail_next_broadcast) {
            Err(ChainError::Rpc("connection reset".into()))
        } else if replaced.is_some_and(|old| s.receipts.contains_key(&old)) {
            Err(ChainError::Rpc("nonce too low".into()))
        } else {
            if let Some(old) = replaced {
                s.mempool.retain(|h| *h != old);
            }
            s.mempool.push(tx.hash);
            Ok(())
        };
        Box::pin(async move { r })
    }

    fn replace(&self, hash: B256) -> BoxFuture<'_, Result<Option<PreparedTx>, ChainError>> {
        let mut s = self.0.lock().unwrap();
        let r = if s.mempool.contains(&hash) {
            s.txs_prepared += 1;
            let new = keccak256([s.txs_prepared.to_be_bytes().as_slice(), b"replacement"].concat());
            let keys = s.prepared[&hash].clone();
            s.prepared.insert(new, keys);
            s.replaces.insert(new, hash);
            if s.mine_original_on_replace {
                drop(s);
                self.mine();
            }
            Some(PreparedTx { hash: new, raw: vec![] })
        } else {
            None
        };
        Box::pin(async move { Ok(r) })
    }

    fn find_settled(
        &self,
        reports: &[SignedReport],
    ) -> BoxFuture<'_, Result<Vec<SettledLookup>, ChainError>> {
        let s = self.0.lock().unwrap();
        let r = reports
            .iter()
            .map(|r| match s.settled_in.get(&key(r)) {
                Some(&(tx_hash, block)) => SettledLookup::Settled { tx_hash, block },
                None => SettledLookup::NotSettled,
            })
            .collect();
        Box::pin(async move { Ok(r) })
    }

    fn status(&self, hash: B256) -> BoxFuture<'_, Result<TxStatus, ChainError>> {
        let s = self.0.lock().unwrap();
        let st = if let Some(r) = s.receipts.get(&hash) {
            r.clone()
        } else if s.mempool.contains(&hash) {
            TxStatus::Pending
        } else {
            TxStatus::Unknown
        };
        Box::pin(async move { Ok(st) })
    }
}

impl FakeChain {
    /// Mines everything in the mempool, as the market would execute it.
    fn mine(&self) {
        let mut s = self.0.lock().unwrap();
        s.block += 1;
        let block = s.block;
        for hash in std::mem::take(&mut s.mempool) {
            let keys = s.prepared[&hash].clone();
            let mut outcomes = Vec::new();
            for k in keys {
                let skipped = if s.used_nonces.insert(k) {
                    *s.settle_count.entry(k).or_default() += 1;
                    s.settled_in.insert(k, (hash, block));
                    None
                } else {
                    Some(2) // NONCE_USED
                };
                outcomes.push(EntryOutcome { job_id: k.0, provider: k.1, nonce: k.2, skipped });
            }
            s.receipts.insert(hash, TxStatus::Confirmed { block, success: true, outcomes });
        }
    }
    fn drop_pending(&self) {
        let mut s = self.0.lock().unwrap();
        let dropped = std::mem::take(&mut s.mempool);
        s.dropped.extend(dropped);
    }
    /// Dropped transactions come back (and can be mined after their reports were re-sent).
    fn resurrect(&self) {
        let mut s = self.0.lock().unwrap();
        let back: Vec<B256> = std::mem::take(&mut s.dropped)
            .into_iter()
            .filter(|h| !s.receipts.contains_key(h) && !s.replaces.values().any(|old| old == h))
            .collect();
        // They were signed earlier, with lower account nonces: they are mined first.
        s.mempool.splice(0..0, back);
    }
    fn revert_pending(&self) {
        let mut s = self.0.lock().unwrap();
        s.block += 1;
        let block = s.block;
        for hash in std::mem::take(&mut s.mempool) {
            s.receipts.insert(hash, TxStatus::Confirmed { block, success: false, outcomes: vec![] });
        }
    }
}

fn domain() -> MarketDomain {
    MarketDomain::new(412346, Address::repeat_byte(0x11))
}

/// `n` verified reports in the queue (ids in order of arrival).
fn seed(queue: &dyn ReportQueue, n: u64, now: u64) -> Vec<SignedReport> {
    let signer = PrivateKeySigner::from_bytes(&B256::repeat_byte(1)).unwrap();
    let p = signer.address();
    (0..n)
        .map(|i| {
            let report = UsageReport {
                jobId: U256::from(1 + i % 3),
                provider: p,
                gpuUuidHash: keccak256("GPU-0"),
                startTs: 0,
                endTs: 100,
                gpuSeconds: 100,
                energyMilliJoules: 1,
                avgUtilBps: 1,
                evidenceDigest: evidence_digest(&[EvidenceIdentity::None { provider: p }]).unwrap(),
                nonce: U256::from(i),
            };
            let signature = report.sign(&domain(), &signer).unwrap();
            let r = SignedReport { domain: domain(), report, signature, evidence: vec![Evidence::none()] };
            queue
                .insert(NewReport { id: r.id(), provider: p, wire_json: r.to_json(), now: now + i })
                .unwrap();
            queue.finish_verification(&r.id(), ReportState::Verified, now + i).unwrap();
            r
        })
        .collect()
}

const POLICY: BatchPolicy = BatchPolicy { max_batch: 2, max_wait_secs: 10, replace_after_secs: 0 };

fn state(q: &dyn ReportQueue, r: &SignedReport) -> ReportState {
    q.get(&r.id()).unwrap().unwrap().state
}

#[tokio::test]
async fn full_batches_go_out_one_at_a_time_and_settle_from_events() {
    let q = SqliteQueue::in_memory().unwrap();
    let chain = FakeChain::default();
    let reports = seed(&q, 5, 100);
    let s = step(&q, &chain, POLICY, 105).await.unwrap();
    let (tx1, n) = s.sent.expect("a full batch is sent at once");
    assert_eq!(n, 2);
    assert_eq!(state(&q, &reports[0]), ReportState::Submitted { tx_hash: tx1 });
    // While it is pending, nothing else goes out.
    assert_eq!(step(&q, &chain, POLICY, 106).await.unwrap().sent, None);
    chain.mine();
    let s = step(&q, &chain, POLICY, 107).await.unwrap();
    assert_eq!(s.settled, 2);
    assert_eq!(state(&q, &reports[1]), ReportState::Settled { tx_hash: tx1, block: 1 });
    assert_eq!(s.sent.map(|(_, n)| n), Some(2));
}

#[tokio::test]
async fn a_partial_batch_waits_for_its_deadline() {
    let q = SqliteQueue::in_memory().unwrap();
    let chain = FakeChain::default();
    let reports = seed(&q, 1, 100);
    assert_eq!(step(&q, &chain, POLICY, 105).await.unwrap().sent, None);
    assert!(!batch_due(&q.next_batch(2).unwrap(), POLICY, 109));
    assert_eq!(step(&q, &chain, POLICY, 110).await.unwrap().sent.map(|(_, n)| n), Some(1));
    assert!(matches!(state(&q, &reports[0]), ReportState::Submitted { .. }));
}

#[tokio::test]
async fn dropped_reverted_and_unsent_transactions_are_requeued_and_settle_once() {
    let q = SqliteQueue::in_memory().unwrap();
    let chain = FakeChain::default();
    let reports = seed(&q, 2, 100);
    // Dropped from the mempool.
    let (tx1, _) = step(&q, &chain, POLICY, 120).await.unwrap().sent.unwrap();
    chain.drop_pending();
    let s = step(&q, &chain, POLICY, 121).await.unwrap();
    assert_eq!(s.requeued, 2);
    let (tx2, _) = s.sent.expect("re-sent in a new transaction");
    assert_ne!(tx1, tx2);
    // Reverted; and the re-send's broadcast itself fails (RPC down).
    chain.revert_pending();
    chain.0.lock().unwrap().fail_next_broadcast = true;
    let s = step(&q, &chain, POLICY, 122).await.unwrap();
    assert_eq!(s.requeued, 2);
    let (tx3, _) = s.sent.expect("re-sent after the revert");
    assert_eq!(state(&q, &reports[0]), ReportState::Submitted { tx_hash: tx3 }, "stays submitted");
    // tx3 never reached the chain: unknown, so requeued and sent again.
    let s = step(&q, &chain, POLICY, 123).await.unwrap();
    assert_eq!(s.requeued, 2, "{s:?}");
    let (tx5, _) = s.sent.unwrap();
    assert_ne!(tx3, tx5);
    chain.mine();
    let s = step(&q, &chain, POLICY, 124).await.unwrap();
    assert_eq!(s.settled, 2);
    for r in &reports {
        assert!(matches!(state(&q, r), ReportState::Settled { tx_hash, .. } if tx_hash == tx5));
        assert_eq!(chain.0.lock().unwrap().settle_count[&key(r)], 1);
    }
}

#[tokio::test]
async fn a_skipped_entry_records_the_market_reason() {
    let q = SqliteQueue::in_memory().unwrap();
    let chain = FakeChain::default();
    let reports = seed(&q, 1, 100);
    chain.0.lock().unwrap().used_nonces.insert(key(&reports[0]));
    let (tx, _) = step(&q, &chain, POLICY, 200).await.unwrap().sent.unwrap();
    chain.mine();
    assert_eq!(step(&q, &chain, POLICY, 201).await.unwrap().skipped, 1);
    assert_eq!(state(&q, &reports[0]), ReportState::Skipped { tx_hash: tx, block: 1, reason: 2 });
}

#[tokio::test]
async fn a_restart_with_a_transaction_in_flight_resolves_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.sqlite");
    let chain = FakeChain::default();
    let reports = {
        let q = SqliteQueue::open(&path).unwrap();
        let reports = seed(&q, 2, 100);
        step(&q, &chain, POLICY, 120).await.unwrap().sent.unwrap();
        reports
    }; // relayer stops with the batch in flight
    chain.mine();
    let q = SqliteQueue::open(&path).unwrap();
    assert_eq!(step(&q, &chain, POLICY, 130).await.unwrap().settled, 2);
    for r in &reports {
        assert!(matches!(state(&q, r), ReportState::Settled { .. }));
    }
}

const REPLACING: BatchPolicy = BatchPolicy { max_batch: 2, max_wait_secs: 10, replace_after_secs: 30 };

#[tokio::test]
async fn a_stuck_transaction_is_replaced_after_the_timeout_and_settles_once() {
    let q = SqliteQueue::in_memory().unwrap();
    let chain = FakeChain::default();
    let reports = seed(&q, 2, 100);
    let (tx1, _) = step(&q, &chain, REPLACING, 100).await.unwrap().sent.unwrap();
    assert!(step(&q, &chain, REPLACING, 129).await.unwrap().replaced.is_empty(), "not yet stuck");
    let s = step(&q, &chain, REPLACING, 130).await.unwrap();
    let [(old, tx2)] = s.replaced[..] else { panic!("one replacement expected: {s:?}") };
    assert_eq!(old, tx1);
    assert_eq!(s.sent, None, "no new batch while one is in flight");
    assert_eq!(state(&q, &reports[0]), ReportState::Submitted { tx_hash: tx2 });
    assert_eq!(chain.0.lock().unwrap().mempool, vec![tx2], "the replacement took the original's place");
    // The timer restarts with the replacement.
    assert!(step(&q, &chain, REPLACING, 159).await.unwrap().replaced.is_empty());
    chain.mine();
    assert_eq!(step(&q, &chain, REPLACING, 160).await.unwrap().settled, 2);
    for r in &reports {
        assert_eq!(state(&q, r), ReportState::Settled { tx_hash: tx2, block: 1 });
        assert_eq!(chain.0.lock().unwrap().settle_count[&key(r)], 1);
    }
}

#[tokio::test]
async fn the_original_landing_instead_of_its_replacement_counts_as_settled() {
    let q = SqliteQueue::in_memory().unwrap();
    let chain = FakeChain::default();
    let reports = seed(&q, 2, 100);
    let (tx1, _) = step(&q, &chain, REPLACING, 100).await.unwrap().sent.unwrap();
    chain.0.lock().unwrap().mine_original_on_replace = true;
    let s = step(&q, &chain, REPLACING, 140).await.unwrap();
    let [(_, tx2)] = s.replaced[..] else { panic!("{s:?}") };
    // The replacement was refused (the nonce was used by the original): unknown. The
    // original's events are found, so nothing is re-sent.
    let s = step(&q, &chain, REPLACING, 141).await.unwrap();
    assert_eq!((s.settled, s.requeued, s.sent), (2, 0, None), "{s:?}");
    for r in &reports {
        assert_eq!(state(&q, r), ReportState::Settled { tx_hash: tx1, block: 1 }, "not {tx2}");
    }
}

#[tokio::test]
async fn a_resent_report_that_the_first_transaction_settled_ends_settled_not_skipped() {
    let q = SqliteQueue::in_memory().unwrap();
    let chain = FakeChain::default();
    let reports = seed(&q, 2, 100);
    let (tx1, _) = step(&q, &chain, POLICY, 120).await.unwrap().sent.unwrap();
    chain.drop_pending();
    let (tx2, _) = step(&q, &chain, POLICY, 121).await.unwrap().sent.expect("re-sent");
    // The dropped one comes back and lands first; the re-send is skipped NONCE_USED.
    chain.resurrect();
    chain.mine();
    let s = step(&q, &chain, POLICY, 122).await.unwrap();
    assert_eq!((s.settled, s.skipped), (2, 0), "{s:?}");
    for r in &reports {
        assert_eq!(state(&q, r), ReportState::Settled { tx_hash: tx1, block: 1 }, "not {tx2}");
        assert_eq!(chain.0.lock().unwrap().settle_count[&key(r)], 1);
    }
}

#[derive(Debug, Clone)]
enum Event {
    Step,
    Mine,
    Drop,
    Revert,
    FailBroadcast,
    Resurrect,
    OriginalWinsRace,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => Just(Event::Step),
        3 => Just(Event::Mine),
        1 => Just(Event::Drop),
        1 => Just(Event::Revert),
        1 => Just(Event::FailBroadcast),
        1 => Just(Event::Resurrect),
        1 => Just(Event::OriginalWinsRace),
    ]
}

/// Replaces a transaction pending for 3 steps.
const PROP_POLICY: BatchPolicy = BatchPolicy { max_batch: 2, max_wait_secs: 10, replace_after_secs: 3 };

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Whatever the chain does (drops, resurrections of dropped transactions, reverts, failed
    /// broadcasts, stuck transactions replaced, originals landing instead of their
    /// replacements, in any order), once it behaves again every report ends settled, and the
    /// market settled each exactly once.
    #[test]
    fn every_report_settles_exactly_once(n in 1u64..7, events in proptest::collection::vec(event(), 0..30)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let q = SqliteQueue::in_memory().unwrap();
            let chain = FakeChain::default();
            let reports = seed(&q, n, 100);
            let mut now = 1_000;
            for e in events {
                now += 1;
                match e {
                    Event::Step => { step(&q, &chain, PROP_POLICY, now).await.unwrap(); }
                    Event::Resurrect => chain.resurrect(),
                    Event::OriginalWinsRace => chain.0.lock().unwrap().mine_original_on_replace = true,
                    Event::Mine => chain.mine(),
                    Event::Drop => chain.drop_pending(),
                    Event::Revert => chain.revert_pending(),
                    Event::FailBroadcast => chain.0.lock().unwrap().fail_next_broadcast = true,
                }
            }
            for _ in 0..(2 * n + 4) {
                now += 100;
                step(&q, &chain, PROP_POLICY, now).await.unwrap();
                chain.mine();
            }
            let s = chain.0.lock().unwrap();
            for r in &reports {
                prop_assert_eq!(s.settle_count.get(&key(r)).copied(), Some(1));
                prop_assert!(matches!(state(&q, r), ReportState::Settled { .. }), "{:?}", state(&q, r));
            }
            Ok(())
        })?;
    }
}

/// A chain whose every call hangs (a node that accepted the connection and never answers).
struct HangingChain;

impl SettlementChain for HangingChain {
    fn prepare(&self, _: &[SignedReport]) -> BoxFuture<'_, Result<PreparedTx, ChainError>> {
        Box::pin(std::future::pending())
    }
    fn broadcast(&self, _: &PreparedTx) -> BoxFuture<'_, Result<(), ChainError>> {
        Box::pin(std::future::pending())
    }
    fn status(&self, _: B256) -> BoxFuture<'_, Result<TxStatus, ChainError>> {
        Box::pin(std::future::pending())
    }
    fn replace(&self, _: B256) -> BoxFuture<'_, Result<Option<PreparedTx>, ChainError>> {
        Box::pin(std::future::pending())
    }
    fn find_settled(&self, _: &[SignedReport]) -> BoxFuture<'_, Result<Vec<SettledLookup>, ChainError>> {
        Box::pin(std::future::pending())
    }
}

fn run_loop(
    queue: Arc<dyn ReportQueue>,
    chain: Arc<dyn SettlementChain>,
    grace: std::time::Duration,
) -> (tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let policy = BatchPolicy { max_batch: 2, max_wait_secs: 0, replace_after_secs: 0 };
    let task = tokio::spawn(relayer::settlement::run(
        queue,
        chain,
        policy,
        Arc::new(|| 1_000),
        Arc::new(relayer::metrics::Metrics::default()),
        stopped,
        grace,
    ));
    (stop, task)
}

/// A hang guard for the assertions below (not a timing assertion: the loop must stop at all).
const HANG: std::time::Duration = std::time::Duration::from_secs(30);

#[tokio::test]
async fn on_shutdown_a_hung_step_is_abandoned_after_the_grace_and_nothing_half_committed() {
    let queue: Arc<dyn ReportQueue> = Arc::new(SqliteQueue::in_memory().unwrap());
    let reports = seed(&*queue, 2, 1);
    let (stop, task) = run_loop(queue.clone(), Arc::new(HangingChain), std::time::Duration::from_millis(200));
    // Let the loop reach the hung `prepare`.
    tokio::task::yield_now().await;
    stop.send(true).unwrap();
    tokio::time::timeout(HANG, task).await.expect("the loop stops despite the hung step").unwrap();
    for r in &reports {
        assert_eq!(queue.get(&r.id()).unwrap().unwrap().state, ReportState::Verified, "left as it was");
    }
}

#[tokio::test]
async fn on_shutdown_an_idle_loop_stops_and_a_dropped_sender_stops_it_too() {
    let queue: Arc<dyn ReportQueue> = Arc::new(SqliteQueue::in_memory().unwrap());
    let chain = Arc::new(FakeChain::default());
    let (stop, task) = run_loop(queue.clone(), chain.clone(), std::time::Duration::from_secs(10));
    tokio::task::yield_now().await;
    stop.send(true).unwrap();
    tokio::time::timeout(HANG, task).await.expect("the idle loop stops").unwrap();
    let (stop, task) = run_loop(queue, chain, std::time::Duration::from_secs(10));
    drop(stop);
    tokio::time::timeout(HANG, task).await.expect("a dropped sender stops the loop").unwrap();
}
