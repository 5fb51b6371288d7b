//! `delegate_call_contract` and `create2` from a Stylus program: the callee's code runs on
//! the caller's storage with the caller's msg.sender and msg.value, reverts roll back and
//! hand back their data, the static context is kept, and the storage cache stays coherent
//! across frames (flushed before the child runs, re-read after).

mod common;

use alloy::{
    network::TransactionBuilder,
    primitives::{keccak256, Address, Bytes, U256},
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

/// One program, several operations chosen by the first argument byte:
/// - 1 `word`: store `word` at slot 0 (cache + flush);
/// - 2: return `msg_sender` (word) ++ `msg_value` ++ `contract_address` (word);
/// - 3 `word` `data`: store `word` at slot 0, then revert with `data`;
/// - 4 `key`: return the word at slot `key`;
/// - 5 `flags` `target` `data`: load slot 0 (so it sits in the cache), if `flags & 1` cache
///   0x77 at slot 1 without flushing, `delegate_call_contract(target, data)`, then return
///   status (word) ++ slot 0 as read after the call ++ the call's return data;
/// - 6 `target` `data`: `static_call_contract`, return status (word) ++ return data;
/// - 7 `endowment` `salt` `init`: `create2`, return the address (word) ++ revert data.
///
/// `MARKER` is replaced to give otherwise identical programs different code hashes.
const PROGRAM: &str = r#"
(module
  (import "vm_hooks" "read_args" (func $read_args (param i32)))
  (import "vm_hooks" "write_result" (func $write_result (param i32 i32)))
  (import "vm_hooks" "storage_load_bytes32" (func $load (param i32 i32)))
  (import "vm_hooks" "storage_cache_bytes32" (func $cache (param i32 i32)))
  (import "vm_hooks" "storage_flush_cache" (func $flush (param i32)))
  (import "vm_hooks" "delegate_call_contract" (func $dcall (param i32 i32 i32 i64 i32) (result i32)))
  (import "vm_hooks" "static_call_contract" (func $scall (param i32 i32 i32 i64 i32) (result i32)))
  (import "vm_hooks" "create2" (func $create2 (param i32 i32 i32 i32 i32 i32)))
  (import "vm_hooks" "read_return_data" (func $rrd (param i32 i32 i32) (result i32)))
  (import "vm_hooks" "msg_sender" (func $sender (param i32)))
  (import "vm_hooks" "msg_value" (func $value (param i32)))
  (import "vm_hooks" "contract_address" (func $address (param i32)))
  (memory (export "memory") 1)
  ;; 128: return length; 192..224: key 0; 224..256: key 1; 256..288: the word 0x77;
  ;; 1024..: args; 4096..: output
  (data (i32.const 255) "\01")
  (data (i32.const 287) "\77")
  (data (i32.const 300) "MARKER")
  (func (export "user_entrypoint") (param $len i32) (result i32)
    (local $op i32) (local $rlen i32) (local $st i32)
    (call $read_args (i32.const 1024))
    (local.set $op (i32.load8_u (i32.const 1024)))
    (if (i32.eq (local.get $op) (i32.const 1)) (then
      (call $cache (i32.const 192) (i32.const 1025))
      (call $flush (i32.const 0))
      (return (i32.const 0))))
    (if (i32.eq (local.get $op) (i32.const 2)) (then
      (call $sender (i32.const 4108))
      (call $value (i32.const 4128))
      (call $address (i32.const 4172))
      (call $write_result (i32.const 4096) (i32.const 96))
      (return (i32.const 0))))
    (if (i32.eq (local.get $op) (i32.const 3)) (then
      (call $cache (i32.const 192) (i32.const 1025))
      (call $flush (i32.const 0))
      (call $write_result (i32.const 1057) (i32.sub (local.get $len) (i32.const 33)))
      (return (i32.const 1))))
    (if (i32.eq (local.get $op) (i32.const 4)) (then
      (call $load (i32.const 1025) (i32.const 4096))
      (call $write_result (i32.const 4096) (i32.const 32))
      (return (i32.const 0))))
    (if (i32.eq (local.get $op) (i32.const 5)) (then
      (call $load (i32.const 192) (i32.const 0))
      (if (i32.and (i32.load8_u (i32.const 1025)) (i32.const 1)) (then
        (call $cache (i32.const 224) (i32.const 256))))
      (local.set $st
        (call $dcall (i32.const 1026) (i32.const 1046) (i32.sub (local.get $len) (i32.const 22))
                     (i64.const -1) (i32.const 128)))
      (i32.store8 (i32.const 4127) (local.get $st))
      (call $load (i32.const 192) (i32.const 4128))
      (local.set $rlen (call $rrd (i32.const 4160) (i32.const 0) (i32.load (i32.const 128))))
      (call $write_result (i32.const 4096) (i32.add (i32.const 64) (local.get $rlen)))
      (return (i32.const 0))))
    (if (i32.eq (local.get $op) (i32.const 6)) (then
      (local.set $st
        (call $scall (i32.const 1025) (i32.const 1045) (i32.sub (local.get $len) (i32.const 21))
                     (i64.const -1) (i32.const 128)))
      (i32.store8 (i32.const 4127) (local.get $st))
      (local.set $rlen (call $rrd (i32.const 4128) (i32.const 0) (i32.load (i32.const 128))))
      (call $write_result (i32.const 4096) (i32.add (i32.const 32) (local.get $rlen)))
      (return (i32.const 0))))
    (if (i32.eq (local.get $op) (i32.const 7)) (then
      (call $create2 (i32.const 1089) (i32.sub (local.get $len) (i32.const 65)) (i32.const 1025)
                     (i32.const 1057) (i32.const 4108) (i32.const 128))
      (local.set $rlen (call $rrd (i32.const 4128) (i32.const 0) (i32.load (i32.const 128))))
      (call $write_result (i32.const 4096) (i32.add (i32.const 32) (local.get $rlen)))
      (return (i32.const 0))))
    (i32.const 1))
)
"#;

fn program(marker: &str) -> Vec<u8> {
    wat::parse_str(PROGRAM.replace("MARKER", marker)).unwrap()
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

fn word(v: u64) -> [u8; 32] {
    U256::from(v).to_be_bytes::<32>()
}

/// Splits the output of operation 5: (status, slot 0 after the call, return data).
fn split_delegate(out: &[u8]) -> (U256, U256, Bytes) {
    assert!(out.len() >= 64, "delegate output too short: {out:?}");
    (U256::from_be_slice(&out[..32]), U256::from_be_slice(&out[32..64]), Bytes::copy_from_slice(&out[64..]))
}

async fn send(
    p: &DynProvider,
    to: Address,
    data: Bytes,
    value: U256,
) -> alloy::rpc::types::TransactionReceipt {
    p.send_transaction(
        TransactionRequest::default()
            .with_to(to)
            .with_input(data)
            .with_value(value)
            .with_gas_limit(3_000_000),
    )
    .await
    .unwrap()
    .get_receipt()
    .await
    .unwrap()
}

#[tokio::test]
async fn delegatecall_from_stylus() {
    let dn = start().await;
    let p = provider(&dn, 0);
    let a = deploy_stylus(&p, &program("caller")).await;
    let b = deploy_stylus(&p, &program("callee")).await;
    let slot = |addr: Address, key: u64| {
        let p = p.clone();
        async move { p.get_storage_at(addr, U256::from(key)).await.unwrap() }
    };

    // Slot 0 of A holds 5 to begin with.
    assert!(send(&p, a, cat(&[&[1], &word(5)]), U256::ZERO).await.status());
    assert_eq!(slot(a, 0).await, U256::from(5));

    // A delegatecalls B's "store 9": B's code writes A's storage, not B's. A had slot 0 (= 5)
    // in its cache before the call and reads 9 after it: the cache was invalidated.
    let delegate_store = |v: u64| cat(&[&[5, 0], b.as_slice(), &[1], &word(v)]);
    let out = p.call(TransactionRequest::default().with_to(a).with_input(delegate_store(9))).await.unwrap();
    let (status, after, _) = split_delegate(&out);
    assert_eq!((status, after), (U256::ZERO, U256::from(9)));
    let r = send(&p, a, delegate_store(9), U256::ZERO).await;
    assert!(r.status());
    assert_eq!(slot(a, 0).await, U256::from(9), "the callee's write lands in the caller's storage");
    assert_eq!(slot(b, 0).await, U256::ZERO, "the callee's own storage is untouched");

    // msg.sender, msg.value and the address in the callee are the caller's.
    let sender = address(0);
    let value = U256::from(1_234_567u64);
    let out = p
        .call(
            TransactionRequest::default().with_from(sender).with_to(a).with_value(value).with_input(cat(&[
                &[5, 0],
                b.as_slice(),
                &[2],
            ])),
        )
        .await
        .unwrap();
    let (status, _, ret) = split_delegate(&out);
    assert_eq!(status, U256::ZERO);
    assert_eq!(ret.len(), 96);
    assert_eq!(Address::from_slice(&ret[12..32]), sender, "msg.sender is the caller's caller");
    assert_eq!(U256::from_be_slice(&ret[32..64]), value, "msg.value is the caller's");
    assert_eq!(Address::from_slice(&ret[76..96]), a, "the code runs at the caller's address");

    // A reverting callee: its write to A's storage is rolled back, its revert data comes back
    // and A carries on (status 1).
    let revert = cat(&[&[5, 0], b.as_slice(), &[3], &word(77), &[0xde, 0xad, 0xbe, 0xef]]);
    let out = p.call(TransactionRequest::default().with_to(a).with_input(revert.clone())).await.unwrap();
    let (status, after, ret) = split_delegate(&out);
    assert_eq!(status, U256::from(1), "failed delegatecall reports failure");
    assert_eq!(after, U256::from(9), "the callee's write was rolled back");
    assert_eq!(ret, Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef]), "revert data comes back");
    assert!(send(&p, a, revert, U256::ZERO).await.status());
    assert_eq!(slot(a, 0).await, U256::from(9));

    // A pending (cached, unflushed) write of A is flushed before the callee runs: the
    // callee reads 0x77 at slot 1, and the write persists.
    let read1 = cat(&[&[5, 1], b.as_slice(), &[4], &word(1)]);
    let out = p.call(TransactionRequest::default().with_to(a).with_input(read1.clone())).await.unwrap();
    let (status, _, ret) = split_delegate(&out);
    assert_eq!(status, U256::ZERO);
    assert_eq!(U256::from_be_slice(&ret), U256::from(0x77), "callee sees the caller's pending write");
    assert!(send(&p, a, read1, U256::ZERO).await.status());
    assert_eq!(slot(a, 1).await, U256::from(0x77));

    // Static context is kept through the delegatecall: a static call into A whose
    // delegatecall runs B's "store" fails inside (status 1) and writes nothing...
    let inner = delegate_store(11);
    let static_store = cat(&[&[6], a.as_slice(), &inner]);
    let r = send(&p, a, static_store.clone(), U256::ZERO).await;
    assert!(r.status());
    let out = p.call(TransactionRequest::default().with_to(a).with_input(static_store)).await.unwrap();
    assert_eq!(U256::from_be_slice(&out[..32]), U256::ZERO, "the static call itself succeeds");
    let (status, after, _) = split_delegate(&out[32..]);
    assert_eq!(status, U256::from(1), "the write inside the delegatecall is refused");
    assert_eq!(after, U256::from(9));
    assert_eq!(slot(a, 0).await, U256::from(9), "nothing was written");
    // ... while a read-only callee works under the static call.
    let static_read = cat(&[&[6], a.as_slice(), &[5, 0], b.as_slice(), &[4], &word(0)]);
    let out = p.call(TransactionRequest::default().with_to(a).with_input(static_read)).await.unwrap();
    assert_eq!(U256::from_be_slice(&out[..32]), U256::ZERO);
    let (status, _, ret) = split_delegate(&out[32..]);
    assert_eq!(status, U256::ZERO);
    assert_eq!(U256::from_be_slice(&ret), U256::from(9), "the callee read the caller's slot 0");
}

