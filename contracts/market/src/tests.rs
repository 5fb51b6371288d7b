//! Native tests through `contract_testkit::TestHost`: every call to the registry, the
//! vault and the token is mocked for its exact calldata (an unmocked call reverts), and
//! `host.calls()` shows what the market sent.

use super::*;
use alloy_primitives::{address, keccak256, Address, B256, U256};
use alloy_sol_types::{sol, SolCall, SolEvent, SolValue};
use contract_testkit::{CallKind, TestHost};
use proptest::prelude::*;
use stylus_sdk::testing::*;

const MARKET: Address = address!("3000000000000000000000000000000000000003");
const VAULT: Address = address!("2000000000000000000000000000000000000002");
const REGISTRY: Address = address!("4000000000000000000000000000000000000004");
const TOKEN: Address = address!("1000000000000000000000000000000000000001");
const OWNER: Address = address!("a000000000000000000000000000000000000001");
const GUARDIAN: Address = address!("a000000000000000000000000000000000000002");
const P1: Address = address!("b000000000000000000000000000000000000001");
const P2: Address = address!("b000000000000000000000000000000000000002");
const BUYER: Address = address!("c000000000000000000000000000000000000001");

const PER_SECOND: u64 = 1_000; // collateral units per GPU-second
const ACCEPT_WINDOW: u64 = 600;

sol! {
    interface Registry {
        function classInfo(bytes32 classId) external view returns (address, uint256, uint64, uint64, uint8, uint256, bool, uint256);
        function providerInfo(bytes32 classId, address provider) external view returns (bool, address, bytes32, uint64);
        function providerAt(bytes32 classId, uint256 index) external view returns (address);
    }
    interface Vault {
        function freeStake(address operator) external view returns (uint256);
        function lock(address operator, uint256 amount) external;
        function unlock(address operator, uint256 amount) external;
    }
    interface MarketHooks {
        function settleUsage(uint256 jobId, uint256 gpuSeconds, bool isFinal) external returns (uint256, uint256);
    }
    interface Token {
        function mint(address to, uint256 value) external;
        function burn(uint256 value) external;
        function transferFrom(address from, address to, uint256 value) external returns (bool);
        function transfer(address to, uint256 value) external returns (bool);
    }
}

fn u(x: u64) -> U256 {
    U256::from(x)
}

fn class() -> B256 {
    keccak256("H100-SXM5-80GB")
}

fn host() -> TestHost {
    TestHost::new(TestVMBuilder::new().contract_address(MARKET).sender(OWNER).build())
}

/// The registry lists the class (active or not) with `providers` registered in order.
fn registry_lists(h: &TestHost, active: bool, providers: &[Address]) {
    let info = (
        TOKEN,
        u(PER_SECOND),
        ACCEPT_WINDOW,
        3_600u64,
        U256::from(0b1111),
        u(10_000),
        active,
        U256::from(providers.len()),
    );
    h.mock_static_call(
        REGISTRY,
        Registry::classInfoCall { classId: class() }.abi_encode(),
        Ok(info.abi_encode_params()),
    );
    for (i, p) in providers.iter().enumerate() {
        h.mock_static_call(
            REGISTRY,
            Registry::providerAtCall { classId: class(), index: U256::from(i) }.abi_encode(),
            Ok(p.abi_encode()),
        );
        h.mock_static_call(
            REGISTRY,
            Registry::providerInfoCall { classId: class(), provider: *p }.abi_encode(),
            Ok((true, *p, B256::ZERO, 1u64).abi_encode_params()),
        );
    }
}

fn free_stake(h: &TestHost, operator: Address, free: u64) {
    h.mock_static_call(VAULT, Vault::freeStakeCall { operator }.abi_encode(), Ok(u(free).abi_encode()));
}

fn ok(h: &TestHost, to: Address, call: Vec<u8>) {
    h.mock_call(to, call, U256::ZERO, Ok(Vec::new()));
}

fn ok_true(h: &TestHost, to: Address, call: Vec<u8>) {
    h.mock_call(to, call, U256::ZERO, Ok(true.abi_encode()));
}

fn market(h: &TestHost) -> Market {
    let mut m = Market::from(h);
    h.set_sender(OWNER);
    m.constructor(OWNER, VAULT, REGISTRY).unwrap();
    m.set_guardian(GUARDIAN).unwrap();
    registry_lists(h, true, &[P1, P2]);
    m
}

/// Mints with everything mocked to succeed: plenty of free stake, lock and mint accepted.
fn mint(h: &TestHost, m: &mut Market, p: Address, seconds: u64) -> Result<(), MarketError> {
    h.set_sender(p);
    free_stake(h, p, 1_000_000_000);
    ok(h, VAULT, Vault::lockCall { operator: p, amount: u(seconds) * u(PER_SECOND) }.abi_encode());
    ok(h, TOKEN, Token::mintCall { to: p, value: u(seconds) }.abi_encode());
    m.mint(class(), u(seconds))
}

fn open(h: &TestHost, m: &mut Market, provider: Address, seconds: u64) -> Result<U256, MarketError> {
    h.set_sender(BUYER);
    ok_true(h, TOKEN, Token::transferFromCall { from: BUYER, to: MARKET, value: u(seconds) }.abi_encode());
    m.open_job(class(), u(seconds), provider, keccak256("spec"))
}

fn last_log(vm: &TestHost) -> (Vec<B256>, Vec<u8>) {
    vm.get_emitted_logs().last().unwrap().clone()
}

