//! # Settlement
//!
//! Split out of `contracts/market` to keep both under Stylus's 24 KiB: it verifies and
//! settles the providers' EIP-712 usage reports (`settleBatch`) and slashes the faults a
//! signed report proves (impossible usage, conflicting reports) at once. The market keeps
//! jobs, escrow and obligations and trusts this contract as a settler
//! (`market.setSettler`): `settleUsage` burns and refunds escrow, `refundJob` closes a
//! faulty job. Missed accepts and disputes are `contracts/enforcement`'s. Rules: README.md.
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]
#![cfg_attr(feature = "contract-client-gen", allow(unused_imports))]

extern crate alloc;

pub mod calldata;
pub mod rules;

use alloc::vec::Vec;
use alloy_primitives::{Address, B256, U256, U64};
use contracts_common::{calls, ecdsa, eip712, usage_report::UsageReport};
use rules::{reason, Sequence};
use stylus_sdk::{prelude::*, storage::*, ArbResult};

/// Job states, as the market numbers them.
pub mod status {
    pub const ACCEPTED: u8 = 2;
}

mod selectors {
    use alloy_primitives::{Address, B256, U256};
    use stylus_sdk::function_selector;
    pub const IS_RELAYER: [u8; 4] = function_selector!("isRelayer", Address);
    pub const CLASS_INFO: [u8; 4] = function_selector!("classInfo", B256);
    pub const PROVIDER_INFO: [u8; 4] = function_selector!("providerInfo", B256, Address);
    pub const GPU_OWNER: [u8; 4] = function_selector!("gpuOwner", B256);
    pub const JOB: [u8; 4] = function_selector!("job", U256);
    pub const SETTLE_USAGE: [u8; 4] = function_selector!("settleUsage", U256, U256, bool);
    pub const REFUND_JOB: [u8; 4] = function_selector!("refundJob", U256);
    pub const SLASH: [u8; 4] = function_selector!("slash", Address, U256, B256, Address, U256);
}

contracts_common::sol_events! {
    event ReportSettled(uint256 indexed jobId, address indexed provider, uint256 indexed nonce, uint64 gpuSecondsBurned, uint64 secondsRefunded, bytes32 evidenceDigest);
    event ReportSkipped(uint256 indexed jobId, address indexed provider, uint256 indexed nonce, uint8 reason);
    event GuardianSet(address indexed guardian);
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event Paused(address account);
    event Unpaused(address account);
}

contracts_common::contract_errors! {
    /// Everything this contract reverts with, besides the revert data of the market, the
    /// registry, the vault, the court or the AMM, re-raised unchanged (`Bubbled`).
    pub enum SettlementError {
        NotOwner(address caller);
        NotPendingOwner(address caller);
        NotGuardian(address caller);
        NotRelayer(address caller);
        ZeroAddress();
        EnforcedPause();
        LengthMismatch(uint256 reports, uint256 signatures);
        MalformedCalldata();
        UnknownSelector();
        ExternalCallFailed(address target);
    }
}

fn word(a: Address) -> [u8; 32] {
    a.into_word().0
}

fn u64_word(x: u64) -> [u8; 32] {
    U256::from(x).to_be_bytes()
}

fn call_failed(target: Address, revert_data: Vec<u8>) -> SettlementError {
    if revert_data.is_empty() {
        SettlementError::ExternalCallFailed(ExternalCallFailed { target })
    } else {
        SettlementError::Bubbled(revert_data)
    }
}

/// The last usage window settled for one job on one GPU.
#[storage]
pub struct Window {
    seen: StorageBool,
    start: StorageU64,
    end: StorageU64,
}

/// A job's settlement record: its provenance and what a dispute is about.
#[storage]
pub struct Record {
    /// The evidence digest of the last settled report (the job's provenance).
    evidence_digest: StorageB256,
    /// When the last report settled (0: none yet).
    settled_at: StorageU64,
    /// GPU-seconds burned for the job so far.
    burned: StorageU256,
}

