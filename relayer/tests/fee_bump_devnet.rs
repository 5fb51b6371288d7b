//! Replacement of a stuck settlement transaction, against the real contracts on the devnet.
//! The sequencer "stalls" (automatic mining off: transactions wait in the pool, no block
//! comes), the relayer's batch sits there past `replace_after_secs`, and the relayer
//! replaces it: same account nonce, both EIP-1559 fees up by at least the nodes' 10% rule.
//! The node drops the original for it, and once blocks come again the replacement settles
//! each report exactly once (one `ReportSettled` each, the market's nonce spent). The
//! devnet itself refuses a replacement below the 10% rule.

mod support;

use alloy::consensus::{Transaction as _, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use relayer::chain::{bump_fee, AlloyChain};
use relayer::queue::{NewReport, ReportQueue, ReportState, SqliteQueue};
use relayer::settlement::{step, BatchPolicy};
use support::market::{Market, CHAIN_ID};

#[test]
fn bumped_fees_clear_the_ten_percent_rule_even_when_rounding() {
    assert_eq!(bump_fee(100, 10), 110);
    assert_eq!(bump_fee(101, 10), 112, "rounded up: 111.1 would fail the rule");
    assert_eq!(bump_fee(1_000, 5), 1_100, "below 10% is raised to 10%");
    assert_eq!(bump_fee(1_000, 25), 1_250);
    assert_eq!(bump_fee(u128::MAX, 10), u128::MAX.div_ceil(100), "saturates, never panics");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_batch_is_replaced_with_higher_fees_and_settles_once() {
    let m = Market::start().await;
    let jobs = m.open_accepted_jobs(2).await;
    let queue = SqliteQueue::in_memory().unwrap();
    let reports: Vec<_> = jobs.iter().enumerate().map(|(i, j)| m.report(*j, i as u64)).collect();
    for r in &reports {
        let p = r.report.provider;
        queue.insert(NewReport { id: r.id(), provider: p, wire_json: r.to_json(), now: 1 }).unwrap();
        queue.finish_verification(&r.id(), ReportState::Verified, 1).unwrap();
    }
    let chain = AlloyChain::new(m.rpc.clone(), m.relayer_key.clone(), m.settlement, CHAIN_ID, 1)
        .with_bump_percent(12);
    let policy = BatchPolicy { max_batch: 2, max_wait_secs: 0, replace_after_secs: 30 };

    m.set_automine(false).await;
    let (tx1, n) = step(&queue, &chain, policy, 1_000).await.unwrap().sent.expect("the batch is sent");
    assert_eq!(n, 2);
    let first = m.rpc.get_transaction_by_hash(tx1).await.unwrap().expect("the node holds it");
    assert!(first.block_number.is_none(), "stuck: not mined");

    // Not stuck long enough yet: nothing replaced, and no second batch while one is out.
    let s = step(&queue, &chain, policy, 1_029).await.unwrap();
    assert!(s.replaced.is_empty() && s.sent.is_none(), "{s:?}");

    let s = step(&queue, &chain, policy, 1_030).await.unwrap();
    let [(old, tx2)] = s.replaced[..] else { panic!("one replacement expected: {s:?}") };
    assert_eq!(old, tx1);
    let second = m.rpc.get_transaction_by_hash(tx2).await.unwrap().expect("the node took the replacement");
    assert_eq!(second.nonce(), first.nonce(), "same account nonce");
    assert_eq!(second.input(), first.input(), "same settleBatch call");
    assert!(second.max_fee_per_gas() >= bump_fee(first.max_fee_per_gas(), 12));
    assert!(
        second.max_priority_fee_per_gas().unwrap() >= bump_fee(first.max_priority_fee_per_gas().unwrap(), 12)
    );
    assert!(m.rpc.get_transaction_by_hash(tx1).await.unwrap().is_none(), "the original left the pool");
    // The node enforces the rule the relayer meets: a 5% bump is refused.
    let cheap = TransactionRequest::default()
        .with_from(m.relayer_key.address())
        .with_to(m.settlement)
        .with_input(second.input().clone())
        .with_chain_id(CHAIN_ID)
        .with_nonce(second.nonce())
        .with_gas_limit(second.gas_limit())
        .with_max_fee_per_gas(second.max_fee_per_gas() * 105 / 100)
        .with_max_priority_fee_per_gas(second.max_priority_fee_per_gas().unwrap() * 105 / 100);
    let cheap: TxEnvelope = cheap.build(&EthereumWallet::from(m.relayer_key.clone())).await.unwrap();
    let err = m.rpc.send_raw_transaction(&cheap.encoded_2718()).await.unwrap_err();
    assert!(err.to_string().contains("underpriced"), "{err}");
    for r in &reports {
        assert_eq!(queue.get(&r.id()).unwrap().unwrap().state, ReportState::Submitted { tx_hash: tx2 });
    }

    // Blocks come again.
    m.mine().await;
    let s = step(&queue, &chain, policy, 1_031).await.unwrap();
    assert_eq!((s.settled, s.skipped, s.requeued), (2, 0, 0), "{s:?}");
    let receipt = m.rpc.get_transaction_receipt(tx2).await.unwrap().expect("mined");
    assert!(receipt.status());
    assert!(m.rpc.get_transaction_receipt(tx1).await.unwrap().is_none(), "the original never landed");
    for r in &reports {
        assert_eq!(
            queue.get(&r.id()).unwrap().unwrap().state,
            ReportState::Settled { tx_hash: tx2, block: receipt.block_number.unwrap() }
        );
        let events = m.settled_events(r).await;
        assert_eq!(events.len(), 1, "settled exactly once");
        assert_eq!(events[0].transaction_hash, Some(tx2));
        assert!(m.nonce_used(r).await);
    }
    // Nothing left to do.
    let s = step(&queue, &chain, policy, 2_000).await.unwrap();
    assert_eq!(s, Default::default());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replacement_above_the_fee_cap_is_not_sent_and_the_batch_waits() {
    let m = Market::start().await;
    let jobs = m.open_accepted_jobs(1).await;
    let queue = SqliteQueue::in_memory().unwrap();
    let r = m.report(jobs[0], 7);
    queue
        .insert(NewReport { id: r.id(), provider: r.report.provider, wire_json: r.to_json(), now: 1 })
        .unwrap();
    queue.finish_verification(&r.id(), ReportState::Verified, 1).unwrap();
    let policy = BatchPolicy { max_batch: 1, max_wait_secs: 0, replace_after_secs: 30 };
    m.set_automine(false).await;
    let uncapped = AlloyChain::new(m.rpc.clone(), m.relayer_key.clone(), m.settlement, CHAIN_ID, 1);
    let (tx1, _) = step(&queue, &uncapped, policy, 1_000).await.unwrap().sent.expect("sent");
    let first = m.rpc.get_transaction_by_hash(tx1).await.unwrap().expect("pending");

    // The cap is the original's max fee: any valid replacement (+10%) would exceed it.
    let capped = AlloyChain::new(m.rpc.clone(), m.relayer_key.clone(), m.settlement, CHAIN_ID, 1)
        .with_max_fee_cap(Some(first.max_fee_per_gas()));
    for now in [1_030, 1_031, 1_100] {
        let s = step(&queue, &capped, policy, now).await.unwrap();
        assert!(s.replaced.is_empty() && s.sent.is_none(), "nothing sent over the cap: {s:?}");
    }
    let still = m.rpc.get_transaction_by_hash(tx1).await.unwrap().expect("the original still waits");
    assert!(still.block_number.is_none());
    assert_eq!(queue.get(&r.id()).unwrap().unwrap().state, ReportState::Submitted { tx_hash: tx1 });

    // A cap that leaves room for the bump lets the replacement through, at most at the cap.
    let cap = bump_fee(first.max_fee_per_gas(), 20);
    let roomy = AlloyChain::new(m.rpc.clone(), m.relayer_key.clone(), m.settlement, CHAIN_ID, 1)
        .with_max_fee_cap(Some(cap));
    let s = step(&queue, &roomy, policy, 1_101).await.unwrap();
    let [(old, tx2)] = s.replaced[..] else { panic!("one replacement expected: {s:?}") };
    assert_eq!(old, tx1);
    let second = m.rpc.get_transaction_by_hash(tx2).await.unwrap().expect("the node took the replacement");
    assert!(
        second.max_fee_per_gas() <= cap && second.max_fee_per_gas() >= bump_fee(first.max_fee_per_gas(), 10)
    );

    m.mine().await;
    let s = step(&queue, &roomy, policy, 1_102).await.unwrap();
    assert_eq!(s.settled, 1, "{s:?}");
    assert_eq!(m.settled_events(&r).await.len(), 1);
}
