//! The protocol's arithmetic, in one reviewable place.
//!
//! * [`uint`]: 256-bit division, square root and mul-div with an explicit rounding
//!   direction. The division is a short shift-and-subtract loop instead of ruint's
//!   Knuth long division, whose ~9 KB of wasm does not fit beside a contract under the
//!   24 KiB limit.
//! * [`amm`]: Uniswap v2 pricing with fee tiers, shares and the UQ112x112 TWAP
//!   cumulatives: exactly what the AMM contract executes, so off-chain quotes (relayer,
//!   tests, tools) agree with it to the wei.
//!
//! `no_std`, no host calls.
#![no_std]

extern crate alloc;

pub mod amm;
pub mod uint;
