//! devnet: a local Arbitrum-Stylus-compatible chain in one process.
//!
//! Modules: [`evm`] (revm setup), [`stylus`] (wasm programs and their host interface),
//! [`arbwasm`] (activation precompile), [`arbos`] (ArbSys and ArbOwnerPublic),
//! [`predeploys`] (CREATE2 factory and StylusDeployer at genesis), [`chain`] (blocks,
//! receipts, state, interval mining, state files), [`rpc`] (JSON-RPC methods), [`server`]
//! (HTTP transport), [`ws`] (WebSocket transport and subscriptions), [`accounts`] (dev keys).

pub mod accounts;
pub mod arbos;
pub mod arbwasm;
pub mod chain;
pub mod evm;
pub mod predeploys;
pub mod rpc;
pub mod server;
pub mod stylus;
pub mod ws;

pub use server::{spawn, Devnet, DevnetConfig};