#[test]
fn constructor_rejects_zero_addresses() {
    let h = host();
    let mut m = Market::from(&h);
    assert_eq!(m.constructor(Address::ZERO, VAULT, REGISTRY), Err(MarketError::ZeroAddress(ZeroAddress {})));
    assert_eq!(m.constructor(OWNER, Address::ZERO, REGISTRY), Err(MarketError::ZeroAddress(ZeroAddress {})));
    assert_eq!(m.constructor(OWNER, VAULT, Address::ZERO), Err(MarketError::ZeroAddress(ZeroAddress {})));
    m.constructor(OWNER, VAULT, REGISTRY).unwrap();
    assert_eq!((m.owner(), m.vault(), m.registry()), (OWNER, VAULT, REGISTRY));
}

#[test]
fn minting_is_bounded_by_free_stake_and_locks_it() {
    let h = host();
    let mut m = market(&h);
    h.set_sender(BUYER);
    h.mock_static_call(
        REGISTRY,
        Registry::providerInfoCall { classId: class(), provider: BUYER }.abi_encode(),
        Ok((false, Address::ZERO, B256::ZERO, 0u64).abi_encode_params()),
    );
    assert_eq!(
        m.mint(class(), u(1)),
        Err(MarketError::NotRegistered(NotRegistered { provider: BUYER, classId: class() }))
    );
    h.set_sender(P1);
    free_stake(&h, P1, 99 * PER_SECOND);
    assert_eq!(
        m.mint(class(), u(100)),
        Err(MarketError::InsufficientFreeStake(InsufficientFreeStake {
            free: u(99 * PER_SECOND),
            needed: u(100 * PER_SECOND)
        }))
    );
    assert_eq!(m.mint(class(), U256::ZERO), Err(MarketError::ZeroSeconds(ZeroSeconds {})));
    assert_eq!(m.mint(class(), U256::MAX), Err(MarketError::MathOverflow(MathOverflow {})));
    h.take_calls();
    mint(&h, &mut m, P1, 100).unwrap();
    assert_eq!(m.obligations(class(), P1), (u(100), U256::ZERO));
    // the stake was locked in the vault, then the tokens minted to the provider
    let calls: Vec<_> = h.take_calls().into_iter().filter(|c| c.kind == CallKind::Call).collect();
    assert_eq!(calls[0].to, VAULT);
    assert_eq!(calls[0].data, Vault::lockCall { operator: P1, amount: u(100 * PER_SECOND) }.abi_encode());
    assert_eq!(calls[1].to, TOKEN);
    assert_eq!(calls[1].data, Token::mintCall { to: P1, value: u(100) }.abi_encode());
    let (topics, data) = last_log(&h);
    assert_eq!(topics, vec![ObligationsMinted::SIGNATURE_HASH, P1.into_word(), class()]);
    assert_eq!(data, (u(100), u(100 * PER_SECOND)).abi_encode_params());
    // A vault that refuses the lock reverts the mint with the vault's own revert data.
    free_stake(&h, P1, 1_000_000);
    h.mock_call(
        VAULT,
        Vault::lockCall { operator: P1, amount: u(PER_SECOND) }.abi_encode(),
        U256::ZERO,
        Err(b"vault says no".to_vec()),
    );
    assert_eq!(m.mint(class(), u(1)), Err(MarketError::Bubbled(b"vault says no".to_vec())));
    // an inactive or unknown class mints nothing
    registry_lists(&h, false, &[P1, P2]);
    assert_eq!(m.mint(class(), u(1)), Err(MarketError::ClassInactive(ClassInactive { classId: class() })));
    let nope = keccak256("nope");
    h.mock_static_call(
        REGISTRY,
        Registry::classInfoCall { classId: nope }.abi_encode(),
        Ok((Address::ZERO, U256::ZERO, 0u64, 0u64, U256::ZERO, U256::ZERO, false, U256::ZERO)
            .abi_encode_params()),
    );
    assert_eq!(m.mint(nope, u(1)), Err(MarketError::UnknownClass(UnknownClass { classId: nope })));
}

#[test]
fn jobs_go_to_the_named_provider_or_round_robin() {
    let vm = host();
    let mut m = market(&vm);
    mint(&vm, &mut m, P1, 100).unwrap();
    mint(&vm, &mut m, P2, 50).unwrap();

    // named provider without enough uncommitted obligations
    assert_eq!(
        open(&vm, &mut m, P2, 51),
        Err(MarketError::InsufficientUncommitted(InsufficientUncommitted {
            available: u(50),
            needed: u(51)
        }))
    );
    vm.mock_static_call(
        REGISTRY,
        Registry::providerInfoCall { classId: class(), provider: BUYER }.abi_encode(),
        Ok((false, Address::ZERO, B256::ZERO, 0u64).abi_encode_params()),
    );
    assert_eq!(
        open(&vm, &mut m, BUYER, 1),
        Err(MarketError::NotRegistered(NotRegistered { provider: BUYER, classId: class() }))
    );
    assert_eq!(open(&vm, &mut m, P1, 0), Err(MarketError::ZeroSeconds(ZeroSeconds {})));
    // "any": starts at P1, then P2, then wraps
    let j1 = open(&vm, &mut m, Address::ZERO, 40).unwrap();
    let j2 = open(&vm, &mut m, Address::ZERO, 40).unwrap();
    let j3 = open(&vm, &mut m, Address::ZERO, 40).unwrap();
    assert_eq!((j1, j2, j3), (u(1), u(2), u(3)));
    assert_eq!(m.job(j1).1, P1);
    assert_eq!(m.job(j2).1, P2);
    assert_eq!(m.job(j3).1, P1);
    assert_eq!(m.obligations(class(), P1).1, u(80));
    assert_eq!(m.obligations(class(), P2).1, u(40));
    // P1 has 20 left, P2 has 10: 15 skips P2 (its turn) and goes to P1
    let j4 = open(&vm, &mut m, Address::ZERO, 15).unwrap();
    assert_eq!(m.job(j4).1, P1);
    assert_eq!(
        open(&vm, &mut m, Address::ZERO, 11),
        Err(MarketError::NoProviderAvailable(NoProviderAvailable { classId: class(), gpuSeconds: u(11) }))
    );
    let (buyer, provider, class_id, escrow, spec, opened, deadline, accepted, st) = m.job(j1);
    assert_eq!((buyer, provider, class_id, escrow, spec), (BUYER, P1, class(), u(40), keccak256("spec")));
    assert_eq!((opened, deadline, accepted, st), (0, ACCEPT_WINDOW, 0, status::OPEN));
    assert_eq!(m.job_count(), u(4));
    // the buyer's token transfer failing reverts the job
    vm.set_sender(BUYER);
    vm.mock_call(
        TOKEN,
        Token::transferFromCall { from: BUYER, to: MARKET, value: u(5) }.abi_encode(),
        U256::ZERO,
        Err(vec![1, 2, 3]),
    );
    assert_eq!(m.open_job(class(), u(5), P2, B256::ZERO), Err(MarketError::Bubbled(vec![1, 2, 3])));
}

