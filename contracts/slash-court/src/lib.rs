//! # Slash court: vetoable slashing for the vault
//!
//! Disputed faults are not slashed at once: a **requester** (the dispute module) records
//! a slash request, **resolvers** may veto it during the veto window, and from the end of
//! the window anyone may execute it, once. Execution calls the vault's instant
//! `slash(operator, amount, evidenceHash, beneficiary, compensation)`, so this contract
//! must hold the vault's `SLASHER_ROLE`; the vault caps the amount by the slashable stake
//! at execution and pays the beneficiary and the treasury.
//!
//! The veto window must stay shorter than the vault's withdrawal delay, so that a request
//! made when a withdrawal is queued can execute before that withdrawal matures: the
//! constructor, `setVetoWindow` and every `requestSlash` read the delay from the vault's
//! `config()` and revert `InvalidVetoWindow(vetoWindow, withdrawalDelay)` otherwise.
//!
//! Split out of the vault to keep both under Arbitrum's 24 KiB code-size limit. See the
//! crate's README.
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]
#![cfg_attr(feature = "contract-client-gen", allow(unused_imports))]

extern crate alloc;

use alloc::vec::Vec;
use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{SolCall, SolEvent};
use contracts_common::calls::{call_words, static_call_words, word_at};
use stylus_sdk::{prelude::*, storage::*, stylus_core::calls::Call};

/// Role identifiers carried by `Unauthorized` and `RoleSet`: `keccak256("<NAME>_ROLE")`
/// (the same ids the vault used when it held vetoable slashing).
pub mod roles {
    use alloy_primitives::{b256, B256};
    /// `keccak256("OWNER_ROLE")`
    pub const OWNER: B256 = b256!("0xb19546dff01e856fb3f010c267a7b1c60363cf8a4664e21cc89c26224620214e");
    /// `keccak256("PENDING_OWNER_ROLE")`
    pub const PENDING_OWNER: B256 =
        b256!("0x9aee2ad1e182a48c4cc26ca6189148173423afb5382b6f9208f175aed0b8fa73");
    /// `keccak256("VETOABLE_SLASHER_ROLE")`: may `requestSlash`.
    pub const VETOABLE_SLASHER: B256 =
        b256!("0xff6fefb938a8dbf3d4e805b76aa1c75ec3131370383b33e6112f86b2b6790557");
    /// `keccak256("RESOLVER_ROLE")`: may `vetoSlash`.
    pub const RESOLVER: B256 = b256!("0x92a19c77d2ea87c7f81d50c74403cb2f401780f3ad919571121efe2bdb427eb1");
}

const VETOABLE_SLASHER_BIT: u8 = 1;
const RESOLVER_BIT: u8 = 2;

/// Word index of `withdrawalDelay` in the vault's `config()` return tuple
/// `(collateral, treasury, guardian, pendingOwner, withdrawalDelay, paused, withdrawalCount)`.
const VAULT_DELAY_WORD: usize = 4;

alloy_sol_types::sol! {
    /// The two vault methods this contract calls (only their selectors are used).
    interface IVault {
        function slash(address operator, uint256 amount, bytes32 evidenceHash, address beneficiary, uint256 compensation) external returns (uint256);
        function config() external view returns (address, address, address, address, uint64, bool, uint256);
    }
}

contracts_common::sol_events! {
    event SlashRequested(uint256 indexed requestId, address indexed operator, address indexed requester, uint256 amount, bytes32 evidenceHash, address beneficiary, uint256 compensation, uint64 executableAt);
    event SlashVetoed(uint256 indexed requestId, address indexed resolver);
    event SlashExecuted(uint256 indexed requestId, uint256 slashed);
    event VetoWindowSet(uint64 vetoWindow);
    event RoleSet(bytes32 indexed role, address indexed account, bool enabled);
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
}

