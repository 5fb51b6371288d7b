//! # amm-core: what the AMM's two programs share
//!
//! The AMM is one address (`amm`) whose storage is served by two Stylus programs, because
//! the whole surface does not fit the 24 KiB compressed limit of one program:
//! * `amm`: pools, swaps, quotes and the TWAP oracle; its fallback delegate-calls
//! * `amm-liquidity`: adding and removing liquidity, the ERC-6909 LP shares and governance.
//!
//! This crate holds everything both need: the storage layout ([`layout`], raw Solidity-layout
//! words through `contracts_common::slots`), errors, events, and the shared logic as two
//! traits with default methods ([`Store`], [`Core`]) that each program implements for its
//! entrypoint struct. See the `amm` crate's README for the semantics.
#![no_std]

extern crate alloc;

/// The pricing math, from `market-math` (shared with the off-chain code).
pub use market_math::amm as math;

use alloc::vec::Vec;
use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolEvent;
use contracts_common::{
    calls,
    slots::{field, load, mapping, store, with_field},
};
use math::MathError;
use stylus_sdk::{prelude::*, stylus_core::storage::TopLevelStorage};

/// The largest observation ring a pool can have.
pub const MAX_CARDINALITY: u16 = u16::MAX;
/// ERC-165 interface ids: ERC-165 itself and ERC-6909.
pub const IERC165_ID: [u8; 4] = [0x01, 0xff, 0xc9, 0xa7];
pub const IERC6909_ID: [u8; 4] = [0x0f, 0x63, 0x2f, 0xb3];

/// Selectors of the ERC-20 functions the AMM calls.
pub mod selectors {
    use alloy_primitives::{Address, U256};
    use stylus_sdk::function_selector;
    pub const TRANSFER: [u8; 4] = function_selector!("transfer", Address, U256);
    pub const TRANSFER_FROM: [u8; 4] = function_selector!("transferFrom", Address, Address, U256);
    pub const BALANCE_OF: [u8; 4] = function_selector!("balanceOf", Address);
}

contracts_common::sol_events! {
    event PoolCreated(address indexed token0, address indexed token1, uint16 indexed fee, uint256 poolId);
    event Mint(uint256 indexed poolId, address indexed sender, address indexed to, uint256 amount0, uint256 amount1, uint256 shares);
    event Burn(uint256 indexed poolId, address indexed sender, address indexed to, uint256 amount0, uint256 amount1, uint256 shares);
    event Swap(uint256 indexed poolId, address indexed sender, address indexed to, bool zeroForOne, uint256 amountIn, uint256 amountOut);
    event ObservationCardinalityIncreased(uint256 indexed poolId, uint16 cardinalityNextOld, uint16 cardinalityNextNew);
    event Transfer(address caller, address indexed sender, address indexed receiver, uint256 indexed id, uint256 amount);
    event OperatorSet(address indexed owner, address indexed spender, bool approved);
    event Approval(address indexed owner, address indexed spender, uint256 indexed id, uint256 amount);
    event FeeToSet(address indexed feeTo);
    event ProtocolFeeSet(uint8 denominator);
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
}

contracts_common::contract_errors! {
    /// Everything this contract reverts with, besides a token's own revert data, which is
    /// re-raised unchanged (`Bubbled`).
    pub enum AmmError {
        NotOwner(address caller);
        NotPendingOwner(address caller);
        ZeroAddress();
        IdenticalTokens(address token);
        NotAContract(address token);
        InvalidFee(uint16 fee);
        PoolExists(uint256 poolId);
        PoolNotFound(uint256 poolId);
        Locked(uint256 poolId);
        Expired(uint256 deadline, uint256 now);
        InsufficientOutput(uint256 amountOut, uint256 amountOutMin);
        ExcessiveInput(uint256 amountIn, uint256 amountInMax);
        InsufficientAmount0(uint256 amount0, uint256 amount0Min);
        InsufficientAmount1(uint256 amount1, uint256 amount1Min);
        ZeroAmount();
        InsufficientLiquidity();
        InsufficientLiquidityMinted();
        Overflow();
        InvalidPath();
        InsufficientBalance(address owner, uint256 id, uint256 balance, uint256 needed);
        InsufficientPermission(address spender, uint256 id);
        TransferFailed(address token);
        TransferShortfall(address token, uint256 balance, uint256 required);
        OracleNotInitialized(uint256 poolId);
        ObservationTooOld(uint64 target, uint64 oldest);
        HistoryTooShort(uint256 poolId, uint32 window, uint64 available);
        InvalidWindow();
        InvalidProtocolFee(uint8 denominator);
    }
}

