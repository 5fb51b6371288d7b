//! Native tests on the SDK's TestVM, with ERC-20 tokens executed by a test host
//! ([`host::TokenHost`]): every token call really moves balances, so each test can check
//! conservation (`tokenReserves` equals what the AMM holds) as well as return values.

mod facade;
mod host;

use super::*;
use alloy_primitives::{address, keccak256, Address, FixedBytes, U256, U512};
use alloy_sol_types::SolEvent;
use facade::Amm;
use host::{revert_reason, Mode, TokenHost};
use proptest::prelude::*;
use std::{cell::RefCell, rc::Rc};
use stylus_sdk::testing::*;

const AMM: Address = address!("aa00000000000000000000000000000000000001");
const OWNER: Address = address!("0a00000000000000000000000000000000000001");
const FEE_TO: Address = address!("0f00000000000000000000000000000000000001");
const ALICE: Address = address!("c000000000000000000000000000000000000001");
const BOB: Address = address!("c000000000000000000000000000000000000002");
const CAROL: Address = address!("c000000000000000000000000000000000000003");
const A: Address = address!("1000000000000000000000000000000000000001");
const B: Address = address!("1000000000000000000000000000000000000002");
const C: Address = address!("1000000000000000000000000000000000000003");
const EOA: Address = address!("e000000000000000000000000000000000000001");
const T0: u64 = 1_700_000_000;
const FAR: u64 = u64::MAX;
const E18: u128 = 1_000_000_000_000_000_000;

fn u(x: u128) -> U256 {
    U256::from(x)
}

fn far() -> U256 {
    U256::from(FAR)
}

fn setup() -> (TokenHost, Amm) {
    let vm = TestVMBuilder::new().contract_address(AMM).sender(OWNER).build();
    vm.set_block_timestamp(T0);
    let host = TokenHost::new(vm);
    for t in [A, B, C] {
        host.add_token(t, Mode::Standard);
        for who in [ALICE, BOB, CAROL] {
            host.mint(t, who, u(1u128 << 100));
        }
    }
    let mut amm = Amm::from(&host);
    amm.constructor(OWNER).unwrap();
    (host, amm)
}

fn as_(host: &TokenHost, who: Address) {
    host.vm.set_sender(who);
}

fn create(host: &TokenHost, amm: &mut Amm, a: Address, b: Address, fee: u16) -> U256 {
    as_(host, OWNER);
    amm.create_pool(a, b, fee).unwrap()
}

fn add(
    host: &TokenHost,
    amm: &mut Amm,
    who: Address,
    id: U256,
    a0: u128,
    a1: u128,
) -> Result<(U256, U256, U256), AmmError> {
    as_(host, who);
    amm.add_liquidity(id, u(a0), u(a1), U256::ZERO, U256::ZERO, who, far())
}

/// A pool of A/B at 30 bps with 1e21 / 4e21 from ALICE (price 4 B per A).
fn pool_ab(host: &TokenHost, amm: &mut Amm) -> U256 {
    let id = create(host, amm, A, B, 30);
    add(host, amm, ALICE, id, 1000 * E18, 4000 * E18).unwrap();
    id
}

fn reserves(amm: &Amm, id: U256) -> (U256, U256) {
    let (r0, r1, _) = amm.get_reserves(id).unwrap();
    (r0, r1)
}

/// The AMM holds exactly what it owes to pools (no donations in these tests).
fn assert_solvent(host: &TokenHost, amm: &Amm) {
    for t in [A, B, C] {
        assert_eq!(host.balance(t, AMM), amm.token_reserves(t), "token {t}");
    }
}

/// Runs one contract call as a transaction: on error, storage and token balances are
/// rolled back as the chain would (the TestVM itself keeps partial writes).
fn tx<T>(host: &TokenHost, f: impl FnOnce() -> Result<T, AmmError>) -> Result<T, AmmError> {
    let storage = host.vm.snapshot().storage;
    let tokens = host.snapshot_tokens();
    let res = f();
    if res.is_err() {
        host.vm.clear_storage();
        for (k, v) in storage {
            host.vm.set_storage(k, v);
        }
        host.restore_tokens(tokens);
    }
    res
}

fn logs_of<E: SolEvent>(host: &TokenHost) -> Vec<E> {
    host.vm
        .get_emitted_logs()
        .into_iter()
        .filter(|(topics, _)| topics[0] == E::SIGNATURE_HASH)
        .map(|(topics, data)| E::decode_raw_log(topics, &data).unwrap())
        .collect()
}

// ----- construction and governance -----

#[test]
fn constructor_sets_owner_and_rejects_zero() {
    let (_host, amm) = setup();
    assert_eq!(amm.owner(), OWNER);
    assert_eq!(amm.pending_owner(), Address::ZERO);
    assert_eq!(amm.fee_to(), Address::ZERO);
    assert_eq!(amm.protocol_fee(), 0);
    let vm = TestVM::default();
    let mut other = Amm::from(&vm);
    assert_eq!(other.constructor(Address::ZERO), Err(AmmError::ZeroAddress(ZeroAddress {})));
}

#[test]
fn ownership_is_two_step() {
    let (host, mut amm) = setup();
    as_(&host, ALICE);
    assert_eq!(amm.transfer_ownership(ALICE), Err(AmmError::NotOwner(NotOwner { caller: ALICE })));
    as_(&host, OWNER);
    amm.transfer_ownership(BOB).unwrap();
    assert_eq!(amm.owner(), OWNER);
    assert_eq!(amm.pending_owner(), BOB);
    as_(&host, ALICE);
    assert_eq!(amm.accept_ownership(), Err(AmmError::NotPendingOwner(NotPendingOwner { caller: ALICE })));
    as_(&host, BOB);
    amm.accept_ownership().unwrap();
    assert_eq!(amm.owner(), BOB);
    assert_eq!(amm.pending_owner(), Address::ZERO);
    let ev = logs_of::<OwnershipTransferred>(&host);
    assert_eq!((ev[1].previousOwner, ev[1].newOwner), (OWNER, BOB));
    // the old owner lost its powers
    as_(&host, OWNER);
    assert_eq!(amm.set_fee_to(OWNER), Err(AmmError::NotOwner(NotOwner { caller: OWNER })));
    // and nobody can accept twice
    as_(&host, BOB);
    assert_eq!(amm.accept_ownership(), Err(AmmError::NotPendingOwner(NotPendingOwner { caller: BOB })));
}

#[test]
fn protocol_fee_settings() {
    let (host, mut amm) = setup();
    as_(&host, ALICE);
    assert_eq!(amm.set_fee_to(ALICE), Err(AmmError::NotOwner(NotOwner { caller: ALICE })));
    assert_eq!(amm.set_protocol_fee(6), Err(AmmError::NotOwner(NotOwner { caller: ALICE })));
    as_(&host, OWNER);
    for bad in [1u8, 11, 255] {
        assert_eq!(
            amm.set_protocol_fee(bad),
            Err(AmmError::InvalidProtocolFee(InvalidProtocolFee { denominator: bad }))
        );
    }
    amm.set_fee_to(FEE_TO).unwrap();
    amm.set_protocol_fee(6).unwrap();
    assert_eq!((amm.fee_to(), amm.protocol_fee()), (FEE_TO, 6));
    amm.set_protocol_fee(0).unwrap();
    assert_eq!(logs_of::<FeeToSet>(&host)[0].feeTo, FEE_TO);
    assert_eq!(logs_of::<ProtocolFeeSet>(&host).len(), 2);
}

// ----- pools -----

