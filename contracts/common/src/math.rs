//! Checked share arithmetic with explicit rounding direction.
//!
//! Every division in the contracts goes through here, so the rounding direction is always
//! visible at the call site: `mul_div_down` when paying a user, `mul_div_up` when charging
//! one. Overflow is an error, never a wrap.

use alloy_primitives::U256;

/// `a * b / d`, rounded down. `None` on overflow or division by zero.
pub fn mul_div_down(a: U256, b: U256, d: U256) -> Option<U256> {
    if d.is_zero() {
        return None;
    }
    a.checked_mul(b).map(|p| p / d)
}

/// `a * b / d`, rounded up. `None` on overflow or division by zero.
///
/// Checks the remainder as `q * d != a * b` rather than with `%`: the one division
/// routine is then shared with [`mul_div_down`], and a second (`%`) one, ~7 KB of wasm,
/// never gets linked.
pub fn mul_div_up(a: U256, b: U256, d: U256) -> Option<U256> {
    let q = mul_div_down(a, b, d)?;
    // a * b did not overflow, and q * d <= a * b, so neither product wraps.
    if q.wrapping_mul(d) == a.wrapping_mul(b) {
        Some(q)
    } else {
        q.checked_add(U256::from(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn u(x: u128) -> U256 {
        U256::from(x)
    }

    #[test]
    fn rounding_directions() {
        assert_eq!(mul_div_down(u(10), u(1), u(3)), Some(u(3)));
        assert_eq!(mul_div_up(u(10), u(1), u(3)), Some(u(4)));
        assert_eq!(mul_div_up(u(9), u(1), u(3)), Some(u(3)));
        assert_eq!(mul_div_down(u(1), u(1), U256::ZERO), None);
        assert_eq!(mul_div_up(U256::MAX, u(2), u(1)), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn up_is_down_or_down_plus_one(a in any::<u128>(), b in any::<u128>(), d in 1u128..) {
            let down = mul_div_down(u(a), u(b), u(d)).unwrap();
            let up = mul_div_up(u(a), u(b), u(d)).unwrap();
            prop_assert!(up == down || up == down + u(1));
            // down * d <= a * b <= up * d
            prop_assert!(down * u(d) <= u(a) * u(b));
            prop_assert!(up * u(d) >= u(a) * u(b));
        }
    }
}
