//! Routes calls to [`AmmLiquidity`]'s functions by selector with
//! `contracts_common::calldata`, as the `amm` program does (same reasons; see its
//! `router.rs`). Calldata that does not decode reverts with empty data; unknown selectors
//! revert with empty data too (this program has no fallback). No function is payable.

use super::*;
use alloc::vec::Vec;
use contracts_common::calldata::{address_word, encode, num, word, Args, Malformed};
use stylus_sdk::{
    abi::Router,
    function_selector,
    stylus_core::host::{ConstructorGuard, ValueDenier},
    ArbResult,
};

pub const CREATE_POOL: [u8; 4] = function_selector!("createPool", Address, Address, u16);
pub const POOL_ID: [u8; 4] = function_selector!("poolId", Address, Address, u16);
pub const GET_POOL: [u8; 4] = function_selector!("getPool", U256);
pub const INCREASE_OBSERVATION_CARDINALITY: [u8; 4] =
    function_selector!("increaseObservationCardinality", U256, u16);
pub const OBSERVATION_STATE: [u8; 4] = function_selector!("observationState", U256);
pub const ADD_LIQUIDITY: [u8; 4] =
    function_selector!("addLiquidity", U256, U256, U256, U256, U256, Address, U256);
pub const REMOVE_LIQUIDITY: [u8; 4] =
    function_selector!("removeLiquidity", U256, U256, U256, U256, Address, U256);
pub const BALANCE_OF: [u8; 4] = function_selector!("balanceOf", Address, U256);
pub const ALLOWANCE: [u8; 4] = function_selector!("allowance", Address, Address, U256);
pub const IS_OPERATOR: [u8; 4] = function_selector!("isOperator", Address, Address);
pub const TOTAL_SUPPLY: [u8; 4] = function_selector!("totalSupply", U256);
pub const TRANSFER: [u8; 4] = function_selector!("transfer", Address, U256, U256);
pub const TRANSFER_FROM: [u8; 4] = function_selector!("transferFrom", Address, Address, U256, U256);
pub const APPROVE: [u8; 4] = function_selector!("approve", Address, U256, U256);
pub const SET_OPERATOR: [u8; 4] = function_selector!("setOperator", Address, bool);
pub const SUPPORTS_INTERFACE: [u8; 4] = function_selector!("supportsInterface", FixedBytes<4>);
pub const OWNER: [u8; 4] = function_selector!("owner");
pub const PENDING_OWNER: [u8; 4] = function_selector!("pendingOwner");
pub const TRANSFER_OWNERSHIP: [u8; 4] = function_selector!("transferOwnership", Address);
pub const ACCEPT_OWNERSHIP: [u8; 4] = function_selector!("acceptOwnership");
pub const FEE_TO: [u8; 4] = function_selector!("feeTo");
pub const PROTOCOL_FEE: [u8; 4] = function_selector!("protocolFee");
pub const SET_FEE_TO: [u8; 4] = function_selector!("setFeeTo", Address);
pub const SET_PROTOCOL_FEE: [u8; 4] = function_selector!("setProtocolFee", u8);

fn flag(r: Result<bool, AmmError>) -> Result<Vec<u8>, AmmError> {
    r.map(|b| encode(&[num(b as u64)]))
}

fn unit(r: Result<(), AmmError>) -> Result<Vec<u8>, AmmError> {
    r.map(|()| Vec::new())
}

