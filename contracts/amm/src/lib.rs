//! # amm: the AMM's entry program
//!
//! One address holds every pool of compute-second tokens against stablecoins (or each
//! other): Uniswap v2 math with fee tiers, multi-hop exact-in / exact-out swaps with quotes
//! that match execution, and a cumulative-price TWAP oracle with a growable ring of
//! observations (Uniswap v3's model). See `README.md`.
//!
//! This program serves pools, swaps, quotes and the oracle. Every other selector (adding and
//! removing liquidity, the ERC-6909 LP shares, governance) reaches the fallback, which
//! delegate-calls the `amm-liquidity` program fixed at construction: same address, same
//! storage ([`amm_core::layout`]), one ABI (`abi/IAmm.sol`). The split exists because the
//! whole surface does not fit one program's 24 KiB compressed limit.
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]
#![cfg_attr(feature = "contract-client-gen", allow(unused_imports))]

extern crate alloc;

pub use amm_core::*;

use alloc::vec::Vec;
use alloy_primitives::{Address, U256};
use alloy_sol_types::SolEvent;
use stylus_sdk::{
    abi::Bytes, call::delegate_call, prelude::*, stylus_core::calls::errors::Error as CallError, ArbResult,
};

#[storage]
#[entrypoint]
pub struct Amm {}

impl Store for Amm {}
impl Core for Amm {}

// `#[public]` only exports the ABI; calls are routed by hand in `router.rs`.
#[cfg_attr(feature = "export-abi", public)]
impl Amm {
    /// The `amm-liquidity` program this one delegates to.
    pub fn liquidity_program(&self) -> Address {
        address_of(self.ld(U256::from(layout::LIQUIDITY_PROGRAM)))
    }

    // ----- pools -----

    /// `(reserve0, reserve1, timestampLast)`. Reverts `Locked` mid-operation.
    pub fn get_reserves(&self, pool_id: U256) -> Result<(U256, U256, u64), AmmError> {
        let pool = self.live_pool(pool_id)?;
        Ok((pool.reserve0, pool.reserve1, pool.timestamp_last))
    }

    /// What the contract owes to pools in `token`, summed over pools.
    pub fn token_reserves(&self, token: Address) -> U256 {
        self.owed(token)
    }

    // ----- swaps -----

    /// Swaps exactly `amountIn` of the path's first token along `path` (packed
    /// `token0, uint16 fee0, token1, ...`: hop `i` uses the pool of tokens `i` and `i+1` at
    /// fee tier `i`) and pays at least `amountOutMin` of the last token to `to`. Returns
    /// every hop's amount.
    pub fn swap_exact_in(
        &mut self,
        path: Bytes,
        amount_in: U256,
        amount_out_min: U256,
        to: Address,
        deadline: U256,
    ) -> Result<Vec<U256>, AmmError> {
        self.swap_in(&path, amount_in, amount_out_min, to, deadline)
    }

    /// Swaps at most `amountInMax` of the path's first token for exactly `amountOut` of the last token.
    pub fn swap_exact_out(
        &mut self,
        path: Bytes,
        amount_out: U256,
        amount_in_max: U256,
        to: Address,
        deadline: U256,
    ) -> Result<Vec<U256>, AmmError> {
        self.swap_out(&path, amount_out, amount_in_max, to, deadline)
    }

    /// Every hop's amount for an exact-input swap, exactly as `swapExactIn` would execute
    /// it now.
    pub fn get_amounts_out(&self, path: Bytes, amount_in: U256) -> Result<Vec<U256>, AmmError> {
        self.quote_out(&path, amount_in)
    }

    /// Every hop's amount for an exact-output swap, exactly as `swapExactOut` would
    /// execute it now.
    pub fn get_amounts_in(&self, path: Bytes, amount_out: U256) -> Result<Vec<U256>, AmmError> {
        self.quote_in(&path, amount_out)
    }

    // ----- oracle -----

    /// The price cumulatives (UQ112x112 · seconds, modulo 2^256) `secondsAgos[i]` seconds
    /// ago: `price0` is token1 per token0, `price1` token0 per token1.
    pub fn observe(&self, pool_id: U256, seconds_agos: Vec<u32>) -> Result<(Vec<U256>, Vec<U256>), AmmError> {
        let mut c0s = Vec::with_capacity(seconds_agos.len());
        let mut c1s = Vec::with_capacity(seconds_agos.len());
        for s in seconds_agos {
            let (c0, c1) = self.observe_single(pool_id, s)?;
            c0s.push(c0);
            c1s.push(c1);
        }
        Ok((c0s, c1s))
    }

