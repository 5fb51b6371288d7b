//! Native tests through `contract_testkit::TestHost`: the market, registry, settlement
//! contract, vault, court and AMM are mocked for their exact calldata (an unmocked call
//! reverts), so each test shows exactly what this contract asks of them.

use super::*;
use alloy_primitives::{address, keccak256, Address, B256, U256};
use alloy_sol_types::{sol, SolCall, SolEvent, SolValue};
use contract_testkit::TestHost;
use proptest::prelude::*;
use stylus_sdk::testing::*;

const MARKET: Address = address!("5FbDB2315678afecb367f032d93F642f64180aa3");
const ENFORCEMENT: Address = address!("9000000000000000000000000000000000000009");
const SETTLEMENT: Address = address!("6000000000000000000000000000000000000006");
const REGISTRY: Address = address!("4000000000000000000000000000000000000004");
const VAULT: Address = address!("2000000000000000000000000000000000000002");
const COURT: Address = address!("7000000000000000000000000000000000000007");
const AMM: Address = address!("8000000000000000000000000000000000000008");
const OWNER: Address = address!("a000000000000000000000000000000000000001");
const GUARDIAN: Address = address!("a000000000000000000000000000000000000002");
const RESOLVER: Address = address!("a000000000000000000000000000000000000004");
const PROVIDER: Address = address!("b000000000000000000000000000000000000001");
const BUYER: Address = address!("c000000000000000000000000000000000000001");

const PER_SECOND: u64 = 1_000;
const NOW: u64 = 20_000;
const ESCROW: u64 = 5_000;

sol! {
    interface Market {
        function job(uint256 jobId) external view returns (address, address, bytes32, uint256, bytes32, uint64, uint64, uint64, uint8);
        function refundJob(uint256 jobId) external returns (uint256);
    }
    interface Registry {
        function classInfo(bytes32 classId) external view returns (address, uint256, uint64, uint64, uint8, uint256, bool, uint256);
    }
    interface Settlement {
        function jobRecord(uint256 jobId) external view returns (bytes32, uint64, uint256);
    }
    interface Vault {
        function slash(address operator, uint256 amount, bytes32 evidenceHash, address beneficiary, uint256 compensation) external returns (uint256);
    }
    interface Court {
        function requestSlash(address operator, uint256 amount, bytes32 evidenceHash, address beneficiary, uint256 compensation) external returns (uint256);
    }
    interface Amm {
        function twap(uint256 poolId, uint32 window) external view returns (uint256, uint256);
    }
}

fn u(x: u64) -> U256 {
    U256::from(x)
}

fn class() -> B256 {
    keccak256("H100-SXM5-80GB")
}

fn evidence() -> B256 {
    keccak256("evidence")
}

fn host() -> TestHost {
    let h = TestHost::new(TestVMBuilder::new().contract_address(ENFORCEMENT).sender(OWNER).build());
    h.set_block_timestamp(NOW);
    h
}

/// The market's view of job 1: accept deadline 600.
fn job_is(h: &TestHost, job_id: U256, provider: Address, escrow: u64, st: u8) {
    let view = (BUYER, provider, class(), u(escrow), keccak256("spec"), 1u64, 600u64, 0u64, U256::from(st));
    h.mock_static_call(MARKET, Market::jobCall { jobId: job_id }.abi_encode(), Ok(view.abi_encode_params()));
}

fn record_is(h: &TestHost, settled_at: u64, burned: u64) {
    h.mock_static_call(
        SETTLEMENT,
        Settlement::jobRecordCall { jobId: u(1) }.abi_encode(),
        Ok((evidence(), settled_at, u(burned)).abi_encode_params()),
    );
}