#[test]
fn create_pool_ids_and_errors() {
    let (host, mut amm) = setup();
    as_(&host, ALICE); // anyone may create a pool
    let id = amm.create_pool(B, A, 30).unwrap();
    assert_eq!(id, U256::from_be_bytes(keccak256(pool_id_preimage(A, B, 30)).0));
    assert_eq!(amm.pool_id(A, B, 30), id);
    assert_eq!(amm.pool_id(B, A, 30), id);
    assert_eq!(amm.get_pool(id), (A, B, 30));
    let ev = &logs_of::<PoolCreated>(&host)[0];
    assert_eq!((ev.token0, ev.token1, ev.fee, ev.poolId), (A, B, 30, id));
    assert_ne!(amm.create_pool(A, B, 5).unwrap(), id);
    amm.create_pool(A, B, 100).unwrap();
    assert_eq!(amm.create_pool(A, B, 30), Err(AmmError::PoolExists(PoolExists { poolId: id })));
    for fee in [0u16, 1, 29, 31, 10_000] {
        assert_eq!(amm.create_pool(A, C, fee), Err(AmmError::InvalidFee(InvalidFee { fee })));
    }
    assert_eq!(amm.create_pool(A, A, 30), Err(AmmError::IdenticalTokens(IdenticalTokens { token: A })));
    assert_eq!(amm.create_pool(A, Address::ZERO, 30), Err(AmmError::ZeroAddress(ZeroAddress {})));
    assert_eq!(amm.create_pool(A, EOA, 30), Err(AmmError::NotAContract(NotAContract { token: EOA })));
    // an unknown pool
    let missing = amm.pool_id(A, C, 30);
    assert_eq!(amm.get_pool(missing), (Address::ZERO, Address::ZERO, 0));
    assert_eq!(amm.get_reserves(missing), Err(AmmError::PoolNotFound(PoolNotFound { poolId: missing })));
}

// ----- liquidity -----

#[test]
fn first_deposit_locks_minimum_liquidity() {
    let (host, mut amm) = setup();
    let id = create(&host, &mut amm, A, B, 30);
    let (a0, a1, shares) = add(&host, &mut amm, ALICE, id, 1000 * E18, 4000 * E18).unwrap();
    assert_eq!((a0, a1), (u(1000 * E18), u(4000 * E18)));
    assert_eq!(shares, u(2000 * E18 - 1000));
    assert_eq!(amm.balance_of(ALICE, id), shares);
    assert_eq!(amm.balance_of(Address::ZERO, id), u(1000));
    assert_eq!(amm.total_supply(id), u(2000 * E18));
    assert_eq!(reserves(&amm, id), (a0, a1));
    assert_eq!(host.balance(A, ALICE), u(1u128 << 100) - a0);
    assert_solvent(&host, &amm);
    let m = &logs_of::<Mint>(&host)[0];
    assert_eq!(
        (m.poolId, m.sender, m.to, m.amount0, m.amount1, m.shares),
        (id, ALICE, ALICE, a0, a1, shares)
    );
    assert_eq!(logs_of::<Transfer>(&host).len(), 2); // the lock and Alice's shares
}

#[test]
fn later_deposit_takes_the_price_and_enforces_minimums() {
    let (host, mut amm) = setup();
    let id = pool_ab(&host, &mut amm);
    // Bob offers 10 A and 100 B: takes 10 A and 40 B.
    let (a0, a1, shares) = add(&host, &mut amm, BOB, id, 10 * E18, 100 * E18).unwrap();
    assert_eq!((a0, a1), (u(10 * E18), u(40 * E18)));
    assert_eq!(shares, u(20 * E18)); // 1% of the supply
                                     // Bob offers 100 A and 40 B: takes 10 A and 40 B.
    let (a0, a1, _) = add(&host, &mut amm, BOB, id, 100 * E18, 40 * E18).unwrap();
    assert_eq!((a0, a1), (u(10 * E18), u(40 * E18)));
    as_(&host, BOB);
    assert_eq!(
        amm.add_liquidity(id, u(10 * E18), u(100 * E18), U256::ZERO, u(41 * E18), BOB, far()),
        Err(AmmError::InsufficientAmount1(InsufficientAmount1 {
            amount1: u(40 * E18),
            amount1Min: u(41 * E18)
        }))
    );
    assert_eq!(
        amm.add_liquidity(id, u(100 * E18), u(40 * E18), u(11 * E18), U256::ZERO, BOB, far()),
        Err(AmmError::InsufficientAmount0(InsufficientAmount0 {
            amount0: u(10 * E18),
            amount0Min: u(11 * E18)
        }))
    );
    assert_solvent(&host, &amm);
}

#[test]
fn add_liquidity_errors() {
    let (host, mut amm) = setup();
    let id = create(&host, &mut amm, A, B, 30);
    host.vm.set_block_timestamp(T0 + 10);
    as_(&host, ALICE);
    assert_eq!(
        amm.add_liquidity(id, u(E18), u(E18), U256::ZERO, U256::ZERO, ALICE, u(T0 as u128 + 9)),
        Err(AmmError::Expired(Expired { deadline: u(T0 as u128 + 9), now: u(T0 as u128 + 10) }))
    );
    // the deadline itself is still valid
    amm.add_liquidity(id, u(E18), u(E18), U256::ZERO, U256::ZERO, ALICE, u(T0 as u128 + 10)).unwrap();
    assert_eq!(
        amm.add_liquidity(id, u(E18), u(E18), U256::ZERO, U256::ZERO, Address::ZERO, far()),
        Err(AmmError::ZeroAddress(ZeroAddress {}))
    );
    let missing = amm.pool_id(A, C, 30);
    assert_eq!(
        amm.add_liquidity(missing, u(E18), u(E18), U256::ZERO, U256::ZERO, ALICE, far()),
        Err(AmmError::PoolNotFound(PoolNotFound { poolId: missing }))
    );
    assert_eq!(
        amm.add_liquidity(id, U256::ZERO, u(E18), U256::ZERO, U256::ZERO, ALICE, far()),
        Err(AmmError::ZeroAmount(ZeroAmount {}))
    );
    // a first deposit too small to exceed the locked minimum
    let id2 = create(&host, &mut amm, A, C, 30);
    assert_eq!(
        add(&host, &mut amm, ALICE, id2, 1000, 1000),
        Err(AmmError::InsufficientLiquidityMinted(InsufficientLiquidityMinted {}))
    );
    // a deposit that rounds to zero shares (price 1/4, supply/reserve0 = 1/2)
    add(&host, &mut amm, ALICE, id2, 4000, 1000).unwrap();
    assert_eq!(
        add(&host, &mut amm, ALICE, id2, 1, 1),
        Err(AmmError::InsufficientLiquidityMinted(InsufficientLiquidityMinted {}))
    );
    // reserves above 2^112
    let id3 = create(&host, &mut amm, B, C, 30);
    host.mint(B, ALICE, U256::from(1u8) << 120);
    host.mint(C, ALICE, U256::from(1u8) << 120);
    as_(&host, ALICE);
    assert_eq!(
        amm.add_liquidity(id3, U256::from(1u8) << 112, u(E18), U256::ZERO, U256::ZERO, ALICE, far()),
        Err(AmmError::Overflow(Overflow {}))
    );
    // a token that refuses the pull: its revert data is re-raised
    assert_eq!(
        tx(&host, || add(&host, &mut amm, EOA, id, E18, E18)),
        Err(AmmError::Bubbled(revert_reason("insufficient balance")))
    );
    assert_solvent(&host, &amm);
}

#[test]
fn remove_liquidity_pays_pro_rata() {
    let (host, mut amm) = setup();
    let id = pool_ab(&host, &mut amm);
    let (_, _, bob_shares) = add(&host, &mut amm, BOB, id, 10 * E18, 40 * E18).unwrap();
    let (a_before, b_before) = (host.balance(A, CAROL), host.balance(B, CAROL));
    as_(&host, BOB);
    let (a0, a1) = amm.remove_liquidity(id, bob_shares, U256::ZERO, U256::ZERO, CAROL, far()).unwrap();
    assert_eq!((a0, a1), (u(10 * E18), u(40 * E18)));
    assert_eq!(host.balance(A, CAROL) - a_before, a0);
    assert_eq!(host.balance(B, CAROL) - b_before, a1);
    assert_eq!(amm.balance_of(BOB, id), U256::ZERO);
    let bu = &logs_of::<Burn>(&host)[0];
    assert_eq!((bu.sender, bu.to, bu.shares), (BOB, CAROL, bob_shares));
    // Alice leaves entirely: the locked minimum keeps both reserves positive.
    let alice = amm.balance_of(ALICE, id);
    as_(&host, ALICE);
    amm.remove_liquidity(id, alice, U256::ZERO, U256::ZERO, ALICE, far()).unwrap();
    let (r0, r1) = reserves(&amm, id);
    assert!(r0 > U256::ZERO && r1 > U256::ZERO);
    assert_eq!(amm.total_supply(id), u(1000));
    assert_solvent(&host, &amm);
}

