//! deployer: deploys the project's Stylus contracts the way `cargo stylus deploy` does,
//! wires them, and records the result in `deployments/<network>.json`.
//!
//! Modules: [`stylus`] (code layout, pure), [`program`] (deploy + activate one program),
//! [`config`] (the TOML configuration), [`plan`] (contract and wiring tables, redeploy
//! rules, pure), [`wire`] (wiring steps on chain), [`deploy`] (one run), [`record`] (the
//! JSON record), [`wasm`] (building or loading wasm), [`network`] (RPC URL and key),
//! [`dry_run`] (plan and fees without sending), [`seed`] (the devnet demo market).

pub mod config;
pub mod deploy;
pub mod dry_run;
pub mod network;
pub mod plan;
pub mod program;
pub mod record;
pub mod seed;
pub mod services;
pub mod stylus;
pub mod wasm;
pub mod wire;

/// The packages the contract table of `env` deploys.
pub fn packages(env: &plan::Env) -> Vec<&'static str> {
    let mut p: Vec<_> = plan::contracts(env).iter().map(|s| s.package).collect();
    p.sort();
    p.dedup();
    p
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}