fn enforcement(h: &TestHost) -> Enforcement {
    let mut s = Enforcement::from(h);
    h.set_sender(OWNER);
    s.constructor(OWNER, MARKET, REGISTRY, SETTLEMENT, VAULT, COURT, AMM).unwrap();
    s.set_guardian(GUARDIAN).unwrap();
    let info =
        (Address::repeat_byte(0x10), u(PER_SECOND), 600u64, 3_600u64, U256::from(15), u(0), true, u(1));
    h.mock_static_call(
        REGISTRY,
        Registry::classInfoCall { classId: class() }.abi_encode(),
        Ok(info.abi_encode_params()),
    );
    job_is(h, u(1), PROVIDER, ESCROW, 2);
    record_is(h, 0, 0);
    s
}

#[test]
fn constructor_rejects_zero_addresses() {
    let h = host();
    let mut s = Enforcement::from(&h);
    for i in 0..7 {
        let mut a = [OWNER, MARKET, REGISTRY, SETTLEMENT, VAULT, COURT, AMM];
        a[i] = Address::ZERO;
        assert_eq!(
            s.constructor(a[0], a[1], a[2], a[3], a[4], a[5], a[6]),
            Err(EnforcementError::ZeroAddress(ZeroAddress {}))
        );
    }
    s.constructor(OWNER, MARKET, REGISTRY, SETTLEMENT, VAULT, COURT, AMM).unwrap();
    assert_eq!(s.config(), (MARKET, REGISTRY, SETTLEMENT, VAULT, COURT, AMM, Address::ZERO, 0, U256::ZERO));
}

// ----- missed accept -----

fn price_class(h: &TestHost, s: &mut Enforcement, class_is_token0: bool, rate: U256) {
    h.set_sender(OWNER);
    s.set_class_pricing(class(), u(42), class_is_token0, 1_800, rate).unwrap();
}

fn twap_is(h: &TestHost, price0: U256, price1: U256) {
    h.mock_static_call(
        AMM,
        Amm::twapCall { poolId: u(42), window: 1_800 }.abi_encode(),
        Ok((price0, price1).abi_encode_params()),
    );
}

const Q112: U256 = U256::from_limbs([0, 1 << 48, 0, 0]);

#[test]
fn missed_accept_is_checked_before_slashing() {
    let h = host();
    let mut s = enforcement(&h);
    job_is(&h, u(1), PROVIDER, ESCROW, 2);
    assert_eq!(
        s.slash_missed_accept(u(1)),
        Err(EnforcementError::JobNotOpen(JobNotOpen { jobId: u(1), status: 2 }))
    );
    job_is(&h, u(1), PROVIDER, ESCROW, status::OPEN);
    h.set_block_timestamp(600);
    assert_eq!(
        s.slash_missed_accept(u(1)),
        Err(EnforcementError::AcceptWindowOpen(AcceptWindowOpen { jobId: u(1), deadline: 600 }))
    );
    h.set_block_timestamp(601);
    assert_eq!(
        s.slash_missed_accept(u(1)),
        Err(EnforcementError::PricingNotSet(PricingNotSet { classId: class() }))
    );
    price_class(&h, &mut s, true, Q112);
    // never spot: without TWAP history the AMM's revert comes back unchanged
    let too_short = [0xdeu8, 0xad].to_vec();
    h.mock_static_call(
        AMM,
        Amm::twapCall { poolId: u(42), window: 1_800 }.abi_encode(),
        Err(too_short.clone()),
    );
    assert_eq!(s.slash_missed_accept(u(1)), Err(EnforcementError::Bubbled(too_short)));
    h.set_sender(GUARDIAN);
    s.pause().unwrap();
    assert_eq!(s.slash_missed_accept(u(1)), Err(EnforcementError::EnforcedPause(EnforcedPause {})));
}