#[storage]
#[entrypoint]
pub struct Settlement {
    owner: StorageAddress,
    pending_owner: StorageAddress,
    guardian: StorageAddress,
    paused: StorageBool,
    market: StorageAddress,
    registry: StorageAddress,
    vault: StorageAddress,
    /// provider => nonce => used
    nonces: StorageMap<Address, StorageMap<U256, StorageBool>>,
    /// jobId => gpuUuidHash => last settled window
    windows: StorageMap<U256, StorageMap<B256, Window>>,
    records: StorageMap<U256, Record>,
}

/// The fields of `market.job(jobId)` settlement needs.
struct JobView {
    buyer: Address,
    provider: Address,
    class_id: B256,
    escrow: U256,
    accepted_at: u64,
    status: u8,
}

/// Per-batch memo of the last class and provider read from the registry, so a batch of one
/// provider's reports reads them once.
#[derive(Default)]
struct Memo {
    class: Option<(B256, U256, u64)>,
    provider: Option<(B256, Address, Address, u64)>,
}

/// What became of one report.
enum Outcome {
    Settled(U256, U256),
    Skipped(u8),
}

impl Settlement {
    fn only_owner(&self) -> Result<(), SettlementError> {
        let caller = self.vm().msg_sender();
        if caller != self.owner.get() {
            return Err(SettlementError::NotOwner(NotOwner { caller }));
        }
        Ok(())
    }

    fn only_guardian(&self) -> Result<Address, SettlementError> {
        let caller = self.vm().msg_sender();
        if caller.is_zero() || caller != self.guardian.get() {
            return Err(SettlementError::NotGuardian(NotGuardian { caller }));
        }
        Ok(caller)
    }

    fn when_not_paused(&self) -> Result<(), SettlementError> {
        if self.paused.get() {
            return Err(SettlementError::EnforcedPause(EnforcedPause {}));
        }
        Ok(())
    }

    fn view(
        &self,
        target: Address,
        selector: [u8; 4],
        words: &[[u8; 32]],
    ) -> Result<Vec<u8>, SettlementError> {
        calls::static_call_words(self.vm(), target, selector, words).map_err(|e| call_failed(target, e))
    }

    fn call(
        &mut self,
        target: Address,
        selector: [u8; 4],
        words: &[[u8; 32]],
    ) -> Result<Vec<u8>, SettlementError> {
        let ctx = Call::new_mutating(self);
        calls::call_words(self.vm(), ctx, target, selector, words).map_err(|e| call_failed(target, e))
    }

    fn read_job(&self, job_id: U256) -> Result<JobView, SettlementError> {
        let out = self.view(self.market.get(), selectors::JOB, &[job_id.to_be_bytes()])?;
        let w = |i| calls::word_at(&out, i).unwrap_or_default();
        Ok(JobView {
            buyer: Address::from_word(w(0).into()),
            provider: Address::from_word(w(1).into()),
            class_id: w(2).into(),
            escrow: w(3),
            accepted_at: w(7).saturating_to(),
            status: w(8).saturating_to(),
        })
    }

    /// `(collateralPerSecond, maxReportDelay)` of a class.
    fn class_terms(&self, memo: &mut Memo, class_id: B256) -> Result<(U256, u64), SettlementError> {
        if let Some((id, cps, delay)) = memo.class {
            if id == class_id {
                return Ok((cps, delay));
            }
        }
        let out = self.view(self.registry.get(), selectors::CLASS_INFO, &[class_id.0])?;
        let w = |i| calls::word_at(&out, i).unwrap_or_default();
        let (cps, delay) = (w(1), w(3).saturating_to());
        memo.class = Some((class_id, cps, delay));
        Ok((cps, delay))
    }