/// `Ok(None)`: an unknown selector. `Err(Malformed)`: arguments that do not decode.
fn dispatch(
    s: &mut AmmLiquidity,
    selector: [u8; 4],
    a: Args,
) -> Result<Option<Result<Vec<u8>, AmmError>>, Malformed> {
    Ok(Some(match selector {
        CREATE_POOL => {
            s.create_pool(a.address(0)?, a.address(1)?, a.uint(2, 16)? as u16).map(|id| encode(&[word(id)]))
        }
        POOL_ID => Ok(encode(&[word(s.pool_id(a.address(0)?, a.address(1)?, a.uint(2, 16)? as u16))])),
        GET_POOL => {
            let (t0, t1, fee) = s.get_pool(a.u256(0)?);
            Ok(encode(&[address_word(t0), address_word(t1), num(fee.into())]))
        }
        INCREASE_OBSERVATION_CARDINALITY => {
            s.increase_observation_cardinality(a.u256(0)?, a.uint(1, 16)? as u16).map(|()| Vec::new())
        }
        OBSERVATION_STATE => {
            let (index, cardinality, next) = s.observation_state(a.u256(0)?);
            Ok(encode(&[num(index.into()), num(cardinality.into()), num(next.into())]))
        }
        ADD_LIQUIDITY => s
            .add_liquidity(
                a.u256(0)?,
                a.u256(1)?,
                a.u256(2)?,
                a.u256(3)?,
                a.u256(4)?,
                a.address(5)?,
                a.u256(6)?,
            )
            .map(|(a0, a1, shares)| encode(&[word(a0), word(a1), word(shares)])),
        REMOVE_LIQUIDITY => s
            .remove_liquidity(a.u256(0)?, a.u256(1)?, a.u256(2)?, a.u256(3)?, a.address(4)?, a.u256(5)?)
            .map(|(a0, a1)| encode(&[word(a0), word(a1)])),
        BALANCE_OF => Ok(encode(&[word(s.balance_of(a.address(0)?, a.u256(1)?))])),
        ALLOWANCE => Ok(encode(&[word(s.allowance(a.address(0)?, a.address(1)?, a.u256(2)?))])),
        IS_OPERATOR => flag(Ok(s.is_operator(a.address(0)?, a.address(1)?))),
        TOTAL_SUPPLY => Ok(encode(&[word(s.total_supply(a.u256(0)?))])),
        TRANSFER => flag(s.transfer(a.address(0)?, a.u256(1)?, a.u256(2)?)),
        TRANSFER_FROM => flag(s.transfer_from(a.address(0)?, a.address(1)?, a.u256(2)?, a.u256(3)?)),
        APPROVE => flag(s.approve(a.address(0)?, a.u256(1)?, a.u256(2)?)),
        SET_OPERATOR => flag(s.set_operator(a.address(0)?, a.boolean(1)?)),
        SUPPORTS_INTERFACE => flag(Ok(s.supports_interface(FixedBytes(a.bytes4(0)?)))),
        OWNER => Ok(encode(&[address_word(s.owner())])),
        PENDING_OWNER => Ok(encode(&[address_word(s.pending_owner())])),
        TRANSFER_OWNERSHIP => unit(s.transfer_ownership(a.address(0)?)),
        ACCEPT_OWNERSHIP => unit(s.accept_ownership()),
        FEE_TO => Ok(encode(&[address_word(s.fee_to())])),
        PROTOCOL_FEE => Ok(encode(&[num(s.protocol_fee().into())])),
        SET_FEE_TO => unit(s.set_fee_to(a.address(0)?)),
        SET_PROTOCOL_FEE => unit(s.set_protocol_fee(a.uint(0, 8)? as u8)),
        _ => return Ok(None),
    }))
}

impl Router<AmmLiquidity> for AmmLiquidity {
    type Storage = AmmLiquidity;

    fn route(s: &mut AmmLiquidity, selector: u32, input: &[u8]) -> Option<ArbResult> {
        if let Err(e) = s.deny_value("") {
            return Some(Err(e));
        }
        match dispatch(s, selector.to_be_bytes(), Args(input)) {
            Ok(result) => result.map(|r| r.map_err(Vec::from)),
            Err(Malformed) => Some(Err(Vec::new())),
        }
    }

    fn receive(_: &mut AmmLiquidity) -> Option<Result<(), Vec<u8>>> {
        None
    }

    fn fallback(_: &mut AmmLiquidity, _: &[u8]) -> Option<ArbResult> {
        None
    }

    /// `constructor()`: nothing to set up (the state lives in `amm`); it exists so the
    /// program deploys through the StylusDeployer like every other, and runs once.
    fn constructor(s: &mut AmmLiquidity, _: &[u8]) -> Option<ArbResult> {
        if let Err(e) = s.deny_value("constructor") {
            return Some(Err(e));
        }
        Some(s.check_constructor_slot().map(|()| Vec::new()))
    }
}
