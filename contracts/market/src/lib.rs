//! # Market
//!
//! Ties compute-second tokens, the slashing vault and the AMM together (DESIGN.md, "the
//! life of one GPU-second"). Hardware classes, providers and relayers live in the
//! `registry` contract, which the market reads. It holds:
//!
//! * **Obligations**: a registered provider mints compute-seconds while
//!   `obligations x collateralPerSecond <= free stake`, locking that stake in the vault;
//!   it burns its own tokens to reduce obligations and unlock the stake.
//! * **Jobs**: a buyer escrows tokens with `openJob`; the assigned provider accepts inside
//!   the accept window; the buyer may cancel before acceptance for a full refund.
//!
//! * **Settlement hooks**: `settleUsage` (burn used seconds, unlock their stake, refund the
//!   rest on the final report) and `refundJob` (close a faulty job), callable only by the
//!   settlers: `contracts/settlement` (usage reports, automatic slashing) and
//!   `contracts/enforcement` (missed accepts, disputes). They live in their own contracts
//!   so that each stays under Stylus's 24 KiB.
//!
//! ## Assigning "any provider"
//! `openJob(class, seconds, address(0), spec)` walks the class's providers in registration
//! order (the registry's `providerAt`) starting at a per-class round-robin cursor, and
//! takes the first one whose uncommitted obligations (`obligations - committed`) cover
//! `seconds`; the cursor then moves past it. The walk visits at most
//! [`MAX_ASSIGNMENT_SCAN`] providers so its gas is bounded; `NoProviderAvailable` if none
//! qualifies.
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]
#![cfg_attr(feature = "contract-client-gen", allow(unused_imports))]

extern crate alloc;

use alloc::vec::Vec;
use alloy_primitives::{Address, B256, U256, U64};
use alloy_sol_types::SolEvent;
use contracts_common::calls;
use stylus_sdk::{prelude::*, storage::*};

/// Providers visited at most by one "any provider" assignment.
pub const MAX_ASSIGNMENT_SCAN: u64 = 32;

/// Job states.
pub mod status {
    pub const NONE: u8 = 0;
    pub const OPEN: u8 = 1;
    pub const ACCEPTED: u8 = 2;
    pub const SETTLED: u8 = 3;
    pub const CANCELLED: u8 = 4;
    pub const SLASHED: u8 = 5;
}

/// Selectors of the token and vault methods the market calls (see `contracts_common::calls`).
mod selectors {
    use alloy_primitives::{Address, U256};
    use stylus_sdk::function_selector;
    pub const MINT: [u8; 4] = function_selector!("mint", Address, U256);
    pub const BURN: [u8; 4] = function_selector!("burn", U256);
    pub const TRANSFER: [u8; 4] = function_selector!("transfer", Address, U256);
    pub const TRANSFER_FROM: [u8; 4] = function_selector!("transferFrom", Address, Address, U256);
    pub const LOCK: [u8; 4] = function_selector!("lock", Address, U256);
    pub const UNLOCK: [u8; 4] = function_selector!("unlock", Address, U256);
    pub const FREE_STAKE: [u8; 4] = function_selector!("freeStake", Address);
    pub const CLASS_INFO: [u8; 4] = function_selector!("classInfo", alloy_primitives::B256);
    pub const PROVIDER_INFO: [u8; 4] = function_selector!("providerInfo", alloy_primitives::B256, Address);
    pub const PROVIDER_AT: [u8; 4] = function_selector!("providerAt", alloy_primitives::B256, U256);
}

contracts_common::sol_events! {
    event ObligationsMinted(address indexed provider, bytes32 indexed classId, uint256 gpuSeconds, uint256 collateralLocked);
    event ObligationsBurned(address indexed provider, bytes32 indexed classId, uint256 gpuSeconds, uint256 collateralUnlocked);
    event JobOpened(uint256 indexed jobId, address indexed buyer, address indexed provider, bytes32 classId, uint256 gpuSeconds, bytes32 specHash, uint64 acceptDeadline);
    event JobAccepted(uint256 indexed jobId, address indexed provider);
    event JobCancelled(uint256 indexed jobId, uint256 refunded);
    event JobClosed(uint256 indexed jobId, uint8 status, uint256 refunded);
    event SettlerSet(address indexed settler, bool enabled);
    event GuardianSet(address indexed guardian);
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event Paused(address account);
    event Unpaused(address account);
}

