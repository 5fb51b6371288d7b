//! # Restaking slashing vault
//!
//! Stakers deposit one collateral ERC-20 (a liquid restaking token on mainnet, a mock on
//! the devnet) and delegate it to an operator (a GPU provider; operators may self-stake).
//! The stake backs the compute-second tokens the market lets the operator mint, and is
//! slashed when the operator lies, fails to deliver or breaks its SLA.
//!
//! * Per operator, an **active pool** (assets `A`, shares `S`) and a **queued pool**
//!   (assets `Q`, queue-shares `QS`). A slash takes from both pools pro rata and changes no
//!   share count, so every delegator and every queued withdrawal loses pro rata.
//! * Deposits mint `amount * (S + 1) / (A + 1)` shares, rounded down (a virtual offset of
//!   one against the inflation attack and division by zero).
//! * Withdrawals are queued behind `withdrawalDelay` and stay slashable until they mature;
//!   matured withdrawals are finalised in FIFO order per operator and claimed by the staker.
//! * Stake locking for the market: locked stake backs outstanding obligations and cannot
//!   be withdrawn.
//! * Instant slashing by authorised slashers: the market (objective faults) and the
//!   `slash-court` contract (vetoable slashing for disputes, with its own veto window).
//! * Owner with two-step transfer; a guardian pauses deposits, withdrawals and claims.
//!
//! Every division rounds in the vault's favour: a staker is never paid more than its
//! deposit minus its pro-rata share of slashes. See the crate's README for the rules.
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]
#![cfg_attr(feature = "contract-client-gen", allow(unused_imports))]

extern crate alloc;

use alloc::vec::Vec;
use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolEvent;
use contracts_common::math::{mul_div_down, mul_div_up};
use stylus_sdk::{prelude::*, storage::*, stylus_core::calls::Call};

/// Withdrawal delays above this are rejected, so the owner cannot lock stakers' funds
/// indefinitely (a delay applies to withdrawals queued after it is set).
pub const MAX_WITHDRAWAL_DELAY: u64 = 365 * 24 * 60 * 60;

/// Role identifiers carried by `Unauthorized` and `RoleSet`: `keccak256("<NAME>_ROLE")`.
pub mod roles {
    use alloy_primitives::{b256, B256};
    /// `keccak256("OWNER_ROLE")`
    pub const OWNER: B256 = b256!("0xb19546dff01e856fb3f010c267a7b1c60363cf8a4664e21cc89c26224620214e");
    /// `keccak256("PENDING_OWNER_ROLE")`
    pub const PENDING_OWNER: B256 =
        b256!("0x9aee2ad1e182a48c4cc26ca6189148173423afb5382b6f9208f175aed0b8fa73");
    /// `keccak256("GUARDIAN_ROLE")`
    pub const GUARDIAN: B256 = b256!("0x55435dd261a4b9b3364963f7738a7a662ad9c84396d64be3365284bb7f0a5041");
    /// `keccak256("SLASHER_ROLE")`
    pub const SLASHER: B256 = b256!("0x12b42e8a160f6064dc959c6f251e3af0750ad213dbecf573b4710d67d6c28e39");
    /// `keccak256("LOCKER_ROLE")`
    pub const LOCKER: B256 = b256!("0xaf9a8bb3cbd6b84fbccefa71ff73e26e798553c6914585a84886212a46a90279");
    /// `keccak256("STAKER_ROLE")`: the staker who queued a withdrawal (only it may claim).
    pub const STAKER: B256 = b256!("0xb9e206fa2af7ee1331b72ce58b6d938ac810ce9b5cdb65d35ab723fd67badf9e");
}

/// Bits of the per-account role mask.
const SLASHER_BIT: u8 = 1;
const LOCKER_BIT: u8 = 2;

contracts_common::sol_events! {
    event Deposited(address indexed staker, address indexed operator, uint256 assets, uint256 shares);
    event WithdrawalQueued(uint256 indexed withdrawalId, address indexed staker, address indexed operator, uint256 shares, uint256 assets, uint64 unlockTime);
    event WithdrawalClaimed(uint256 indexed withdrawalId, address indexed staker, address indexed operator, uint256 assets);
    event Slashed(address indexed operator, uint256 slashed, bytes32 indexed evidenceHash, address indexed beneficiary, uint256 compensationPaid);
    event Locked(address indexed operator, address indexed locker, uint256 amount, uint256 totalLocked);
    event Unlocked(address indexed operator, address indexed locker, uint256 amount, uint256 totalLocked);
    event RoleSet(bytes32 indexed role, address indexed account, bool enabled);
    event GuardianSet(address indexed guardian);
    event TreasurySet(address indexed treasury);
    event WithdrawalDelaySet(uint64 withdrawalDelay);
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event Paused(address account);
    event Unpaused(address account);
}

