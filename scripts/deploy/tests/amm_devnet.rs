//! The AMM's compiled wasm on the devnet, as users meet it at one address: `amm` serving
//! swaps, quotes and the oracle, and `amm-liquidity` serving pools, liquidity, LP shares and
//! governance through `amm`'s fallback (a real delegate call between two Stylus programs).
//! The native tests (`cargo test -p amm`) cover every path; these check that the same
//! scenarios hold on the chain: balances move exactly as quoted, errors arrive decoded,
//! undecodable calls change nothing, the TWAP ignores a swap and its reverse in one block.

use alloy::{
    primitives::{Address, Bytes, U256},
    providers::{DynProvider, Provider},
    signers::local::PrivateKeySigner,
    sol,
    sol_types::SolCall,
};
use deployer::{
    deploy::{deploy, Request},
    network,
    plan::Env,
    record::Deployment,
    wasm::{self, WasmSource},
};
use devnet::accounts::NITRO_DEV_KEY;

mod common;
use common::{shipped_config, start_devnet, wasm_dir};

sol!(
    #[sol(rpc, all_derives)]
    "../../abi/IAmm.sol"
);
sol!(
    #[sol(rpc)]
    "../../abi/IMockErc20.sol"
);

const E18: u128 = 1_000_000_000_000_000_000;

struct World {
    _devnet: devnet::Devnet,
    p: DynProvider,
    me: Address,
    amm: IAmm::IAmmInstance<DynProvider>,
    /// Two mock ERC-20s, `a < b`.
    a: IMockErc20::IMockErc20Instance<DynProvider>,
    b: IMockErc20::IMockErc20Instance<DynProvider>,
    record: Deployment,
}

async fn world() -> World {
    let (config, _) = shipped_config();
    let mut net = config.networks["devnet"].clone();
    let devnet = start_devnet().await;
    net.rpc_url = Some(devnet.url());
    let probe = Env { owner: Address::ZERO, treasury: Address::ZERO, config: &config, network: &net };
    let wasm = wasm::load(&WasmSource::Dir(wasm_dir()), &deployer::packages(&probe)).unwrap();
    let signer: PrivateKeySigner = NITRO_DEV_KEY.parse().unwrap();
    let me = signer.address();
    let p = network::signing_provider(&devnet.url(), signer).unwrap();
    let (record, _) = deploy(
        &p,
        Request { config: &config, network: &net, deployer: me, wasm: &wasm, previous: None },
        &|_| {},
    )
    .await
    .unwrap_or_else(|e| panic!("deploy: {e:#}"));
    let amm = IAmm::new(record.address("amm").unwrap(), p.clone());
    // The two mock tokens the devnet deployment has (stablecoin, collateral), as a pair of
    // plain ERC-20s for this test.
    let (mut a, mut b) = (record.address("stablecoin").unwrap(), record.address("collateral").unwrap());
    if a > b {
        std::mem::swap(&mut a, &mut b);
    }
    let (a, b) = (IMockErc20::new(a, p.clone()), IMockErc20::new(b, p.clone()));
    for t in [&a, &b] {
        t.mint(me, U256::from(1_000_000u128 * E18)).send().await.unwrap().get_receipt().await.unwrap();
        t.approve(*amm.address(), U256::MAX).send().await.unwrap().get_receipt().await.unwrap();
    }
    World { _devnet: devnet, p, me, amm, a, b, record }
}

fn path(a: Address, fee: u16, b: Address) -> Bytes {
    let mut v = a.to_vec();
    v.extend_from_slice(&fee.to_be_bytes());
    v.extend_from_slice(b.as_slice());
    v.into()
}

const FAR: u64 = u64::MAX;

async fn balance(t: &IMockErc20::IMockErc20Instance<DynProvider>, who: Address) -> U256 {
    t.balanceOf(who).call().await.unwrap()
}

