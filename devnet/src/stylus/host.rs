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
use wasmi::{Caller, Error, Global, Linker, Memory, Store, Val};

use super::{
    enter,
    meter::{hostio, INK_LEFT, INK_PRICE, INK_STATUS},
    outcome, StylusInspector,
};
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
    /// Reads and writes through the cache so far (nitro prices them by count).
    cache_reads: u64,
    cache_writes: u64,
    /// The last account code read (nitro keeps it and serves repeats for free).
    last_code: Option<(Address, Bytes)>,
    memory: Option<Memory>,
    /// The instrumentation's ink counter and out-of-ink flag.
    ink: Option<Global>,
    status: Option<Global>,
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

/// Ink left: the instrumentation's global, which the wasm itself decrements per block.
fn ink_left(caller: &C<'_>) -> u64 {
    let global = caller.data().ink.expect("ink global is set before the entrypoint runs");
    global.get(caller).i64().unwrap_or(0) as u64
}

fn set_ink(caller: &mut C<'_>, ink: u64) {
    let global = caller.data().ink.expect("ink global is set before the entrypoint runs");
    let _ = global.set(&mut *caller, Val::I64(ink as i64));
}

/// Out of ink: zero the counter and raise the status flag, as the metered wasm does.
fn out_of_ink(caller: &mut C<'_>) -> Error {
    set_ink(caller, 0);
    if let Some(status) = caller.data().status {
        let _ = status.set(&mut *caller, Val::I32(1));
    }
    fail(caller, Failure::OutOfGas)
}

fn buy_ink(caller: &mut C<'_>, ink: u64) -> Result<(), Error> {
    let left = ink_left(caller);
    if left < ink {
        return Err(out_of_ink(caller));
    }
    set_ink(caller, left - ink);
    Ok(())
}

/// Fails unless `ink` is left, spending nothing (nitro's `require_ink`).
fn require_ink(caller: &mut C<'_>, ink: u64) -> Result<(), Error> {
    if ink_left(caller) < ink {
        return Err(out_of_ink(caller));
    }
    Ok(())
}

fn gas_left(caller: &C<'_>) -> u64 {
    ink_left(caller) / INK_PRICE
}

/// Charges EVM gas (converted to ink at the ink price).
fn charge(caller: &mut C<'_>, gas: u64) -> Result<(), Error> {
    buy_ink(caller, gas.saturating_mul(INK_PRICE))
}

