//! Devnet throughput: prints a table of plain transfers/s and Stylus calls/s, through
//! JSON-RPC over HTTP and in-process, and the machine it ran on.
//!
//! ```sh
//! cargo build --release --target wasm32-unknown-unknown -p compute-token   # the Stylus contract
//! CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
//!     cargo run -p devnet --release --example bench            # [N] transactions per row, default 500
//! ```
//!
//! It starts a devnet in-process on a free port (an HTTP server like `cargo run -p devnet`)
//! and talks to it through alloy's HTTP provider. Transactions are signed before the clock
//! starts, then sent one after another with `eth_sendRawTransaction` (each is mined into its
//! own block on arrival), so a row measures request handling + execution + mining, not
//! signing. The in-process rows hand the same kind of pre-signed transactions straight to
//! the chain (`Devnet::rpc.chain().send_raw_transaction`), with no HTTP, JSON or alloy in
//! the way: the difference between the two is the transport's cost. The last
//! transaction's receipt is checked. (An example rather than a `[[bin]]` because it drives
//! the devnet through alloy, a dev-dependency.)

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use alloy::{
    eips::eip2718::Encodable2718,
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{keccak256, Address, Bytes, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
    sol,
    sol_types::{SolCall, SolValue},
};
use common::*;

sol! {
    interface IComputeToken {
        function transfer(address to, uint256 value) external returns (bool);
        function balanceOf(address account) external view returns (uint256);
        function setMinter(address minter) external;
        function mint(address to, uint256 value) external;
    }
    interface ArbWasm {
        function activateProgram(address program) external payable returns (uint16 version, uint256 dataFee);
    }
}

const ARBWASM: Address = Address::new([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x71]);

/// One of 200 recipient addresses (away from the precompile range 0x01..0xff).
fn dest(k: usize) -> Address {
    let mut a = [0xbb; 20];
    a[19] = (k % 200) as u8;
    Address::from(a)
}

struct Row {
    name: &'static str,
    n: usize,
    secs: f64,
    gas: Option<u64>,
}

/// Signs `n` transactions from dev account `i` built by `make(k)`, with consecutive nonces.
async fn presign(
    p: &alloy::providers::DynProvider,
    i: usize,
    n: usize,
    gas: u64,
    make: impl Fn(usize) -> TransactionRequest,
) -> Vec<Bytes> {
    let wallet = EthereumWallet::from(signer(i));
    let nonce = p.get_transaction_count(address(i)).await.unwrap();
    let mut out = Vec::with_capacity(n);
    for k in 0..n {
        let tx = make(k)
            .with_from(address(i))
            .with_nonce(nonce + k as u64)
            .with_chain_id(CHAIN_ID)
            .with_gas_limit(gas)
            .with_max_fee_per_gas(1_000_000_000)
            .with_max_priority_fee_per_gas(0);
        let envelope = tx.build(&wallet).await.unwrap();
        out.push(envelope.encoded_2718().into());
    }
    out
}

/// Hands pre-signed transactions to the chain in-process, one by one; returns (seconds, gas
/// used by the last one).
async fn send_all_in_process(
    dn: &devnet::Devnet,
    p: &alloy::providers::DynProvider,
    raws: &[Bytes],
) -> (f64, u64) {
    let start = Instant::now();
    let mut last = None;
    for raw in raws {
        last = Some(dn.rpc.chain().send_raw_transaction(raw).expect("transaction accepted"));
    }
    let secs = start.elapsed().as_secs_f64();
    let r = p.get_transaction_receipt(last.unwrap()).await.unwrap().unwrap();
    assert!(r.status(), "the last transaction succeeded");
    (secs, r.gas_used)
}

/// One line about the machine: CPU model, cores, memory, OS.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    format!(
        "{model}, {cores} cores available, {:.1} GiB RAM, {} {}",
        mem_kb as f64 / 1024.0 / 1024.0,
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// Sends pre-signed transactions one by one; returns (seconds, gas used by the last one).
async fn send_all(p: &alloy::providers::DynProvider, raws: &[Bytes]) -> (f64, u64) {
    let start = Instant::now();
    let mut last = None;
    for raw in raws {
        last = Some(*p.send_raw_transaction(raw).await.unwrap().tx_hash());
    }
    let secs = start.elapsed().as_secs_f64();
    let r = p.get_transaction_receipt(last.unwrap()).await.unwrap().unwrap();
    assert!(r.status(), "the last transaction succeeded");
    (secs, r.gas_used)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(500);
    let dn = start().await;
    let p = provider(&dn, 0);
    let mut rows = Vec::new();

    // 1. Plain ETH transfers.
    let raws = presign(&p, 1, n, 21_000, |k| {
        TransactionRequest::default().with_to(dest(k)).with_value(U256::from(1))
    })
    .await;
    let (secs, gas) = send_all(&p, &raws).await;
    rows.push(Row { name: "ETH transfer (eth_sendRawTransaction over HTTP)", n, secs, gas: Some(gas) });
    let raws = presign(&p, 3, n, 21_000, |k| {
        TransactionRequest::default().with_to(dest(k)).with_value(U256::from(1))
    })
    .await;
    let (secs, gas) = send_all_in_process(&dn, &p, &raws).await;
    rows.push(Row { name: "ETH transfer (in-process)", n, secs, gas: Some(gas) });

    // 2. eth_getBalance, for scale.
    let start = Instant::now();
    for k in 0..n {
        p.get_balance(dest(k)).await.unwrap();
    }
    rows.push(Row { name: "eth_getBalance", n, secs: start.elapsed().as_secs_f64(), gas: None });

    // 3. Stylus: the project's compute-token, deployed, activated, constructed, minted.
    let wasm = compute_token_wasm();
    let code = stylus_code(&wasm);
    let r = p
        .send_transaction(TransactionRequest::default().with_deploy_code(deploy_prelude(&code)))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let token = r.contract_address.unwrap();
    let activate = TransactionRequest::default()
        .with_to(ARBWASM)
        .with_input(ArbWasm::activateProgramCall { program: token }.abi_encode())
        .with_value(U256::from(10).pow(U256::from(17)));
    assert!(p.send_transaction(activate).await.unwrap().get_receipt().await.unwrap().status());
    let selector = &keccak256("stylus_constructor()")[..4];
    let args = (
        String::from("H100 seconds"),
        String::from("H100s"),
        keccak256("H100"),
        String::from("H100"),
        address(0),
    )
        .abi_encode_params();
    let ctor: Bytes = [selector, &args[..]].concat().into();
    let call = |data: Vec<u8>| TransactionRequest::default().with_to(token).with_input(data);
    for data in [
        ctor.to_vec(),
        IComputeToken::setMinterCall { minter: address(0) }.abi_encode(),
        IComputeToken::mintCall { to: address(2), value: U256::from(1_000_000_000u64) }.abi_encode(),
    ] {
        assert!(p.send_transaction(call(data)).await.unwrap().get_receipt().await.unwrap().status());
    }
    let raws = presign(&p, 2, n, 200_000, |k| {
        call(IComputeToken::transferCall { to: dest(k), value: U256::from(1) }.abi_encode())
    })
    .await;
    let (secs, gas) = send_all(&p, &raws).await;
    rows.push(Row {
        name: "Stylus compute-token transfer (eth_sendRawTransaction over HTTP)",
        n,
        secs,
        gas: Some(gas),
    });
    let raws = presign(&p, 2, n, 200_000, |k| {
        call(IComputeToken::transferCall { to: dest(k), value: U256::from(1) }.abi_encode())
    })
    .await;
    let (secs, gas) = send_all_in_process(&dn, &p, &raws).await;
    rows.push(Row { name: "Stylus compute-token transfer (in-process)", n, secs, gas: Some(gas) });

    // 4. Stylus reads through eth_call.
    let start = Instant::now();
    for k in 0..n {
        let data = IComputeToken::balanceOfCall { account: dest(k) }.abi_encode();
        p.call(call(data)).await.unwrap();
    }
    rows.push(Row {
        name: "Stylus compute-token balanceOf (eth_call)",
        n,
        secs: start.elapsed().as_secs_f64(),
        gas: None,
    });

    let profile = if cfg!(debug_assertions) { "debug build" } else { "release build" };
    println!();
    println!("devnet throughput, one client, sequential requests, one block per transaction ({profile})");
    println!("machine: {}", machine());
    println!();
    println!("| workload | requests | seconds | per second | gas each |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for r in rows {
        let gas = r.gas.map(|g| g.to_string()).unwrap_or_else(|| "-".into());
        println!("| {} | {} | {:.2} | {:.0} | {} |", r.name, r.n, r.secs, r.n as f64 / r.secs, gas);
    }
}
