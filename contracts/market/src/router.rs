//! Routes calls to [`Market`]'s functions by selector, decoding arguments with
//! `contracts_common::calldata` instead of the SDK's generic decoder (one monomorphised
//! alloy decoder per signature, which put this program over the project's 20 KiB target).
//!
//! The selectors are computed from the same names and Rust types that `#[public]` exports
//! as the ABI, and a test routes every function of the committed `abi/IMarket.sol`.
//! Calldata that does not decode reverts with empty data, as the SDK and Solidity do. No
//! function is payable, and the market has no fallback or receive function.

use super::*;
use contracts_common::calldata::{address_word, encode, num, word as uint_word, Args, Malformed};
use stylus_sdk::{
    abi::Router,
    function_selector,
    stylus_core::host::{ConstructorGuard, ValueDenier},
    ArbResult,
};

pub const MINT: [u8; 4] = function_selector!("mint", B256, U256);
pub const BURN_OBLIGATIONS: [u8; 4] = function_selector!("burnObligations", B256, U256);
pub const OPEN_JOB: [u8; 4] = function_selector!("openJob", B256, U256, Address, B256);
pub const ACCEPT_JOB: [u8; 4] = function_selector!("acceptJob", U256);
pub const CANCEL_JOB: [u8; 4] = function_selector!("cancelJob", U256);
pub const SET_SETTLER: [u8; 4] = function_selector!("setSettler", Address, bool);
pub const IS_SETTLER: [u8; 4] = function_selector!("isSettler", Address);
pub const SETTLE_USAGE: [u8; 4] = function_selector!("settleUsage", U256, U256, bool);
pub const REFUND_JOB: [u8; 4] = function_selector!("refundJob", U256);
pub const JOB: [u8; 4] = function_selector!("job", U256);
pub const OBLIGATIONS: [u8; 4] = function_selector!("obligations", B256, Address);
pub const REGISTRY: [u8; 4] = function_selector!("registry");
pub const JOB_COUNT: [u8; 4] = function_selector!("jobCount");
pub const VAULT: [u8; 4] = function_selector!("vault");
pub const GUARDIAN: [u8; 4] = function_selector!("guardian");
pub const PAUSED: [u8; 4] = function_selector!("paused");
pub const SET_GUARDIAN: [u8; 4] = function_selector!("setGuardian", Address);
pub const PAUSE: [u8; 4] = function_selector!("pause");
pub const UNPAUSE: [u8; 4] = function_selector!("unpause");
pub const OWNER: [u8; 4] = function_selector!("owner");
pub const PENDING_OWNER: [u8; 4] = function_selector!("pendingOwner");
pub const TRANSFER_OWNERSHIP: [u8; 4] = function_selector!("transferOwnership", Address);
pub const ACCEPT_OWNERSHIP: [u8; 4] = function_selector!("acceptOwnership");

fn b256(a: &Args, i: usize) -> Result<B256, Malformed> {
    Ok(B256::from(*a.word(i)?))
}

fn unit(r: Result<(), MarketError>) -> Result<Vec<u8>, MarketError> {
    r.map(|()| Vec::new())
}

fn one(w: [u8; 32]) -> Result<Vec<u8>, MarketError> {
    Ok(encode(&[w]))
}

/// `Ok(None)`: not this program's selector. `Err(Malformed)`: it is, but the arguments do
/// not decode.
fn dispatch(
    s: &mut Market,
    selector: [u8; 4],
    a: Args,
) -> Result<Option<Result<Vec<u8>, MarketError>>, Malformed> {
    Ok(Some(match selector {
        MINT => unit(s.mint(b256(&a, 0)?, a.u256(1)?)),
        BURN_OBLIGATIONS => unit(s.burn_obligations(b256(&a, 0)?, a.u256(1)?)),
        OPEN_JOB => s
            .open_job(b256(&a, 0)?, a.u256(1)?, a.address(2)?, b256(&a, 3)?)
            .map(|id| encode(&[uint_word(id)])),
        ACCEPT_JOB => unit(s.accept_job(a.u256(0)?)),
        CANCEL_JOB => unit(s.cancel_job(a.u256(0)?)),
        SET_SETTLER => unit(s.set_settler(a.address(0)?, a.boolean(1)?)),
        IS_SETTLER => one(num(s.is_settler(a.address(0)?) as u64)),
        SETTLE_USAGE => s
            .settle_usage(a.u256(0)?, a.u256(1)?, a.boolean(2)?)
            .map(|(burned, refunded)| encode(&[uint_word(burned), uint_word(refunded)])),
        REFUND_JOB => s.refund_job(a.u256(0)?).map(|r| encode(&[uint_word(r)])),
        JOB => {
            let (buyer, provider, class_id, escrow, spec, opened, deadline, accepted, st) = s.job(a.u256(0)?);
            Ok(encode(&[
                address_word(buyer),
                address_word(provider),
                class_id.0,
                uint_word(escrow),
                spec.0,
                num(opened),
                num(deadline),
                num(accepted),
                num(st as u64),
            ]))
        }
        OBLIGATIONS => {
            let (minted, committed) = s.obligations(b256(&a, 0)?, a.address(1)?);
            Ok(encode(&[uint_word(minted), uint_word(committed)]))
        }
        REGISTRY => one(address_word(s.registry())),
        JOB_COUNT => one(uint_word(s.job_count())),
        VAULT => one(address_word(s.vault())),
        GUARDIAN => one(address_word(s.guardian())),
        PAUSED => one(num(s.paused() as u64)),
        SET_GUARDIAN => unit(s.set_guardian(a.address(0)?)),
        PAUSE => unit(s.pause()),
        UNPAUSE => unit(s.unpause()),
        OWNER => one(address_word(s.owner())),
        PENDING_OWNER => one(address_word(s.pending_owner())),
        TRANSFER_OWNERSHIP => unit(s.transfer_ownership(a.address(0)?)),
        ACCEPT_OWNERSHIP => unit(s.accept_ownership()),
        _ => return Ok(None),
    }))
}

fn finish(r: Result<Option<Result<Vec<u8>, MarketError>>, Malformed>) -> Option<ArbResult> {
    match r {
        Ok(result) => result.map(|r| r.map_err(Vec::from)),
        Err(Malformed) => Some(Err(Vec::new())),
    }
}

impl Router<Market> for Market {
    type Storage = Market;

    fn route(s: &mut Market, selector: u32, input: &[u8]) -> Option<ArbResult> {
        // Nothing is payable: value is refused before the selector is looked at (an unknown
        // selector reverts anyway, there being no fallback).
        if let Err(e) = s.deny_value("") {
            return Some(Err(e));
        }
        finish(dispatch(s, selector.to_be_bytes(), Args(input)))
    }

    fn receive(_: &mut Market) -> Option<Result<(), Vec<u8>>> {
        None
    }

    fn fallback(_: &mut Market, _: &[u8]) -> Option<ArbResult> {
        None
    }

    fn constructor(s: &mut Market, calldata: &[u8]) -> Option<ArbResult> {
        if let Err(e) = s.deny_value("constructor") {
            return Some(Err(e));
        }
        if let Err(e) = s.check_constructor_slot() {
            return Some(Err(e));
        }
        let a = Args(calldata);
        finish(
            (|| Ok(Some(s.constructor(a.address(0)?, a.address(1)?, a.address(2)?).map(|()| Vec::new()))))(),
        )
    }
}
