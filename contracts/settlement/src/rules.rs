//! The settlement rules as plain functions: which reports settle, which are skipped and
//! why, which prove a fault, and how a missed accept is priced. The contract (`lib.rs`)
//! only gathers the inputs (job, class, provider, last window) and applies the outcome.

use alloy_primitives::U256;

/// Skip reason codes of `ReportSkipped` (fixed by the market's settlement ABI).
pub mod reason {
    /// Malformed, high-s, or not signed by the provider's registered signing key.
    pub const BAD_SIGNATURE: u8 = 1;
    /// The provider already used this nonce.
    pub const NONCE_USED: u8 = 2;
    /// Unknown job, not accepted, or closed.
    pub const JOB_NOT_SETTLEABLE: u8 = 3;
    /// `report.provider` is not the job's provider.
    pub const WRONG_PROVIDER: u8 = 4;
    /// The window is reversed, starts before the job was accepted, ends in the future, or
    /// lies before the last window settled for this job and GPU.
    pub const OUTSIDE_JOB_WINDOW: u8 = 5;
    /// Settled more than the class's `maxReportDelay` after the window ended.
    pub const REPORT_TOO_LATE: u8 = 6;
    /// `gpuSeconds > (endTs - startTs) x GPUs`: the provider is slashed.
    pub const IMPOSSIBLE_USAGE: u8 = 7;
    /// The window overlaps one already settled for the same job and GPU: slashed.
    pub const CONFLICTING_REPORT: u8 = 8;
    /// `gpuUuidHash` is not registered to the provider.
    pub const UNKNOWN_GPU: u8 = 9;
}

/// Bit 255 of a report's nonce: the provider's signed statement that this is the job's
/// final report (see README, "Final report"). The other 255 bits are the nonce proper.
pub const FINAL_NONCE_BIT: usize = 255;

/// Whether the report closes its job: the refund of the unused escrow follows it.
pub fn is_final(nonce: U256) -> bool {
    nonce.bit(FINAL_NONCE_BIT)
}

/// A report whose metered seconds exceed what its GPUs could deliver in its window:
/// `gpuSeconds > (endTs - startTs) x gpus` (a reversed window has no time at all).
/// `gpus` is the provider's registered GPU count in the class: the market cannot see
/// how many a job was given, so this is the largest number it could have been.
pub fn is_impossible(start_ts: u64, end_ts: u64, gpu_seconds: u64, gpus: u64) -> bool {
    let capacity = end_ts.saturating_sub(start_ts) as u128 * gpus as u128;
    gpu_seconds as u128 > capacity
}

/// Checks the report's window against the job and the clock:
/// `acceptedAt <= startTs <= endTs <= now` (else `OUTSIDE_JOB_WINDOW`) and
/// `now <= endTs + maxReportDelay` (else `REPORT_TOO_LATE`).
pub fn check_window(
    start_ts: u64,
    end_ts: u64,
    accepted_at: u64,
    now: u64,
    max_delay: u64,
) -> Result<(), u8> {
    if start_ts > end_ts || start_ts < accepted_at || end_ts > now {
        return Err(reason::OUTSIDE_JOB_WINDOW);
    }
    if now - end_ts > max_delay {
        return Err(reason::REPORT_TOO_LATE);
    }
    Ok(())
}

/// How a report's window relates to the last window settled for the same job and GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sequence {
    /// Starts at or after the last window's end (or there is none): settle it.
    Next,
    /// Overlaps the last window: two signed claims on the same GPU time.
    Conflict,
    /// Lies wholly before the last window: out of order; skipped, since it cannot be
    /// compared with the windows settled before that one.
    Stale,
}

/// Windows are half-open, `[startTs, endTs)`: back-to-back windows do not overlap.
pub fn sequence(start_ts: u64, end_ts: u64, last: Option<(u64, u64)>) -> Sequence {
    match last {
        None => Sequence::Next,
        Some((_, last_end)) if start_ts >= last_end => Sequence::Next,
        Some((last_start, last_end)) if start_ts < last_end && last_start < end_ts => Sequence::Conflict,
        Some(_) => Sequence::Stale,
    }
}

/// What a provable fault slashes: the collateral behind the seconds at stake
/// (`seconds x collateralPerSecond`, saturating). The vault caps it by the provider's
/// slashable stake.
pub fn slash_amount(seconds: U256, collateral_per_second: U256) -> U256 {
    seconds.saturating_mul(collateral_per_second)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn final_flag_is_the_top_nonce_bit() {
        assert!(!is_final(U256::from(7)));
        assert!(is_final(U256::from(7) | (U256::from(1) << 255)));
        assert!(is_final(U256::MAX));
        assert!(!is_final(U256::MAX >> 1));
    }

    #[test]
    fn impossible_usage_bound() {
        assert!(!is_impossible(100, 160, 60, 1));
        assert!(is_impossible(100, 160, 61, 1));
        assert!(!is_impossible(100, 160, 480, 8));
        assert!(is_impossible(100, 160, 481, 8));
        assert!(is_impossible(160, 100, 1, 8), "a reversed window has no capacity");
        assert!(!is_impossible(160, 100, 0, 8));
        assert!(!is_impossible(0, u64::MAX, u64::MAX, u64::MAX), "no overflow");
    }

    #[test]
    fn window_rules() {
        // accepted at 100, now 1_000, max delay 300
        assert_eq!(check_window(100, 800, 100, 1_000, 300), Ok(()));
        assert_eq!(check_window(99, 800, 100, 1_000, 300), Err(reason::OUTSIDE_JOB_WINDOW));
        assert_eq!(check_window(500, 400, 100, 1_000, 300), Err(reason::OUTSIDE_JOB_WINDOW));
        assert_eq!(check_window(500, 1_001, 100, 1_000, 300), Err(reason::OUTSIDE_JOB_WINDOW));
        assert_eq!(check_window(500, 700, 100, 1_000, 300), Ok(()));
        assert_eq!(check_window(500, 699, 100, 1_000, 300), Err(reason::REPORT_TOO_LATE));
    }

    #[test]
    fn sequencing_of_windows() {
        assert_eq!(sequence(10, 20, None), Sequence::Next);
        assert_eq!(sequence(20, 30, Some((10, 20))), Sequence::Next);
        assert_eq!(sequence(19, 30, Some((10, 20))), Sequence::Conflict);
        assert_eq!(sequence(10, 20, Some((10, 20))), Sequence::Conflict);
        assert_eq!(sequence(12, 15, Some((10, 20))), Sequence::Conflict);
        assert_eq!(sequence(0, 10, Some((10, 20))), Sequence::Stale);
        assert_eq!(sequence(5, 11, Some((10, 20))), Sequence::Conflict);
    }

    #[test]
    fn fault_slash_is_the_collateral_behind_the_seconds() {
        assert_eq!(slash_amount(U256::from(10), U256::from(7)), U256::from(70));
        assert_eq!(slash_amount(U256::MAX, U256::from(2)), U256::MAX);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// A window that settles never overlaps the one before it, and every overlap is a conflict.
        #[test]
        fn sequence_matches_interval_overlap(a in 0u64..100, b in 0u64..100, c in 0u64..100, d in 0u64..100) {
            let (ls, le) = (a.min(b), a.max(b));
            let (s, e) = (c.min(d), c.max(d));
            let overlap = s < le && ls < e;
            match sequence(s, e, Some((ls, le))) {
                Sequence::Next => prop_assert!(s >= le),
                Sequence::Conflict => prop_assert!(overlap),
                Sequence::Stale => prop_assert!(!overlap && s < le),
            }
        }
    }
}
