//! Ink metering modelled on Arbitrum's: the wasm is instrumented once, at activation (or
//! on first load), with an ink counter that every basic block decrements before it runs,
//! and the module's call costs are predicted from its shape.
//!
//! Source of every number here: OffchainLabs/nitro (read at commit 6dce8d1, 2026-04),
//! Stylus version 2 as ArbOS 40 configures it:
//! - per-opcode ink: `crates/prover/src/programs/meter.rs` (`pricing_v1`);
//! - block header cost (2,450 ink), `memory.fill`/`memory.copy` at 100 ink per byte:
//!   `crates/prover/src/programs/config.rs` (`CompileConfig::version`);
//! - the per-byte charge of `memory.fill`/`memory.copy`: `crates/prover/src/programs/dynamic.rs`;
//! - which operators end a basic block: `crates/arbutil/src/operator.rs` (`ends_basic_block`);
//! - init and cached-init costs from the module's shape: `crates/prover/src/binary.rs`;
//! - their conversion to gas (min init gas 69 x 128, min cached gas 11 x 32, scalars 50 x 2%)
//!   and the memory model (2 free pages, 1,000 gas per page plus the exponential table):
//!   `arbos/programs/{programs,params,memory}.go`.
//!
//! The code below is written from those descriptions, not copied.

use std::ops::Range;

use wasm_encoder::{BlockType, Encode, Instruction};
use wasmparser::{Operator, Parser, Payload};

use super::program::StylusError;

/// Ink per unit of EVM gas (`initialInkPrice`; ArbWasm's `inkPrice()`).
pub const INK_PRICE: u64 = 10_000;
/// Ink charged by every basic block on top of its operators: the cost of the check itself.
pub const HEADER_INK: u64 = 2_450;
/// Ink per byte moved by `memory.fill` and `memory.copy` (`800 / 8`).
pub const MEMORY_BYTE_INK: u64 = 100;

/// Export names of the globals the instrumentation adds (the names nitro uses).
pub const INK_LEFT: &str = "stylus_ink_left";
pub const INK_STATUS: &str = "stylus_ink_status";
/// Scratch global for the dynamic (per-byte) charge.
const SCRATCH: &str = "stylus_ink_scratch";
/// Globals nitro adds to every program (ink left, ink status, the dynamic meter's scratch,
/// the depth checker's stack budget); they count towards the cached init cost.
const NITRO_EXTRA_GLOBALS: u64 = 4;

/// `pricing_v1`: ink per operator. Operators Stylus does not support (floats, SIMD, reference
/// types, ...) cost `u64::MAX`, so a block holding one can never run (as on Arbitrum, where
/// such a program activates but runs out of ink when it reaches that block).
pub fn op_ink(op: &Operator<'_>, params_of_type: impl Fn(u32) -> u64) -> u64 {
    use Operator::*;
    match op {
        Unreachable | Return | Nop | I32Const { .. } | I64Const { .. } => 1,
        Drop => 9,
        Block { .. } | Loop { .. } | Else | End => 1,
        Br { .. } | BrIf { .. } | If { .. } => 765,
        Select => 1250,
        Call { .. } => 3800,
        LocalGet { .. } | LocalTee { .. } => 75,
        LocalSet { .. } => 210,
        GlobalGet { .. } => 225,
        GlobalSet { .. } => 575,
        I32Load { .. } | I32Load8S { .. } | I32Load8U { .. } | I32Load16S { .. } | I32Load16U { .. } => 670,
        I64Load { .. }
        | I64Load8S { .. }
        | I64Load8U { .. }
        | I64Load16S { .. }
        | I64Load16U { .. }
        | I64Load32S { .. }
        | I64Load32U { .. } => 680,
        I32Store { .. } | I32Store8 { .. } | I32Store16 { .. } => 825,
        I64Store { .. } | I64Store8 { .. } | I64Store16 { .. } | I64Store32 { .. } => 950,
        MemorySize { .. } => 3000,
        // The pages themselves are paid through `pay_for_memory_grow`.
        MemoryGrow { .. } => 8050,
        I32Eqz | I32Eq | I32Ne | I32LtS | I32LtU | I32GtS | I32GtU | I32LeS | I32LeU | I32GeS | I32GeU => 170,
        I64Eqz | I64Eq | I64Ne | I64LtS | I64LtU | I64GtS | I64GtU | I64LeS | I64LeU | I64GeS | I64GeU => 225,
        I32Clz | I32Ctz => 210,
        I32Add | I32Sub => 70,
        I32Mul => 160,
        I32DivS | I32DivU | I32RemS | I32RemU => 1120,
        I32And | I32Or | I32Xor | I32Shl | I32ShrS | I32ShrU | I32Rotl | I32Rotr => 70,
        I64Clz | I64Ctz => 210,
        I64Add | I64Sub => 100,
        I64Mul => 160,
        I64DivS | I64DivU | I64RemS | I64RemU => 1270,
        I64And | I64Or | I64Xor | I64Shl | I64ShrS | I64ShrU | I64Rotl | I64Rotr => 100,
        I32Popcnt => 2650,
        I64Popcnt => 6000,
        I32WrapI64 | I64ExtendI32S | I64ExtendI32U => 100,
        I32Extend8S | I32Extend16S | I64Extend8S | I64Extend16S | I64Extend32S => 100,
        MemoryCopy { .. } | MemoryFill { .. } => 950,
        BrTable { targets } => 2400 + 325 * u64::from(targets.len()),
        CallIndirect { type_index, .. } => 13_610 + 650 * params_of_type(*type_index),
        _ => u64::MAX,
    }
}

