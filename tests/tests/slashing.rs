//! Faults that no usage report covers, end to end on the real wasm: a missed accept, an
//! accepted job abandoned by its provider, and a staker's withdrawal caught by a slash
//! during its delay. The buyer swaps USDC for H100 seconds in the real AMM pool first, and
//! compensation is priced at that pool's TWAP.

use alloy::primitives::{keccak256, U256};
use e2e::{ok, report, IAmm, IComputeToken, IEnforcement, IMarket, IMockErc20, IVault, System};

const SLASHED: u8 = 5;

/// The class token's TWAP price in USDC (UQ112x112) over the enforcement's window.
async fn twap_price(s: &System) -> U256 {
    let amm = IAmm::new(s.at("amm"), s.anyone.p.clone());
    let pool = U256::from_be_bytes(s.seeded.pool_id.expect("a pool").0);
    let t = amm.twap(pool, s.config.twap_window).call().await.unwrap();
    if s.seeded.token < s.at("stablecoin") {
        t._0
    } else {
        t._1
    }
}

/// `seconds x price x rate` with both factors UQ112x112, each step rounded down: the
/// compensation rule of contracts/enforcement, computed independently here.
fn compensation(s: &System, seconds: U256, price: U256) -> U256 {
    let rate = s.config.networks["devnet"].collateral_per_stable << 112;
    (((seconds * price) >> 112) * rate) >> 112
}

fn h100_collateral_per_second(s: &System) -> U256 {
    s.config.classes.iter().find(|c| c.name == "H100-SXM5-80GB").unwrap().collateral_per_second
}