#[test]
fn missed_accept_refunds_the_buyer_and_pays_the_twap_priced_compensation() {
    let h = host();
    let mut s = enforcement(&h);
    job_is(&h, u(1), PROVIDER, ESCROW, status::OPEN);
    h.set_block_timestamp(700);
    // class token is token1: its price in the stablecoin is price1 = 3 stable per second;
    // collateral worth 2 stable: 5_000 s -> 15_000 stable -> 7_500 collateral
    price_class(&h, &mut s, false, Q112 >> 1);
    twap_is(&h, Q112 / u(3), Q112 * u(3));
    let compensation = u(7_500);
    let amount = u(ESCROW * PER_SECOND); // 5_000_000 > compensation
    h.mock_call(
        MARKET,
        Market::refundJobCall { jobId: u(1) }.abi_encode(),
        U256::ZERO,
        Ok(u(ESCROW).abi_encode()),
    );
    let evidence = keccak256([*b"GpuComputeMarket:missed-accept\0\0", u(1).to_be_bytes()].concat());
    h.mock_call(
        VAULT,
        Vault::slashCall {
            operator: PROVIDER,
            amount,
            evidenceHash: evidence,
            beneficiary: BUYER,
            compensation,
        }
        .abi_encode(),
        U256::ZERO,
        Ok(u(4_000_000).abi_encode()),
    );
    h.set_sender(BUYER);
    assert_eq!(s.slash_missed_accept(u(1)), Ok(u(4_000_000)));
    let (topics, data) = h.get_emitted_logs().last().unwrap().clone();
    assert_eq!(topics, vec![MissedAcceptSlashed::SIGNATURE_HASH, B256::from(u(1)), PROVIDER.into_word()]);
    assert_eq!(data, (u(ESCROW), compensation, u(4_000_000)).abi_encode_params());
    assert_eq!(s.class_pricing(class()), (u(42), false, 1_800, Q112 >> 1));
}

// ----- abandoned jobs -----

/// Job 1 accepted at `accepted_at` with `escrow` seconds left.
fn accepted_job_is(h: &TestHost, escrow: u64, accepted_at: u64) {
    let view =
        (BUYER, PROVIDER, class(), u(escrow), keccak256("spec"), 1u64, 600u64, accepted_at, U256::from(2));
    h.mock_static_call(MARKET, Market::jobCall { jobId: u(1) }.abi_encode(), Ok(view.abi_encode_params()));
}

#[test]
fn abandoned_job_waits_for_the_work_and_the_report_delay() {
    let h = host();
    let mut s = enforcement(&h);
    price_class(&h, &mut s, true, Q112);
    job_is(&h, u(1), PROVIDER, ESCROW, status::OPEN);
    assert_eq!(
        s.slash_abandoned_job(u(1)),
        Err(EnforcementError::JobNotAccepted(JobNotAccepted { jobId: u(1), status: status::OPEN }))
    );
    // Accepted at 1_000 with 5_000 s escrowed, report delay 3_600: abandoned after 9_600.
    accepted_job_is(&h, ESCROW, 1_000);
    h.set_block_timestamp(9_600);
    assert_eq!(
        s.slash_abandoned_job(u(1)),
        Err(EnforcementError::JobNotAbandoned(JobNotAbandoned { jobId: u(1), deadline: 9_600 }))
    );
    // A report settled at 9_000 (2_000 s left) moves the deadline to 14_600.
    accepted_job_is(&h, 2_000, 1_000);
    record_is(&h, 9_000, 3_000);
    h.set_block_timestamp(14_600);
    assert_eq!(
        s.slash_abandoned_job(u(1)),
        Err(EnforcementError::JobNotAbandoned(JobNotAbandoned { jobId: u(1), deadline: 14_600 }))
    );
    h.set_sender(GUARDIAN);
    s.pause().unwrap();
    h.set_block_timestamp(20_000);
    assert_eq!(s.slash_abandoned_job(u(1)), Err(EnforcementError::EnforcedPause(EnforcedPause {})));
}

