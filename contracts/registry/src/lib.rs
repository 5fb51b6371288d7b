//! # Registry
//!
//! Who and what the market trades (DESIGN.md: `registry.registerGpus`):
//!
//! * **Hardware classes**, listed by governance: the class's compute-token, collateral per
//!   second, accept window, maximum report delay, accepted evidence kinds (a bit mask:
//!   1 Intel TDX, 2 AMD SEV-SNP, 4 NVIDIA CC, 8 none — the devnet's simulated meter) and
//!   minimum stake.
//! * **Providers**, per class: the key that signs their usage reports, the digest of their
//!   hardware evidence and their GPUs' UUID hashes; a GPU belongs to one provider at a time,
//!   and registering needs the class's minimum free stake in the vault.
//! * **Relayers**: the set governance authorises to settle usage reports.
//!
//! The market reads all of this through the views; it was split out of the market so each
//! contract stays well under Stylus's 24 KiB.
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]
#![cfg_attr(feature = "contract-client-gen", allow(unused_imports))]

extern crate alloc;

use alloc::vec::Vec;
use alloy_primitives::{Address, B256, U256, U64, U8};
use contracts_common::calls;
use stylus_sdk::{function_selector, prelude::*, storage::*};

const FREE_STAKE: [u8; 4] = function_selector!("freeStake", Address);

contracts_common::sol_events! {
    event ClassListed(bytes32 indexed classId, address token, uint256 collateralPerSecond, uint64 acceptWindow, uint64 maxReportDelay, uint8 evidenceKinds, uint256 minStake);
    event ClassStatusSet(bytes32 indexed classId, bool active);
    event ProviderRegistered(address indexed provider, bytes32 indexed classId, address signingKey, bytes32 evidenceDigest, uint256 gpuCount);
    event RelayerSet(address indexed relayer, bool authorised);
    event GuardianSet(address indexed guardian);
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event Paused(address account);
    event Unpaused(address account);
}

contracts_common::contract_errors! {
    /// Everything this contract reverts with (the vault's own revert data is re-raised
    /// unchanged as `Bubbled`).
    pub enum RegistryError {
        NotOwner(address caller);
        NotPendingOwner(address caller);
        NotGuardian(address caller);
        ZeroAddress();
        InvalidClassParams();
        ClassAlreadyListed(bytes32 classId);
        UnknownClass(bytes32 classId);
        ClassInactive(bytes32 classId);
        NoGpus();
        ProviderAlreadyRegistered(address provider, bytes32 classId);
        GpuAlreadyRegistered(bytes32 gpuUuidHash, address provider);
        InsufficientStake(uint256 stake, uint256 minStake);
        EnforcedPause();
        ExternalCallFailed(address target);
    }
}

/// A hardware class, listed by governance.
#[storage]
pub struct HardwareClass {
    token: StorageAddress,
    collateral_per_second: StorageU256,
    accept_window: StorageU64,
    max_report_delay: StorageU64,
    evidence_kinds: StorageU8,
    active: StorageBool,
    min_stake: StorageU256,
    /// Registered providers, in registration order.
    providers: StorageVec<StorageAddress>,
}

/// A provider's registration in one class.
#[storage]
pub struct Provider {
    registered: StorageBool,
    signing_key: StorageAddress,
    evidence_digest: StorageB256,
    gpu_count: StorageU64,
}

#[storage]
#[entrypoint]
pub struct Registry {
    owner: StorageAddress,
    pending_owner: StorageAddress,
    guardian: StorageAddress,
    paused: StorageBool,
    vault: StorageAddress,
    classes: StorageMap<B256, HardwareClass>,
    /// classId => provider => registration
    providers: StorageMap<B256, StorageMap<Address, Provider>>,
    /// GPU UUID hash => the provider it is registered to.
    gpu_owner: StorageMap<B256, StorageAddress>,
    relayers: StorageMap<Address, StorageBool>,
}

impl Registry {
    fn only_owner(&self) -> Result<(), RegistryError> {
        let caller = self.vm().msg_sender();
        if caller != self.owner.get() {
            return Err(RegistryError::NotOwner(NotOwner { caller }));
        }
        Ok(())
    }

    fn only_guardian(&self) -> Result<Address, RegistryError> {
        let caller = self.vm().msg_sender();
        if caller.is_zero() || caller != self.guardian.get() {
            return Err(RegistryError::NotGuardian(NotGuardian { caller }));
        }
        Ok(caller)
    }

