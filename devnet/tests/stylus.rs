//! Stylus: the project's real compute-token wasm deployed, activated and exercised through
//! JSON-RPC, plus activation failures.

mod common;

use alloy::{
    network::TransactionBuilder,
    primitives::{keccak256, Address, Bytes, B256, U256},
    providers::{DynProvider, Provider},
    rpc::types::{Filter, TransactionRequest},
    sol,
    sol_types::{SolCall, SolError, SolEvent, SolValue},
};
use common::*;

sol! {
    #[sol(rpc)]
    #[derive(Debug, PartialEq)]
    interface IComputeToken {
        function name() external view returns (string memory);
        function symbol() external view returns (string memory);
        function decimals() external view returns (uint8);
        function totalSupply() external view returns (uint256);
        function balanceOf(address account) external view returns (uint256);
        function transfer(address to, uint256 value) external returns (bool);
        function classId() external view returns (bytes32);
        function admin() external view returns (address);
        function minter() external view returns (address);
        function setMinter(address minter) external;
        function mint(address to, uint256 value) external;

        event Transfer(address indexed from, address indexed to, uint256 value);
        event MinterSet(address indexed minter);
        error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed);
        error UnauthorizedMinter(address caller);
    }

    #[sol(rpc)]
    #[derive(Debug, PartialEq)]
    interface ArbWasm {
        function activateProgram(address program) external payable returns (uint16 version, uint256 dataFee);
        function stylusVersion() external view returns (uint16 version);
        function codehashVersion(bytes32 codehash) external view returns (uint16 version);
        function programVersion(address program) external view returns (uint16 version);
        event ProgramActivated(bytes32 indexed codehash, bytes32 moduleHash, address program, uint256 dataFee, uint16 version);
        error ProgramNotActivated();
    }
}

const ARBWASM: Address = Address::new([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x71]);

async fn deploy(p: &DynProvider, code: &[u8]) -> Address {
    let r = p
        .send_transaction(TransactionRequest::default().with_deploy_code(deploy_prelude(code)))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(r.status(), "deployment succeeds");
    r.contract_address.unwrap()
}

/// Revert data of an alloy RPC error.
fn revert_data(err: &alloy::transports::RpcError<alloy::transports::TransportErrorKind>) -> Bytes {
    let payload = err.as_error_resp().unwrap_or_else(|| panic!("not a JSON-RPC error: {err}"));
    assert_eq!(payload.code, 3, "reverts are code 3: {payload:?}");
    payload.as_revert_data().unwrap_or_default()
}

fn constructor_calldata(admin: Address) -> Bytes {
    // stylus-sdk 0.10: the constructor is routed by the selector of `stylus_constructor()`.
    let selector = &keccak256("stylus_constructor()")[..4];
    let args = (
        String::from("H100 seconds"),
        String::from("H100s"),
        keccak256("H100-SXM5-80GB"),
        String::from("H100-SXM5-80GB"),
        admin,
    )
        .abi_encode_params();
    [selector, &args[..]].concat().into()
}

