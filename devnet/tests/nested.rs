//! Calls between Stylus and EVM: Stylus -> EVM -> Stylus, reentrancy flag, revert
//! propagation, SSTORE pricing, using a small hand-written Stylus program.

mod common;

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, Bytes, U256},
    providers::{DynProvider, Provider},
    rpc::types::TransactionRequest,
    sol,
};
use common::*;

sol! {
    #[sol(rpc)]
    interface ArbWasm {
        function activateProgram(address program) external payable returns (uint16 version, uint256 dataFee);
    }
}

const ARBWASM: Address = Address::new([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x71]);

/// The test program. By argument length:
/// - 0 bytes: returns `msg_reentrant()` as a 32-byte word;
/// - 32 bytes: stores the word at slot 0 (through the storage cache) and returns nothing;
/// - otherwise `target(20) ++ data`: calls `target` with `data` and returns its return data,
///   reverting with it when the call failed.
const PROGRAM: &str = r#"
(module
  (import "vm_hooks" "read_args" (func $read_args (param i32)))
  (import "vm_hooks" "write_result" (func $write_result (param i32 i32)))
  (import "vm_hooks" "msg_reentrant" (func $msg_reentrant (result i32)))
  (import "vm_hooks" "call_contract" (func $call (param i32 i32 i32 i32 i64 i32) (result i32)))
  (import "vm_hooks" "read_return_data" (func $read_return_data (param i32 i32 i32) (result i32)))
  (import "vm_hooks" "storage_cache_bytes32" (func $cache (param i32 i32)))
  (import "vm_hooks" "storage_flush_cache" (func $flush (param i32)))
  (memory (export "memory") 1)
  ;; 0..32 result word, 64..96 zero value, 128 return length, 192..224 zero key,
  ;; 1024.. args, 4096.. return data
  (func (export "user_entrypoint") (param $len i32) (result i32)
    (local $status i32) (local $rlen i32)
    (call $read_args (i32.const 1024))
    (if (i32.eqz (local.get $len))
      (then
        (i32.store8 (i32.const 31) (call $msg_reentrant))
        (call $write_result (i32.const 0) (i32.const 32))
        (return (i32.const 0))))
    (if (i32.eq (local.get $len) (i32.const 32))
      (then
        (call $cache (i32.const 192) (i32.const 1024))
        (call $flush (i32.const 0))
        (return (i32.const 0))))
    (local.set $status
      (call $call (i32.const 1024) (i32.const 1044) (i32.sub (local.get $len) (i32.const 20))
                  (i32.const 64) (i64.const -1) (i32.const 128)))
    (local.set $rlen (i32.load (i32.const 128)))
    (drop (call $read_return_data (i32.const 4096) (i32.const 0) (local.get $rlen)))
    (call $write_result (i32.const 4096) (local.get $rlen))
    (local.get $status))
)
"#;

/// EVM contract: calldata = target(20) ++ data; CALLs target with data, returns or reverts
/// with its return data.
fn proxy_runtime() -> Vec<u8> {
    vec![
        0x36, 0x60, 0x00, 0x60, 0x00, 0x37, // calldatacopy(0, 0, calldatasize)
        0x60, 0x00, 0x51, 0x60, 0x60, 0x1c, // target = mload(0) >> 96
        0x60, 0x00, 0x60, 0x00, 0x60, 0x14, 0x36, 0x03, 0x60, 0x14, 0x60, 0x00, 0x85, 0x5a,
        0xf1, // call
        0x3d, 0x60, 0x00, 0x60, 0x00, 0x3e, // returndatacopy(0, 0, returndatasize)
        0x60, 0x28, 0x57, // jumpi(ok, success)
        0x3d, 0x60, 0x00, 0xfd, // revert(0, returndatasize)
        0x5b, 0x3d, 0x60, 0x00, 0xf3, // ok: return(0, returndatasize)
    ]
}

/// Runtime that reverts with 0xdeadbeef.
fn revert_runtime() -> Vec<u8> {
    vec![0x63, 0xde, 0xad, 0xbe, 0xef, 0x60, 0xe0, 0x1b, 0x60, 0x00, 0x52, 0x60, 0x04, 0x60, 0x00, 0xfd]
}

async fn deploy(p: &DynProvider, code: &[u8]) -> Address {
    let r = p
        .send_transaction(TransactionRequest::default().with_deploy_code(deploy_prelude(code)))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(r.status());
    r.contract_address.unwrap()
}