contracts_common::contract_errors! {
    /// Everything this contract reverts with, besides a token's or the vault's own revert
    /// data, which is re-raised unchanged (`Bubbled`).
    pub enum MarketError {
        NotOwner(address caller);
        NotPendingOwner(address caller);
        NotGuardian(address caller);
        ZeroAddress();
        ZeroSeconds();
        UnknownClass(bytes32 classId);
        ClassInactive(bytes32 classId);
        NotRegistered(address provider, bytes32 classId);
        InsufficientFreeStake(uint256 free, uint256 needed);
        InsufficientUncommitted(uint256 available, uint256 needed);
        NoProviderAvailable(bytes32 classId, uint256 gpuSeconds);
        UnknownJob(uint256 jobId);
        NotJobBuyer(uint256 jobId, address caller);
        NotJobProvider(uint256 jobId, address caller);
        JobNotOpen(uint256 jobId, uint8 status);
        AcceptWindowClosed(uint256 jobId, uint64 deadline);
        MathOverflow();
        EnforcedPause();
        ExternalCallFailed(address target);
        NotSettler(address caller);
        JobNotAccepted(uint256 jobId, uint8 status);
    }
}

fn overflow() -> MarketError {
    MarketError::MathOverflow(MathOverflow {})
}

/// A failed call to a token or the vault: its revert data is re-raised unchanged, so the
/// caller sees why (for example the token's `ERC20InsufficientAllowance`); a call that
/// failed without revert data (or returned garbage) is `ExternalCallFailed(target)`.
fn call_failed(target: Address, revert_data: Vec<u8>) -> MarketError {
    if revert_data.is_empty() {
        MarketError::ExternalCallFailed(ExternalCallFailed { target })
    } else {
        MarketError::Bubbled(revert_data)
    }
}

fn word(a: Address) -> [u8; 32] {
    a.into_word().0
}

/// A `uint64`, `uint8` or `bool` (0 / 1) as one ABI word.
fn u64_word(v: u64) -> [u8; 32] {
    U256::from(v).to_be_bytes()
}

/// A provider's obligations in one class.
#[storage]
pub struct Obligation {
    /// Tokens minted and not yet delivered or burned.
    minted: StorageU256,
    /// Part of `minted` reserved by open or accepted jobs.
    committed: StorageU256,
}

/// What the market needs of a hardware class (read from the registry).
pub struct ClassParams {
    pub token: Address,
    pub collateral_per_second: U256,
    pub accept_window: u64,
    pub active: bool,
    pub provider_count: u64,
}

/// A job: tokens in escrow for a provider to deliver.
#[storage]
pub struct Job {
    buyer: StorageAddress,
    provider: StorageAddress,
    class_id: StorageB256,
    /// GPU-seconds held in escrow.
    escrow: StorageU256,
    spec_hash: StorageB256,
    opened_at: StorageU64,
    /// `openedAt + acceptWindow`, fixed when the job opens.
    accept_deadline: StorageU64,
    accepted_at: StorageU64,
    status: StorageU8,
}

#[storage]
#[entrypoint]
pub struct Market {
    owner: StorageAddress,
    pending_owner: StorageAddress,
    guardian: StorageAddress,
    paused: StorageBool,
    vault: StorageAddress,
    registry: StorageAddress,
    /// classId => provider => obligations
    obligations: StorageMap<B256, StorageMap<Address, Obligation>>,
    /// classId => round-robin start of the next "any provider" assignment
    cursors: StorageMap<B256, StorageU64>,
    jobs: StorageMap<U256, Job>,
    /// The last job id handed out (ids start at 1).
    job_count: StorageU256,
    /// The contracts that may call `settleUsage` and `refundJob`: `contracts/settlement`
    /// (usage reports, automatic slashing) and `contracts/enforcement` (missed accepts).
    settlers: StorageMap<Address, StorageBool>,
}

