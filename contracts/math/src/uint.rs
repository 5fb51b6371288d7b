//! 256-bit helpers with explicit rounding: `*_down` when paying a user, `*_up` when
//! charging one. Overflow and division by zero are `None`, never a wrap or a panic.

use alloy_primitives::U256;

/// `n / d` rounded down, or `None` when `d == 0`.
///
/// Binary long division aligned on the divisor's top bit: at most
/// `n.bit_len() - d.bit_len() + 1` compare-and-subtract steps. Smaller wasm than ruint's
/// `div_rem` (which every `/` and `%` on `U256` links), at a few thousand ink per call.
#[inline(never)]
pub fn div_floor(n: U256, d: U256) -> Option<U256> {
    if d.is_zero() {
        return None;
    }
    if n < d {
        return Some(U256::ZERO);
    }
    let shift = n.bit_len() - d.bit_len();
    // d.bit_len() + shift == n.bit_len() <= 256: the shift never drops a bit.
    let mut divisor = d << shift;
    let mut rem = n;
    let mut quotient = U256::ZERO;
    let mut bit = shift + 1;
    while bit > 0 {
        bit -= 1;
        if rem >= divisor {
            rem -= divisor;
            quotient.set_bit(bit, true);
        }
        divisor >>= 1;
    }
    Some(quotient)
}

/// `a * b / d`, rounded down. `None` on overflow or division by zero.
pub fn mul_div_down(a: U256, b: U256, d: U256) -> Option<U256> {
    div_floor(a.checked_mul(b)?, d)
}

/// `a * b / d`, rounded up. `None` on overflow or division by zero.
pub fn mul_div_up(a: U256, b: U256, d: U256) -> Option<U256> {
    let q = mul_div_down(a, b, d)?;
    // a * b did not overflow and q * d <= a * b, so neither product wraps.
    if q.wrapping_mul(d) == a.wrapping_mul(b) {
        Some(q)
    } else {
        q.checked_add(U256::from(1))
    }
}

/// Integer square root, rounded down (digit by digit: no division).
pub fn sqrt(y: U256) -> U256 {
    if y.is_zero() {
        return U256::ZERO;
    }
    let mut rem = y;
    let mut root = U256::ZERO;
    // The highest power of four not above y.
    let mut bit = U256::from(1) << ((y.bit_len() - 1) & !1);
    while !bit.is_zero() {
        let trial = root + bit;
        if rem >= trial {
            rem -= trial;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn u(x: u128) -> U256 {
        U256::from(x)
    }

    fn wide() -> impl Strategy<Value = U256> {
        (any::<u128>(), any::<u128>(), 0usize..256).prop_map(|(hi, lo, bits)| {
            let x = (U256::from(hi) << 128) | U256::from(lo);
            x >> bits
        })
    }

    #[test]
    fn division_edges() {
        assert_eq!(div_floor(u(10), U256::ZERO), None);
        assert_eq!(div_floor(u(0), u(7)), Some(u(0)));
        assert_eq!(div_floor(u(6), u(7)), Some(u(0)));
        assert_eq!(div_floor(u(7), u(7)), Some(u(1)));
        assert_eq!(div_floor(U256::MAX, u(1)), Some(U256::MAX));
        assert_eq!(div_floor(U256::MAX, U256::MAX), Some(u(1)));
        assert_eq!(div_floor(U256::MAX, u(2)), Some(U256::MAX >> 1));
    }

    #[test]
    fn rounding_directions() {
        assert_eq!(mul_div_down(u(10), u(1), u(3)), Some(u(3)));
        assert_eq!(mul_div_up(u(10), u(1), u(3)), Some(u(4)));
        assert_eq!(mul_div_up(u(9), u(1), u(3)), Some(u(3)));
        assert_eq!(mul_div_down(u(1), u(1), U256::ZERO), None);
        assert_eq!(mul_div_up(U256::MAX, u(2), u(1)), None);
    }

    #[test]
    fn sqrt_small_and_edges() {
        for (x, r) in [(0u128, 0u128), (1, 1), (2, 1), (3, 1), (4, 2), (8, 2), (9, 3), (15, 3), (16, 4)] {
            assert_eq!(sqrt(u(x)), u(r), "sqrt({x})");
        }
        assert_eq!(sqrt(u(1 << 100)), u(1 << 50));
        assert_eq!(sqrt(U256::MAX), U256::from(u128::MAX));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Agrees with ruint's division everywhere.
        #[test]
        fn div_matches_ruint(n in wide(), d in wide()) {
            prop_assume!(!d.is_zero());
            prop_assert_eq!(div_floor(n, d), Some(n / d));
        }

        #[test]
        fn up_is_down_or_down_plus_one(a in any::<u128>(), b in any::<u128>(), d in 1u128..) {
            let down = mul_div_down(u(a), u(b), u(d)).unwrap();
            let up = mul_div_up(u(a), u(b), u(d)).unwrap();
            prop_assert!(up == down || up == down + u(1));
            prop_assert!(down * u(d) <= u(a) * u(b));
            prop_assert!(up * u(d) >= u(a) * u(b));
        }

        #[test]
        fn sqrt_is_floor(y in wide()) {
            let r = sqrt(y);
            prop_assert!(r.checked_mul(r).unwrap() <= y);
            let next = r + u(1);
            prop_assert!(next.checked_mul(next).is_none_or(|sq| sq > y));
        }
    }
}