contracts_common::contract_errors! {
    /// Everything this contract can revert with (a collateral token's revert is reported
    /// as `TokenTransferFailed`).
    pub enum VaultError {
        Unauthorized(address caller, bytes32 role);
        ZeroAddress();
        InvalidWithdrawalDelay(uint64 withdrawalDelay);
        UnknownRole(bytes32 role);
        ZeroShares();
        ZeroAssets();
        InsufficientShares(uint256 balance, uint256 needed);
        InsufficientFreeStake(uint256 free, uint256 needed);
        UnknownWithdrawal(uint256 withdrawalId);
        WithdrawalNotReady(uint256 unlockTime);
        AlreadyClaimed(uint256 withdrawalId);
        MathOverflow();
        TokenTransferFailed(address token);
        EnforcedPause();
        ExpectedPause();
    }
}

/// `None` (an overflow in checked arithmetic) becomes `MathOverflow()`.
fn checked<T>(value: Option<T>) -> Result<T, VaultError> {
    value.ok_or(VaultError::MathOverflow(MathOverflow {}))
}

#[inline(never)]
fn unauthorized(caller: Address, role: B256) -> VaultError {
    VaultError::Unauthorized(Unauthorized { caller, role })
}

const ONE: U256 = U256::from_limbs([1, 0, 0, 0]);

// One out-of-line copy of a `uint256` slot read and write: the SDK's accessors inline the
// slot arithmetic and byte swaps into every use (several hundred bytes of wasm each).
#[inline(never)]
fn ld(slot: &StorageU256) -> U256 {
    slot.get()
}
#[inline(never)]
fn st(slot: &mut StorageU256, value: U256) {
    slot.set(value)
}
#[inline(never)]
fn ld64(slot: &StorageU64) -> u64 {
    slot.get().saturating_to::<u64>()
}
#[inline(never)]
fn st64(slot: &mut StorageU64, value: u64) {
    slot.set(alloy_primitives::Uint::from(value))
}

/// Checked `a + b`.
#[inline(never)]
fn add(a: U256, b: U256) -> Result<U256, VaultError> {
    checked(a.checked_add(b))
}

/// Checked `x * y / d`, rounded down.
#[inline(never)]
fn md(x: U256, y: U256, d: U256) -> Result<U256, VaultError> {
    checked(mul_div_down(x, y, d))
}

/// Checked `x * (y + 1) / (z + 1)`, rounded down: shares minted with the virtual offset.
#[inline(never)]
fn md_offset(x: U256, y: U256, z: U256) -> Result<U256, VaultError> {
    md(x, add(y, ONE)?, add(z, ONE)?)
}

#[inline(never)]
fn lda(slot: &StorageAddress) -> Address {
    slot.get()
}
#[inline(never)]
fn sta(slot: &mut StorageAddress, value: Address) {
    slot.set(value)
}
#[inline(never)]
fn ldb(slot: &StorageBool) -> bool {
    slot.get()
}
#[inline(never)]
fn stb(slot: &mut StorageBool, value: bool) {
    slot.set(value)
}

// Events are emitted as raw logs: every non-indexed field is a static type (one ABI
// word), so the data is the concatenation of the words. This replaces alloy's generic
// per-event encoders (about 1 KB of wasm each); the tests decode every event with the
// `sol!` types above, which checks the layout.
#[inline(never)]
fn w_addr(a: Address) -> B256 {
    a.into_word()
}
#[inline(never)]
fn w_u256(x: U256) -> B256 {
    B256::from(x)
}
#[inline(never)]
fn w_u64(x: u64) -> B256 {
    B256::from(U256::from(x))
}
fn w_bool(b: bool) -> B256 {
    B256::with_last_byte(b as u8)
}

/// One operator's stake.
#[storage]
pub struct OperatorPool {
    /// Active assets `A`.
    assets: StorageU256,
    /// Active shares `S`.
    shares: StorageU256,
    /// Assets of immature (not yet finalised) queued withdrawals `Q`.
    queued_assets: StorageU256,
    /// Queue-shares of those withdrawals `QS`.
    queued_shares: StorageU256,
    /// Stake locked by the market behind outstanding obligations (may exceed `A` only
    /// transiently; a slash clamps it to `A`).
    locked: StorageU256,
    /// Index in `queue` of the oldest withdrawal not yet finalised by the FIFO walk.
    head: StorageU256,
    /// Withdrawal ids in the order they were queued.
    queue: StorageVec<StorageU256>,
    /// Active shares per staker.
    stakes: StorageMap<Address, StorageU256>,
}

