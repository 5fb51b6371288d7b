//! Stylus program format, validation at activation, and the compiled-module cache.

use std::{collections::HashMap, io::Read, sync::Mutex};

use revm::primitives::B256;
use wasmi::{Config, Engine, ExternType, Module};

use super::meter::{instrument, Instrumented, ProgramCosts};

/// Code of a Stylus program starts with these bytes (an EOF-like header).
pub const STYLUS_PREFIX: [u8; 3] = [0xEF, 0xF0, 0x00];
/// Largest decompressed wasm we accept (nitro's limit is 128 KiB).
pub const MAX_WASM_SIZE: usize = 128 * 1024;
/// Largest initial memory a program may declare, in 64 KiB pages (nitro's page limit).
pub const MAX_PAGES: u64 = 128;

/// Why a program cannot be activated or run.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StylusError {
    #[error("not a Stylus program (code must start with 0xEFF000)")]
    NotStylus,
    #[error("unsupported compression dictionary {0} (only 0 = none is supported)")]
    Dictionary(u8),
    #[error("brotli decompression failed: {0}")]
    Decompress(String),
    #[error("decompressed wasm is larger than {MAX_WASM_SIZE} bytes")]
    TooLarge,
    #[error("invalid wasm: {0}")]
    InvalidWasm(String),
    #[error("import {module}::{name} is not allowed (only vm_hooks and console host functions)")]
    BadImport { module: String, name: String },
    #[error("missing export `{0}`")]
    MissingExport(&'static str),
    #[error("export `user_entrypoint` must have type (i32) -> i32")]
    BadEntrypoint,
    #[error("initial memory of {0} pages exceeds the limit of {MAX_PAGES}")]
    MemoryTooLarge(u64),
}

/// True when `code` is a Stylus program.
pub fn is_stylus(code: &[u8]) -> bool {
    code.len() >= 4 && code[..3] == STYLUS_PREFIX
}

/// Extracts the wasm from program code: `EF F0 00`, one dictionary byte, brotli data.
pub fn decompress(code: &[u8]) -> Result<Vec<u8>, StylusError> {
    if !is_stylus(code) {
        return Err(StylusError::NotStylus);
    }
    if code[3] != 0 {
        return Err(StylusError::Dictionary(code[3]));
    }
    let mut out = Vec::new();
    brotli::Decompressor::new(&code[4..], 4096)
        .take(MAX_WASM_SIZE as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| StylusError::Decompress(e.to_string()))?;
    if out.len() > MAX_WASM_SIZE {
        return Err(StylusError::TooLarge);
    }
    Ok(out)
}

/// Host functions a program may import. Anything else is refused at activation, so that a
/// program never fails to link at call time.
pub(crate) const VM_HOOKS: &[&str] = &[
    "read_args",
    "write_result",
    "exit_early",
    "storage_load_bytes32",
    "storage_cache_bytes32",
    "storage_flush_cache",
    "transient_load_bytes32",
    "transient_store_bytes32",
    "call_contract",
    "static_call_contract",
    "delegate_call_contract",
    "create1",
    "create2",
    "read_return_data",
    "return_data_size",
    "emit_log",
    "native_keccak256",
    "account_balance",
    "account_code",
    "account_code_size",
    "account_codehash",
    "block_basefee",
    "block_coinbase",
    "block_gas_limit",
    "block_number",
    "block_timestamp",
    "chainid",
    "contract_address",
    "msg_sender",
    "msg_value",
    "msg_reentrant",
    "tx_gas_price",
    "tx_ink_price",
    "tx_origin",
    "evm_gas_left",
    "evm_ink_left",
    "pay_for_memory_grow",
];
pub(crate) const CONSOLE: &[&str] = &["log_txt", "log_i32", "log_i64", "log_f32", "log_f64"];

/// A program as it runs here: the compiled, ink-instrumented module and its call costs.
#[derive(Clone)]
pub struct Program {
    pub module: Module,
    pub costs: ProgramCosts,
}

/// Checks and prepares a module the way activation must: allowed imports only, the
/// `user_entrypoint` and `memory` exports present, memory within limits, operators Stylus
/// supports; then instruments it with the ink meter (see `meter`) and compiles it.
pub fn validate(engine: &Engine, wasm: &[u8]) -> Result<Program, StylusError> {
    // The original is compiled first so that a malformed module is reported by the wasm
    // validator, not by the instrumentation's parser.
    let original = Module::new(engine, wasm).map_err(|e| StylusError::InvalidWasm(e.to_string()))?;
    check_interface(&original)?;
    let Instrumented { wasm: metered, costs } = instrument(wasm)?;
    let module = Module::new(engine, &metered)
        .map_err(|e| StylusError::InvalidWasm(format!("after ink instrumentation: {e}")))?;
    Ok(Program { module, costs })
}

fn check_interface(module: &Module) -> Result<(), StylusError> {
    for import in module.imports() {
        let allowed = match import.module() {
            "vm_hooks" => VM_HOOKS.contains(&import.name()),
            "console" => CONSOLE.contains(&import.name()),
            _ => false,
        };
        if !allowed || !matches!(import.ty(), ExternType::Func(_)) {
            return Err(StylusError::BadImport {
                module: import.module().to_string(),
                name: import.name().to_string(),
            });
        }
    }
    let mut entry = false;
    let mut memory = false;
    for export in module.exports() {
        match (export.name(), export.ty()) {
            ("user_entrypoint", ExternType::Func(f)) => {
                use wasmi::ValType;
                if f.params() != [ValType::I32] || f.results() != [ValType::I32] {
                    return Err(StylusError::BadEntrypoint);
                }
                entry = true;
            }
            ("memory", ExternType::Memory(m)) => {
                if m.minimum() > MAX_PAGES {
                    return Err(StylusError::MemoryTooLarge(m.minimum()));
                }
                memory = true;
            }
            _ => {}
        }
    }
    if !entry {
        return Err(StylusError::MissingExport("user_entrypoint"));
    }
    if !memory {
        return Err(StylusError::MissingExport("memory"));
    }
    Ok(())
}

/// One wasmi engine for the whole chain plus compiled modules by code hash. The cache is an
/// optimisation only: activation state lives in the chain state (see `arbwasm`).
pub struct ProgramCache {
    pub(crate) engine: Engine,
    modules: Mutex<HashMap<B256, Program>>,
}

impl Default for ProgramCache {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgramCache {
    pub fn new() -> Self {
        // No wasmi fuel: ink is metered by the instrumentation, as on Arbitrum.
        let config = Config::default();
        Self { engine: Engine::new(&config), modules: Mutex::new(HashMap::new()) }
    }

    /// Compiled program for program code, compiling (and validating) on first use.
    pub fn module(&self, codehash: B256, code: &[u8]) -> Result<Program, StylusError> {
        if let Some(m) = self.modules.lock().expect("module cache poisoned").get(&codehash) {
            return Ok(m.clone());
        }
        let wasm = decompress(code)?;
        let program = validate(&self.engine, &wasm)?;
        self.modules.lock().expect("module cache poisoned").insert(codehash, program.clone());
        Ok(program)
    }
}