#[test]
fn abandoned_job_refunds_the_buyer_and_slashes_the_provider() {
    let h = host();
    let mut s = enforcement(&h);
    // class token is token0: price0 = 2 stable per second, collateral = stablecoin.
    price_class(&h, &mut s, true, Q112);
    twap_is(&h, Q112 * u(2), Q112 >> 1);
    accepted_job_is(&h, 2_000, 1_000);
    record_is(&h, 9_000, 3_000);
    h.set_block_timestamp(14_601);
    let compensation = u(4_000); // 2_000 s x 2
    let amount = u(2_000 * PER_SECOND);
    h.mock_call(
        MARKET,
        Market::refundJobCall { jobId: u(1) }.abi_encode(),
        U256::ZERO,
        Ok(u(2_000).abi_encode()),
    );
    let evidence = keccak256([*b"GpuComputeMarket:abandoned-job\0\0", u(1).to_be_bytes()].concat());
    h.mock_call(
        VAULT,
        Vault::slashCall {
            operator: PROVIDER,
            amount,
            evidenceHash: evidence,
            beneficiary: BUYER,
            compensation,
        }
        .abi_encode(),
        U256::ZERO,
        Ok(amount.abi_encode()),
    );
    h.set_sender(Address::repeat_byte(0x77)); // anyone
    assert_eq!(s.slash_abandoned_job(u(1)), Ok(amount));
    let (topics, data) = h.get_emitted_logs().last().unwrap().clone();
    assert_eq!(topics, vec![AbandonedJobSlashed::SIGNATURE_HASH, B256::from(u(1)), PROVIDER.into_word()]);
    assert_eq!(data, (u(2_000), compensation, amount).abi_encode_params());
}

// ----- disputes -----

/// The settlement contract settled 150 s of job 1 at NOW (evidence digest `evidence()`).
fn settled_job(h: &TestHost, s: &mut Enforcement) {
    record_is(h, NOW, 150);
    h.set_sender(OWNER);
    s.set_dispute_config(RESOLVER, 86_400, u(1_000_000)).unwrap();
}

#[test]
fn the_buyer_disputes_inside_the_window_with_the_bond() {
    let h = host();
    let mut s = enforcement(&h);
    h.set_sender(BUYER);
    assert_eq!(
        s.open_dispute(u(1)),
        Err(EnforcementError::NothingToDispute(NothingToDispute { jobId: u(1) }))
    );
    settled_job(&h, &mut s);
    h.set_sender(PROVIDER);
    assert_eq!(
        s.open_dispute(u(1)),
        Err(EnforcementError::NotJobBuyer(NotJobBuyer { jobId: u(1), caller: PROVIDER }))
    );
    h.set_sender(BUYER);
    h.set_value(u(999_999));
    assert_eq!(
        s.open_dispute(u(1)),
        Err(EnforcementError::WrongBond(WrongBond { sent: u(999_999), required: u(1_000_000) }))
    );
    h.set_value(u(1_000_000));
    h.set_block_timestamp(NOW + 86_401);
    assert_eq!(
        s.open_dispute(u(1)),
        Err(EnforcementError::DisputeWindowClosed(DisputeWindowClosed {
            jobId: u(1),
            deadline: NOW + 86_400
        }))
    );
    h.set_block_timestamp(NOW + 86_400);
    s.open_dispute(u(1)).unwrap();
    assert_eq!(s.dispute(u(1)), (dispute::OPEN, u(1_000_000), U256::ZERO));
    assert_eq!(s.open_dispute(u(1)), Err(EnforcementError::DisputeExists(DisputeExists { jobId: u(1) })));
}