/// One queued withdrawal.
#[storage]
pub struct Withdrawal {
    staker: StorageAddress,
    unlock_time: StorageU64,
    finalized: StorageBool,
    claimed: StorageBool,
    operator: StorageAddress,
    /// Queue-shares while queued; zero once finalised.
    queue_shares: StorageU256,
    /// Assets owed, fixed when finalised.
    assets: StorageU256,
}

#[storage]
#[entrypoint]
pub struct Vault {
    /// The collateral ERC-20, fixed at construction.
    collateral: StorageAddress,
    owner: StorageAddress,
    pending_owner: StorageAddress,
    guardian: StorageAddress,
    paused: StorageBool,
    /// Receives what a slash does not pay to the harmed party.
    treasury: StorageAddress,
    withdrawal_delay: StorageU64,
    /// Role bit mask per account (slasher, locker).
    roles: StorageMap<Address, StorageU8>,
    pools: StorageMap<Address, OperatorPool>,
    withdrawals: StorageMap<U256, Withdrawal>,
    /// The last withdrawal id handed out (ids start at 1).
    withdrawal_count: StorageU256,
}

/// Internal logic, shared by the public entry points.
impl Vault {
    #[inline(never)]
    fn only_owner(&self) -> Result<(), VaultError> {
        let caller = self.vm().msg_sender();
        if caller != lda(&self.owner) {
            return Err(unauthorized(caller, roles::OWNER));
        }
        Ok(())
    }

    #[inline(never)]
    fn only_role(&self, bit: u8, role: B256) -> Result<Address, VaultError> {
        let caller = self.vm().msg_sender();
        if self.mask(caller) & bit == 0 {
            return Err(unauthorized(caller, role));
        }
        Ok(caller)
    }

    #[inline(never)]
    fn mask(&self, account: Address) -> u8 {
        self.roles.get(account).saturating_to::<u8>()
    }

    /// The mask bit of a role the owner grants with `setRole`.
    fn role_bit(role: B256) -> Result<u8, VaultError> {
        if role == roles::SLASHER {
            Ok(SLASHER_BIT)
        } else if role == roles::LOCKER {
            Ok(LOCKER_BIT)
        } else {
            Err(VaultError::UnknownRole(UnknownRole { role }))
        }
    }

    #[inline(never)]
    fn emit(&self, topics: &[B256], words: &[B256]) {
        let mut data = Vec::with_capacity(32 * words.len());
        for w in words {
            data.extend_from_slice(w.as_slice());
        }
        // Fails only for more than four topics.
        let _ = self.vm().raw_log(topics, &data);
    }

    #[inline(never)]
    fn when_not_paused(&self) -> Result<(), VaultError> {
        if ldb(&self.paused) {
            return Err(VaultError::EnforcedPause(EnforcedPause {}));
        }
        Ok(())
    }

    /// Checks and stores the withdrawal delay (`0 < delay <= MAX_WITHDRAWAL_DELAY`).
    fn store_delay(&mut self, delay: u64) -> Result<(), VaultError> {
        if delay == 0 || delay > MAX_WITHDRAWAL_DELAY {
            return Err(VaultError::InvalidWithdrawalDelay(InvalidWithdrawalDelay {
                withdrawalDelay: delay,
            }));
        }
        st64(&mut self.withdrawal_delay, delay);
        self.emit(&[WithdrawalDelaySet::SIGNATURE_HASH], &[w_u64(delay)]);
        Ok(())
    }

    /// Calls the collateral token; success is a call that does not revert and returns
    /// either nothing (tokens without a return value, provided the token has code) or an
    /// ABI `true`.
    #[inline(never)]
    fn call_token(&mut self, selector: [u8; 4], words: &[[u8; 32]]) -> Result<(), VaultError> {
        let token = lda(&self.collateral);
        let mut data = Vec::with_capacity(4 + 32 * words.len());
        data.extend_from_slice(&selector);
        for w in words {
            data.extend_from_slice(w);
        }
        let ctx = Call::new_mutating(self);
        let ok = match stylus_sdk::call::call(self.vm(), ctx, token, &data) {
            Ok(ret) if ret.is_empty() => self.vm().code_size(token) > 0,
            Ok(ret) => ret.len() >= 32 && U256::from_be_slice(&ret[..32]) == ONE,
            Err(_) => false,
        };
        if !ok {
            return Err(VaultError::TokenTransferFailed(TokenTransferFailed { token }));
        }
        Ok(())
    }