/// Operators after which a new basic block starts (nitro's `ends_basic_block`).
fn ends_basic_block(op: &Operator<'_>) -> bool {
    use Operator::*;
    matches!(
        op,
        End | Else
            | Return
            | Loop { .. }
            | Br { .. }
            | BrTable { .. }
            | BrIf { .. }
            | If { .. }
            | Call { .. }
            | CallIndirect { .. }
    )
}

/// What activation learns about a program besides its instrumented code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgramCosts {
    /// Initial memory in pages (the program's `footprint`).
    pub footprint: u16,
    /// nitro's `init_cost` (Stylus version 2), in its own units.
    pub init_cost: u16,
    /// nitro's `cached_init_cost`, in its own units.
    pub cached_init_cost: u16,
}

impl ProgramCosts {
    /// Gas charged on every call of a program that is not in the CacheManager's cache
    /// (none is here): `MinInitGas (69) x 128 + init_cost x 50 x 2%`, plus, since Stylus
    /// version 2, the cached cost `MinCachedInitGas (11) x 32 + cached_cost x 50 x 2%`.
    pub fn call_gas(&self) -> u64 {
        let scaled = |cost: u16| (u64::from(cost) * 50 * 2).div_ceil(100);
        69 * 128 + scaled(self.init_cost) + 11 * 32 + scaled(self.cached_init_cost)
    }
}

/// A program ready to compile: instrumented wasm plus its predicted costs.
#[derive(Debug, Clone)]
pub struct Instrumented {
    pub wasm: Vec<u8>,
    pub costs: ProgramCosts,
}

fn invalid(e: impl std::fmt::Display) -> StylusError {
    StylusError::InvalidWasm(e.to_string())
}

fn leb(out: &mut Vec<u8>, v: u32) {
    v.encode(out);
}

fn instr(out: &mut Vec<u8>, i: Instruction<'_>) {
    i.encode(out);
}

/// Reads a section's leading item count and returns it with the bytes after it.
fn split_count(content: &[u8]) -> Result<(u32, &[u8]), StylusError> {
    let mut r = wasmparser::BinaryReader::new(content, 0);
    let n = r.read_var_u32().map_err(invalid)?;
    Ok((n, &content[r.original_position() as usize..]))
}

fn section(out: &mut Vec<u8>, id: u8, content: &[u8]) {
    out.push(id);
    leb(out, u32::try_from(content.len()).expect("a section of a <=128 KiB module"));
    out.extend_from_slice(content);
}