/// Internal logic, shared by the public entry points. The helpers are `#[inline(never)]`:
/// each serves several entry points, and inlined copies cost about 750 compressed bytes.
impl Market {
    #[inline(never)]
    fn only_owner(&self) -> Result<(), MarketError> {
        let caller = self.vm().msg_sender();
        if caller != self.owner.get() {
            return Err(MarketError::NotOwner(NotOwner { caller }));
        }
        Ok(())
    }

    #[inline(never)]
    fn when_not_paused(&self) -> Result<(), MarketError> {
        if self.paused.get() {
            return Err(MarketError::EnforcedPause(EnforcedPause {}));
        }
        Ok(())
    }

    #[inline(never)]
    fn registry_call(&self, selector: [u8; 4], words: &[[u8; 32]]) -> Result<Vec<u8>, MarketError> {
        let registry = self.registry.get();
        calls::static_call_words(self.vm(), registry, selector, words).map_err(|e| call_failed(registry, e))
    }

    /// The class, which must be listed in the registry.
    #[inline(never)]
    fn class(&self, class_id: B256) -> Result<ClassParams, MarketError> {
        let info = self.registry_call(selectors::CLASS_INFO, &[class_id.0])?;
        let w = |i| calls::word_at(&info, i).unwrap_or_default();
        let token = Address::from_word(w(0).into());
        if token.is_zero() {
            return Err(MarketError::UnknownClass(UnknownClass { classId: class_id }));
        }
        Ok(ClassParams {
            token,
            collateral_per_second: w(1),
            accept_window: w(2).saturating_to(),
            active: !w(6).is_zero(),
            provider_count: w(7).saturating_to(),
        })
    }

    /// The class, which must be listed and active.
    #[inline(never)]
    fn active_class(&self, class_id: B256) -> Result<ClassParams, MarketError> {
        let class = self.class(class_id)?;
        if !class.active {
            return Err(MarketError::ClassInactive(ClassInactive { classId: class_id }));
        }
        Ok(class)
    }

    #[inline(never)]
    fn require_registered(&self, class_id: B256, provider: Address) -> Result<(), MarketError> {
        let info = self.registry_call(selectors::PROVIDER_INFO, &[class_id.0, word(provider)])?;
        if calls::word_at(&info, 0).unwrap_or_default().is_zero() {
            return Err(MarketError::NotRegistered(NotRegistered { provider, classId: class_id }));
        }
        Ok(())
    }

    /// `minted - committed` of a provider in a class.
    #[inline(never)]
    fn uncommitted(&self, class_id: B256, provider: Address) -> U256 {
        let o = self.obligations.getter(class_id);
        let o = o.getter(provider);
        o.minted.get().saturating_sub(o.committed.get())
    }

    /// The provider a job goes to: the one named, or the round-robin rule for "any".
    #[inline(never)]
    fn assign(
        &mut self,
        class_id: B256,
        class: &ClassParams,
        provider: Address,
        seconds: U256,
    ) -> Result<Address, MarketError> {
        if !provider.is_zero() {
            self.require_registered(class_id, provider)?;
            let available = self.uncommitted(class_id, provider);
            if available < seconds {
                return Err(MarketError::InsufficientUncommitted(InsufficientUncommitted {
                    available,
                    needed: seconds,
                }));
            }
            return Ok(provider);
        }
        let count = class.provider_count;
        let start = self.cursors.get(class_id).to::<u64>();
        for step in 0..count.min(MAX_ASSIGNMENT_SCAN) {
            let index = (start + step) % count;
            let at =
                self.registry_call(selectors::PROVIDER_AT, &[class_id.0, U256::from(index).to_be_bytes()])?;
            let candidate = Address::from_word(calls::word_at(&at, 0).unwrap_or_default().into());
            if !candidate.is_zero() && self.uncommitted(class_id, candidate) >= seconds {
                self.cursors.insert(class_id, U64::from((index + 1) % count));
                return Ok(candidate);
            }
        }
        Err(MarketError::NoProviderAvailable(NoProviderAvailable { classId: class_id, gpuSeconds: seconds }))
    }