    #[inline(never)]
    fn transfer_out(&mut self, to: Address, amount: U256) -> Result<(), VaultError> {
        if amount.is_zero() {
            return Ok(());
        }
        // transfer(address,uint256)
        self.call_token([0xa9, 0x05, 0x9c, 0xbb], &[to.into_word().0, amount.to_be_bytes()])
    }

    #[inline(never)]
    fn transfer_in(&mut self, from: Address, amount: U256) -> Result<(), VaultError> {
        let this = self.vm().contract_address();
        // transferFrom(address,address,uint256)
        self.call_token(
            [0x23, 0xb8, 0x72, 0xdd],
            &[from.into_word().0, this.into_word().0, amount.to_be_bytes()],
        )
    }

    /// Walks at most `max` entries of the operator's withdrawal FIFO from its head without
    /// writing, stopping at the first immature entry. Returns the queued pool `(Q, QS)` as
    /// it will be once the matured entries are finalised, the new head, and the
    /// `(withdrawalId, assets)` each of those entries finalises to.
    #[allow(clippy::type_complexity)]
    #[inline(never)]
    fn walk_queue(&self, operator: Address, max: usize) -> (U256, U256, usize, Vec<(U256, U256)>) {
        let now = self.vm().block_timestamp();
        let pool = self.pools.getter(operator);
        let mut q = ld(&pool.queued_assets);
        let mut qs = ld(&pool.queued_shares);
        let len = pool.queue.len();
        let start = ld(&pool.head).saturating_to::<usize>();
        let mut head = start;
        let mut done = Vec::new();
        while head < len && head - start < max {
            let id = pool.queue.get(head).unwrap_or_default();
            let w = self.withdrawals.getter(id);
            if !ldb(&w.finalized) {
                if ld64(&w.unlock_time) > now {
                    break;
                }
                let ws = ld(&w.queue_shares);
                // qs >= ws > 0, so the division is defined; `unwrap_or` keeps it total.
                let a = mul_div_down(ws, q, qs).unwrap_or(q).min(q);
                q -= a;
                qs -= ws;
                done.push((id, a));
            }
            head += 1;
        }
        (q, qs, head - start, done)
    }

    /// Finalises at most `max` entries from the head of the operator's withdrawal FIFO
    /// whose unlock time has passed: their assets leave the queued (slashable) pool.
    /// Stops at the first immature entry. Returns how many entries it advanced over.
    #[inline(never)]
    fn mature(&mut self, operator: Address, max: usize) -> usize {
        let (q, qs, advanced, done) = self.walk_queue(operator, max);
        if advanced != 0 {
            for (id, a) in done {
                let mut w = self.withdrawals.setter(id);
                st(&mut w.assets, a);
                st(&mut w.queue_shares, U256::ZERO);
                stb(&mut w.finalized, true);
            }
            let mut pool = self.pools.setter(operator);
            st(&mut pool.queued_assets, q);
            st(&mut pool.queued_shares, qs);
            let head = ld(&pool.head);
            st(&mut pool.head, head + U256::from(advanced));
        }
        advanced
    }

    /// `lock` (`add`) or `unlock` of `amount` for `operator`. Only lockers.
    #[inline(never)]
    fn change_lock(&mut self, operator: Address, amount: U256, add: bool) -> Result<(), VaultError> {
        let locker = self.only_role(LOCKER_BIT, roles::LOCKER)?;
        let mut pool = self.pools.setter(operator);
        let locked = ld(&pool.locked);
        let total = if add {
            let free = ld(&pool.assets).saturating_sub(locked);
            if amount > free {
                return Err(VaultError::InsufficientFreeStake(InsufficientFreeStake {
                    free,
                    needed: amount,
                }));
            }
            locked + amount // <= A
        } else {
            locked.saturating_sub(amount)
        };
        st(&mut pool.locked, total);
        let topic = if add { Locked::SIGNATURE_HASH } else { Unlocked::SIGNATURE_HASH };
        self.emit(&[topic, w_addr(operator), w_addr(locker)], &[w_u256(amount), w_u256(total)]);
        Ok(())
    }