#[test]
fn an_upheld_dispute_requests_a_vetoable_slash_and_returns_the_bond() {
    let h = host();
    let mut s = enforcement(&h);
    settled_job(&h, &mut s);
    h.set_sender(BUYER);
    h.set_value(u(1_000_000));
    s.open_dispute(u(1)).unwrap();
    h.set_value(U256::ZERO);
    h.set_sender(BUYER);
    assert_eq!(
        s.resolve_dispute(u(1), true),
        Err(EnforcementError::NotResolver(NotResolver { caller: BUYER }))
    );
    let amount = u(150 * PER_SECOND);
    let evidence_hash = keccak256([u(1).to_be_bytes::<32>(), evidence().0].concat());
    h.mock_call(
        COURT,
        Court::requestSlashCall {
            operator: PROVIDER,
            amount,
            evidenceHash: evidence_hash,
            beneficiary: BUYER,
            compensation: amount,
        }
        .abi_encode(),
        U256::ZERO,
        Ok(u(9).abi_encode()),
    );
    h.mock_call(BUYER, Vec::new(), u(1_000_000), Ok(Vec::new()));
    h.set_sender(RESOLVER);
    h.take_calls();
    assert_eq!(s.resolve_dispute(u(1), true), Ok(u(9)));
    let paid: Vec<_> = h.take_calls().into_iter().filter(|c| c.to == BUYER).collect();
    assert_eq!((paid.len(), paid[0].value), (1, u(1_000_000)));
    assert_eq!(s.dispute(u(1)), (dispute::UPHELD, u(1_000_000), u(9)));
    assert_eq!(
        s.resolve_dispute(u(1), false),
        Err(EnforcementError::NoOpenDispute(NoOpenDispute { jobId: u(1) }))
    );
}

#[test]
fn a_rejected_dispute_pays_the_bond_to_the_provider() {
    let h = host();
    let mut s = enforcement(&h);
    settled_job(&h, &mut s);
    h.set_sender(BUYER);
    h.set_value(u(1_000_000));
    s.open_dispute(u(1)).unwrap();
    h.set_value(U256::ZERO);
    h.mock_call(PROVIDER, Vec::new(), u(1_000_000), Ok(Vec::new()));
    h.set_sender(RESOLVER);
    h.take_calls();
    assert_eq!(s.resolve_dispute(u(1), false), Ok(U256::ZERO));
    let calls = h.take_calls();
    assert!(calls.iter().all(|c| c.to != COURT), "no slash requested");
    assert!(calls.iter().any(|c| c.to == PROVIDER && c.value == u(1_000_000)));
    assert_eq!(s.dispute(u(1)).0, dispute::REJECTED);
}