    /// The vault's view of `operator`'s free stake.
    #[inline(never)]
    fn free_stake(&self, operator: Address) -> Result<U256, MarketError> {
        let vault = self.vault.get();
        calls::static_call_u256(self.vm(), vault, selectors::FREE_STAKE, &[word(operator)])
            .map_err(|e| call_failed(vault, e))
    }

    /// Calls the vault or a class token, both set by governance: a call that does not
    /// revert succeeded, and a revert is re-raised. Returns the return data.
    #[inline(never)]
    fn call(
        &mut self,
        target: Address,
        selector: [u8; 4],
        words: &[[u8; 32]],
    ) -> Result<Vec<u8>, MarketError> {
        let ctx = Call::new_mutating(self);
        calls::call_words(self.vm(), ctx, target, selector, words).map_err(|e| call_failed(target, e))
    }

    /// `transfer`/`transferFrom` on a class token, which must also return `true`.
    #[inline(never)]
    fn move_tokens(
        &mut self,
        token: Address,
        selector: [u8; 4],
        words: &[[u8; 32]],
    ) -> Result<(), MarketError> {
        if !calls::returned_true(&self.call(token, selector, words)?) {
            return Err(MarketError::ExternalCallFailed(ExternalCallFailed { target: token }));
        }
        Ok(())
    }

    #[inline(never)]
    fn job_exists(&self, job_id: U256) -> Result<(), MarketError> {
        if self.jobs.getter(job_id).status.get().to::<u8>() == status::NONE {
            return Err(MarketError::UnknownJob(UnknownJob { jobId: job_id }));
        }
        Ok(())
    }

    #[inline(never)]
    fn only_settler(&self) -> Result<(), MarketError> {
        let caller = self.vm().msg_sender();
        if !self.settlers.get(caller) {
            return Err(MarketError::NotSettler(NotSettler { caller }));
        }
        Ok(())
    }

    /// Lowers a provider's `minted` by `delivered` (tokens burned) and `committed` by
    /// `released` (delivered or refunded seconds no longer reserved by the job).
    #[inline(never)]
    fn release(&mut self, class_id: B256, provider: Address, delivered: U256, released: U256) {
        let (minted, committed) = self.obligations(class_id, provider);
        let mut classes = self.obligations.setter(class_id);
        let mut o = classes.setter(provider);
        o.minted.set(minted.saturating_sub(delivered));
        o.committed.set(committed.saturating_sub(released));
    }

    /// Ends a job with `new_status`, its whole escrow back to the buyer and the provider's
    /// reservation released (cancel, or a fault proven by a settler).
    #[inline(never)]
    fn refund_all(
        &mut self,
        job_id: U256,
        buyer: Address,
        provider: Address,
        class_id: B256,
        escrow: U256,
        new_status: u8,
    ) -> Result<(), MarketError> {
        {
            let mut job = self.jobs.setter(job_id);
            job.escrow.set(U256::ZERO);
            job.status.set(alloy_primitives::Uint::from(new_status));
        }
        self.release(class_id, provider, U256::ZERO, escrow);
        if !escrow.is_zero() {
            let token = self.class(class_id)?.token;
            self.move_tokens(token, selectors::TRANSFER, &[word(buyer), escrow.to_be_bytes()])?;
        }
        Ok(())
    }

    /// Emits a log from pre-encoded words: one small function instead of one alloy ABI
    /// encoder per event type (about 1.7 KB of wasm each). The events are declared in
    /// `sol_events!` for the ABI, and the tests decode every log with alloy.
    #[inline(never)]
    fn emit(&self, topics: &[[u8; 32]], data: &[[u8; 32]]) {
        let topics: Vec<B256> = topics.iter().map(|t| B256::from(*t)).collect();
        let _ = self.vm().raw_log(&topics, &data.concat());
    }

    fn closed(&self, job_id: U256, status: u8, refunded: U256) {
        self.emit(
            &[JobClosed::SIGNATURE_HASH.0, job_id.to_be_bytes()],
            &[u64_word(status as u64), refunded.to_be_bytes()],
        );
    }

