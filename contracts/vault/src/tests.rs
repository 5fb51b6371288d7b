//! Native tests on the SDK's TestVM. The collateral token is not executed: every call to
//! it is mocked (`transferFrom` in, `transfer` out).
//!
//! TestVM quirk: a call's return data is whatever the *last registered* mock returns, so
//! each helper registers its mock right before the action it covers.

use super::*;
use alloy_primitives::{address, keccak256};
use alloy_sol_types::{sol, SolCall, SolEvent};
use stylus_sdk::testing::*;

sol! {
    interface IERC20 {
        function transfer(address to, uint256 amount) external returns (bool);
        function transferFrom(address from, address to, uint256 amount) external returns (bool);
    }
}

const TOKEN: Address = address!("0x00000000000000000000000000000000000000c0");
const VAULT: Address = address!("0x00000000000000000000000000000000000000fa");
const OWNER: Address = address!("0x0000000000000000000000000000000000000001");
const TREASURY: Address = address!("0x0000000000000000000000000000000000000002");
const SLASHER: Address = address!("0x0000000000000000000000000000000000000003");
const LOCKER: Address = address!("0x0000000000000000000000000000000000000006");
const GUARDIAN: Address = address!("0x0000000000000000000000000000000000000007");
const ALICE: Address = address!("0x00000000000000000000000000000000000000a1");
const BOB: Address = address!("0x00000000000000000000000000000000000000b0");
const CAROL: Address = address!("0x00000000000000000000000000000000000000c4");
const OP: Address = address!("0x0000000000000000000000000000000000000b01");
const OP2: Address = address!("0x0000000000000000000000000000000000000b02");
const VICTIM: Address = address!("0x0000000000000000000000000000000000000d0d");

const DELAY: u64 = 7 * 24 * 3600;
const WINDOW: u64 = 2 * 24 * 3600;
const T0: u64 = 1_700_000_000;
const EVIDENCE: B256 = B256::repeat_byte(0xee);

fn u(x: u128) -> U256 {
    U256::from(x)
}

fn abi_bool(b: bool) -> Vec<u8> {
    U256::from(b as u8).to_be_bytes::<32>().to_vec()
}

fn setup() -> (TestVM, Vault) {
    let vm = TestVM::default();
    vm.set_contract_address(VAULT);
    vm.set_code(TOKEN, vec![0x60, 0x00]);
    vm.set_block_timestamp(T0);
    let mut v = Vault::from(&vm);
    vm.set_sender(OWNER);
    v.constructor(TOKEN, OWNER, TREASURY, DELAY).unwrap();
    v.set_role(roles::SLASHER, SLASHER, true).unwrap();
    v.set_role(roles::LOCKER, LOCKER, true).unwrap();
    v.set_guardian(GUARDIAN).unwrap();
    (vm, v)
}

/// The views the tests read, each derived from the public `config()`, `stakeOf`,
/// `operatorStake` and `hasRole`.
pub(crate) trait Views {
    fn collateral(&self) -> Address;
    fn treasury(&self) -> Address;
    fn guardian(&self) -> Address;
    fn pending_owner(&self) -> Address;
    fn withdrawal_delay(&self) -> u64;
    fn paused(&self) -> bool;
    fn withdrawal_count(&self) -> U256;
    fn shares_of(&self, operator: Address, staker: Address) -> U256;
    fn assets_of(&self, operator: Address, staker: Address) -> U256;
    fn slashable_stake(&self, operator: Address) -> U256;
    fn locked_stake(&self, operator: Address) -> U256;
    fn is_slasher(&self, account: Address) -> bool;
    fn is_locker(&self, account: Address) -> bool;
}

impl Views for Vault {
    fn collateral(&self) -> Address {
        self.config().0
    }
    fn treasury(&self) -> Address {
        self.config().1
    }
    fn guardian(&self) -> Address {
        self.config().2
    }
    fn pending_owner(&self) -> Address {
        self.config().3
    }
    fn withdrawal_delay(&self) -> u64 {
        self.config().4
    }
    fn paused(&self) -> bool {
        self.config().5
    }
    fn withdrawal_count(&self) -> U256 {
        self.config().6
    }
    fn shares_of(&self, operator: Address, staker: Address) -> U256 {
        self.stake_of(operator, staker).0
    }
    fn assets_of(&self, operator: Address, staker: Address) -> U256 {
        self.stake_of(operator, staker).1
    }
    fn slashable_stake(&self, operator: Address) -> U256 {
        let (a, q, _) = self.operator_stake(operator);
        a + q
    }
    fn locked_stake(&self, operator: Address) -> U256 {
        self.operator_stake(operator).2
    }
    fn is_slasher(&self, account: Address) -> bool {
        self.has_role(roles::SLASHER, account)
    }
    fn is_locker(&self, account: Address) -> bool {
        self.has_role(roles::LOCKER, account)
    }
}

fn mock_in(vm: &TestVM, from: Address, amount: U256, ret: Result<Vec<u8>, Vec<u8>>) {
    let data = IERC20::transferFromCall { from, to: VAULT, amount }.abi_encode();
    vm.mock_call(TOKEN, data, U256::ZERO, ret);
}

fn mock_out(vm: &TestVM, to: Address, amount: U256, ret: Result<Vec<u8>, Vec<u8>>) {
    let data = IERC20::transferCall { to, amount }.abi_encode();
    vm.mock_call(TOKEN, data, U256::ZERO, ret);
}

fn deposit(
    vm: &TestVM,
    v: &mut Vault,
    staker: Address,
    op: Address,
    amount: u128,
) -> Result<U256, VaultError> {
    mock_in(vm, staker, u(amount), Ok(abi_bool(true)));
    vm.set_sender(staker);
    v.deposit(u(amount), op)
}

/// Mocks successful `transfer`s for every `(to, amount)` the next action may make.
fn mock_outs(vm: &TestVM, outs: &[(Address, u128)]) {
    for &(to, amount) in outs {
        mock_out(vm, to, u(amount), Ok(abi_bool(true)));
    }
}

fn events<E: SolEvent>(vm: &TestVM) -> Vec<E> {
    vm.get_emitted_logs()
        .iter()
        .filter(|(topics, _)| topics.first() == Some(&E::SIGNATURE_HASH))
        .map(|(topics, data)| E::decode_raw_log(topics.iter().copied(), data).unwrap())
        .collect()
}

