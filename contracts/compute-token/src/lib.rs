//! # Compute-second token
//!
//! An ERC-20 for one hardware class: one token is one GPU-second of that class (for example
//! one H100-SXM5-80GB second). Tokens are minted by the market against a provider's
//! slashable stake, so every token in circulation is an obligation to deliver a GPU-second.
//!
//! * ERC-20 with [ERC-6093] custom errors, EIP-2612 `permit` (EIP-712 domain bound to the
//!   chain id and this contract's address) and EIP-5267 `eip712Domain`.
//! * `decimals() == 0`: a token is a whole GPU-second, the unit the market meters, burns
//!   and refunds. Wallets show balances in seconds.
//! * Metadata: the hardware class id (`keccak256("H100-SXM5-80GB")`) and a description.
//! * Mint and burn only by the minter (the market), set once by the admin named at
//!   construction; after that nobody can change it.
//!
//! [ERC-6093]: https://eips.ethereum.org/EIPS/eip-6093
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]
#![cfg_attr(feature = "contract-client-gen", allow(unused_imports))]

extern crate alloc;

use alloc::{string::String, vec::Vec};
use alloy_primitives::{keccak256, Address, FixedBytes, B256, U256};
use contracts_common::{ecdsa, eip712, short_string};
use stylus_sdk::{prelude::*, storage::*};

/// Every token counts whole GPU-seconds.
pub const DECIMALS: u8 = 0;
/// EIP-712 domain version of `permit`.
pub const EIP712_VERSION: &str = "1";

contracts_common::sol_events! {
    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event MinterSet(address indexed minter);
}

contracts_common::contract_errors! {
    /// Everything this contract can revert with.
    pub enum TokenError {
        ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed);
        ERC20InvalidSender(address sender);
        ERC20InvalidReceiver(address receiver);
        ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed);
        ERC20InvalidApprover(address approver);
        ERC20InvalidSpender(address spender);
        ERC2612ExpiredSignature(uint256 deadline);
        ERC2612InvalidSigner(address signer, address owner);
        UnauthorizedMinter(address caller);
        UnauthorizedAdmin(address caller);
        MinterAlreadySet(address minter);
        InvalidMinter();
        SupplyOverflow();
        StringTooLong(uint256 maxLength);
    }
}

/// `keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)")`
pub fn permit_typehash() -> B256 {
    keccak256(b"Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)")
}

/// The EIP-712 struct hash of a permit.
pub fn permit_struct_hash(
    owner: Address,
    spender: Address,
    value: U256,
    nonce: U256,
    deadline: U256,
) -> B256 {
    eip712::hash_words(&[
        permit_typehash().0,
        eip712::address_word(owner),
        eip712::address_word(spender),
        value.to_be_bytes(),
        nonce.to_be_bytes(),
        deadline.to_be_bytes(),
    ])
}

#[storage]
#[entrypoint]
pub struct ComputeToken {
    /// Short strings (at most 31 bytes), see [`short_string`].
    name: StorageB256,
    symbol: StorageB256,
    /// `keccak256` of the hardware class name, e.g. `keccak256("H100-SXM5-80GB")`.
    class_id: StorageB256,
    /// Human-readable description of the hardware class.
    hardware: StorageB256,
    /// May set the minter, once.
    admin: StorageAddress,
    /// The market: the only account that mints and burns.
    minter: StorageAddress,
    total_supply: StorageU256,
    balances: StorageMap<Address, StorageU256>,
    allowances: StorageMap<Address, StorageMap<Address, StorageU256>>,
    nonces: StorageMap<Address, StorageU256>,
}

/// Internal logic, shared by the public entry points.
impl ComputeToken {
    fn transfer_internal(&mut self, from: Address, to: Address, value: U256) -> Result<(), TokenError> {
        if from.is_zero() {
            return Err(TokenError::ERC20InvalidSender(ERC20InvalidSender { sender: from }));
        }
        if to.is_zero() {
            return Err(TokenError::ERC20InvalidReceiver(ERC20InvalidReceiver { receiver: to }));
        }
        let from_balance = self.balances.get(from);
        if from_balance < value {
            return Err(TokenError::ERC20InsufficientBalance(ERC20InsufficientBalance {
                sender: from,
                balance: from_balance,
                needed: value,
            }));
        }
        self.balances.insert(from, from_balance - value);
        // Cannot overflow: the sum of balances is the total supply, itself checked on mint.
        let to_balance = self.balances.get(to);
        self.balances.insert(to, to_balance + value);
        self.vm().log(Transfer { from, to, value });
        Ok(())
    }