async fn deploy_stylus(p: &DynProvider, wasm: &[u8]) -> Address {
    let program = deploy(p, &stylus_code(wasm)).await;
    let arbwasm = ArbWasm::new(ARBWASM, p.clone());
    let fee = arbwasm
        .activateProgram(program)
        .value(U256::from(10).pow(U256::from(18)))
        .call()
        .await
        .unwrap()
        .dataFee;
    let r = arbwasm.activateProgram(program).value(fee).send().await.unwrap().get_receipt().await.unwrap();
    assert!(r.status(), "activation succeeds");
    program
}

fn cat(parts: &[&[u8]]) -> Bytes {
    parts.concat().into()
}

#[tokio::test]
async fn stylus_evm_stylus_reentrancy_and_reverts() {
    let dn = start().await;
    let p = provider(&dn, 0);
    let wasm = wat::parse_str(PROGRAM).unwrap();
    let prog = deploy_stylus(&p, &wasm).await;
    let proxy = deploy(&p, &proxy_runtime()).await;
    let reverter = deploy(&p, &revert_runtime()).await;
    let call = |data: Bytes| {
        let p = p.clone();
        async move { p.call(TransactionRequest::default().with_to(prog).with_input(data)).await }
    };

    // Direct call: not reentrant.
    let out = call(Bytes::new()).await.unwrap();
    assert_eq!(U256::from_be_slice(&out), U256::ZERO);
    // Stylus -> EVM -> Stylus (itself): reentrant, and the result travels back up.
    let out = call(cat(&[proxy.as_slice(), prog.as_slice()])).await.unwrap();
    assert_eq!(U256::from_be_slice(&out), U256::from(1));
    // EVM -> Stylus: not reentrant.
    let out = p
        .call(TransactionRequest::default().with_to(proxy).with_input(cat(&[prog.as_slice()])))
        .await
        .unwrap();
    assert_eq!(U256::from_be_slice(&out), U256::ZERO);

    // Revert propagation: EVM revert bytes come back through the Stylus frame.
    let err = call(cat(&[reverter.as_slice()])).await.unwrap_err();
    let payload = err.as_error_resp().unwrap();
    assert_eq!(payload.code, 3);
    assert_eq!(payload.as_revert_data(), Some(Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef])));
    // ... and through Stylus -> EVM -> EVM.
    let err = call(cat(&[proxy.as_slice(), reverter.as_slice()])).await.unwrap_err();
    assert_eq!(
        err.as_error_resp().unwrap().as_revert_data(),
        Some(Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef]))
    );

    // Stylus storage write via a transaction through EVM -> Stylus, visible to getStorageAt.
    let word = U256::from(0xabcdef).to_be_bytes::<32>();
    let r = p
        .send_transaction(
            TransactionRequest::default().with_to(proxy).with_input(cat(&[prog.as_slice(), &word])),
        )
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(r.status());
    assert_eq!(p.get_storage_at(prog, U256::ZERO).await.unwrap(), U256::from(0xabcdef));
}

#[tokio::test]
async fn stylus_sstore_costs_what_evm_sstore_costs() {
    let dn = start().await;
    let p = provider(&dn, 0);
    let wasm = wat::parse_str(PROGRAM).unwrap();
    let prog = deploy_stylus(&p, &wasm).await;
    let word = U256::from(7).to_be_bytes::<32>();
    let r = p
        .send_transaction(TransactionRequest::default().with_to(prog).with_input(word.to_vec()))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(r.status());
    // 21,000 intrinsic + 32 bytes of calldata (1 non-zero byte: 16, 31 zero bytes: 4 each)
    // + a cold zero -> non-zero SSTORE (2,100 + 20,000) + the program's per-call init gas,
    // plus a few gas of wasm and host calls (about 110,000 ink here).
    let call_gas = devnet::stylus::meter::instrument(&wasm).unwrap().costs.call_gas();
    let floor = 21_000 + 16 + 31 * 4 + 22_100 + call_gas;
    assert!(r.gas_used >= floor && r.gas_used < floor + 30, "gas used {} (floor {floor})", r.gas_used);
    assert_eq!(p.get_storage_at(prog, U256::ZERO).await.unwrap(), U256::from(7));
}