async fn mine_after(p: &DynProvider, seconds: u64) {
    let _: serde_json::Value = p.raw_request("evm_increaseTime".into(), (seconds,)).await.unwrap();
    let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn pools_liquidity_swaps_and_shares_through_both_programs() {
    let w = world().await;
    let (a, b) = (*w.a.address(), *w.b.address());
    let amm_addr = *w.amm.address();
    assert_eq!(w.amm.liquidityProgram().call().await.unwrap(), w.record.address("ammLiquidity").unwrap());

    // createPool is served by amm-liquidity through the fallback.
    let r = w.amm.createPool(b, a, 5).send().await.unwrap().get_receipt().await.unwrap();
    assert!(r.status());
    let id = w.amm.poolId(a, b, 5).call().await.unwrap();
    let pool = w.amm.getPool(id).call().await.unwrap();
    assert_eq!((pool._0, pool._1, pool._2), (a, b, 5));

    // The first deposit mints sqrt(a0·a1) − 1000 shares and locks 1000 forever.
    let (d0, d1) = (U256::from(1000 * E18), U256::from(4000 * E18));
    let add = w.amm.addLiquidity(id, d0, d1, U256::ZERO, U256::ZERO, w.me, U256::from(FAR));
    let out = add.call().await.unwrap();
    let receipt = add.send().await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status());
    let shares = out._2;
    assert_eq!(shares, U256::from(2000 * E18) - U256::from(1000));
    assert_eq!(w.amm.balanceOf(w.me, id).call().await.unwrap(), shares);
    assert_eq!(w.amm.balanceOf(Address::ZERO, id).call().await.unwrap(), U256::from(1000));
    assert_eq!(balance(&w.a, amm_addr).await, d0);
    assert_eq!(balance(&w.b, amm_addr).await, d1);
    let r = w.amm.getReserves(id).call().await.unwrap();
    assert_eq!((r._0, r._1), (d0, d1));
    println!("gas: addLiquidity (first deposit, through the fallback) {}", receipt.gas_used);

    // A swap executes exactly its quote, and k does not decrease.
    let p = path(a, 5, b);
    let quote = w.amm.getAmountsOut(p.clone(), U256::from(E18)).call().await.unwrap();
    let before = balance(&w.b, w.me).await;
    let swap = w.amm.swapExactIn(p.clone(), U256::from(E18), quote[1], w.me, U256::from(FAR));
    let receipt = swap.send().await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status());
    assert_eq!(balance(&w.b, w.me).await, before + quote[1]);
    let r2 = w.amm.getReserves(id).call().await.unwrap();
    assert_eq!((r2._0, r2._1), (d0 + U256::from(E18), d1 - quote[1]));
    assert!(r2._0 * r2._1 >= d0 * d1);
    println!("gas: swapExactIn, one hop {}", receipt.gas_used);

    // Exact out, the reverse direction.
    let back = path(b, 5, a);
    let need = w.amm.getAmountsIn(back.clone(), U256::from(E18 / 2)).call().await.unwrap();
    let a_before = balance(&w.a, w.me).await;
    let r = w.amm.swapExactOut(back, U256::from(E18 / 2), need[0], w.me, U256::from(FAR)).send().await;
    assert!(r.unwrap().get_receipt().await.unwrap().status());
    assert_eq!(balance(&w.a, w.me).await, a_before + U256::from(E18 / 2));

    // Slippage: the decoded custom error arrives through eth_call and estimateGas.
    let err = w
        .amm
        .swapExactIn(p.clone(), U256::from(E18), U256::MAX, w.me, U256::from(FAR))
        .call()
        .await
        .unwrap_err();
    let decoded = err.as_decoded_interface_error::<IAmm::IAmmErrors>().expect("a custom error");
    assert!(matches!(decoded, IAmm::IAmmErrors::InsufficientOutput(_)), "{decoded:?}");
    // Deadline.
    let err = w
        .amm
        .swapExactIn(p.clone(), U256::from(E18), U256::ZERO, w.me, U256::from(1))
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        err.as_decoded_interface_error::<IAmm::IAmmErrors>(),
        Some(IAmm::IAmmErrors::Expired(_))
    ));

    // LP shares move as ERC-6909 balances; removal pays pro rata, rounded down.
    let bob = Address::repeat_byte(0xb0);
    let r = w.amm.transfer(bob, id, U256::from(E18)).send().await.unwrap().get_receipt().await.unwrap();
    assert!(r.status());
    assert_eq!(w.amm.balanceOf(bob, id).call().await.unwrap(), U256::from(E18));
    let mine = w.amm.balanceOf(w.me, id).call().await.unwrap();
    let supply = w.amm.totalSupply(id).call().await.unwrap();
    let res = w.amm.getReserves(id).call().await.unwrap();
    let remove = w.amm.removeLiquidity(id, mine, U256::ZERO, U256::ZERO, w.me, U256::from(FAR));
    let got = remove.call().await.unwrap();
    assert_eq!(got._0, mine * res._0 / supply);
    assert_eq!(got._1, mine * res._1 / supply);
    let receipt = remove.send().await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status());
    println!("gas: removeLiquidity {}", receipt.gas_used);
    // The AMM holds exactly what it owes to the pool.
    let res = w.amm.getReserves(id).call().await.unwrap();
    assert_eq!(balance(&w.a, amm_addr).await, res._0);
    assert_eq!(balance(&w.b, amm_addr).await, res._1);

    // Governance is the deployer's (owner), served by amm-liquidity.
    assert_eq!(w.amm.owner().call().await.unwrap(), w.me);
    let err = w.amm.setProtocolFee(11).call().await.err().expect("1/11 is not a valid protocol fee");
    assert!(matches!(
        err.as_decoded_interface_error::<IAmm::IAmmErrors>(),
        Some(IAmm::IAmmErrors::InvalidProtocolFee(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn twap_on_chain_ignores_in_block_moves_and_refuses_short_history() {
    let w = world().await;
    let (a, b) = (*w.a.address(), *w.b.address());
    w.amm.createPool(a, b, 30).send().await.unwrap().get_receipt().await.unwrap();
    let id = w.amm.poolId(a, b, 30).call().await.unwrap();
    w.amm.increaseObservationCardinality(id, 8).send().await.unwrap().get_receipt().await.unwrap();
    let (d0, d1) = (U256::from(1000 * E18), U256::from(2000 * E18));
    let add = w.amm.addLiquidity(id, d0, d1, U256::ZERO, U256::ZERO, w.me, U256::from(FAR));
    add.send().await.unwrap().get_receipt().await.unwrap();

    // Too little history: a clear error, never a shorter window.
    let err = w.amm.twap(id, 3600).call().await.unwrap_err();
    assert!(matches!(
        err.as_decoded_interface_error::<IAmm::IAmmErrors>(),
        Some(IAmm::IAmmErrors::HistoryTooShort(_))
    ));

    mine_after(&w.p, 600).await;
    // Price 2 (token1 per token0) for 600 s: exactly 2 in UQ112x112.
    let twap = w.amm.twap(id, 600).call().await.unwrap();
    assert_eq!(twap._0, U256::from(2u8) << 112);
    assert_eq!(twap._1, (U256::from(1u8) << 112) / U256::from(2u8));
    let obs = w.amm.observe(id, vec![600, 0]).call().await.unwrap();
    assert_eq!(obs._0[1] - obs._0[0], (U256::from(2u8) << 112) * U256::from(600u64));

    // A large swap and its reverse in one block: the price inside the block never reaches
    // the oracle, so the TWAP up to that block is still exactly 2.
    let _: serde_json::Value = w.p.raw_request("evm_setAutomine".into(), (false,)).await.unwrap();
    let there = w.amm.swapExactIn(path(a, 30, b), U256::from(500 * E18), U256::ZERO, w.me, U256::from(FAR));
    let out = there.call().await.unwrap()[1];
    let t1 = there.send().await.unwrap();
    let t2 = w.amm.swapExactIn(path(b, 30, a), out, U256::ZERO, w.me, U256::from(FAR)).send().await.unwrap();
    let _: serde_json::Value = w.p.raw_request("evm_mine".into(), ()).await.unwrap();
    let _: serde_json::Value = w.p.raw_request("evm_setAutomine".into(), (true,)).await.unwrap();
    let (r1, r2) = (t1.get_receipt().await.unwrap(), t2.get_receipt().await.unwrap());
    assert!(r1.status() && r2.status());
    assert_eq!(r1.block_number, r2.block_number, "both swaps in one block");
    let twap = w.amm.twap(id, 600).call().await.unwrap();
    assert_eq!(twap._0, U256::from(2u8) << 112);
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_that_do_not_decode_revert_and_change_nothing() {
    let w = world().await;
    let amm = *w.amm.address();
    let (a, b) = (*w.a.address(), *w.b.address());
    w.amm.createPool(a, b, 100).send().await.unwrap().get_receipt().await.unwrap();
    let id = w.amm.poolId(a, b, 100).call().await.unwrap();
    // Garbage after a real selector (swapExactIn), an unknown selector, and empty calldata.
    let swap_selector = IAmm::swapExactInCall::SELECTOR;
    for data in
        [[swap_selector.as_slice(), &[0xff; 40]].concat(), vec![0xde, 0xad, 0xbe, 0xef, 1, 2, 3], vec![]]
    {
        let tx = alloy::rpc::types::TransactionRequest::default().to(amm).input(data.clone().into());
        assert!(w.p.call(tx).await.is_err(), "{data:02x?} reverts");
    }
    let pool = w.amm.getPool(id).call().await.unwrap();
    assert_eq!(pool._0, a, "state unchanged");
    assert_eq!(w.amm.totalSupply(id).call().await.unwrap(), U256::ZERO);
}

/// A small deterministic generator (xorshift64*): the sequence is fixed by its seed, which
/// is printed, and `AMM_SEQ_SEED=<hex>` runs another one.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random sequences of adds, removes, swaps (exact in and out, both directions), share
/// transfers and waits by three actors on the real wasm, checking after every step what the
/// native property tests check: the AMM holds exactly its reserves, a swap never lowers k,
/// no step lowers k / supply², and a reverted step changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn random_sequences_keep_the_invariants_on_chain() {
    use alloy::primitives::U512;
    let w = world().await;
    let (a, b) = (*w.a.address(), *w.b.address());
    let amm_addr = *w.amm.address();
    w.amm.createPool(a, b, 30).send().await.unwrap().get_receipt().await.unwrap();
    let id = w.amm.poolId(a, b, 30).call().await.unwrap();
    // Three actors (anvil 5, 6, 7) with both tokens, approvals given once.
    let mut actors = Vec::new();
    for k in &devnet::accounts::ANVIL_KEYS[5..8] {
        let signer: PrivateKeySigner = k.parse().unwrap();
        let who = signer.address();
        let p = network::signing_provider(&w._devnet.url(), signer).unwrap();
        for t in [&w.a, &w.b] {
            t.mint(who, U256::from(1_000_000u128 * E18)).send().await.unwrap().get_receipt().await.unwrap();
            let mine = IMockErc20::new(*t.address(), p.clone());
            mine.approve(amm_addr, U256::MAX).send().await.unwrap().get_receipt().await.unwrap();
        }
        actors.push((who, IAmm::new(amm_addr, p)));
    }
    let seed = std::env::var("AMM_SEQ_SEED")
        .ok()
        .and_then(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0x5eed_0000_0000_0001);
    println!("random sequence seed {seed:#x}");
    let mut rng = Rng(seed);
    let (mut steps, mut reverted) = (0, 0);
    for step in 0..120 {
        let (who, amm) = &actors[rng.below(3) as usize];
        let before = w.amm.getReserves(id).call().await.unwrap();
        let supply_before = w.amm.totalSupply(id).call().await.unwrap();
        let amount = U256::from(1 + rng.below(50_000)) * U256::from(E18 / 100);
        let op = rng.below(6);
        // A step the chain refuses (a swap on an empty pool, removing nothing...) is
        // simulated first and not sent: it must leave everything as it was. (Sending it would
        // fail at gas estimation after the client had used up a nonce.) Gas gets a 30% margin
        // over the estimate: a pool's first touch in a new block also writes an oracle
        // observation, which an estimate made inside the previous block does not see.
        macro_rules! attempt {
            ($call:expr) => {{
                let c = $call;
                match c.call().await {
                    Ok(_) => {
                        let gas = c.estimate_gas().await.unwrap();
                        Some(c.gas(gas * 13 / 10).send().await.unwrap().get_receipt().await.unwrap())
                    }
                    Err(_) => None,
                }
            }};
        }
        let receipt = match op {
            0 => attempt!(amm.addLiquidity(
                id,
                amount,
                amount * U256::from(1 + rng.below(3)),
                U256::ZERO,
                U256::ZERO,
                *who,
                U256::from(FAR)
            )),
            1 => {
                let shares = w.amm.balanceOf(*who, id).call().await.unwrap();
                let part = shares * U256::from(1 + rng.below(100)) / U256::from(100u8);
                attempt!(amm.removeLiquidity(id, part, U256::ZERO, U256::ZERO, *who, U256::from(FAR)))
            }
            2 | 3 => {
                let p = if rng.below(2) == 0 { path(a, 30, b) } else { path(b, 30, a) };
                if op == 2 {
                    attempt!(amm.swapExactIn(p, amount, U256::ZERO, *who, U256::from(FAR)))
                } else {
                    attempt!(amm.swapExactOut(p, amount / U256::from(10u8), U256::MAX, *who, U256::from(FAR)))
                }
            }
            4 => {
                let (to, _) = &actors[rng.below(3) as usize];
                let shares = w.amm.balanceOf(*who, id).call().await.unwrap();
                attempt!(amm.transfer(*to, id, shares / U256::from(3u8)))
            }
            _ => {
                mine_after(&w.p, 1 + rng.below(600)).await;
                continue;
            }
        };
        // What simulated fine must also succeed when mined.
        let mined = match receipt {
            Some(r) => {
                if !r.status() {
                    let tx = w.p.get_transaction_by_hash(r.transaction_hash).await.unwrap().unwrap();
                    panic!(
                        "step {step}: op {op} simulated fine but reverted when mined (gas used {} of limit {})",
                        r.gas_used,
                        alloy::consensus::Transaction::gas_limit(&tx)
                    );
                }
                true
            }
            None => false,
        };
        let after = w.amm.getReserves(id).call().await.unwrap();
        let supply = w.amm.totalSupply(id).call().await.unwrap();
        if !mined {
            reverted += 1;
            assert_eq!(
                (after._0, after._1, supply),
                (before._0, before._1, supply_before),
                "step {step}: a refused op changed state"
            );
            continue;
        }
        steps += 1;
        assert_eq!(balance(&w.a, amm_addr).await, after._0, "step {step}: token0 held == reserve0");
        assert_eq!(balance(&w.b, amm_addr).await, after._1, "step {step}: token1 held == reserve1");
        if op == 2 || op == 3 {
            assert!(after._0 * after._1 >= before._0 * before._1, "step {step}: a swap lowered k");
        }
        if !supply_before.is_zero() && !supply.is_zero() {
            // k / S² never decreases: k_after · S_before² >= k_before · S_after².
            let k = |r: &IAmm::getReservesReturn| U512::from(r._0) * U512::from(r._1);
            let sq = |s: U256| U512::from(s) * U512::from(s);
            assert!(
                k(&after) * sq(supply_before) >= k(&before) * sq(supply),
                "step {step}: value per share fell"
            );
        }
    }
    println!("{steps} steps mined, {reverted} refused, every invariant held");
    assert!(steps > 50, "the sequence exercised the pool: {steps} mined");
}