fn last_event<E: SolEvent>(vm: &TestVM) -> E {
    events::<E>(vm).pop().expect("event emitted")
}

fn unauthorized_err(caller: Address, role: B256) -> VaultError {
    VaultError::Unauthorized(Unauthorized { caller, role })
}

fn transfer_failed() -> VaultError {
    VaultError::TokenTransferFailed(TokenTransferFailed { token: TOKEN })
}

// ----- constants -----

#[test]
fn role_ids_are_keccak_of_names() {
    for (id, name) in [
        (roles::OWNER, "OWNER_ROLE"),
        (roles::PENDING_OWNER, "PENDING_OWNER_ROLE"),
        (roles::GUARDIAN, "GUARDIAN_ROLE"),
        (roles::SLASHER, "SLASHER_ROLE"),
        (roles::LOCKER, "LOCKER_ROLE"),
        (roles::STAKER, "STAKER_ROLE"),
    ] {
        assert_eq!(id, keccak256(name.as_bytes()), "{name}");
    }
}

#[test]
fn event_declarations_are_exported() {
    for name in ["Deposited", "WithdrawalQueued", "WithdrawalClaimed", "Slashed", "Locked"] {
        let sol = EVENTS_SOL.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(sol.contains(&format!("event {name}(")), "{name}");
    }
}

// ----- constructor -----

#[test]
fn constructor_sets_configuration() {
    let (vm, v) = setup();
    assert_eq!(v.collateral(), TOKEN);
    assert_eq!(v.owner(), OWNER);
    assert_eq!(v.pending_owner(), Address::ZERO);
    assert_eq!(v.guardian(), GUARDIAN);
    assert_eq!(v.treasury(), TREASURY);
    assert_eq!(v.withdrawal_delay(), DELAY);
    assert!(!v.paused());
    assert_eq!(v.config(), (TOKEN, TREASURY, GUARDIAN, Address::ZERO, DELAY, false, U256::ZERO));
    assert!(v.is_slasher(SLASHER) && !v.is_slasher(LOCKER));
    assert!(v.is_locker(LOCKER) && !v.is_locker(SLASHER));
    assert_eq!(v.withdrawal_count(), U256::ZERO);
    let t = events::<OwnershipTransferred>(&vm);
    assert_eq!((t[0].previousOwner, t[0].newOwner), (Address::ZERO, OWNER));
    assert_eq!(events::<WithdrawalDelaySet>(&vm)[0].withdrawalDelay, DELAY);
}

#[test]
fn constructor_makes_owner_first_guardian() {
    let vm = TestVM::default();
    let mut v = Vault::from(&vm);
    v.constructor(TOKEN, OWNER, TREASURY, DELAY).unwrap();
    assert_eq!(v.guardian(), OWNER);
}

#[test]
fn constructor_rejects_zero_addresses_and_bad_delays() {
    for (c, o, t) in
        [(Address::ZERO, OWNER, TREASURY), (TOKEN, Address::ZERO, TREASURY), (TOKEN, OWNER, Address::ZERO)]
    {
        let vm = TestVM::default();
        let mut v = Vault::from(&vm);
        assert_eq!(v.constructor(c, o, t, DELAY), Err(VaultError::ZeroAddress(ZeroAddress {})));
    }
    for delay in [0, MAX_WITHDRAWAL_DELAY + 1] {
        let vm = TestVM::default();
        let mut v = Vault::from(&vm);
        assert_eq!(
            v.constructor(TOKEN, OWNER, TREASURY, delay),
            Err(VaultError::InvalidWithdrawalDelay(InvalidWithdrawalDelay { withdrawalDelay: delay }))
        );
    }
    for delay in [1, MAX_WITHDRAWAL_DELAY] {
        let vm = TestVM::default();
        let mut v = Vault::from(&vm);
        assert!(v.constructor(TOKEN, OWNER, TREASURY, delay).is_ok());
    }
}

// ----- deposit -----

#[test]
fn deposit_mints_shares_and_pulls_collateral() {
    let (vm, mut v) = setup();
    assert_eq!(deposit(&vm, &mut v, ALICE, OP, 1_000), Ok(u(1_000)));
    let e = last_event::<Deposited>(&vm);
    assert_eq!((e.staker, e.operator, e.assets, e.shares), (ALICE, OP, u(1_000), u(1_000)));
    // (S + 1) / (A + 1) = 1001 / 1001
    assert_eq!(deposit(&vm, &mut v, BOB, OP, 500), Ok(u(500)));
    // Operators may self-stake.
    assert_eq!(deposit(&vm, &mut v, OP, OP, 7), Ok(u(7)));
    assert_eq!(v.shares_of(OP, ALICE), u(1_000));
    assert_eq!(v.shares_of(OP, BOB), u(500));
    assert_eq!(v.assets_of(OP, BOB), u(500));
    assert_eq!(v.operator_stake(OP), (u(1_507), U256::ZERO, U256::ZERO));
    assert_eq!(v.operator_shares(OP), (u(1_507), U256::ZERO));
    assert_eq!(v.slashable_stake(OP), u(1_507));
    assert_eq!(v.free_stake(OP), u(1_507));
    // Another operator's pools are separate.
    assert_eq!(v.operator_stake(OP2), (U256::ZERO, U256::ZERO, U256::ZERO));
}

#[test]
fn deposit_after_slash_mints_more_shares_rounded_down() {
    let (vm, mut v) = setup();
    deposit(&vm, &mut v, ALICE, OP, 1_000).unwrap();
    mock_outs(&vm, &[(TREASURY, 500)]);
    vm.set_sender(SLASHER);
    v.slash(OP, u(500), EVIDENCE, Address::ZERO, U256::ZERO).unwrap();
    // 300 * 1001 / 501 = 599.4 -> 599
    assert_eq!(deposit(&vm, &mut v, BOB, OP, 300), Ok(u(599)));
    assert!(v.assets_of(OP, BOB) <= u(300));
    assert!(v.assets_of(OP, ALICE) + v.assets_of(OP, BOB) <= u(800));
}

