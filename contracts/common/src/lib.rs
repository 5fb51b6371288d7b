//! Helpers shared by the project's Stylus contracts.
//!
//! Everything here is either a pure function (hashing, math) or a thin wrapper over one
//! host call, so it can be unit-tested natively and reviewed in one place: the risky
//! arithmetic and the signature checks of every contract live in this crate.
#![no_std]

extern crate alloc;

pub mod calldata;
pub mod calls;
pub mod ecdsa;
pub mod eip712;
pub mod math;
pub mod revert;
pub mod short_string;
pub mod slots;
pub mod usage_report;

/// Declares a contract's events once: the `sol!` types it emits, and `EVENTS_SOL`, the
/// Solidity text the ABI generator adds to the exported interface (the SDK's export
/// leaves events out).
#[macro_export]
macro_rules! sol_events {
    ($($body:tt)*) => {
        alloy_sol_types::sol! { $($body)* }
        /// Solidity declarations of this contract's events, for the generated ABI.
        pub const EVENTS_SOL: &str = stringify!($($body)*);
    };
}
