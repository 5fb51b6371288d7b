//! Gas of our AMM against Uniswap V2 on the same in-process devnet.
//!
//! Both sides run on one chain, with the same two Stylus mock ERC-20s, so token costs are
//! identical and the difference is the AMM itself.

use std::path::PathBuf;

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, Bytes, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
    sol,
    sol_types::SolValue,
};
use eyre::{eyre, Context, Result};

use crate::send;
use crate::system::System;
use crate::{IAmm, IMockErc20};

sol! {
    #[sol(rpc)]
    interface IUniswapV2Factory {
        function createPair(address tokenA, address tokenB) external returns (address pair);
        function getPair(address tokenA, address tokenB) external view returns (address pair);
    }
    #[sol(rpc)]
    interface IUniswapV2Pair {
        function getReserves() external view returns (uint112 reserve0, uint112 reserve1, uint32 blockTimestampLast);
        function token0() external view returns (address);
        function mint(address to) external returns (uint256 liquidity);
        function burn(address to) external returns (uint256 amount0, uint256 amount1);
        function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external;
        function balanceOf(address owner) external view returns (uint256);
        function transfer(address to, uint256 value) external returns (bool);
    }
}

const E18: u128 = 1_000_000_000_000_000_000;
const FAR: u64 = u64::MAX;
/// The intrinsic cost every transaction pays once; a router call pays it once for the token
/// transfer and the pair call together, so it is subtracted from one of the two receipts.
const INTRINSIC: u64 = 21_000;

struct Row {
    what: String,
    ours: Option<u64>,
    theirs: Option<u64>,
    note: String,
}

fn row(what: &str, ours: Option<u64>, theirs: Option<u64>, note: &str) -> Row {
    Row { what: what.into(), ours, theirs, note: note.into() }
}

fn path(hops: &[(Address, u16)], last: Address) -> Bytes {
    let mut v = Vec::new();
    for (t, fee) in hops {
        v.extend_from_slice(t.as_slice());
        v.extend_from_slice(&fee.to_be_bytes());
    }
    v.extend_from_slice(last.as_slice());
    v.into()
}

fn uniswap_bytecode(dir: &std::path::Path, name: &str) -> Result<Vec<u8>> {
    let file = dir.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&file)
        .wrap_err_with(|| format!("{} (run `npm ci --prefix scripts`)", file.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text).wrap_err_with(|| file.display().to_string())?;
    let hex = json["bytecode"].as_str().ok_or_else(|| eyre!("{}: no `bytecode` string", file.display()))?;
    alloy::primitives::hex::decode(hex.trim_start_matches("0x")).wrap_err_with(|| file.display().to_string())
}

