//! # Enforcement
//!
//! The market's SLA enforcement outside usage reports, split out of `contracts/market`
//! and `contracts/settlement` to keep each under Stylus's 24 KiB:
//!
//! * `slashMissedAccept(jobId)`: after an open job's accept deadline, anyone closes it,
//!   the escrow goes back to the buyer (`market.refundJob`) and the provider is slashed
//!   in the vault, the buyer paid a compensation priced at the AMM's TWAP (never spot).
//! * `slashAbandonedJob(jobId)`: an accepted job whose provider stopped reporting, once no
//!   report can still arrive in time (`rules::abandoned_after`), is closed the same way.
//! * Disputes: the buyer disputes its job's settled usage inside a window with a bond; a
//!   resolver decides; an upheld dispute asks the slash court for a vetoable slash.
//!
//! The market trusts it as a settler (`market.setSettler`) for `refundJob` only.
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]
#![cfg_attr(feature = "contract-client-gen", allow(unused_imports))]

extern crate alloc;

pub mod rules;

use alloc::vec::Vec;
use alloy_primitives::{Address, B256, U256, U64};
use contracts_common::{calls, eip712};
use stylus_sdk::{prelude::*, storage::*};

/// Job states, as the market numbers them.
pub mod status {
    pub const OPEN: u8 = 1;
    pub const ACCEPTED: u8 = 2;
}

/// Dispute states.
pub mod dispute {
    pub const NONE: u8 = 0;
    pub const OPEN: u8 = 1;
    pub const UPHELD: u8 = 2;
    pub const REJECTED: u8 = 3;
}

/// The evidence hash of a missed-accept slash: `keccak256(MISSED_ACCEPT_TAG ‖ jobId)`.
pub const MISSED_ACCEPT_TAG: [u8; 32] = *b"GpuComputeMarket:missed-accept\0\0";
/// The evidence hash of an abandoned-job slash: `keccak256(ABANDONED_TAG ‖ jobId)`.
pub const ABANDONED_TAG: [u8; 32] = *b"GpuComputeMarket:abandoned-job\0\0";

mod selectors {
    use alloy_primitives::{Address, B256, U256};
    use stylus_sdk::function_selector;
    pub const CLASS_INFO: [u8; 4] = function_selector!("classInfo", B256);
    pub const JOB: [u8; 4] = function_selector!("job", U256);
    pub const JOB_RECORD: [u8; 4] = function_selector!("jobRecord", U256);
    pub const REFUND_JOB: [u8; 4] = function_selector!("refundJob", U256);
    pub const SLASH: [u8; 4] = function_selector!("slash", Address, U256, B256, Address, U256);
    pub const REQUEST_SLASH: [u8; 4] = function_selector!("requestSlash", Address, U256, B256, Address, U256);
    pub const TWAP: [u8; 4] = function_selector!("twap", U256, u32);
}

contracts_common::sol_events! {
    event MissedAcceptSlashed(uint256 indexed jobId, address indexed provider, uint256 refunded, uint256 compensation, uint256 slashed);
    event AbandonedJobSlashed(uint256 indexed jobId, address indexed provider, uint256 refunded, uint256 compensation, uint256 slashed);
    event DisputeOpened(uint256 indexed jobId, address indexed buyer, uint256 bond);
    event DisputeResolved(uint256 indexed jobId, bool upheld, uint256 slashRequestId);
    event ClassPricingSet(bytes32 indexed classId, uint256 poolId, bool classIsToken0, uint32 twapWindow, uint256 collateralPerStable);
    event DisputeConfigSet(address resolver, uint64 window, uint256 bond);
    event GuardianSet(address indexed guardian);
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event Paused(address account);
    event Unpaused(address account);
}