    #[inline(never)]
    fn require_open(&self, job_id: U256) -> Result<(), MarketError> {
        self.job_exists(job_id)?;
        let s = self.jobs.getter(job_id).status.get().to::<u8>();
        if s != status::OPEN {
            return Err(MarketError::JobNotOpen(JobNotOpen { jobId: job_id, status: s }));
        }
        Ok(())
    }
}

/// The constructor: called by the hand-written router (`router.rs`), and outside the
/// `#[public]` block because the SDK's ABI export has no place for it (its arguments are in
/// the README and used by the deployer).
impl Market {
    pub fn constructor(
        &mut self,
        owner: Address,
        vault: Address,
        registry: Address,
    ) -> Result<(), MarketError> {
        if owner.is_zero() || vault.is_zero() || registry.is_zero() {
            return Err(MarketError::ZeroAddress(ZeroAddress {}));
        }
        self.owner.set(owner);
        self.vault.set(vault);
        self.registry.set(registry);
        Ok(())
    }
}

// `#[public]` only exports the ABI; calls are routed by hand in `router.rs` (the SDK's
// generated router put the program over the 20 KiB target).
#[cfg_attr(feature = "export-abi", public)]
impl Market {
    // ----- obligations -----

    /// Mints `gpuSeconds` tokens of the class to the caller, locking
    /// `gpuSeconds x collateralPerSecond` of its free stake in the vault.
    pub fn mint(&mut self, class_id: B256, gpu_seconds: U256) -> Result<(), MarketError> {
        self.when_not_paused()?;
        let provider = self.vm().msg_sender();
        let class = self.active_class(class_id)?;
        let (token, per_second) = (class.token, class.collateral_per_second);
        self.require_registered(class_id, provider)?;
        if gpu_seconds.is_zero() {
            return Err(MarketError::ZeroSeconds(ZeroSeconds {}));
        }
        let collateral = gpu_seconds.checked_mul(per_second).ok_or_else(overflow)?;
        let free = self.free_stake(provider)?;
        if free < collateral {
            return Err(MarketError::InsufficientFreeStake(InsufficientFreeStake {
                free,
                needed: collateral,
            }));
        }
        // Effects before interactions.
        let minted = {
            let o = self.obligations.getter(class_id);
            o.getter(provider).minted.get().checked_add(gpu_seconds).ok_or_else(overflow)?
        };
        self.obligations.setter(class_id).setter(provider).minted.set(minted);
        let vault = self.vault.get();
        self.call(vault, selectors::LOCK, &[word(provider), collateral.to_be_bytes()])?;
        self.call(token, selectors::MINT, &[word(provider), gpu_seconds.to_be_bytes()])?;
        self.emit(
            &[ObligationsMinted::SIGNATURE_HASH.0, word(provider), class_id.0],
            &[gpu_seconds.to_be_bytes(), collateral.to_be_bytes()],
        );
        Ok(())
    }

    /// Burns `gpuSeconds` of the caller's own tokens (the market must be approved for
    /// them), reducing its obligations and unlocking the matching stake. Only uncommitted
    /// obligations can be burned: seconds promised to open jobs stay owed.
    pub fn burn_obligations(&mut self, class_id: B256, gpu_seconds: U256) -> Result<(), MarketError> {
        let provider = self.vm().msg_sender();
        let class = self.class(class_id)?;
        let (token, per_second) = (class.token, class.collateral_per_second);
        if gpu_seconds.is_zero() {
            return Err(MarketError::ZeroSeconds(ZeroSeconds {}));
        }
        let available = self.uncommitted(class_id, provider);
        if available < gpu_seconds {
            return Err(MarketError::InsufficientUncommitted(InsufficientUncommitted {
                available,
                needed: gpu_seconds,
            }));
        }
        let collateral = gpu_seconds.checked_mul(per_second).ok_or_else(overflow)?;
        let minted = self.obligations.getter(class_id).getter(provider).minted.get();
        self.obligations.setter(class_id).setter(provider).minted.set(minted - gpu_seconds);
        let this = self.vm().contract_address();
        self.move_tokens(
            token,
            selectors::TRANSFER_FROM,
            &[word(provider), word(this), gpu_seconds.to_be_bytes()],
        )?;
        self.call(token, selectors::BURN, &[gpu_seconds.to_be_bytes()])?;
        let vault = self.vault.get();
        self.call(vault, selectors::UNLOCK, &[word(provider), collateral.to_be_bytes()])?;
        self.emit(
            &[ObligationsBurned::SIGNATURE_HASH.0, word(provider), class_id.0],
            &[gpu_seconds.to_be_bytes(), collateral.to_be_bytes()],
        );
        Ok(())
    }