#[test]
fn deposit_rejects_zero_shares_zero_operator_and_pause() {
    let (vm, mut v) = setup();
    assert_eq!(deposit(&vm, &mut v, ALICE, OP, 0), Err(VaultError::ZeroShares(ZeroShares {})));
    assert_eq!(deposit(&vm, &mut v, ALICE, Address::ZERO, 10), Err(VaultError::ZeroAddress(ZeroAddress {})));
    vm.set_sender(GUARDIAN);
    v.set_paused(true).unwrap();
    assert_eq!(deposit(&vm, &mut v, ALICE, OP, 10), Err(VaultError::EnforcedPause(EnforcedPause {})));
}

#[test]
fn deposit_overflow_is_a_typed_error() {
    let (vm, mut v) = setup();
    mock_in(&vm, ALICE, U256::MAX, Ok(abi_bool(true)));
    vm.set_sender(ALICE);
    assert_eq!(v.deposit(U256::MAX, OP), Ok(U256::MAX));
    assert_eq!(deposit(&vm, &mut v, BOB, OP, 1), Err(VaultError::MathOverflow(MathOverflow {})));
}

#[test]
fn deposit_fails_when_token_reverts_or_returns_false() {
    let (vm, mut v) = setup();
    vm.set_sender(ALICE);
    // A revert with empty data: an unmocked (wrongly encoded) call would succeed instead,
    // so this also proves the exact `transferFrom(alice, vault, 10)` calldata.
    mock_in(&vm, ALICE, u(10), Err(vec![]));
    assert_eq!(v.deposit(u(10), OP), Err(transfer_failed()));
    mock_in(&vm, ALICE, u(11), Ok(abi_bool(false)));
    assert_eq!(v.deposit(u(11), OP), Err(transfer_failed()));
    mock_in(&vm, ALICE, u(12), Ok(vec![0x01]));
    assert_eq!(v.deposit(u(12), OP), Err(transfer_failed()));
}

#[test]
fn deposit_accepts_tokens_that_return_nothing_but_not_codeless_tokens() {
    let (vm, mut v) = setup();
    vm.set_sender(ALICE);
    mock_in(&vm, ALICE, u(10), Ok(vec![]));
    assert_eq!(v.deposit(u(10), OP), Ok(u(10)));
    vm.set_code(TOKEN, vec![]);
    mock_in(&vm, ALICE, u(10), Ok(vec![]));
    assert_eq!(v.deposit(u(10), OP), Err(transfer_failed()));
}

// ----- queueWithdrawal / claim -----

#[test]
fn queue_withdrawal_moves_assets_to_the_queue() {
    let (vm, mut v) = setup();
    deposit(&vm, &mut v, ALICE, OP, 1_000).unwrap();
    vm.set_sender(ALICE);
    assert_eq!(v.queue_withdrawal(OP, u(400)), Ok(U256::from(1)));
    let e = last_event::<WithdrawalQueued>(&vm);
    assert_eq!(
        (e.withdrawalId, e.staker, e.operator, e.shares, e.assets, e.unlockTime),
        (U256::from(1), ALICE, OP, u(400), u(400), T0 + DELAY)
    );
    assert_eq!(v.shares_of(OP, ALICE), u(600));
    assert_eq!(v.operator_stake(OP), (u(600), u(400), U256::ZERO));
    assert_eq!(v.operator_shares(OP), (u(600), u(400)));
    assert_eq!(v.slashable_stake(OP), u(1_000));
    assert_eq!(v.free_stake(OP), u(600));
    assert_eq!(v.withdrawal(U256::from(1)), (ALICE, OP, u(400), u(400), T0 + DELAY, false, false));
    assert_eq!(v.withdrawal_count(), U256::from(1));
}

#[test]
fn queue_withdrawal_failures() {
    let (vm, mut v) = setup();
    deposit(&vm, &mut v, ALICE, OP, 1_000).unwrap();
    vm.set_sender(ALICE);
    assert_eq!(v.queue_withdrawal(OP, U256::ZERO), Err(VaultError::ZeroShares(ZeroShares {})));
    assert_eq!(
        v.queue_withdrawal(OP, u(1_001)),
        Err(VaultError::InsufficientShares(InsufficientShares { balance: u(1_000), needed: u(1_001) }))
    );
    vm.set_sender(BOB);
    assert_eq!(
        v.queue_withdrawal(OP, u(1)),
        Err(VaultError::InsufficientShares(InsufficientShares { balance: U256::ZERO, needed: u(1) }))
    );
    // Locked stake cannot be withdrawn.
    vm.set_sender(LOCKER);
    v.lock(OP, u(700)).unwrap();
    vm.set_sender(ALICE);
    assert_eq!(
        v.queue_withdrawal(OP, u(301)),
        Err(VaultError::InsufficientFreeStake(InsufficientFreeStake { free: u(300), needed: u(301) }))
    );
    assert!(v.queue_withdrawal(OP, u(300)).is_ok());
    // Paused.
    vm.set_sender(GUARDIAN);
    v.set_paused(true).unwrap();
    vm.set_sender(ALICE);
    assert_eq!(v.queue_withdrawal(OP, u(1)), Err(VaultError::EnforcedPause(EnforcedPause {})));
}

#[test]
fn queue_withdrawal_of_worthless_shares_is_rejected() {
    let (vm, mut v) = setup();
    deposit(&vm, &mut v, ALICE, OP, 1_000).unwrap();
    mock_outs(&vm, &[(TREASURY, 1_000)]);
    vm.set_sender(SLASHER);
    v.slash(OP, u(5_000), EVIDENCE, Address::ZERO, U256::ZERO).unwrap();
    vm.set_sender(ALICE);
    assert_eq!(v.queue_withdrawal(OP, u(1_000)), Err(VaultError::ZeroAssets(ZeroAssets {})));
}

#[test]
fn claim_after_delay_pays_once() {
    let (vm, mut v) = setup();
    deposit(&vm, &mut v, ALICE, OP, 1_000).unwrap();
    vm.set_sender(ALICE);
    let id = v.queue_withdrawal(OP, u(400)).unwrap();
    vm.set_block_timestamp(T0 + DELAY - 1);
    assert_eq!(
        v.claim(id),
        Err(VaultError::WithdrawalNotReady(WithdrawalNotReady { unlockTime: U256::from(T0 + DELAY) }))
    );
    vm.set_block_timestamp(T0 + DELAY);
    vm.set_sender(BOB);
    assert_eq!(v.claim(id), Err(unauthorized_err(BOB, roles::STAKER)));
    vm.set_sender(ALICE);
    mock_outs(&vm, &[(ALICE, 400)]);
    assert_eq!(v.claim(id), Ok(u(400)));
    let e = last_event::<WithdrawalClaimed>(&vm);
    assert_eq!((e.withdrawalId, e.staker, e.operator, e.assets), (id, ALICE, OP, u(400)));
    assert_eq!(v.withdrawal(id), (ALICE, OP, U256::ZERO, u(400), T0 + DELAY, true, true));
    assert_eq!(v.claim(id), Err(VaultError::AlreadyClaimed(AlreadyClaimed { withdrawalId: id })));
    assert_eq!(v.operator_stake(OP), (u(600), U256::ZERO, U256::ZERO));
    assert_eq!(v.operator_shares(OP), (u(600), U256::ZERO));
}