pub async fn measure(s: &System, uniswap_build: Option<PathBuf>) -> Result<()> {
    let root = deployer::workspace_root();
    let uni_dir = uniswap_build.unwrap_or_else(|| root.join("scripts/node_modules/@uniswap/v2-core/build"));
    let factory_code = uniswap_bytecode(&uni_dir, "UniswapV2Factory")?;
    let p = s.owner.clone();
    let me = s.me;
    let at = |k: &str| s.at(k);
    let amm = IAmm::new(at("amm")?, p.clone());
    let (mut a, mut b) = (at("stablecoin")?, at("collateral")?);
    if a > b {
        std::mem::swap(&mut a, &mut b);
    }
    let (ta, tb) = (IMockErc20::new(a, p.clone()), IMockErc20::new(b, p.clone()));
    for t in [&ta, &tb] {
        send!(t.mint(me, U256::from(10_000_000u128 * E18)), "mint mock token")?;
        send!(t.approve(*amm.address(), U256::MAX), "approve amm")?;
        // The router-equivalent Uniswap path pulls with transferFrom, as the router does.
        send!(t.approve(me, U256::MAX), "approve self")?;
    }

    let mut rows = Vec::new();
    // --- ours ---
    send!(amm.createPool(a, b, 30), "createPool")?;
    let id = amm.poolId(a, b, 30).call().await?;
    let (d0, d1) = (U256::from(1000 * E18), U256::from(4000 * E18));
    let add_first =
        send!(amm.addLiquidity(id, d0, d1, U256::ZERO, U256::ZERO, me, U256::from(FAR)), "addLiquidity")?;
    let add_later = send!(
        amm.addLiquidity(id, d0, d1, U256::ZERO, U256::ZERO, me, U256::from(FAR)),
        "addLiquidity later"
    )?;
    let one_hop = path(&[(a, 30)], b);
    let q = amm.getAmountsOut(one_hop.clone(), U256::from(E18)).call().await?;
    let swap1 =
        send!(amm.swapExactIn(one_hop.clone(), U256::from(E18), q[1], me, U256::from(FAR)), "swap one hop")?;
    // A second swap in the same direction: warm pool, the steady-state number.
    let swap1b =
        send!(amm.swapExactIn(one_hop, U256::from(E18), U256::ZERO, me, U256::from(FAR)), "swap one hop")?;
    // Two hops: a second pool on the same pair at another fee tier, path a -> b -> a.
    send!(amm.createPool(a, b, 5), "createPool 2")?;
    let id2 = amm.poolId(a, b, 5).call().await?;
    send!(amm.addLiquidity(id2, d0, d1, U256::ZERO, U256::ZERO, me, U256::from(FAR)), "addLiquidity pool 2")?;
    let two_hop = path(&[(a, 30), (b, 5)], a);
    let swap2 =
        send!(amm.swapExactIn(two_hop, U256::from(E18), U256::ZERO, me, U256::from(FAR)), "swap two hops")?;
    let shares = amm.balanceOf(me, id).call().await? / U256::from(2u8);
    let remove = send!(
        amm.removeLiquidity(id, shares, U256::ZERO, U256::ZERO, me, U256::from(FAR)),
        "removeLiquidity"
    )?;

    // --- Uniswap V2 on the same chain, same tokens ---
    let deploy_tx = TransactionRequest::default().with_deploy_code([factory_code, me.abi_encode()].concat());
    let r = p.send_transaction(deploy_tx).await?.get_receipt().await?;
    let factory_addr =
        r.contract_address.filter(|_| r.status()).ok_or_else(|| eyre!("UniswapV2Factory deploy failed"))?;
    let factory = IUniswapV2Factory::new(factory_addr, p.clone());
    send!(factory.createPair(a, b), "createPair")?;
    let pair = IUniswapV2Pair::new(factory.getPair(a, b).call().await?, p.clone());
    let pa = *pair.address();
    // First mint (router: two transferFrom + mint).
    let t0 = send!(ta.transferFrom(me, pa, d0), "transfer a")?;
    let t1 = send!(tb.transferFrom(me, pa, d1), "transfer b")?;
    let uni_mint_first = send!(pair.mint(me), "pair.mint")?;
    let uni_add_first_router = t0 + t1 + uni_mint_first - 2 * INTRINSIC;
    let t0 = send!(ta.transferFrom(me, pa, d0), "transfer a")?;
    let t1 = send!(tb.transferFrom(me, pa, d1), "transfer b")?;
    let uni_mint_later = send!(pair.mint(me), "pair.mint later")?;
    let uni_add_later_router = t0 + t1 + uni_mint_later - 2 * INTRINSIC;
    // Swap a -> b of 1e18 at 0.30 %, the getAmountOut formula the router uses.
    let mut uni_swap = Vec::new();
    let mut uni_swap_router = Vec::new();
    for _ in 0..2 {
        let res = pair.getReserves().call().await?;
        let (r_a, r_b) = if pair.token0().call().await? == a {
            (U256::from(res.reserve0), U256::from(res.reserve1))
        } else {
            (U256::from(res.reserve1), U256::from(res.reserve0))
        };
        let in_fee = U256::from(E18) * U256::from(997u16);
        let out = in_fee * r_b / (r_a * U256::from(1000u16) + in_fee);
        let t = send!(ta.transferFrom(me, pa, U256::from(E18)), "transfer in")?;
        let (o0, o1) = if a < b { (U256::ZERO, out) } else { (out, U256::ZERO) };
        let s = send!(pair.swap(o0, o1, me, Bytes::new()), "pair.swap")?;
        uni_swap.push(s);
        uni_swap_router.push(t + s - INTRINSIC);
    }
    let lp = pair.balanceOf(me).call().await? / U256::from(2u8);
    let t = send!(pair.transfer(pa, lp), "lp transfer")?;
    let uni_burn = send!(pair.burn(me), "pair.burn")?;
    let uni_burn_router = t + uni_burn - INTRINSIC;

    rows.push(row(
        "swap, one hop (first swap of the pool)",
        Some(swap1),
        Some(uni_swap_router[0]),
        "theirs: transferFrom + pair.swap, one intrinsic",
    ));
    rows.push(row(
        "swap, one hop (warm)",
        Some(swap1b),
        Some(uni_swap_router[1]),
        "theirs: transferFrom + pair.swap, one intrinsic",
    ));
    rows.push(row(
        "swap, one hop vs bare pair.swap",
        Some(swap1b),
        Some(uni_swap[1]),
        "theirs: pair.swap only (tokens already sent)",
    ));
    rows.push(row("swap, two hops", Some(swap2), None, "ours: a->b->a through two pools"));
    rows.push(row(
        "add liquidity, first deposit",
        Some(add_first),
        Some(uni_add_first_router),
        "theirs: 2 transferFrom + pair.mint",
    ));
    rows.push(row(
        "add liquidity, later deposit",
        Some(add_later),
        Some(uni_add_later_router),
        "theirs: 2 transferFrom + pair.mint",
    ));
    rows.push(row(
        "pair.mint alone, first / later",
        None,
        Some(uni_mint_first),
        &format!("later: {uni_mint_later}"),
    ));
    rows.push(row(
        "remove liquidity",
        Some(remove),
        Some(uni_burn_router),
        "theirs: LP transfer + pair.burn",
    ));

    println!("## Gas: our AMM vs Uniswap V2 (same devnet, same Stylus mock tokens)\n");
    println!("| call | ours | Uniswap V2 | ours / theirs | note |");
    println!("|---|---:|---:|---:|---|");
    for r in &rows {
        let f = |v: Option<u64>| v.map(|g| g.to_string()).unwrap_or_else(|| "-".into());
        let ratio = match (r.ours, r.theirs) {
            (Some(o), Some(t)) if t > 0 => format!("{:.2}", o as f64 / t as f64),
            _ => "-".into(),
        };
        println!("| {} | {} | {} | {} | {} |", r.what, f(r.ours), f(r.theirs), ratio, r.note);
    }
    println!();
    let target = uni_swap_router[1];
    if swap1b <= target {
        println!("Target met: single-hop swap {swap1b} <= Uniswap V2 router-equivalent swap {target}.");
    } else {
        println!(
            "Target MISSED: single-hop swap {swap1b} > Uniswap V2 router-equivalent swap {target} (+{}, {:.1} %).",
            swap1b - target,
            (swap1b - target) as f64 * 100.0 / target as f64
        );
    }
    println!("\nAll numbers are receipt gasUsed and include the 21000 intrinsic once per transaction.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_encodes_token_fee_token() {
        let (a, b, c) = (Address::repeat_byte(1), Address::repeat_byte(2), Address::repeat_byte(3));
        let p = path(&[(a, 30), (b, 5)], c);
        assert_eq!(p.len(), 20 + 2 + 20 + 2 + 20);
        assert_eq!(&p[20..22], &30u16.to_be_bytes());
        assert_eq!(&p[42..44], &5u16.to_be_bytes());
        assert_eq!(&p[44..], c.as_slice());
    }

    #[test]
    fn missing_uniswap_build_is_a_clear_error() {
        let err = uniswap_bytecode(std::path::Path::new("/nonexistent"), "UniswapV2Factory").unwrap_err();
        assert!(format!("{err:#}").contains("npm ci --prefix scripts"), "{err:#}");
    }

    #[test]
    fn shipped_uniswap_factory_bytecode_decodes() {
        let dir = deployer::workspace_root().join("scripts/node_modules/@uniswap/v2-core/build");
        if !dir.exists() {
            eprintln!("skipped: run `npm ci --prefix scripts` first");
            return;
        }
        let code = uniswap_bytecode(&dir, "UniswapV2Factory").unwrap();
        assert_eq!(&code[..4], &[0x60, 0x80, 0x60, 0x40], "EVM creation code");
    }
}