#[test]
fn remove_liquidity_errors() {
    let (host, mut amm) = setup();
    let id = pool_ab(&host, &mut amm);
    let shares = amm.balance_of(ALICE, id);
    as_(&host, BOB);
    assert_eq!(
        amm.remove_liquidity(id, u(E18), U256::ZERO, U256::ZERO, BOB, far()),
        Err(AmmError::InsufficientBalance(InsufficientBalance {
            owner: BOB,
            id,
            balance: U256::ZERO,
            needed: u(E18)
        }))
    );
    as_(&host, ALICE);
    assert_eq!(
        amm.remove_liquidity(id, u(E18), u(E18), U256::ZERO, ALICE, far()),
        Err(AmmError::InsufficientAmount0(InsufficientAmount0 { amount0: u(E18 / 2), amount0Min: u(E18) }))
    );
    assert_eq!(
        amm.remove_liquidity(id, u(E18), U256::ZERO, u(3 * E18), ALICE, far()),
        Err(AmmError::InsufficientAmount1(InsufficientAmount1 {
            amount1: u(2 * E18),
            amount1Min: u(3 * E18)
        }))
    );
    host.vm.set_block_timestamp(T0 + 5);
    assert_eq!(
        amm.remove_liquidity(id, u(E18), U256::ZERO, U256::ZERO, ALICE, u(T0 as u128)),
        Err(AmmError::Expired(Expired { deadline: u(T0 as u128), now: u(T0 as u128 + 5) }))
    );
    assert_eq!(
        amm.remove_liquidity(id, u(E18), U256::ZERO, U256::ZERO, Address::ZERO, far()),
        Err(AmmError::ZeroAddress(ZeroAddress {}))
    );
    assert_eq!(
        amm.remove_liquidity(id, u(1), U256::ZERO, U256::ZERO, ALICE, far()),
        Err(AmmError::InsufficientLiquidityMinted(InsufficientLiquidityMinted {}))
    );
    assert_eq!(amm.balance_of(ALICE, id), shares);
    assert_solvent(&host, &amm);
}

#[test]
fn donations_do_not_move_the_price_first_depositor_attack() {
    // The attacker deposits the minimum, then donates a fortune to the AMM hoping to make
    // one share worth so much that the victim's deposit rounds to zero shares.
    let (host, mut amm) = setup();
    let id = create(&host, &mut amm, A, B, 30);
    add(&host, &mut amm, ALICE, id, 1001, 1001).unwrap(); // 1 share for Alice
    assert_eq!(amm.balance_of(ALICE, id), u(1));
    host.donate(A, ALICE, AMM, u(1000 * E18));
    host.donate(B, ALICE, AMM, u(1000 * E18));
    assert_eq!(reserves(&amm, id), (u(1001), u(1001))); // donations are ignored
    let (a0, a1, shares) = add(&host, &mut amm, BOB, id, 10 * E18, 10 * E18).unwrap();
    // Bob gets shares at the pool's own price: his fair share to the wei.
    assert_eq!(shares, u(10 * E18) * u(1001) / u(1001));
    as_(&host, BOB);
    let (b0, b1) = amm.remove_liquidity(id, shares, U256::ZERO, U256::ZERO, BOB, far()).unwrap();
    assert!(b0 <= a0 && b1 <= a1);
    assert!(a0 - b0 <= u(1) && a1 - b1 <= u(1));
}

// ----- swaps -----

#[test]
fn swap_exact_in_single_hop() {
    let (host, mut amm) = setup();
    let id = pool_ab(&host, &mut amm);
    let (r0, r1) = reserves(&amm, id);
    let quote = amm.get_amounts_out(pk(&[A, B], &[30]), u(E18)).unwrap();
    assert_eq!(quote[1], math::get_amount_out(u(E18), r0, r1, 30).unwrap());
    let b_before = host.balance(B, CAROL);
    as_(&host, BOB);
    let amounts = amm.swap_exact_in(pk(&[A, B], &[30]), u(E18), quote[1], CAROL, far()).unwrap();
    assert_eq!(amounts, quote);
    assert_eq!(host.balance(B, CAROL) - b_before, quote[1]);
    assert_eq!(reserves(&amm, id), (r0 + u(E18), r1 - quote[1]));
    assert!((r0 + u(E18)) * (r1 - quote[1]) >= r0 * r1);
    let s = &logs_of::<Swap>(&host)[0];
    assert_eq!(
        (s.poolId, s.sender, s.to, s.zeroForOne, s.amountIn, s.amountOut),
        (id, BOB, CAROL, true, u(E18), quote[1])
    );
    // and the other direction
    let quote = amm.get_amounts_out(pk(&[B, A], &[30]), u(E18)).unwrap();
    let amounts = amm.swap_exact_in(pk(&[B, A], &[30]), u(E18), U256::ZERO, BOB, far()).unwrap();
    assert_eq!(amounts, quote);
    assert!(!logs_of::<Swap>(&host)[1].zeroForOne);
    assert_solvent(&host, &amm);
}

#[test]
fn swap_exact_out_single_hop() {
    let (host, mut amm) = setup();
    let id = pool_ab(&host, &mut amm);
    let (r0, r1) = reserves(&amm, id);
    let quote = amm.get_amounts_in(pk(&[A, B], &[30]), u(E18)).unwrap();
    assert_eq!(quote[0], math::get_amount_in(u(E18), r0, r1, 30).unwrap());
    let a_before = host.balance(A, BOB);
    as_(&host, BOB);
    assert_eq!(
        amm.swap_exact_out(pk(&[A, B], &[30]), u(E18), quote[0] - u(1), BOB, far()),
        Err(AmmError::ExcessiveInput(ExcessiveInput { amountIn: quote[0], amountInMax: quote[0] - u(1) }))
    );
    let amounts = amm.swap_exact_out(pk(&[A, B], &[30]), u(E18), quote[0], BOB, far()).unwrap();
    assert_eq!(amounts, quote);
    assert_eq!(a_before - host.balance(A, BOB), quote[0]);
    assert_eq!(reserves(&amm, id), (r0 + quote[0], r1 - u(E18)));
    assert_eq!(
        amm.swap_exact_out(pk(&[A, B], &[30]), r1, U256::MAX, BOB, far()),
        Err(AmmError::InsufficientLiquidity(InsufficientLiquidity {}))
    );
    assert_solvent(&host, &amm);
}

#[test]
fn multi_hop_routes_match_quotes() {
    let (host, mut amm) = setup();
    let ab = pool_ab(&host, &mut amm);
    let bc = create(&host, &mut amm, C, B, 5);
    add(&host, &mut amm, ALICE, bc, 2000 * E18, 500 * E18).unwrap(); // (B, C) = (2000, 500)
    let (ab0, ab1) = reserves(&amm, ab);
    let (bc0, bc1) = reserves(&amm, bc);
    let path = vec![A, B, C];
    let fees = vec![30, 5];
    let quote = amm.get_amounts_out(pk(&path, &fees), u(E18)).unwrap();
    let mid = math::get_amount_out(u(E18), ab0, ab1, 30).unwrap();
    assert_eq!(quote, vec![u(E18), mid, math::get_amount_out(mid, bc0, bc1, 5).unwrap()]);
    let b_total = amm.token_reserves(B);
    as_(&host, BOB);
    assert_eq!(
        amm.swap_exact_in(pk(&path, &fees), u(E18), quote[2] + u(1), BOB, far()),
        Err(AmmError::InsufficientOutput(InsufficientOutput {
            amountOut: quote[2],
            amountOutMin: quote[2] + u(1)
        }))
    );
    assert_eq!(amm.swap_exact_in(pk(&path, &fees), u(E18), quote[2], BOB, far()).unwrap(), quote);
    assert_eq!(amm.token_reserves(B), b_total); // the intermediate token never leaves
    let swaps = logs_of::<Swap>(&host);
    assert_eq!((swaps[0].to, swaps[1].to), (AMM, BOB));
    // exact out, backwards: C -> B -> A
    let back = vec![C, B, A];
    let q = amm.get_amounts_in(pk(&back.clone(), &[5, 30]), u(E18)).unwrap();
    assert_eq!(q[2], u(E18));
    assert_eq!(amm.swap_exact_out(pk(&back, &[5, 30]), u(E18), q[0], BOB, far()).unwrap(), q);
    assert_solvent(&host, &amm);
}

