//! Ink metering against Arbitrum's published prices (nitro's `pricing_v1`, hostio ink, the
//! per-call init gas and the memory model; see README "Gas"). Every expected number below
//! is worked out by hand from those tables, not taken from the devnet.

mod common;

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, U256},
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

async fn deploy_stylus(p: &DynProvider, wasm: &[u8]) -> Address {
    let r = p
        .send_transaction(TransactionRequest::default().with_deploy_code(deploy_prelude(&stylus_code(wasm))))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(r.status());
    let program = r.contract_address.unwrap();
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

/// Returns the ink spent between two `evm_ink_left` calls around a loop of `args[0]`
/// iterations, as a little-endian u64.
const LOOP: &str = r#"
(module
  (import "vm_hooks" "read_args" (func $read_args (param i32)))
  (import "vm_hooks" "write_result" (func $write_result (param i32 i32)))
  (import "vm_hooks" "evm_ink_left" (func $ink (result i64)))
  (memory (export "memory") 1)
  (func (export "user_entrypoint") (param $len i32) (result i32)
    (local $a i64) (local $b i64) (local $i i32)
    (call $read_args (i32.const 0))
    (local.set $i (i32.load8_u (i32.const 0)))
    (local.set $a (call $ink))
    (loop $l
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br_if $l (local.get $i)))
    (local.set $b (call $ink))
    (i64.store (i32.const 0) (i64.sub (local.get $a) (local.get $b)))
    (call $write_result (i32.const 0) (i32.const 8))
    (i32.const 0))
)
"#;

#[tokio::test]
async fn opcodes_cost_arbitrums_ink() {
    let dn = start().await;
    let p = provider(&dn, 0);
    let prog = deploy_stylus(&p, &wat::parse_str(LOOP).unwrap()).await;
    let spent = |n: u8| {
        let p = p.clone();
        async move {
            let out = p.call(TransactionRequest::default().with_to(prog).with_input(vec![n])).await.unwrap();
            u64::from_le_bytes(out[..8].try_into().unwrap())
        }
    };
    // Each basic block pays its operators plus 2,450 ink for the check, before it runs.
    // After the first `evm_ink_left` returns:
    //   [local.set 210, loop 1]                                      =   211 + 2,450
    //   per iteration [local.get 75, i32.const 1, i32.sub 70,
    //                  local.set 210, local.get 75, br_if 765]         = 1,196 + 2,450
    //   [end 1]  (the loop's end, after the last iteration)           =     1 + 2,450
    //   [call 3,800]                                                  = 3,800 + 2,450
    //   evm_ink_left's own price (HOSTIO_INK)                         = 8,400
    let fixed = 211 + 2_450 + 1 + 2_450 + 3_800 + 2_450 + 8_400;
    let per_iteration = 1_196 + 2_450;
    assert_eq!(spent(1).await, fixed + per_iteration);
    assert_eq!(spent(10).await, fixed + 10 * per_iteration);
    assert_eq!(spent(200).await, fixed + 200 * per_iteration);
}

/// The smallest program: returns 0. `(memory PAGES)` sets its footprint.
fn trivial(pages: u32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module (memory (export "memory") {pages})
             (func (export "user_entrypoint") (param i32) (result i32) (i32.const 0)))"#
    ))
    .unwrap()
}

/// nitro's init and cached-init gas for a one-function module with no globals and no data,
/// taking `(i32) -> i32` (2 params + results), of `wasm_len` bytes and `pages` pages.
fn expected_call_gas(wasm_len: u64, pages: u64) -> u64 {
    let (funcs, type_len, globals) = (1, 2, 4); // 4: the globals nitro's instrumentation adds
    let init = funcs * 8_252 / 1_000 + type_len * 1_059 / 1_000 + wasm_len * 1_286 / 10_000;
    let cached = funcs * 13_420 / 100_000
        + type_len * 89 / 100_000
        + wasm_len * 122 / 100_000
        + globals * 1_628 / 1_000
        + pages * 5;
    // MinInitGas 69 x 128, MinCachedInitGas 11 x 32; both scalars are 50 x 2% = 100%.
    69 * 128 + init + 11 * 32 + cached
}