/// Section ids in the order the binary format requires them (custom sections aside).
fn order(id: u8) -> u8 {
    match id {
        1 => 1,   // type
        2 => 2,   // import
        3 => 3,   // function
        4 => 4,   // table
        5 => 5,   // memory
        13 => 6,  // tag
        6 => 7,   // global
        7 => 8,   // export
        8 => 9,   // start
        9 => 10,  // element
        12 => 11, // data count
        10 => 12, // code
        11 => 13, // data
        _ => 0,
    }
}

/// Instruments `wasm` with the ink meter and predicts its call costs.
pub fn instrument(wasm: &[u8]) -> Result<Instrumented, StylusError> {
    let mut types: Vec<(u64, u64)> = Vec::new(); // (params, results) per type index
    let mut func_types: Vec<u32> = Vec::new(); // type index per local function
    let mut imported_globals = 0u32;
    let mut defined_globals = 0u32;
    let mut footprint: Option<u64> = None;
    let mut data_len = 0u64;
    let mut export_names: Vec<String> = Vec::new();
    // First pass: the facts the rewrite and the cost prediction need.
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(invalid)? {
            Payload::TypeSection(r) => {
                for ty in r.into_iter_err_on_gc_types() {
                    let ty = ty.map_err(invalid)?;
                    types.push((ty.params().len() as u64, ty.results().len() as u64));
                }
            }
            Payload::ImportSection(r) => {
                for imp in r.into_imports() {
                    if let wasmparser::TypeRef::Global(_) = imp.map_err(invalid)?.ty {
                        imported_globals += 1;
                    }
                }
            }
            Payload::FunctionSection(r) => {
                for t in r {
                    func_types.push(t.map_err(invalid)?);
                }
            }
            Payload::MemorySection(r) => {
                for m in r {
                    let m = m.map_err(invalid)?;
                    footprint.get_or_insert(m.initial);
                }
            }
            Payload::GlobalSection(r) => defined_globals = r.count(),
            Payload::ExportSection(r) => {
                for e in r {
                    export_names.push(e.map_err(invalid)?.name.to_string());
                }
            }
            Payload::DataSection(r) => {
                for d in r {
                    let d = d.map_err(invalid)?;
                    data_len += d.range.end - d.range.start;
                }
            }
            Payload::ElementSection(r) => {
                for e in r {
                    let e = e.map_err(invalid)?;
                    data_len += e.range.end - e.range.start;
                }
            }
            _ => {}
        }
    }
    for name in [INK_LEFT, INK_STATUS, SCRATCH] {
        if export_names.iter().any(|n| n == name) {
            return Err(invalid(format!("the module already exports `{name}`")));
        }
    }
    let base = imported_globals + defined_globals;
    let (ink, status, scratch) = (base, base + 1, base + 2);
    let params_of = |t: u32| types.get(t as usize).map(|(p, _)| *p).unwrap_or(0);

    // New globals: ink left (i64), ink status (i32), scratch (i32), all mutable, zero.
    let mut new_globals = Vec::new();
    for (valtype, konst) in [(0x7e, 0x42), (0x7f, 0x41), (0x7f, 0x41)] {
        new_globals.extend_from_slice(&[valtype, 0x01, konst, 0x00, 0x0b]);
    }
    let mut new_exports = Vec::new();
    for (name, index) in [(INK_LEFT, ink), (INK_STATUS, status), (SCRATCH, scratch)] {
        Encode::encode(name, &mut new_exports);
        new_exports.push(0x03); // global
        leb(&mut new_exports, index);
    }

    let mut out = wasm[..8.min(wasm.len())].to_vec();
    let mut wrote_globals = false;
    let mut wrote_exports = false;
    let mut funcs = 0u64;
    let mut code = Vec::new();
    let mut code_count = 0u32;
    let flush_missing = |out: &mut Vec<u8>, upto: u8, wrote_globals: &mut bool, wrote_exports: &mut bool| {
        if upto > order(6) && !*wrote_globals {
            let mut c = Vec::new();
            leb(&mut c, 3);
            c.extend_from_slice(&new_globals);
            section(out, 6, &c);
            *wrote_globals = true;
        }
        if upto > order(7) && !*wrote_exports {
            let mut c = Vec::new();
            leb(&mut c, 3);
            c.extend_from_slice(&new_exports);
            section(out, 7, &c);
            *wrote_exports = true;
        }
    };
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(invalid)?;
        if let Payload::CodeSectionEntry(body) = &payload {
            funcs += 1;
            code_count += 1;
            let body_bytes = instrument_body(wasm, body, ink, status, scratch, &params_of)?;
            leb(&mut code, u32::try_from(body_bytes.len()).map_err(invalid)?);
            code.extend_from_slice(&body_bytes);
            continue;
        }
        if let Payload::End(_) = payload {
            flush_missing(&mut out, u8::MAX, &mut wrote_globals, &mut wrote_exports);
            continue;
        }
        let Some((id, range)) = payload.as_section() else { continue };
        let range: Range<usize> = range.start as usize..range.end as usize;
        let content = wasm.get(range).ok_or_else(|| invalid("section out of bounds"))?;
        let ord = order(id);
        if ord == 0 {
            continue; // custom sections carry nothing execution needs
        }
        // The code section is written when its last entry has been rewritten: sections
        // after it (data) come later in the payload stream, so write pending code first.
        if code_count > 0 && ord > order(10) {
            let mut c = Vec::new();
            leb(&mut c, code_count);
            c.extend_from_slice(&code);
            section(&mut out, 10, &c);
            code_count = 0;
            code.clear();
        }
        flush_missing(&mut out, ord, &mut wrote_globals, &mut wrote_exports);
        match id {
            6 => {
                let (n, rest) = split_count(content)?;
                let mut c = Vec::new();
                leb(&mut c, n + 3);
                c.extend_from_slice(rest);
                c.extend_from_slice(&new_globals);
                section(&mut out, 6, &c);
                wrote_globals = true;
            }
            7 => {
                let (n, rest) = split_count(content)?;
                let mut c = Vec::new();
                leb(&mut c, n + 3);
                c.extend_from_slice(rest);
                c.extend_from_slice(&new_exports);
                section(&mut out, 7, &c);
                wrote_exports = true;
            }
            10 => {} // rebuilt from its entries
            _ => section(&mut out, id, content),
        }
    }
    if code_count > 0 {
        let mut c = Vec::new();
        leb(&mut c, code_count);
        c.extend_from_slice(&code);
        section(&mut out, 10, &c);
    }

    // Cost prediction, as nitro's activation computes it (integer divisions per term).
    let type_len: u64 =
        func_types.iter().map(|t| types.get(*t as usize).map(|(p, r)| p + r).unwrap_or(0)).sum();
    let footprint = footprint.unwrap_or(0);
    let globals = u64::from(defined_globals) + NITRO_EXTRA_GLOBALS;
    let wasm_len = wasm.len() as u64;
    let cached = funcs * 13_420 / 100_000
        + type_len * 89 / 100_000
        + wasm_len * 122 / 100_000
        + globals * 1_628 / 1_000
        + data_len * 75_244 / 100_000
        + footprint * 5;
    let init = funcs * 8_252 / 1_000 + type_len * 1_059 / 1_000 + wasm_len * 1_286 / 10_000;
    let costs = ProgramCosts {
        footprint: u16::try_from(footprint).map_err(|_| StylusError::MemoryTooLarge(footprint))?,
        init_cost: u16::try_from(init).map_err(|_| invalid("init cost too high"))?,
        cached_init_cost: u16::try_from(cached).map_err(|_| invalid("cached init cost too high"))?,
    };
    Ok(Instrumented { wasm: out, costs })
}