    fn approve_internal(&mut self, owner: Address, spender: Address, value: U256) -> Result<(), TokenError> {
        if owner.is_zero() {
            return Err(TokenError::ERC20InvalidApprover(ERC20InvalidApprover { approver: owner }));
        }
        if spender.is_zero() {
            return Err(TokenError::ERC20InvalidSpender(ERC20InvalidSpender { spender }));
        }
        self.allowances.setter(owner).insert(spender, value);
        self.vm().log(Approval { owner, spender, value });
        Ok(())
    }

    /// The allowance left after `spender` spends `value` of `owner`'s tokens, or `None` for
    /// an infinite allowance (never decremented, as in OpenZeppelin's ERC-20). Reads only:
    /// the caller writes it after every other check has passed.
    fn allowance_after_spend(
        &self,
        owner: Address,
        spender: Address,
        value: U256,
    ) -> Result<Option<U256>, TokenError> {
        let current = self.allowances.getter(owner).get(spender);
        if current == U256::MAX {
            return Ok(None);
        }
        if current < value {
            return Err(TokenError::ERC20InsufficientAllowance(ERC20InsufficientAllowance {
                spender,
                allowance: current,
                needed: value,
            }));
        }
        Ok(Some(current - value))
    }

    fn only_minter(&self) -> Result<(), TokenError> {
        let caller = self.vm().msg_sender();
        if caller.is_zero() || caller != self.minter.get() {
            return Err(TokenError::UnauthorizedMinter(UnauthorizedMinter { caller }));
        }
        Ok(())
    }

    fn domain_separator_internal(&self) -> B256 {
        eip712::domain_separator(
            short_string::unpack(self.name.get()).as_bytes(),
            EIP712_VERSION.as_bytes(),
            self.vm().chain_id(),
            self.vm().contract_address(),
        )
    }
}

#[public]
impl ComputeToken {
    /// Sets the metadata (strings of at most 31 bytes each) and the admin who will name
    /// the minter.
    #[constructor]
    pub fn constructor(
        &mut self,
        name: String,
        symbol: String,
        class_id: B256,
        hardware: String,
        admin: Address,
    ) -> Result<(), TokenError> {
        if admin.is_zero() {
            return Err(TokenError::UnauthorizedAdmin(UnauthorizedAdmin { caller: admin }));
        }
        let pack = |s: &str| {
            short_string::pack(s).ok_or(TokenError::StringTooLong(StringTooLong {
                maxLength: U256::from(short_string::MAX_LEN),
            }))
        };
        self.name.set(pack(&name)?);
        self.symbol.set(pack(&symbol)?);
        self.hardware.set(pack(&hardware)?);
        self.class_id.set(class_id);
        self.admin.set(admin);
        Ok(())
    }

    // ----- ERC-20 -----

    pub fn name(&self) -> String {
        short_string::unpack(self.name.get())
    }

    pub fn symbol(&self) -> String {
        short_string::unpack(self.symbol.get())
    }

    pub fn decimals(&self) -> u8 {
        DECIMALS
    }

    pub fn total_supply(&self) -> U256 {
        self.total_supply.get()
    }

    pub fn balance_of(&self, account: Address) -> U256 {
        self.balances.get(account)
    }

    pub fn allowance(&self, owner: Address, spender: Address) -> U256 {
        self.allowances.getter(owner).get(spender)
    }

    pub fn transfer(&mut self, to: Address, value: U256) -> Result<bool, TokenError> {
        let from = self.vm().msg_sender();
        self.transfer_internal(from, to, value)?;
        Ok(true)
    }

    pub fn approve(&mut self, spender: Address, value: U256) -> Result<bool, TokenError> {
        let owner = self.vm().msg_sender();
        self.approve_internal(owner, spender, value)?;
        Ok(true)
    }

    pub fn transfer_from(&mut self, from: Address, to: Address, value: U256) -> Result<bool, TokenError> {
        let spender = self.vm().msg_sender();
        let remaining = self.allowance_after_spend(from, spender, value)?;
        self.transfer_internal(from, to, value)?;
        if let Some(remaining) = remaining {
            self.allowances.setter(from).insert(spender, remaining);
        }
        Ok(true)
    }

    // ----- EIP-2612 / EIP-5267 -----