#[test]
fn accept_inside_the_window_by_the_assigned_provider_only() {
    let vm = host();
    let mut m = market(&vm);
    mint(&vm, &mut m, P1, 100).unwrap();
    vm.set_block_timestamp(1_000);
    let j = open(&vm, &mut m, P1, 10).unwrap();
    let (topics, _) = last_log(&vm);
    assert_eq!(topics, vec![JobOpened::SIGNATURE_HASH, B256::from(j), BUYER.into_word(), P1.into_word()]);
    vm.set_sender(P2);
    assert_eq!(m.accept_job(j), Err(MarketError::NotJobProvider(NotJobProvider { jobId: j, caller: P2 })));
    assert_eq!(m.accept_job(u(99)), Err(MarketError::UnknownJob(UnknownJob { jobId: u(99) })));
    vm.set_sender(P1);
    vm.set_block_timestamp(1_000 + ACCEPT_WINDOW + 1);
    assert_eq!(
        m.accept_job(j),
        Err(MarketError::AcceptWindowClosed(AcceptWindowClosed {
            jobId: j,
            deadline: 1_000 + ACCEPT_WINDOW
        }))
    );
    vm.set_block_timestamp(1_000 + ACCEPT_WINDOW);
    m.accept_job(j).unwrap();
    assert_eq!(m.job(j).8, status::ACCEPTED);
    assert_eq!(m.job(j).7, 1_000 + ACCEPT_WINDOW);
    assert_eq!(
        m.accept_job(j),
        Err(MarketError::JobNotOpen(JobNotOpen { jobId: j, status: status::ACCEPTED }))
    );
    // accepted jobs can no longer be cancelled
    vm.set_sender(BUYER);
    assert_eq!(
        m.cancel_job(j),
        Err(MarketError::JobNotOpen(JobNotOpen { jobId: j, status: status::ACCEPTED }))
    );
}

#[test]
fn cancel_refunds_the_buyer_and_frees_the_commitment() {
    let vm = host();
    let mut m = market(&vm);
    mint(&vm, &mut m, P1, 100).unwrap();
    let j = open(&vm, &mut m, P1, 30).unwrap();
    vm.set_sender(P1);
    assert_eq!(m.cancel_job(j), Err(MarketError::NotJobBuyer(NotJobBuyer { jobId: j, caller: P1 })));
    vm.set_sender(BUYER);
    ok_true(&vm, TOKEN, Token::transferCall { to: BUYER, value: u(30) }.abi_encode());
    m.cancel_job(j).unwrap();
    assert_eq!(m.job(j).8, status::CANCELLED);
    assert_eq!(m.job(j).3, U256::ZERO);
    assert_eq!(m.obligations(class(), P1).1, U256::ZERO);
    let (topics, data) = last_log(&vm);
    assert_eq!(topics, vec![JobCancelled::SIGNATURE_HASH, B256::from(j)]);
    assert_eq!(data, u(30).abi_encode());
    assert_eq!(
        m.cancel_job(j),
        Err(MarketError::JobNotOpen(JobNotOpen { jobId: j, status: status::CANCELLED }))
    );
}

#[test]
fn burning_obligations_needs_uncommitted_seconds() {
    let vm = host();
    let mut m = market(&vm);
    mint(&vm, &mut m, P1, 100).unwrap();
    open(&vm, &mut m, P1, 70).unwrap();
    vm.set_sender(P1);
    assert_eq!(
        m.burn_obligations(class(), u(31)),
        Err(MarketError::InsufficientUncommitted(InsufficientUncommitted {
            available: u(30),
            needed: u(31)
        }))
    );
    ok_true(&vm, TOKEN, Token::transferFromCall { from: P1, to: MARKET, value: u(30) }.abi_encode());
    ok(&vm, TOKEN, Token::burnCall { value: u(30) }.abi_encode());
    ok(&vm, VAULT, Vault::unlockCall { operator: P1, amount: u(30 * PER_SECOND) }.abi_encode());
    m.burn_obligations(class(), u(30)).unwrap();
    assert_eq!(m.obligations(class(), P1).0, u(70));
    let (topics, data) = last_log(&vm);
    assert_eq!(topics, vec![ObligationsBurned::SIGNATURE_HASH, P1.into_word(), class()]);
    assert_eq!(data, (u(30), u(30 * PER_SECOND)).abi_encode_params());
    assert_eq!(m.burn_obligations(class(), U256::ZERO), Err(MarketError::ZeroSeconds(ZeroSeconds {})));
    vm.set_sender(P2);
    assert_eq!(
        m.burn_obligations(class(), u(1)),
        Err(MarketError::InsufficientUncommitted(InsufficientUncommitted {
            available: U256::ZERO,
            needed: u(1)
        }))
    );
}