    // ----- jobs -----

    /// Escrows `gpuSeconds` of the class's tokens from the caller for a job described by
    /// `specHash` (the hash of the job spec in the relayer's spec store). `provider` is
    /// the provider asked for, or zero for any (see the crate docs for the rule). Returns
    /// the job id.
    pub fn open_job(
        &mut self,
        class_id: B256,
        gpu_seconds: U256,
        provider: Address,
        spec_hash: B256,
    ) -> Result<U256, MarketError> {
        self.when_not_paused()?;
        let buyer = self.vm().msg_sender();
        let class = self.active_class(class_id)?;
        let (token, accept_window) = (class.token, class.accept_window);
        if gpu_seconds.is_zero() {
            return Err(MarketError::ZeroSeconds(ZeroSeconds {}));
        }
        let provider = self.assign(class_id, &class, provider, gpu_seconds)?;
        let now = self.vm().block_timestamp();
        let job_id = self.job_count.get() + U256::from(1);
        self.job_count.set(job_id);
        {
            let committed = self.obligations.getter(class_id).getter(provider).committed.get();
            self.obligations.setter(class_id).setter(provider).committed.set(committed + gpu_seconds);
        }
        {
            let mut job = self.jobs.setter(job_id);
            job.buyer.set(buyer);
            job.provider.set(provider);
            job.class_id.set(class_id);
            job.escrow.set(gpu_seconds);
            job.spec_hash.set(spec_hash);
            job.opened_at.set(U64::from(now));
            job.accept_deadline.set(U64::from(now.saturating_add(accept_window)));
            job.status.set(alloy_primitives::Uint::from(status::OPEN));
        }
        let this = self.vm().contract_address();
        self.move_tokens(
            token,
            selectors::TRANSFER_FROM,
            &[word(buyer), word(this), gpu_seconds.to_be_bytes()],
        )?;
        self.emit(
            &[JobOpened::SIGNATURE_HASH.0, job_id.to_be_bytes(), word(buyer), word(provider)],
            &[
                class_id.0,
                gpu_seconds.to_be_bytes(),
                spec_hash.0,
                u64_word(now.saturating_add(accept_window)),
            ],
        );
        Ok(job_id)
    }

    /// The assigned provider accepts an open job inside the class's accept window.
    pub fn accept_job(&mut self, job_id: U256) -> Result<(), MarketError> {
        self.require_open(job_id)?;
        let caller = self.vm().msg_sender();
        let (provider, deadline) = {
            let j = self.jobs.getter(job_id);
            (j.provider.get(), j.accept_deadline.get().to::<u64>())
        };
        if caller != provider {
            return Err(MarketError::NotJobProvider(NotJobProvider { jobId: job_id, caller }));
        }
        if self.vm().block_timestamp() > deadline {
            return Err(MarketError::AcceptWindowClosed(AcceptWindowClosed { jobId: job_id, deadline }));
        }
        let now = self.vm().block_timestamp();
        let mut job = self.jobs.setter(job_id);
        job.accepted_at.set(U64::from(now));
        job.status.set(alloy_primitives::Uint::from(status::ACCEPTED));
        self.emit(&[JobAccepted::SIGNATURE_HASH.0, job_id.to_be_bytes(), word(provider)], &[]);
        Ok(())
    }