    /// `(signingKey, gpuCount)` of a provider in a class.
    fn provider_terms(
        &self,
        memo: &mut Memo,
        class_id: B256,
        provider: Address,
    ) -> Result<(Address, u64), SettlementError> {
        if let Some((id, p, key, gpus)) = memo.provider {
            if id == class_id && p == provider {
                return Ok((key, gpus));
            }
        }
        let out = self.view(self.registry.get(), selectors::PROVIDER_INFO, &[class_id.0, word(provider)])?;
        let w = |i| calls::word_at(&out, i).unwrap_or_default();
        let registered = !w(0).is_zero();
        let key = if registered { Address::from_word(w(1).into()) } else { Address::ZERO };
        let gpus = w(3).saturating_to();
        memo.provider = Some((class_id, provider, key, gpus));
        Ok((key, gpus))
    }

    /// Whether `signature` (r ‖ s ‖ v) over `digest` is by `key`.
    fn signed_by(&self, digest: B256, signature: &[u8], key: Address) -> bool {
        if signature.len() != 65 || key.is_zero() {
            return false;
        }
        let r = B256::from_slice(&signature[0..32]);
        let s = B256::from_slice(&signature[32..64]);
        ecdsa::recover(self.vm(), digest, signature[64], r, s) == Ok(key)
    }

    /// Slashes `provider` through the vault (an instant, objectively proven fault), paying
    /// `beneficiary` up to `compensation` first. Returns what was slashed.
    fn slash(
        &mut self,
        provider: Address,
        amount: U256,
        evidence: B256,
        beneficiary: Address,
        compensation: U256,
    ) -> Result<U256, SettlementError> {
        let vault = self.vault.get();
        let out = self.call(
            vault,
            selectors::SLASH,
            &[
                word(provider),
                amount.to_be_bytes(),
                evidence.0,
                word(beneficiary),
                compensation.to_be_bytes(),
            ],
        )?;
        Ok(calls::word_at(&out, 0).unwrap_or_default())
    }

    /// A provable fault found in a signed report: the nonce is spent, the job closes with
    /// the escrow back to the buyer, and the provider is slashed for the collateral behind
    /// `max(escrow, gpuSeconds)`, the buyer paid first.
    fn punish(
        &mut self,
        job_id: U256,
        job: &JobView,
        r: &UsageReport,
        cps: U256,
        digest: B256,
    ) -> Result<(), SettlementError> {
        self.nonces.setter(r.provider).insert(r.nonce, true);
        let market = self.market.get();
        self.call(market, selectors::REFUND_JOB, &[job_id.to_be_bytes()])?;
        let amount = rules::slash_amount(job.escrow.max(U256::from(r.gpu_seconds)), cps);
        self.slash(job.provider, amount, digest, job.buyer, amount)?;
        Ok(())
    }