contracts_common::contract_errors! {
    /// Everything this contract reverts with, besides the revert data of the market, the
    /// registry, the settlement contract, the vault, the court or the AMM (`Bubbled`).
    pub enum EnforcementError {
        NotOwner(address caller);
        NotPendingOwner(address caller);
        NotGuardian(address caller);
        NotResolver(address caller);
        ZeroAddress();
        EnforcedPause();
        JobNotOpen(uint256 jobId, uint8 status);
        AcceptWindowOpen(uint256 jobId, uint64 deadline);
        JobNotAccepted(uint256 jobId, uint8 status);
        JobNotAbandoned(uint256 jobId, uint64 deadline);
        PricingNotSet(bytes32 classId);
        NotJobBuyer(uint256 jobId, address caller);
        NothingToDispute(uint256 jobId);
        DisputeWindowClosed(uint256 jobId, uint64 deadline);
        DisputeExists(uint256 jobId);
        WrongBond(uint256 sent, uint256 required);
        NoOpenDispute(uint256 jobId);
        ExternalCallFailed(address target);
    }
}

fn word(a: Address) -> [u8; 32] {
    a.into_word().0
}

fn call_failed(target: Address, revert_data: Vec<u8>) -> EnforcementError {
    if revert_data.is_empty() {
        EnforcementError::ExternalCallFailed(ExternalCallFailed { target })
    } else {
        EnforcementError::Bubbled(revert_data)
    }
}

#[storage]
pub struct Dispute {
    state: StorageU8,
    bond: StorageU256,
    slash_request: StorageU256,
}

/// Where a class's price comes from (governance): the AMM pool of the class token against
/// the stablecoin, which side the class token is, the TWAP window, and the collateral's
/// rate (collateral units per stablecoin unit, UQ112x112).
#[storage]
pub struct Pricing {
    pool_id: StorageU256,
    class_is_token0: StorageBool,
    twap_window: StorageU32,
    collateral_per_stable: StorageU256,
}

#[storage]
#[entrypoint]
pub struct Enforcement {
    owner: StorageAddress,
    pending_owner: StorageAddress,
    guardian: StorageAddress,
    paused: StorageBool,
    market: StorageAddress,
    registry: StorageAddress,
    settlement: StorageAddress,
    vault: StorageAddress,
    court: StorageAddress,
    amm: StorageAddress,
    resolver: StorageAddress,
    dispute_window: StorageU64,
    dispute_bond: StorageU256,
    disputes: StorageMap<U256, Dispute>,
    pricing: StorageMap<B256, Pricing>,
}

/// The fields of `market.job(jobId)` used here.
struct JobView {
    buyer: Address,
    provider: Address,
    class_id: B256,
    escrow: U256,
    accept_deadline: u64,
    accepted_at: u64,
    status: u8,
}

impl Enforcement {
    fn only_owner(&self) -> Result<(), EnforcementError> {
        let caller = self.vm().msg_sender();
        if caller != self.owner.get() {
            return Err(EnforcementError::NotOwner(NotOwner { caller }));
        }
        Ok(())
    }

    fn only_guardian(&self) -> Result<Address, EnforcementError> {
        let caller = self.vm().msg_sender();
        if caller.is_zero() || caller != self.guardian.get() {
            return Err(EnforcementError::NotGuardian(NotGuardian { caller }));
        }
        Ok(caller)
    }

    fn when_not_paused(&self) -> Result<(), EnforcementError> {
        if self.paused.get() {
            return Err(EnforcementError::EnforcedPause(EnforcedPause {}));
        }
        Ok(())
    }

    fn view(
        &self,
        target: Address,
        selector: [u8; 4],
        words: &[[u8; 32]],
    ) -> Result<Vec<u8>, EnforcementError> {
        calls::static_call_words(self.vm(), target, selector, words).map_err(|e| call_failed(target, e))
    }

    /// A state-changing call to the market, vault or court; returns its first word.
    fn call(
        &mut self,
        target: Address,
        selector: [u8; 4],
        words: &[[u8; 32]],
    ) -> Result<U256, EnforcementError> {
        let ctx = Call::new_mutating(self);
        let out =
            calls::call_words(self.vm(), ctx, target, selector, words).map_err(|e| call_failed(target, e))?;
        Ok(calls::word_at(&out, 0).unwrap_or_default())
    }

    fn read_job(&self, job_id: U256) -> Result<JobView, EnforcementError> {
        let out = self.view(self.market.get(), selectors::JOB, &[job_id.to_be_bytes()])?;
        let w = |i| calls::word_at(&out, i).unwrap_or_default();
        Ok(JobView {
            buyer: Address::from_word(w(0).into()),
            provider: Address::from_word(w(1).into()),
            class_id: w(2).into(),
            escrow: w(3),
            accept_deadline: w(6).saturating_to(),
            accepted_at: w(7).saturating_to(),
            status: w(8).saturating_to(),
        })
    }