#[test]
fn claim_unknown_paused_and_token_failures() {
    let (vm, mut v) = setup();
    vm.set_sender(ALICE);
    assert_eq!(v.claim(u(9)), Err(VaultError::UnknownWithdrawal(UnknownWithdrawal { withdrawalId: u(9) })));
    deposit(&vm, &mut v, ALICE, OP, 100).unwrap();
    vm.set_sender(ALICE);
    let id = v.queue_withdrawal(OP, u(100)).unwrap();
    vm.set_block_timestamp(T0 + DELAY);
    vm.set_sender(GUARDIAN);
    v.set_paused(true).unwrap();
    vm.set_sender(ALICE);
    assert_eq!(v.claim(id), Err(VaultError::EnforcedPause(EnforcedPause {})));
    vm.set_sender(GUARDIAN);
    v.set_paused(false).unwrap();
    vm.set_sender(ALICE);
    // Exact `transfer(alice, 100)` calldata, reverting.
    mock_out(&vm, ALICE, u(100), Err(vec![]));
    assert_eq!(v.claim(id), Err(transfer_failed()));
}

#[test]
fn claim_returning_false_fails() {
    let (vm, mut v) = setup();
    deposit(&vm, &mut v, ALICE, OP, 100).unwrap();
    vm.set_sender(ALICE);
    let id = v.queue_withdrawal(OP, u(100)).unwrap();
    vm.set_block_timestamp(T0 + DELAY);
    mock_out(&vm, ALICE, u(100), Ok(abi_bool(false)));
    assert_eq!(v.claim(id), Err(transfer_failed()));
}

#[test]
fn queued_withdrawals_stay_slashable_until_they_mature() {
    let (vm, mut v) = setup();
    deposit(&vm, &mut v, ALICE, OP, 1_000).unwrap();
    deposit(&vm, &mut v, BOB, OP, 1_000).unwrap();
    vm.set_sender(ALICE);
    let id = v.queue_withdrawal(OP, u(1_000)).unwrap();
    // Slash half of everything: the queued withdrawal loses half too.
    vm.set_block_timestamp(T0 + DELAY - 1);
    mock_outs(&vm, &[(VICTIM, 300), (TREASURY, 700)]);
    vm.set_sender(SLASHER);
    assert_eq!(v.slash(OP, u(1_000), EVIDENCE, VICTIM, u(300)), Ok(u(1_000)));
    let e = last_event::<Slashed>(&vm);
    assert_eq!(
        (e.operator, e.slashed, e.evidenceHash, e.beneficiary, e.compensationPaid),
        (OP, u(1_000), EVIDENCE, VICTIM, u(300))
    );
    assert_eq!(v.operator_stake(OP), (u(500), u(500), U256::ZERO));
    assert_eq!(v.assets_of(OP, BOB), u(500));
    // Once mature, the withdrawal is out of reach.
    vm.set_block_timestamp(T0 + DELAY);
    assert_eq!(v.slashable_stake(OP), u(500));
    assert_eq!(v.operator_stake(OP), (u(500), U256::ZERO, U256::ZERO));
    mock_outs(&vm, &[(TREASURY, 500)]);
    vm.set_sender(SLASHER);
    assert_eq!(v.slash(OP, u(10_000), EVIDENCE, Address::ZERO, u(5)), Ok(u(500)));
    assert_eq!(last_event::<Slashed>(&vm).compensationPaid, U256::ZERO);
    assert_eq!(v.withdrawal(id), (ALICE, OP, U256::ZERO, u(500), T0 + DELAY, true, false));
    mock_outs(&vm, &[(ALICE, 500)]);
    vm.set_sender(ALICE);
    assert_eq!(v.claim(id), Ok(u(500)));
    assert_eq!(v.assets_of(OP, BOB), U256::ZERO);
}

#[test]
fn shortened_delay_later_entry_is_claimed_directly() {
    let (vm, mut v) = setup();
    deposit(&vm, &mut v, ALICE, OP, 1_000).unwrap();
    vm.set_sender(ALICE);
    let first = v.queue_withdrawal(OP, u(100)).unwrap();
    vm.set_sender(OWNER);
    v.set_withdrawal_delay(WINDOW + 1).unwrap();
    vm.set_sender(ALICE);
    let second = v.queue_withdrawal(OP, u(200)).unwrap();
    vm.set_block_timestamp(T0 + WINDOW + 1);
    // The later entry is claimable although the head has not matured: finalised directly.
    // Until then it stayed in the queued (slashable) pool: never less slashable than promised.
    assert_eq!(v.slashable_stake(OP), u(1_000));
    mock_outs(&vm, &[(ALICE, 200)]);
    assert_eq!(v.claim(second), Ok(u(200)));
    assert_eq!(v.operator_stake(OP), (u(700), u(100), U256::ZERO));
    assert_eq!(
        v.claim(first),
        Err(VaultError::WithdrawalNotReady(WithdrawalNotReady { unlockTime: U256::from(T0 + DELAY) }))
    );
    // The FIFO walk skips the already finalised entry.
    vm.set_block_timestamp(T0 + DELAY);
    assert_eq!(v.process_withdrawals(OP, U256::MAX), u(2));
    assert_eq!(v.withdrawal(first).5, true);
    mock_outs(&vm, &[(ALICE, 100)]);
    assert_eq!(v.claim(first), Ok(u(100)));
}

