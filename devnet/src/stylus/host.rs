//! The `vm_hooks` host interface and the run of one Stylus call frame.

use std::collections::BTreeMap;

use revm::{
    context::{ContextTr, JournalTr},
    context_interface::{cfg::Cfg, Block, Transaction},
    handler::FrameResult,
    interpreter::{
        CallInput, CallInputs, CallScheme, CallValue, CreateInputs, FrameInput, Host as _, InstructionResult,
    },
    primitives::{keccak256, Address, Bytes, Log, LogData, B256, U256},
};
use wasmi::{Caller, Error, Linker, Memory, Store};

use super::{enter, outcome, StylusInspector, FUEL_PER_GAS, INK_PER_GAS};
use crate::{arbwasm, evm::Ctx};

/// Why the host stopped the program (a trap carries no typed payload, so it is kept here).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    OutOfGas,
    /// A state change was attempted inside a static call.
    WriteProtection,
    /// Anything else the host refuses (bad pointer, too many topics...).
    Other(String),
}

/// Per-frame host state. `ctx` points at the revm context that the inspector hook holds
/// mutably for the whole run of the program: nothing else can touch the context while the
/// wasm runs, and the pointer is never used after `run_program` returns. A raw pointer is
/// needed because wasmi host closures reach their state only through the `Store`'s `'static`
/// data.
pub(crate) struct Host {
    ctx: *mut Ctx,
    inspector: StylusInspector,
    address: Address,
    caller: Address,
    value: U256,
    is_static: bool,
    reentrant: bool,
    args: Bytes,
    result: Vec<u8>,
    return_data: Bytes,
    /// Storage cache: key -> (value, dirty).
    cache: BTreeMap<B256, (B256, bool)>,
    memory: Option<Memory>,
    failure: Option<Failure>,
    refund: i64,
}

impl Host {
    fn ctx(&mut self) -> &mut Ctx {
        // SAFETY: see the type's documentation; the hook's `&mut Ctx` outlives the run.
        unsafe { &mut *self.ctx }
    }
}

type C<'a> = Caller<'a, Host>;

fn fail(caller: &mut C<'_>, f: Failure) -> Error {
    let msg = format!("{f:?}");
    if caller.data().failure.is_none() {
        caller.data_mut().failure = Some(f);
    }
    Error::new(msg)
}

fn gas_left(caller: &C<'_>) -> u64 {
    caller.get_fuel().unwrap_or(0) / FUEL_PER_GAS
}

/// Charges EVM gas against the program's fuel.
fn charge(caller: &mut C<'_>, gas: u64) -> Result<(), Error> {
    let fuel = caller.get_fuel().unwrap_or(0);
    let need = gas.saturating_mul(FUEL_PER_GAS);
    if fuel < need {
        let _ = caller.set_fuel(0);
        return Err(fail(caller, Failure::OutOfGas));
    }
    let _ = caller.set_fuel(fuel - need);
    Ok(())
}

fn give_back(caller: &mut C<'_>, gas: u64) {
    let fuel = caller.get_fuel().unwrap_or(0);
    let _ = caller.set_fuel(fuel.saturating_add(gas.saturating_mul(FUEL_PER_GAS)));
}

fn memory(caller: &C<'_>) -> Memory {
    caller.data().memory.expect("memory is set before the entrypoint runs")
}

fn read(caller: &mut C<'_>, ptr: u32, len: u32) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0u8; len as usize];
    let mem = memory(caller);
    if mem.read(&*caller, ptr as usize, &mut buf).is_err() {
        return Err(fail(caller, Failure::Other("memory access out of bounds".into())));
    }
    Ok(buf)
}

fn read_word(caller: &mut C<'_>, ptr: u32) -> Result<B256, Error> {
    Ok(B256::from_slice(&read(caller, ptr, 32)?))
}

fn read_address(caller: &mut C<'_>, ptr: u32) -> Result<Address, Error> {
    Ok(Address::from_slice(&read(caller, ptr, 20)?))
}

fn write(caller: &mut C<'_>, ptr: u32, data: &[u8]) -> Result<(), Error> {
    let mem = memory(caller);
    if mem.write(&mut *caller, ptr as usize, data).is_err() {
        return Err(fail(caller, Failure::Other("memory access out of bounds".into())));
    }
    Ok(())
}