    /// Slashes `min(amount, slashable)` from the operator's active and queued pools pro
    /// rata, pays the beneficiary up to `compensation` and the rest to the treasury.
    fn slash_internal(
        &mut self,
        operator: Address,
        amount: U256,
        evidence_hash: B256,
        beneficiary: Address,
        compensation: U256,
    ) -> Result<U256, VaultError> {
        self.mature(operator, usize::MAX);
        let mut pool = self.pools.setter(operator);
        let a = ld(&pool.assets);
        let q = ld(&pool.queued_assets);
        let total = add(a, q)?;
        let mut slashed = amount.min(total);
        if !slashed.is_zero() {
            // The active cut rounds up and the queued cut is the remainder, so neither
            // exceeds its pool: active <= ceil(slashed * A / total) <= A and
            // queued = slashed - active <= slashed * Q / total <= Q.
            let active_cut = checked(mul_div_up(slashed, a, total))?.min(a);
            let queued_cut = (slashed - active_cut).min(q);
            slashed = active_cut + queued_cut;
            let new_a = a - active_cut;
            st(&mut pool.assets, new_a);
            st(&mut pool.queued_assets, q - queued_cut);
            if ld(&pool.locked) > new_a {
                st(&mut pool.locked, new_a);
            }
        }
        let paid = if beneficiary.is_zero() { U256::ZERO } else { compensation.min(slashed) };
        self.emit(
            &[Slashed::SIGNATURE_HASH, w_addr(operator), evidence_hash, w_addr(beneficiary)],
            &[w_u256(slashed), w_u256(paid)],
        );
        self.transfer_out(beneficiary, paid)?;
        let treasury = lda(&self.treasury);
        self.transfer_out(treasury, slashed - paid)?;
        Ok(slashed)
    }
}

/// The constructor: called by the hand-written router (`router.rs`), and outside the
/// `#[public]` block because the SDK's ABI export has no place for it (its arguments are in
/// the README and used by the deployer).
impl Vault {
    /// Sets the collateral token, the owner (also the first guardian), the treasury, the
    /// withdrawal delay (`0 < delay <= MAX_WITHDRAWAL_DELAY`).
    pub fn constructor(
        &mut self,
        collateral: Address,
        owner: Address,
        treasury: Address,
        withdrawal_delay: u64,
    ) -> Result<(), VaultError> {
        if collateral.is_zero() || owner.is_zero() || treasury.is_zero() {
            return Err(VaultError::ZeroAddress(ZeroAddress {}));
        }
        sta(&mut self.collateral, collateral);
        sta(&mut self.owner, owner);
        sta(&mut self.guardian, owner);
        sta(&mut self.treasury, treasury);
        self.emit(&[OwnershipTransferred::SIGNATURE_HASH, B256::ZERO, w_addr(owner)], &[]);
        self.emit(&[GuardianSet::SIGNATURE_HASH, w_addr(owner)], &[]);
        self.emit(&[TreasurySet::SIGNATURE_HASH, w_addr(treasury)], &[]);
        self.store_delay(withdrawal_delay)
    }
}

// `#[public]` only exports the ABI; calls are routed by hand in `router.rs` (the SDK's
// generated router put the program over the 20 KiB target).
#[cfg_attr(feature = "export-abi", public)]
impl Vault {
    // ----- staking -----

    /// Deposits `amount` of collateral (pulled with `transferFrom`, so approve first) and
    /// delegates it to `operator`. Mints `amount * (S + 1) / (A + 1)` shares, rounded down.
    pub fn deposit(&mut self, amount: U256, operator: Address) -> Result<U256, VaultError> {
        self.when_not_paused()?;
        if operator.is_zero() {
            return Err(VaultError::ZeroAddress(ZeroAddress {}));
        }
        let staker = self.vm().msg_sender();
        let mut pool = self.pools.setter(operator);
        let a = ld(&pool.assets);
        let s = ld(&pool.shares);
        let shares = md_offset(amount, s, a)?;
        if shares.is_zero() {
            return Err(VaultError::ZeroShares(ZeroShares {}));
        }
        let new_a = add(a, amount)?;
        let new_s = add(s, shares)?;
        st(&mut pool.assets, new_a);
        st(&mut pool.shares, new_s);
        let mut stake = pool.stakes.setter(staker);
        let own = ld(&stake);
        st(&mut stake, own + shares); // <= new_s
        self.emit(
            &[Deposited::SIGNATURE_HASH, w_addr(staker), w_addr(operator)],
            &[w_u256(amount), w_u256(shares)],
        );
        self.transfer_in(staker, amount)?;
        Ok(shares)
    }

