//! The ArbWasm precompile (0x...71): Stylus program activation and version queries.
//!
//! Activation state lives in the chain state itself, as storage of the precompile's account
//! (key = code hash, value = Stylus version), so it is journaled, reverted with its
//! transaction, and visible to eth_call exactly as committed state is.

use alloy_sol_types::{sol, SolCall, SolError, SolEvent, SolValue};
use revm::{
    context::{ContextTr, JournalTr},
    interpreter::{CallInputs, CallOutcome, Host as _, InstructionResult},
    primitives::{address, Address, Bytes, Log, B256, U256},
};

use crate::{
    evm::Ctx,
    stylus::{enter, is_stylus, outcome, StylusError, StylusInspector},
};

/// Address of the ArbWasm precompile.
pub const ADDRESS: Address = address!("0000000000000000000000000000000000000071");
/// The Stylus version this chain activates programs at (Arbitrum's current one).
pub const STYLUS_VERSION: u16 = 2;
/// Data fee charged per byte of compressed program code, in wei. Arbitrum's real fee depends
/// on L1 pricing; a small per-byte fee keeps the "pay, get the excess back" flow testable.
pub const DATA_FEE_PER_BYTE: u64 = 1_000_000_000;
/// Gas charged for an activation: a fixed part and a per-byte part for the wasm.
pub const ACTIVATION_BASE_GAS: u64 = 100_000;
pub const ACTIVATION_GAS_PER_BYTE: u64 = 10;

sol! {
    interface ArbWasm {
        function activateProgram(address program) external payable returns (uint16 version, uint256 dataFee);
        function stylusVersion() external view returns (uint16 version);
        function codehashVersion(bytes32 codehash) external view returns (uint16 version);
        function programVersion(address program) external view returns (uint16 version);
        function inkPrice() external view returns (uint32 price);
        function programTimeLeft(address program) external view returns (uint64 timeLeft);

        event ProgramActivated(bytes32 indexed codehash, bytes32 moduleHash, address program, uint256 dataFee, uint16 version);

        error ProgramNotWasm();
        error ProgramNotActivated();
        error ProgramNeedsUpgrade(uint16 version, uint16 stylusVersion);
        error ProgramExpired(uint64 ageInSeconds);
        error ProgramUpToDate();
        error ProgramKeepaliveTooSoon(uint64 ageInSeconds);
        error ProgramInsufficientValue(uint256 have, uint256 want);
    }
}

/// Revert data of `ProgramNotActivated()`.
pub fn program_not_activated() -> Bytes {
    ArbWasm::ProgramNotActivated {}.abi_encode().into()
}

/// Activated Stylus version of a code hash, 0 when inactive.
pub fn codehash_version(ctx: &mut Ctx, codehash: B256) -> u16 {
    let _ = ctx.journal_mut().load_account(ADDRESS);
    ctx.sload(ADDRESS, codehash.into()).map(|l| l.data.saturating_to::<u16>()).unwrap_or(0)
}

/// Solidity `Error(string)` revert data.
fn error_string(msg: &str) -> Bytes {
    alloy_sol_types::Revert::from(msg).abi_encode().into()
}

/// Code and code hash of an account.
fn code_of(ctx: &mut Ctx, program: Address) -> (B256, Bytes) {
    match ctx.journal_mut().load_account_with_code(program) {
        Ok(acc) => (
            acc.data.info.code_hash,
            acc.data.info.code.as_ref().map(|c| c.original_bytes()).unwrap_or_default(),
        ),
        Err(_) => (B256::ZERO, Bytes::new()),
    }
}

/// Handles one call frame addressed to ArbWasm.
pub(crate) fn call(inspector: &StylusInspector, ctx: &mut Ctx, inputs: &CallInputs) -> CallOutcome {
    let checkpoint = match enter(ctx, inputs) {
        Ok(c) => c,
        Err(out) => return *out,
    };
    let data = Bytes::copy_from_slice(&inputs.input.as_bytes(ctx));
    let result = dispatch(inspector, ctx, inputs, &data);
    match result {
        Ok((out, gas)) if gas <= inputs.gas_limit => {
            ctx.journal_mut().checkpoint_commit();
            outcome(inputs, InstructionResult::Return, out, gas, 0)
        }
        Ok(_) => {
            ctx.journal_mut().checkpoint_revert(checkpoint);
            outcome(inputs, InstructionResult::OutOfGas, Bytes::new(), inputs.gas_limit, 0)
        }
        Err(revert) => {
            ctx.journal_mut().checkpoint_revert(checkpoint);
            outcome(inputs, InstructionResult::Revert, revert, 2_100.min(inputs.gas_limit), 0)
        }
    }
}