    /// Word `index` of `registry.classInfo(classId)`: 1 collateral per second, 3 the
    /// maximum report delay.
    fn class_info(&self, class_id: B256, index: usize) -> Result<U256, EnforcementError> {
        let out = self.view(self.registry.get(), selectors::CLASS_INFO, &[class_id.0])?;
        Ok(calls::word_at(&out, index).unwrap_or_default())
    }

    /// Closes a failed job: the escrow back to the buyer (`market.refundJob`), the provider
    /// slashed for the job's seconds, the buyer compensated at the class token's TWAP first.
    /// Returns `(refunded, compensation, slashed)`.
    fn punish(
        &mut self,
        job_id: U256,
        job: &JobView,
        tag: [u8; 32],
    ) -> Result<(U256, U256, U256), EnforcementError> {
        let (price, rate) = self.twap_price(job.class_id)?;
        let compensation = rules::missed_accept_compensation(job.escrow, price, rate);
        let cps = self.class_info(job.class_id, 1)?;
        let amount = rules::slash_amount(job.escrow, cps, compensation);
        let market = self.market.get();
        let refunded = self.call(market, selectors::REFUND_JOB, &[job_id.to_be_bytes()])?;
        let evidence = eip712::hash_words(&[tag, job_id.to_be_bytes()]);
        let vault = self.vault.get();
        let slashed = self.call(
            vault,
            selectors::SLASH,
            &[
                word(job.provider),
                amount.to_be_bytes(),
                evidence.0,
                word(job.buyer),
                compensation.to_be_bytes(),
            ],
        )?;
        Ok((refunded, compensation, slashed))
    }

    /// The class token's TWAP price in the stablecoin (UQ112x112) and the collateral rate.
    fn twap_price(&self, class_id: B256) -> Result<(U256, U256), EnforcementError> {
        let p = self.pricing.getter(class_id);
        let rate = p.collateral_per_stable.get();
        if rate.is_zero() {
            return Err(EnforcementError::PricingNotSet(PricingNotSet { classId: class_id }));
        }
        let window = U256::from(p.twap_window.get().to::<u32>());
        let out = self.view(
            self.amm.get(),
            selectors::TWAP,
            &[p.pool_id.get().to_be_bytes(), window.to_be_bytes()],
        )?;
        let price = calls::word_at(&out, if p.class_is_token0.get() { 0 } else { 1 }).unwrap_or_default();
        Ok((price, rate))
    }

    /// Sends `amount` wei (a dispute bond) to `to`.
    fn pay(&mut self, to: Address, amount: U256) -> Result<(), EnforcementError> {
        if amount.is_zero() {
            return Ok(());
        }
        let ctx = Call::new_mutating(self).value(amount);
        stylus_sdk::call::call(self.vm(), ctx, to, &[]).map(|_| ()).map_err(|e| match e {
            stylus_sdk::stylus_core::calls::errors::Error::Revert(data) => call_failed(to, data),
            _ => call_failed(to, Vec::new()),
        })
    }
}

/// The constructor: called by the hand-written router (`router.rs`), and outside the
/// `#[public]` block because the SDK's ABI export has no place for it (its arguments are in
/// the README and used by the deployer).
impl Enforcement {
    #[allow(clippy::too_many_arguments)]
    pub fn constructor(
        &mut self,
        owner: Address,
        market: Address,
        registry: Address,
        settlement: Address,
        vault: Address,
        court: Address,
        amm: Address,
    ) -> Result<(), EnforcementError> {
        if [owner, market, registry, settlement, vault, court, amm].iter().any(|a| a.is_zero()) {
            return Err(EnforcementError::ZeroAddress(ZeroAddress {}));
        }
        self.owner.set(owner);
        self.market.set(market);
        self.registry.set(registry);
        self.settlement.set(settlement);
        self.vault.set(vault);
        self.court.set(court);
        self.amm.set(amm);
        Ok(())
    }