#[test]
fn guardian_pauses_and_ownership_moves_in_two_steps() {
    let vm = host();
    let mut m = market(&vm);
    vm.set_sender(OWNER);
    assert_eq!(m.pause(), Err(MarketError::NotGuardian(NotGuardian { caller: OWNER })));
    vm.set_sender(GUARDIAN);
    m.pause().unwrap();
    assert!(m.paused());
    assert_eq!(mint(&vm, &mut m, P1, 1), Err(MarketError::EnforcedPause(EnforcedPause {})));
    assert_eq!(open(&vm, &mut m, P1, 1), Err(MarketError::EnforcedPause(EnforcedPause {})));
    vm.set_sender(GUARDIAN);
    m.unpause().unwrap();
    mint(&vm, &mut m, P1, 1).unwrap();

    vm.set_sender(P1);
    assert_eq!(m.transfer_ownership(P1), Err(MarketError::NotOwner(NotOwner { caller: P1 })));
    vm.set_sender(OWNER);
    m.transfer_ownership(P2).unwrap();
    assert_eq!((m.owner(), m.pending_owner()), (OWNER, P2));
    vm.set_sender(P1);
    assert_eq!(m.accept_ownership(), Err(MarketError::NotPendingOwner(NotPendingOwner { caller: P1 })));
    vm.set_sender(P2);
    m.accept_ownership().unwrap();
    assert_eq!((m.owner(), m.pending_owner()), (P2, Address::ZERO));
    assert_eq!(
        last_log(&vm).0,
        vec![OwnershipTransferred::SIGNATURE_HASH, OWNER.into_word(), P2.into_word()]
    );
}

// ----- settlement hooks -----

const SETTLEMENT: Address = address!("5000000000000000000000000000000000000005");

fn with_settlement(vm: &TestHost, m: &mut Market) {
    vm.set_sender(OWNER);
    m.set_settler(SETTLEMENT, true).unwrap();
}

/// Mocks what a settlement of `burned` seconds and a refund of `refunded` call.
fn mock_release(vm: &TestHost, provider: Address, burned: u64, refunded: u64) {
    ok(vm, TOKEN, Token::burnCall { value: u(burned) }.abi_encode());
    ok(vm, VAULT, Vault::unlockCall { operator: provider, amount: u(burned * PER_SECOND) }.abi_encode());
    ok_true(vm, TOKEN, Token::transferCall { to: BUYER, value: u(refunded) }.abi_encode());
}

fn accepted_job(vm: &TestHost, m: &mut Market, seconds: u64) -> U256 {
    let j = open(vm, m, P1, seconds).unwrap();
    vm.set_sender(P1);
    m.accept_job(j).unwrap();
    j
}

#[test]
fn only_the_settlement_contract_settles_and_only_accepted_jobs() {
    let vm = host();
    let mut m = market(&vm);
    mint(&vm, &mut m, P1, 100).unwrap();
    vm.set_sender(P1);
    assert_eq!(m.set_settler(P1, true), Err(MarketError::NotOwner(NotOwner { caller: P1 })));
    let j = open(&vm, &mut m, P1, 50).unwrap();
    // no settler set: nobody, not even the zero address, may settle
    vm.set_sender(Address::ZERO);
    assert_eq!(
        m.settle_usage(j, u(1), false),
        Err(MarketError::NotSettler(NotSettler { caller: Address::ZERO }))
    );
    vm.set_sender(OWNER);
    assert_eq!(m.set_settler(Address::ZERO, true), Err(MarketError::ZeroAddress(ZeroAddress {})));
    with_settlement(&vm, &mut m);
    assert!(m.is_settler(SETTLEMENT));
    vm.set_sender(OWNER);
    assert_eq!(m.settle_usage(j, u(1), false), Err(MarketError::NotSettler(NotSettler { caller: OWNER })));
    assert_eq!(m.refund_job(j), Err(MarketError::NotSettler(NotSettler { caller: OWNER })));
    vm.set_sender(SETTLEMENT);
    assert_eq!(
        m.settle_usage(j, u(1), false),
        Err(MarketError::JobNotAccepted(JobNotAccepted { jobId: j, status: status::OPEN }))
    );
    assert_eq!(
        m.settle_usage(u(77), u(1), false),
        Err(MarketError::JobNotAccepted(JobNotAccepted { jobId: u(77), status: status::NONE }))
    );
    // a removed settler is refused
    vm.set_sender(OWNER);
    m.set_settler(SETTLEMENT, false).unwrap();
    vm.set_sender(SETTLEMENT);
    assert_eq!(m.refund_job(j), Err(MarketError::NotSettler(NotSettler { caller: SETTLEMENT })));
}