    fn require_listed(&self, class_id: B256) -> Result<(), RegistryError> {
        if self.classes.getter(class_id).token.get().is_zero() {
            return Err(RegistryError::UnknownClass(UnknownClass { classId: class_id }));
        }
        Ok(())
    }
}

#[public]
impl Registry {
    #[constructor]
    pub fn constructor(&mut self, owner: Address, vault: Address) -> Result<(), RegistryError> {
        if owner.is_zero() || vault.is_zero() {
            return Err(RegistryError::ZeroAddress(ZeroAddress {}));
        }
        self.owner.set(owner);
        self.vault.set(vault);
        Ok(())
    }

    // ----- classes -----

    /// Lists a hardware class. `classId` is `keccak256` of the class name (e.g.
    /// `"H100-SXM5-80GB"`); `token` is its compute-token, whose minter is the market.
    #[allow(clippy::too_many_arguments)]
    pub fn list_class(
        &mut self,
        class_id: B256,
        token: Address,
        collateral_per_second: U256,
        accept_window: u64,
        max_report_delay: u64,
        evidence_kinds: u8,
        min_stake: U256,
    ) -> Result<(), RegistryError> {
        self.only_owner()?;
        if token.is_zero() {
            return Err(RegistryError::ZeroAddress(ZeroAddress {}));
        }
        if collateral_per_second.is_zero()
            || accept_window == 0
            || max_report_delay == 0
            || evidence_kinds == 0
        {
            return Err(RegistryError::InvalidClassParams(InvalidClassParams {}));
        }
        let mut class = self.classes.setter(class_id);
        if !class.token.get().is_zero() {
            return Err(RegistryError::ClassAlreadyListed(ClassAlreadyListed { classId: class_id }));
        }
        class.token.set(token);
        class.collateral_per_second.set(collateral_per_second);
        class.accept_window.set(U64::from(accept_window));
        class.max_report_delay.set(U64::from(max_report_delay));
        class.evidence_kinds.set(U8::from(evidence_kinds));
        class.min_stake.set(min_stake);
        class.active.set(true);
        self.vm().log(ClassListed {
            classId: class_id,
            token,
            collateralPerSecond: collateral_per_second,
            acceptWindow: accept_window,
            maxReportDelay: max_report_delay,
            evidenceKinds: evidence_kinds,
            minStake: min_stake,
        });
        Ok(())
    }

    /// Stops (or resumes) registration, minting and new jobs in a class; running jobs are
    /// unaffected.
    pub fn set_class_active(&mut self, class_id: B256, active: bool) -> Result<(), RegistryError> {
        self.only_owner()?;
        self.require_listed(class_id)?;
        self.classes.setter(class_id).active.set(active);
        self.vm().log(ClassStatusSet { classId: class_id, active });
        Ok(())
    }

    /// `(token, collateralPerSecond, acceptWindow, maxReportDelay, evidenceKinds, minStake,
    /// active, providerCount)`; `token` is zero for a class never listed.
    #[allow(clippy::type_complexity)]
    pub fn class_info(&self, class_id: B256) -> (Address, U256, u64, u64, u8, U256, bool, U256) {
        let c = self.classes.getter(class_id);
        (
            c.token.get(),
            c.collateral_per_second.get(),
            c.accept_window.get().to::<u64>(),
            c.max_report_delay.get().to::<u64>(),
            c.evidence_kinds.get().to::<u8>(),
            c.min_stake.get(),
            c.active.get(),
            U256::from(c.providers.len()),
        )
    }

    // ----- providers -----