#[test]
fn swap_errors() {
    let (host, mut amm) = setup();
    let ab = pool_ab(&host, &mut amm);
    let ab5 = create(&host, &mut amm, A, B, 5);
    add(&host, &mut amm, ALICE, ab5, 1000 * E18, 4000 * E18).unwrap();
    as_(&host, BOB);
    let ab_path = pk(&[A, B], &[30]);
    let bad_paths: Vec<Bytes> = vec![
        Bytes::new(),
        pk(&[A], &[]),                 // no hop
        pk(&[A], &[30]),               // a fee without the next token
        pk(&[A, B], &[30, 30]),        // a trailing fee
        ab_path[..41].to_vec().into(), // truncated
        pk(&[A, B, A], &[30, 30]),     // the same pool twice
    ];
    for p in bad_paths {
        assert_eq!(amm.get_amounts_out(p.clone(), u(E18)), Err(AmmError::InvalidPath(InvalidPath {})));
        assert_eq!(
            amm.swap_exact_in(p.clone(), u(E18), U256::ZERO, BOB, far()),
            Err(AmmError::InvalidPath(InvalidPath {}))
        );
        assert_eq!(
            amm.swap_exact_out(p, u(E18), U256::MAX, BOB, far()),
            Err(AmmError::InvalidPath(InvalidPath {}))
        );
    }
    // a circular route through two pools is fine
    let amounts = amm.swap_exact_in(pk(&[A, B, A], &[30, 5]), u(E18), U256::ZERO, BOB, far()).unwrap();
    assert!(amounts[2] < u(E18)); // and never profitable
    let missing = amm.pool_id(A, C, 30);
    assert_eq!(
        amm.swap_exact_in(pk(&[A, C], &[30]), u(E18), U256::ZERO, BOB, far()),
        Err(AmmError::PoolNotFound(PoolNotFound { poolId: missing }))
    );
    assert_eq!(
        amm.swap_exact_in(pk(&[A, B], &[30]), U256::ZERO, U256::ZERO, BOB, far()),
        Err(AmmError::ZeroAmount(ZeroAmount {}))
    );
    // 1 wei of B is worth 1/4 wei of A: rounds to nothing
    assert_eq!(
        amm.swap_exact_in(pk(&[B, A], &[30]), u(1), U256::ZERO, BOB, far()),
        Err(AmmError::ZeroAmount(ZeroAmount {}))
    );
    assert_eq!(
        amm.swap_exact_out(pk(&[A, B], &[30]), U256::ZERO, U256::MAX, BOB, far()),
        Err(AmmError::ZeroAmount(ZeroAmount {}))
    );
    assert_eq!(
        amm.swap_exact_in(pk(&[A, B], &[30]), u(E18), U256::ZERO, Address::ZERO, far()),
        Err(AmmError::ZeroAddress(ZeroAddress {}))
    );
    host.vm.set_block_timestamp(T0 + 100);
    assert_eq!(
        amm.swap_exact_in(pk(&[A, B], &[30]), u(E18), U256::ZERO, BOB, u(T0 as u128 + 99)),
        Err(AmmError::Expired(Expired { deadline: u(T0 as u128 + 99), now: u(T0 as u128 + 100) }))
    );
    assert_eq!(
        amm.swap_exact_out(pk(&[A, B], &[30]), u(E18), U256::MAX, BOB, u(T0 as u128 + 99)),
        Err(AmmError::Expired(Expired { deadline: u(T0 as u128 + 99), now: u(T0 as u128 + 100) }))
    );
    // an input above 2^112 in total
    host.mint(A, BOB, U256::from(1u8) << 113);
    assert_eq!(
        amm.swap_exact_in(pk(&[A, B], &[30]), U256::from(1u8) << 112, U256::ZERO, BOB, far()),
        Err(AmmError::Overflow(Overflow {}))
    );
    let _ = ab;
    assert_solvent(&host, &amm);
}

// ----- token behaviours -----

#[test]
fn tokens_without_return_value_are_accepted() {
    let (host, mut amm) = setup();
    host.set_mode(A, Mode::NoReturn);
    host.set_mode(B, Mode::NoReturn);
    let id = pool_ab(&host, &mut amm);
    as_(&host, BOB);
    amm.swap_exact_in(pk(&[A, B], &[30]), u(E18), U256::ZERO, BOB, far()).unwrap();
    as_(&host, ALICE);
    amm.remove_liquidity(id, u(E18), U256::ZERO, U256::ZERO, ALICE, far()).unwrap();
    assert_solvent(&host, &amm);
}

#[test]
fn failing_tokens_revert_clearly() {
    let (host, mut amm) = setup();
    let id = pool_ab(&host, &mut amm);
    host.set_mode(A, Mode::ReturnsFalse);
    as_(&host, BOB);
    assert_eq!(
        tx(&host, || amm.swap_exact_in(pk(&[A, B], &[30]), u(E18), U256::ZERO, BOB, far())),
        Err(AmmError::TransferFailed(TransferFailed { token: A }))
    );
    host.set_mode(A, Mode::Reverts);
    assert_eq!(
        tx(&host, || amm.swap_exact_in(pk(&[A, B], &[30]), u(E18), U256::ZERO, BOB, far())),
        Err(AmmError::Bubbled(revert_reason("paused")))
    );
    // paying out fails too
    as_(&host, ALICE);
    assert_eq!(
        tx(&host, || amm.remove_liquidity(id, u(E18), U256::ZERO, U256::ZERO, ALICE, far())),
        Err(AmmError::Bubbled(revert_reason("paused")))
    );
    assert_solvent(&host, &amm);
}

#[test]
fn fee_on_transfer_tokens_are_refused() {
    let (host, mut amm) = setup();
    let id = pool_ab(&host, &mut amm);
    host.set_mode(A, Mode::FeeOnTransfer(100)); // 1% burned on every transfer
    let owed = amm.token_reserves(A);
    as_(&host, BOB);
    assert_eq!(
        amm.swap_exact_in(pk(&[A, B], &[30]), u(E18), U256::ZERO, BOB, far()),
        Err(AmmError::TransferShortfall(TransferShortfall {
            token: A,
            balance: owed + u(E18 / 100 * 99),
            required: owed + u(E18),
        }))
    );
    let id2 = create(&host, &mut amm, A, C, 30);
    assert!(matches!(add(&host, &mut amm, BOB, id2, E18, E18), Err(AmmError::TransferShortfall(_))));
    let _ = id;
}

#[test]
fn reentrant_calls_see_the_pool_locked() {
    let (host, mut amm) = setup();
    let id = pool_ab(&host, &mut amm);
    let seen: Rc<RefCell<Vec<String>>> = Rc::default();
    {
        let (h, seen) = (host.clone(), seen.clone());
        host.set_hook(Rc::new(move || {
            let mut inner = Amm::from(&h);
            seen.borrow_mut().push(format!("{:?}", inner.get_reserves(id)));
            seen.borrow_mut().push(format!("{:?}", inner.get_amounts_out(pk(&[A, B], &[30]), u(E18))));
            seen.borrow_mut().push(format!("{:?}", inner.twap(id, 1)));
            seen.borrow_mut().push(format!(
                "{:?}",
                inner.swap_exact_in(pk(&[A, B], &[30]), u(E18), U256::ZERO, BOB, far())
            ));
            seen.borrow_mut().push(format!(
                "{:?}",
                inner.add_liquidity(id, u(E18), u(E18), U256::ZERO, U256::ZERO, BOB, far())
            ));
        }));
    }
    as_(&host, BOB);
    amm.swap_exact_in(pk(&[A, B], &[30]), u(E18), U256::ZERO, BOB, far()).unwrap();
    let locked = format!("Err({:?})", AmmError::Locked(Locked { poolId: id }));
    assert_eq!(seen.borrow().len(), 5);
    for s in seen.borrow().iter() {
        assert_eq!(s, &locked);
    }
    // unlocked afterwards
    amm.get_reserves(id).unwrap();
    assert_solvent(&host, &amm);
}

