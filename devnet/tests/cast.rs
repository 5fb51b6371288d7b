//! Interop with foundry's `cast` (npm `@foundry-rs/cast`): chain-id, balance, a value
//! transfer with `cast send`, and `cast call`, against an in-process devnet.
//!
//! The binary is `$CAST` if set, else `cast` on PATH. When neither exists the test prints
//! that it was skipped and why, and passes: install it with
//! `npm install -g @foundry-rs/cast@1.7.1` (or `npm install --no-save` and point `CAST` at
//! `node_modules/.bin/cast`).

mod common;

use std::{path::PathBuf, process::Command};

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
};
use common::*;

fn find_cast() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CAST") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("cast")).find(|p| p.is_file())
}

fn cast(bin: &PathBuf, args: &[&str]) -> String {
    let out =
        Command::new(bin).args(args).output().unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    assert!(
        out.status.success(),
        "cast {} failed:\nstdout: {}\nstderr: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runtime: return(calldataload(0) + 1) — a contract for `cast call` to talk to.
fn plus_one_runtime() -> Vec<u8> {
    vec![0x60, 0x01, 0x60, 0x00, 0x35, 0x01, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3]
}

#[tokio::test(flavor = "multi_thread")]
async fn cast_reads_and_sends() {
    let Some(bin) = find_cast() else {
        eprintln!(
            "SKIPPED cast_reads_and_sends: no `cast` binary ($CAST unset and none on PATH); \
             install it with `npm install -g @foundry-rs/cast@1.7.1`"
        );
        return;
    };
    let dn = start().await;
    let url = dn.url();
    let version = cast(&bin, &["--version"]);
    eprintln!("using {} ({})", bin.display(), version.lines().next().unwrap_or_default());

    assert_eq!(cast(&bin, &["chain-id", "--rpc-url", &url]), CHAIN_ID.to_string());
    assert_eq!(cast(&bin, &["block-number", "--rpc-url", &url]), "0");
    let alice = address(0).to_string();
    assert_eq!(cast(&bin, &["balance", &alice, "--rpc-url", &url]), "10000000000000000000000");
    assert_eq!(cast(&bin, &["balance", "--ether", &alice, "--rpc-url", &url]), "10000.000000000000000000");

    // A value transfer signed by cast, to a fresh address.
    let to = Address::repeat_byte(0x42).to_string();
    let key = format!("0x{}", devnet::accounts::ANVIL_KEYS[0]);
    let out =
        cast(&bin, &["send", "--rpc-url", &url, "--private-key", &key, "--value", "1.5ether", &to, "--json"]);
    let receipt: serde_json::Value = serde_json::from_str(&out).expect("cast send --json prints the receipt");
    assert_eq!(receipt["status"], "0x1", "{out}");
    assert_eq!(cast(&bin, &["balance", &to, "--rpc-url", &url]), "1500000000000000000");
    let p = provider(&dn, 1);
    assert_eq!(
        p.get_balance(Address::repeat_byte(0x42)).await.unwrap(),
        U256::from(1_500_000_000_000_000_000u64)
    );
    assert_eq!(cast(&bin, &["nonce", &alice, "--rpc-url", &url]), "1");
    let tx = receipt["transactionHash"].as_str().unwrap();
    let status = cast(&bin, &["receipt", tx, "status", "--rpc-url", &url]);
    assert!(status == "true" || status.starts_with('1'), "{status}");

    // cast call against an EVM contract (deployed with alloy), with raw calldata.
    let r = p
        .send_transaction(TransactionRequest::default().with_deploy_code(deploy_prelude(&plus_one_runtime())))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let c = r.contract_address.unwrap().to_string();
    // The contract reads calldata word 0, so send raw data rather than a selector.
    let word = format!("0x{}", "0".repeat(62) + "29");
    assert_eq!(
        cast(&bin, &["call", &c, "--data", &word, "--rpc-url", &url]),
        format!("0x{}2a", "0".repeat(62))
    );
    // And a precompile through its ABI: ArbSys.arbChainID().
    assert_eq!(
        cast(
            &bin,
            &[
                "call",
                "0x0000000000000000000000000000000000000064",
                "arbChainID()(uint256)",
                "--rpc-url",
                &url
            ]
        )
        .split_whitespace()
        .next()
        .unwrap(),
        CHAIN_ID.to_string()
    );
}