impl From<MathError> for AmmError {
    #[inline(never)]
    fn from(e: MathError) -> Self {
        match e {
            MathError::ZeroAmount => AmmError::ZeroAmount(ZeroAmount {}),
            MathError::InsufficientLiquidity => AmmError::InsufficientLiquidity(InsufficientLiquidity {}),
            MathError::Overflow => overflow(),
            MathError::InsufficientLiquidityMinted => {
                AmmError::InsufficientLiquidityMinted(InsufficientLiquidityMinted {})
            }
            MathError::InsufficientAmount0 { amount, min } => {
                AmmError::InsufficientAmount0(InsufficientAmount0 { amount0: amount, amount0Min: min })
            }
            MathError::InsufficientAmount1 { amount, min } => {
                AmmError::InsufficientAmount1(InsufficientAmount1 { amount1: amount, amount1Min: min })
            }
        }
    }
}

pub fn overflow() -> AmmError {
    AmmError::Overflow(Overflow {})
}

/// A reserve may grow by `amount` only up to `2^112 − 1`.
pub fn check_reserve(reserve: U256, amount: U256) -> Result<(), AmmError> {
    match reserve.checked_add(amount) {
        Some(r) if r <= math::MAX_RESERVE => Ok(()),
        _ => Err(overflow()),
    }
}

pub fn word(a: Address) -> [u8; 32] {
    a.into_word().0
}

pub fn num(x: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&x.to_be_bytes());
    w
}

/// `abi.encode(token0, token1, uint256(fee))`, whose keccak256 is the pool id.
pub fn pool_id_preimage(token0: Address, token1: Address, fee: u16) -> [u8; 96] {
    let mut out = [0u8; 96];
    out[..32].copy_from_slice(&word(token0));
    out[32..64].copy_from_slice(&word(token1));
    out[94..].copy_from_slice(&fee.to_be_bytes());
    out
}

/// The tokens and fee tiers of a packed path (`math::encode_path`), or `InvalidPath`.
pub fn route(path: &[u8]) -> Result<(Vec<Address>, Vec<u16>), AmmError> {
    math::decode_path(path).ok_or(AmmError::InvalidPath(InvalidPath {}))
}

/// The storage layout: Solidity's rules (mappings at `keccak256(key . slot)`), so explorers
/// and `cast storage` can read it.
pub mod layout {
    /// `address owner`
    pub const OWNER: u64 = 0;
    /// `address pendingOwner`
    pub const PENDING_OWNER: u64 = 1;
    /// `address feeTo` (bits 0..160) and `uint8 protocolFee` (bits 160..168).
    pub const PROTOCOL_FEE: u64 = 2;
    /// `mapping(uint256 poolId => Pool)`; a pool occupies five words from its base:
    /// `+0` token0 | fee (160..176) | locked (176..184) | observation index (184..200) |
    /// cardinality in use (200..216); `+1` token1 | timestampLast (160..224); `+2` reserve0
    /// (0..112) | reserve1 (112..224); `+3` kLast; `+4` observation capacity paid for, the
    /// ring itself at `keccak256(base + 4)`, three words per observation: timestamp |
    /// initialized (64..72), price0Cumulative, price1Cumulative.
    pub const POOLS: u64 = 3;
    /// `mapping(address token => uint256)`: what the contract owes to all pools in it.
    pub const TOKEN_RESERVES: u64 = 4;
    /// `mapping(address owner => mapping(uint256 id => uint256))`
    pub const BALANCES: u64 = 5;
    /// `mapping(address owner => mapping(address spender => mapping(uint256 id => uint256)))`
    pub const ALLOWANCES: u64 = 6;
    /// `mapping(address owner => mapping(address spender => bool))`
    pub const OPERATORS: u64 = 7;
    /// `mapping(uint256 id => uint256)`
    pub const TOTAL_SUPPLY: u64 = 8;
    /// `address liquidityProgram`: where `amm`'s fallback delegate-calls (set once, by the
    /// constructor).
    pub const LIQUIDITY_PROGRAM: u64 = 9;
}