fn require_gas(caller: &mut C<'_>, gas: u64) -> Result<(), Error> {
    require_ink(caller, gas.saturating_mul(INK_PRICE))
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

/// EIP-2200's sentry, which nitro also requires before a write is cached or flushed.
const SSTORE_SENTRY_GAS: u64 = 2_300;
/// nitro's `StorageCache::REQUIRED_ACCESS_GAS`.
const CACHE_ACCESS_GAS: u64 = 10;
/// The EVM API surcharge on a storage read that misses the cache (`EVM_API_INK` in gas).
const CACHE_MISS_GAS: u64 = hostio::EVM_API / INK_PRICE;

/// Gas for the n-th read through the storage cache (nitro's `StorageCache::read_gas`).
fn cache_read_gas(n: u64) -> u64 {
    match n {
        0..=32 => 0,
        33..=128 => 2,
        _ => 10,
    }
}

/// Gas for the n-th write into the storage cache (nitro's `StorageCache::write_gas`).
fn cache_write_gas(n: u64) -> u64 {
    match n {
        0..=8 => 0,
        9..=64 => 7,
        _ => 10,
    }
}

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
            return Err(out_of_ink(caller));
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

/// Runs a call (CALL, STATICCALL, DELEGATECALL) out of the program, priced as nitro's
/// `doCall` prices it: the hostio's ink and the calldata reads, then the EVM's access, value
/// and new-account costs, 63/64 of what is left (capped by the requested gas), the stipend
/// with value, and finally the base cost plus whatever the callee used.
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
    buy_ink(caller, hostio::CALL)?;
    buy_ink(caller, hostio::read_price(data_len))?;
    buy_ink(caller, hostio::read_price(data_len))?; // nitro pays for reading it twice
    let target = read_address(caller, contract)?;
    let input = Bytes::from(read(caller, data, data_len)?);
    if caller.data().is_static && !value.is_zero() {
        return Err(fail(caller, Failure::WriteProtection));
    }
    // Other frames may read or write this program's storage (a delegatecall writes it
    // directly): write the cache out and drop it, so the callee sees this frame's writes
    // and this frame re-reads whatever the callee wrote. The SDK does the same before its
    // calls; doing it here keeps hand-written programs coherent too.
    flush(caller, true)?;
    let gas_left = gas_left(caller);
    let gas_req = gas.min(gas_left);
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
    let mut base = account_access_cost(caller, is_cold);
    let params = caller.data_mut().ctx().cfg().gas_params().clone();
    if !value.is_zero() {
        base += params.transfer_value_cost();
        if is_empty && scheme == CallScheme::Call {
            base += params.new_account_cost(true, true);
        }
    }
    if base > gas_left {
        return Err(out_of_ink(caller));
    }
    let mut give = ((gas_left - base) * 63 / 64).min(gas_req);
    if !value.is_zero() {
        give = give.saturating_add(params.call_stipend());
    }
    let host = caller.data_mut();
    let (target_address, from, call_value, bytecode_address) = match scheme {
        CallScheme::DelegateCall => (host.address, host.caller, CallValue::Apparent(host.value), target),
        _ => (target, host.address, CallValue::Transfer(value), target),
    };
    let inputs = CallInputs {
        input: CallInput::Bytes(input),
        return_memory_offset: 0..0,
        gas_limit: give,
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
    let ok = out.result.result.is_ok();
    if ok {
        caller.data_mut().refund += gas.refunded();
    }
    let output = out.result.output;
    caller.data_mut().return_data = output.clone();
    charge(caller, base.saturating_add(give.saturating_sub(gas.remaining())))?;
    write(caller, ret_len, &(output.len() as u32).to_le_bytes())?;
    Ok(if ok { 0 } else { 1 })
}

/// CREATE/CREATE2 out of the program, priced as nitro's `create`: 32,000 gas (plus keccak
/// words for CREATE2; nitro charges no EIP-3860 initcode words here), 63/64 of the rest to
/// the init code, and the caller keeps the 1/64.
#[allow(clippy::too_many_arguments)] // mirrors the hostio's own argument list
fn do_create(
    caller: &mut C<'_>,
    code: u32,
    code_len: u32,
    endowment: u32,
    salt: Option<u32>,
    contract: u32,
    revert_len: u32,
) -> Result<(), Error> {
    buy_ink(caller, if salt.is_some() { hostio::CREATE2 } else { hostio::CREATE1 })?;
    buy_ink(caller, hostio::read_price(code_len))?;
    buy_ink(caller, hostio::read_price(code_len))?;
    let init = Bytes::from(read(caller, code, code_len)?);
    let value = U256::from_be_bytes(read_word(caller, endowment)?.0);
    let scheme = match salt {
        Some(ptr) => revm::context_interface::CreateScheme::Create2 {
            salt: U256::from_be_bytes(read_word(caller, ptr)?.0),
        },
        None => revm::context_interface::CreateScheme::Create,
    };
    if caller.data().is_static {
        return Err(fail(caller, Failure::WriteProtection));
    }
    flush(caller, true)?;
    let start = gas_left(caller);
    let params = caller.data_mut().ctx().cfg().gas_params().clone();
    let mut base = params.create_cost();
    if salt.is_some() {
        base += params.create2_cost(init.len());
    }
    if start < base {
        return Err(out_of_ink(caller));
    }
    let rest = start - base;
    let one64th = rest / 64;
    let give = rest - one64th;
    let host = caller.data_mut();
    let inputs = CreateInputs::new(host.address, scheme, value, init, give, 0);
    let inspector = host.inspector.clone();
    let result = inspector.nested(host.ctx(), FrameInput::Create(Box::new(inputs)));
    let FrameResult::Create(out) = result else { unreachable!("a create frame returns a create result") };
    let ok = out.result.result.is_ok();
    let addr = if ok { out.address.unwrap_or_default() } else { Address::ZERO };
    // Return data only in the revert case, as geth's CREATE.
    let data =
        if out.result.result == InstructionResult::Revert { out.result.output.clone() } else { Bytes::new() };
    charge(caller, start.saturating_sub(out.result.gas.remaining() + one64th))?;
    write(caller, contract, addr.as_slice())?;
    write(caller, revert_len, &(data.len() as u32).to_le_bytes())?;
    caller.data_mut().return_data = data;
    Ok(())
}

fn u256_bytes(v: U256) -> [u8; 32] {
    v.to_be_bytes::<32>()
}

/// Declares every host function a program may import. Signatures follow stylus-sdk 0.10's
/// `hostio.rs` on wasm32 (pointers and `usize` are i32, `bool`/`u8`/`u16` are i32). Prices
/// follow nitro's `user-host-trait` (base ink per hostio, per-byte I/O, then the EVM's gas).
fn linker(engine: &wasmi::Engine) -> Linker<Host> {
    let mut l = Linker::<Host>::new(engine);
    let mut m = "vm_hooks";
    macro_rules! def {
        ($name:literal, $f:expr) => {
            l.func_wrap(m, $name, $f).expect("host function defined once");
        };
    }
    def!("read_args", |mut c: C<'_>, dest: u32| -> Result<(), Error> {
        let args = c.data().args.clone();
        buy_ink(&mut c, hostio::READ_ARGS)?;
        buy_ink(&mut c, hostio::write_price(args.len() as u32))?;
        write(&mut c, dest, &args)
    });
    def!("write_result", |mut c: C<'_>, data: u32, len: u32| -> Result<(), Error> {
        buy_ink(&mut c, hostio::WRITE_RESULT)?;
        buy_ink(&mut c, hostio::read_price(len))?;
        buy_ink(&mut c, hostio::read_price(len))?; // nitro pays for reading it twice
        let out = read(&mut c, data, len)?;
        c.data_mut().result = out;
        Ok(())
    });
    def!("exit_early", |_c: C<'_>, status: u32| -> Result<(), Error> { Err(Error::i32_exit(status as i32)) });
    def!("storage_load_bytes32", |mut c: C<'_>, key: u32, dest: u32| -> Result<(), Error> {
        buy_ink(&mut c, hostio::STORAGE_LOAD)?;
        let p = c.data_mut().ctx().cfg().gas_params().clone();
        require_gas(&mut c, p.cold_storage_cost() + CACHE_ACCESS_GAS + CACHE_MISS_GAS)?;
        let key = read_word(&mut c, key)?;
        c.data_mut().cache_reads += 1;
        let mut cost = cache_read_gas(c.data().cache_reads);
        let value = match c.data().cache.get(&key) {
            Some((v, _)) => *v,
            None => {
                let host = c.data_mut();
                let address = host.address;
                let Some(load) = host.ctx().sload(address, key.into()) else {
                    return Err(fail(&mut c, Failure::Other("database error".into())));
                };
                cost += if load.is_cold { p.cold_storage_cost() } else { p.warm_storage_read_cost() };
                cost += CACHE_MISS_GAS;
                let v = B256::from(load.data.to_be_bytes::<32>());
                c.data_mut().cache.insert(key, (v, false));
                v
            }
        };
        charge(&mut c, cost)?;
        write(&mut c, dest, value.as_slice())
    });
    def!("storage_cache_bytes32", |mut c: C<'_>, key: u32, value: u32| -> Result<(), Error> {
        buy_ink(&mut c, hostio::STORAGE_CACHE)?;
        require_gas(&mut c, SSTORE_SENTRY_GAS + CACHE_ACCESS_GAS)?;
        let key = read_word(&mut c, key)?;
        let value = read_word(&mut c, value)?;
        c.data_mut().cache_writes += 1;
        let cost = cache_write_gas(c.data().cache_writes);
        charge(&mut c, cost)?;
        c.data_mut().cache.insert(key, (value, true));
        Ok(())
    });
    def!("storage_flush_cache", |mut c: C<'_>, clear: u32| -> Result<(), Error> {
        buy_ink(&mut c, hostio::STORAGE_FLUSH)?;
        require_gas(&mut c, SSTORE_SENTRY_GAS)?;
        flush(&mut c, clear != 0)
    });
    def!("transient_load_bytes32", |mut c: C<'_>, key: u32, dest: u32| -> Result<(), Error> {
        buy_ink(&mut c, hostio::TRANSIENT)?;
        charge(&mut c, 100)?; // TLOAD
        let key = read_word(&mut c, key)?;
        let host = c.data_mut();
        let address = host.address;
        let v = host.ctx().tload(address, key.into());
        write(&mut c, dest, &u256_bytes(v))
    });
    def!("transient_store_bytes32", |mut c: C<'_>, key: u32, value: u32| -> Result<(), Error> {
        buy_ink(&mut c, hostio::TRANSIENT)?;
        charge(&mut c, 100)?; // TSTORE
        let key = read_word(&mut c, key)?;
        let value = read_word(&mut c, value)?;
        if c.data().is_static {
            return Err(fail(&mut c, Failure::WriteProtection));
        }
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
        buy_ink(&mut c, hostio::READ_RETURN_DATA)?;
        let rd = c.data().return_data.clone();
        // Pay only for as many bytes as could be written.
        let max = (rd.len() as u32).saturating_sub(offset);
        buy_ink(&mut c, hostio::write_price(size.min(max)))?;
        let start = (offset as usize).min(rd.len());
        let end = start.saturating_add(size as usize).min(rd.len());
        write(&mut c, dest, &rd[start..end])?;
        Ok((end - start) as u32)
    });
    def!("return_data_size", |mut c: C<'_>| -> Result<u32, Error> {
        buy_ink(&mut c, hostio::RETURN_DATA_SIZE)?;
        Ok(c.data().return_data.len() as u32)
    });
    def!("emit_log", |mut c: C<'_>, data: u32, len: u32, topics: u32| -> Result<(), Error> {
        buy_ink(&mut c, hostio::EMIT_LOG)?;
        if topics > 4 || (len as usize) < topics as usize * 32 {
            return Err(fail(&mut c, Failure::Other("bad log".into())));
        }
        buy_ink(&mut c, hostio::read_price(len))?;
        let p = c.data_mut().ctx().cfg().gas_params().clone();
        charge(&mut c, p.log_cost(topics as u8, (len - topics * 32) as u64))?;
        if c.data().is_static {
            return Err(fail(&mut c, Failure::WriteProtection));
        }
        let bytes = read(&mut c, data, len)?;
        let (t, d) = bytes.split_at(topics as usize * 32);
        let topics: Vec<B256> = t.chunks(32).map(B256::from_slice).collect();
        let host = c.data_mut();
        let address = host.address;
        host.ctx().log(Log { address, data: LogData::new_unchecked(topics, Bytes::copy_from_slice(d)) });
        Ok(())
    });
    def!("native_keccak256", |mut c: C<'_>, bytes: u32, len: u32, out: u32| -> Result<(), Error> {
        buy_ink(&mut c, hostio::keccak_price(len))?;
        let data = read(&mut c, bytes, len)?;
        write(&mut c, out, keccak256(&data).as_slice())
    });
    def!("account_balance", |mut c: C<'_>, addr: u32, dest: u32| -> Result<(), Error> {
        buy_ink(&mut c, hostio::ACCOUNT_BALANCE)?;
        require_gas(&mut c, 2_600)?;
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
        buy_ink(&mut c, hostio::ACCOUNT_CODE)?;
        require_gas(&mut c, 2_600)?;
        let a = read_address(&mut c, addr)?;
        let code = account_code(&mut c, a)?;
        buy_ink(&mut c, hostio::write_price(code.len() as u32))?;
        let start = (offset as usize).min(code.len());
        let end = start.saturating_add(size as usize).min(code.len());
        write(&mut c, dest, &code[start..end])?;
        Ok((end - start) as u32)
    });
    def!("account_code_size", |mut c: C<'_>, addr: u32| -> Result<u32, Error> {
        buy_ink(&mut c, hostio::ACCOUNT_CODE_SIZE)?;
        require_gas(&mut c, 2_600)?;
        let a = read_address(&mut c, addr)?;
        Ok(account_code(&mut c, a)?.len() as u32)
    });
    def!("account_codehash", |mut c: C<'_>, addr: u32, dest: u32| -> Result<(), Error> {
        buy_ink(&mut c, hostio::ACCOUNT_CODEHASH)?;
        require_gas(&mut c, 2_600)?;
        let a = read_address(&mut c, addr)?;
        let Some(load) = c.data_mut().ctx().load_account_code_hash(a) else {
            return Err(fail(&mut c, Failure::Other("database error".into())));
        };
        let cost = account_access_cost(&mut c, load.is_cold);
        charge(&mut c, cost)?;
        write(&mut c, dest, load.data.as_slice())
    });
    def!("block_basefee", |mut c: C<'_>, dest: u32| -> Result<(), Error> {
        buy_ink(&mut c, hostio::WITH_PTR)?;
        let v = U256::from(c.data_mut().ctx().block().basefee());
        write(&mut c, dest, &u256_bytes(v))
    });
    def!("block_coinbase", |mut c: C<'_>, dest: u32| -> Result<(), Error> {
        buy_ink(&mut c, hostio::WITH_PTR)?;
        let v = c.data_mut().ctx().block().beneficiary();
        write(&mut c, dest, v.as_slice())
    });
    def!("block_gas_limit", |mut c: C<'_>| -> Result<u64, Error> {
        buy_ink(&mut c, hostio::HOSTIO)?;
        Ok(c.data_mut().ctx().block().gas_limit())
    });
    def!("block_number", |mut c: C<'_>| -> Result<u64, Error> {
        buy_ink(&mut c, hostio::HOSTIO)?;
        Ok(c.data_mut().ctx().block().number().saturating_to())
    });
    def!("block_timestamp", |mut c: C<'_>| -> Result<u64, Error> {
        buy_ink(&mut c, hostio::HOSTIO)?;
        Ok(c.data_mut().ctx().block().timestamp().saturating_to())
    });
    def!("chainid", |mut c: C<'_>| -> Result<u64, Error> {
        buy_ink(&mut c, hostio::HOSTIO)?;
        Ok(c.data_mut().ctx().cfg().chain_id())
    });
    def!("contract_address", |mut c: C<'_>, dest: u32| -> Result<(), Error> {
        buy_ink(&mut c, hostio::WITH_PTR)?;
        let a = c.data().address;
        write(&mut c, dest, a.as_slice())
    });
    def!("msg_sender", |mut c: C<'_>, dest: u32| -> Result<(), Error> {
        buy_ink(&mut c, hostio::WITH_PTR)?;
        let a = c.data().caller;
        write(&mut c, dest, a.as_slice())
    });
    def!("msg_value", |mut c: C<'_>, dest: u32| -> Result<(), Error> {
        buy_ink(&mut c, hostio::WITH_PTR)?;
        let v = c.data().value;
        write(&mut c, dest, &u256_bytes(v))
    });
    def!("msg_reentrant", |mut c: C<'_>| -> Result<u32, Error> {
        buy_ink(&mut c, hostio::HOSTIO)?;
        Ok(c.data().reentrant as u32)
    });
    def!("tx_gas_price", |mut c: C<'_>, dest: u32| -> Result<(), Error> {
        buy_ink(&mut c, hostio::WITH_PTR)?;
        let v = U256::from(c.data_mut().ctx().effective_gas_price());
        write(&mut c, dest, &u256_bytes(v))
    });
    def!("tx_ink_price", |mut c: C<'_>| -> Result<u32, Error> {
        buy_ink(&mut c, hostio::HOSTIO)?;
        Ok(INK_PRICE as u32)
    });
    def!("tx_origin", |mut c: C<'_>, dest: u32| -> Result<(), Error> {
        buy_ink(&mut c, hostio::WITH_PTR)?;
        let v = c.data_mut().ctx().tx().caller();
        write(&mut c, dest, v.as_slice())
    });
    def!("evm_gas_left", |mut c: C<'_>| -> Result<u64, Error> {
        buy_ink(&mut c, hostio::HOSTIO)?;
        Ok(gas_left(&c))
    });
    def!("evm_ink_left", |mut c: C<'_>| -> Result<u64, Error> {
        buy_ink(&mut c, hostio::HOSTIO)?;
        Ok(ink_left(&c))
    });
    def!("pay_for_memory_grow", |mut c: C<'_>, pages: u32| -> Result<(), Error> {
        if pages == 0 {
            return buy_ink(&mut c, hostio::HOSTIO);
        }
        // Arbitrum's memory model over the pages this transaction has open (see `meter`).
        let pages = u16::try_from(pages).unwrap_or(u16::MAX);
        let cost = c.data().inspector.add_pages(pages);
        charge(&mut c, cost)
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

/// Code of `a` for `account_code(_size)`, priced as the EVM's account access; nitro keeps
/// the last code read and serves a repeat for the same address for free.
fn account_code(c: &mut C<'_>, a: Address) -> Result<Bytes, Error> {
    if let Some((last, code)) = &c.data().last_code {
        if *last == a {
            return Ok(code.clone());
        }
    }
    let Some(load) = c.data_mut().ctx().load_account_code(a) else {
        return Err(fail(c, Failure::Other("database error".into())));
    };
    let cost = account_access_cost(c, load.is_cold);
    charge(c, cost)?;
    c.data_mut().last_code = Some((a, load.data.clone()));
    Ok(load.data)
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
    let program = match inspector.programs.module(codehash, bytecode.original_byte_slice()) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "activated program failed to load");
            return revert(ctx, Bytes::new(), 0, InstructionResult::Revert);
        }
    };
    // Call overhead, as nitro's `CallProgram` charges it before the program starts: the
    // memory model for the program's initial pages over what this transaction already has
    // open, plus the init and cached-init gas predicted at activation (no program is in a
    // CacheManager cache here, so the init gas is always paid).
    let (open, _) = inspector.pages.get();
    let overhead = inspector.page_cost(program.costs.footprint).saturating_add(program.costs.call_gas());
    if overhead > inputs.gas_limit {
        return revert(ctx, Bytes::new(), inputs.gas_limit, InstructionResult::OutOfGas);
    }
    inspector.add_pages(program.costs.footprint);
    let out = run_instrumented(inspector, ctx, inputs, &program.module, overhead);
    // The program's pages are released when it returns (`SetStylusPagesOpen(open)`).
    inspector.pages.set((open, inspector.pages.get().1));
    match out {
        Ok(o) => o,
        Err((data, used, result)) => revert(ctx, data, used, result),
    }
}