    /// The time-weighted average prices (UQ112x112) over the last `window` seconds:
    /// `(price0, price1)`. Reverts `HistoryTooShort` unless the oracle covers the whole
    /// window; never averages over a shorter one.
    pub fn twap(&self, pool_id: U256, window: u32) -> Result<(U256, U256), AmmError> {
        if window == 0 {
            return Err(AmmError::InvalidWindow(InvalidWindow {}));
        }
        let now = self.now();
        let pool = self.live_pool(pool_id)?;
        let available = if pool.obs_cardinality == 0 { 0 } else { now - self.oldest_obs(&pool).ts };
        if available < window as u64 {
            return Err(AmmError::HistoryTooShort(HistoryTooShort { poolId: pool_id, window, available }));
        }
        let (a0, a1) = self.observe_single(pool_id, window)?;
        let (b0, b1) = self.observe_single(pool_id, 0)?;
        // window > 0 (checked above)
        let average = |b: U256, a: U256| market_math::uint::div_floor(b.wrapping_sub(a), U256::from(window));
        Ok((average(b0, a0).unwrap_or_default(), average(b1, a1).unwrap_or_default()))
    }
}

/// The swaps and quotes on the packed path as the calldata carries it: the router calls
/// these with a slice of the calldata, so no `Bytes` (and none of the `bytes` crate's
/// vtables) is built on chain; the `#[public]` methods above wrap them for the ABI export.
impl Amm {
    fn swap_in(
        &mut self,
        path: &[u8],
        amount_in: U256,
        amount_out_min: U256,
        to: Address,
        deadline: U256,
    ) -> Result<Vec<U256>, AmmError> {
        self.check_deadline(deadline)?;
        let (path, fees) = route(path)?;
        let (hops, amounts) = self.amounts_out(&path, &fees, amount_in)?;
        let out = amounts[hops.len()];
        if out < amount_out_min {
            return Err(AmmError::InsufficientOutput(InsufficientOutput {
                amountOut: out,
                amountOutMin: amount_out_min,
            }));
        }
        self.execute(&path, &hops, &amounts, to)?;
        Ok(amounts)
    }

    fn swap_out(
        &mut self,
        path: &[u8],
        amount_out: U256,
        amount_in_max: U256,
        to: Address,
        deadline: U256,
    ) -> Result<Vec<U256>, AmmError> {
        self.check_deadline(deadline)?;
        let (path, fees) = route(path)?;
        let (hops, amounts) = self.amounts_in(&path, &fees, amount_out)?;
        if amounts[0] > amount_in_max {
            return Err(AmmError::ExcessiveInput(ExcessiveInput {
                amountIn: amounts[0],
                amountInMax: amount_in_max,
            }));
        }
        self.execute(&path, &hops, &amounts, to)?;
        Ok(amounts)
    }

    fn quote_out(&self, path: &[u8], amount_in: U256) -> Result<Vec<U256>, AmmError> {
        let (path, fees) = route(path)?;
        Ok(self.amounts_out(&path, &fees, amount_in)?.1)
    }

    fn quote_in(&self, path: &[u8], amount_out: U256) -> Result<Vec<U256>, AmmError> {
        let (path, fees) = route(path)?;
        Ok(self.amounts_in(&path, &fees, amount_out)?.1)
    }
}

/// The constructor and the fallback: called by the hand-written router (`router.rs`), and
/// outside the `#[public]` block because the SDK's ABI export has no place for them (the
/// constructor's arguments are documented in the README and used by the deployer).
impl Amm {
    /// `owner` governs the protocol fee; `liquidity_program` is the deployed `amm-liquidity`
    /// program, which serves every selector this program does not.
    pub fn constructor(&mut self, owner: Address, liquidity_program: Address) -> Result<(), AmmError> {
        if owner.is_zero() {
            return Err(AmmError::ZeroAddress(ZeroAddress {}));
        }
        if self.vm().code_size(liquidity_program) == 0 {
            return Err(AmmError::NotAContract(NotAContract { token: liquidity_program }));
        }
        self.st(U256::from(layout::OWNER), word_of(owner));
        self.st(U256::from(layout::LIQUIDITY_PROGRAM), word_of(liquidity_program));
        self.emit(&[OwnershipTransferred::SIGNATURE_HASH.0, word(Address::ZERO), word(owner)], &[]);
        Ok(())
    }

    /// Every selector not served here runs in `amm-liquidity` on this contract's storage.
    /// Its revert data comes back unchanged. Reentrancy stays refused: a call back into
    /// this address from a token is rejected by this program's entrypoint before it could
    /// reach the delegate.
    pub fn fallback(&mut self, input: &[u8]) -> ArbResult {
        let program = self.liquidity_program();
        let ctx = Call::new_mutating(self);
        // SAFETY: the target is fixed at construction to the audited `amm-liquidity`
        // program, which shares this storage layout (`amm_core::layout`).
        unsafe { delegate_call(self.vm(), ctx, program, input) }.map_err(|e| match e {
            CallError::Revert(data) => data,
            _ => Vec::new(),
        })
    }
}

#[cfg(not(feature = "export-abi"))]
mod router;

#[cfg(test)]
mod tests;