    /// Burns `shares` of the caller's active stake with `operator` and queues their
    /// assets (`shares * A / S`, rounded down) for withdrawal after `withdrawalDelay`.
    /// They stay slashable until then. The stake left must still cover the locked stake.
    pub fn queue_withdrawal(&mut self, operator: Address, shares: U256) -> Result<U256, VaultError> {
        self.when_not_paused()?;
        if shares.is_zero() {
            return Err(VaultError::ZeroShares(ZeroShares {}));
        }
        let staker = self.vm().msg_sender();
        let unlock_time = checked(self.vm().block_timestamp().checked_add(ld64(&self.withdrawal_delay)))?;
        let id = add(ld(&self.withdrawal_count), ONE)?;
        let mut pool = self.pools.setter(operator);
        let balance = ld(&pool.stakes.getter(staker));
        if balance < shares {
            return Err(VaultError::InsufficientShares(InsufficientShares { balance, needed: shares }));
        }
        let a = ld(&pool.assets);
        let s = ld(&pool.shares); // >= balance >= shares > 0
        let assets = md(shares, a, s)?;
        if assets.is_zero() {
            return Err(VaultError::ZeroAssets(ZeroAssets {}));
        }
        let free = a.saturating_sub(ld(&pool.locked));
        if assets > free {
            return Err(VaultError::InsufficientFreeStake(InsufficientFreeStake { free, needed: assets }));
        }
        let q = ld(&pool.queued_assets);
        let qs = ld(&pool.queued_shares);
        let queue_shares = md_offset(assets, qs, q)?;
        if queue_shares.is_zero() {
            return Err(VaultError::ZeroShares(ZeroShares {}));
        }
        let new_q = add(q, assets)?;
        let new_qs = add(qs, queue_shares)?;
        st(&mut pool.stakes.setter(staker), balance - shares);
        st(&mut pool.assets, a - assets);
        st(&mut pool.shares, s - shares);
        st(&mut pool.queued_assets, new_q);
        st(&mut pool.queued_shares, new_qs);
        pool.queue.push(id);
        st(&mut self.withdrawal_count, id);
        let mut w = self.withdrawals.setter(id);
        sta(&mut w.staker, staker);
        sta(&mut w.operator, operator);
        st64(&mut w.unlock_time, unlock_time);
        st(&mut w.queue_shares, queue_shares);
        self.emit(
            &[WithdrawalQueued::SIGNATURE_HASH, w_u256(id), w_addr(staker), w_addr(operator)],
            &[w_u256(shares), w_u256(assets), w_u64(unlock_time)],
        );
        Ok(id)
    }

    /// Pays a matured withdrawal to its staker, once. Returns the assets paid (the queued
    /// assets less the withdrawal's pro-rata share of any slash while it was queued).
    pub fn claim(&mut self, withdrawal_id: U256) -> Result<U256, VaultError> {
        self.when_not_paused()?;
        let caller = self.vm().msg_sender();
        let now = self.vm().block_timestamp();
        let mut w = self.withdrawals.setter(withdrawal_id);
        let staker = lda(&w.staker);
        if staker.is_zero() {
            return Err(VaultError::UnknownWithdrawal(UnknownWithdrawal { withdrawalId: withdrawal_id }));
        }
        if caller != staker {
            return Err(unauthorized(caller, roles::STAKER));
        }
        if ldb(&w.claimed) {
            return Err(VaultError::AlreadyClaimed(AlreadyClaimed { withdrawalId: withdrawal_id }));
        }
        let unlock_time = ld64(&w.unlock_time);
        if now < unlock_time {
            return Err(VaultError::WithdrawalNotReady(WithdrawalNotReady {
                unlockTime: U256::from(unlock_time),
            }));
        }
        let operator = lda(&w.operator);
        let assets = if ldb(&w.finalized) {
            ld(&w.assets)
        } else {
            // Not reached by the FIFO walk yet (an older entry is still immature):
            // finalise it directly.
            let mut pool = self.pools.setter(operator);
            let q = ld(&pool.queued_assets);
            let qs = ld(&pool.queued_shares);
            let ws = ld(&w.queue_shares);
            let a = md(ws, q, qs)?.min(q);
            st(&mut pool.queued_assets, q - a);
            st(&mut pool.queued_shares, qs - ws);
            st(&mut w.queue_shares, U256::ZERO);
            stb(&mut w.finalized, true);
            st(&mut w.assets, a);
            a
        };
        stb(&mut w.claimed, true);
        self.emit(
            &[WithdrawalClaimed::SIGNATURE_HASH, w_u256(withdrawal_id), w_addr(staker), w_addr(operator)],
            &[w_u256(assets)],
        );
        self.transfer_out(staker, assets)?;
        Ok(assets)
    }

    /// Finalises up to `maxCount` matured withdrawals at the head of `operator`'s queue
    /// (anyone may call it; slashing does the same without a bound). Returns how many
    /// entries were processed.
    pub fn process_withdrawals(&mut self, operator: Address, max_count: U256) -> U256 {
        let max = max_count.saturating_to::<usize>();
        U256::from(self.mature(operator, max))
    }