pub const ONE: U256 = U256::from_limbs([1, 0, 0, 0]);
pub const ADDRESS_BITS: usize = 160;
pub const RESERVE_BITS: usize = 112;

pub fn address_of(w: U256) -> Address {
    Address::from_slice(&w.to_be_bytes::<32>()[12..])
}

pub fn word_of(a: Address) -> U256 {
    U256::from_be_slice(a.as_slice())
}

/// One pool's first three words, decoded.
#[derive(Clone, Copy, Debug)]
pub struct Pool {
    /// The pool's first storage slot.
    pub base: U256,
    pub token0: Address,
    pub fee: u16,
    pub locked: bool,
    /// Index of the newest observation.
    pub obs_index: u16,
    /// Observations in use (0 until the first deposit).
    pub obs_cardinality: u16,
    pub token1: Address,
    /// Timestamp of the first touch of the latest block that touched the pool.
    pub timestamp_last: u64,
    pub reserve0: U256,
    pub reserve1: U256,
}

impl Pool {
    pub fn exists(&self) -> bool {
        !self.token0.is_zero()
    }

    #[inline(never)]
    fn words(&self) -> [U256; 3] {
        let w0 = word_of(self.token0);
        let w0 = with_field(w0, 160, 16, self.fee as u64);
        let w0 = with_field(w0, 176, 8, self.locked as u64);
        let w0 = with_field(w0, 184, 16, self.obs_index as u64);
        let w0 = with_field(w0, 200, 16, self.obs_cardinality as u64);
        let w1 = with_field(word_of(self.token1), 160, 64, self.timestamp_last);
        // Both reserves are below 2^112 (checked by `set_reserves`).
        let w2 = self.reserve0 | (self.reserve1 << RESERVE_BITS);
        [w0, w1, w2]
    }
}

/// An observation read into memory.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Obs {
    pub ts: u64,
    pub init: bool,
    pub c0: U256,
    pub c1: U256,
}

/// A pool's swap-relevant state, read into memory.
pub struct Hop {
    pub id: U256,
    pub zero_for_one: bool,
    pub fee: u16,
    pub reserve_in: U256,
    pub reserve_out: U256,
}

/// Storage access: every word goes through `slots::{load, store}`. Implemented (with no
/// methods of its own) by both programs that share this storage: `amm` and
/// `amm-liquidity`.
pub trait Store: HostAccess + TopLevelStorage + Sized {
    fn ld(&self, slot: U256) -> U256 {
        load(self.vm(), slot)
    }

    fn st(&mut self, slot: U256, value: U256) {
        store(self.vm(), slot, value)
    }

    fn at(&self, base: u64, key: [u8; 32]) -> U256 {
        mapping(self.vm(), U256::from(base), key)
    }

    fn at2(&self, base: u64, k1: [u8; 32], k2: [u8; 32]) -> U256 {
        mapping(self.vm(), self.at(base, k1), k2)
    }

    #[inline(never)]
    fn pool(&self, id: U256) -> Pool {
        let base = self.at(layout::POOLS, id.to_be_bytes());
        let (w0, w1, w2) = (self.ld(base), self.ld(base + ONE), self.ld(base + U256::from(2)));
        let mask = (ONE << RESERVE_BITS) - ONE;
        Pool {
            base,
            token0: address_of(w0),
            fee: field(w0, 160, 16) as u16,
            locked: field(w0, 176, 8) != 0,
            obs_index: field(w0, 184, 16) as u16,
            obs_cardinality: field(w0, 200, 16) as u16,
            token1: address_of(w1),
            timestamp_last: field(w1, ADDRESS_BITS, 64),
            reserve0: w2 & mask,
            reserve1: (w2 >> RESERVE_BITS) & mask,
        }
    }

