//! Stylus execution: programs stored as `EF F0 00 <dict> || brotli(wasm)` run in wasmi.
//!
//! Design (why it looks like this): revm's inspector `call` hook sees every call frame
//! before revm builds an interpreter for it, with the whole context (journal, block, tx)
//! mutably borrowed. When the callee's code is a Stylus program, the hook runs the wasm
//! to completion itself and hands revm a finished `CallOutcome`; revm then treats the
//! frame like a precompile result. The hook does what revm's frame setup would have done:
//! journal checkpoint, value transfer, commit or revert. Calls *out of* a Stylus program
//! run a nested revm exec loop over the same context (see [`StylusInspector::nested`]),
//! so Stylus -> EVM -> Stylus works with ordinary journal checkpoints.

mod host;
pub mod meter;
mod program;

pub use program::{decompress, is_stylus, validate, Program, ProgramCache, StylusError};

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    sync::Arc,
};

use revm::{
    context::ContextTr,
    context_interface::result::EVMError,
    context_interface::JournalTr,
    context_interface::LocalContextTr,
    handler::{EthFrame, FrameResult, MainnetHandler},
    inspector::InspectorHandler,
    interpreter::{
        interpreter::EthInterpreter, CallInputs, CallOutcome, CallValue, CreateOutcome, FrameInput, Gas,
        InstructionResult, InterpreterResult, SharedMemory,
    },
    primitives::{Address, Bytes},
    Context, Inspector, MainBuilder,
};

use crate::{
    arbwasm,
    evm::{Ctx, Db, SPEC},
};

/// Arbitrum's ink price: ink per gas.
pub const INK_PER_GAS: u64 = meter::INK_PRICE;

/// The inspector that routes calls into Stylus programs and ArbWasm.
#[derive(Clone)]
pub struct StylusInspector {
    pub(crate) programs: Arc<ProgramCache>,
    /// Addresses of the Stylus programs currently executing, outermost first: the source of
    /// `msg_reentrant`.
    pub(crate) stack: Rc<RefCell<Vec<Address>>>,
    /// Wasm pages of this transaction: (open now, most ever open), for the memory model.
    pub(crate) pages: Rc<Cell<(u16, u16)>>,
}

impl StylusInspector {
    pub fn new(programs: Arc<ProgramCache>) -> Self {
        Self { programs, stack: Rc::new(RefCell::new(Vec::new())), pages: Rc::new(Cell::new((0, 0))) }
    }

    /// Gas for opening `new` more pages in this transaction (nothing is recorded).
    pub(crate) fn page_cost(&self, new: u16) -> u64 {
        let (open, ever) = self.pages.get();
        meter::memory_gas(new, open, ever)
    }

    /// Opens `new` pages and returns their gas (nitro's `AddStylusPages` + `GasCost`).
    pub(crate) fn add_pages(&self, new: u16) -> u64 {
        let (open, ever) = self.pages.get();
        let cost = meter::memory_gas(new, open, ever);
        let open_now = open.saturating_add(new);
        self.pages.set((open_now, ever.max(open_now)));
        cost
    }

    /// Runs one frame (call or create) to completion in a nested revm exec loop over `ctx`.
    ///
    /// The context is moved into a temporary EVM and moved back afterwards; the journal keeps
    /// its depth and checkpoints, so the nested frame commits or reverts exactly as a child
    /// frame of the EVM would. Memory for EVM children is carved out of the shared buffer
    /// past everything the outer frames use.
    pub(crate) fn nested(&self, ctx: &mut Ctx, input: FrameInput) -> FrameResult {
        let depth = ctx.journal().depth();
        let buffer = ctx.local().shared_memory_buffer().clone();
        let mut base = SharedMemory::new_with_buffer(buffer);
        let memory = base.new_child_context();
        let placeholder: Ctx = Context::<_, _, _, Db>::new(Db::default(), SPEC);
        let taken = std::mem::replace(ctx, placeholder);
        let mut evm = taken.build_mainnet_with_inspector(self.clone());
        let mut handler =
            MainnetHandler::<_, EVMError<core::convert::Infallible>, EthFrame<EthInterpreter>>::default();
        let init =
            revm::interpreter::interpreter_action::FrameInit { depth, memory, frame_input: input.clone() };
        let result = handler.inspect_run_exec_loop(&mut evm, init);
        *ctx = evm.ctx;
        base.free_child_context();
        match result {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "nested frame failed");
                let res =
                    InterpreterResult::new(InstructionResult::FatalExternalError, Bytes::new(), Gas::new(0));
                match input {
                    FrameInput::Create(_) => FrameResult::Create(CreateOutcome::new(res, None)),
                    _ => FrameResult::Call(CallOutcome::new(res, 0..0)),
                }
            }
        }
    }
}

impl Inspector<Ctx> for StylusInspector {
    fn call(&mut self, ctx: &mut Ctx, inputs: &mut CallInputs) -> Option<CallOutcome> {
        if inputs.bytecode_address == arbwasm::ADDRESS {
            return Some(arbwasm::call(self, ctx, inputs));
        }
        if crate::arbos::handles(inputs.bytecode_address) {
            return Some(crate::arbos::call(ctx, inputs));
        }
        if !is_stylus(inputs.known_bytecode.1.original_byte_slice()) {
            return None;
        }
        Some(host::run_program(self, ctx, inputs))
    }
}

/// Builds a finished call outcome.
pub(crate) fn outcome(
    inputs: &CallInputs,
    result: InstructionResult,
    output: Bytes,
    gas_used: u64,
    refund: i64,
) -> CallOutcome {
    let mut gas = Gas::new_with_regular_gas_and_reservoir(inputs.gas_limit, inputs.reservoir);
    if !gas.record_regular_cost(gas_used) {
        gas.spend_all();
    }
    if result.is_ok() {
        gas.record_refund(refund);
    }
    CallOutcome::new(InterpreterResult::new(result, output, gas), inputs.return_memory_offset.clone())
}

/// Frame prologue shared by Stylus programs and ArbWasm: journal checkpoint plus value
/// transfer, as revm's own call frame does. Returns the checkpoint or a finished failure.
pub(crate) fn enter(
    ctx: &mut Ctx,
    inputs: &CallInputs,
) -> Result<revm::context_interface::journaled_state::JournalCheckpoint, Box<CallOutcome>> {
    if ctx.journal().depth() > revm::primitives::constants::CALL_STACK_LIMIT as usize {
        return Err(Box::new(outcome(inputs, InstructionResult::CallTooDeep, Bytes::new(), 0, 0)));
    }
    let checkpoint = ctx.journal_mut().checkpoint();
    if let CallValue::Transfer(value) = inputs.value {
        match ctx.journal_mut().transfer(inputs.caller, inputs.target_address, value) {
            Ok(None) => {}
            Ok(Some(err)) => {
                ctx.journal_mut().checkpoint_revert(checkpoint);
                return Err(Box::new(outcome(inputs, err.into(), Bytes::new(), 0, 0)));
            }
            Err(_) => {
                ctx.journal_mut().checkpoint_revert(checkpoint);
                return Err(Box::new(outcome(
                    inputs,
                    InstructionResult::FatalExternalError,
                    Bytes::new(),
                    0,
                    0,
                )));
            }
        }
    } else {
        // Load the callee so later storage access finds it in the journal.
        let _ = ctx.journal_mut().load_account(inputs.target_address);
    }
    Ok(checkpoint)
}