    /// The buyer cancels a job the provider has not accepted yet: full refund.
    pub fn cancel_job(&mut self, job_id: U256) -> Result<(), MarketError> {
        self.require_open(job_id)?;
        let caller = self.vm().msg_sender();
        let (buyer, provider, class_id, escrow) = {
            let j = self.jobs.getter(job_id);
            (j.buyer.get(), j.provider.get(), j.class_id.get(), j.escrow.get())
        };
        if caller != buyer {
            return Err(MarketError::NotJobBuyer(NotJobBuyer { jobId: job_id, caller }));
        }
        self.refund_all(job_id, buyer, provider, class_id, escrow, status::CANCELLED)?;
        self.emit(&[JobCancelled::SIGNATURE_HASH.0, job_id.to_be_bytes()], &[escrow.to_be_bytes()]);
        Ok(())
    }

    // ----- settlement hooks (contracts/settlement) -----

    /// Authorises (or removes) a contract that may call `settleUsage` and `refundJob`:
    /// the settlement and enforcement contracts.
    pub fn set_settler(&mut self, settler: Address, enabled: bool) -> Result<(), MarketError> {
        self.only_owner()?;
        if settler.is_zero() {
            return Err(MarketError::ZeroAddress(ZeroAddress {}));
        }
        self.settlers.insert(settler, enabled);
        self.emit(&[SettlerSet::SIGNATURE_HASH.0, word(settler)], &[u64_word(enabled as u64)]);
        Ok(())
    }

    pub fn is_settler(&self, account: Address) -> bool {
        self.settlers.get(account)
    }

    /// Settles verified usage of an accepted job (the settlement contract has checked the
    /// report): burns `min(gpuSeconds, escrow)` of the escrowed tokens, lowers the
    /// provider's obligations by as much and unlocks the matching stake; when `isFinal` or
    /// the escrow is used up, refunds the rest to the buyer and closes the job (`SETTLED`).
    /// Returns `(burned, refunded)`.
    pub fn settle_usage(
        &mut self,
        job_id: U256,
        gpu_seconds: U256,
        is_final: bool,
    ) -> Result<(U256, U256), MarketError> {
        self.only_settler()?;
        let (buyer, provider, class_id, escrow, _, _, _, _, st) = self.job(job_id);
        if st != status::ACCEPTED {
            return Err(MarketError::JobNotAccepted(JobNotAccepted { jobId: job_id, status: st }));
        }
        let burned = gpu_seconds.min(escrow);
        let rest = escrow - burned;
        let close = is_final || rest.is_zero();
        let refunded = if close { rest } else { U256::ZERO };
        let class = self.class(class_id)?;
        let collateral = burned.checked_mul(class.collateral_per_second).ok_or_else(overflow)?;
        {
            let mut job = self.jobs.setter(job_id);
            job.escrow.set(rest - refunded);
            if close {
                job.status.set(alloy_primitives::Uint::from(status::SETTLED));
            }
        }
        self.release(class_id, provider, burned, burned + refunded);
        if !burned.is_zero() {
            self.call(class.token, selectors::BURN, &[burned.to_be_bytes()])?;
            let vault = self.vault.get();
            self.call(vault, selectors::UNLOCK, &[word(provider), collateral.to_be_bytes()])?;
        }
        if !refunded.is_zero() {
            self.move_tokens(class.token, selectors::TRANSFER, &[word(buyer), refunded.to_be_bytes()])?;
        }
        if close {
            self.closed(job_id, status::SETTLED, refunded);
        }
        Ok((burned, refunded))
    }

    /// Closes an open or accepted job after a fault the settlement contract has proven
    /// (a missed accept, an impossible or conflicting report): the whole escrow goes back
    /// to the buyer and the job ends `SLASHED`. The provider's obligations stay minted
    /// (the tokens still exist); only the job's reservation is released. Returns the refund.
    pub fn refund_job(&mut self, job_id: U256) -> Result<U256, MarketError> {
        self.only_settler()?;
        let (buyer, provider, class_id, escrow, _, _, _, _, st) = self.job(job_id);
        if st != status::OPEN && st != status::ACCEPTED {
            return Err(MarketError::JobNotAccepted(JobNotAccepted { jobId: job_id, status: st }));
        }
        self.refund_all(job_id, buyer, provider, class_id, escrow, status::SLASHED)?;
        self.closed(job_id, status::SLASHED, escrow);
        Ok(escrow)
    }