    #[inline(never)]
    fn save(&mut self, pool: &Pool) {
        for (i, w) in pool.words().into_iter().enumerate() {
            self.st(pool.base + U256::from(i), w);
        }
    }

    fn k_last_slot(pool: &Pool) -> U256 {
        pool.base + U256::from(3)
    }

    fn capacity_slot(pool: &Pool) -> U256 {
        pool.base + U256::from(4)
    }

    /// `kLast` of a pool (tests and governance tooling read it).
    #[inline(never)]
    fn k_last(&self, id: U256) -> U256 {
        self.ld(Self::k_last_slot(&self.pool(id)))
    }

    #[inline(never)]
    fn capacity(&self, pool: &Pool) -> u16 {
        field(self.ld(Self::capacity_slot(pool)), 0, 16) as u16
    }

    #[inline(never)]
    fn obs_slot(&self, pool: &Pool, i: u16) -> U256 {
        let ring =
            U256::from_be_bytes(self.vm().native_keccak256(&Self::capacity_slot(pool).to_be_bytes::<32>()).0);
        ring + U256::from(3 * i as u64)
    }

    #[inline(never)]
    fn read_obs(&self, pool: &Pool, i: u16) -> Obs {
        let slot = self.obs_slot(pool, i);
        let w = self.ld(slot);
        Obs {
            ts: field(w, 0, 64),
            init: field(w, 64, 8) != 0,
            c0: self.ld(slot + ONE),
            c1: self.ld(slot + U256::from(2)),
        }
    }

    #[inline(never)]
    fn write_obs(&mut self, pool: &Pool, i: u16, ts: u64, init: bool, c0: U256, c1: U256) {
        let slot = self.obs_slot(pool, i);
        self.st(slot, with_field(U256::from(ts), 64, 8, init as u64));
        self.st(slot + ONE, c0);
        self.st(slot + U256::from(2), c1);
    }

    #[inline(never)]
    fn balance(&self, owner: Address, id: U256) -> U256 {
        self.ld(self.at2(layout::BALANCES, word(owner), id.to_be_bytes()))
    }

    #[inline(never)]
    fn set_balance(&mut self, owner: Address, id: U256, value: U256) {
        let slot = self.at2(layout::BALANCES, word(owner), id.to_be_bytes());
        self.st(slot, value)
    }

    #[inline(never)]
    fn allowance_slot(&self, owner: Address, spender: Address, id: U256) -> U256 {
        mapping(self.vm(), self.at2(layout::ALLOWANCES, word(owner), word(spender)), id.to_be_bytes())
    }

    #[inline(never)]
    fn supply(&self, id: U256) -> U256 {
        self.ld(self.at(layout::TOTAL_SUPPLY, id.to_be_bytes()))
    }

    #[inline(never)]
    fn set_supply(&mut self, id: U256, value: U256) {
        let slot = self.at(layout::TOTAL_SUPPLY, id.to_be_bytes());
        self.st(slot, value)
    }

    #[inline(never)]
    fn owed(&self, token: Address) -> U256 {
        self.ld(self.at(layout::TOKEN_RESERVES, word(token)))
    }

    #[inline(never)]
    fn add_owed(&mut self, token: Address, new: U256, old: U256) {
        let slot = self.at(layout::TOKEN_RESERVES, word(token));
        // Totals are sums of reserves, each below 2^112: no overflow, and never below the
        // reserve being replaced.
        let total = self.ld(slot) + new - old;
        self.st(slot, total)
    }

    #[inline(never)]
    fn owner_address(&self) -> Address {
        address_of(self.ld(U256::from(layout::OWNER)))
    }

    #[inline(never)]
    fn set_fee_config(&mut self, fee_to: Address, denominator: u8) {
        let w = with_field(word_of(fee_to), ADDRESS_BITS, 8, denominator as u64);
        self.st(U256::from(layout::PROTOCOL_FEE), w)
    }

    #[inline(never)]
    fn fee_config(&self) -> (Address, u8) {
        let w = self.ld(U256::from(layout::PROTOCOL_FEE));
        (address_of(w), field(w, ADDRESS_BITS, 8) as u8)
    }
}