// ----- ERC-6909 -----

#[test]
fn erc6909_transfers_allowances_and_operators() {
    let (host, mut amm) = setup();
    let id = pool_ab(&host, &mut amm);
    let all = amm.balance_of(ALICE, id);
    as_(&host, ALICE);
    assert!(amm.transfer(BOB, id, u(100)).unwrap());
    assert_eq!(amm.balance_of(BOB, id), u(100));
    assert_eq!(amm.balance_of(ALICE, id), all - u(100));
    assert_eq!(amm.transfer(Address::ZERO, id, u(1)), Err(AmmError::ZeroAddress(ZeroAddress {})));
    assert_eq!(
        amm.transfer(BOB, id, all),
        Err(AmmError::InsufficientBalance(InsufficientBalance {
            owner: ALICE,
            id,
            balance: all - u(100),
            needed: all
        }))
    );
    // allowance
    as_(&host, BOB);
    assert_eq!(
        amm.transfer_from(ALICE, CAROL, id, u(10)),
        Err(AmmError::InsufficientPermission(InsufficientPermission { spender: BOB, id }))
    );
    as_(&host, ALICE);
    amm.approve(BOB, id, u(15)).unwrap();
    assert_eq!(amm.allowance(ALICE, BOB, id), u(15));
    let ap = &logs_of::<Approval>(&host)[0];
    assert_eq!((ap.owner, ap.spender, ap.id, ap.amount), (ALICE, BOB, id, u(15)));
    as_(&host, BOB);
    amm.transfer_from(ALICE, CAROL, id, u(10)).unwrap();
    assert_eq!(amm.allowance(ALICE, BOB, id), u(5));
    assert_eq!(amm.balance_of(CAROL, id), u(10));
    assert_eq!(
        amm.transfer_from(ALICE, CAROL, id, u(6)),
        Err(AmmError::InsufficientPermission(InsufficientPermission { spender: BOB, id }))
    );
    // an infinite allowance is never decremented
    as_(&host, ALICE);
    amm.approve(BOB, id, U256::MAX).unwrap();
    as_(&host, BOB);
    amm.transfer_from(ALICE, CAROL, id, u(10)).unwrap();
    assert_eq!(amm.allowance(ALICE, BOB, id), U256::MAX);
    // operators move anything without allowance
    as_(&host, ALICE);
    amm.approve(BOB, id, U256::ZERO).unwrap();
    amm.set_operator(CAROL, true).unwrap();
    assert!(amm.is_operator(ALICE, CAROL));
    let op = &logs_of::<OperatorSet>(&host)[0];
    assert_eq!((op.owner, op.spender, op.approved), (ALICE, CAROL, true));
    as_(&host, CAROL);
    amm.transfer_from(ALICE, CAROL, id, u(1000)).unwrap();
    as_(&host, ALICE);
    amm.set_operator(CAROL, false).unwrap();
    as_(&host, CAROL);
    assert!(amm.transfer_from(ALICE, CAROL, id, u(1)).is_err());
    // the owner itself needs no permission
    as_(&host, ALICE);
    amm.transfer_from(ALICE, BOB, id, u(1)).unwrap();
    // LP shares moved by transfer can be redeemed by the receiver
    as_(&host, CAROL);
    let carol = amm.balance_of(CAROL, id);
    amm.remove_liquidity(id, carol, U256::ZERO, U256::ZERO, CAROL, far()).unwrap();
    // ERC-165
    assert!(amm.supports_interface(FixedBytes(IERC6909_ID)));
    assert!(amm.supports_interface(FixedBytes(IERC165_ID)));
    assert!(!amm.supports_interface(FixedBytes([0xff; 4])));
    let ids = logs_of::<Transfer>(&host);
    assert!(ids.iter().all(|t| t.id == id));
}

// ----- protocol fee -----

#[test]
fn protocol_fee_off_by_default_then_mints_to_fee_to() {
    let (host, mut amm) = setup();
    let id = pool_ab(&host, &mut amm);
    as_(&host, BOB);
    amm.swap_exact_in(pk(&[A, B], &[30]), u(100 * E18), U256::ZERO, BOB, far()).unwrap();
    add(&host, &mut amm, BOB, id, E18, 10 * E18).unwrap();
    assert_eq!(amm.balance_of(FEE_TO, id), U256::ZERO);
    // turn it on: k_last is recorded at the next liquidity event, fees accrue after it
    as_(&host, OWNER);
    amm.set_fee_to(FEE_TO).unwrap();
    amm.set_protocol_fee(6).unwrap();
    add(&host, &mut amm, BOB, id, E18, 10 * E18).unwrap();
    assert_eq!(amm.balance_of(FEE_TO, id), U256::ZERO);
    let k_last = amm.k_last(id);
    let (r0, r1) = reserves(&amm, id);
    assert_eq!(k_last, r0 * r1);
    as_(&host, BOB);
    for _ in 0..5 {
        amm.swap_exact_in(pk(&[A, B], &[30]), u(100 * E18), U256::ZERO, BOB, far()).unwrap();
        amm.swap_exact_in(pk(&[B, A], &[30]), u(400 * E18), U256::ZERO, BOB, far()).unwrap();
    }
    let (r0, r1) = reserves(&amm, id);
    let expected = math::protocol_fee_shares(r0, r1, k_last, amm.total_supply(id), 6);
    assert!(expected > U256::ZERO);
    let shares = amm.balance_of(ALICE, id);
    as_(&host, ALICE);
    amm.remove_liquidity(id, shares / u(2), U256::ZERO, U256::ZERO, ALICE, far()).unwrap();
    assert_eq!(amm.balance_of(FEE_TO, id), expected);
    // turning it off clears k_last at the next event
    as_(&host, OWNER);
    amm.set_fee_to(Address::ZERO).unwrap();
    add(&host, &mut amm, BOB, id, E18, 10 * E18).unwrap();
    assert_eq!(amm.k_last(id), U256::ZERO);
    assert_solvent(&host, &amm);
}

// ----- oracle -----

fn price(num: U256, den: U256) -> U256 {
    (num << 112) / den
}

#[test]
fn oracle_starts_with_the_first_deposit() {
    let (host, mut amm) = setup();
    let id = create(&host, &mut amm, A, B, 30);
    assert_eq!(
        amm.observe(id, vec![0]),
        Err(AmmError::OracleNotInitialized(OracleNotInitialized { poolId: id }))
    );
    assert_eq!(
        amm.twap(id, 1),
        Err(AmmError::HistoryTooShort(HistoryTooShort { poolId: id, window: 1, available: 0 }))
    );
    assert_eq!(amm.twap(id, 0), Err(AmmError::InvalidWindow(InvalidWindow {})));
    add(&host, &mut amm, ALICE, id, 1000 * E18, 4000 * E18).unwrap();
    assert_eq!(amm.observation_state(id), (0, 1, 1));
    let (c0, c1) = amm.observe(id, vec![0]).unwrap();
    assert_eq!((c0[0], c1[0]), (U256::ZERO, U256::ZERO));
    assert_eq!(
        amm.twap(id, 1),
        Err(AmmError::HistoryTooShort(HistoryTooShort { poolId: id, window: 1, available: 0 }))
    );
    host.vm.set_block_timestamp(T0 + 60);
    // 60 s at price 4: exact
    let (p0, p1) = amm.twap(id, 60).unwrap();
    assert_eq!(p0, price(u(4000 * E18), u(1000 * E18)));
    assert_eq!(p1, price(u(1000 * E18), u(4000 * E18)));
    assert_eq!(
        amm.twap(id, 61),
        Err(AmmError::HistoryTooShort(HistoryTooShort { poolId: id, window: 61, available: 60 }))
    );
    assert_eq!(
        amm.observe(id, vec![61]),
        Err(AmmError::ObservationTooOld(ObservationTooOld { target: T0 - 1, oldest: T0 }))
    );
}