/// Rewrites one function body: every basic block is preceded by its ink check.
fn instrument_body(
    wasm: &[u8],
    body: &wasmparser::FunctionBody<'_>,
    ink: u32,
    status: u32,
    scratch: u32,
    params_of: &impl Fn(u32) -> u64,
) -> Result<Vec<u8>, StylusError> {
    let range = body.range();
    let mut ops = body.get_operators_reader().map_err(invalid)?;
    let ops_start = ops.original_position() as usize;
    let mut out = wasm[range.start as usize..ops_start].to_vec(); // locals, unchanged
    let mut block: Vec<u8> = Vec::new();
    let mut cost = 0u64;
    while !ops.eof() {
        let (op, offset) = ops.read_with_offset().map_err(invalid)?;
        let next = ops.original_position() as usize;
        let raw = &wasm[offset as usize..next];
        use Operator::*;
        match &op {
            MemoryInit { .. }
            | DataDrop { .. }
            | ElemDrop { .. }
            | TableInit { .. }
            | TableCopy { .. }
            | TableFill { .. }
            | TableGet { .. }
            | TableSet { .. }
            | TableGrow { .. }
            | TableSize { .. } => {
                return Err(invalid(format!("opcode not supported by Stylus: {op:?}")));
            }
            MemoryFill { .. } | MemoryCopy { .. } => per_byte_charge(&mut block, ink, status, scratch),
            _ => {}
        }
        cost = cost.saturating_add(op_ink(&op, params_of));
        block.extend_from_slice(raw);
        if ends_basic_block(&op) {
            let total = cost.saturating_add(HEADER_INK);
            // if ink < total { status = 1; unreachable }; ink -= total
            instr(&mut out, Instruction::GlobalGet(ink));
            instr(&mut out, Instruction::I64Const(total as i64));
            instr(&mut out, Instruction::I64LtU);
            instr(&mut out, Instruction::If(BlockType::Empty));
            instr(&mut out, Instruction::I32Const(1));
            instr(&mut out, Instruction::GlobalSet(status));
            instr(&mut out, Instruction::Unreachable);
            instr(&mut out, Instruction::End);
            instr(&mut out, Instruction::GlobalGet(ink));
            instr(&mut out, Instruction::I64Const(total as i64));
            instr(&mut out, Instruction::I64Sub);
            instr(&mut out, Instruction::GlobalSet(ink));
            out.append(&mut block);
            cost = 0;
        }
    }
    if !block.is_empty() {
        return Err(invalid("function body does not end with `end`"));
    }
    Ok(out)
}

