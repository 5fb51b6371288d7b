//! Pricing of a missed accept, as plain functions: the compensation at the AMM's TWAP and
//! the slash that pays it.

use alloy_primitives::U256;

/// `a x q / 2^112` for a UQ112x112 `q`, saturating at `U256::MAX` (a value that large is
/// capped by the provider's stake anyway). A shift, so no `uint256` division is linked.
pub fn mul_uq112(a: U256, q: U256) -> U256 {
    a.checked_mul(q).map_or(U256::MAX, |p| p >> 112)
}

/// The compensation for a missed accept, in collateral units:
/// `seconds x twapPrice` (stablecoin per class token, UQ112x112, from the AMM's TWAP),
/// converted with the governance-set `collateralPerStable` (UQ112x112; `2^112` when the
/// collateral is the stablecoin itself, as on the devnet).
pub fn missed_accept_compensation(seconds: U256, twap_price: U256, collateral_per_stable: U256) -> U256 {
    mul_uq112(mul_uq112(seconds, twap_price), collateral_per_stable)
}

/// What a missed accept slashes: the collateral behind the job's seconds
/// (`seconds x collateralPerSecond`), or the compensation owed if that is more. The vault
/// caps it by the provider's slashable stake and pays the buyer `compensation` first.
pub fn slash_amount(seconds: U256, collateral_per_second: U256, compensation: U256) -> U256 {
    seconds.saturating_mul(collateral_per_second).max(compensation)
}

/// When an accepted job counts as abandoned: after its last sign of life (the acceptance or
/// its last settled report, whichever is later) come at most `escrow` seconds of GPU work,
/// which take at most that much wall time even on a single GPU, and the report of their
/// last second may arrive up to `maxReportDelay` later. After this instant no report of the
/// job can still settle in time. Saturating.
pub fn abandoned_after(accepted_at: u64, last_settled_at: u64, escrow: U256, max_report_delay: u64) -> u64 {
    let escrow: u64 = escrow.saturating_to();
    accepted_at.max(last_settled_at).saturating_add(escrow).saturating_add(max_report_delay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const Q112: U256 = U256::from_limbs([0, 1 << 48, 0, 0]);

    #[test]
    fn q112_is_two_to_the_112() {
        assert_eq!(Q112, U256::from(1) << 112);
    }

    #[test]
    fn compensation_follows_the_twap_and_the_collateral_rate() {
        // 100 s at 0.5 stable per second, collateral = stablecoin: 50
        let half = Q112 >> 1;
        assert_eq!(missed_accept_compensation(U256::from(100), half, Q112), U256::from(50));
        // collateral worth 2 stable per unit: half as many collateral units
        assert_eq!(missed_accept_compensation(U256::from(100), half, half), U256::from(25));
        assert_eq!(missed_accept_compensation(U256::MAX, U256::MAX, Q112), U256::MAX, "saturates");
        assert_eq!(slash_amount(U256::from(10), U256::from(7), U256::from(50)), U256::from(70));
        assert_eq!(slash_amount(U256::from(10), U256::from(4), U256::from(50)), U256::from(50));
        assert_eq!(slash_amount(U256::MAX, U256::from(2), U256::ZERO), U256::MAX);
    }

    #[test]
    fn a_job_is_abandoned_only_after_its_work_and_report_delay() {
        assert_eq!(abandoned_after(1_000, 0, U256::from(500), 3_600), 5_100);
        // a settled report moves the last sign of life forward
        assert_eq!(abandoned_after(1_000, 2_000, U256::from(500), 3_600), 6_100);
        assert_eq!(abandoned_after(u64::MAX - 1, 0, U256::MAX, 1), u64::MAX, "saturates");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// The shift-based price math equals exact rational arithmetic, rounded down.
        #[test]
        fn compensation_is_seconds_times_price(seconds in any::<u64>(), price in any::<u128>(), rate in any::<u128>()) {
            let stable = (U256::from(seconds) * U256::from(price)) / Q112;
            let exact = (stable * U256::from(rate)) / Q112;
            prop_assert_eq!(missed_accept_compensation(U256::from(seconds), U256::from(price), U256::from(rate)), exact);
        }
    }
}