    /// `(buyer, provider, classId, escrow, specHash, openedAt, acceptDeadline, acceptedAt, status)`
    #[allow(clippy::type_complexity)]
    pub fn job(&self, job_id: U256) -> (Address, Address, B256, U256, B256, u64, u64, u64, u8) {
        let j = self.jobs.getter(job_id);
        (
            j.buyer.get(),
            j.provider.get(),
            j.class_id.get(),
            j.escrow.get(),
            j.spec_hash.get(),
            j.opened_at.get().to::<u64>(),
            j.accept_deadline.get().to::<u64>(),
            j.accepted_at.get().to::<u64>(),
            j.status.get().to::<u8>(),
        )
    }

    /// `(minted, committed)`: a provider's outstanding obligations in a class (tokens minted
    /// and not yet delivered or burned) and the part of them reserved by open jobs.
    pub fn obligations(&self, class_id: B256, provider: Address) -> (U256, U256) {
        let o = self.obligations.getter(class_id);
        let o = o.getter(provider);
        (o.minted.get(), o.committed.get())
    }

    pub fn registry(&self) -> Address {
        self.registry.get()
    }

    pub fn job_count(&self) -> U256 {
        self.job_count.get()
    }

    pub fn vault(&self) -> Address {
        self.vault.get()
    }

    // ----- guardian and ownership -----

    pub fn guardian(&self) -> Address {
        self.guardian.get()
    }

    pub fn paused(&self) -> bool {
        self.paused.get()
    }

    pub fn set_guardian(&mut self, guardian: Address) -> Result<(), MarketError> {
        self.only_owner()?;
        self.guardian.set(guardian);
        self.emit(&[GuardianSet::SIGNATURE_HASH.0, word(guardian)], &[]);
        Ok(())
    }

    /// Pauses registration, minting and new jobs (running jobs can still be accepted,
    /// cancelled and settled, and providers can still burn obligations).
    pub fn pause(&mut self) -> Result<(), MarketError> {
        let caller = self.vm().msg_sender();
        if caller.is_zero() || caller != self.guardian.get() {
            return Err(MarketError::NotGuardian(NotGuardian { caller }));
        }
        self.paused.set(true);
        self.emit(&[Paused::SIGNATURE_HASH.0], &[word(caller)]);
        Ok(())
    }

    pub fn unpause(&mut self) -> Result<(), MarketError> {
        let caller = self.vm().msg_sender();
        if caller.is_zero() || caller != self.guardian.get() {
            return Err(MarketError::NotGuardian(NotGuardian { caller }));
        }
        self.paused.set(false);
        self.emit(&[Unpaused::SIGNATURE_HASH.0], &[word(caller)]);
        Ok(())
    }

    pub fn owner(&self) -> Address {
        self.owner.get()
    }

    pub fn pending_owner(&self) -> Address {
        self.pending_owner.get()
    }

    /// Starts a two-step ownership transfer; `newOwner` must call `acceptOwnership`.
    pub fn transfer_ownership(&mut self, new_owner: Address) -> Result<(), MarketError> {
        self.only_owner()?;
        self.pending_owner.set(new_owner);
        self.emit(
            &[OwnershipTransferStarted::SIGNATURE_HASH.0, word(self.owner.get()), word(new_owner)],
            &[],
        );
        Ok(())
    }

    pub fn accept_ownership(&mut self) -> Result<(), MarketError> {
        let caller = self.vm().msg_sender();
        if caller.is_zero() || caller != self.pending_owner.get() {
            return Err(MarketError::NotPendingOwner(NotPendingOwner { caller }));
        }
        let previous = self.owner.get();
        self.owner.set(caller);
        self.pending_owner.set(Address::ZERO);
        self.emit(&[OwnershipTransferred::SIGNATURE_HASH.0, word(previous), word(caller)], &[]);
        Ok(())
    }
}

#[cfg(not(feature = "export-abi"))]
mod router;

#[cfg(test)]
mod tests;