#[tokio::test]
async fn deep_stylus_recursion_does_not_crash() {
    let dn = start().await;
    let p = provider(&dn, 0);
    let wasm = wat::parse_str(PROGRAM).unwrap();
    let prog = deploy_stylus(&p, &wasm).await;
    // Each level strips one address and calls the next: 100 nested Stylus frames. Every
    // frame keeps its memory page open until it returns, so Arbitrum's memory model (one
    // page more per level, exponential in the pages open at once) makes the deepest levels
    // the most expensive: 100 levels fit in the 32M-gas call cap; 128 open pages alone
    // (8 MiB) would cost about 32M gas.
    let hops: Vec<u8> = std::iter::repeat_n(prog.as_slice(), 100).flatten().copied().collect();
    let out = p.call(TransactionRequest::default().with_to(prog).with_input(hops)).await.unwrap();
    assert_eq!(U256::from_be_slice(&out), U256::from(1), "innermost frame sees reentrancy");
    // Past the 1024-frame limit (and out of gas long before): an error, never a crash.
    let hops: Vec<u8> = std::iter::repeat_n(prog.as_slice(), 1100).flatten().copied().collect();
    let _ = p.call(TransactionRequest::default().with_to(prog).with_input(hops)).await;
    assert!(p.get_block_number().await.is_ok(), "node still serves");
}

/// Second program. args[0] == 0: `static_call_contract(args[1..21], args[21..])`, returns the
/// status as a word. Otherwise: `create1(args[1..])` with no endowment, returns the address.
const STATIC_AND_CREATE: &str = r#"
(module
  (import "vm_hooks" "read_args" (func $read_args (param i32)))
  (import "vm_hooks" "write_result" (func $write_result (param i32 i32)))
  (import "vm_hooks" "static_call_contract" (func $scall (param i32 i32 i32 i64 i32) (result i32)))
  (import "vm_hooks" "create1" (func $create1 (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "user_entrypoint") (param $len i32) (result i32)
    (call $read_args (i32.const 1024))
    (if (i32.eqz (i32.load8_u (i32.const 1024)))
      (then
        (i32.store8 (i32.const 31)
          (call $scall (i32.const 1025) (i32.const 1045) (i32.sub (local.get $len) (i32.const 21))
                       (i64.const -1) (i32.const 128)))
        (call $write_result (i32.const 0) (i32.const 32))
        (return (i32.const 0))))
    (call $create1 (i32.const 1025) (i32.sub (local.get $len) (i32.const 1)) (i32.const 64)
                   (i32.const 12) (i32.const 128))
    (call $write_result (i32.const 0) (i32.const 32))
    (i32.const 0))
)
"#;

#[tokio::test]
async fn static_call_write_protection_and_create_from_stylus() {
    let dn = start().await;
    let p = provider(&dn, 0);
    let prog = deploy_stylus(&p, &wat::parse_str(PROGRAM).unwrap()).await;
    let q = deploy_stylus(&p, &wat::parse_str(STATIC_AND_CREATE).unwrap()).await;

    // A static call into a program that writes storage fails; a read-only one succeeds.
    let word = U256::from(5).to_be_bytes::<32>();
    let status = |out: Bytes| U256::from_be_slice(&out);
    let r = p
        .send_transaction(TransactionRequest::default().with_to(q).with_input(cat(&[
            &[0],
            prog.as_slice(),
            &word,
        ])))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(r.status(), "the outer program handles the failed static call");
    assert_eq!(p.get_storage_at(prog, U256::ZERO).await.unwrap(), U256::ZERO, "no write happened");
    let out = p
        .call(TransactionRequest::default().with_to(q).with_input(cat(&[&[0], prog.as_slice(), &word])))
        .await
        .unwrap();
    assert_eq!(status(out), U256::from(1));
    let out = p
        .call(TransactionRequest::default().with_to(q).with_input(cat(&[&[0], prog.as_slice()])))
        .await
        .unwrap();
    assert_eq!(status(out), U256::ZERO);

    // create1 from Stylus deploys EVM code at CREATE's address.
    let runtime = revert_runtime();
    let init = deploy_prelude(&runtime);
    let out = p.call(TransactionRequest::default().with_to(q).with_input(cat(&[&[1], &init]))).await.unwrap();
    let created = Address::from_slice(&out[12..32]);
    assert_eq!(created, q.create(1));
    // An explicit gas limit: the program ignores a failed create, so estimateGas (like
    // geth's) would find the smallest limit with which the *outer* call succeeds.
    let r = p
        .send_transaction(
            TransactionRequest::default()
                .with_to(q)
                .with_input(cat(&[&[1], &init]))
                .with_gas_limit(1_000_000),
        )
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(r.status());
    assert_eq!(p.get_code_at(created).await.unwrap(), Bytes::from(runtime));
}