    /// Applies the rules to one report (README, "Settlement"). Errors are failures of
    /// the market, registry or vault (a misconfiguration): they revert the batch.
    fn settle_one(
        &mut self,
        memo: &mut Memo,
        domain: B256,
        r: &UsageReport,
        signature: &[u8],
    ) -> Result<Outcome, SettlementError> {
        let job = self.read_job(r.job_id)?;
        if job.status != status::ACCEPTED {
            return Ok(Outcome::Skipped(reason::JOB_NOT_SETTLEABLE));
        }
        if r.provider != job.provider {
            return Ok(Outcome::Skipped(reason::WRONG_PROVIDER));
        }
        let (key, gpus) = self.provider_terms(memo, job.class_id, job.provider)?;
        let digest = eip712::typed_data_digest(domain, r.struct_hash());
        if !self.signed_by(digest, signature, key) {
            return Ok(Outcome::Skipped(reason::BAD_SIGNATURE));
        }
        if self.nonces.getter(r.provider).get(r.nonce) {
            return Ok(Outcome::Skipped(reason::NONCE_USED));
        }
        let owner = self.view(self.registry.get(), selectors::GPU_OWNER, &[r.gpu_uuid_hash.0])?;
        if Address::from_word(calls::word_at(&owner, 0).unwrap_or_default().into()) != r.provider {
            return Ok(Outcome::Skipped(reason::UNKNOWN_GPU));
        }
        let (cps, max_delay) = self.class_terms(memo, job.class_id)?;
        if rules::is_impossible(r.start_ts, r.end_ts, r.gpu_seconds, gpus) {
            self.punish(r.job_id, &job, r, cps, digest)?;
            return Ok(Outcome::Skipped(reason::IMPOSSIBLE_USAGE));
        }
        let now = self.vm().block_timestamp();
        if let Err(code) = rules::check_window(r.start_ts, r.end_ts, job.accepted_at, now, max_delay) {
            return Ok(Outcome::Skipped(code));
        }
        let last = {
            let per_job = self.windows.getter(r.job_id);
            let w = per_job.getter(r.gpu_uuid_hash);
            w.seen.get().then(|| (w.start.get().to::<u64>(), w.end.get().to::<u64>()))
        };
        match rules::sequence(r.start_ts, r.end_ts, last) {
            Sequence::Conflict => {
                self.punish(r.job_id, &job, r, cps, digest)?;
                return Ok(Outcome::Skipped(reason::CONFLICTING_REPORT));
            }
            Sequence::Stale => return Ok(Outcome::Skipped(reason::OUTSIDE_JOB_WINDOW)),
            Sequence::Next => {}
        }
        // Effects, then the market.
        self.nonces.setter(r.provider).insert(r.nonce, true);
        {
            let mut per_job = self.windows.setter(r.job_id);
            let mut w = per_job.setter(r.gpu_uuid_hash);
            w.seen.set(true);
            w.start.set(U64::from(r.start_ts));
            w.end.set(U64::from(r.end_ts));
        }
        let market = self.market.get();
        let out = self.call(
            market,
            selectors::SETTLE_USAGE,
            &[r.job_id.to_be_bytes(), u64_word(r.gpu_seconds), u64_word(rules::is_final(r.nonce) as u64)],
        )?;
        let burned = calls::word_at(&out, 0).unwrap_or_default();
        let refunded = calls::word_at(&out, 1).unwrap_or_default();
        {
            let mut rec = self.records.setter(r.job_id);
            rec.evidence_digest.set(r.evidence_digest);
            rec.settled_at.set(U64::from(now));
            let total = rec.burned.get().saturating_add(burned);
            rec.burned.set(total);
        }
        Ok(Outcome::Settled(burned, refunded))
    }

    /// Settles a batch of signed usage reports (relayers only). Every entry ends in
    /// exactly one `ReportSettled` or `ReportSkipped(reason)`; an invalid entry never
    /// reverts the batch. Returns how many settled.
    pub fn settle_batch(
        &mut self,
        reports: &[UsageReport],
        signatures: &[&[u8]],
    ) -> Result<u64, SettlementError> {
        self.when_not_paused()?;
        let caller = self.vm().msg_sender();
        let relayer = self.view(self.registry.get(), selectors::IS_RELAYER, &[word(caller)])?;
        if calls::word_at(&relayer, 0).unwrap_or_default().is_zero() {
            return Err(SettlementError::NotRelayer(NotRelayer { caller }));
        }
        if reports.len() != signatures.len() {
            return Err(SettlementError::LengthMismatch(LengthMismatch {
                reports: U256::from(reports.len()),
                signatures: U256::from(signatures.len()),
            }));
        }
        let domain = eip712::domain_separator(
            contracts_common::usage_report::DOMAIN_NAME.as_bytes(),
            contracts_common::usage_report::DOMAIN_VERSION.as_bytes(),
            self.vm().chain_id(),
            self.market.get(),
        );
        let mut memo = Memo::default();
        let mut settled = 0u64;
        for (r, signature) in reports.iter().zip(signatures.iter()) {
            match self.settle_one(&mut memo, domain, r, signature)? {
                Outcome::Settled(burned, refunded) => {
                    settled += 1;
                    self.vm().log(ReportSettled {
                        jobId: r.job_id,
                        provider: r.provider,
                        nonce: r.nonce,
                        gpuSecondsBurned: burned.saturating_to(),
                        secondsRefunded: refunded.saturating_to(),
                        evidenceDigest: r.evidence_digest,
                    });
                }
                Outcome::Skipped(code) => self.vm().log(ReportSkipped {
                    jobId: r.job_id,
                    provider: r.provider,
                    nonce: r.nonce,
                    reason: code,
                }),
            }
        }
        Ok(settled)
    }
}