/// A small flat charge for every host call (Arbitrum charges ~8,400 ink per hostio).
const HOSTIO_GAS: u64 = 1;

/// Writes dirty cache entries to the journal, charging what SSTORE costs.
fn flush(caller: &mut C<'_>, clear: bool) -> Result<(), Error> {
    let dirty: Vec<(B256, B256)> =
        caller.data().cache.iter().filter(|(_, (_, d))| *d).map(|(k, (v, _))| (*k, *v)).collect();
    if !dirty.is_empty() && caller.data().is_static {
        return Err(fail(caller, Failure::WriteProtection));
    }
    for (key, value) in dirty {
        // EIP-2200 sentry: no SSTORE with the call stipend or less left.
        if gas_left(caller) <= caller.data_mut().ctx().cfg().gas_params().call_stipend() {
            return Err(fail(caller, Failure::OutOfGas));
        }
        let host = caller.data_mut();
        let address = host.address;
        let Some(load) = host.ctx().sstore(address, key.into(), value.into()) else {
            return Err(fail(caller, Failure::Other("database error".into())));
        };
        let params = caller.data_mut().ctx().cfg().gas_params().clone();
        let cost = params.sstore_static_gas() + params.sstore_dynamic_gas(true, &load.data, load.is_cold);
        caller.data_mut().refund += params.sstore_refund(true, &load.data);
        charge(caller, cost)?;
        caller.data_mut().cache.insert(key, (value, false));
    }
    if clear {
        caller.data_mut().cache.clear();
    }
    Ok(())
}

fn account_access_cost(caller: &mut C<'_>, is_cold: bool) -> u64 {
    let p = caller.data_mut().ctx().cfg().gas_params().clone();
    if is_cold {
        p.cold_account_additional_cost() + p.warm_storage_read_cost()
    } else {
        p.warm_storage_read_cost()
    }
}

/// Runs a call (CALL, STATICCALL, DELEGATECALL) out of the program, priced like the EVM's
/// opcodes: account access, value transfer and new-account costs, the 63/64 rule, stipend.
#[allow(clippy::too_many_arguments)] // mirrors the hostio's own argument list
fn do_call(
    caller: &mut C<'_>,
    scheme: CallScheme,
    contract: u32,
    data: u32,
    data_len: u32,
    value: U256,
    gas: u64,
    ret_len: u32,
) -> Result<u32, Error> {
    charge(caller, HOSTIO_GAS)?;
    let target = read_address(caller, contract)?;
    let input = Bytes::from(read(caller, data, data_len)?);
    if caller.data().is_static && !value.is_zero() {
        return Err(fail(caller, Failure::WriteProtection));
    }
    // Other frames may read or write this program's storage: make the cache coherent.
    flush(caller, true)?;
    let (is_cold, is_empty, code_hash, code) = {
        let ctx = caller.data_mut().ctx();
        match ctx.journal_mut().load_account_with_code(target) {
            Ok(acc) => (
                acc.is_cold,
                acc.data.is_empty(),
                acc.data.info.code_hash,
                acc.data.info.code.clone().unwrap_or_default(),
            ),
            Err(_) => return Err(fail(caller, Failure::Other("database error".into()))),
        }
    };
    let mut cost = account_access_cost(caller, is_cold);
    let params = caller.data_mut().ctx().cfg().gas_params().clone();
    if !value.is_zero() {
        cost += params.transfer_value_cost();
        if is_empty && scheme == CallScheme::Call {
            cost += params.new_account_cost(true, true);
        }
    }
    charge(caller, cost)?;
    let left = gas_left(caller);
    let give = gas.min(left - left / 64);
    charge(caller, give)?;
    let stipend = if value.is_zero() { 0 } else { params.call_stipend() };
    let host = caller.data_mut();
    let (target_address, from, call_value, bytecode_address) = match scheme {
        CallScheme::DelegateCall => (host.address, host.caller, CallValue::Apparent(host.value), target),
        _ => (target, host.address, CallValue::Transfer(value), target),
    };
    let inputs = CallInputs {
        input: CallInput::Bytes(input),
        return_memory_offset: 0..0,
        gas_limit: give + stipend,
        reservoir: 0,
        bytecode_address,
        known_bytecode: (code_hash, code),
        target_address,
        caller: from,
        value: call_value,
        scheme,
        is_static: host.is_static || scheme == CallScheme::StaticCall,
        charged_new_account_state_gas: false,
    };
    let inspector = host.inspector.clone();
    let result = inspector.nested(host.ctx(), FrameInput::Call(Box::new(inputs)));
    let FrameResult::Call(out) = result else { unreachable!("a call frame returns a call result") };
    let gas = out.result.gas;
    // Unused gas comes back; the stipend was free, so it never comes back as extra.
    give_back(caller, gas.remaining().min(give));
    let ok = out.result.result.is_ok();
    if ok {
        caller.data_mut().refund += gas.refunded();
    }
    let output = out.result.output;
    write(caller, ret_len, &(output.len() as u32).to_le_bytes())?;
    caller.data_mut().return_data = output;
    Ok(if ok { 0 } else { 1 })
}