/// Returns (output, gas used) or revert data.
fn dispatch(
    inspector: &StylusInspector,
    ctx: &mut Ctx,
    inputs: &CallInputs,
    data: &[u8],
) -> Result<(Bytes, u64), Bytes> {
    const VIEW_GAS: u64 = 2_100;
    if data.len() < 4 {
        return Err(Bytes::new());
    }
    let selector: [u8; 4] = data[..4].try_into().expect("length checked");
    match selector {
        ArbWasm::stylusVersionCall::SELECTOR => Ok((STYLUS_VERSION.abi_encode().into(), VIEW_GAS)),
        ArbWasm::inkPriceCall::SELECTOR => {
            Ok(((crate::stylus::INK_PER_GAS as u32).abi_encode().into(), VIEW_GAS))
        }
        ArbWasm::codehashVersionCall::SELECTOR => {
            let call = ArbWasm::codehashVersionCall::abi_decode(data).map_err(|_| Bytes::new())?;
            match codehash_version(ctx, call.codehash) {
                0 => Err(program_not_activated()),
                v => Ok((v.abi_encode().into(), VIEW_GAS)),
            }
        }
        ArbWasm::programVersionCall::SELECTOR | ArbWasm::programTimeLeftCall::SELECTOR => {
            let call = ArbWasm::programVersionCall::abi_decode_raw(&data[4..]).map_err(|_| Bytes::new())?;
            let (hash, code) = code_of(ctx, call.program);
            if !is_stylus(&code) {
                return Err(ArbWasm::ProgramNotWasm {}.abi_encode().into());
            }
            match codehash_version(ctx, hash) {
                0 => Err(program_not_activated()),
                v if selector == ArbWasm::programVersionCall::SELECTOR => {
                    Ok((v.abi_encode().into(), VIEW_GAS))
                }
                // Programs never expire here; report Arbitrum's default year of life.
                _ => Ok(((365u64 * 24 * 3600).abi_encode().into(), VIEW_GAS)),
            }
        }
        ArbWasm::activateProgramCall::SELECTOR => {
            let call = ArbWasm::activateProgramCall::abi_decode(data).map_err(|_| Bytes::new())?;
            activate(inspector, ctx, inputs, call.program)
        }
        _ => Err(Bytes::new()),
    }
}

fn activate(
    inspector: &StylusInspector,
    ctx: &mut Ctx,
    inputs: &CallInputs,
    program: Address,
) -> Result<(Bytes, u64), Bytes> {
    if inputs.is_static {
        return Err(error_string("activateProgram: write protection (static call)"));
    }
    let (codehash, code) = code_of(ctx, program);
    if !is_stylus(&code) {
        return Err(ArbWasm::ProgramNotWasm {}.abi_encode().into());
    }
    if codehash_version(ctx, codehash) == STYLUS_VERSION {
        return Err(ArbWasm::ProgramUpToDate {}.abi_encode().into());
    }
    let wasm = crate::stylus::decompress(&code).map_err(|e| activation_error(&e))?;
    let _module = inspector.programs.module(codehash, &code).map_err(|e| activation_error(&e))?;
    let fee = U256::from(code.len() as u64 * DATA_FEE_PER_BYTE);
    let value = inputs.value.get();
    if value < fee {
        return Err(ArbWasm::ProgramInsufficientValue { have: value, want: fee }.abi_encode().into());
    }
    let _ = ctx.sstore(ADDRESS, codehash.into(), U256::from(STYLUS_VERSION));
    // Keep the fee, refund the excess to the caller.
    if value > fee {
        match ctx.journal_mut().transfer(ADDRESS, inputs.caller, value - fee) {
            Ok(None) => {}
            _ => return Err(error_string("activateProgram: refund failed")),
        }
    }
    let module_hash = revm::primitives::keccak256(&wasm);
    let event = ArbWasm::ProgramActivated {
        codehash,
        moduleHash: module_hash,
        program,
        dataFee: fee,
        version: STYLUS_VERSION,
    };
    ctx.log(Log { address: ADDRESS, data: event.encode_log_data() });
    tracing::info!(%program, %codehash, wasm_bytes = wasm.len(), "activated Stylus program");
    let gas = ACTIVATION_BASE_GAS + ACTIVATION_GAS_PER_BYTE * wasm.len() as u64;
    Ok(((STYLUS_VERSION, fee).abi_encode_params().into(), gas))
}

fn activation_error(e: &StylusError) -> Bytes {
    error_string(&format!("program activation failed: {e}"))
}
