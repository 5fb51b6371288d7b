//! What the deployer's devnet tests share: the shipped config, the contracts' wasm (built
//! once per test binary) and an in-process devnet.
#![allow(dead_code)]

use std::{path::PathBuf, sync::Mutex};

use alloy::primitives::Address;
use deployer::{
    config::Config,
    plan::Env,
    wasm::{self, WasmSource},
};
use devnet::DevnetConfig;

pub fn shipped_config() -> (Config, PathBuf) {
    let path = deployer::workspace_root().join("deployments/config.toml");
    (Config::load(&path).expect("shipped config"), path)
}

/// Built once per test binary, shared by the tests.
pub fn wasm_dir() -> PathBuf {
    static DIR: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut dir = DIR.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = dir.as_ref() {
        return d.clone();
    }
    let d = match std::env::var_os("DEPLOY_WASM_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let (config, _) = shipped_config();
            let env = Env {
                owner: Address::ZERO,
                treasury: Address::ZERO,
                config: &config,
                network: &config.networks["devnet"],
            };
            let root = deployer::workspace_root();
            wasm::load(&WasmSource::Build { workspace: root.clone() }, &deployer::packages(&env))
                .expect("contracts build for wasm32 (rustup target add wasm32-unknown-unknown)");
            wasm::target_dir(&root).join("wasm32-unknown-unknown/release")
        }
    };
    *dir = Some(d.clone());
    d
}

pub async fn start_devnet() -> devnet::Devnet {
    devnet::spawn(DevnetConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        chain_id: 412346,
        ..Default::default()
    })
    .await
    .expect("devnet starts")
}