#[test]
fn settlement_burns_usage_unlocks_stake_and_refunds_the_rest_on_the_final_report() {
    let vm = host();
    let mut m = market(&vm);
    with_settlement(&vm, &mut m);
    mint(&vm, &mut m, P1, 100).unwrap();
    let j = accepted_job(&vm, &mut m, 60);
    vm.set_sender(SETTLEMENT);
    mock_release(&vm, P1, 25, 0);
    vm.take_calls();
    assert_eq!(m.settle_usage(j, u(25), false), Ok((u(25), U256::ZERO)));
    let calls: Vec<_> = vm.take_calls().into_iter().filter(|c| c.kind == CallKind::Call).collect();
    assert_eq!(calls.len(), 2);
    assert_eq!((calls[0].to, &calls[0].data), (TOKEN, &Token::burnCall { value: u(25) }.abi_encode()));
    assert_eq!(
        (calls[1].to, &calls[1].data),
        (VAULT, &Vault::unlockCall { operator: P1, amount: u(25 * PER_SECOND) }.abi_encode())
    );
    assert_eq!(m.job(j).3, u(35));
    assert_eq!(m.job(j).8, status::ACCEPTED);
    assert_eq!(m.obligations(class(), P1), (u(75), u(35)));
    // the final report: 10 burned, 25 back to the buyer, job settled
    mock_release(&vm, P1, 10, 25);
    assert_eq!(m.settle_usage(j, u(10), true), Ok((u(10), u(25))));
    assert_eq!((m.job(j).3, m.job(j).8), (U256::ZERO, status::SETTLED));
    assert_eq!(m.obligations(class(), P1), (u(65), U256::ZERO));
    let (topics, data) = last_log(&vm);
    assert_eq!(topics, vec![JobClosed::SIGNATURE_HASH, B256::from(j)]);
    assert_eq!(data, (U256::from(status::SETTLED), u(25)).abi_encode_params());
    assert_eq!(
        m.settle_usage(j, u(1), false),
        Err(MarketError::JobNotAccepted(JobNotAccepted { jobId: j, status: status::SETTLED }))
    );
}

#[test]
fn usage_beyond_the_escrow_burns_the_escrow_and_closes_the_job() {
    let vm = host();
    let mut m = market(&vm);
    with_settlement(&vm, &mut m);
    mint(&vm, &mut m, P1, 100).unwrap();
    let j = accepted_job(&vm, &mut m, 40);
    vm.set_sender(SETTLEMENT);
    mock_release(&vm, P1, 40, 0);
    vm.take_calls();
    assert_eq!(m.settle_usage(j, u(1_000), false), Ok((u(40), U256::ZERO)));
    // nothing to refund: no transfer
    assert!(vm
        .take_calls()
        .iter()
        .all(|c| c.data != Token::transferCall { to: BUYER, value: U256::ZERO }.abi_encode()));
    assert_eq!(m.job(j).8, status::SETTLED);
    assert_eq!(m.obligations(class(), P1), (u(60), U256::ZERO));
}

#[test]
fn refund_job_returns_the_escrow_and_marks_the_job_slashed() {
    let vm = host();
    let mut m = market(&vm);
    with_settlement(&vm, &mut m);
    mint(&vm, &mut m, P1, 100).unwrap();
    let open_job = open(&vm, &mut m, P1, 30).unwrap();
    let accepted = accepted_job(&vm, &mut m, 20);
    vm.set_sender(SETTLEMENT);
    ok_true(&vm, TOKEN, Token::transferCall { to: BUYER, value: u(30) }.abi_encode());
    ok_true(&vm, TOKEN, Token::transferCall { to: BUYER, value: u(20) }.abi_encode());
    assert_eq!(m.refund_job(open_job), Ok(u(30)));
    assert_eq!(m.refund_job(accepted), Ok(u(20)));
    assert_eq!((m.job(open_job).3, m.job(open_job).8), (U256::ZERO, status::SLASHED));
    assert_eq!(m.job(accepted).8, status::SLASHED);
    // obligations stay minted (the tokens still exist); nothing is reserved any more
    assert_eq!(m.obligations(class(), P1), (u(100), U256::ZERO));
    assert_eq!(
        m.refund_job(accepted),
        Err(MarketError::JobNotAccepted(JobNotAccepted { jobId: accepted, status: status::SLASHED }))
    );
    // the buyer's token refusing the refund reverts it
    let j = accepted_job(&vm, &mut m, 5);
    vm.set_sender(SETTLEMENT);
    vm.mock_call(
        TOKEN,
        Token::transferCall { to: BUYER, value: u(5) }.abi_encode(),
        U256::ZERO,
        Err(vec![9]),
    );
    assert_eq!(m.refund_job(j), Err(MarketError::Bubbled(vec![9])));
}

// ----- properties -----