#[test]
fn guardian_pauses_and_ownership_moves_in_two_steps() {
    let h = host();
    let mut s = enforcement(&h);
    h.set_sender(OWNER);
    assert_eq!(s.pause(), Err(EnforcementError::NotGuardian(NotGuardian { caller: OWNER })));
    h.set_sender(GUARDIAN);
    s.pause().unwrap();
    assert!(s.paused());
    h.set_sender(BUYER);
    assert_eq!(s.open_dispute(u(1)), Err(EnforcementError::EnforcedPause(EnforcedPause {})));
    h.set_sender(GUARDIAN);
    s.unpause().unwrap();
    assert!(!s.paused());
    h.set_sender(BUYER);
    assert_eq!(
        s.set_class_pricing(class(), u(1), true, 1, Q112),
        Err(EnforcementError::NotOwner(NotOwner { caller: BUYER }))
    );
    assert_eq!(
        s.set_dispute_config(BUYER, 1, u(1)),
        Err(EnforcementError::NotOwner(NotOwner { caller: BUYER }))
    );
    assert_eq!(s.transfer_ownership(BUYER), Err(EnforcementError::NotOwner(NotOwner { caller: BUYER })));
    h.set_sender(OWNER);
    s.transfer_ownership(RESOLVER).unwrap();
    h.set_sender(BUYER);
    assert_eq!(
        s.accept_ownership(),
        Err(EnforcementError::NotPendingOwner(NotPendingOwner { caller: BUYER }))
    );
    h.set_sender(RESOLVER);
    s.accept_ownership().unwrap();
    assert_eq!((s.owner(), s.pending_owner()), (RESOLVER, Address::ZERO));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// A missed accept compensates `seconds x TWAP` converted at the collateral rate
    /// (checked here with exact division), reads the TWAP of the configured pool and side
    /// only (never a spot price), and slashes `max(seconds x collateralPerSecond,
    /// compensation)` with the buyer as beneficiary.
    #[test]
    fn compensation_uses_the_twap(
        escrow in 1u64..1_000_000_000,
        price0 in any::<u128>(),
        price1 in any::<u128>(),
        rate in 1u128..,
        class_is_token0 in any::<bool>(),
    ) {
        let h = host();
        let mut s = enforcement(&h);
        job_is(&h, u(1), PROVIDER, escrow, status::OPEN);
        h.set_block_timestamp(601);
        price_class(&h, &mut s, class_is_token0, U256::from(rate));
        twap_is(&h, U256::from(price0), U256::from(price1));
        let price = U256::from(if class_is_token0 { price0 } else { price1 });
        let compensation = (u(escrow) * price / Q112) * U256::from(rate) / Q112;
        let amount = (u(escrow) * u(PER_SECOND)).max(compensation);
        h.mock_call(MARKET, Market::refundJobCall { jobId: u(1) }.abi_encode(), U256::ZERO, Ok(u(escrow).abi_encode()));
        let evidence = keccak256([MISSED_ACCEPT_TAG, u(1).to_be_bytes()].concat());
        h.mock_call(
            VAULT,
            Vault::slashCall { operator: PROVIDER, amount, evidenceHash: evidence, beneficiary: BUYER, compensation }
                .abi_encode(),
            U256::ZERO,
            Ok(amount.abi_encode()),
        );
        h.take_calls();
        prop_assert_eq!(s.slash_missed_accept(u(1)), Ok(amount));
        let amm_calls: Vec<_> = h.calls().into_iter().filter(|c| c.to == AMM).collect();
        prop_assert_eq!(amm_calls.len(), 1);
        prop_assert_eq!(&amm_calls[0].data, &Amm::twapCall { poolId: u(42), window: 1_800 }.abi_encode());
        let (_, data) = h.get_emitted_logs().last().unwrap().clone();
        prop_assert_eq!(data, (u(escrow), compensation, amount).abi_encode_params());
    }
}

/// The hand-written router (`router.rs`) against the committed ABI: every function of
/// `abi/IEnforcement.sol` is routed, routed answers are the direct ones in the ABI
/// encoding, value reaches `openDispute` only, and calldata that does not decode reverts
/// with empty data and changes nothing.
mod routing {
    use super::*;
    use alloy_sol_types::SolInterface;
    use stylus_sdk::{abi::Router, ArbResult};

    alloy_sol_types::sol!("../../abi/IEnforcement.sol");

    fn route(h: &TestHost, call: &[u8]) -> Option<ArbResult> {
        let sel = u32::from_be_bytes(call[..4].try_into().unwrap());
        <Enforcement as Router<Enforcement>>::route(&mut Enforcement::from(h), sel, &call[4..])
    }

    /// A routed call that must succeed, decoded as its return values.
    fn ok<C: SolCall>(h: &TestHost, call: C) -> C::Return {
        let ret = route(h, &call.abi_encode()).expect("routed").expect("succeeds");
        C::abi_decode_returns(&ret).expect("ABI-encoded returns")
    }

    fn err(h: &TestHost, call: impl SolCall) -> IEnforcement::IEnforcementErrors {
        let data = route(h, &call.abi_encode()).expect("routed").unwrap_err();
        IEnforcement::IEnforcementErrors::abi_decode(&data).expect("a custom error")
    }

    #[test]
    fn every_abi_function_is_routed_and_unknown_selectors_are_not() {
        let h = host();
        let _s = enforcement(&h);
        assert_eq!(IEnforcement::IEnforcementCalls::SELECTORS.len(), 18);
        for sel in IEnforcement::IEnforcementCalls::SELECTORS {
            // Without arguments a function either runs (it takes none) or reverts empty.
            assert!(route(&h, sel).is_some(), "selector {sel:02x?} is not routed");
        }
        assert!(route(&h, &[0xde, 0xad, 0xbe, 0xef]).is_none());
    }