contracts_common::contract_errors! {
    /// Everything this contract can revert with; a revert of the vault (in `slash` or
    /// `config`) is re-raised unchanged (`Bubbled`).
    pub enum CourtError {
        Unauthorized(address caller, bytes32 role);
        ZeroAddress();
        UnknownRole(bytes32 role);
        InvalidVetoWindow(uint64 vetoWindow, uint64 withdrawalDelay);
        UnknownSlashRequest(uint256 requestId);
        SlashRequestVetoed(uint256 requestId);
        SlashRequestExecuted(uint256 requestId);
        VetoWindowOpen(uint256 executableAt);
        VetoWindowClosed(uint256 executableAt);
        MathOverflow();
    }
}

fn unauthorized(caller: Address, role: B256) -> CourtError {
    CourtError::Unauthorized(Unauthorized { caller, role })
}

const ONE: U256 = U256::from_limbs([1, 0, 0, 0]);

fn w_addr(a: Address) -> B256 {
    a.into_word()
}
fn w_u256(x: U256) -> B256 {
    B256::from(x)
}
fn w_u64(x: u64) -> B256 {
    B256::from(U256::from(x))
}

/// One vetoable slash.
#[storage]
pub struct SlashRequest {
    operator: StorageAddress,
    executable_at: StorageU64,
    vetoed: StorageBool,
    executed: StorageBool,
    beneficiary: StorageAddress,
    amount: StorageU256,
    compensation: StorageU256,
    evidence_hash: StorageB256,
}

#[storage]
#[entrypoint]
pub struct SlashCourt {
    /// The vault slashed, fixed at construction.
    vault: StorageAddress,
    owner: StorageAddress,
    pending_owner: StorageAddress,
    veto_window: StorageU64,
    /// Role bit mask per account (vetoable slasher, resolver).
    roles: StorageMap<Address, StorageU8>,
    requests: StorageMap<U256, SlashRequest>,
    /// The last request id handed out (ids start at 1).
    request_count: StorageU256,
}

impl SlashCourt {
    fn only_owner(&self) -> Result<(), CourtError> {
        let caller = self.vm().msg_sender();
        if caller != self.owner.get() {
            return Err(unauthorized(caller, roles::OWNER));
        }
        Ok(())
    }

    fn mask(&self, account: Address) -> u8 {
        self.roles.get(account).saturating_to::<u8>()
    }

    fn only_role(&self, bit: u8, role: B256) -> Result<Address, CourtError> {
        let caller = self.vm().msg_sender();
        if self.mask(caller) & bit == 0 {
            return Err(unauthorized(caller, role));
        }
        Ok(caller)
    }

    fn role_bit(role: B256) -> Result<u8, CourtError> {
        if role == roles::VETOABLE_SLASHER {
            Ok(VETOABLE_SLASHER_BIT)
        } else if role == roles::RESOLVER {
            Ok(RESOLVER_BIT)
        } else {
            Err(CourtError::UnknownRole(UnknownRole { role }))
        }
    }

    fn emit(&self, topics: &[B256], words: &[B256]) {
        let mut data = Vec::with_capacity(32 * words.len());
        for w in words {
            data.extend_from_slice(w.as_slice());
        }
        let _ = self.vm().raw_log(topics, &data);
    }

    /// Reads the vault's withdrawal delay and requires `window < delay`.
    fn check_window(&self, window: u64) -> Result<(), CourtError> {
        let ret = static_call_words(self.vm(), self.vault.get(), IVault::configCall::SELECTOR, &[])
            .map_err(CourtError::Bubbled)?;
        let delay = word_at(&ret, VAULT_DELAY_WORD).unwrap_or_default().saturating_to::<u64>();
        if window >= delay {
            return Err(CourtError::InvalidVetoWindow(InvalidVetoWindow {
                vetoWindow: window,
                withdrawalDelay: delay,
            }));
        }
        Ok(())
    }

    fn store_window(&mut self, window: u64) -> Result<(), CourtError> {
        self.check_window(window)?;
        self.veto_window.set(alloy_primitives::Uint::from(window));
        self.emit(&[VetoWindowSet::SIGNATURE_HASH], &[w_u64(window)]);
        Ok(())
    }