#[derive(Debug, Clone)]
enum Op {
    Mint(usize, u64),
    Burn(usize, u64),
    Open(Option<usize>, u64),
    Accept(usize),
    Cancel(usize),
    Settle(usize, u64, bool),
    Refund(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize, 1..200u64).prop_map(|(p, s)| Op::Mint(p, s)),
        (0..2usize, 1..100u64).prop_map(|(p, s)| Op::Burn(p, s)),
        (prop::option::of(0..2usize), 1..150u64).prop_map(|(p, s)| Op::Open(p, s)),
        (0..8usize).prop_map(Op::Accept),
        (0..8usize).prop_map(Op::Cancel),
        (0..8usize, 0..80u64, any::<bool>()).prop_map(|(j, s, f)| Op::Settle(j, s, f)),
        (0..8usize).prop_map(Op::Refund),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Obligations stay backed and escrow is conserved, whatever mix of mints, burns, jobs,
    /// settlements and fault refunds: for every provider committed <= obligations and the
    /// collateral the market asked the vault to lock (locks minus unlocks, read from the
    /// calls it made) == obligations x collateralPerSecond; the seconds it committed equal
    /// the escrow of its live jobs; and every escrowed second is burned, refunded or still
    /// escrowed: escrowed == burned + refunded + held.
    #[test]
    fn obligations_are_backed_and_escrow_is_conserved(ops in proptest::collection::vec(op(), 1..40)) {
        let vm = host();
        let mut m = market(&vm);
        with_settlement(&vm, &mut m);
        let providers = [P1, P2];
        let mut locked = [U256::ZERO; 2];
        let (mut escrowed, mut burned, mut refunded) = (U256::ZERO, U256::ZERO, U256::ZERO);
        let mut jobs: Vec<U256> = Vec::new();
        for op in ops {
            vm.take_calls();
            let ok_op = match op {
                Op::Mint(p, s) => mint(&vm, &mut m, providers[p], s).is_ok(),
                Op::Burn(p, s) => {
                    vm.set_sender(providers[p]);
                    ok_true(&vm, TOKEN, Token::transferFromCall { from: providers[p], to: MARKET, value: u(s) }.abi_encode());
                    ok(&vm, TOKEN, Token::burnCall { value: u(s) }.abi_encode());
                    ok(&vm, VAULT, Vault::unlockCall { operator: providers[p], amount: u(s * PER_SECOND) }.abi_encode());
                    m.burn_obligations(class(), u(s)).is_ok()
                }
                Op::Open(p, s) => match open(&vm, &mut m, p.map(|i| providers[i]).unwrap_or(Address::ZERO), s) {
                    Ok(id) => { jobs.push(id); escrowed += u(s); true }
                    Err(_) => false,
                },
                Op::Accept(i) => jobs.get(i).is_some_and(|id| {
                    vm.set_sender(m.job(*id).1);
                    m.accept_job(*id).is_ok()
                }),
                Op::Cancel(i) => jobs.get(i).is_some_and(|id| {
                    vm.set_sender(BUYER);
                    let escrow = m.job(*id).3;
                    ok_true(&vm, TOKEN, Token::transferCall { to: BUYER, value: escrow }.abi_encode());
                    let done = m.cancel_job(*id).is_ok();
                    if done { refunded += escrow; }
                    done
                }),
                Op::Settle(i, s, fin) => jobs.get(i).is_some_and(|id| {
                    let (_, provider, _, escrow, ..) = m.job(*id);
                    let b = u(s).min(escrow);
                    let r = if fin || b == escrow { escrow - b } else { U256::ZERO };
                    mock_release(&vm, provider, b.to(), r.to());
                    vm.set_sender(SETTLEMENT);
                    match m.settle_usage(*id, u(s), fin) {
                        Ok((got_b, got_r)) => {
                            assert_eq!((got_b, got_r), (b, r));
                            burned += got_b; refunded += got_r; true
                        }
                        Err(_) => false,
                    }
                }),
                Op::Refund(i) => jobs.get(i).is_some_and(|id| {
                    let escrow = m.job(*id).3;
                    ok_true(&vm, TOKEN, Token::transferCall { to: BUYER, value: escrow }.abi_encode());
                    vm.set_sender(SETTLEMENT);
                    match m.refund_job(*id) {
                        Ok(r) => { refunded += r; true }
                        Err(_) => false,
                    }
                }),
            };
            if ok_op {
                for c in vm.take_calls().into_iter().filter(|c| c.to == VAULT && c.kind == CallKind::Call) {
                    if let Ok(l) = Vault::lockCall::abi_decode(&c.data) {
                        locked[providers.iter().position(|p| *p == l.operator).unwrap()] += l.amount;
                    } else if let Ok(l) = Vault::unlockCall::abi_decode(&c.data) {
                        locked[providers.iter().position(|p| *p == l.operator).unwrap()] -= l.amount;
                    }
                }
            }
            let mut held = U256::ZERO;
            for id in &jobs {
                let j = m.job(*id);
                if j.8 == status::OPEN || j.8 == status::ACCEPTED { held += j.3; } else { prop_assert_eq!(j.3, U256::ZERO); }
            }
            prop_assert_eq!(escrowed, burned + refunded + held);
            for (i, p) in providers.iter().enumerate() {
                let (obligations, committed) = m.obligations(class(), *p);
                prop_assert!(committed <= obligations);
                prop_assert_eq!(locked[i], obligations * u(PER_SECOND));
                let mut promised = U256::ZERO;
                for id in &jobs {
                    let j = m.job(*id);
                    if j.1 == *p && (j.8 == status::OPEN || j.8 == status::ACCEPTED) { promised += j.3; }
                }
                prop_assert_eq!(promised, committed);
            }
        }
    }
}

/// The hand-written router (`router.rs`) against the committed ABI: every function of
/// `abi/IMarket.sol` is routed, routed answers are the direct ones in the ABI encoding, and
/// calldata that does not decode reverts with empty data and changes nothing.
mod routing {
    use super::*;
    use alloy_sol_types::SolInterface;
    use stylus_sdk::{abi::Router, ArbResult};

    alloy_sol_types::sol!("../../abi/IMarket.sol");

    const SETTLER: Address = address!("5000000000000000000000000000000000000005");

    fn route(h: &TestHost, call: &[u8]) -> Option<ArbResult> {
        let sel = u32::from_be_bytes(call[..4].try_into().unwrap());
        <Market as Router<Market>>::route(&mut Market::from(h), sel, &call[4..])
    }

    /// A routed call that must succeed: its return data.
    fn ok_ret(h: &TestHost, call: impl SolCall) -> Vec<u8> {
        route(h, &call.abi_encode()).expect("routed").expect("succeeds")
    }

    fn err(h: &TestHost, call: impl SolCall) -> IMarket::IMarketErrors {
        let data = route(h, &call.abi_encode()).expect("routed").unwrap_err();
        IMarket::IMarketErrors::abi_decode(&data).expect("a custom error")
    }

    #[test]
    fn every_abi_function_is_routed_and_unknown_selectors_are_not() {
        let h = host();
        let _m = market(&h);
        assert_eq!(IMarket::IMarketCalls::SELECTORS.len(), 23);
        for sel in IMarket::IMarketCalls::SELECTORS {
            // Without arguments a function either runs (it takes none) or reverts empty
            // (they do not decode); an unrouted selector would answer `None`.
            assert!(route(&h, sel).is_some(), "selector {sel:02x?} is not routed");
        }
        assert!(route(&h, &[0xde, 0xad, 0xbe, 0xef]).is_none());
    }