    #[test]
    fn routed_calls_return_what_direct_calls_do_and_the_bond_reaches_open_dispute() {
        let h = host();
        let s = enforcement(&h);
        h.set_sender(OWNER);
        let pricing = IEnforcement::setClassPricingCall {
            classId: class(),
            poolId: u(42),
            classIsToken0: true,
            twapWindow: 1_800,
            collateralPerStable: u(7),
        };
        ok(&h, pricing);
        let p = ok(&h, IEnforcement::classPricingCall { classId: class() });
        assert_eq!((p._0, p._1, p._2, p._3), s.class_pricing(class()));
        assert_eq!((p._0, p._1, p._2, p._3), (u(42), true, 1_800, u(7)));
        ok(&h, IEnforcement::setDisputeConfigCall { resolver: RESOLVER, window: 86_400, bond: u(1_000_000) });
        let c = ok(&h, IEnforcement::configCall {});
        assert_eq!((c._0, c._1, c._2, c._3, c._4, c._5, c._6, c._7, c._8), s.config());
        assert_eq!((c._6, c._7, c._8), (RESOLVER, 86_400, u(1_000_000)));

        // The bond travels with openDispute through the router.
        record_is(&h, NOW, 150);
        h.set_sender(BUYER);
        h.set_value(u(1_000_000));
        ok(&h, IEnforcement::openDisputeCall { jobId: u(1) });
        h.set_value(U256::ZERO);
        let d = ok(&h, IEnforcement::disputeCall { jobId: u(1) });
        assert_eq!((d._0, d._1, d._2), s.dispute(u(1)));
        assert_eq!((d._0, d._1), (dispute::OPEN, u(1_000_000)));
        h.mock_call(PROVIDER, Vec::new(), u(1_000_000), Ok(Vec::new()));
        h.set_sender(RESOLVER);
        assert_eq!(ok(&h, IEnforcement::resolveDisputeCall { jobId: u(1), upheld: false }), U256::ZERO);
        assert_eq!(s.dispute(u(1)).0, dispute::REJECTED);

        h.set_sender(GUARDIAN);
        ok(&h, IEnforcement::pauseCall {});
        assert!(ok(&h, IEnforcement::pausedCall {}));
        ok(&h, IEnforcement::unpauseCall {});
        assert!(!s.paused());
        assert_eq!(ok(&h, IEnforcement::guardianCall {}), GUARDIAN);
        h.set_sender(OWNER);
        ok(&h, IEnforcement::transferOwnershipCall { newOwner: BUYER });
        assert_eq!(ok(&h, IEnforcement::pendingOwnerCall {}), BUYER);
        h.set_sender(BUYER);
        ok(&h, IEnforcement::acceptOwnershipCall {});
        assert_eq!(ok(&h, IEnforcement::ownerCall {}), BUYER);
        ok(&h, IEnforcement::setGuardianCall { guardian: PROVIDER });
        assert_eq!(s.guardian(), PROVIDER);
    }

    #[test]
    fn routed_errors_are_the_contracts_custom_errors() {
        let h = host();
        let _s = enforcement(&h);
        job_is(&h, u(1), PROVIDER, ESCROW, 2);
        match err(&h, IEnforcement::slashMissedAcceptCall { jobId: u(1) }) {
            IEnforcement::IEnforcementErrors::JobNotOpen(e) => assert_eq!((e.jobId, e.status), (u(1), 2)),
            _ => panic!("expected JobNotOpen"),
        }
        h.set_sender(BUYER);
        match err(&h, IEnforcement::openDisputeCall { jobId: u(1) }) {
            IEnforcement::IEnforcementErrors::NothingToDispute(e) => assert_eq!(e.jobId, u(1)),
            _ => panic!("expected NothingToDispute"),
        }
        match err(&h, IEnforcement::resolveDisputeCall { jobId: u(1), upheld: true }) {
            IEnforcement::IEnforcementErrors::NotResolver(e) => assert_eq!(e.caller, BUYER),
            _ => panic!("expected NotResolver"),
        }
    }