/// The logic both programs share (each program instantiates only what it calls).
pub trait Core: Store {
    /// Emits a log from pre-encoded words: one small function instead of one ABI encoder
    /// per event type (the events are declared in `sol_events!` for the ABI and tests).
    #[inline(never)]
    fn emit(&self, topics: &[[u8; 32]], data: &[[u8; 32]]) {
        let topics: Vec<B256> = topics.iter().map(|t| B256::from(*t)).collect();
        let _ = self.vm().raw_log(&topics, &data.concat());
    }

    #[inline(never)]
    fn only_owner(&self) -> Result<(), AmmError> {
        let caller = self.vm().msg_sender();
        if caller != self.owner_address() {
            return Err(AmmError::NotOwner(NotOwner { caller }));
        }
        Ok(())
    }

    fn now(&self) -> u64 {
        self.vm().block_timestamp()
    }

    #[inline(never)]
    fn check_deadline(&self, deadline: U256) -> Result<(), AmmError> {
        let now = U256::from(self.now());
        if now > deadline {
            return Err(AmmError::Expired(Expired { deadline, now }));
        }
        Ok(())
    }

    #[inline(never)]
    fn id_of(&self, token0: Address, token1: Address, fee: u16) -> U256 {
        U256::from_be_bytes(self.vm().native_keccak256(&pool_id_preimage(token0, token1, fee)).0)
    }

    /// The pool, failing if it does not exist or is mid-operation.
    #[inline(never)]
    fn live_pool(&self, id: U256) -> Result<Pool, AmmError> {
        let pool = self.pool(id);
        if !pool.exists() {
            return Err(AmmError::PoolNotFound(PoolNotFound { poolId: id }));
        }
        if pool.locked {
            return Err(AmmError::Locked(Locked { poolId: id }));
        }
        Ok(pool)
    }

    #[inline(never)]
    fn unlock(&mut self, id: U256) {
        let mut pool = self.pool(id);
        pool.locked = false;
        self.save(&pool);
    }

    /// The pools along `path`, failing on a malformed path, a missing, locked or repeated
    /// pool.
    #[inline(never)]
    fn hops(&self, path: &[Address], fees: &[u16]) -> Result<Vec<Hop>, AmmError> {
        if path.len() < 2 || fees.len() + 1 != path.len() {
            return Err(AmmError::InvalidPath(InvalidPath {}));
        }
        let mut hops: Vec<Hop> = Vec::with_capacity(fees.len());
        for (i, &fee) in fees.iter().enumerate() {
            let (a, b) = (path[i], path[i + 1]);
            let zero_for_one = a < b;
            let (t0, t1) = if zero_for_one { (a, b) } else { (b, a) };
            let id = self.id_of(t0, t1, fee);
            if hops.iter().any(|h| h.id == id) {
                return Err(AmmError::InvalidPath(InvalidPath {}));
            }
            let pool = self.live_pool(id)?;
            let (reserve_in, reserve_out) =
                if zero_for_one { (pool.reserve0, pool.reserve1) } else { (pool.reserve1, pool.reserve0) };
            hops.push(Hop { id, zero_for_one, fee, reserve_in, reserve_out });
        }
        Ok(hops)
    }

    #[inline(never)]
    fn amounts_out(
        &self,
        path: &[Address],
        fees: &[u16],
        amount_in: U256,
    ) -> Result<(Vec<Hop>, Vec<U256>), AmmError> {
        let hops = self.hops(path, fees)?;
        let mut amounts = Vec::with_capacity(path.len());
        amounts.push(amount_in);
        for h in &hops {
            let amount_in = amounts[amounts.len() - 1];
            check_reserve(h.reserve_in, amount_in)?;
            let out = math::get_amount_out(amount_in, h.reserve_in, h.reserve_out, h.fee)?;
            if out.is_zero() {
                return Err(AmmError::ZeroAmount(ZeroAmount {}));
            }
            amounts.push(out);
        }
        Ok((hops, amounts))
    }