    #[test]
    fn routed_calls_return_what_direct_calls_do_in_the_abi_encoding() {
        let h = host();
        let m = market(&h);
        // Mint, open, accept and settle, all through the router.
        h.set_sender(P1);
        free_stake(&h, P1, 1_000_000_000);
        ok(&h, VAULT, Vault::lockCall { operator: P1, amount: u(100 * PER_SECOND) }.abi_encode());
        ok(&h, TOKEN, Token::mintCall { to: P1, value: u(100) }.abi_encode());
        assert!(ok_ret(&h, IMarket::mintCall { classId: class(), gpuSeconds: u(100) }).is_empty());
        let o = IMarket::obligationsCall::abi_decode_returns(&ok_ret(
            &h,
            IMarket::obligationsCall { classId: class(), provider: P1 },
        ))
        .unwrap();
        assert_eq!((o._0, o._1), m.obligations(class(), P1));
        assert_eq!((o._0, o._1), (u(100), U256::ZERO));

        h.set_sender(BUYER);
        ok_true(&h, TOKEN, Token::transferFromCall { from: BUYER, to: MARKET, value: u(40) }.abi_encode());
        let open = IMarket::openJobCall {
            classId: class(),
            gpuSeconds: u(40),
            provider: Address::ZERO,
            specHash: keccak256("spec"),
        };
        let id = IMarket::openJobCall::abi_decode_returns(&ok_ret(&h, open)).unwrap();
        assert_eq!(id, u(1));
        let count = IMarket::jobCountCall::abi_decode_returns(&ok_ret(&h, IMarket::jobCountCall {})).unwrap();
        assert_eq!(count, m.job_count());
        let (topics, _) = last_log(&h);
        assert_eq!(topics[0], JobOpened::SIGNATURE_HASH);

        h.set_sender(P1);
        assert!(ok_ret(&h, IMarket::acceptJobCall { jobId: id }).is_empty());
        let j = IMarket::jobCall::abi_decode_returns(&ok_ret(&h, IMarket::jobCall { jobId: id })).unwrap();
        assert_eq!((j._0, j._1, j._2, j._3, j._4, j._5, j._6, j._7, j._8), m.job(id));
        assert_eq!((j._0, j._1, j._3, j._8), (BUYER, P1, u(40), status::ACCEPTED));

        h.set_sender(OWNER);
        assert!(ok_ret(&h, IMarket::setSettlerCall { settler: SETTLER, enabled: true }).is_empty());
        let is = IMarket::isSettlerCall::abi_decode_returns(&ok_ret(
            &h,
            IMarket::isSettlerCall { account: SETTLER },
        ));
        assert!(is.unwrap() && m.is_settler(SETTLER));
        mock_release(&h, P1, 30, 10);
        h.set_sender(SETTLER);
        let call = IMarket::settleUsageCall { jobId: id, gpuSeconds: u(30), isFinal: true };
        let r = IMarket::settleUsageCall::abi_decode_returns(&ok_ret(&h, call)).unwrap();
        assert_eq!((r._0, r._1), (u(30), u(10)));
        assert_eq!(m.job(id).8, status::SETTLED);
        assert_eq!(m.obligations(class(), P1), (u(70), U256::ZERO));

        // Plain views and the owner's and guardian's functions.
        let addr = |call: Vec<u8>| Address::abi_decode(&route(&h, &call).unwrap().unwrap()).unwrap();
        assert_eq!(addr(IMarket::ownerCall {}.abi_encode()), OWNER);
        assert_eq!(addr(IMarket::vaultCall {}.abi_encode()), VAULT);
        assert_eq!(addr(IMarket::registryCall {}.abi_encode()), REGISTRY);
        assert_eq!(addr(IMarket::guardianCall {}.abi_encode()), GUARDIAN);
        h.set_sender(GUARDIAN);
        ok_ret(&h, IMarket::pauseCall {});
        assert!(IMarket::pausedCall::abi_decode_returns(&ok_ret(&h, IMarket::pausedCall {})).unwrap());
        ok_ret(&h, IMarket::unpauseCall {});
        assert!(!m.paused());
        h.set_sender(OWNER);
        ok_ret(&h, IMarket::transferOwnershipCall { newOwner: BUYER });
        assert_eq!(addr(IMarket::pendingOwnerCall {}.abi_encode()), BUYER);
        h.set_sender(BUYER);
        ok_ret(&h, IMarket::acceptOwnershipCall {});
        assert_eq!(m.owner(), BUYER);
        ok_ret(&h, IMarket::setGuardianCall { guardian: P2 });
        assert_eq!(m.guardian(), P2);

        // Every log (written from pre-encoded words) decodes with alloy as the event it is.
        use IMarket::IMarketEvents as E;
        let mut seen = Vec::new();
        for (topics, data) in h.get_emitted_logs() {
            let event =
                <E as alloy_sol_types::SolEventInterface>::decode_raw_log(&topics, &data).expect("decodes");
            match &event {
                E::ObligationsMinted(e) => {
                    assert_eq!(
                        (e.provider, e.classId, e.gpuSeconds, e.collateralLocked),
                        (P1, class(), u(100), u(100 * PER_SECOND))
                    )
                }
                E::JobOpened(e) => assert_eq!(
                    (e.jobId, e.buyer, e.provider, e.classId, e.gpuSeconds, e.specHash, e.acceptDeadline),
                    (id, BUYER, P1, class(), u(40), keccak256("spec"), m.job(id).6)
                ),
                E::JobAccepted(e) => assert_eq!((e.jobId, e.provider), (id, P1)),
                E::SettlerSet(e) => assert_eq!((e.settler, e.enabled), (SETTLER, true)),
                E::JobClosed(e) => assert_eq!((e.jobId, e.status, e.refunded), (id, status::SETTLED, u(10))),
                E::Paused(e) => assert_eq!(e.account, GUARDIAN),
                E::Unpaused(e) => assert_eq!(e.account, GUARDIAN),
                E::OwnershipTransferStarted(e) => assert_eq!((e.previousOwner, e.newOwner), (OWNER, BUYER)),
                E::OwnershipTransferred(e) => assert_eq!((e.previousOwner, e.newOwner), (OWNER, BUYER)),
                E::GuardianSet(e) => assert!(e.guardian == GUARDIAN || e.guardian == P2),
                _ => {}
            }
            seen.push(topics[0]);
        }
        for sig in [
            ObligationsMinted::SIGNATURE_HASH,
            JobOpened::SIGNATURE_HASH,
            JobAccepted::SIGNATURE_HASH,
            SettlerSet::SIGNATURE_HASH,
            JobClosed::SIGNATURE_HASH,
            Paused::SIGNATURE_HASH,
            Unpaused::SIGNATURE_HASH,
            OwnershipTransferStarted::SIGNATURE_HASH,
            OwnershipTransferred::SIGNATURE_HASH,
        ] {
            assert!(seen.contains(&sig), "event {sig} was emitted");
        }
    }