fn do_create(
    caller: &mut C<'_>,
    code: u32,
    code_len: u32,
    endowment: u32,
    salt: Option<u32>,
    contract: u32,
    revert_len: u32,
) -> Result<(), Error> {
    charge(caller, HOSTIO_GAS)?;
    if caller.data().is_static {
        return Err(fail(caller, Failure::WriteProtection));
    }
    let init = Bytes::from(read(caller, code, code_len)?);
    let value = U256::from_be_bytes(read_word(caller, endowment)?.0);
    let scheme = match salt {
        Some(ptr) => revm::context_interface::CreateScheme::Create2 {
            salt: U256::from_be_bytes(read_word(caller, ptr)?.0),
        },
        None => revm::context_interface::CreateScheme::Create,
    };
    flush(caller, true)?;
    let params = caller.data_mut().ctx().cfg().gas_params().clone();
    let mut cost = params.create_cost();
    if salt.is_some() {
        cost += params.create2_cost(init.len());
    }
    cost += params.initcode_cost(init.len());
    charge(caller, cost)?;
    let left = gas_left(caller);
    let give = left - left / 64;
    charge(caller, give)?;
    let host = caller.data_mut();
    let inputs = CreateInputs::new(host.address, scheme, value, init, give, 0);
    let inspector = host.inspector.clone();
    let result = inspector.nested(host.ctx(), FrameInput::Create(Box::new(inputs)));
    let FrameResult::Create(out) = result else { unreachable!("a create frame returns a create result") };
    give_back(caller, out.result.gas.remaining().min(give));
    let ok = out.result.result.is_ok();
    let addr = if ok { out.address.unwrap_or_default() } else { Address::ZERO };
    let data = if ok { Bytes::new() } else { out.result.output.clone() };
    write(caller, contract, addr.as_slice())?;
    write(caller, revert_len, &(data.len() as u32).to_le_bytes())?;
    caller.data_mut().return_data = data;
    Ok(())
}

fn u256_bytes(v: U256) -> [u8; 32] {
    v.to_be_bytes::<32>()
}