#[test]
fn twap_weights_prices_by_time_and_ignores_intra_block_moves() {
    let (host, mut amm) = setup();
    let id = pool_ab(&host, &mut amm);
    as_(&host, ALICE);
    amm.increase_observation_cardinality(id, 10).unwrap();
    let p_start = price(u(4000 * E18), u(1000 * E18));
    host.vm.set_block_timestamp(T0 + 100);
    // a swap and its reverse in the same block: the oracle sees neither
    let (before0, before1) = amm.observe(id, vec![0, 50]).unwrap();
    as_(&host, BOB);
    let out = amm.swap_exact_in(pk(&[A, B], &[30]), u(500 * E18), U256::ZERO, BOB, far()).unwrap()[1];
    let (mid0, _) = amm.observe(id, vec![0, 50]).unwrap();
    assert_eq!(mid0, before0);
    amm.swap_exact_in(pk(&[B, A], &[30]), out, U256::ZERO, BOB, far()).unwrap();
    let (after0, after1) = amm.observe(id, vec![0, 50]).unwrap();
    assert_eq!((after0, after1), (before0, before1));
    assert_eq!(amm.twap(id, 100).unwrap().0, p_start);
    // then a real move: price p2 for 300 s
    amm.swap_exact_in(pk(&[A, B], &[30]), u(100 * E18), U256::ZERO, BOB, far()).unwrap();
    let (r0, r1) = reserves(&amm, id);
    let p2 = price(r1, r0);
    host.vm.set_block_timestamp(T0 + 400);
    let (p, _) = amm.twap(id, 400).unwrap();
    let expected = (p_start * u(100) + p2 * u(300)) / u(400);
    assert!(p == expected || p + u(1) == expected || p == expected + u(1), "{p} vs {expected}");
    // interpolation between observations is exact (the price is constant between them)
    let (c, _) = amm.observe(id, vec![400, 350, 300, 0]).unwrap();
    assert_eq!(c[0], U256::ZERO);
    assert_eq!(c[1], p_start * u(50));
    assert_eq!(c[2], p_start * u(100));
    assert_eq!(c[3], p_start * u(100) + p2 * u(300));
    // a touch in a later block records an observation
    host.vm.set_block_timestamp(T0 + 500);
    amm.swap_exact_in(pk(&[A, B], &[30]), u(E18), U256::ZERO, BOB, far()).unwrap();
    assert_eq!(amm.observation_state(id), (2, 10, 10));
    let (c, _) = amm.observe(id, vec![0, 250]).unwrap();
    assert_eq!(c[0], p_start * u(100) + p2 * u(400));
    assert_eq!(c[1], p_start * u(100) + p2 * u(150));
}

#[test]
fn observation_ring_grows_and_wraps() {
    let (host, mut amm) = setup();
    let id = pool_ab(&host, &mut amm);
    as_(&host, BOB);
    // capacity 1: only the newest observation, so no window is available at all
    for i in 1..=3u64 {
        host.vm.set_block_timestamp(T0 + 10 * i);
        amm.swap_exact_in(pk(&[A, B], &[30]), u(E18), U256::ZERO, BOB, far()).unwrap();
    }
    assert_eq!(amm.observation_state(id), (0, 1, 1));
    assert!(matches!(amm.twap(id, 1), Err(AmmError::HistoryTooShort(_))));
    host.vm.set_block_timestamp(T0 + 35);
    amm.twap(id, 5).unwrap(); // the price has been constant since the last touch
    assert_eq!(
        amm.twap(id, 6),
        Err(AmmError::HistoryTooShort(HistoryTooShort { poolId: id, window: 6, available: 5 }))
    );
    // pay for 3 slots
    as_(&host, CAROL);
    amm.increase_observation_cardinality(id, 3).unwrap();
    let ev = &logs_of::<ObservationCardinalityIncreased>(&host)[0];
    assert_eq!((ev.cardinalityNextOld, ev.cardinalityNextNew), (1, 3));
    assert_eq!(amm.observation_state(id), (0, 1, 3));
    amm.increase_observation_cardinality(id, 2).unwrap(); // no-op
    assert_eq!(amm.observation_state(id), (0, 1, 3));
    as_(&host, BOB);
    for i in 4..=9u64 {
        host.vm.set_block_timestamp(T0 + 10 * i);
        amm.swap_exact_in(pk(&[A, B], &[30]), u(E18), U256::ZERO, BOB, far()).unwrap();
        let (index, cardinality, _) = amm.observation_state(id);
        assert_eq!(cardinality, 3);
        assert_eq!(index as u64, (i - 3) % 3);
    }
    // newest at T0+90, oldest at T0+70
    host.vm.set_block_timestamp(T0 + 95);
    amm.twap(id, 25).unwrap();
    assert_eq!(
        amm.twap(id, 26),
        Err(AmmError::HistoryTooShort(HistoryTooShort { poolId: id, window: 26, available: 25 }))
    );
    assert_eq!(
        amm.observe(id, vec![26]),
        Err(AmmError::ObservationTooOld(ObservationTooOld { target: T0 + 69, oldest: T0 + 70 }))
    );
    let missing = amm.pool_id(A, C, 30);
    assert_eq!(
        amm.increase_observation_cardinality(missing, 5),
        Err(AmmError::PoolNotFound(PoolNotFound { poolId: missing }))
    );
}

// ----- property tests -----

#[derive(Clone, Debug)]
enum Op {
    Add { who: usize, a0: u128, a1: u128 },
    Remove { who: usize, per_mille: u16 },
    SwapIn { who: usize, zero_for_one: bool, amount: u128 },
    SwapOut { who: usize, zero_for_one: bool, amount: u128 },
    Transfer { from: usize, to: usize, per_mille: u16 },
    Wait { seconds: u64 },
}

const ACTORS: [Address; 3] = [ALICE, BOB, CAROL];

fn op() -> impl Strategy<Value = Op> {
    let amt = 1u128..(1u128 << 70);
    prop_oneof![
        (0..3usize, amt.clone(), amt.clone()).prop_map(|(who, a0, a1)| Op::Add { who, a0, a1 }),
        (0..3usize, 1u16..=1000).prop_map(|(who, per_mille)| Op::Remove { who, per_mille }),
        (0..3usize, any::<bool>(), amt.clone()).prop_map(|(who, zero_for_one, amount)| Op::SwapIn {
            who,
            zero_for_one,
            amount
        }),
        (0..3usize, any::<bool>(), amt).prop_map(|(who, zero_for_one, amount)| Op::SwapOut {
            who,
            zero_for_one,
            amount
        }),
        (0..3usize, 0..3usize, 1u16..=1000).prop_map(|(from, to, per_mille)| Op::Transfer {
            from,
            to,
            per_mille
        }),
        (0u64..1000).prop_map(|seconds| Op::Wait { seconds }),
    ]
}

/// `sqrt(k)/supply` compared exactly: `k·supply'² <= k'·supply²`.
fn share_value_not_decreased(k: U256, supply: U256, k2: U256, supply2: U256) -> bool {
    let w = |x: U256| U512::from(x);
    w(k) * w(supply2) * w(supply2) <= w(k2) * w(supply) * w(supply)
}

/// A packed path without validation (so malformed ones can be built too).
fn pk(tokens: &[Address], fees: &[u16]) -> Bytes {
    let mut out = tokens.first().map(|t| t.to_vec()).unwrap_or_default();
    for (i, t) in tokens.iter().enumerate().skip(1) {
        out.extend_from_slice(&fees.get(i - 1).copied().unwrap_or(0).to_be_bytes());
        out.extend_from_slice(t.as_slice());
    }
    for f in fees.iter().skip(tokens.len().saturating_sub(1)) {
        out.extend_from_slice(&f.to_be_bytes());
    }
    out.into()
}

