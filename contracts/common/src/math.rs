//! Checked share arithmetic with explicit rounding direction.
//!
//! Every division in the contracts goes through here, so the rounding direction is always
//! visible at the call site: `mul_div_down` when paying a user, `mul_div_up` when charging
//! one. Overflow is an error, never a wrap. The implementation lives in `market-math`
//! (shared with the off-chain code), whose division avoids ruint's ~9 KB `div_rem`.

pub use market_math::uint::{div_floor, mul_div_down, mul_div_up, sqrt};