    #[inline(never)]
    fn amounts_in(
        &self,
        path: &[Address],
        fees: &[u16],
        amount_out: U256,
    ) -> Result<(Vec<Hop>, Vec<U256>), AmmError> {
        let hops = self.hops(path, fees)?;
        let mut amounts = alloc::vec![U256::ZERO; path.len()];
        amounts[hops.len()] = amount_out;
        for (i, h) in hops.iter().enumerate().rev() {
            amounts[i] = math::get_amount_in(amounts[i + 1], h.reserve_in, h.reserve_out, h.fee)?;
            check_reserve(h.reserve_in, amounts[i])?;
        }
        Ok((hops, amounts))
    }

    /// The first touch of a pool in a block: advances the price cumulatives over the time
    /// since the previous touch at the reserves in force since then (the end-of-block
    /// reserves of that block) and records an observation. Later touches in the same
    /// block do nothing, so prices inside a block never reach the oracle. Updates `pool`
    /// in memory; the caller saves it.
    #[inline(never)]
    fn touch_oracle(&mut self, pool: &mut Pool) {
        let now = self.now();
        let last = pool.timestamp_last;
        if last == now {
            return;
        }
        pool.timestamp_last = now;
        let cardinality = pool.obs_cardinality;
        if cardinality == 0 {
            return; // no liquidity yet: the oracle starts with the first deposit
        }
        let index = pool.obs_index;
        let newest = self.read_obs(pool, index);
        let (c0, c1) =
            math::advance_cumulatives(newest.c0, newest.c1, pool.reserve0, pool.reserve1, now - last);
        // Grow into the capacity paid for once the ring reaches its end (v3's `write`).
        let capacity = self.capacity(pool);
        let cardinality =
            if index == cardinality - 1 && capacity > cardinality { capacity } else { cardinality };
        let next = (index + 1) % cardinality;
        self.write_obs(pool, next, now, true, c0, c1);
        pool.obs_index = next;
        pool.obs_cardinality = cardinality;
    }

    /// Starts the oracle at the first deposit (in memory; the caller saves `pool`).
    #[inline(never)]
    fn start_oracle(&mut self, pool: &mut Pool) {
        if pool.obs_cardinality != 0 {
            return;
        }
        let now = self.now();
        if self.capacity(pool) == 0 {
            self.st(Self::capacity_slot(pool), ONE);
        }
        self.write_obs(pool, 0, now, true, U256::ZERO, U256::ZERO);
        pool.obs_index = 0;
        pool.obs_cardinality = 1;
        pool.timestamp_last = now;
    }

    /// v2's `_mintFee`, computed without writing: whether the protocol fee is on, where
    /// its shares go and how many are due for fee growth since the last liquidity event.
    #[inline(never)]
    fn protocol_fee_due(&self, id: U256, pool: &Pool) -> (bool, Address, U256) {
        let (fee_to, denominator) = self.fee_config();
        if fee_to.is_zero() || denominator == 0 {
            return (false, fee_to, U256::ZERO);
        }
        let k_last = self.ld(Self::k_last_slot(pool));
        let due =
            math::protocol_fee_shares(pool.reserve0, pool.reserve1, k_last, self.supply(id), denominator);
        (true, fee_to, due)
    }

    /// Sets new reserves in `pool` (at most `2^112 − 1` each) and writes the per-token
    /// totals and `k_last` (on liquidity events, `Some(fee_on)`: kept only while the
    /// protocol fee is on; swaps pass `None` and leave it).
    #[inline(never)]
    fn set_reserves(
        &mut self,
        pool: &mut Pool,
        r0: U256,
        r1: U256,
        fee_on: Option<bool>,
    ) -> Result<(), AmmError> {
        if r0 > math::MAX_RESERVE || r1 > math::MAX_RESERVE {
            return Err(overflow());
        }
        let (old0, old1) = (pool.reserve0, pool.reserve1);
        pool.reserve0 = r0;
        pool.reserve1 = r1;
        let k_slot = Self::k_last_slot(pool);
        if fee_on == Some(true) {
            self.st(k_slot, r0 * r1);
        } else if fee_on == Some(false) && !self.ld(k_slot).is_zero() {
            self.st(k_slot, U256::ZERO);
        }
        self.add_owed(pool.token0, r0, old0);
        self.add_owed(pool.token1, r1, old1);
        Ok(())
    }