fn path(zero_for_one: bool) -> Vec<Address> {
    if zero_for_one {
        vec![A, B]
    } else {
        vec![B, A]
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Random sequences of adds, removes, swaps, share transfers and waits by three actors:
    /// * k never decreases across a swap, and every swap executes exactly its quote;
    /// * no operation lowers the value of a share (`sqrt(k)/supply`): nobody extracts
    ///   value from the other LPs;
    /// * the AMM always holds exactly what it owes;
    /// * at the end every actor withdraws, and the actors together hold no more of either
    ///   token than before, the pool keeps the locked minimum's reserves.
    #[test]
    fn random_sequences_keep_the_invariants(ops in prop::collection::vec(op(), 1..25)) {
        let (host, mut amm) = setup();
        let id = create(&host, &mut amm, A, B, 30);
        add(&host, &mut amm, ALICE, id, 1u128 << 60, 1u128 << 61).unwrap();
        let initial: Vec<U256> = [A, B].iter().map(|&t| ACTORS.iter().map(|&w| host.balance(t, w)).sum::<U256>() + host.balance(t, AMM)).collect();
        let mut now = T0;
        for op in ops {
            let (r0, r1) = reserves(&amm, id);
            let (k, supply) = (r0 * r1, amm.total_supply(id));
            match op {
                Op::Add { who, a0, a1 } => { let _ = tx(&host, || add(&host, &mut amm, ACTORS[who], id, a0, a1)); }
                Op::Remove { who, per_mille } => {
                    let shares = amm.balance_of(ACTORS[who], id) * U256::from(per_mille) / u(1000);
                    as_(&host, ACTORS[who]);
                    let _ = tx(&host, || amm.remove_liquidity(id, shares, U256::ZERO, U256::ZERO, ACTORS[who], far()));
                }
                Op::SwapIn { who, zero_for_one, amount } => {
                    as_(&host, ACTORS[who]);
                    let quote = amm.get_amounts_out(pk(&path(zero_for_one), &[30]), u(amount));
                    let res = tx(&host, || amm.swap_exact_in(pk(&path(zero_for_one), &[30]), u(amount), U256::ZERO, ACTORS[who], far()));
                    prop_assert_eq!(quote.is_ok(), res.is_ok());
                    if let Ok(amounts) = res {
                        prop_assert_eq!(amounts, quote.unwrap());
                        let (n0, n1) = reserves(&amm, id);
                        prop_assert!(n0 * n1 >= k);
                    }
                }
                Op::SwapOut { who, zero_for_one, amount } => {
                    as_(&host, ACTORS[who]);
                    let quote = amm.get_amounts_in(pk(&path(zero_for_one), &[30]), u(amount));
                    let res = tx(&host, || amm.swap_exact_out(pk(&path(zero_for_one), &[30]), u(amount), U256::MAX, ACTORS[who], far()));
                    prop_assert_eq!(quote.is_ok(), res.is_ok());
                    if let Ok(amounts) = res {
                        prop_assert_eq!(amounts, quote.unwrap());
                        let (n0, n1) = reserves(&amm, id);
                        prop_assert!(n0 * n1 >= k);
                    }
                }
                Op::Transfer { from, to, per_mille } => {
                    let shares = amm.balance_of(ACTORS[from], id) * U256::from(per_mille) / u(1000);
                    as_(&host, ACTORS[from]);
                    amm.transfer(ACTORS[to], id, shares).unwrap();
                }
                Op::Wait { seconds } => { now += seconds; host.vm.set_block_timestamp(now); }
            }
            let (n0, n1) = reserves(&amm, id);
            prop_assert!(share_value_not_decreased(k, supply, n0 * n1, amm.total_supply(id)));
            prop_assert!(n0 > U256::ZERO && n1 > U256::ZERO);
            assert_solvent(&host, &amm);
        }
        for who in ACTORS {
            let shares = amm.balance_of(who, id);
            if !shares.is_zero() {
                as_(&host, who);
                let _ = amm.remove_liquidity(id, shares, U256::ZERO, U256::ZERO, who, far());
            }
        }
        assert_solvent(&host, &amm);
        for (i, t) in [A, B].into_iter().enumerate() {
            let actors: U256 = ACTORS.iter().map(|&w| host.balance(t, w)).sum();
            prop_assert!(actors < initial[i]);
            prop_assert_eq!(actors + host.balance(t, AMM), initial[i]);
        }
    }

    /// A swap followed by its reverse never profits the trader, single or multi-hop.
    #[test]
    fn round_trips_never_profit(a in 1u128..(1u128 << 80), multi in any::<bool>(), exact_out in any::<bool>()) {
        let (host, mut amm) = setup();
        let id = pool_ab(&host, &mut amm);
        let bc = create(&host, &mut amm, B, C, 100);
        add(&host, &mut amm, ALICE, bc, 3000 * E18, 700 * E18).unwrap();
        let _ = id;
        let (there, back, fees, fees_back) = if multi {
            (vec![A, B, C], vec![C, B, A], vec![30, 100], vec![100, 30])
        } else {
            (vec![A, B], vec![B, A], vec![30], vec![30])
        };
        as_(&host, BOB);
        let before = host.balance(A, BOB);
        let got = if exact_out {
            match amm.swap_exact_out(pk(&there, &fees), u(a), U256::MAX, BOB, far()) { Ok(x) => x[x.len() - 1], Err(_) => return Ok(()) }
        } else {
            match amm.swap_exact_in(pk(&there, &fees), u(a), U256::ZERO, BOB, far()) { Ok(x) => x[x.len() - 1], Err(_) => return Ok(()) }
        };
        let _ = amm.swap_exact_in(pk(&back, &fees_back), got, U256::ZERO, BOB, far());
        prop_assert!(host.balance(A, BOB) <= before);
        assert_solvent(&host, &amm);
    }

    /// Slippage limits and deadlines are always enforced, and nothing else fails.
    #[test]
    fn slippage_and_deadline_always_enforced(a in 1_000u128..(1u128 << 75), slack in -1000i64..1000, late in -5i64..5, exact_out in any::<bool>()) {
        let (host, mut amm) = setup();
        let _id = pool_ab(&host, &mut amm);
        host.vm.set_block_timestamp(T0 + 100);
        let deadline = u((T0 as i64 + 100 + late) as u128);
        as_(&host, BOB);
        let expired = late < 0;
        if exact_out {
            let q = match amm.get_amounts_in(pk(&[A, B], &[30]), u(a)) { Ok(q) => q[0], Err(_) => return Ok(()) };
            let max = if slack < 0 { q.saturating_sub(U256::from(-slack)) } else { q + U256::from(slack) };
            let res = amm.swap_exact_out(pk(&[A, B], &[30]), u(a), max, BOB, deadline);
            match res {
                Ok(amounts) => { prop_assert!(!expired && amounts[0] <= max); }
                Err(AmmError::Expired(_)) => prop_assert!(expired),
                Err(AmmError::ExcessiveInput(e)) => prop_assert!(!expired && e.amountIn > max),
                Err(e) => prop_assert!(false, "unexpected {:?}", e),
            }
        } else {
            let q = amm.get_amounts_out(pk(&[A, B], &[30]), u(a)).unwrap()[1];
            let min = if slack < 0 { q.saturating_sub(U256::from(-slack)) } else { q + U256::from(slack) };
            let res = amm.swap_exact_in(pk(&[A, B], &[30]), u(a), min, BOB, deadline);
            match res {
                Ok(amounts) => { prop_assert!(!expired && amounts[1] >= min); }
                Err(AmmError::Expired(_)) => prop_assert!(expired),
                Err(AmmError::InsufficientOutput(e)) => prop_assert!(!expired && e.amountOut < min),
                Err(e) => prop_assert!(false, "unexpected {:?}", e),
            }
        }
    }

    /// A swap and its reverse inside one block leave the oracle unchanged.
    #[test]
    fn swap_and_reverse_in_one_block_leave_twap_unchanged(a in 1_000u128..(1u128 << 80), wait in 1u64..10_000, touched in any::<bool>()) {
        let (host, mut amm) = setup();
        let id = pool_ab(&host, &mut amm);
        amm.increase_observation_cardinality(id, 4).unwrap();
        host.vm.set_block_timestamp(T0 + wait);
        as_(&host, BOB);
        if touched {
            // an earlier swap in this block
            amm.swap_exact_in(pk(&[B, A], &[30]), u(E18), U256::ZERO, BOB, far()).unwrap();
        }
        let before = (amm.observe(id, vec![0, wait as u32]).unwrap(), amm.twap(id, wait as u32).unwrap());
        if let Ok(x) = amm.swap_exact_in(pk(&[A, B], &[30]), u(a), U256::ZERO, BOB, far()) {
            let _ = amm.swap_exact_in(pk(&[B, A], &[30]), x[1], U256::ZERO, BOB, far());
        }
        let after = (amm.observe(id, vec![0, wait as u32]).unwrap(), amm.twap(id, wait as u32).unwrap());
        prop_assert_eq!(before, after);
    }
}

// ----- routing: the hand-written routers against the committed ABI -----

mod routing {
    use super::*;
    use alloy_sol_types::{SolCall, SolInterface};
    use amm_liquidity::AmmLiquidity;
    use stylus_sdk::abi::Router;

    alloy_sol_types::sol!("../../abi/IAmm.sol");

    type Main = crate::Amm;

    fn route_main(host: &TokenHost, call: &[u8]) -> Option<ArbResult> {
        let sel = u32::from_be_bytes(call[..4].try_into().unwrap());
        <Main as Router<Main>>::route(&mut Main::from(host), sel, &call[4..])
    }

    fn route_liq(host: &TokenHost, call: &[u8]) -> Option<ArbResult> {
        let sel = u32::from_be_bytes(call[..4].try_into().unwrap());
        <AmmLiquidity as Router<AmmLiquidity>>::route(&mut AmmLiquidity::from(host), sel, &call[4..])
    }

    /// What the chain does: `amm` first, its fallback (the liquidity program) otherwise.
    fn route(host: &TokenHost, call: &[u8]) -> ArbResult {
        route_main(host, call).or_else(|| route_liq(host, call)).unwrap_or(Err(Vec::new()))
    }

    #[test]
    fn every_abi_function_is_served_by_exactly_one_program() {
        let (host, _amm) = setup();
        for sel in IAmm::IAmmCalls::SELECTORS {
            // Arguments are left out: a served function either runs (it has none) or
            // reverts with empty data; an unserved one is not routed at all.
            let main = route_main(&host, sel).is_some();
            let liq = route_liq(&host, sel).is_some();
            assert!(main ^ liq, "selector {} served by amm: {main}, by amm-liquidity: {liq}", hex(sel));
        }
        assert!(
            route_main(&host, &[0xde, 0xad, 0xbe, 0xef]).is_none(),
            "unknown selectors reach the fallback"
        );
        assert!(route_liq(&host, &[0xde, 0xad, 0xbe, 0xef]).is_none());
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn routed_calls_return_what_direct_calls_do_in_the_abi_encoding() {
        let (host, mut amm) = setup();
        let id = pool_ab(&host, &mut amm);
        let path = pk(&[A, B], &[30]);
        let direct = amm.get_amounts_out(path.clone(), u(E18)).unwrap();
        let call = IAmm::getAmountsOutCall { path: path.0.clone().into(), amountIn: u(E18) }.abi_encode();
        let ret = route(&host, &call).unwrap();
        assert_eq!(IAmm::getAmountsOutCall::abi_decode_returns(&ret).unwrap(), direct);

        let ret = route(&host, &IAmm::getReservesCall { poolId: id }.abi_encode()).unwrap();
        let r = IAmm::getReservesCall::abi_decode_returns(&ret).unwrap();
        assert_eq!((r._0, r._1, r._2), amm.get_reserves(id).unwrap());

        // A swap through the router moves tokens exactly as quoted.
        as_(&host, BOB);
        let before = host.balance(B, BOB);
        let call = IAmm::swapExactInCall {
            path: path.0.clone().into(),
            amountIn: u(E18),
            amountOutMin: direct[1],
            to: BOB,
            deadline: far(),
        }
        .abi_encode();
        let ret = route(&host, &call).unwrap();
        assert_eq!(IAmm::swapExactInCall::abi_decode_returns(&ret).unwrap(), direct);
        assert_eq!(host.balance(B, BOB), before + direct[1]);

        // LP shares and liquidity through the other program.
        let ret = route(&host, &IAmm::balanceOfCall { owner: ALICE, id }.abi_encode()).unwrap();
        assert_eq!(IAmm::balanceOfCall::abi_decode_returns(&ret).unwrap(), amm.balance_of(ALICE, id));
        as_(&host, ALICE);
        let call = IAmm::removeLiquidityCall {
            poolId: id,
            shares: u(E18),
            amount0Min: U256::ZERO,
            amount1Min: U256::ZERO,
            to: ALICE,
            deadline: far(),
        }
        .abi_encode();
        let ret = route(&host, &call).unwrap();
        let out = IAmm::removeLiquidityCall::abi_decode_returns(&ret).unwrap();
        assert!(out._0 > U256::ZERO && out._1 > U256::ZERO);
        let ret = route(&host, &IAmm::supportsInterfaceCall { interfaceId: IERC6909_ID.into() }.abi_encode());
        assert!(IAmm::supportsInterfaceCall::abi_decode_returns(&ret.unwrap()).unwrap());
        assert_solvent(&host, &amm);
    }

    #[test]
    fn routed_errors_are_the_contracts_custom_errors() {
        let (host, mut amm) = setup();
        let id = pool_ab(&host, &mut amm);
        as_(&host, BOB);
        let call = IAmm::swapExactInCall {
            path: pk(&[A, B], &[30]).0.into(),
            amountIn: u(E18),
            amountOutMin: U256::MAX,
            to: BOB,
            deadline: far(),
        }
        .abi_encode();
        let err = route(&host, &call).unwrap_err();
        match IAmm::IAmmErrors::abi_decode(&err).unwrap() {
            IAmm::IAmmErrors::InsufficientOutput(e) => assert_eq!(e.amountOutMin, U256::MAX),
            _ => panic!("expected InsufficientOutput"),
        }
        let err = route(&host, &IAmm::setFeeToCall { feeTo: BOB }.abi_encode()).unwrap_err();
        assert!(matches!(IAmm::IAmmErrors::abi_decode(&err).unwrap(), IAmm::IAmmErrors::NotOwner(_)));
        let _ = id;
    }

    #[test]
    fn malformed_calldata_reverts_empty_and_changes_nothing() {
        let (host, mut amm) = setup();
        let id = pool_ab(&host, &mut amm);
        let (r0, r1) = reserves(&amm, id);
        as_(&host, BOB);
        let good = IAmm::swapExactInCall {
            path: pk(&[A, B], &[30]).0.into(),
            amountIn: u(E18),
            amountOutMin: U256::ZERO,
            to: BOB,
            deadline: far(),
        }
        .abi_encode();
        // A dirty high byte in the `to` address, a call cut inside the path's bytes (cutting
        // only padding is accepted, as Solidity does), a path offset past the end.
        let mut dirty = good.clone();
        dirty[4 + 3 * 32] = 1;
        let truncated = &good[..good.len() - 24];
        let mut far_offset = good.clone();
        far_offset[4 + 30] = 0xff;
        for bad in [&dirty[..], truncated, &far_offset[..]] {
            assert_eq!(route(&host, bad), Err(Vec::new()));
        }
        let mut short = IAmm::addLiquidityCall {
            poolId: id,
            amount0Desired: u(E18),
            amount1Desired: u(E18),
            amount0Min: U256::ZERO,
            amount1Min: U256::ZERO,
            to: BOB,
            deadline: far(),
        }
        .abi_encode();
        short.truncate(4 + 6 * 32);
        assert_eq!(route(&host, &short), Err(Vec::new()));
        assert_eq!(reserves(&amm, id), (r0, r1));
        assert_eq!(amm.balance_of(BOB, id), U256::ZERO);
    }

    #[test]
    fn constructor_requires_a_liquidity_program_with_code() {
        let vm = TestVM::default();
        let mut main = Main::from(&vm);
        let program = address!("dd00000000000000000000000000000000000001");
        assert_eq!(
            main.constructor(OWNER, program),
            Err(AmmError::NotAContract(NotAContract { token: program }))
        );
        let (host, amm) = setup();
        assert_eq!(Main::from(&host).liquidity_program(), facade::LIQUIDITY);
        let _ = amm;
    }
}