    /// A request that exists and was not vetoed: `(operator, executableAt)`.
    fn live_request(&self, request_id: U256) -> Result<(Address, u64), CourtError> {
        let r = self.requests.getter(request_id);
        let operator = r.operator.get();
        if operator.is_zero() {
            return Err(CourtError::UnknownSlashRequest(UnknownSlashRequest { requestId: request_id }));
        }
        if r.vetoed.get() {
            return Err(CourtError::SlashRequestVetoed(SlashRequestVetoed { requestId: request_id }));
        }
        Ok((operator, r.executable_at.get().saturating_to::<u64>()))
    }
}

#[public]
impl SlashCourt {
    /// Sets the vault, the owner and the veto window (which must be shorter than the
    /// vault's current withdrawal delay).
    #[constructor]
    pub fn constructor(
        &mut self,
        vault: Address,
        owner: Address,
        veto_window: u64,
    ) -> Result<(), CourtError> {
        if vault.is_zero() || owner.is_zero() {
            return Err(CourtError::ZeroAddress(ZeroAddress {}));
        }
        self.vault.set(vault);
        self.owner.set(owner);
        self.emit(&[OwnershipTransferred::SIGNATURE_HASH, B256::ZERO, w_addr(owner)], &[]);
        self.store_window(veto_window)
    }

    /// Records a slash that anyone may execute once the veto window has passed, unless a
    /// resolver vetoes it first. Only vetoable slashers. Returns the request id.
    pub fn request_slash(
        &mut self,
        operator: Address,
        amount: U256,
        evidence_hash: B256,
        beneficiary: Address,
        compensation: U256,
    ) -> Result<U256, CourtError> {
        let requester = self.only_role(VETOABLE_SLASHER_BIT, roles::VETOABLE_SLASHER)?;
        if operator.is_zero() {
            return Err(CourtError::ZeroAddress(ZeroAddress {}));
        }
        let window = self.veto_window.get().saturating_to::<u64>();
        // The vault's owner may have shortened the delay since the window was set.
        self.check_window(window)?;
        let executable_at = self
            .vm()
            .block_timestamp()
            .checked_add(window)
            .ok_or(CourtError::MathOverflow(MathOverflow {}))?;
        let id =
            self.request_count.get().checked_add(ONE).ok_or(CourtError::MathOverflow(MathOverflow {}))?;
        self.request_count.set(id);
        let mut r = self.requests.setter(id);
        r.operator.set(operator);
        r.executable_at.set(alloy_primitives::Uint::from(executable_at));
        r.beneficiary.set(beneficiary);
        r.amount.set(amount);
        r.compensation.set(compensation);
        r.evidence_hash.set(evidence_hash);
        self.emit(
            &[SlashRequested::SIGNATURE_HASH, w_u256(id), w_addr(operator), w_addr(requester)],
            &[w_u256(amount), evidence_hash, w_addr(beneficiary), w_u256(compensation), w_u64(executable_at)],
        );
        Ok(id)
    }

    /// Vetoes a pending slash request before its veto window closes. Only resolvers.
    pub fn veto_slash(&mut self, request_id: U256) -> Result<(), CourtError> {
        let resolver = self.only_role(RESOLVER_BIT, roles::RESOLVER)?;
        let (_, executable_at) = self.live_request(request_id)?;
        if self.vm().block_timestamp() >= executable_at {
            return Err(CourtError::VetoWindowClosed(VetoWindowClosed {
                executableAt: U256::from(executable_at),
            }));
        }
        self.requests.setter(request_id).vetoed.set(true);
        self.emit(&[SlashVetoed::SIGNATURE_HASH, w_u256(request_id), w_addr(resolver)], &[]);
        Ok(())
    }

    /// Executes a slash request after its veto window, once, unless vetoed, by calling
    /// the vault's `slash` (capped there by the slashable stake at execution). Anyone may
    /// call it. Returns the amount slashed; a vault revert is re-raised unchanged.
    pub fn execute_slash(&mut self, request_id: U256) -> Result<U256, CourtError> {
        let (operator, executable_at) = self.live_request(request_id)?;
        let now = self.vm().block_timestamp();
        let mut r = self.requests.setter(request_id);
        if r.executed.get() {
            return Err(CourtError::SlashRequestExecuted(SlashRequestExecuted { requestId: request_id }));
        }
        if now < executable_at {
            return Err(CourtError::VetoWindowOpen(VetoWindowOpen {
                executableAt: U256::from(executable_at),
            }));
        }
        r.executed.set(true);
        let words = [
            operator.into_word().0,
            r.amount.get().to_be_bytes(),
            r.evidence_hash.get().0,
            r.beneficiary.get().into_word().0,
            r.compensation.get().to_be_bytes(),
        ];
        let vault = self.vault.get();
        let ctx = Call::new_mutating(self);
        let ret = call_words(self.vm(), ctx, vault, IVault::slashCall::SELECTOR, &words)
            .map_err(CourtError::Bubbled)?;
        let slashed = word_at(&ret, 0).unwrap_or_default();
        self.emit(&[SlashExecuted::SIGNATURE_HASH, w_u256(request_id)], &[w_u256(slashed)]);
        Ok(slashed)
    }