#[test]
fn process_withdrawals_is_bounded_and_stops_at_immature_entries() {
    let (vm, mut v) = setup();
    deposit(&vm, &mut v, ALICE, OP, 1_000).unwrap();
    vm.set_sender(ALICE);
    for i in 0..3u64 {
        vm.set_block_timestamp(T0 + i);
        v.queue_withdrawal(OP, u(100)).unwrap();
    }
    vm.set_block_timestamp(T0 + DELAY + 1); // two matured
    assert_eq!(v.operator_stake(OP).1, u(100));
    assert_eq!(v.process_withdrawals(OP, u(1)), u(1));
    assert_eq!(v.process_withdrawals(OP, U256::MAX), u(1));
    assert_eq!(v.process_withdrawals(OP, U256::MAX), U256::ZERO);
    assert_eq!(v.operator_shares(OP).1, u(100));
    assert_eq!(v.withdrawal(u(2)).3, u(100));
    assert_eq!(v.withdrawal(u(3)).5, false);
}

// ----- locking -----

#[test]
fn lock_and_unlock() {
    let (vm, mut v) = setup();
    deposit(&vm, &mut v, ALICE, OP, 1_000).unwrap();
    vm.set_sender(ALICE);
    assert_eq!(v.lock(OP, u(1)), Err(unauthorized_err(ALICE, roles::LOCKER)));
    assert_eq!(v.unlock(OP, u(1)), Err(unauthorized_err(ALICE, roles::LOCKER)));
    vm.set_sender(LOCKER);
    v.lock(OP, u(600)).unwrap();
    let e = last_event::<Locked>(&vm);
    assert_eq!((e.operator, e.locker, e.amount, e.totalLocked), (OP, LOCKER, u(600), u(600)));
    assert_eq!(
        v.lock(OP, u(401)),
        Err(VaultError::InsufficientFreeStake(InsufficientFreeStake { free: u(400), needed: u(401) }))
    );
    assert_eq!((v.free_stake(OP), v.locked_stake(OP)), (u(400), u(600)));
    v.unlock(OP, u(100)).unwrap();
    let e = last_event::<Unlocked>(&vm);
    assert_eq!((e.amount, e.totalLocked), (u(100), u(500)));
    v.unlock(OP, u(10_000)).unwrap(); // saturates
    assert_eq!(v.locked_stake(OP), U256::ZERO);
    // Locking is not paused.
    vm.set_sender(GUARDIAN);
    v.set_paused(true).unwrap();
    vm.set_sender(LOCKER);
    v.lock(OP, u(1_000)).unwrap();
    assert_eq!(v.free_stake(OP), U256::ZERO);
    v.unlock(OP, u(1)).unwrap();
}

#[test]
fn slash_clamps_locked_stake() {
    let (vm, mut v) = setup();
    deposit(&vm, &mut v, ALICE, OP, 1_000).unwrap();
    vm.set_sender(LOCKER);
    v.lock(OP, u(900)).unwrap();
    mock_outs(&vm, &[(TREASURY, 300)]);
    vm.set_sender(SLASHER);
    v.slash(OP, u(300), EVIDENCE, Address::ZERO, U256::ZERO).unwrap();
    assert_eq!((v.locked_stake(OP), v.free_stake(OP)), (u(700), U256::ZERO));
    vm.set_sender(LOCKER);
    v.unlock(OP, u(900)).unwrap();
    assert_eq!(v.locked_stake(OP), U256::ZERO);
}

// ----- slashing -----

#[test]
fn slash_is_pro_rata_and_capped() {
    let (vm, mut v) = setup();
    deposit(&vm, &mut v, ALICE, OP, 600).unwrap();
    deposit(&vm, &mut v, BOB, OP, 300).unwrap();
    vm.set_sender(BOB);
    let id = v.queue_withdrawal(OP, u(300)).unwrap(); // A = 600, Q = 300
    vm.set_sender(ALICE);
    assert_eq!(v.slash(OP, u(1), EVIDENCE, VICTIM, U256::ZERO), Err(unauthorized_err(ALICE, roles::SLASHER)));
    vm.set_sender(LOCKER);
    assert_eq!(
        v.slash(OP, u(1), EVIDENCE, VICTIM, U256::ZERO),
        Err(unauthorized_err(LOCKER, roles::SLASHER))
    );
    // 100 over A = 600, Q = 300: active cut ceil(100 * 600 / 900) = 67, queued 33.
    mock_outs(&vm, &[(VICTIM, 100)]);
    vm.set_sender(SLASHER);
    assert_eq!(v.slash(OP, u(100), EVIDENCE, VICTIM, u(1_000)), Ok(u(100)));
    assert_eq!(last_event::<Slashed>(&vm).compensationPaid, u(100));
    assert_eq!(v.operator_stake(OP), (u(533), u(267), U256::ZERO));
    assert_eq!(v.withdrawal(id).3, u(267));
    // Capped by the slashable stake; zero slashable stake slashes nothing.
    mock_outs(&vm, &[(VICTIM, 50), (TREASURY, 750)]);
    assert_eq!(v.slash(OP, U256::MAX, EVIDENCE, VICTIM, u(50)), Ok(u(800)));
    assert_eq!(v.slashable_stake(OP), U256::ZERO);
    assert_eq!(v.slash(OP, u(5), EVIDENCE, VICTIM, u(5)), Ok(U256::ZERO));
    assert_eq!(v.slash(OP2, u(5), EVIDENCE, VICTIM, u(5)), Ok(U256::ZERO));
    // Slashing is not paused.
    vm.set_sender(GUARDIAN);
    v.set_paused(true).unwrap();
    vm.set_sender(SLASHER);
    assert_eq!(v.slash(OP, u(5), EVIDENCE, VICTIM, u(5)), Ok(U256::ZERO));
}

#[test]
fn slash_fails_when_a_payout_fails() {
    let (vm, mut v) = setup();
    deposit(&vm, &mut v, ALICE, OP, 600).unwrap();
    vm.set_sender(SLASHER);
    mock_out(&vm, VICTIM, u(10), Err(vec![]));
    assert_eq!(v.slash(OP, u(10), EVIDENCE, VICTIM, u(10)), Err(transfer_failed()));
    let (vm, mut v) = setup();
    deposit(&vm, &mut v, ALICE, OP, 600).unwrap();
    vm.set_sender(SLASHER);
    mock_out(&vm, TREASURY, u(10), Err(vec![]));
    assert_eq!(v.slash(OP, u(10), EVIDENCE, VICTIM, U256::ZERO), Err(transfer_failed()));
}