/// The dynamic charge before `memory.fill`/`memory.copy`: 100 ink per byte of the length on
/// top of the stack, trapping out of ink when the subtraction would underflow.
fn per_byte_charge(out: &mut Vec<u8>, ink: u32, status: u32, scratch: u32) {
    instr(out, Instruction::GlobalSet(scratch));
    instr(out, Instruction::GlobalGet(ink));
    instr(out, Instruction::GlobalGet(ink));
    instr(out, Instruction::GlobalGet(scratch));
    instr(out, Instruction::I64ExtendI32U);
    instr(out, Instruction::I64Const(MEMORY_BYTE_INK as i64));
    instr(out, Instruction::I64Mul);
    instr(out, Instruction::I64Sub);
    instr(out, Instruction::GlobalSet(ink));
    instr(out, Instruction::GlobalGet(ink));
    // old < new: the subtraction wrapped, so the program could not pay.
    instr(out, Instruction::I64LtU);
    instr(out, Instruction::If(BlockType::Empty));
    instr(out, Instruction::I32Const(1));
    instr(out, Instruction::GlobalSet(status));
    instr(out, Instruction::Unreachable);
    instr(out, Instruction::End);
    instr(out, Instruction::GlobalGet(scratch));
}

/// Arbitrum's memory model (`arbos/programs/memory.go`): per transaction, `open` pages are
/// held by the programs currently running and `ever` is the most ever open at once. The
/// first 2 pages are free; each further page costs 1,000 gas plus an exponential term on
/// the high-water mark.
pub fn memory_gas(new: u16, open: u16, ever: u16) -> u64 {
    const FREE_PAGES: u16 = 2;
    const PAGE_GAS: u64 = 1_000;
    let new_open = open.saturating_add(new);
    let new_ever = ever.max(new_open);
    if new_ever <= FREE_PAGES {
        return 0;
    }
    let sub_free = |p: u16| p.saturating_sub(FREE_PAGES);
    let adding = sub_free(new_open).saturating_sub(sub_free(open));
    let linear = u64::from(adding).saturating_mul(PAGE_GAS);
    let exp = |p: u16| MEMORY_EXPONENTS.get(p as usize).map(|x| u64::from(*x)).unwrap_or(u64::MAX);
    linear.saturating_add(exp(new_ever).saturating_sub(exp(ever)))
}