type Failed = (Bytes, u64, InstructionResult);

/// Runs the instrumented program with `gas_limit - overhead` gas worth of ink. Returns the
/// finished (committed) outcome, or what to revert with.
fn run_instrumented(
    inspector: &StylusInspector,
    ctx: &mut Ctx,
    inputs: &CallInputs,
    module: &wasmi::Module,
    overhead: u64,
) -> Result<revm::interpreter::CallOutcome, Failed> {
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
        cache_reads: 0,
        cache_writes: 0,
        last_code: None,
        memory: None,
        ink: None,
        status: None,
        failure: None,
        refund: 0,
    };
    let engine = &inspector.programs.engine;
    let mut store = Store::new(engine, host);
    let all = inputs.gas_limit;
    let instance = match linker(engine).instantiate_and_start(&mut store, module) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "program failed to instantiate");
            return Err((Bytes::new(), all, InstructionResult::Revert));
        }
    };
    let (Some(mem), Some(ink), Some(status)) = (
        instance.get_memory(&store, "memory"),
        instance.get_global(&store, INK_LEFT),
        instance.get_global(&store, INK_STATUS),
    ) else {
        return Err((Bytes::new(), all, InstructionResult::Revert));
    };
    let start_ink = (all - overhead).saturating_mul(INK_PRICE);
    if ink.set(&mut store, Val::I64(start_ink as i64)).is_err() {
        return Err((Bytes::new(), all, InstructionResult::Revert));
    }
    store.data_mut().memory = Some(mem);
    store.data_mut().ink = Some(ink);
    store.data_mut().status = Some(status);
    let entry = match instance.get_typed_func::<i32, i32>(&store, "user_entrypoint") {
        Ok(f) => f,
        Err(_) => return Err((Bytes::new(), all, InstructionResult::Revert)),
    };

    inspector.stack.borrow_mut().push(inputs.target_address);
    let mut result = entry.call(&mut store, args_len);
    inspector.stack.borrow_mut().pop();

    // exit_early(status) ends the program like a return from the entrypoint.
    if let Err(e) = &result {
        if let Some(code) = e.i32_exit_status() {
            result = Ok(code);
        }
    }
    // A successful program's cached writes are flushed (the SDK does this itself; this
    // covers programs that do not).
    if let Ok(0) = result {
        let mut caller_store = &mut store;
        let r = {
            let mut caller = Caller::from(&mut caller_store);
            flush(&mut caller, false)
        };
        if let Err(e) = r {
            result = Err(e);
        }
    }
    let exhausted = status.get(&store).i32() != Some(0);
    let ink_left = if exhausted { 0 } else { ink.get(&store).i64().unwrap_or(0) as u64 };
    // What is left converts back to gas rounding down, as nitro's `ink_to_gas`.
    let gas_used = all - (ink_left / INK_PRICE).min(all - overhead);
    let host = store.into_data();
    match result {
        Ok(0) => {
            ctx.journal_mut().checkpoint_commit();
            Ok(outcome(inputs, InstructionResult::Return, host.result.into(), gas_used, host.refund))
        }
        Ok(_) => Err((host.result.into(), gas_used, InstructionResult::Revert)),
        Err(_) if exhausted || host.failure == Some(Failure::OutOfGas) => {
            Err((Bytes::new(), all, InstructionResult::OutOfGas))
        }
        Err(e) => match host.failure {
            Some(Failure::WriteProtection) => {
                // Arbitrum reverts (rather than halting) so the caller keeps its gas.
                Err((Bytes::new(), gas_used, InstructionResult::Revert))
            }
            other => {
                tracing::debug!(error = %e, failure = ?other, "Stylus program trapped");
                Err((Bytes::new(), gas_used, InstructionResult::Revert))
            }
        },
    }
}