#[tokio::test]
async fn each_call_pays_init_gas_and_its_pages() {
    let dn = start().await;
    let p = provider(&dn, 0);
    for (pages, memory_gas) in [(1u64, 0u64), (2, 0), (3, 1_000), (10, 8 * 1_000 + 3 - 1)] {
        let wasm = trivial(pages as u32);
        let prog = deploy_stylus(&p, &wasm).await;
        let r = p
            .send_transaction(TransactionRequest::default().with_to(prog).with_gas_limit(200_000))
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(r.status());
        // 21,000 intrinsic + call overhead + memory + the program's one block
        // ([i32.const 1, end 1] + 2,450 ink), which rounds up to 1 gas.
        let want = 21_000 + expected_call_gas(wasm.len() as u64, pages) + memory_gas + 1;
        assert_eq!(r.gas_used, want, "{pages} pages");
    }
}

/// Pays for `args[0]` more pages, then returns.
const GROW: &str = r#"
(module
  (import "vm_hooks" "read_args" (func $read_args (param i32)))
  (import "vm_hooks" "pay_for_memory_grow" (func $pay (param i32)))
  (memory (export "memory") 1)
  (func (export "user_entrypoint") (param $len i32) (result i32)
    (call $read_args (i32.const 0))
    (call $pay (i32.load8_u (i32.const 0)))
    (i32.const 0))
)
"#;

#[tokio::test]
async fn memory_growth_follows_arbitrums_model() {
    let dn = start().await;
    let p = provider(&dn, 0);
    let prog = deploy_stylus(&p, &wat::parse_str(GROW).unwrap()).await;
    let gas = |pages: u8| {
        let p = p.clone();
        async move {
            let r = p
                .send_transaction(
                    TransactionRequest::default()
                        .with_to(prog)
                        .with_input(vec![pages])
                        .with_gas_limit(2_000_000),
                )
                .await
                .unwrap()
                .get_receipt()
                .await
                .unwrap();
            assert!(r.status());
            r.gas_used
        }
    };
    let none = gas(0).await;
    // One page open (the footprint) + 5: 4 pages past the 2 free ones at 1,000 gas, plus
    // exp(6) - exp(1) = 1. A non-zero calldata byte costs 12 more than a zero one; the
    // zero-page call pays 8,400 ink for the hostio instead (rounding may hide it).
    let five = gas(5).await;
    let delta = five - none;
    assert!(delta == 4_001 + 12 || delta == 4_001 + 12 - 1, "delta {delta}");
    // 100 more pages: 99 paid pages + exp(101) - exp(1).
    let hundred = gas(100).await;
    let delta = hundred - none;
    let want = 99_000 + 833_067 - 1 + 12;
    assert!(delta == want || delta == want - 1, "delta {delta}");
}

/// Loops forever.
const SPIN: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "user_entrypoint") (param i32) (result i32)
    (loop $l (br $l))
    (i32.const 0))
)
"#;

#[tokio::test]
async fn running_out_of_ink_fails_the_call_and_burns_its_gas() {
    let dn = start().await;
    let p = provider(&dn, 0);
    let prog = deploy_stylus(&p, &wat::parse_str(SPIN).unwrap()).await;
    let r = p
        .send_transaction(TransactionRequest::default().with_to(prog).with_gas_limit(100_000))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(!r.status());
    assert_eq!(r.gas_used, 100_000);
    // Too little gas for the call overhead itself fails the same way.
    let r = p
        .send_transaction(TransactionRequest::default().with_to(prog).with_gas_limit(25_000))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(!r.status());
    assert_eq!(r.gas_used, 25_000);
    assert!(p.get_block_number().await.is_ok());
}