/// EVM runtime that returns the word 42.
fn answer_runtime() -> Vec<u8> {
    vec![0x60, 0x2a, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3]
}

/// Init code that reverts with 0xdeadbeef.
fn reverting_init() -> Vec<u8> {
    vec![0x63, 0xde, 0xad, 0xbe, 0xef, 0x60, 0xe0, 0x1b, 0x60, 0x00, 0x52, 0x60, 0x04, 0x60, 0x00, 0xfd]
}

#[tokio::test]
async fn create2_from_stylus() {
    let dn = start().await;
    let p = provider(&dn, 0);
    let a = deploy_stylus(&p, &program("factory")).await;
    let init = deploy_prelude(&answer_runtime());
    let salt = keccak256(b"salt one");
    let create = |endowment: u64, salt: &[u8], init: &[u8]| cat(&[&[7], &word(endowment), salt, init]);
    let expected = a.create2_from_code(salt, &init);

    // The address is CREATE2's: keccak(0xff ++ A ++ salt ++ keccak(init))[12..].
    let out = p
        .call(TransactionRequest::default().with_to(a).with_input(create(0, salt.as_slice(), &init)))
        .await
        .unwrap();
    assert_eq!(Address::from_slice(&out[12..32]), expected);
    assert_eq!(out.len(), 32, "no revert data on success");
    let r = send(&p, a, create(0, salt.as_slice(), &init), U256::ZERO).await;
    assert!(r.status());
    assert_eq!(p.get_code_at(expected).await.unwrap(), Bytes::from(answer_runtime()));
    let answer = p.call(TransactionRequest::default().with_to(expected)).await.unwrap();
    assert_eq!(U256::from_be_slice(&answer), U256::from(42));

    // The same salt again collides: the zero address, and no code elsewhere.
    let out = p
        .call(TransactionRequest::default().with_to(a).with_input(create(0, salt.as_slice(), &init)))
        .await
        .unwrap();
    assert_eq!(Address::from_slice(&out[12..32]), Address::ZERO, "a second CREATE2 with the same salt fails");

    // Init code that reverts: the zero address and its revert data.
    let bad = reverting_init();
    let out = p
        .call(TransactionRequest::default().with_to(a).with_input(create(0, salt.as_slice(), &bad)))
        .await
        .unwrap();
    assert_eq!(Address::from_slice(&out[12..32]), Address::ZERO);
    assert_eq!(&out[32..], &[0xde, 0xad, 0xbe, 0xef], "revert data of the init code comes back");

    // An endowment moves value from the program to the new contract.
    let salt2 = keccak256(b"salt two");
    let expected2 = a.create2_from_code(salt2, &init);
    let r = send(&p, a, create(1_000, salt2.as_slice(), &init), U256::from(5_000)).await;
    assert!(r.status());
    assert_eq!(p.get_balance(expected2).await.unwrap(), U256::from(1_000));
    assert_eq!(p.get_balance(a).await.unwrap(), U256::from(4_000));

    // An endowment the program cannot cover fails without creating anything.
    let salt3 = keccak256(b"salt three");
    let expected3 = a.create2_from_code(salt3, &init);
    let out = p
        .call(TransactionRequest::default().with_to(a).with_input(create(1_000_000, salt3.as_slice(), &init)))
        .await
        .unwrap();
    assert_eq!(Address::from_slice(&out[12..32]), Address::ZERO);
    assert!(p.get_code_at(expected3).await.unwrap().is_empty());
}