// ----- slashing by the slash court -----
// Vetoable slashing (request, veto, execute) lives in `contracts/slash-court`, which holds
// `SLASHER_ROLE` and calls `slash` once its veto window (shorter than the withdrawal
// delay) has passed; its tests assert the calldata. Here: such a late slash still reaches
// a withdrawal queued when the request was made.

#[test]
fn slash_after_a_veto_window_reaches_a_withdrawal_queued_at_request_time() {
    let (vm, mut v) = setup();
    deposit(&vm, &mut v, ALICE, OP, 1_000).unwrap();
    vm.set_sender(ALICE);
    let wid = v.queue_withdrawal(OP, u(1_000)).unwrap();
    vm.set_block_timestamp(T0 + WINDOW);
    mock_outs(&vm, &[(VICTIM, 400)]);
    vm.set_sender(SLASHER);
    assert_eq!(v.slash(OP, u(400), EVIDENCE, VICTIM, u(400)), Ok(u(400)));
    vm.set_block_timestamp(T0 + DELAY);
    mock_outs(&vm, &[(ALICE, 600)]);
    vm.set_sender(ALICE);
    assert_eq!(v.claim(wid), Ok(u(600)));
}

// ----- administration -----

#[test]
fn role_setters_are_owner_only() {
    let (vm, mut v) = setup();
    vm.set_sender(ALICE);
    let err = || unauthorized_err(ALICE, roles::OWNER);
    assert_eq!(v.set_role(roles::SLASHER, BOB, true), Err(err()));
    assert_eq!(v.set_role(roles::LOCKER, BOB, true), Err(err()));
    assert_eq!(v.set_guardian(BOB), Err(err()));
    assert_eq!(v.set_treasury(BOB), Err(err()));
    assert_eq!(v.set_withdrawal_delay(DELAY), Err(err()));
    assert_eq!(v.transfer_ownership(BOB), Err(err()));
    vm.set_sender(OWNER);
    assert_eq!(v.set_role(roles::SLASHER, Address::ZERO, true), Err(VaultError::ZeroAddress(ZeroAddress {})));
    // Only the slasher and locker roles are granted with setRole.
    for role in [roles::OWNER, roles::GUARDIAN, roles::STAKER, keccak256("RESOLVER_ROLE"), B256::ZERO] {
        assert_eq!(v.set_role(role, BOB, true), Err(VaultError::UnknownRole(UnknownRole { role })));
    }
    v.set_role(roles::SLASHER, BOB, true).unwrap();
    v.set_role(roles::LOCKER, BOB, true).unwrap();
    let e = last_event::<RoleSet>(&vm);
    assert_eq!((e.role, e.account, e.enabled), (roles::LOCKER, BOB, true));
    assert!(v.is_slasher(BOB) && v.is_locker(BOB));
    v.set_role(roles::SLASHER, BOB, false).unwrap();
    assert!(!v.is_slasher(BOB) && v.is_locker(BOB));
    let e = last_event::<RoleSet>(&vm);
    assert_eq!((e.role, e.account, e.enabled), (roles::SLASHER, BOB, false));
    vm.set_sender(BOB);
    assert_eq!(v.slash(OP, u(1), EVIDENCE, VICTIM, U256::ZERO), Err(unauthorized_err(BOB, roles::SLASHER)));
}

#[test]
fn treasury_guardian_and_delay_setters() {
    let (vm, mut v) = setup();
    vm.set_sender(OWNER);
    assert_eq!(v.set_treasury(Address::ZERO), Err(VaultError::ZeroAddress(ZeroAddress {})));
    v.set_treasury(CAROL).unwrap();
    assert_eq!(v.treasury(), CAROL);
    assert_eq!(last_event::<TreasurySet>(&vm).treasury, CAROL);
    v.set_guardian(BOB).unwrap();
    assert_eq!(v.guardian(), BOB);
    assert_eq!(last_event::<GuardianSet>(&vm).guardian, BOB);
    assert_eq!(
        v.set_withdrawal_delay(0),
        Err(VaultError::InvalidWithdrawalDelay(InvalidWithdrawalDelay { withdrawalDelay: 0 }))
    );
    assert!(v.set_withdrawal_delay(MAX_WITHDRAWAL_DELAY + 1).is_err());
    v.set_withdrawal_delay(3 * 24 * 3600).unwrap();
    assert_eq!(v.withdrawal_delay(), 3 * 24 * 3600);
    assert_eq!(last_event::<WithdrawalDelaySet>(&vm).withdrawalDelay, 3 * 24 * 3600);
    // The new delay applies to new withdrawals.
    deposit(&vm, &mut v, ALICE, OP, 10).unwrap();
    vm.set_sender(ALICE);
    let id = v.queue_withdrawal(OP, u(10)).unwrap();
    assert_eq!(v.withdrawal(id).4, T0 + 3 * 24 * 3600);
    // A zero guardian disables pausing.
    vm.set_sender(OWNER);
    v.set_guardian(Address::ZERO).unwrap();
    vm.set_sender(Address::ZERO);
    assert_eq!(v.set_paused(true), Err(unauthorized_err(Address::ZERO, roles::GUARDIAN)));
}

#[test]
fn pause_and_unpause() {
    let (vm, mut v) = setup();
    vm.set_sender(OWNER);
    assert_eq!(v.set_paused(true), Err(unauthorized_err(OWNER, roles::GUARDIAN)));
    vm.set_sender(GUARDIAN);
    assert_eq!(v.set_paused(false), Err(VaultError::ExpectedPause(ExpectedPause {})));
    v.set_paused(true).unwrap();
    assert!(v.paused());
    assert_eq!(last_event::<Paused>(&vm).account, GUARDIAN);
    assert_eq!(v.set_paused(true), Err(VaultError::EnforcedPause(EnforcedPause {})));
    vm.set_sender(OWNER);
    assert_eq!(v.set_paused(false), Err(unauthorized_err(OWNER, roles::GUARDIAN)));
    vm.set_sender(GUARDIAN);
    v.set_paused(false).unwrap();
    assert!(!v.paused());
    assert_eq!(last_event::<Unpaused>(&vm).account, GUARDIAN);
    assert!(deposit(&vm, &mut v, ALICE, OP, 10).is_ok());
}