    // ----- stake views -----

    /// `(shares, assets)` of `staker`'s active stake with `operator`: its shares and
    /// what they would queue for now (`shares * A / S`, rounded down).
    pub fn stake_of(&self, operator: Address, staker: Address) -> (U256, U256) {
        let pool = self.pools.getter(operator);
        let shares = ld(&pool.stakes.getter(staker));
        (shares, mul_div_down(shares, ld(&pool.assets), ld(&pool.shares)).unwrap_or_default())
    }

    /// `(active, queued, locked)`: active assets, assets of still-slashable queued
    /// withdrawals, and the stake locked behind obligations. The slashable stake is
    /// `active + queued`.
    pub fn operator_stake(&self, operator: Address) -> (U256, U256, U256) {
        let (q, ..) = self.walk_queue(operator, usize::MAX);
        let pool = self.pools.getter(operator);
        (ld(&pool.assets), q, ld(&pool.locked))
    }

    /// Active stake not locked: what the market may still lock.
    pub fn free_stake(&self, operator: Address) -> U256 {
        let pool = self.pools.getter(operator);
        ld(&pool.assets).saturating_sub(ld(&pool.locked))
    }

    /// `(staker, operator, queueShares, assets, unlockTime, finalized, claimed)`. Until
    /// finalised, `assets` is the entry's current value at the queued pool's price.
    #[allow(clippy::type_complexity)]
    pub fn withdrawal(&self, withdrawal_id: U256) -> (Address, Address, U256, U256, u64, bool, bool) {
        let w = self.withdrawals.getter(withdrawal_id);
        let operator = lda(&w.operator);
        let finalized = ldb(&w.finalized);
        let ws = ld(&w.queue_shares);
        let assets = if finalized {
            ld(&w.assets)
        } else {
            let pool = self.pools.getter(operator);
            mul_div_down(ws, ld(&pool.queued_assets), ld(&pool.queued_shares)).unwrap_or_default()
        };
        (lda(&w.staker), operator, ws, assets, ld64(&w.unlock_time), finalized, ldb(&w.claimed))
    }

    // ----- locking (the market) -----

    /// Locks `amount` of `operator`'s free stake behind obligations. Only lockers.
    pub fn lock(&mut self, operator: Address, amount: U256) -> Result<(), VaultError> {
        self.change_lock(operator, amount, true)
    }

    /// Releases up to `amount` of `operator`'s locked stake (saturating at zero: a slash
    /// may already have reduced it). Only lockers.
    pub fn unlock(&mut self, operator: Address, amount: U256) -> Result<(), VaultError> {
        self.change_lock(operator, amount, false)
    }

    // ----- slashing -----

    /// Slashes `min(amount, slashableStake(operator))`, taken pro rata from the active
    /// stake and the immature queued withdrawals; pays `beneficiary` up to `compensation`
    /// and the rest to the treasury. Only instant slashers. Returns the amount slashed.
    pub fn slash(
        &mut self,
        operator: Address,
        amount: U256,
        evidence_hash: B256,
        beneficiary: Address,
        compensation: U256,
    ) -> Result<U256, VaultError> {
        self.only_role(SLASHER_BIT, roles::SLASHER)?;
        self.slash_internal(operator, amount, evidence_hash, beneficiary, compensation)
    }

    // ----- configuration -----

    /// `(collateral, treasury, guardian, pendingOwner, withdrawalDelay, paused,
    /// withdrawalCount)`; withdrawal ids run from 1 to `withdrawalCount`.
    #[allow(clippy::type_complexity)]
    pub fn config(&self) -> (Address, Address, Address, Address, u64, bool, U256) {
        (
            lda(&self.collateral),
            lda(&self.treasury),
            lda(&self.guardian),
            lda(&self.pending_owner),
            ld64(&self.withdrawal_delay),
            ldb(&self.paused),
            ld(&self.withdrawal_count),
        )
    }

    /// Whether `account` holds `SLASHER_ROLE` or `LOCKER_ROLE` (the roles `setRole`
    /// grants; any other role: `false`; the owner, pending owner and guardian are read
    /// with `owner()` and `config()`).
    pub fn has_role(&self, role: B256, account: Address) -> bool {
        Self::role_bit(role).is_ok_and(|bit| self.mask(account) & bit != 0)
    }

    // ----- administration -----