    #[inline(never)]
    fn emit_transfer(&self, from: Address, to: Address, id: U256, amount: U256) {
        let caller = self.vm().msg_sender();
        self.emit(
            &[Transfer::SIGNATURE_HASH.0, word(from), word(to), id.to_be_bytes()],
            &[word(caller), amount.to_be_bytes()],
        );
    }

    #[inline(never)]
    fn mint_shares(&mut self, to: Address, id: U256, amount: U256) -> Result<(), AmmError> {
        let supply = self.supply(id).checked_add(amount).ok_or_else(overflow)?;
        self.set_supply(id, supply);
        // A balance never exceeds the total supply.
        let balance = self.balance(to, id) + amount;
        self.set_balance(to, id, balance);
        self.emit_transfer(Address::ZERO, to, id, amount);
        Ok(())
    }

    #[inline(never)]
    fn debit(&mut self, owner: Address, id: U256, amount: U256) -> Result<(), AmmError> {
        let balance = self.balance(owner, id);
        if balance < amount {
            return Err(AmmError::InsufficientBalance(InsufficientBalance {
                owner,
                id,
                balance,
                needed: amount,
            }));
        }
        self.set_balance(owner, id, balance - amount);
        Ok(())
    }

    #[inline(never)]
    fn transfer_shares(
        &mut self,
        sender: Address,
        receiver: Address,
        id: U256,
        amount: U256,
    ) -> Result<(), AmmError> {
        if receiver.is_zero() {
            return Err(AmmError::ZeroAddress(ZeroAddress {}));
        }
        self.debit(sender, id, amount)?;
        let balance = self.balance(receiver, id) + amount;
        self.set_balance(receiver, id, balance);
        self.emit_transfer(sender, receiver, id, amount);
        Ok(())
    }

    /// A token call that must not revert and must return nothing or `true`. A revert with
    /// data is re-raised unchanged.
    #[inline(never)]
    fn token_call(&mut self, token: Address, selector: [u8; 4], words: &[[u8; 32]]) -> Result<(), AmmError> {
        let ctx = Call::new_mutating(self);
        match calls::call_words(self.vm(), ctx, token, selector, words) {
            Ok(ret) if calls::returned_true(&ret) => Ok(()),
            Err(data) if !data.is_empty() => Err(AmmError::Bubbled(data)),
            _ => Err(AmmError::TransferFailed(TransferFailed { token })),
        }
    }

    #[inline(never)]
    fn pay(&mut self, token: Address, to: Address, amount: U256) -> Result<(), AmmError> {
        self.token_call(token, selectors::TRANSFER, &[word(to), amount.to_be_bytes()])
    }

    /// Pulls `amount` of `token` from `from`, then requires the contract's balance to cover
    /// what it owes to pools plus `extra` (still to be paid out in this call): a token that
    /// delivers less than it was asked for (fee-on-transfer) is refused.
    #[inline(never)]
    fn pull(&mut self, token: Address, from: Address, amount: U256, extra: U256) -> Result<(), AmmError> {
        let this = self.vm().contract_address();
        self.token_call(token, selectors::TRANSFER_FROM, &[word(from), word(this), amount.to_be_bytes()])?;
        let balance = calls::static_call_u256(self.vm(), token, selectors::BALANCE_OF, &[word(this)])
            .map_err(|_| AmmError::TransferFailed(TransferFailed { token }))?;
        let required = self.owed(token) + extra;
        if balance < required {
            return Err(AmmError::TransferShortfall(TransferShortfall { token, balance, required }));
        }
        Ok(())
    }

