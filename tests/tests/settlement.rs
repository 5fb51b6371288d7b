//! Usage reports settled on chain by the real settlement contract, signed with the
//! off-chain crate (`market-protocol`) exactly as the provider node signs them: a normal
//! job's reports burn the used seconds and refund the rest; an impossible report is settled
//! as fraud (the provider slashed automatically); a replayed report settles once, and a
//! report signed for another deployment (another chain id) never settles.

use alloy::{
    primitives::{keccak256, Address, Bytes, U256},
    signers::local::PrivateKeySigner,
};
use devnet::accounts::ANVIL_KEYS;
use e2e::{ok, report, IComputeToken, IMarket, IVault, System};
use market_protocol::{MarketDomain, UsageReport};

alloy::sol!(
    #[sol(rpc, all_derives)]
    "../abi/ISettlement.sol"
);

const FINAL: U256 = U256::from_limbs([0, 0, 0, 1 << 63]);
const SETTLED: u8 = 3;
const SLASHED: u8 = 5;

fn provider_key() -> PrivateKeySigner {
    e2e::key(ANVIL_KEYS[1])
}

/// A report of `job` on the seeded provider's one (simulated) GPU.
fn usage(s: &System, job: U256, start: u64, end: u64, gpu_seconds: u64, nonce: U256) -> UsageReport {
    UsageReport {
        jobId: job,
        provider: s.seeded.provider,
        gpuUuidHash: s.seeded.gpu_uuid_hash,
        startTs: start,
        endTs: end,
        gpuSeconds: gpu_seconds,
        energyMilliJoules: 1_000,
        avgUtilBps: 9_000,
        evidenceDigest: s.seeded.evidence_digest,
        nonce,
    }
}

fn to_call(r: &UsageReport) -> ISettlement::UsageReport {
    ISettlement::UsageReport {
        jobId: r.jobId,
        provider: r.provider,
        gpuUuidHash: r.gpuUuidHash,
        startTs: r.startTs,
        endTs: r.endTs,
        gpuSeconds: r.gpuSeconds,
        energyMilliJoules: r.energyMilliJoules,
        avgUtilBps: r.avgUtilBps,
        evidenceDigest: r.evidenceDigest,
        nonce: r.nonce,
    }
}

/// Settles `reports` in one batch as the registry's relayer (anvil 3); returns the
/// receipt's `(settled, skipped reasons)` from the contract's events.
async fn settle(s: &System, domain: &MarketDomain, reports: &[UsageReport]) -> (usize, Vec<u8>) {
    let relayer = e2e::Role::new(&s.devnet.url(), e2e::key(ANVIL_KEYS[3]));
    let settlement = ISettlement::new(s.at("settlement"), relayer.p.clone());
    let sigs: Vec<Bytes> = reports
        .iter()
        .map(|r| Bytes::copy_from_slice(r.sign(domain, &provider_key()).unwrap().as_bytes()))
        .collect();
    let calls: Vec<_> = reports.iter().map(to_call).collect();
    let receipt = settlement.settleBatch(calls, sigs).send().await.unwrap().get_receipt().await.unwrap();
    ok(receipt.clone());
    let mut settled = 0;
    let mut skipped = Vec::new();
    for log in receipt.inner.logs() {
        if let Ok(e) = log.log_decode::<ISettlement::ReportSettled>() {
            let _ = e;
            settled += 1;
        } else if let Ok(e) = log.log_decode::<ISettlement::ReportSkipped>() {
            skipped.push(e.inner.data.reason);
        }
    }
    (settled, skipped)
}

async fn accepted_job(s: &System, usdc: u64) -> (U256, U256, u64) {
    let seconds = s.buy_seconds(U256::from(usdc)).await;
    let job = s.open_job(seconds, keccak256("job.toml")).await;
    let market = IMarket::new(s.at("market"), s.provider.p.clone());
    ok(market.acceptJob(job).send().await.unwrap().get_receipt().await.unwrap());
    let accepted_at = market.job(job).call().await.unwrap()._7;
    (job, seconds, accepted_at)
}

