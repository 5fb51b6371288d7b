//! The AMM as users call it at one address: the `amm` program's own functions and the
//! `amm-liquidity` program's (reached on chain through `amm`'s fallback), on one storage.
//! The TestVM cannot execute a delegate call, so this facade picks the program by function;
//! the devnet tests go through the real fallback with the real wasm.
//! Generated from both programs' `pub fn` signatures; keep it in sync when they change.

use super::super::Amm as Main;
use alloc::vec::Vec;
use alloy_primitives::{Address, FixedBytes, U256};
use amm_core::{AmmError, Store};
use amm_liquidity::AmmLiquidity;
use stylus_sdk::abi::Bytes;

/// Where the `amm-liquidity` program lives in the tests (the test host says it has code).
pub const LIQUIDITY: Address = alloy_primitives::address!("aa000000000000000000000000000000000000d1");

pub struct Amm {
    main: Main,
    liq: AmmLiquidity,
}

impl Amm {
    pub fn from<H>(host: &H) -> Self
    where
        for<'a> Main: From<&'a H>,
        for<'a> AmmLiquidity: From<&'a H>,
    {
        Amm { main: Main::from(host), liq: AmmLiquidity::from(host) }
    }

    /// `amm`'s constructor, with the test's liquidity program.
    pub fn constructor(&mut self, owner: Address) -> Result<(), AmmError> {
        self.main.constructor(owner, LIQUIDITY)
    }

    pub fn k_last(&self, id: U256) -> U256 {
        self.main.k_last(id)
    }

    pub fn get_reserves(&self, pool_id: U256) -> Result<(U256, U256, u64), AmmError> {
        self.main.get_reserves(pool_id)
    }

    pub fn token_reserves(&self, token: Address) -> U256 {
        self.main.token_reserves(token)
    }

    pub fn swap_exact_in(
        &mut self,
        path: Bytes,
        amount_in: U256,
        amount_out_min: U256,
        to: Address,
        deadline: U256,
    ) -> Result<Vec<U256>, AmmError> {
        self.main.swap_exact_in(path, amount_in, amount_out_min, to, deadline)
    }

    pub fn swap_exact_out(
        &mut self,
        path: Bytes,
        amount_out: U256,
        amount_in_max: U256,
        to: Address,
        deadline: U256,
    ) -> Result<Vec<U256>, AmmError> {
        self.main.swap_exact_out(path, amount_out, amount_in_max, to, deadline)
    }

    pub fn get_amounts_out(&self, path: Bytes, amount_in: U256) -> Result<Vec<U256>, AmmError> {
        self.main.get_amounts_out(path, amount_in)
    }

    pub fn get_amounts_in(&self, path: Bytes, amount_out: U256) -> Result<Vec<U256>, AmmError> {
        self.main.get_amounts_in(path, amount_out)
    }

    pub fn observe(&self, pool_id: U256, seconds_agos: Vec<u32>) -> Result<(Vec<U256>, Vec<U256>), AmmError> {
        self.main.observe(pool_id, seconds_agos)
    }

    pub fn twap(&self, pool_id: U256, window: u32) -> Result<(U256, U256), AmmError> {
        self.main.twap(pool_id, window)
    }

    pub fn create_pool(&mut self, token_a: Address, token_b: Address, fee: u16) -> Result<U256, AmmError> {
        self.liq.create_pool(token_a, token_b, fee)
    }

    pub fn pool_id(&self, token_a: Address, token_b: Address, fee: u16) -> U256 {
        self.liq.pool_id(token_a, token_b, fee)
    }

    pub fn get_pool(&self, pool_id: U256) -> (Address, Address, u16) {
        self.liq.get_pool(pool_id)
    }

    pub fn increase_observation_cardinality(
        &mut self,
        pool_id: U256,
        cardinality: u16,
    ) -> Result<(), AmmError> {
        self.liq.increase_observation_cardinality(pool_id, cardinality)
    }

    pub fn observation_state(&self, pool_id: U256) -> (u16, u16, u16) {
        self.liq.observation_state(pool_id)
    }

    pub fn add_liquidity(
        &mut self,
        pool_id: U256,
        amount0_desired: U256,
        amount1_desired: U256,
        amount0_min: U256,
        amount1_min: U256,
        to: Address,
        deadline: U256,
    ) -> Result<(U256, U256, U256), AmmError> {
        self.liq.add_liquidity(
            pool_id,
            amount0_desired,
            amount1_desired,
            amount0_min,
            amount1_min,
            to,
            deadline,
        )
    }

    pub fn remove_liquidity(
        &mut self,
        pool_id: U256,
        shares: U256,
        amount0_min: U256,
        amount1_min: U256,
        to: Address,
        deadline: U256,
    ) -> Result<(U256, U256), AmmError> {
        self.liq.remove_liquidity(pool_id, shares, amount0_min, amount1_min, to, deadline)
    }

    pub fn balance_of(&self, owner: Address, id: U256) -> U256 {
        self.liq.balance_of(owner, id)
    }

    pub fn allowance(&self, owner: Address, spender: Address, id: U256) -> U256 {
        self.liq.allowance(owner, spender, id)
    }

    pub fn is_operator(&self, owner: Address, spender: Address) -> bool {
        self.liq.is_operator(owner, spender)
    }

    pub fn total_supply(&self, id: U256) -> U256 {
        self.liq.total_supply(id)
    }

    pub fn transfer(&mut self, receiver: Address, id: U256, amount: U256) -> Result<bool, AmmError> {
        self.liq.transfer(receiver, id, amount)
    }

    pub fn transfer_from(
        &mut self,
        sender: Address,
        receiver: Address,
        id: U256,
        amount: U256,
    ) -> Result<bool, AmmError> {
        self.liq.transfer_from(sender, receiver, id, amount)
    }

    pub fn approve(&mut self, spender: Address, id: U256, amount: U256) -> Result<bool, AmmError> {
        self.liq.approve(spender, id, amount)
    }

    pub fn set_operator(&mut self, spender: Address, approved: bool) -> Result<bool, AmmError> {
        self.liq.set_operator(spender, approved)
    }

    pub fn supports_interface(&self, interface_id: FixedBytes<4>) -> bool {
        self.liq.supports_interface(interface_id)
    }

    pub fn owner(&self) -> Address {
        self.liq.owner()
    }

    pub fn pending_owner(&self) -> Address {
        self.liq.pending_owner()
    }

    pub fn transfer_ownership(&mut self, new_owner: Address) -> Result<(), AmmError> {
        self.liq.transfer_ownership(new_owner)
    }

    pub fn accept_ownership(&mut self) -> Result<(), AmmError> {
        self.liq.accept_ownership()
    }

    pub fn fee_to(&self) -> Address {
        self.liq.fee_to()
    }

    pub fn protocol_fee(&self) -> u8 {
        self.liq.protocol_fee()
    }

    pub fn set_fee_to(&mut self, fee_to: Address) -> Result<(), AmmError> {
        self.liq.set_fee_to(fee_to)
    }

    pub fn set_protocol_fee(&mut self, denominator: u8) -> Result<(), AmmError> {
        self.liq.set_protocol_fee(denominator)
    }
}