    /// `openDispute` (payable: the bond is `msg.value`); see its declaration in the
    /// `#[public]` block below.
    #[cfg(not(feature = "export-abi"))]
    pub fn open_dispute(&mut self, job_id: U256) -> Result<(), EnforcementError> {
        self.dispute_with_bond(job_id)
    }

    fn dispute_with_bond(&mut self, job_id: U256) -> Result<(), EnforcementError> {
        self.when_not_paused()?;
        let caller = self.vm().msg_sender();
        let job = self.read_job(job_id)?;
        if caller != job.buyer || caller.is_zero() {
            return Err(EnforcementError::NotJobBuyer(NotJobBuyer { jobId: job_id, caller }));
        }
        let record = self.view(self.settlement.get(), selectors::JOB_RECORD, &[job_id.to_be_bytes()])?;
        let settled_at: u64 = calls::word_at(&record, 1).unwrap_or_default().saturating_to();
        if settled_at == 0 {
            return Err(EnforcementError::NothingToDispute(NothingToDispute { jobId: job_id }));
        }
        let deadline = settled_at.saturating_add(self.dispute_window.get().to::<u64>());
        if self.vm().block_timestamp() > deadline {
            return Err(EnforcementError::DisputeWindowClosed(DisputeWindowClosed {
                jobId: job_id,
                deadline,
            }));
        }
        if self.disputes.getter(job_id).state.get().to::<u8>() != dispute::NONE {
            return Err(EnforcementError::DisputeExists(DisputeExists { jobId: job_id }));
        }
        let (sent, required) = (self.vm().msg_value(), self.dispute_bond.get());
        if sent != required {
            return Err(EnforcementError::WrongBond(WrongBond { sent, required }));
        }
        let mut d = self.disputes.setter(job_id);
        d.state.set(alloy_primitives::Uint::from(dispute::OPEN));
        d.bond.set(sent);
        self.vm().log(DisputeOpened { jobId: job_id, buyer: caller, bond: sent });
        Ok(())
    }
}

// `#[public]` only exports the ABI; calls are routed by hand in `router.rs` (the SDK's
// generated router put the program over the 20 KiB target).
#[cfg_attr(feature = "export-abi", public)]
impl Enforcement {
    /// Anyone, once an open job's accept deadline has passed: the escrow goes back to the
    /// buyer, and the provider is slashed for `max(seconds x collateralPerSecond,
    /// compensation)`, the buyer paid `compensation = seconds x TWAP price` (converted to
    /// collateral) first; the vault caps both by the provider's stake. Returns the slash.
    pub fn slash_missed_accept(&mut self, job_id: U256) -> Result<U256, EnforcementError> {
        self.when_not_paused()?;
        let job = self.read_job(job_id)?;
        if job.status != status::OPEN {
            return Err(EnforcementError::JobNotOpen(JobNotOpen { jobId: job_id, status: job.status }));
        }
        if self.vm().block_timestamp() <= job.accept_deadline {
            return Err(EnforcementError::AcceptWindowOpen(AcceptWindowOpen {
                jobId: job_id,
                deadline: job.accept_deadline,
            }));
        }
        let (refunded, compensation, slashed) = self.punish(job_id, &job, MISSED_ACCEPT_TAG)?;
        self.vm().log(MissedAcceptSlashed {
            jobId: job_id,
            provider: job.provider,
            refunded,
            compensation,
            slashed,
        });
        Ok(slashed)
    }

    /// An accepted job whose provider stopped reporting. Once no report of it can still
    /// arrive in time (`rules::abandoned_after`: the remaining escrow's seconds of wall time
    /// after the acceptance or the last settled report, plus the class's report delay),
    /// anyone closes it as for a missed accept: the escrow back to the buyer, the provider
    /// slashed, the buyer compensated at the TWAP.
    pub fn slash_abandoned_job(&mut self, job_id: U256) -> Result<U256, EnforcementError> {
        self.when_not_paused()?;
        let job = self.read_job(job_id)?;
        if job.status != status::ACCEPTED {
            return Err(EnforcementError::JobNotAccepted(JobNotAccepted {
                jobId: job_id,
                status: job.status,
            }));
        }
        let record = self.view(self.settlement.get(), selectors::JOB_RECORD, &[job_id.to_be_bytes()])?;
        let settled_at: u64 = calls::word_at(&record, 1).unwrap_or_default().saturating_to();
        let delay: u64 = self.class_info(job.class_id, 3)?.saturating_to();
        let deadline = rules::abandoned_after(job.accepted_at, settled_at, job.escrow, delay);
        if self.vm().block_timestamp() <= deadline {
            return Err(EnforcementError::JobNotAbandoned(JobNotAbandoned { jobId: job_id, deadline }));
        }
        let (refunded, compensation, slashed) = self.punish(job_id, &job, ABANDONED_TAG)?;
        self.vm().log(AbandonedJobSlashed {
            jobId: job_id,
            provider: job.provider,
            refunded,
            compensation,
            slashed,
        });
        Ok(slashed)
    }

