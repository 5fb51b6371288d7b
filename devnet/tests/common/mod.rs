//! Shared helpers: start a devnet in-process on a free port, connect alloy to it.
#![allow(dead_code)]

use std::path::PathBuf;

use alloy::{
    network::EthereumWallet,
    primitives::{Address, Bytes},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use devnet::{accounts::ANVIL_KEYS, Devnet, DevnetConfig};

pub const CHAIN_ID: u64 = 412346;

/// A devnet on 127.0.0.1:<free port>.
pub async fn start() -> Devnet {
    devnet::spawn(DevnetConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        chain_id: CHAIN_ID,
        ..Default::default()
    })
    .await
    .expect("devnet starts")
}

/// Signer for anvil dev account `i`.
pub fn signer(i: usize) -> PrivateKeySigner {
    ANVIL_KEYS[i].parse().expect("valid key")
}

/// A provider that signs with anvil dev account `i`.
pub fn provider(devnet: &Devnet, i: usize) -> DynProvider {
    ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer(i)))
        .connect_http(devnet.url().parse().unwrap())
        .erased()
}

/// EVM init code that deploys `runtime` as the contract's code: CODECOPY the bytes after
/// this 14-byte prelude into memory and RETURN them (what cargo-stylus deploys, too).
pub fn deploy_prelude(runtime: &[u8]) -> Bytes {
    let n = u16::try_from(runtime.len()).expect("runtime fits a PUSH2").to_be_bytes();
    let mut code = vec![0x61, n[0], n[1], 0x60, 0x0e, 0x60, 0x00, 0x39, 0x61, n[0], n[1], 0x60, 0x00, 0xf3];
    code.extend_from_slice(runtime);
    code.into()
}

/// Stylus program code: `EF F0 00`, dictionary 0 (none), brotli(wasm).
pub fn stylus_code(wasm: &[u8]) -> Vec<u8> {
    let mut code = vec![0xEF, 0xF0, 0x00, 0x00];
    {
        let mut w = brotli::CompressorWriter::new(&mut code, 4096, 11, 22);
        std::io::Write::write_all(&mut w, wasm).unwrap();
    }
    code
}

/// The compute-token wasm: `COMPUTE_TOKEN_WASM`, or the workspace's release build (built
/// here if missing). Fails loudly: the Stylus tests must not silently skip.
pub fn compute_token_wasm() -> Vec<u8> {
    if let Ok(p) = std::env::var("COMPUTE_TOKEN_WASM") {
        return std::fs::read(&p).unwrap_or_else(|e| panic!("COMPUTE_TOKEN_WASM={p}: {e}"));
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join("target/wasm32-unknown-unknown/release/compute_token.wasm");
    if !path.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--release", "--target", "wasm32-unknown-unknown", "-p", "compute-token"])
            .current_dir(&root)
            .env("CARGO_TARGET_DIR", root.join("target"))
            .status();
        assert!(
            matches!(status, Ok(s) if s.success()),
            "could not build compute-token wasm; run `cargo build --release --target \
             wasm32-unknown-unknown -p compute-token` or set COMPUTE_TOKEN_WASM"
        );
    }
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("compute-token wasm missing at {}: {e}; build it or set COMPUTE_TOKEN_WASM", path.display())
    })
}

/// Address of anvil dev account `i`.
pub fn address(i: usize) -> Address {
    signer(i).address()
}