/// `memoryExponents`: the exponential part of the page price, by pages ever open (it targets
/// 8 MiB costing 32 million gas together with the linear part).
#[rustfmt::skip]
const MEMORY_EXPONENTS: [u32; 129] = [
    1, 1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 5, 6, 7, 8, 9, 11, 12, 14, 17, 19, 22, 25, 29, 33, 38,
    43, 50, 57, 65, 75, 85, 98, 112, 128, 147, 168, 193, 221, 253, 289, 331, 379, 434, 497, 569,
    651, 745, 853, 976, 1117, 1279, 1463, 1675, 1917, 2194, 2511, 2874, 3290, 3765, 4309, 4932,
    5645, 6461, 7395, 8464, 9687, 11087, 12689, 14523, 16621, 19024, 21773, 24919, 28521, 32642,
    37359, 42758, 48938, 56010, 64104, 73368, 83971, 96106, 109994, 125890, 144082, 164904, 188735,
    216010, 247226, 282953, 323844, 370643, 424206, 485509, 555672, 635973, 727880, 833067, 953456,
    1091243, 1248941, 1429429, 1636000, 1872423, 2143012, 2452704, 2807151, 3212820, 3677113,
    4208502, 4816684, 5512756, 6309419, 7221210, 8264766, 9459129, 10826093, 12390601, 14181199,
    16230562, 18576084, 21260563, 24332984, 27849408, 31873999,
];

/// Host I/O prices in ink (`crates/arbutil/src/pricing.rs`).
pub mod hostio {
    /// Any hostio.
    pub const HOSTIO: u64 = 8_400;
    /// Per pointer argument.
    pub const PTR: u64 = 13_440 - HOSTIO;
    /// Hostios that go to the EVM.
    pub const EVM_API: u64 = 59_673;

    pub const READ_ARGS: u64 = HOSTIO;
    pub const WRITE_RESULT: u64 = HOSTIO;
    pub const STORAGE_LOAD: u64 = HOSTIO + 2 * PTR;
    pub const STORAGE_CACHE: u64 = HOSTIO + 2 * PTR;
    pub const STORAGE_FLUSH: u64 = HOSTIO + EVM_API;
    pub const TRANSIENT: u64 = HOSTIO + 2 * PTR + EVM_API;
    pub const CALL: u64 = HOSTIO + 3 * PTR + EVM_API;
    pub const CREATE1: u64 = HOSTIO + 3 * PTR + EVM_API;
    pub const CREATE2: u64 = HOSTIO + 4 * PTR + EVM_API;
    pub const READ_RETURN_DATA: u64 = HOSTIO + EVM_API;
    pub const RETURN_DATA_SIZE: u64 = HOSTIO;
    pub const EMIT_LOG: u64 = HOSTIO + EVM_API;
    pub const ACCOUNT_BALANCE: u64 = HOSTIO + 2 * PTR + EVM_API;
    pub const ACCOUNT_CODE: u64 = HOSTIO + EVM_API;
    pub const ACCOUNT_CODE_SIZE: u64 = HOSTIO + EVM_API;
    pub const ACCOUNT_CODEHASH: u64 = HOSTIO + 2 * PTR + EVM_API;
    /// Hostios that write one pointer's worth (address or word) and nothing else.
    pub const WITH_PTR: u64 = HOSTIO + PTR;