    // ----- disputes -----

    /// The buyer disputes its job's settled usage, within the dispute window after the
    /// job's last settlement (`settlement.jobRecord`), with exactly the bond (in wei).
    // Only the ABI export sees this declaration, marked payable (an attribute that exists
    // only inside `#[public]`); calls reach `dispute_with_bond` through `router.rs`, which
    // lets value through for this function only.
    #[cfg(feature = "export-abi")]
    #[payable]
    pub fn open_dispute(&mut self, job_id: U256) -> Result<(), EnforcementError> {
        self.dispute_with_bond(job_id)
    }

    /// The resolver decides an open dispute. Upheld: the court is asked to slash the
    /// provider for the collateral behind the job's burned seconds (vetoable by the
    /// court's resolvers, then executed by anyone through the court), the buyer as
    /// beneficiary, and the bond goes back to the buyer. Rejected: the bond goes to the
    /// provider. Returns the court's request id (0 when rejected).
    pub fn resolve_dispute(&mut self, job_id: U256, upheld: bool) -> Result<U256, EnforcementError> {
        let caller = self.vm().msg_sender();
        if caller.is_zero() || caller != self.resolver.get() {
            return Err(EnforcementError::NotResolver(NotResolver { caller }));
        }
        if self.disputes.getter(job_id).state.get().to::<u8>() != dispute::OPEN {
            return Err(EnforcementError::NoOpenDispute(NoOpenDispute { jobId: job_id }));
        }
        let job = self.read_job(job_id)?;
        let bond = self.disputes.getter(job_id).bond.get();
        self.disputes.setter(job_id).state.set(alloy_primitives::Uint::from(if upheld {
            dispute::UPHELD
        } else {
            dispute::REJECTED
        }));
        let mut request = U256::ZERO;
        if upheld {
            let cps = self.class_info(job.class_id, 1)?;
            let record = self.view(self.settlement.get(), selectors::JOB_RECORD, &[job_id.to_be_bytes()])?;
            let digest = calls::word_at(&record, 0).unwrap_or_default();
            let burned = calls::word_at(&record, 2).unwrap_or_default();
            let amount = burned.saturating_mul(cps);
            let evidence = eip712::hash_words(&[job_id.to_be_bytes(), digest.to_be_bytes()]);
            let court = self.court.get();
            request = self.call(
                court,
                selectors::REQUEST_SLASH,
                &[
                    word(job.provider),
                    amount.to_be_bytes(),
                    evidence.0,
                    word(job.buyer),
                    amount.to_be_bytes(),
                ],
            )?;
            self.disputes.setter(job_id).slash_request.set(request);
            self.pay(job.buyer, bond)?;
        } else {
            self.pay(job.provider, bond)?;
        }
        self.vm().log(DisputeResolved { jobId: job_id, upheld, slashRequestId: request });
        Ok(request)
    }

    /// `(state, bond, slashRequestId)`; state 0 none, 1 open, 2 upheld, 3 rejected.
    pub fn dispute(&self, job_id: U256) -> (u8, U256, U256) {
        let d = self.disputes.getter(job_id);
        (d.state.get().to::<u8>(), d.bond.get(), d.slash_request.get())
    }

    // ----- governance -----