    /// Executes a quoted route: `amounts[i]` in and `amounts[i+1]` out of hop `i`.
    #[inline(never)]
    fn execute(
        &mut self,
        path: &[Address],
        hops: &[Hop],
        amounts: &[U256],
        to: Address,
    ) -> Result<(), AmmError> {
        if to.is_zero() {
            return Err(AmmError::ZeroAddress(ZeroAddress {}));
        }
        let sender = self.vm().msg_sender();
        let this = self.vm().contract_address();
        let n = hops.len();
        for (i, h) in hops.iter().enumerate() {
            let mut pool = self.live_pool(h.id)?;
            pool.locked = true;
            self.touch_oracle(&mut pool);
            let (amount_in, amount_out) = (amounts[i], amounts[i + 1]);
            let new_in = h.reserve_in + amount_in; // checked by the quote
            let new_out = h.reserve_out - amount_out; // amount_out < reserve_out (math)
            let (r0, r1) = if h.zero_for_one { (new_in, new_out) } else { (new_out, new_in) };
            self.set_reserves(&mut pool, r0, r1, None)?;
            self.save(&pool);
            let recipient = if i + 1 == n { to } else { this };
            self.emit(
                &[Swap::SIGNATURE_HASH.0, h.id.to_be_bytes(), word(sender), word(recipient)],
                &[num(h.zero_for_one as u64), amount_in.to_be_bytes(), amount_out.to_be_bytes()],
            );
        }
        let (token_in, token_out) = (path[0], path[n]);
        let extra = if token_in == token_out { amounts[n] } else { U256::ZERO };
        self.pull(token_in, sender, amounts[0], extra)?;
        self.pay(token_out, to, amounts[n])?;
        for h in hops {
            self.unlock(h.id);
        }
        Ok(())
    }

    /// The oldest observation: the one after the newest, or slot 0 while the ring has not
    /// wrapped into newly paid slots yet.
    #[inline(never)]
    fn oldest_obs(&self, pool: &Pool) -> Obs {
        let o = self.read_obs(pool, (pool.obs_index + 1) % pool.obs_cardinality);
        if o.init {
            o
        } else {
            self.read_obs(pool, 0)
        }
    }

    #[inline(never)]
    fn observe_single(&self, id: U256, seconds_ago: u32) -> Result<(U256, U256), AmmError> {
        let now = self.now();
        let pool = self.live_pool(id)?;
        let cardinality = pool.obs_cardinality as usize;
        if cardinality == 0 {
            return Err(AmmError::OracleNotInitialized(OracleNotInitialized { poolId: id }));
        }
        let target = now
            .checked_sub(seconds_ago as u64)
            .ok_or(AmmError::ObservationTooOld(ObservationTooOld { target: 0, oldest: 0 }))?;
        let index = pool.obs_index as usize;
        let newest = self.read_obs(&pool, pool.obs_index);
        if target >= newest.ts {
            // The reserves have been constant since the newest observation's block ended.
            return Ok(math::advance_cumulatives(
                newest.c0,
                newest.c1,
                pool.reserve0,
                pool.reserve1,
                target - newest.ts,
            ));
        }
        let oldest = self.oldest_obs(&pool);
        if target < oldest.ts {
            return Err(AmmError::ObservationTooOld(ObservationTooOld { target, oldest: oldest.ts }));
        }
        // Binary search for before.ts <= target < after.ts (v3's `binarySearch`).
        let (mut l, mut r) = (index + 1, index + cardinality);
        let (before, after) = loop {
            let i = (l + r) / 2;
            let before = self.read_obs(&pool, (i % cardinality) as u16);
            if !before.init {
                l = i + 1;
                continue;
            }
            let after = self.read_obs(&pool, ((i + 1) % cardinality) as u16);
            if before.ts <= target && target < after.ts {
                break (before, after);
            }
            if before.ts < target {
                l = i + 1;
            } else {
                r = i - 1;
            }
        };
        // The price was constant between the two observations: interpolate exactly.
        let span = U256::from(after.ts - before.ts);
        let dt = U256::from(target - before.ts);
        let rate =
            |a: U256, b: U256| market_math::uint::div_floor(a.wrapping_sub(b), span).unwrap_or_default();
        let c0 = before.c0.wrapping_add(rate(after.c0, before.c0).wrapping_mul(dt));
        let c1 = before.c1.wrapping_add(rate(after.c1, before.c1).wrapping_mul(dt));
        Ok((c0, c1))
    }
}