    /// `(operator, amount, evidenceHash, beneficiary, compensation, executableAt, vetoed,
    /// executed)` of a slash request.
    #[allow(clippy::type_complexity)]
    pub fn slash_request(&self, request_id: U256) -> (Address, U256, B256, Address, U256, u64, bool, bool) {
        let r = self.requests.getter(request_id);
        (
            r.operator.get(),
            r.amount.get(),
            r.evidence_hash.get(),
            r.beneficiary.get(),
            r.compensation.get(),
            r.executable_at.get().saturating_to::<u64>(),
            r.vetoed.get(),
            r.executed.get(),
        )
    }

    /// `(vault, vetoWindow, pendingOwner, slashRequestCount)`; request ids run from 1 to
    /// `slashRequestCount`.
    pub fn config(&self) -> (Address, u64, Address, U256) {
        (
            self.vault.get(),
            self.veto_window.get().saturating_to::<u64>(),
            self.pending_owner.get(),
            self.request_count.get(),
        )
    }

    pub fn owner(&self) -> Address {
        self.owner.get()
    }

    /// Whether `account` holds `VETOABLE_SLASHER_ROLE` or `RESOLVER_ROLE` (any other
    /// role: `false`).
    pub fn has_role(&self, role: B256, account: Address) -> bool {
        Self::role_bit(role).is_ok_and(|bit| self.mask(account) & bit != 0)
    }

    /// Grants or revokes `VETOABLE_SLASHER_ROLE` or `RESOLVER_ROLE`. Only the owner.
    pub fn set_role(&mut self, role: B256, account: Address, enabled: bool) -> Result<(), CourtError> {
        self.only_owner()?;
        let bit = Self::role_bit(role)?;
        if account.is_zero() {
            return Err(CourtError::ZeroAddress(ZeroAddress {}));
        }
        let mask = self.mask(account);
        let mask = if enabled { mask | bit } else { mask & !bit };
        self.roles.setter(account).set(alloy_primitives::Uint::from(mask));
        self.emit(&[RoleSet::SIGNATURE_HASH, role, w_addr(account)], &[B256::with_last_byte(enabled as u8)]);
        Ok(())
    }

    /// Sets the veto window of requests made from now on (must stay below the vault's
    /// withdrawal delay). Only the owner.
    pub fn set_veto_window(&mut self, veto_window: u64) -> Result<(), CourtError> {
        self.only_owner()?;
        self.store_window(veto_window)
    }

    /// Starts an ownership transfer; `newOwner` must accept. Zero cancels a pending one.
    pub fn transfer_ownership(&mut self, new_owner: Address) -> Result<(), CourtError> {
        self.only_owner()?;
        self.pending_owner.set(new_owner);
        self.emit(
            &[OwnershipTransferStarted::SIGNATURE_HASH, w_addr(self.owner.get()), w_addr(new_owner)],
            &[],
        );
        Ok(())
    }

    pub fn accept_ownership(&mut self) -> Result<(), CourtError> {
        let caller = self.vm().msg_sender();
        if caller != self.pending_owner.get() || caller.is_zero() {
            return Err(unauthorized(caller, roles::PENDING_OWNER));
        }
        let previous = self.owner.get();
        self.owner.set(caller);
        self.pending_owner.set(Address::ZERO);
        self.emit(&[OwnershipTransferred::SIGNATURE_HASH, w_addr(previous), w_addr(caller)], &[]);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