#[test]
fn two_step_ownership_transfer() {
    let (vm, mut v) = setup();
    vm.set_sender(OWNER);
    v.transfer_ownership(BOB).unwrap();
    let e = last_event::<OwnershipTransferStarted>(&vm);
    assert_eq!((e.previousOwner, e.newOwner), (OWNER, BOB));
    assert_eq!((v.owner(), v.pending_owner()), (OWNER, BOB));
    vm.set_sender(CAROL);
    assert_eq!(v.accept_ownership(), Err(unauthorized_err(CAROL, roles::PENDING_OWNER)));
    // The owner may cancel by naming zero, then restart.
    vm.set_sender(OWNER);
    v.transfer_ownership(Address::ZERO).unwrap();
    vm.set_sender(BOB);
    assert_eq!(v.accept_ownership(), Err(unauthorized_err(BOB, roles::PENDING_OWNER)));
    vm.set_sender(Address::ZERO);
    assert_eq!(v.accept_ownership(), Err(unauthorized_err(Address::ZERO, roles::PENDING_OWNER)));
    vm.set_sender(OWNER);
    v.transfer_ownership(BOB).unwrap();
    vm.set_sender(BOB);
    v.accept_ownership().unwrap();
    let e = last_event::<OwnershipTransferred>(&vm);
    assert_eq!((e.previousOwner, e.newOwner), (OWNER, BOB));
    assert_eq!((v.owner(), v.pending_owner()), (BOB, Address::ZERO));
    v.set_treasury(CAROL).unwrap();
    vm.set_sender(OWNER);
    assert_eq!(v.set_treasury(OWNER), Err(unauthorized_err(OWNER, roles::OWNER)));
}

#[test]
fn has_role_answers_only_for_granted_roles() {
    let (_vm, v) = setup();
    assert!(v.has_role(roles::SLASHER, SLASHER) && v.has_role(roles::LOCKER, LOCKER));
    assert!(!v.has_role(roles::SLASHER, LOCKER) && !v.has_role(roles::LOCKER, SLASHER));
    // Single-holder roles are read with owner() / config(); unknown roles: nobody.
    for role in [roles::OWNER, roles::GUARDIAN, roles::PENDING_OWNER, roles::STAKER, B256::ZERO] {
        assert!(!v.has_role(role, OWNER) && !v.has_role(role, GUARDIAN) && !v.has_role(role, SLASHER));
    }
}

#[test]
fn config_and_stake_views() {
    let (vm, mut v) = setup();
    deposit(&vm, &mut v, ALICE, OP, 1_000).unwrap();
    vm.set_sender(ALICE);
    v.queue_withdrawal(OP, u(250)).unwrap();
    vm.set_sender(GUARDIAN);
    v.set_paused(true).unwrap();
    vm.set_sender(OWNER);
    v.transfer_ownership(CAROL).unwrap();
    v.set_treasury(BOB).unwrap();
    assert_eq!(v.config(), (TOKEN, BOB, GUARDIAN, CAROL, DELAY, true, u(1)));
    assert_eq!(v.stake_of(OP, ALICE), (u(750), u(750)));
    assert_eq!(v.stake_of(OP, BOB), (U256::ZERO, U256::ZERO));
    assert_eq!(v.stake_of(OP2, ALICE), (U256::ZERO, U256::ZERO));
}

// ----- local bit-serial mul_div (must equal contracts_common::math) -----

mod properties;

/// The hand-written router (`router.rs`) against the committed ABI: every function of
/// `abi/IVault.sol` is routed, routed answers are the direct ones in the ABI encoding, and
/// calldata that does not decode reverts with empty data and changes nothing.
mod routing {
    use super::*;
    use alloy_sol_types::{SolInterface, SolValue};
    use stylus_sdk::{abi::Router, ArbResult};

    alloy_sol_types::sol!("../../abi/IVault.sol");

    fn route(vm: &TestVM, call: &[u8]) -> Option<ArbResult> {
        let sel = u32::from_be_bytes(call[..4].try_into().unwrap());
        <Vault as Router<Vault>>::route(&mut Vault::from(vm), sel, &call[4..])
    }

    /// A routed call that must succeed, decoded as its return values.
    fn ok<C: SolCall>(vm: &TestVM, call: C) -> C::Return {
        let ret = route(vm, &call.abi_encode()).expect("routed").expect("succeeds");
        C::abi_decode_returns(&ret).expect("ABI-encoded returns")
    }

    fn err(vm: &TestVM, call: impl SolCall) -> IVault::IVaultErrors {
        let data = route(vm, &call.abi_encode()).expect("routed").unwrap_err();
        IVault::IVaultErrors::abi_decode(&data).expect("a custom error")
    }

    #[test]
    fn every_abi_function_is_routed_and_unknown_selectors_are_not() {
        let (vm, _v) = setup();
        assert_eq!(IVault::IVaultCalls::SELECTORS.len(), 21);
        for sel in IVault::IVaultCalls::SELECTORS {
            // Without arguments a function either runs (it takes none) or reverts empty.
            assert!(route(&vm, sel).is_some(), "selector {sel:02x?} is not routed");
        }
        assert!(route(&vm, &[0xde, 0xad, 0xbe, 0xef]).is_none());
    }