    /// Writing `bytes` into the program's memory.
    pub fn write_price(bytes: u32) -> u64 {
        5_040u64.saturating_add(30u64.saturating_mul(u64::from(bytes.saturating_sub(32))))
    }
    /// Reading `bytes` out of the program's memory.
    pub fn read_price(bytes: u32) -> u64 {
        16_381u64.saturating_add(55u64.saturating_mul(u64::from(bytes.saturating_sub(32))))
    }
    /// `native_keccak256` over `bytes` (I/O included).
    pub fn keccak_price(bytes: u32) -> u64 {
        let words = u64::from(bytes.div_ceil(32)).saturating_sub(2);
        121_800u64.saturating_add(21_000u64.saturating_mul(words))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_model_matches_arbitrum() {
        // The first two pages of a transaction are free.
        assert_eq!(memory_gas(2, 0, 0), 0);
        assert_eq!(memory_gas(1, 1, 1), 0);
        // A third page: 1,000 linear; exp(3) - exp(0) = 0.
        assert_eq!(memory_gas(1, 2, 2), 1_000);
        // 10 pages at once from nothing: 8 paid pages, exp(10) - exp(0) = 2.
        assert_eq!(memory_gas(10, 0, 0), 8_002);
        // Pages reopened below the high-water mark pay only the linear part.
        assert_eq!(memory_gas(2, 3, 10), 2_000);
        // The whole 128 pages: 126 x 1,000 + 31,873,999 - 1.
        assert_eq!(memory_gas(128, 0, 0), 126_000 + 31_873_998);
        // Past the table: saturates rather than wraps.
        assert_eq!(memory_gas(200, 0, 0), u64::MAX);
    }

    #[test]
    fn hostio_prices() {
        assert_eq!(hostio::PTR, 5_040);
        assert_eq!(hostio::STORAGE_FLUSH, 68_073);
        assert_eq!(hostio::CALL, 83_193);
        assert_eq!(hostio::write_price(32), 5_040);
        assert_eq!(hostio::write_price(100), 5_040 + 30 * 68);
        assert_eq!(hostio::read_price(0), 16_381);
        assert_eq!(hostio::keccak_price(64), 121_800);
        assert_eq!(hostio::keccak_price(65), 121_800 + 21_000);
    }

    #[test]
    fn blocks_are_charged_before_they_run() {
        let wasm = wat::parse_str(
            r#"(module
                 (memory (export "memory") 1)
                 (global $g (mut i32) (i32.const 0))
                 (func (export "user_entrypoint") (param i32) (result i32)
                   (local.get 0)))"#,
        )
        .unwrap();
        let out = instrument(&wasm).unwrap();
        // One block: local.get (75) + end (1) + header (2,450).
        let parsed = wasmparser::Parser::new(0).parse_all(&out.wasm);
        let mut saw_const = false;
        for p in parsed {
            if let Payload::CodeSectionEntry(body) = p.unwrap() {
                for op in body.get_operators_reader().unwrap() {
                    if let Operator::I64Const { value } = op.unwrap() {
                        assert_eq!(value, 75 + 1 + 2_450);
                        saw_const = true;
                    }
                }
            }
        }
        assert!(saw_const, "the block header was inserted");
        // The new globals come after the module's own one, and are exported.
        let engine = wasmi::Engine::default();
        let module = wasmi::Module::new(&engine, &out.wasm).expect("instrumented wasm validates");
        let names: Vec<_> = module.exports().map(|e| e.name().to_string()).collect();
        assert!(names.contains(&INK_LEFT.to_string()) && names.contains(&INK_STATUS.to_string()));
        assert_eq!(out.costs.footprint, 1);
    }

    #[test]
    fn unsupported_bulk_ops_are_refused() {
        let wasm = wat::parse_str(
            r#"(module
                 (memory (export "memory") 1)
                 (data $d "abc")
                 (func (export "user_entrypoint") (param i32) (result i32)
                   (memory.init $d (i32.const 0) (i32.const 0) (i32.const 3))
                   (i32.const 0)))"#,
        )
        .unwrap();
        let err = instrument(&wasm).unwrap_err();
        assert!(err.to_string().contains("not supported"), "{err}");
    }

    #[test]
    fn call_gas_formula() {
        let c = ProgramCosts { footprint: 1, init_cost: 100, cached_init_cost: 7 };
        assert_eq!(c.call_gas(), 8_832 + 100 + 352 + 7);
    }
}
