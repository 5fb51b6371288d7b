//! The one way this chain runs a transaction or a call: revm's mainnet handler driven in
//! inspector mode, with [`StylusInspector`] intercepting every call frame. Stock revm treats
//! `0xEF` code as invalid, so *every* path (transactions, eth_call, eth_estimateGas) must go
//! through here.

use std::sync::Arc;

use revm::{
    context::{BlockEnv, CfgEnv, TxEnv},
    context_interface::result::{ExecutionResult, HaltReason},
    database::{CacheDB, EmptyDB},
    primitives::hardfork::SpecId,
    state::EvmState,
    Context, InspectEvm, Journal, MainBuilder,
};

use crate::stylus::{ProgramCache, StylusInspector};

/// The chain's whole state: an in-memory database with no backing store.
pub type Db = CacheDB<EmptyDB>;
/// The revm context type every execution uses. It owns its database (no borrowed lifetimes),
/// which the Stylus host relies on (see `stylus::Host`).
pub type Ctx = Context<BlockEnv, TxEnv, CfgEnv, Db, Journal<Db>, ()>;

/// Errors that stop a transaction from being executed at all (it is then not included).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{0}")]
    Invalid(String),
}

/// The hardfork this chain follows. Arbitrum's current ArbOS follows Prague's EVM rules; we
/// stay off Amsterdam on purpose (its state-gas reservoir is not mirrored for Stylus frames).
pub const SPEC: SpecId = SpecId::PRAGUE;

/// Builds the configuration for a chain id.
pub fn cfg(chain_id: u64) -> CfgEnv {
    let mut cfg = CfgEnv::new_with_spec(SPEC);
    cfg.chain_id = chain_id;
    // Stylus programs are deployed as code beginning `EF F0 00`, which EIP-3541 forbids on
    // Ethereum. Arbitrum admits it; revm can only switch the check off entirely (see README:
    // other 0xEF-prefixed code is admitted too).
    cfg.disable_eip3541 = true;
    cfg
}

/// Outcome of one execution, before anything is committed.
pub struct Executed {
    pub result: ExecutionResult<HaltReason>,
    pub state: EvmState,
}

/// Native stack for one execution. Calls out of Stylus programs recurse natively (wasm ->
/// host -> nested revm loop -> wasm ...), up to the EVM's 1024-frame limit; a stack
/// overflow would abort the whole process, so every execution gets a generous stack of
/// its own (reserved lazily by the OS, so unused stack costs nothing).
const EXECUTION_STACK: usize = 1 << 30;

/// Runs `tx` on `db` (taken by value and handed back, because the context must own it).
pub fn execute(
    db: Db,
    cfg: CfgEnv,
    block: BlockEnv,
    tx: TxEnv,
    programs: Arc<ProgramCache>,
) -> (Db, Result<Executed, ExecError>) {
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .name("devnet-exec".into())
            .stack_size(EXECUTION_STACK)
            .spawn_scoped(s, move || execute_here(db, cfg, block, tx, programs))
            .expect("spawn execution thread");
        match worker.join() {
            Ok(out) => out,
            // The state given to a failed execution is lost with it; callers pass a copy.
            Err(_) => (Db::default(), Err(ExecError::Invalid("internal error: execution panicked".into()))),
        }
    })
}

fn execute_here(
    db: Db,
    cfg: CfgEnv,
    block: BlockEnv,
    tx: TxEnv,
    programs: Arc<ProgramCache>,
) -> (Db, Result<Executed, ExecError>) {
    let ctx: Ctx = Context::<BlockEnv, TxEnv, CfgEnv, Db>::new(db, SPEC).with_cfg(cfg).with_block(block);
    let mut evm = ctx.build_mainnet_with_inspector(StylusInspector::new(programs));
    let out = evm.inspect_tx(tx);
    let db = std::mem::take(&mut evm.ctx.journaled_state.database);
    let out = match out {
        Ok(r) => Ok(Executed { result: r.result, state: r.state }),
        Err(e) => Err(ExecError::Invalid(e.to_string())),
    };
    (db, out)
}