    /// Where the class's missed-accept compensation is priced: the AMM pool of the class
    /// token against the stablecoin, which side the class token is, the TWAP window, and
    /// collateral units per stablecoin unit as UQ112x112 (`2^112` when they are the same).
    pub fn set_class_pricing(
        &mut self,
        class_id: B256,
        pool_id: U256,
        class_is_token0: bool,
        twap_window: u32,
        collateral_per_stable: U256,
    ) -> Result<(), EnforcementError> {
        self.only_owner()?;
        let mut p = self.pricing.setter(class_id);
        p.pool_id.set(pool_id);
        p.class_is_token0.set(class_is_token0);
        p.twap_window.set(alloy_primitives::Uint::from(twap_window));
        p.collateral_per_stable.set(collateral_per_stable);
        self.vm().log(ClassPricingSet {
            classId: class_id,
            poolId: pool_id,
            classIsToken0: class_is_token0,
            twapWindow: twap_window,
            collateralPerStable: collateral_per_stable,
        });
        Ok(())
    }

    /// `(poolId, classIsToken0, twapWindow, collateralPerStable)`
    pub fn class_pricing(&self, class_id: B256) -> (U256, bool, u32, U256) {
        let p = self.pricing.getter(class_id);
        (
            p.pool_id.get(),
            p.class_is_token0.get(),
            p.twap_window.get().to::<u32>(),
            p.collateral_per_stable.get(),
        )
    }

    /// The dispute resolver, the dispute window (seconds after a job's last settlement)
    /// and the bond (wei) a buyer posts to dispute.
    pub fn set_dispute_config(
        &mut self,
        resolver: Address,
        window: u64,
        bond: U256,
    ) -> Result<(), EnforcementError> {
        self.only_owner()?;
        self.resolver.set(resolver);
        self.dispute_window.set(U64::from(window));
        self.dispute_bond.set(bond);
        self.vm().log(DisputeConfigSet { resolver, window, bond });
        Ok(())
    }

    /// `(market, registry, settlement, vault, court, amm, resolver, disputeWindow, disputeBond)`
    #[allow(clippy::type_complexity)]
    pub fn config(&self) -> (Address, Address, Address, Address, Address, Address, Address, u64, U256) {
        (
            self.market.get(),
            self.registry.get(),
            self.settlement.get(),
            self.vault.get(),
            self.court.get(),
            self.amm.get(),
            self.resolver.get(),
            self.dispute_window.get().to::<u64>(),
            self.dispute_bond.get(),
        )
    }

    // ----- guardian and ownership -----

    pub fn guardian(&self) -> Address {
        self.guardian.get()
    }

    pub fn paused(&self) -> bool {
        self.paused.get()
    }

    pub fn set_guardian(&mut self, guardian: Address) -> Result<(), EnforcementError> {
        self.only_owner()?;
        self.guardian.set(guardian);
        self.vm().log(GuardianSet { guardian });
        Ok(())
    }

    /// Stops missed-accept slashing and new disputes (resolving goes on).
    pub fn pause(&mut self) -> Result<(), EnforcementError> {
        let account = self.only_guardian()?;
        self.paused.set(true);
        self.vm().log(Paused { account });
        Ok(())
    }

    pub fn unpause(&mut self) -> Result<(), EnforcementError> {
        let account = self.only_guardian()?;
        self.paused.set(false);
        self.vm().log(Unpaused { account });
        Ok(())
    }

    pub fn owner(&self) -> Address {
        self.owner.get()
    }

    pub fn pending_owner(&self) -> Address {
        self.pending_owner.get()
    }

    /// Starts a two-step ownership transfer; `newOwner` must call `acceptOwnership`.
    pub fn transfer_ownership(&mut self, new_owner: Address) -> Result<(), EnforcementError> {
        self.only_owner()?;
        self.pending_owner.set(new_owner);
        self.vm().log(OwnershipTransferStarted { previousOwner: self.owner.get(), newOwner: new_owner });
        Ok(())
    }

    pub fn accept_ownership(&mut self) -> Result<(), EnforcementError> {
        let caller = self.vm().msg_sender();
        if caller.is_zero() || caller != self.pending_owner.get() {
            return Err(EnforcementError::NotPendingOwner(NotPendingOwner { caller }));
        }
        let previous = self.owner.get();
        self.owner.set(caller);
        self.pending_owner.set(Address::ZERO);
        self.vm().log(OwnershipTransferred { previousOwner: previous, newOwner: caller });
        Ok(())
    }
}

#[cfg(not(feature = "export-abi"))]
mod router;

#[cfg(test)]
mod tests;