#[tokio::test]
async fn compute_token_deploy_activate_and_use() {
    let wasm = compute_token_wasm();
    let dn = start().await;
    let p = provider(&dn, 0);
    let admin = address(0);
    let bob = address(1);

    let code = stylus_code(&wasm);
    let token = deploy(&p, &code).await;
    let onchain = p.get_code_at(token).await.unwrap();
    assert_eq!(&onchain[..3], &[0xEF, 0xF0, 0x00]);
    let codehash = keccak256(&onchain);

    // Inactive: codehashVersion reverts ProgramNotActivated(), and so does calling it.
    let arbwasm = ArbWasm::new(ARBWASM, p.clone());
    assert_eq!(arbwasm.stylusVersion().call().await.unwrap(), 2);
    let err = arbwasm.codehashVersion(codehash).call().await.unwrap_err();
    let data = err.as_revert_data().expect("revert data");
    assert_eq!(&data[..], &ArbWasm::ProgramNotActivated {}.abi_encode()[..]);
    let t = IComputeToken::new(token, p.clone());
    let err = p
        .call(
            TransactionRequest::default().with_to(token).with_input(IComputeToken::nameCall {}.abi_encode()),
        )
        .await
        .unwrap_err();
    assert_eq!(&revert_data(&err)[..], &ArbWasm::ProgramNotActivated {}.abi_encode()[..]);

    // Learn the data fee with eth_call, then activate paying double: the excess comes back.
    let ret = arbwasm.activateProgram(token).value(U256::from(10).pow(U256::from(18))).call().await.unwrap();
    assert_eq!(ret.version, 2);
    let fee = ret.dataFee;
    assert!(fee > U256::ZERO);
    let before = p.get_balance(admin).await.unwrap();
    let r = arbwasm
        .activateProgram(token)
        .value(fee * U256::from(2))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(r.status());
    eprintln!("activation gas used: {}, data fee {fee} wei", r.gas_used);
    let gas_cost = U256::from(r.gas_used) * U256::from(r.effective_gas_price);
    assert_eq!(p.get_balance(admin).await.unwrap(), before - fee - gas_cost, "excess refunded");
    let activated = r
        .inner
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<ArbWasm::ProgramActivated>().ok())
        .expect("ProgramActivated");
    assert_eq!(activated.inner.codehash, codehash);
    assert_eq!(arbwasm.codehashVersion(codehash).call().await.unwrap(), 2);
    assert_eq!(arbwasm.programVersion(token).call().await.unwrap(), 2);
    // Activating twice is refused.
    assert!(arbwasm.activateProgram(token).value(fee).call().await.is_err());

    // Constructor, once.
    let r = p
        .send_transaction(
            TransactionRequest::default().with_to(token).with_input(constructor_calldata(admin)),
        )
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(r.status(), "constructor runs");
    let again = p
        .call(
            TransactionRequest::default().from(admin).with_to(token).with_input(constructor_calldata(admin)),
        )
        .await;
    assert!(again.is_err(), "constructor guarded once");

    assert_eq!(t.name().call().await.unwrap(), "H100 seconds");
    assert_eq!(t.symbol().call().await.unwrap(), "H100s");
    assert_eq!(t.decimals().call().await.unwrap(), 0);
    assert_eq!(t.classId().call().await.unwrap(), keccak256("H100-SXM5-80GB"));
    assert_eq!(t.admin().call().await.unwrap(), admin);

    let r = t.setMinter(admin).send().await.unwrap().get_receipt().await.unwrap();
    assert!(r.status());
    assert!(r.inner.logs().iter().any(|l| l.log_decode::<IComputeToken::MinterSet>().is_ok()));
    assert_eq!(t.minter().call().await.unwrap(), admin);

    let r = t.mint(admin, U256::from(1_000)).send().await.unwrap().get_receipt().await.unwrap();
    assert!(r.status());
    eprintln!("compute-token mint gas used: {}", r.gas_used);
    let r = t.transfer(bob, U256::from(250)).send().await.unwrap().get_receipt().await.unwrap();
    assert!(r.status());
    eprintln!("compute-token transfer gas used: {}", r.gas_used);
    assert_eq!(t.balanceOf(admin).call().await.unwrap(), U256::from(750));
    assert_eq!(t.balanceOf(bob).call().await.unwrap(), U256::from(250));
    assert_eq!(t.totalSupply().call().await.unwrap(), U256::from(1_000));

    // Transfer logs through eth_getLogs, filtered by address and event signature.
    let logs = p
        .get_logs(
            &Filter::new()
                .address(token)
                .event_signature(IComputeToken::Transfer::SIGNATURE_HASH)
                .from_block(0),
        )
        .await
        .unwrap();
    assert_eq!(logs.len(), 2);
    let mint = logs[0].log_decode::<IComputeToken::Transfer>().unwrap();
    assert_eq!((mint.inner.from, mint.inner.to, mint.inner.value), (Address::ZERO, admin, U256::from(1_000)));
    let xfer = logs[1].log_decode::<IComputeToken::Transfer>().unwrap();
    assert_eq!((xfer.inner.from, xfer.inner.to, xfer.inner.value), (admin, bob, U256::from(250)));
    // Topic filter on `to` = bob selects only the transfer.
    let to_bob = p
        .get_logs(
            &Filter::new()
                .address(token)
                .event_signature(IComputeToken::Transfer::SIGNATURE_HASH)
                .topic2(B256::left_padding_from(bob.as_slice()))
                .from_block(0),
        )
        .await
        .unwrap();
    assert_eq!(to_bob.len(), 1);

    // Custom errors come back in the error data, for eth_call and eth_estimateGas.
    let err = t.transfer(bob, U256::from(1_000_000)).call().await.unwrap_err();
    let want = IComputeToken::ERC20InsufficientBalance {
        sender: admin,
        balance: U256::from(750),
        needed: U256::from(1_000_000),
    };
    assert_eq!(err.as_decoded_error::<IComputeToken::ERC20InsufficientBalance>(), Some(want.clone()));
    let err = p
        .estimate_gas(
            TransactionRequest::default().from(admin).with_to(token).with_input(
                IComputeToken::transferCall { to: bob, value: U256::from(1_000_000) }.abi_encode(),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(revert_data(&err), Bytes::from(want.abi_encode()));
    let err = p
        .call(
            TransactionRequest::default()
                .from(bob)
                .with_to(token)
                .with_input(IComputeToken::mintCall { to: bob, value: U256::from(1) }.abi_encode()),
        )
        .await
        .unwrap_err();
    assert_eq!(
        revert_data(&err),
        Bytes::from(IComputeToken::UnauthorizedMinter { caller: bob }.abi_encode())
    );

    // A reverted transaction is mined with status 0 and leaves balances unchanged.
    let r = t
        .transfer(bob, U256::from(1_000_000))
        .gas(500_000)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(!r.status());
    assert_eq!(t.balanceOf(admin).call().await.unwrap(), U256::from(750));
}

#[tokio::test]
async fn activation_refuses_bad_modules() {
    let dn = start().await;
    let p = provider(&dn, 0);
    let arbwasm = ArbWasm::new(ARBWASM, p.clone());
    let fee = U256::from(10).pow(U256::from(18));

    // Valid wasm with no exports.
    let empty = deploy(&p, &stylus_code(b"\0asm\x01\0\0\0")).await;
    let err = arbwasm.activateProgram(empty).value(fee).call().await.unwrap_err();
    let msg = alloy::sol_types::Revert::abi_decode(&err.as_revert_data().unwrap()).unwrap().reason;
    assert!(msg.contains("missing export `user_entrypoint`"), "{msg}");

    // Garbage after the header.
    let garbage = deploy(&p, &[0xEF, 0xF0, 0x00, 0x00, 1, 2, 3, 4, 5]).await;
    let err = arbwasm.activateProgram(garbage).value(fee).call().await.unwrap_err();
    let msg = alloy::sol_types::Revert::abi_decode(&err.as_revert_data().unwrap()).unwrap().reason;
    assert!(msg.contains("program activation failed"), "{msg}");

    // A forbidden import: (import "env" "f" (func)) plus the required exports.
    let wasm = wat_module_with_env_import();
    let bad = deploy(&p, &stylus_code(&wasm)).await;
    let err = arbwasm.activateProgram(bad).value(fee).call().await.unwrap_err();
    let msg = alloy::sol_types::Revert::abi_decode(&err.as_revert_data().unwrap()).unwrap().reason;
    assert!(msg.contains("env::f"), "{msg}");
}

/// Hand-assembled: (module (import "env" "f" (func)) (memory (export "memory") 1)
/// (func (export "user_entrypoint") (param i32) (result i32) i32.const 0))
fn wat_module_with_env_import() -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    // type section: 2 types: () -> (), (i32) -> (i32)
    m.extend([0x01, 0x09, 0x02, 0x60, 0x00, 0x00, 0x60, 0x01, 0x7f, 0x01, 0x7f]);
    // import section: env.f func type 0
    m.extend([0x02, 0x09, 0x01, 0x03, b'e', b'n', b'v', 0x01, b'f', 0x00, 0x00]);
    // function section: one func of type 1
    m.extend([0x03, 0x02, 0x01, 0x01]);
    // memory section: one memory, min 1
    m.extend([0x05, 0x03, 0x01, 0x00, 0x01]);
    // export section: "memory" mem 0, "user_entrypoint" func 1
    let mut exports = vec![0x02, 0x06];
    exports.extend(b"memory");
    exports.extend([0x02, 0x00, 0x0f]);
    exports.extend(b"user_entrypoint");
    exports.extend([0x00, 0x01]);
    m.push(0x07);
    m.push(exports.len() as u8);
    m.extend(exports);
    // code section: body: no locals, i32.const 0, end
    m.extend([0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x00, 0x0b]);
    m
}