    /// Grants or revokes `SLASHER_ROLE` or `LOCKER_ROLE` (any other role reverts
    /// `UnknownRole`). Only the owner.
    pub fn set_role(&mut self, role: B256, account: Address, enabled: bool) -> Result<(), VaultError> {
        self.only_owner()?;
        let bit = Self::role_bit(role)?;
        if account.is_zero() {
            return Err(VaultError::ZeroAddress(ZeroAddress {}));
        }
        let mask = self.mask(account);
        let mask = if enabled { mask | bit } else { mask & !bit };
        self.roles.setter(account).set(alloy_primitives::Uint::from(mask));
        self.emit(&[RoleSet::SIGNATURE_HASH, role, w_addr(account)], &[w_bool(enabled)]);
        Ok(())
    }

    /// Names the guardian (zero: nobody can pause or unpause). Only the owner.
    pub fn set_guardian(&mut self, guardian: Address) -> Result<(), VaultError> {
        self.only_owner()?;
        sta(&mut self.guardian, guardian);
        self.emit(&[GuardianSet::SIGNATURE_HASH, w_addr(guardian)], &[]);
        Ok(())
    }

    pub fn set_treasury(&mut self, treasury: Address) -> Result<(), VaultError> {
        self.only_owner()?;
        if treasury.is_zero() {
            return Err(VaultError::ZeroAddress(ZeroAddress {}));
        }
        sta(&mut self.treasury, treasury);
        self.emit(&[TreasurySet::SIGNATURE_HASH, w_addr(treasury)], &[]);
        Ok(())
    }

    /// Sets the delay of withdrawals queued from now on (already queued ones keep their
    /// unlock time; `0 < delay <= MAX_WITHDRAWAL_DELAY`). A dispute module such as
    /// slash-court must keep its veto window below it. Only the owner.
    pub fn set_withdrawal_delay(&mut self, withdrawal_delay: u64) -> Result<(), VaultError> {
        self.only_owner()?;
        self.store_delay(withdrawal_delay)
    }

    /// Pauses deposits, withdrawal queueing and claims (not slashing or locking). Only
    /// the guardian.
    /// `true` pauses deposits, withdrawal queueing and claims (not slashing or locking),
    /// `false` unpauses. Only the guardian. Pausing when paused reverts `EnforcedPause()`,
    /// unpausing when not paused `ExpectedPause()`.
    pub fn set_paused(&mut self, paused: bool) -> Result<(), VaultError> {
        let caller = self.vm().msg_sender();
        if caller != lda(&self.guardian) || caller.is_zero() {
            return Err(unauthorized(caller, roles::GUARDIAN));
        }
        if ldb(&self.paused) == paused {
            return Err(if paused {
                VaultError::EnforcedPause(EnforcedPause {})
            } else {
                VaultError::ExpectedPause(ExpectedPause {})
            });
        }
        stb(&mut self.paused, paused);
        let topic = if paused { Paused::SIGNATURE_HASH } else { Unpaused::SIGNATURE_HASH };
        self.emit(&[topic], &[w_addr(caller)]);
        Ok(())
    }

    // ----- ownership (two-step) -----

    pub fn owner(&self) -> Address {
        lda(&self.owner)
    }

    /// Starts an ownership transfer; `newOwner` must accept. Zero cancels a pending one.
    pub fn transfer_ownership(&mut self, new_owner: Address) -> Result<(), VaultError> {
        self.only_owner()?;
        sta(&mut self.pending_owner, new_owner);
        self.emit(
            &[OwnershipTransferStarted::SIGNATURE_HASH, w_addr(lda(&self.owner)), w_addr(new_owner)],
            &[],
        );
        Ok(())
    }

    pub fn accept_ownership(&mut self) -> Result<(), VaultError> {
        let caller = self.vm().msg_sender();
        if caller != lda(&self.pending_owner) || caller.is_zero() {
            return Err(unauthorized(caller, roles::PENDING_OWNER));
        }
        let previous = lda(&self.owner);
        sta(&mut self.owner, caller);
        sta(&mut self.pending_owner, Address::ZERO);
        self.emit(&[OwnershipTransferred::SIGNATURE_HASH, w_addr(previous), w_addr(caller)], &[]);
        Ok(())
    }
}

#[cfg(not(feature = "export-abi"))]
mod router;

#[cfg(test)]
impl Vault {
    /// `(activeShares, queueShares)` of `operator`'s two pools, as the views see them.
    pub(crate) fn operator_shares(&self, operator: Address) -> (U256, U256) {
        let (_, qs, ..) = self.walk_queue(operator, usize::MAX);
        (self.pools.getter(operator).shares.get(), qs)
    }
}

#[cfg(test)]
mod tests;