#[tokio::test(flavor = "multi_thread")]
async fn missed_accept_refunds_the_escrow_and_pays_twap_compensation_from_stake() {
    let s = System::start().await;
    let seconds = s.buy_seconds(U256::from(1_000_000u64)).await; // 1 USDC of H100 seconds
    assert!(seconds > U256::ZERO);
    let job = s.open_job(seconds, keccak256("train.toml")).await;
    let token = IComputeToken::new(s.seeded.token, s.buyer.p.clone());
    assert_eq!(token.balanceOf(s.buyer.address).call().await.unwrap(), U256::ZERO, "escrowed");

    // The provider node is down. Inside the accept window nobody can slash.
    let enforcement = IEnforcement::new(s.at("enforcement"), s.anyone.p.clone());
    let err = enforcement.slashMissedAccept(job).call().await.unwrap_err();
    assert!(matches!(
        err.as_decoded_interface_error::<IEnforcement::IEnforcementErrors>(),
        Some(IEnforcement::IEnforcementErrors::AcceptWindowOpen(_))
    ));

    // After the window (and with the TWAP window covered), anyone slashes.
    s.advance(s.config.twap_window as u64 + 60).await;
    let price = twap_price(&s).await;
    let expected_compensation = compensation(&s, seconds, price);
    let expected_slash = (seconds * h100_collateral_per_second(&s)).max(expected_compensation);
    let vault = IVault::new(s.at("vault"), s.anyone.p.clone());
    let collateral = IMockErc20::new(s.at("collateral"), s.anyone.p.clone());
    let stake_before = vault.operatorStake(s.seeded.provider).call().await.unwrap()._0;
    let buyer_collateral_before = collateral.balanceOf(s.buyer.address).call().await.unwrap();
    let call = enforcement.slashMissedAccept(job);
    assert_eq!(call.call().await.unwrap(), expected_slash, "the slash is covered by the stake");
    ok(call.send().await.unwrap().get_receipt().await.unwrap());

    assert_eq!(token.balanceOf(s.buyer.address).call().await.unwrap(), seconds, "escrow refunded");
    assert_eq!(
        collateral.balanceOf(s.buyer.address).call().await.unwrap(),
        buyer_collateral_before + expected_compensation,
        "compensation at the TWAP, paid from the provider's stake"
    );
    let stake_after = vault.operatorStake(s.seeded.provider).call().await.unwrap()._0;
    assert_eq!(stake_before - stake_after, expected_slash);
    let market = IMarket::new(s.at("market"), s.anyone.p.clone());
    assert_eq!(market.job(job).call().await.unwrap()._8, SLASHED);
    // Once is all: the job is no longer open.
    assert!(enforcement.slashMissedAccept(job).call().await.is_err());
    report("missed accept", &s);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_accepted_job_never_reported_is_slashed_after_its_work_and_report_delay() {
    let s = System::start().await;
    let seconds = s.buy_seconds(U256::from(500_000u64)).await;
    let job = s.open_job(seconds, keccak256("render.toml")).await;
    let market = IMarket::new(s.at("market"), s.provider.p.clone());
    ok(market.acceptJob(job).send().await.unwrap().get_receipt().await.unwrap());
    let accepted_at = market.job(job).call().await.unwrap()._7;

    let enforcement = IEnforcement::new(s.at("enforcement"), s.anyone.p.clone());
    let delay = s.config.classes.iter().find(|c| c.name == "H100-SXM5-80GB").unwrap().max_report_delay;
    let deadline = accepted_at + seconds.to::<u64>() + delay;
    let err = enforcement.slashAbandonedJob(job).call().await.unwrap_err();
    match err.as_decoded_interface_error::<IEnforcement::IEnforcementErrors>() {
        Some(IEnforcement::IEnforcementErrors::JobNotAbandoned(e)) => assert_eq!(e.deadline, deadline),
        other => panic!("expected JobNotAbandoned, got {other:?}"),
    }

    let now = s.now().await;
    s.advance(deadline - now + 1).await;
    let price = twap_price(&s).await;
    let expected_slash = (seconds * h100_collateral_per_second(&s)).max(compensation(&s, seconds, price));
    let call = enforcement.slashAbandonedJob(job);
    assert_eq!(call.call().await.unwrap(), expected_slash);
    ok(call.send().await.unwrap().get_receipt().await.unwrap());
    let token = IComputeToken::new(s.seeded.token, s.anyone.p.clone());
    assert_eq!(token.balanceOf(s.buyer.address).call().await.unwrap(), seconds, "escrow refunded");
    assert_eq!(market.job(job).call().await.unwrap()._8, SLASHED);
    report("abandoned job", &s);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_withdrawal_queued_before_a_slash_pays_the_slashed_amount() {
    let s = System::start().await;
    // A delegator (anyone) stakes 500 mLRT with the provider, then queues all of it.
    let e18 = U256::from(10u64).pow(U256::from(18u64));
    let deposit = U256::from(500u64) * e18;
    let collateral = IMockErc20::new(s.at("collateral"), s.anyone.p.clone());
    let vault = IVault::new(s.at("vault"), s.anyone.p.clone());
    ok(collateral.mint(s.anyone.address, deposit).send().await.unwrap().get_receipt().await.unwrap());
    ok(collateral.approve(s.at("vault"), deposit).send().await.unwrap().get_receipt().await.unwrap());
    ok(vault.deposit(deposit, s.seeded.provider).send().await.unwrap().get_receipt().await.unwrap());
    let (shares, assets) = vault.stakeOf(s.seeded.provider, s.anyone.address).call().await.unwrap().into();
    assert_eq!(assets, deposit);
    let queue = vault.queueWithdrawal(s.seeded.provider, shares);
    let id = queue.call().await.unwrap();
    ok(queue.send().await.unwrap().get_receipt().await.unwrap());

    // During the delay the provider misses an accept and is slashed.
    let seconds = s.buy_seconds(U256::from(2_000_000u64)).await;
    let job = s.open_job(seconds, keccak256("eval.toml")).await;
    s.advance(s.config.twap_window as u64 + 60).await;
    let (active, queued, _) = vault.operatorStake(s.seeded.provider).call().await.unwrap().into();
    assert_eq!(queued, deposit, "the queued withdrawal is still slashable");
    let enforcement = IEnforcement::new(s.at("enforcement"), s.anyone.p.clone());
    let call = enforcement.slashMissedAccept(job);
    let slashed = call.call().await.unwrap();
    ok(call.send().await.unwrap().get_receipt().await.unwrap());
    // The vault's rule: the active pool takes ceil(slashed·A/(A+Q)), the queue the rest.
    let active_cut = (slashed * active).div_ceil(active + queued);
    let expected_claim = deposit - (slashed - active_cut);
    assert!(expected_claim < deposit);

    // After the delay the claim pays what is left of it, not the amount queued.
    let claim = vault.claim(id);
    assert!(claim.call().await.is_err(), "not before the delay");
    s.advance(s.config.withdrawal_delay).await;
    let before = collateral.balanceOf(s.anyone.address).call().await.unwrap();
    assert_eq!(claim.call().await.unwrap(), expected_claim);
    ok(claim.send().await.unwrap().get_receipt().await.unwrap());
    assert_eq!(collateral.balanceOf(s.anyone.address).call().await.unwrap(), before + expected_claim);
    report("withdrawal under a pending slash", &s);
}
