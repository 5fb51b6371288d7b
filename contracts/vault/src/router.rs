//! Routes calls to [`Vault`]'s functions by selector, decoding arguments with
//! `contracts_common::calldata` instead of the SDK's generic decoder (one monomorphised
//! alloy decoder per signature, which put this program over the project's 20 KiB target).
//!
//! The selectors are computed from the same names and Rust types that `#[public]` exports
//! as the ABI, and a test routes every function of the committed `abi/IVault.sol`.
//! Calldata that does not decode reverts with empty data, as the SDK and Solidity do. No
//! function is payable, and the vault has no fallback or receive function.

use super::*;
use contracts_common::calldata::{address_word, encode, num, word, Args, Malformed};
use stylus_sdk::{
    abi::Router,
    function_selector,
    stylus_core::host::{ConstructorGuard, ValueDenier},
    ArbResult,
};

pub const DEPOSIT: [u8; 4] = function_selector!("deposit", U256, Address);
pub const QUEUE_WITHDRAWAL: [u8; 4] = function_selector!("queueWithdrawal", Address, U256);
pub const CLAIM: [u8; 4] = function_selector!("claim", U256);
pub const PROCESS_WITHDRAWALS: [u8; 4] = function_selector!("processWithdrawals", Address, U256);
pub const STAKE_OF: [u8; 4] = function_selector!("stakeOf", Address, Address);
pub const OPERATOR_STAKE: [u8; 4] = function_selector!("operatorStake", Address);
pub const FREE_STAKE: [u8; 4] = function_selector!("freeStake", Address);
pub const WITHDRAWAL: [u8; 4] = function_selector!("withdrawal", U256);
pub const LOCK: [u8; 4] = function_selector!("lock", Address, U256);
pub const UNLOCK: [u8; 4] = function_selector!("unlock", Address, U256);
pub const SLASH: [u8; 4] = function_selector!("slash", Address, U256, B256, Address, U256);
pub const CONFIG: [u8; 4] = function_selector!("config");
pub const HAS_ROLE: [u8; 4] = function_selector!("hasRole", B256, Address);
pub const SET_ROLE: [u8; 4] = function_selector!("setRole", B256, Address, bool);
pub const SET_GUARDIAN: [u8; 4] = function_selector!("setGuardian", Address);
pub const SET_TREASURY: [u8; 4] = function_selector!("setTreasury", Address);
pub const SET_WITHDRAWAL_DELAY: [u8; 4] = function_selector!("setWithdrawalDelay", u64);
pub const SET_PAUSED: [u8; 4] = function_selector!("setPaused", bool);
pub const OWNER: [u8; 4] = function_selector!("owner");
pub const TRANSFER_OWNERSHIP: [u8; 4] = function_selector!("transferOwnership", Address);
pub const ACCEPT_OWNERSHIP: [u8; 4] = function_selector!("acceptOwnership");

fn b256(a: &Args, i: usize) -> Result<B256, Malformed> {
    Ok(B256::from(*a.word(i)?))
}

fn unit(r: Result<(), VaultError>) -> Result<Vec<u8>, VaultError> {
    r.map(|()| Vec::new())
}

fn uint(r: Result<U256, VaultError>) -> Result<Vec<u8>, VaultError> {
    r.map(|v| encode(&[word(v)]))
}

fn one(w: [u8; 32]) -> Result<Vec<u8>, VaultError> {
    Ok(encode(&[w]))
}