fn domain(s: &System) -> MarketDomain {
    MarketDomain::new(s.config.networks["devnet"].chain_id, s.at("market"))
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_burn_what_was_used_and_the_final_one_refunds_the_rest() {
    let s = System::start().await;
    let (job, seconds, t0) = accepted_job(&s, 1_000_000).await;
    let used = 600u64;
    assert!(seconds > U256::from(2 * used));
    s.advance(2 * used + 5).await;
    let reports = [
        usage(&s, job, t0, t0 + used, used, U256::from(1)),
        usage(&s, job, t0 + used, t0 + 2 * used, used, U256::from(2) | FINAL),
    ];
    let vault = IVault::new(s.at("vault"), s.anyone.p.clone());
    let locked_before = vault.operatorStake(s.seeded.provider).call().await.unwrap()._2;
    let market = IMarket::new(s.at("market"), s.anyone.p.clone());
    let (minted_before, _) =
        market.obligations(s.seeded.class_id, s.seeded.provider).call().await.unwrap().into();
    assert_eq!(settle(&s, &domain(&s), &reports).await, (2, vec![]));

    let token = IComputeToken::new(s.seeded.token, s.anyone.p.clone());
    let burned = U256::from(2 * used);
    assert_eq!(
        token.balanceOf(s.buyer.address).call().await.unwrap(),
        seconds - burned,
        "unused seconds back"
    );
    assert_eq!(market.job(job).call().await.unwrap()._8, SETTLED);
    let (minted_after, _) =
        market.obligations(s.seeded.class_id, s.seeded.provider).call().await.unwrap().into();
    assert_eq!(minted_before - minted_after, burned, "obligations drop by the burned seconds");
    let cps = s.config.classes.iter().find(|c| c.name == "H100-SXM5-80GB").unwrap().collateral_per_second;
    let locked_after = vault.operatorStake(s.seeded.provider).call().await.unwrap()._2;
    assert_eq!(locked_before - locked_after, burned * cps, "the matching stake unlocked");
    let record =
        ISettlement::new(s.at("settlement"), s.anyone.p.clone()).jobRecord(job).call().await.unwrap();
    assert_eq!(record._0, s.seeded.evidence_digest, "provenance: the evidence digest");
    report("reports settle (contract level)", &s);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_impossible_report_is_settled_as_fraud_and_slashes_the_provider() {
    let s = System::start().await;
    let (job, seconds, t0) = accepted_job(&s, 1_000_000).await;
    s.advance(100).await;
    // 100 s of wall time on one GPU cannot hold 500 GPU-seconds.
    let fraud = usage(&s, job, t0, t0 + 100, 500, U256::from(7));
    let vault = IVault::new(s.at("vault"), s.anyone.p.clone());
    let stake_before = vault.operatorStake(s.seeded.provider).call().await.unwrap()._0;
    assert_eq!(settle(&s, &domain(&s), &[fraud]).await, (0, vec![7]), "IMPOSSIBLE_USAGE");
    let market = IMarket::new(s.at("market"), s.anyone.p.clone());
    assert_eq!(market.job(job).call().await.unwrap()._8, SLASHED);
    let token = IComputeToken::new(s.seeded.token, s.anyone.p.clone());
    assert_eq!(token.balanceOf(s.buyer.address).call().await.unwrap(), seconds, "the whole escrow back");
    let cps = s.config.classes.iter().find(|c| c.name == "H100-SXM5-80GB").unwrap().collateral_per_second;
    let stake_after = vault.operatorStake(s.seeded.provider).call().await.unwrap()._0;
    assert_eq!(stake_before - stake_after, seconds.max(U256::from(500)) * cps, "slashed automatically");
    report("impossible report", &s);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_report_settles_once_and_another_deployments_report_never() {
    let s = System::start().await;
    let (job, _, t0) = accepted_job(&s, 1_000_000).await;
    s.advance(400).await;
    let r = usage(&s, job, t0, t0 + 300, 300, U256::from(11));
    assert_eq!(settle(&s, &domain(&s), std::slice::from_ref(&r)).await, (1, vec![]));
    assert_eq!(settle(&s, &domain(&s), std::slice::from_ref(&r)).await, (0, vec![2]), "NONCE_USED");
    // The same report signed for another chain (a second deployment) does not verify here.
    let other_chain = MarketDomain::new(421614, s.at("market"));
    let r2 = usage(&s, job, t0 + 300, t0 + 350, 50, U256::from(12));
    assert_eq!(settle(&s, &other_chain, std::slice::from_ref(&r2)).await, (0, vec![1]), "BAD_SIGNATURE");
    // ... nor one signed for another market address on this chain.
    let other_market = MarketDomain::new(s.config.networks["devnet"].chain_id, Address::repeat_byte(0x42));
    assert_eq!(settle(&s, &other_market, &[r2]).await, (0, vec![1]), "BAD_SIGNATURE");
    report("replay", &s);
}
