//! # Mock ERC-20 (devnet only)
//!
//! The devnet's stand-ins for tokens that exist on real networks: the stablecoin the pools
//! trade against (USDC, 6 decimals) and the restaking collateral the vault holds (an LRT,
//! 18 decimals). Plain ERC-20 with ERC-6093 errors, `decimals` fixed at construction, and a
//! **public faucet**: `mint(to, value)` by anyone, so the one-command run and the tests can
//! fund accounts without an admin key. Never deploy it where the token must have value.
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]
#![cfg_attr(feature = "contract-client-gen", allow(unused_imports))]

extern crate alloc;

use alloc::string::String;
use alloy_primitives::{Address, U256};
use contracts_common::short_string;
use stylus_sdk::{prelude::*, storage::*};

contracts_common::sol_events! {
    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
}

contracts_common::contract_errors! {
    /// Everything this contract can revert with.
    pub enum MockError {
        ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed);
        ERC20InvalidReceiver(address receiver);
        ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed);
        ERC20InvalidSpender(address spender);
        SupplyOverflow();
        StringTooLong(uint256 maxLength);
    }
}

#[storage]
#[entrypoint]
pub struct MockErc20 {
    /// Short strings (at most 31 bytes), see [`short_string`].
    name: StorageB256,
    symbol: StorageB256,
    decimals: StorageU8,
    total_supply: StorageU256,
    balances: StorageMap<Address, StorageU256>,
    allowances: StorageMap<Address, StorageMap<Address, StorageU256>>,
}

impl MockErc20 {
    fn move_tokens(&mut self, from: Address, to: Address, value: U256) -> Result<(), MockError> {
        if to.is_zero() {
            return Err(MockError::ERC20InvalidReceiver(ERC20InvalidReceiver { receiver: to }));
        }
        let balance = self.balances.get(from);
        if balance < value {
            return Err(MockError::ERC20InsufficientBalance(ERC20InsufficientBalance {
                sender: from,
                balance,
                needed: value,
            }));
        }
        self.balances.insert(from, balance - value);
        // Cannot overflow: balances sum to the total supply, checked on mint.
        let to_balance = self.balances.get(to);
        self.balances.insert(to, to_balance + value);
        self.vm().log(Transfer { from, to, value });
        Ok(())
    }
}

#[public]
impl MockErc20 {
    /// Metadata: `name` and `symbol` at most 31 bytes each; `decimals` as the real token's
    /// (6 for the USDC stand-in).
    #[constructor]
    pub fn constructor(&mut self, name: String, symbol: String, decimals: u8) -> Result<(), MockError> {
        let pack = |s: &str| {
            short_string::pack(s).ok_or(MockError::StringTooLong(StringTooLong {
                maxLength: U256::from(short_string::MAX_LEN),
            }))
        };
        self.name.set(pack(&name)?);
        self.symbol.set(pack(&symbol)?);
        self.decimals.set(alloy_primitives::Uint::<8, 1>::from(decimals));
        Ok(())
    }

    pub fn name(&self) -> String {
        short_string::unpack(self.name.get())
    }

    pub fn symbol(&self) -> String {
        short_string::unpack(self.symbol.get())
    }

