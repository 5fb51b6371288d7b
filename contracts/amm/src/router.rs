//! Routes calls to [`Amm`]'s functions by selector, decoding arguments with
//! `contracts_common::calldata` instead of the SDK's generic decoder (see that module: the
//! generic one costs a monomorphised decoder per signature, which this program cannot fit).
//!
//! The selectors are computed from the same names and Rust types that `#[public]` exports
//! as the ABI, and a test routes every function of the committed `abi/IAmm.sol`. Calldata
//! that does not decode reverts with empty data, as the SDK and Solidity do. No function is
//! payable.

use super::*;
use contracts_common::calldata::{address_word, encode, encode_arrays, num, word, Args, Malformed};
use stylus_sdk::{
    abi::Router,
    function_selector,
    stylus_core::host::{ConstructorGuard, ValueDenier},
};

pub const GET_RESERVES: [u8; 4] = function_selector!("getReserves", U256);
pub const TOKEN_RESERVES: [u8; 4] = function_selector!("tokenReserves", Address);
pub const SWAP_EXACT_IN: [u8; 4] = function_selector!("swapExactIn", Bytes, U256, U256, Address, U256);
pub const SWAP_EXACT_OUT: [u8; 4] = function_selector!("swapExactOut", Bytes, U256, U256, Address, U256);
pub const GET_AMOUNTS_OUT: [u8; 4] = function_selector!("getAmountsOut", Bytes, U256);
pub const GET_AMOUNTS_IN: [u8; 4] = function_selector!("getAmountsIn", Bytes, U256);
pub const OBSERVE: [u8; 4] = function_selector!("observe", U256, Vec<u32>);
pub const TWAP: [u8; 4] = function_selector!("twap", U256, u32);
pub const LIQUIDITY_PROGRAM: [u8; 4] = function_selector!("liquidityProgram");

fn amounts(r: Result<Vec<U256>, AmmError>) -> Result<Vec<u8>, AmmError> {
    r.map(|v| encode_arrays(&[&v]))
}

/// `Ok(None)`: not this program's selector (the fallback's). `Err(Malformed)`: it is, but
/// the arguments do not decode.
fn dispatch(s: &mut Amm, selector: [u8; 4], a: Args) -> Result<Option<Result<Vec<u8>, AmmError>>, Malformed> {
    Ok(Some(match selector {
        GET_RESERVES => s.get_reserves(a.u256(0)?).map(|(r0, r1, ts)| encode(&[word(r0), word(r1), num(ts)])),
        TOKEN_RESERVES => Ok(encode(&[word(s.token_reserves(a.address(0)?))])),
        SWAP_EXACT_IN => amounts(s.swap_in(a.bytes(0)?, a.u256(1)?, a.u256(2)?, a.address(3)?, a.u256(4)?)),
        SWAP_EXACT_OUT => amounts(s.swap_out(a.bytes(0)?, a.u256(1)?, a.u256(2)?, a.address(3)?, a.u256(4)?)),
        GET_AMOUNTS_OUT => amounts(s.quote_out(a.bytes(0)?, a.u256(1)?)),
        GET_AMOUNTS_IN => amounts(s.quote_in(a.bytes(0)?, a.u256(1)?)),
        OBSERVE => s.observe(a.u256(0)?, a.u32_array(1)?).map(|(c0, c1)| encode_arrays(&[&c0, &c1])),
        TWAP => s.twap(a.u256(0)?, a.uint(1, 32)? as u32).map(|(p0, p1)| encode(&[word(p0), word(p1)])),
        LIQUIDITY_PROGRAM => Ok(encode(&[address_word(s.liquidity_program())])),
        _ => return Ok(None),
    }))
}

fn finish(r: Result<Option<Result<Vec<u8>, AmmError>>, Malformed>) -> Option<ArbResult> {
    match r {
        Ok(result) => result.map(|r| r.map_err(Vec::from)),
        Err(Malformed) => Some(Err(Vec::new())),
    }
}

impl Router<Amm> for Amm {
    type Storage = Amm;

    fn route(s: &mut Amm, selector: u32, input: &[u8]) -> Option<ArbResult> {
        // Nothing is payable, the fallback's delegate included.
        if let Err(e) = s.deny_value("") {
            return Some(Err(e));
        }
        finish(dispatch(s, selector.to_be_bytes(), Args(input)))
    }

    fn receive(_: &mut Amm) -> Option<Result<(), Vec<u8>>> {
        None
    }

    fn fallback(s: &mut Amm, calldata: &[u8]) -> Option<ArbResult> {
        if let Err(e) = s.deny_value("fallback") {
            return Some(Err(e));
        }
        Some(s.fallback(calldata))
    }

    fn constructor(s: &mut Amm, calldata: &[u8]) -> Option<ArbResult> {
        if let Err(e) = s.deny_value("constructor") {
            return Some(Err(e));
        }
        if let Err(e) = s.check_constructor_slot() {
            return Some(Err(e));
        }
        let a = Args(calldata);
        finish((|| Ok(Some(s.constructor(a.address(0)?, a.address(1)?).map(|()| Vec::new()))))())
    }
}