    /// Registers the caller as a provider of `classId`: the key that will sign its usage
    /// reports, the digest of its hardware evidence and its GPUs' UUID hashes. Its free
    /// stake in the vault must reach the class's minimum stake.
    pub fn register_provider(
        &mut self,
        class_id: B256,
        signing_key: Address,
        evidence_digest: B256,
        gpu_uuid_hashes: Vec<B256>,
    ) -> Result<(), RegistryError> {
        if self.paused.get() {
            return Err(RegistryError::EnforcedPause(EnforcedPause {}));
        }
        let provider = self.vm().msg_sender();
        self.require_listed(class_id)?;
        if !self.classes.getter(class_id).active.get() {
            return Err(RegistryError::ClassInactive(ClassInactive { classId: class_id }));
        }
        if signing_key.is_zero() {
            return Err(RegistryError::ZeroAddress(ZeroAddress {}));
        }
        if gpu_uuid_hashes.is_empty() {
            return Err(RegistryError::NoGpus(NoGpus {}));
        }
        if self.providers.getter(class_id).getter(provider).registered.get() {
            return Err(RegistryError::ProviderAlreadyRegistered(ProviderAlreadyRegistered {
                provider,
                classId: class_id,
            }));
        }
        // Every check before any write.
        for (i, gpu) in gpu_uuid_hashes.iter().enumerate() {
            let mut owner = self.gpu_owner.get(*gpu);
            if owner.is_zero() && gpu_uuid_hashes[..i].contains(gpu) {
                owner = provider; // listed twice
            }
            if !owner.is_zero() {
                return Err(RegistryError::GpuAlreadyRegistered(GpuAlreadyRegistered {
                    gpuUuidHash: *gpu,
                    provider: owner,
                }));
            }
        }
        let min_stake = self.classes.getter(class_id).min_stake.get();
        let vault = self.vault.get();
        let stake = calls::static_call_u256(self.vm(), vault, FREE_STAKE, &[provider.into_word().0])
            .map_err(|e| {
                if e.is_empty() {
                    RegistryError::ExternalCallFailed(ExternalCallFailed { target: vault })
                } else {
                    RegistryError::Bubbled(e)
                }
            })?;
        if stake < min_stake {
            return Err(RegistryError::InsufficientStake(InsufficientStake { stake, minStake: min_stake }));
        }
        for gpu in &gpu_uuid_hashes {
            self.gpu_owner.insert(*gpu, provider);
        }
        {
            let mut classes = self.providers.setter(class_id);
            let mut p = classes.setter(provider);
            p.registered.set(true);
            p.signing_key.set(signing_key);
            p.evidence_digest.set(evidence_digest);
            p.gpu_count.set(U64::from(gpu_uuid_hashes.len() as u64));
        }
        self.classes.setter(class_id).providers.push(provider);
        self.vm().log(ProviderRegistered {
            provider,
            classId: class_id,
            signingKey: signing_key,
            evidenceDigest: evidence_digest,
            gpuCount: U256::from(gpu_uuid_hashes.len()),
        });
        Ok(())
    }

    /// `(registered, signingKey, evidenceDigest, gpuCount)`
    pub fn provider_info(&self, class_id: B256, provider: Address) -> (bool, Address, B256, u64) {
        let p = self.providers.getter(class_id);
        let p = p.getter(provider);
        (p.registered.get(), p.signing_key.get(), p.evidence_digest.get(), p.gpu_count.get().to::<u64>())
    }

    /// The `index`-th provider registered in `classId` (zero past the end).
    pub fn provider_at(&self, class_id: B256, index: U256) -> Address {
        let c = self.classes.getter(class_id);
        if index >= U256::from(c.providers.len()) {
            return Address::ZERO;
        }
        c.providers.get(index.to::<usize>()).unwrap_or_default()
    }

    /// The provider a GPU (by UUID hash) is registered to, or zero.
    pub fn gpu_owner(&self, gpu_uuid_hash: B256) -> Address {
        self.gpu_owner.get(gpu_uuid_hash)
    }

    // ----- relayers -----

    /// Authorises (or removes) a relayer that may settle usage reports.
    pub fn set_relayer(&mut self, relayer: Address, authorised: bool) -> Result<(), RegistryError> {
        self.only_owner()?;
        if relayer.is_zero() {
            return Err(RegistryError::ZeroAddress(ZeroAddress {}));
        }
        self.relayers.insert(relayer, authorised);
        self.vm().log(RelayerSet { relayer, authorised });
        Ok(())
    }

    pub fn is_relayer(&self, relayer: Address) -> bool {
        self.relayers.get(relayer)
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

    pub fn set_guardian(&mut self, guardian: Address) -> Result<(), RegistryError> {
        self.only_owner()?;
        self.guardian.set(guardian);
        self.vm().log(GuardianSet { guardian });
        Ok(())
    }

    /// Pauses provider registration.
    pub fn pause(&mut self) -> Result<(), RegistryError> {
        let account = self.only_guardian()?;
        self.paused.set(true);
        self.vm().log(Paused { account });
        Ok(())
    }

    pub fn unpause(&mut self) -> Result<(), RegistryError> {
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
    pub fn transfer_ownership(&mut self, new_owner: Address) -> Result<(), RegistryError> {
        self.only_owner()?;
        self.pending_owner.set(new_owner);
        self.vm().log(OwnershipTransferStarted { previousOwner: self.owner.get(), newOwner: new_owner });
        Ok(())
    }

    pub fn accept_ownership(&mut self) -> Result<(), RegistryError> {
        let caller = self.vm().msg_sender();
        if caller.is_zero() || caller != self.pending_owner.get() {
            return Err(RegistryError::NotPendingOwner(NotPendingOwner { caller }));
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