    #[test]
    fn routed_errors_are_the_contracts_custom_errors() {
        let h = host();
        let mut m = market(&h);
        mint(&h, &mut m, P1, 100).unwrap();
        let id = open(&h, &mut m, P1, 10).unwrap();
        h.set_sender(P2);
        match err(&h, IMarket::acceptJobCall { jobId: id }) {
            IMarket::IMarketErrors::NotJobProvider(e) => assert_eq!((e.jobId, e.caller), (id, P2)),
            _ => panic!("expected NotJobProvider"),
        }
        match err(&h, IMarket::setGuardianCall { guardian: P2 }) {
            IMarket::IMarketErrors::NotOwner(e) => assert_eq!(e.caller, P2),
            _ => panic!("expected NotOwner"),
        }
        match err(&h, IMarket::refundJobCall { jobId: id }) {
            IMarket::IMarketErrors::NotSettler(e) => assert_eq!(e.caller, P2),
            _ => panic!("expected NotSettler"),
        }
    }

    #[test]
    fn malformed_calldata_reverts_empty_and_changes_nothing() {
        let h = host();
        let mut m = market(&h);
        mint(&h, &mut m, P1, 100).unwrap();
        h.take_calls();
        h.set_sender(BUYER);
        let good = IMarket::openJobCall {
            classId: class(),
            gpuSeconds: u(40),
            provider: P1,
            specHash: keccak256("spec"),
        }
        .abi_encode();
        // A dirty high byte in the provider address, a call cut short, no arguments at all.
        let mut dirty = good.clone();
        dirty[4 + 2 * 32] = 1;
        let cut = &good[..good.len() - 1];
        for bad in [&dirty[..], cut, &good[..4]] {
            assert_eq!(route(&h, bad), Some(Err(Vec::new())));
        }
        // A boolean that is neither 0 nor 1.
        h.set_sender(OWNER);
        let mut two = IMarket::setSettlerCall { settler: SETTLER, enabled: true }.abi_encode();
        two[4 + 32 + 31] = 2;
        assert_eq!(route(&h, &two), Some(Err(Vec::new())));
        assert!(!m.is_settler(SETTLER));
        assert_eq!(m.job_count(), U256::ZERO);
        assert_eq!(m.obligations(class(), P1), (u(100), U256::ZERO));
        assert!(h.take_calls().is_empty(), "nothing was called");
    }

    #[test]
    fn value_is_refused_everywhere() {
        let h = host();
        let m = market(&h);
        h.set_value(u(1));
        assert!(matches!(route(&h, &IMarket::jobCountCall {}.abi_encode()), Some(Err(_))));
        h.set_sender(GUARDIAN);
        assert!(matches!(route(&h, &IMarket::pauseCall {}.abi_encode()), Some(Err(_))));
        assert!(!m.paused());
        h.set_value(U256::ZERO);
        assert_eq!(route(&h, &IMarket::jobCountCall {}.abi_encode()), Some(Ok(U256::ZERO.abi_encode())));
    }

    #[test]
    fn the_constructor_runs_once_with_checked_arguments() {
        let construct =
            |h: &TestHost, args: &[u8]| <Market as Router<Market>>::constructor(&mut Market::from(h), args);
        // Each failure on a fresh host: the test VM does not roll back the constructor
        // guard's slot as a reverted deployment would.
        let zero =
            construct(&host(), &(OWNER, Address::ZERO, REGISTRY).abi_encode_params()).unwrap().unwrap_err();
        assert!(matches!(
            IMarket::IMarketErrors::abi_decode(&zero),
            Ok(IMarket::IMarketErrors::ZeroAddress(_))
        ));
        let mut dirty = (OWNER, VAULT, REGISTRY).abi_encode_params();
        dirty[32] = 1;
        assert_eq!(construct(&host(), &dirty), Some(Err(Vec::new())));
        assert_eq!(construct(&host(), &dirty[..95]), Some(Err(Vec::new())));
        let h = host();
        assert_eq!(construct(&h, &(OWNER, VAULT, REGISTRY).abi_encode_params()), Some(Ok(Vec::new())));
        let m = Market::from(&h);
        assert_eq!((m.owner(), m.vault(), m.registry()), (OWNER, VAULT, REGISTRY));
        let again = construct(&h, &(BUYER, VAULT, REGISTRY).abi_encode_params());
        assert!(matches!(again, Some(Err(_))), "a second construction is refused");
        assert_eq!(m.owner(), OWNER);
    }
}