    #[test]
    fn value_is_refused_by_every_function_but_open_dispute() {
        let h = host();
        let s = enforcement(&h);
        h.set_value(u(1));
        h.set_sender(OWNER);
        let config =
            IEnforcement::setDisputeConfigCall { resolver: RESOLVER, window: 1, bond: u(1) }.abi_encode();
        assert!(matches!(route(&h, &config), Some(Err(_))));
        assert_eq!(s.config().6, Address::ZERO, "nothing was configured");
        h.set_sender(GUARDIAN);
        assert!(matches!(route(&h, &IEnforcement::pauseCall {}.abi_encode()), Some(Err(_))));
        assert!(!s.paused());
        assert!(matches!(route(&h, &IEnforcement::ownerCall {}.abi_encode()), Some(Err(_))));
        h.set_value(U256::ZERO);
        assert_eq!(ok(&h, IEnforcement::ownerCall {}), OWNER);
    }

    #[test]
    fn malformed_calldata_reverts_empty_and_changes_nothing() {
        let h = host();
        let s = enforcement(&h);
        h.set_sender(OWNER);
        let good = IEnforcement::setClassPricingCall {
            classId: class(),
            poolId: u(42),
            classIsToken0: true,
            twapWindow: 1_800,
            collateralPerStable: u(7),
        }
        .abi_encode();
        let mut two = good.clone();
        two[4 + 2 * 32 + 31] = 2; // classIsToken0 = 2
        let mut wide = good.clone();
        wide[4 + 3 * 32 + 27] = 1; // twapWindow above 2^32
        for bad in [&two[..], &wide[..], &good[..good.len() - 1], &good[..4]] {
            assert_eq!(route(&h, bad), Some(Err(Vec::new())));
        }
        assert_eq!(s.class_pricing(class()), (U256::ZERO, false, 0, U256::ZERO));
        let mut dirty =
            IEnforcement::setDisputeConfigCall { resolver: RESOLVER, window: 1, bond: u(1) }.abi_encode();
        dirty[4 + 32 + 20] = 1; // window above 2^64
        assert_eq!(route(&h, &dirty), Some(Err(Vec::new())));
        assert_eq!(s.config().6, Address::ZERO);
    }

    #[test]
    fn the_constructor_runs_once_with_checked_arguments() {
        let construct = |h: &TestHost, args: &[u8]| {
            <Enforcement as Router<Enforcement>>::constructor(&mut Enforcement::from(h), args)
        };
        let all = [OWNER, MARKET, REGISTRY, SETTLEMENT, VAULT, COURT, AMM];
        // Each failure on a fresh host: the test VM does not roll back the constructor
        // guard's slot as a reverted deployment would.
        let mut zero = all;
        zero[6] = Address::ZERO;
        let e = construct(&host(), &zero.abi_encode_params()).unwrap().unwrap_err();
        assert!(matches!(
            IEnforcement::IEnforcementErrors::abi_decode(&e),
            Ok(IEnforcement::IEnforcementErrors::ZeroAddress(_))
        ));
        let good = all.abi_encode_params();
        let mut dirty = good.clone();
        dirty[5 * 32] = 1;
        assert_eq!(construct(&host(), &dirty), Some(Err(Vec::new())));
        assert_eq!(construct(&host(), &good[..good.len() - 1]), Some(Err(Vec::new())));
        let h = host();
        h.set_value(u(1));
        assert!(matches!(construct(&h, &good), Some(Err(_))), "the constructor is not payable");
        let h = host();
        assert_eq!(construct(&h, &good), Some(Ok(Vec::new())));
        let s = Enforcement::from(&h);
        assert_eq!((s.owner(), s.config().0, s.config().5), (OWNER, MARKET, AMM));
        assert!(matches!(construct(&h, &good), Some(Err(_))), "a second construction is refused");
    }
}