    /// Sets `spender`'s allowance over `owner`'s tokens from `owner`'s EIP-712 signature.
    /// Each signature is usable once (the owner's nonce is part of it) and only before
    /// `deadline`, only on this chain and only for this contract.
    #[allow(clippy::too_many_arguments)]
    pub fn permit(
        &mut self,
        owner: Address,
        spender: Address,
        value: U256,
        deadline: U256,
        v: u8,
        r: B256,
        s: B256,
    ) -> Result<(), TokenError> {
        if U256::from(self.vm().block_timestamp()) > deadline {
            return Err(TokenError::ERC2612ExpiredSignature(ERC2612ExpiredSignature { deadline }));
        }
        let nonce = self.nonces.get(owner);
        let digest = eip712::typed_data_digest(
            self.domain_separator_internal(),
            permit_struct_hash(owner, spender, value, nonce, deadline),
        );
        let signer = ecdsa::recover(self.vm(), digest, v, r, s).unwrap_or(Address::ZERO);
        if signer.is_zero() || signer != owner {
            return Err(TokenError::ERC2612InvalidSigner(ERC2612InvalidSigner { signer, owner }));
        }
        self.nonces.insert(owner, nonce + U256::from(1));
        self.approve_internal(owner, spender, value)
    }

    /// The next permit nonce of `owner`.
    pub fn nonces(&self, owner: Address) -> U256 {
        self.nonces.get(owner)
    }

    #[selector(name = "DOMAIN_SEPARATOR")]
    pub fn domain_separator(&self) -> B256 {
        self.domain_separator_internal()
    }

    /// EIP-5267: the fields of the EIP-712 domain, so wallets can build permits.
    #[allow(clippy::type_complexity)]
    pub fn eip712_domain(&self) -> (FixedBytes<1>, String, String, U256, Address, B256, Vec<U256>) {
        (
            FixedBytes([0x0f]), // name, version, chainId, verifyingContract
            short_string::unpack(self.name.get()),
            String::from(EIP712_VERSION),
            U256::from(self.vm().chain_id()),
            self.vm().contract_address(),
            B256::ZERO,
            Vec::new(),
        )
    }

    // ----- hardware class metadata -----

    /// `keccak256` of the hardware class name this token counts seconds of.
    pub fn class_id(&self) -> B256 {
        self.class_id.get()
    }

    /// Human-readable description of the hardware class.
    pub fn hardware(&self) -> String {
        short_string::unpack(self.hardware.get())
    }

    // ----- roles -----

    pub fn admin(&self) -> Address {
        self.admin.get()
    }

    pub fn minter(&self) -> Address {
        self.minter.get()
    }

    /// Names the minter (the market). Only the admin, only once.
    pub fn set_minter(&mut self, minter: Address) -> Result<(), TokenError> {
        let caller = self.vm().msg_sender();
        if caller != self.admin.get() {
            return Err(TokenError::UnauthorizedAdmin(UnauthorizedAdmin { caller }));
        }
        let current = self.minter.get();
        if !current.is_zero() {
            return Err(TokenError::MinterAlreadySet(MinterAlreadySet { minter: current }));
        }
        if minter.is_zero() {
            return Err(TokenError::InvalidMinter(InvalidMinter {}));
        }
        self.minter.set(minter);
        self.vm().log(MinterSet { minter });
        Ok(())
    }

    /// Mints `value` GPU-seconds to `to`. Only the minter.
    pub fn mint(&mut self, to: Address, value: U256) -> Result<(), TokenError> {
        self.only_minter()?;
        if to.is_zero() {
            return Err(TokenError::ERC20InvalidReceiver(ERC20InvalidReceiver { receiver: to }));
        }
        let supply = self
            .total_supply
            .get()
            .checked_add(value)
            .ok_or(TokenError::SupplyOverflow(SupplyOverflow {}))?;
        self.total_supply.set(supply);
        let balance = self.balances.get(to);
        self.balances.insert(to, balance + value);
        self.vm().log(Transfer { from: Address::ZERO, to, value });
        Ok(())
    }

    /// Burns `value` of the minter's own tokens (the market burns what it holds in escrow).
    pub fn burn(&mut self, value: U256) -> Result<(), TokenError> {
        self.only_minter()?;
        let from = self.vm().msg_sender();
        let balance = self.balances.get(from);
        if balance < value {
            return Err(TokenError::ERC20InsufficientBalance(ERC20InsufficientBalance {
                sender: from,
                balance,
                needed: value,
            }));
        }
        self.balances.insert(from, balance - value);
        self.total_supply.set(self.total_supply.get() - value);
        self.vm().log(Transfer { from, to: Address::ZERO, value });
        Ok(())
    }
}

#[cfg(test)]
mod tests;
