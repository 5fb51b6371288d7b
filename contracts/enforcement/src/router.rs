//! Routes calls to [`Enforcement`]'s functions by selector, decoding arguments with
//! `contracts_common::calldata` instead of the SDK's generic decoder (one monomorphised
//! alloy decoder per signature, which put this program over the project's 20 KiB target).
//!
//! The selectors are computed from the same names and Rust types that `#[public]` exports
//! as the ABI, and a test routes every function of the committed `abi/IEnforcement.sol`.
//! Calldata that does not decode reverts with empty data, as the SDK and Solidity do.
//! `openDispute` is the one payable function (the bond); every other one refuses value.
//! There is no fallback or receive function.

use super::*;
use contracts_common::calldata::{address_word, encode, num, word as uint_word, Args, Malformed};
use stylus_sdk::{
    abi::Router,
    function_selector,
    stylus_core::host::{ConstructorGuard, ValueDenier},
    ArbResult,
};

pub const SLASH_MISSED_ACCEPT: [u8; 4] = function_selector!("slashMissedAccept", U256);
pub const SLASH_ABANDONED_JOB: [u8; 4] = function_selector!("slashAbandonedJob", U256);
pub const OPEN_DISPUTE: [u8; 4] = function_selector!("openDispute", U256);
pub const RESOLVE_DISPUTE: [u8; 4] = function_selector!("resolveDispute", U256, bool);
pub const DISPUTE: [u8; 4] = function_selector!("dispute", U256);
pub const SET_CLASS_PRICING: [u8; 4] = function_selector!("setClassPricing", B256, U256, bool, u32, U256);
pub const CLASS_PRICING: [u8; 4] = function_selector!("classPricing", B256);
pub const SET_DISPUTE_CONFIG: [u8; 4] = function_selector!("setDisputeConfig", Address, u64, U256);
pub const CONFIG: [u8; 4] = function_selector!("config");
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

type Answer = Result<Vec<u8>, EnforcementError>;

fn unit(r: Result<(), EnforcementError>) -> Answer {
    r.map(|()| Vec::new())
}

fn uint(r: Result<U256, EnforcementError>) -> Answer {
    r.map(|v| encode(&[uint_word(v)]))
}

fn one(w: [u8; 32]) -> Answer {
    Ok(encode(&[w]))
}

/// `Ok(None)`: not this program's selector. `Err(Malformed)`: it is, but the arguments do
/// not decode.
fn dispatch(s: &mut Enforcement, selector: [u8; 4], a: Args) -> Result<Option<Answer>, Malformed> {
    Ok(Some(match selector {
        SLASH_MISSED_ACCEPT => uint(s.slash_missed_accept(a.u256(0)?)),
        SLASH_ABANDONED_JOB => uint(s.slash_abandoned_job(a.u256(0)?)),
        OPEN_DISPUTE => unit(s.open_dispute(a.u256(0)?)),
        RESOLVE_DISPUTE => uint(s.resolve_dispute(a.u256(0)?, a.boolean(1)?)),
        DISPUTE => {
            let (state, bond, request) = s.dispute(a.u256(0)?);
            Ok(encode(&[num(state as u64), uint_word(bond), uint_word(request)]))
        }
        SET_CLASS_PRICING => unit(s.set_class_pricing(
            b256(&a, 0)?,
            a.u256(1)?,
            a.boolean(2)?,
            a.uint(3, 32)? as u32,
            a.u256(4)?,
        )),
        CLASS_PRICING => {
            let (pool, is_token0, window, per_stable) = s.class_pricing(b256(&a, 0)?);
            Ok(encode(&[uint_word(pool), num(is_token0 as u64), num(window as u64), uint_word(per_stable)]))
        }
        SET_DISPUTE_CONFIG => unit(s.set_dispute_config(a.address(0)?, a.uint(1, 64)?, a.u256(2)?)),
        CONFIG => {
            let (market, registry, settlement, vault, court, amm, resolver, window, bond) = s.config();
            Ok(encode(&[
                address_word(market),
                address_word(registry),
                address_word(settlement),
                address_word(vault),
                address_word(court),
                address_word(amm),
                address_word(resolver),
                num(window),
                uint_word(bond),
            ]))
        }
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

fn finish(r: Result<Option<Answer>, Malformed>) -> Option<ArbResult> {
    match r {
        Ok(result) => result.map(|r| r.map_err(Vec::from)),
        Err(Malformed) => Some(Err(Vec::new())),
    }
}

impl Router<Enforcement> for Enforcement {
    type Storage = Enforcement;

    fn route(s: &mut Enforcement, selector: u32, input: &[u8]) -> Option<ArbResult> {
        let selector = selector.to_be_bytes();
        // Only `openDispute` takes value (the bond). Value sent with an unknown selector is
        // refused too; it would revert anyway, there being no fallback.
        if selector != OPEN_DISPUTE {
            if let Err(e) = s.deny_value("") {
                return Some(Err(e));
            }
        }
        finish(dispatch(s, selector, Args(input)))
    }

    fn receive(_: &mut Enforcement) -> Option<Result<(), Vec<u8>>> {
        None
    }

    fn fallback(_: &mut Enforcement, _: &[u8]) -> Option<ArbResult> {
        None
    }

    fn constructor(s: &mut Enforcement, calldata: &[u8]) -> Option<ArbResult> {
        if let Err(e) = s.deny_value("constructor") {
            return Some(Err(e));
        }
        if let Err(e) = s.check_constructor_slot() {
            return Some(Err(e));
        }
        let a = Args(calldata);
        finish((|| {
            let addresses = [
                a.address(0)?,
                a.address(1)?,
                a.address(2)?,
                a.address(3)?,
                a.address(4)?,
                a.address(5)?,
                a.address(6)?,
            ];
            let [owner, market, registry, settlement, vault, court, amm] = addresses;
            Ok(Some(
                s.constructor(owner, market, registry, settlement, vault, court, amm).map(|()| Vec::new()),
            ))
        })())
    }
}