/// `Ok(None)`: not this program's selector. `Err(Malformed)`: it is, but the arguments do
/// not decode.
fn dispatch(
    s: &mut Vault,
    selector: [u8; 4],
    a: Args,
) -> Result<Option<Result<Vec<u8>, VaultError>>, Malformed> {
    Ok(Some(match selector {
        DEPOSIT => uint(s.deposit(a.u256(0)?, a.address(1)?)),
        QUEUE_WITHDRAWAL => uint(s.queue_withdrawal(a.address(0)?, a.u256(1)?)),
        CLAIM => uint(s.claim(a.u256(0)?)),
        PROCESS_WITHDRAWALS => one(word(s.process_withdrawals(a.address(0)?, a.u256(1)?))),
        STAKE_OF => {
            let (shares, assets) = s.stake_of(a.address(0)?, a.address(1)?);
            Ok(encode(&[word(shares), word(assets)]))
        }
        OPERATOR_STAKE => {
            let (active, queued, locked) = s.operator_stake(a.address(0)?);
            Ok(encode(&[word(active), word(queued), word(locked)]))
        }
        FREE_STAKE => one(word(s.free_stake(a.address(0)?))),
        WITHDRAWAL => {
            let (staker, operator, shares, assets, unlock, finalized, claimed) = s.withdrawal(a.u256(0)?);
            Ok(encode(&[
                address_word(staker),
                address_word(operator),
                word(shares),
                word(assets),
                num(unlock),
                num(finalized as u64),
                num(claimed as u64),
            ]))
        }
        LOCK => unit(s.lock(a.address(0)?, a.u256(1)?)),
        UNLOCK => unit(s.unlock(a.address(0)?, a.u256(1)?)),
        SLASH => uint(s.slash(a.address(0)?, a.u256(1)?, b256(&a, 2)?, a.address(3)?, a.u256(4)?)),
        CONFIG => {
            let (collateral, treasury, guardian, pending, delay, paused, count) = s.config();
            Ok(encode(&[
                address_word(collateral),
                address_word(treasury),
                address_word(guardian),
                address_word(pending),
                num(delay),
                num(paused as u64),
                word(count),
            ]))
        }
        HAS_ROLE => one(num(s.has_role(b256(&a, 0)?, a.address(1)?) as u64)),
        SET_ROLE => unit(s.set_role(b256(&a, 0)?, a.address(1)?, a.boolean(2)?)),
        SET_GUARDIAN => unit(s.set_guardian(a.address(0)?)),
        SET_TREASURY => unit(s.set_treasury(a.address(0)?)),
        SET_WITHDRAWAL_DELAY => unit(s.set_withdrawal_delay(a.uint(0, 64)?)),
        SET_PAUSED => unit(s.set_paused(a.boolean(0)?)),
        OWNER => one(address_word(s.owner())),
        TRANSFER_OWNERSHIP => unit(s.transfer_ownership(a.address(0)?)),
        ACCEPT_OWNERSHIP => unit(s.accept_ownership()),
        _ => return Ok(None),
    }))
}

fn finish(r: Result<Option<Result<Vec<u8>, VaultError>>, Malformed>) -> Option<ArbResult> {
    match r {
        Ok(result) => result.map(|r| r.map_err(Vec::from)),
        Err(Malformed) => Some(Err(Vec::new())),
    }
}

impl Router<Vault> for Vault {
    type Storage = Vault;

    fn route(s: &mut Vault, selector: u32, input: &[u8]) -> Option<ArbResult> {
        // Nothing is payable: value is refused before the selector is looked at (an unknown
        // selector reverts anyway, there being no fallback).
        if let Err(e) = s.deny_value("") {
            return Some(Err(e));
        }
        finish(dispatch(s, selector.to_be_bytes(), Args(input)))
    }

    fn receive(_: &mut Vault) -> Option<Result<(), Vec<u8>>> {
        None
    }

    fn fallback(_: &mut Vault, _: &[u8]) -> Option<ArbResult> {
        None
    }

    fn constructor(s: &mut Vault, calldata: &[u8]) -> Option<ArbResult> {
        if let Err(e) = s.deny_value("constructor") {
            return Some(Err(e));
        }
        if let Err(e) = s.check_constructor_slot() {
            return Some(Err(e));
        }
        let a = Args(calldata);
        finish((|| {
            Ok(Some(
                s.constructor(a.address(0)?, a.address(1)?, a.address(2)?, a.uint(3, 64)?)
                    .map(|()| Vec::new()),
            ))
        })())
    }
}