    #[test]
    fn routed_calls_return_what_direct_calls_do_in_the_abi_encoding() {
        let (vm, v) = setup();
        mock_in(&vm, ALICE, u(1_000), Ok(abi_bool(true)));
        vm.set_sender(ALICE);
        let shares = ok(&vm, IVault::depositCall { amount: u(1_000), operator: OP });
        assert_eq!(shares, v.shares_of(OP, ALICE));
        assert!(shares > U256::ZERO);
        let s = ok(&vm, IVault::stakeOfCall { operator: OP, staker: ALICE });
        assert_eq!((s._0, s._1), v.stake_of(OP, ALICE));

        vm.set_sender(LOCKER);
        ok(&vm, IVault::lockCall { operator: OP, amount: u(100) });
        assert_eq!(ok(&vm, IVault::freeStakeCall { operator: OP }), v.free_stake(OP));
        assert_eq!(v.free_stake(OP), u(900));
        ok(&vm, IVault::unlockCall { operator: OP, amount: u(50) });
        let o = ok(&vm, IVault::operatorStakeCall { operator: OP });
        assert_eq!((o._0, o._1, o._2), v.operator_stake(OP));
        assert_eq!(o._2, u(50));

        vm.set_sender(ALICE);
        let id = ok(&vm, IVault::queueWithdrawalCall { operator: OP, shares: shares / u(4) });
        let w = ok(&vm, IVault::withdrawalCall { withdrawalId: id });
        assert_eq!((w._0, w._1, w._2, w._3, w._4, w._5, w._6), v.withdrawal(id));
        assert_eq!((w._0, w._1, w._3, w._4), (ALICE, OP, u(250), T0 + DELAY));
        vm.set_block_timestamp(T0 + DELAY);
        assert_eq!(ok(&vm, IVault::processWithdrawalsCall { operator: OP, maxCount: u(5) }), u(1));
        mock_outs(&vm, &[(ALICE, 250)]);
        assert_eq!(ok(&vm, IVault::claimCall { withdrawalId: id }), u(250));
        assert!(v.withdrawal(id).6, "claimed");

        mock_outs(&vm, &[(VICTIM, 10), (TREASURY, 20)]);
        vm.set_sender(SLASHER);
        let call = IVault::slashCall {
            operator: OP,
            amount: u(30),
            evidenceHash: EVIDENCE,
            beneficiary: VICTIM,
            compensation: u(10),
        };
        assert_eq!(ok(&vm, call), u(30));
        assert_eq!(v.operator_stake(OP).0, u(720));

        vm.set_sender(OWNER);
        ok(&vm, IVault::setWithdrawalDelayCall { withdrawalDelay: 3_600 });
        ok(&vm, IVault::setTreasuryCall { treasury: CAROL });
        ok(&vm, IVault::setRoleCall { role: roles::SLASHER, account: BOB, enabled: true });
        assert!(ok(&vm, IVault::hasRoleCall { role: roles::SLASHER, account: BOB }));
        assert!(v.is_slasher(BOB));
        ok(&vm, IVault::setGuardianCall { guardian: GUARDIAN });
        ok(&vm, IVault::transferOwnershipCall { newOwner: BOB });
        vm.set_sender(GUARDIAN);
        ok(&vm, IVault::setPausedCall { paused: true });
        let c = ok(&vm, IVault::configCall {});
        assert_eq!((c._0, c._1, c._2, c._3, c._4, c._5, c._6), v.config());
        assert_eq!((c._1, c._3, c._4, c._5), (CAROL, BOB, 3_600, true));
        vm.set_sender(BOB);
        ok(&vm, IVault::acceptOwnershipCall {});
        assert_eq!(ok(&vm, IVault::ownerCall {}), BOB);
    }

    #[test]
    fn routed_errors_are_the_contracts_custom_errors() {
        let (vm, _v) = setup();
        vm.set_sender(ALICE);
        match err(&vm, IVault::lockCall { operator: OP, amount: u(1) }) {
            IVault::IVaultErrors::Unauthorized(e) => assert_eq!((e.caller, e.role), (ALICE, roles::LOCKER)),
            _ => panic!("expected Unauthorized"),
        }
        match err(&vm, IVault::claimCall { withdrawalId: u(7) }) {
            IVault::IVaultErrors::UnknownWithdrawal(e) => assert_eq!(e.withdrawalId, u(7)),
            _ => panic!("expected UnknownWithdrawal"),
        }
    }

    #[test]
    fn malformed_calldata_reverts_empty_and_changes_nothing() {
        let (vm, v) = setup();
        mock_in(&vm, ALICE, u(1_000), Ok(abi_bool(true)));
        vm.set_sender(ALICE);
        let good = IVault::depositCall { amount: u(1_000), operator: OP }.abi_encode();
        let mut dirty = good.clone();
        dirty[4 + 32 + 2] = 1; // a high byte of the operator address
        for bad in [&dirty[..], &good[..good.len() - 1], &good[..4]] {
            assert_eq!(route(&vm, bad), Some(Err(Vec::new())));
        }
        assert_eq!(v.operator_stake(OP), (U256::ZERO, U256::ZERO, U256::ZERO));
        vm.set_sender(OWNER);
        let mut two = IVault::setRoleCall { role: roles::LOCKER, account: BOB, enabled: true }.abi_encode();
        two[4 + 2 * 32 + 31] = 2;
        assert_eq!(route(&vm, &two), Some(Err(Vec::new())));
        assert!(!v.is_locker(BOB));
        // A delay that does not fit a uint64.
        let mut wide = IVault::setWithdrawalDelayCall { withdrawalDelay: 3_600 }.abi_encode();
        wide[4 + 23] = 1;
        assert_eq!(route(&vm, &wide), Some(Err(Vec::new())));
        assert_eq!(v.withdrawal_delay(), DELAY);
    }

    #[test]
    fn value_is_refused_everywhere() {
        let (vm, v) = setup();
        vm.set_value(u(1));
        vm.set_sender(GUARDIAN);
        assert!(matches!(route(&vm, &IVault::setPausedCall { paused: true }.abi_encode()), Some(Err(_))));
        assert!(!v.paused());
        vm.set_value(U256::ZERO);
        assert_eq!(route(&vm, &IVault::ownerCall {}.abi_encode()), Some(Ok(OWNER.abi_encode())));
    }

    #[test]
    fn the_constructor_runs_once_with_checked_arguments() {
        let construct =
            |vm: &TestVM, args: &[u8]| <Vault as Router<Vault>>::constructor(&mut Vault::from(vm), args);
        // Each failure on a fresh VM: the test VM does not roll back the constructor
        // guard's slot as a reverted deployment would.
        let zero =
            construct(&TestVM::default(), &(TOKEN, Address::ZERO, TREASURY, DELAY).abi_encode_params());
        assert!(matches!(
            IVault::IVaultErrors::abi_decode(&zero.unwrap().unwrap_err()),
            Ok(IVault::IVaultErrors::ZeroAddress(_))
        ));
        let mut wide = (TOKEN, OWNER, TREASURY, DELAY).abi_encode_params();
        wide[3 * 32 + 20] = 1; // a delay above 2^64
        assert_eq!(construct(&TestVM::default(), &wide), Some(Err(Vec::new())));
        let vm = TestVM::default();
        let good = (TOKEN, OWNER, TREASURY, DELAY).abi_encode_params();
        assert_eq!(construct(&vm, &good[..good.len() - 1]), Some(Err(Vec::new())));
        let vm = TestVM::default();
        assert_eq!(construct(&vm, &good), Some(Ok(Vec::new())));
        assert_eq!(Vault::from(&vm).config().0, TOKEN);
        assert!(matches!(construct(&vm, &good), Some(Err(_))), "a second construction is refused");
    }
}