/// Declares every host function a program may import. Signatures follow stylus-sdk 0.10's
/// `hostio.rs` on wasm32 (pointers and `usize` are i32, `bool`/`u8`/`u16` are i32).
fn linker(engine: &wasmi::Engine) -> Linker<Host> {
    let mut l = Linker::<Host>::new(engine);
    let mut m = "vm_hooks";
    macro_rules! def {
        ($name:literal, $f:expr) => {
            l.func_wrap(m, $name, $f).expect("host function defined once");
        };
    }
    def!("read_args", |mut c: C<'_>, dest: u32| -> Result<(), Error> {
        charge(&mut c, HOSTIO_GAS)?;
        let args = c.data().args.clone();
        write(&mut c, dest, &args)
    });
    def!("write_result", |mut c: C<'_>, data: u32, len: u32| -> Result<(), Error> {
        charge(&mut c, HOSTIO_GAS)?;
        let out = read(&mut c, data, len)?;
        c.data_mut().result = out;
        Ok(())
    });
    def!("exit_early", |mut c: C<'_>, status: u32| -> Result<(), Error> {
        charge(&mut c, HOSTIO_GAS)?;
        Err(Error::i32_exit(status as i32))
    });
    def!("storage_load_bytes32", |mut c: C<'_>, key: u32, dest: u32| -> Result<(), Error> {
        charge(&mut c, HOSTIO_GAS)?;
        let key = read_word(&mut c, key)?;
        let value = match c.data().cache.get(&key) {
            Some((v, _)) => *v,
            None => {
                let host = c.data_mut();
                let address = host.address;
                let Some(load) = host.ctx().sload(address, key.into()) else {
                    return Err(fail(&mut c, Failure::Other("database error".into())));
                };
                let p = c.data_mut().ctx().cfg().gas_params().clone();
                let cost = if load.is_cold { p.cold_storage_cost() } else { p.warm_storage_read_cost() };
                charge(&mut c, cost)?;
                let v = B256::from(load.data.to_be_bytes::<32>());
                c.data_mut().cache.insert(key, (v, false));
                v
            }
        };
        write(&mut c, dest, value.as_slice())
    });
    def!("storage_cache_bytes32", |mut c: C<'_>, key: u32, value: u32| -> Result<(), Error> {
        charge(&mut c, HOSTIO_GAS)?;
        let key = read_word(&mut c, key)?;
        let value = read_word(&mut c, value)?;
        c.data_mut().cache.insert(key, (value, true));
        Ok(())
    });
    def!("storage_flush_cache", |mut c: C<'_>, clear: u32| -> Result<(), Error> {
        charge(&mut c, HOSTIO_GAS)?;
        flush(&mut c, clear != 0)
    });
    def!("transient_load_bytes32", |mut c: C<'_>, key: u32, dest: u32| -> Result<(), Error> {
        charge(&mut c, 100)?;
        let key = read_word(&mut c, key)?;
        let host = c.data_mut();
        let address = host.address;
        let v = host.ctx().tload(address, key.into());
        write(&mut c, dest, &u256_bytes(v))
    });
    def!("transient_store_bytes32", |mut c: C<'_>, key: u32, value: u32| -> Result<(), Error> {
        charge(&mut c, 100)?;
        if c.data().is_static {
            return Err(fail(&mut c, Failure::WriteProtection));
        }
        let key = read_word(&mut c, key)?;
        let value = read_word(&mut c, value)?;
        let host = c.data_mut();
        let address = host.address;
        host.ctx().tstore(address, key.into(), value.into());
        Ok(())
    });
    def!("call_contract", |mut c: C<'_>,
                           contract: u32,
                           data: u32,
                           len: u32,
                           value: u32,
                           gas: u64,
                           ret: u32|
     -> Result<u32, Error> {
        let value = U256::from_be_bytes(read_word(&mut c, value)?.0);
        do_call(&mut c, CallScheme::Call, contract, data, len, value, gas, ret)
    });
    def!("static_call_contract", |mut c: C<'_>,
                                  contract: u32,
                                  data: u32,
                                  len: u32,
                                  gas: u64,
                                  ret: u32|
     -> Result<u32, Error> {
        do_call(&mut c, CallScheme::StaticCall, contract, data, len, U256::ZERO, gas, ret)
    });
    def!("delegate_call_contract", |mut c: C<'_>,
                                    contract: u32,
                                    data: u32,
                                    len: u32,
                                    gas: u64,
                                    ret: u32|
     -> Result<u32, Error> {
        do_call(&mut c, CallScheme::DelegateCall, contract, data, len, U256::ZERO, gas, ret)
    });
    def!("create1", |mut c: C<'_>,
                     code: u32,
                     len: u32,
                     endowment: u32,
                     contract: u32,
                     rlen: u32|
     -> Result<(), Error> {
        do_create(&mut c, code, len, endowment, None, contract, rlen)
    });
    def!("create2", |mut c: C<'_>,
                     code: u32,
                     len: u32,
                     endowment: u32,
                     salt: u32,
                     contract: u32,
                     rlen: u32|
     -> Result<(), Error> {
        do_create(&mut c, code, len, endowment, Some(salt), contract, rlen)
    });
    def!("read_return_data", |mut c: C<'_>, dest: u32, offset: u32, size: u32| -> Result<u32, Error> {
        charge(&mut c, HOSTIO_GAS)?;
        let rd = c.data().return_data.clone();
        let start = (offset as usize).min(rd.len());
        let end = start.saturating_add(size as usize).min(rd.len());
        charge(&mut c, 3 * (end - start).div_ceil(32) as u64)?;
        write(&mut c, dest, &rd[start..end])?;
        Ok((end - start) as u32)
    });
    def!("return_data_size", |mut c: C<'_>| -> Result<u32, Error> {
        charge(&mut c, HOSTIO_GAS)?;
        Ok(c.data().return_data.len() as u32)
    });
    def!("emit_log", |mut c: C<'_>, data: u32, len: u32, topics: u32| -> Result<(), Error> {
        charge(&mut c, HOSTIO_GAS)?;
        if c.data().is_static {
            return Err(fail(&mut c, Failure::WriteProtection));
        }
        if topics > 4 || (len as usize) < topics as usize * 32 {
            return Err(fail(&mut c, Failure::Other("bad log".into())));
        }
        let bytes = read(&mut c, data, len)?;
        let p = c.data_mut().ctx().cfg().gas_params().clone();
        charge(&mut c, p.log_cost(topics as u8, (len - topics * 32) as u64))?;
        let (t, d) = bytes.split_at(topics as usize * 32);
        let topics: Vec<B256> = t.chunks(32).map(B256::from_slice).collect();
        let host = c.data_mut();
        let address = host.address;
        host.ctx().log(Log { address, data: LogData::new_unchecked(topics, Bytes::copy_from_slice(d)) });
        Ok(())
    });
    def!("native_keccak256", |mut c: C<'_>, bytes: u32, len: u32, out: u32| -> Result<(), Error> {
        let p = c.data_mut().ctx().cfg().gas_params().clone();
        charge(&mut c, HOSTIO_GAS + p.keccak256_cost(len as usize))?;
        let data = read(&mut c, bytes, len)?;
        write(&mut c, out, keccak256(&data).as_slice())
    });
    def!("account_balance", |mut c: C<'_>, addr: u32, dest: u32| -> Result<(), Error> {
        let a = read_address(&mut c, addr)?;
        let Some(load) = c.data_mut().ctx().balance(a) else {
            return Err(fail(&mut c, Failure::Other("database error".into())));
        };
        let cost = account_access_cost(&mut c, load.is_cold);
        charge(&mut c, cost)?;
        write(&mut c, dest, &u256_bytes(load.data))
    });
    def!("account_code", |mut c: C<'_>,
                          addr: u32,
                          offset: u32,
                          size: u32,
                          dest: u32|
     -> Result<u32, Error> {
        let a = read_address(&mut c, addr)?;
        let Some(load) = c.data_mut().ctx().load_account_code(a) else {
            return Err(fail(&mut c, Failure::Other("database error".into())));
        };
        let cost = account_access_cost(&mut c, load.is_cold);
        charge(&mut c, cost)?;
        let code = load.data;
        let start = (offset as usize).min(code.len());
        let end = start.saturating_add(size as usize).min(code.len());
        charge(&mut c, 3 * (end - start).div_ceil(32) as u64)?;
        write(&mut c, dest, &code[start..end])?;
        Ok((end - start) as u32)
    });
    def!("account_code_size", |mut c: C<'_>, addr: u32| -> Result<u32, Error> {
        let a = read_address(&mut c, addr)?;
        let Some(load) = c.data_mut().ctx().load_account_code(a) else {
            return Err(fail(&mut c, Failure::Other("database error".into())));
        };
        let cost = account_access_cost(&mut c, load.is_cold);
        charge(&mut c, cost)?;
        Ok(load.data.len() as u32)
    });
    def!("account_codehash", |mut c: C<'_>, addr: u32, dest: u32| -> Result<(), Error> {
        let a = read_address(&mut c, addr)?;
        let Some(load) = c.data_mut().ctx().load_account_code_hash(a) else {
            return Err(fail(&mut c, Failure::Other("database error".into())));
        };
        let cost = account_access_cost(&mut c, load.is_cold);
        charge(&mut c, cost)?;
        write(&mut c, dest, load.data.as_slice())
    });
    def!("block_basefee", |mut c: C<'_>, dest: u32| -> Result<(), Error> {
        charge(&mut c, HOSTIO_GAS)?;
        let v = U256::from(c.data_mut().ctx().block().basefee());
        write(&mut c, dest, &u256_bytes(v))
    });
    def!("block_coinbase", |mut c: C<'_>, dest: u32| -> Result<(), Error> {
        charge(&mut c, HOSTIO_GAS)?;
        let v = c.data_mut().ctx().block().beneficiary();
        write(&mut c, dest, v.as_slice())
    });
    def!("block_gas_limit", |mut c: C<'_>| -> Result<u64, Error> {
        charge(&mut c, HOSTIO_GAS)?;
        Ok(c.data_mut().ctx().block().gas_limit())
    });
    def!("block_number", |mut c: C<'_>| -> Result<u64, Error> {
        charge(&mut c, HOSTIO_GAS)?;
        Ok(c.data_mut().ctx().block().number().saturating_to())
    });
    def!("block_timestamp", |mut c: C<'_>| -> Result<u64, Error> {
        charge(&mut c, HOSTIO_GAS)?;
        Ok(c.data_mut().ctx().block().timestamp().saturating_to())
    });
    def!("chainid", |mut c: C<'_>| -> Result<u64, Error> {
        charge(&mut c, HOSTIO_GAS)?;
        Ok(c.data_mut().ctx().cfg().chain_id())
    });
    def!("contract_address", |mut c: C<'_>, dest: u32| -> Result<(), Error> {
        charge(&mut c, HOSTIO_GAS)?;
        let a = c.data().address;
        write(&mut c, dest, a.as_slice())
    });
    def!("msg_sender", |mut c: C<'_>, dest: u32| -> Result<(), Error> {
        charge(&mut c, HOSTIO_GAS)?;
        let a = c.data().caller;
        write(&mut c, dest, a.as_slice())
    });
    def!("msg_value", |mut c: C<'_>, dest: u32| -> Result<(), Error> {
        charge(&mut c, HOSTIO_GAS)?;
        let v = c.data().value;
        write(&mut c, dest, &u256_bytes(v))
    });
    def!("msg_reentrant", |mut c: C<'_>| -> Result<u32, Error> {
        charge(&mut c, HOSTIO_GAS)?;
        Ok(c.data().reentrant as u32)
    });
    def!("tx_gas_price", |mut c: C<'_>, dest: u32| -> Result<(), Error> {
        charge(&mut c, HOSTIO_GAS)?;
        let v = U256::from(c.data_mut().ctx().effective_gas_price());
        write(&mut c, dest, &u256_bytes(v))
    });
    def!("tx_ink_price", |mut c: C<'_>| -> Result<u32, Error> {
        charge(&mut c, HOSTIO_GAS)?;
        Ok(INK_PER_GAS as u32)
    });
    def!("tx_origin", |mut c: C<'_>, dest: u32| -> Result<(), Error> {
        charge(&mut c, HOSTIO_GAS)?;
        let v = c.data_mut().ctx().tx().caller();
        write(&mut c, dest, v.as_slice())
    });
    def!("evm_gas_left", |mut c: C<'_>| -> Result<u64, Error> {
        charge(&mut c, HOSTIO_GAS)?;
        Ok(gas_left(&c))
    });
    def!("evm_ink_left", |mut c: C<'_>| -> Result<u64, Error> {
        charge(&mut c, HOSTIO_GAS)?;
        Ok(c.get_fuel().unwrap_or(0).saturating_mul(INK_PER_GAS / FUEL_PER_GAS))
    });
    def!("pay_for_memory_grow", |mut c: C<'_>, pages: u32| -> Result<(), Error> {
        // Flat price per new page (Arbitrum's model is exponential in the open page count).
        charge(&mut c, HOSTIO_GAS + 1_000 * pages as u64)
    });
    m = "console";
    def!("log_txt", |mut c: C<'_>, ptr: u32, len: u32| -> Result<(), Error> {
        let text = read(&mut c, ptr, len)?;
        tracing::info!(target: "devnet::console", "{}", String::from_utf8_lossy(&text));
        Ok(())
    });
    def!("log_i32", |_c: C<'_>, v: i32| tracing::info!(target: "devnet::console", "{v}"));
    def!("log_i64", |_c: C<'_>, v: i64| tracing::info!(target: "devnet::console", "{v}"));
    def!("log_f32", |_c: C<'_>, v: f32| tracing::info!(target: "devnet::console", "{v}"));
    def!("log_f64", |_c: C<'_>, v: f64| tracing::info!(target: "devnet::console", "{v}"));
    l
}

/// Runs the Stylus program that `inputs` calls, to completion.
pub(crate) fn run_program(
    inspector: &StylusInspector,
    ctx: &mut Ctx,
    inputs: &CallInputs,
) -> revm::interpreter::CallOutcome {
    let checkpoint = match enter(ctx, inputs) {
        Ok(c) => c,
        Err(out) => return *out,
    };
    let (codehash, bytecode) = inputs.known_bytecode.clone();
    let revert = |ctx: &mut Ctx, data: Bytes, used: u64, result: InstructionResult| {
        ctx.journal_mut().checkpoint_revert(checkpoint);
        outcome(inputs, result, data, used, 0)
    };
    // Arbitrum refuses to run code that was never activated (or activated under another
    // code hash).
    if arbwasm::codehash_version(ctx, codehash) == 0 {
        return revert(ctx, arbwasm::program_not_activated(), 0, InstructionResult::Revert);
    }
    let module = match inspector.programs.module(codehash, bytecode.original_byte_slice()) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "activated program failed to load");
            return revert(ctx, Bytes::new(), 0, InstructionResult::Revert);
        }
    };
    let reentrant = inspector.stack.borrow().contains(&inputs.target_address);
    let args = Bytes::copy_from_slice(&inputs.input.as_bytes(ctx));
    let args_len = args.len() as i32;
    let host = Host {
        ctx: ctx as *mut Ctx,
        inspector: inspector.clone(),
        address: inputs.target_address,
        caller: inputs.caller,
        value: inputs.value.get(),
        is_static: inputs.is_static,
        reentrant,
        args,
        result: Vec::new(),
        return_data: Bytes::new(),
        cache: BTreeMap::new(),
        memory: None,
        failure: None,
        refund: 0,
    };
    let engine = &inspector.programs.engine;
    let mut store = Store::new(engine, host);
    let fuel = inputs.gas_limit.saturating_mul(FUEL_PER_GAS);
    store.set_fuel(fuel).expect("fuel metering is enabled");

    let instance = match linker(engine).instantiate_and_start(&mut store, &module) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "program failed to instantiate");
            return revert(ctx, Bytes::new(), inputs.gas_limit, InstructionResult::Revert);
        }
    };
    let Some(mem) = instance.get_memory(&store, "memory") else {
        return revert(ctx, Bytes::new(), 0, InstructionResult::Revert);
    };
    store.data_mut().memory = Some(mem);
    let entry = match instance.get_typed_func::<i32, i32>(&store, "user_entrypoint") {
        Ok(f) => f,
        Err(_) => return revert(ctx, Bytes::new(), 0, InstructionResult::Revert),
    };

    inspector.stack.borrow_mut().push(inputs.target_address);
    let mut status = entry.call(&mut store, args_len);
    inspector.stack.borrow_mut().pop();

    // exit_early(status) ends the program like a return from the entrypoint.
    if let Err(e) = &status {
        if let Some(code) = e.i32_exit_status() {
            status = Ok(code);
        }
    }
    // A successful program's cached writes are flushed (the SDK does this itself; this
    // covers programs that do not).
    if let Ok(0) = status {
        let mut caller_store = &mut store;
        let r = {
            let mut caller = Caller::from(&mut caller_store);
            flush(&mut caller, false)
        };
        if let Err(e) = r {
            status = Err(e);
        }
    }
    let used =
        |store: &Store<Host>| fuel.saturating_sub(store.get_fuel().unwrap_or(0)).div_ceil(FUEL_PER_GAS);
    let gas_used = used(&store);
    let host = store.into_data();
    match status {
        Ok(0) => {
            ctx.journal_mut().checkpoint_commit();
            outcome(inputs, InstructionResult::Return, host.result.into(), gas_used, host.refund)
        }
        Ok(_) => revert(ctx, host.result.into(), gas_used, InstructionResult::Revert),
        Err(e) => match host.failure {
            Some(Failure::OutOfGas) => {
                revert(ctx, Bytes::new(), inputs.gas_limit, InstructionResult::OutOfGas)
            }
            _ if e.as_trap_code() == Some(wasmi::TrapCode::OutOfFuel) => {
                revert(ctx, Bytes::new(), inputs.gas_limit, InstructionResult::OutOfGas)
            }
            Some(Failure::WriteProtection) => {
                // Arbitrum reverts (rather than halting) so the caller keeps its gas.
                revert(ctx, Bytes::new(), gas_used, InstructionResult::Revert)
            }
            other => {
                tracing::debug!(error = %e, failure = ?other, "Stylus program trapped");
                revert(ctx, Bytes::new(), gas_used, InstructionResult::Revert)
            }
        },
    }
}