#[public]
impl Settlement {
    /// `owner` governs; `market` is both the contract whose jobs this settles and the
    /// EIP-712 verifying contract of the usage reports.
    #[constructor]
    pub fn constructor(
        &mut self,
        owner: Address,
        market: Address,
        registry: Address,
        vault: Address,
    ) -> Result<(), SettlementError> {
        if [owner, market, registry, vault].iter().any(|a| a.is_zero()) {
            return Err(SettlementError::ZeroAddress(ZeroAddress {}));
        }
        self.owner.set(owner);
        self.market.set(market);
        self.registry.set(registry);
        self.vault.set(vault);
        Ok(())
    }

    // ----- settlement -----

    /// `settleBatch(UsageReport[] reports, bytes[] signatures) returns (uint256 settled)`,
    /// decoded by hand (`calldata.rs`) to save ~15 KB of wasm; it is the only function
    /// reached through the fallback, anything else reverts `UnknownSelector()`.
    #[fallback]
    pub fn fallback(&mut self, input: &[u8]) -> ArbResult {
        if input.len() < 4 || input[..4] != calldata::SETTLE_BATCH {
            return Err(SettlementError::UnknownSelector(UnknownSelector {}).into());
        }
        let (reports, signatures) =
            calldata::decode(&input[4..]).ok_or(SettlementError::MalformedCalldata(MalformedCalldata {}))?;
        let settled = self.settle_batch(&reports, &signatures)?;
        Ok(U256::from(settled).to_be_bytes::<32>().to_vec())
    }

    /// `(evidenceDigest, settledAt, gpuSecondsBurned)`: a job's provenance (the evidence
    /// digest of its last settled report) and what its reports burned.
    pub fn job_record(&self, job_id: U256) -> (B256, u64, U256) {
        let r = self.records.getter(job_id);
        (r.evidence_digest.get(), r.settled_at.get().to::<u64>(), r.burned.get())
    }

    pub fn nonce_used(&self, provider: Address, nonce: U256) -> bool {
        self.nonces.getter(provider).get(nonce)
    }

    /// `(market, registry, vault)`
    pub fn config(&self) -> (Address, Address, Address) {
        (self.market.get(), self.registry.get(), self.vault.get())
    }

    // ----- guardian and ownership -----

    pub fn guardian(&self) -> Address {
        self.guardian.get()
    }

    pub fn paused(&self) -> bool {
        self.paused.get()
    }

    pub fn set_guardian(&mut self, guardian: Address) -> Result<(), SettlementError> {
        self.only_owner()?;
        self.guardian.set(guardian);
        self.vm().log(GuardianSet { guardian });
        Ok(())
    }

    /// Stops settlement, missed-accept slashing and new disputes (resolving goes on).
    pub fn pause(&mut self) -> Result<(), SettlementError> {
        let account = self.only_guardian()?;
        self.paused.set(true);
        self.vm().log(Paused { account });
        Ok(())
    }

    pub fn unpause(&mut self) -> Result<(), SettlementError> {
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
    pub fn transfer_ownership(&mut self, new_owner: Address) -> Result<(), SettlementError> {
        self.only_owner()?;
        self.pending_owner.set(new_owner);
        self.vm().log(OwnershipTransferStarted { previousOwner: self.owner.get(), newOwner: new_owner });
        Ok(())
    }

    pub fn accept_ownership(&mut self) -> Result<(), SettlementError> {
        let caller = self.vm().msg_sender();
        if caller.is_zero() || caller != self.pending_owner.get() {
            return Err(SettlementError::NotPendingOwner(NotPendingOwner { caller }));
        }
        let previous = self.owner.get();
        self.owner.set(caller);
        self.pending_owner.set(Address::ZERO);
        self.vm().log(OwnershipTransferred { previousOwner: previous, newOwner: caller });
        Ok(())
    }
}

#[cfg(test)]
mod tests;
