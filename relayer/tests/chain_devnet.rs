//! The alloy `SettlementChain` against the in-process devnet: a real signed EIP-1559
//! transaction, broadcast raw, mined, its receipt and events read back into the queue.
//! The market here is a tiny EVM contract that emits fixed `ReportSettled` /
//! `ReportSkipped` events, so this checks the transaction and event plumbing in isolation;
//! `fee_bump_devnet`, `crash_devnet` and `two_relayers_pg` settle into the real contracts.

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;
use alloy_primitives::{keccak256, Address, B256, U256};
use market_protocol::bindings::Settlement::{ReportSettled, ReportSkipped};
use market_protocol::{Evidence, MarketDomain, SignedReport, UsageReport};
use relayer::chain::AlloyChain;
use relayer::queue::{NewReport, ReportQueue, ReportState, SqliteQueue};
use relayer::settlement::{step, BatchPolicy};

const CHAIN_ID: u64 = 412346;

fn push32(code: &mut Vec<u8>, word: B256) {
    code.push(0x7f);
    code.extend_from_slice(word.as_slice());
}

/// Runtime code: for each (topics, data words) emit LOG4, then STOP.
fn emitter(logs: &[([B256; 4], Vec<B256>)]) -> Vec<u8> {
    let mut code = Vec::new();
    for (topics, data) in logs {
        for (i, w) in data.iter().enumerate() {
            push32(&mut code, *w);
            code.extend_from_slice(&[0x60, (i * 32) as u8, 0x52]); // PUSH1 off, MSTORE
        }
        for t in topics.iter().rev() {
            push32(&mut code, *t);
        }
        code.extend_from_slice(&[0x60, (data.len() * 32) as u8, 0x60, 0x00, 0xa4]);
        // size, offset, LOG4
    }
    code.push(0x00);
    code
}

fn init_code(runtime: &[u8]) -> Vec<u8> {
    let n = u16::try_from(runtime.len()).unwrap().to_be_bytes();
    let mut code = vec![0x61, n[0], n[1], 0x80, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3];
    code.extend_from_slice(runtime);
    code
}

fn word(v: u64) -> B256 {
    B256::from(U256::from(v))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_is_signed_sent_mined_and_its_events_settle_the_queue() {
    let devnet = devnet::spawn(devnet::DevnetConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        chain_id: CHAIN_ID,
        ..Default::default()
    })
    .await
    .expect("devnet starts");
    let url: alloy::transports::http::reqwest::Url = devnet.url().parse().unwrap();
    let deployer: PrivateKeySigner = devnet::accounts::ANVIL_KEYS[1].parse().unwrap();
    let relayer_key: PrivateKeySigner = devnet::accounts::ANVIL_KEYS[2].parse().unwrap();
    let provider_key = PrivateKeySigner::from_bytes(&B256::repeat_byte(7)).unwrap();
    let p = provider_key.address();

    // Events for report nonce 0 (settled) and nonce 1 (skipped NONCE_USED); nonce 2 gets none.
    let job = U256::from(5);
    let settled = (
        [ReportSettled::SIGNATURE_HASH, B256::from(job), p.into_word(), word(0)],
        vec![word(600), word(0), B256::repeat_byte(0xEE)],
    );
    let skipped = ([ReportSkipped::SIGNATURE_HASH, B256::from(job), p.into_word(), word(1)], vec![word(2)]);
    let deployer_rpc =
        ProviderBuilder::new().wallet(EthereumWallet::from(deployer)).connect_http(url.clone());
    let receipt = deployer_rpc
        .send_transaction(
            TransactionRequest::default().with_deploy_code(init_code(&emitter(&[settled, skipped]))),
        )
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let market: Address = receipt.contract_address.expect("deployed");

    let queue = SqliteQueue::in_memory().unwrap();
    let domain = MarketDomain::new(CHAIN_ID, market);
    let mut ids = Vec::new();
    for nonce in 0..3u64 {
        let report = UsageReport {
            jobId: job,
            provider: p,
            gpuUuidHash: keccak256("GPU-0"),
            startTs: 0,
            endTs: 600,
            gpuSeconds: 600,
            energyMilliJoules: 1,
            avgUtilBps: 1,
            evidenceDigest: B256::repeat_byte(0xEE),
            nonce: U256::from(nonce),
        };
        let signature = report.sign(&domain, &provider_key).unwrap();
        let r = SignedReport { domain, report, signature, evidence: vec![Evidence::none()] };
        queue.insert(NewReport { id: r.id(), provider: p, wire_json: r.to_json(), now: 1 }).unwrap();
        queue.finish_verification(&r.id(), ReportState::Verified, 1).unwrap();
        ids.push(r.id());
    }

    let rpc = ProviderBuilder::new().connect_http(url).erased();
    let chain = AlloyChain::new(rpc.clone(), relayer_key, market, CHAIN_ID, 1);
    let policy = BatchPolicy { max_batch: 3, max_wait_secs: 60, replace_after_secs: 0 };
    let s = step(&queue, &chain, policy, 2).await.unwrap();
    let (tx, n) = s.sent.expect("a full batch is sent");
    assert_eq!(n, 3);
    let mined = rpc.get_transaction_receipt(tx).await.unwrap().expect("the devnet mined the raw transaction");
    assert!(mined.status());
    assert_eq!(mined.from, chain.relayer_address());
    let block = mined.block_number.unwrap();

    let s = step(&queue, &chain, policy, 3).await.unwrap();
    assert_eq!((s.settled, s.skipped, s.requeued), (1, 1, 1), "{s:?}");
    let state = |i: usize| queue.get(&ids[i]).unwrap().unwrap().state;
    assert_eq!(state(0), ReportState::Settled { tx_hash: tx, block });
    assert_eq!(state(1), ReportState::Skipped { tx_hash: tx, block, reason: 2 });
    assert_eq!(state(2), ReportState::Verified, "no event: back in the queue");
}