    pub fn decimals(&self) -> u8 {
        self.decimals.get().to::<u8>()
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

    pub fn transfer(&mut self, to: Address, value: U256) -> Result<bool, MockError> {
        let from = self.vm().msg_sender();
        self.move_tokens(from, to, value)?;
        Ok(true)
    }

    pub fn approve(&mut self, spender: Address, value: U256) -> Result<bool, MockError> {
        if spender.is_zero() {
            return Err(MockError::ERC20InvalidSpender(ERC20InvalidSpender { spender }));
        }
        let owner = self.vm().msg_sender();
        self.allowances.setter(owner).insert(spender, value);
        self.vm().log(Approval { owner, spender, value });
        Ok(true)
    }

    /// An infinite allowance (`type(uint256).max`) is never decremented.
    pub fn transfer_from(&mut self, from: Address, to: Address, value: U256) -> Result<bool, MockError> {
        let spender = self.vm().msg_sender();
        let allowance = self.allowances.getter(from).get(spender);
        if allowance < value {
            return Err(MockError::ERC20InsufficientAllowance(ERC20InsufficientAllowance {
                spender,
                allowance,
                needed: value,
            }));
        }
        self.move_tokens(from, to, value)?;
        if allowance != U256::MAX {
            self.allowances.setter(from).insert(spender, allowance - value);
        }
        Ok(true)
    }

    /// The faucet: mints `value` to `to`, callable by anyone (devnet only).
    pub fn mint(&mut self, to: Address, value: U256) -> Result<(), MockError> {
        if to.is_zero() {
            return Err(MockError::ERC20InvalidReceiver(ERC20InvalidReceiver { receiver: to }));
        }
        let supply =
            self.total_supply.get().checked_add(value).ok_or(MockError::SupplyOverflow(SupplyOverflow {}))?;
        self.total_supply.set(supply);
        let balance = self.balances.get(to);
        self.balances.insert(to, balance + value);
        self.vm().log(Transfer { from: Address::ZERO, to, value });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;
    use stylus_sdk::testing::*;

    const ALICE: Address = address!("c000000000000000000000000000000000000001");
    const BOB: Address = address!("c000000000000000000000000000000000000002");

    fn usdc(vm: &TestVM) -> MockErc20 {
        let mut t = MockErc20::from(vm);
        t.constructor("Mock USD Coin".into(), "USDC".into(), 6).unwrap();
        t
    }

    #[test]
    fn metadata_comes_from_the_constructor() {
        let vm = TestVM::default();
        let t = usdc(&vm);
        assert_eq!((t.name(), t.symbol(), t.decimals()), ("Mock USD Coin".into(), "USDC".into(), 6));
        let mut long = MockErc20::from(&vm);
        assert!(matches!(long.constructor("x".repeat(32), "X".into(), 18), Err(MockError::StringTooLong(_))));
    }

    #[test]
    fn anyone_mints_and_transfers_move_balances() {
        let vm = TestVM::default();
        let mut t = usdc(&vm);
        vm.set_sender(BOB);
        t.mint(ALICE, U256::from(1_000_000u64)).unwrap();
        assert_eq!(t.total_supply(), U256::from(1_000_000u64));
        vm.set_sender(ALICE);
        assert!(t.transfer(BOB, U256::from(400_000u64)).unwrap());
        assert_eq!(
            (t.balance_of(ALICE), t.balance_of(BOB)),
            (U256::from(600_000u64), U256::from(400_000u64))
        );
        let err = t.transfer(BOB, U256::from(600_001u64)).unwrap_err();
        assert_eq!(
            err,
            MockError::ERC20InsufficientBalance(ERC20InsufficientBalance {
                sender: ALICE,
                balance: U256::from(600_000u64),
                needed: U256::from(600_001u64)
            })
        );
        assert!(matches!(t.mint(ALICE, U256::MAX), Err(MockError::SupplyOverflow(_))));
    }

    #[test]
    fn transfer_from_spends_allowance_except_infinite() {
        let vm = TestVM::default();
        let mut t = usdc(&vm);
        t.mint(ALICE, U256::from(100u64)).unwrap();
        vm.set_sender(BOB);
        assert!(matches!(
            t.transfer_from(ALICE, BOB, U256::from(1u64)),
            Err(MockError::ERC20InsufficientAllowance(_))
        ));
        vm.set_sender(ALICE);
        t.approve(BOB, U256::from(30u64)).unwrap();
        vm.set_sender(BOB);
        t.transfer_from(ALICE, BOB, U256::from(10u64)).unwrap();
        assert_eq!(t.allowance(ALICE, BOB), U256::from(20u64));
        vm.set_sender(ALICE);
        t.approve(BOB, U256::MAX).unwrap();
        vm.set_sender(BOB);
        t.transfer_from(ALICE, BOB, U256::from(10u64)).unwrap();
        assert_eq!(t.allowance(ALICE, BOB), U256::MAX);
        assert_eq!(t.balance_of(BOB), U256::from(20u64));
    }
}
