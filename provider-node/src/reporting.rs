//! From a metered job to signed usage reports: one report per GPU the job held (the report
//! carries one `gpuUuidHash`).

use crate::meter::GpuInfo;
use crate::metering::{self, GpuUsage, Sample};
use alloy::primitives::{keccak256, Address, B256, U256};
use alloy::sol_types::SolValue;
use market_protocol::report::{gpu_uuid_hash, UsageReport};

/// Bit 255 of a report's nonce marks the job's final report: the settlement contract then
/// refunds the buyer's unused escrow and closes the job (contracts/settlement, "Final
/// report").
pub const FINAL_NONCE_BIT: usize = 255;

/// The report nonce for (job, GPU): the low 255 bits of
/// `keccak256(abi.encode(jobId, gpuUuidHash))`, with bit 255 set on the job's final report.
/// Deterministic, so a node that restarts re-derives the same nonce instead of minting a
/// second report for the same work (which the market would treat as a conflicting report).
pub fn nonce_for(job_id: U256, gpu_uuid_hash: B256, is_final: bool) -> U256 {
    let mut nonce = U256::from_be_bytes(keccak256((job_id, gpu_uuid_hash).abi_encode()).0);
    nonce.set_bit(FINAL_NONCE_BIT, is_final);
    nonce
}

/// Build the (unsigned) report of one GPU from its recorded sample stream. The window is
/// `[floor(first sample), ceil(last sample)]` in seconds, so `gpuSeconds`, which is floored
/// healthy time inside the samples, never exceeds `endTs - startTs`.
pub fn build(
    job_id: U256,
    provider: Address,
    gpu: &GpuInfo,
    samples: &[Sample],
    evidence_digest: B256,
    is_final: bool,
) -> (UsageReport, GpuUsage) {
    let usage = metering::summarise(samples);
    let first = samples.iter().map(|s| s.t_ms).min().unwrap_or(0);
    let last = samples.iter().map(|s| s.t_ms).max().unwrap_or(0);
    let uuid_hash = gpu_uuid_hash(&gpu.uuid);
    let report = UsageReport {
        jobId: job_id,
        provider,
        gpuUuidHash: uuid_hash,
        startTs: first / 1000,
        endTs: last.div_ceil(1000),
        gpuSeconds: usage.gpu_seconds,
        energyMilliJoules: usage.energy_milli_joules,
        avgUtilBps: usage.avg_util_bps,
        evidenceDigest: evidence_digest,
        nonce: nonce_for(job_id, uuid_hash, is_final),
    };
    (report, usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::GpuReading;
    use proptest::prelude::*;

    #[test]
    fn nonce_is_deterministic_and_distinct() {
        let a = nonce_for(U256::from(1), B256::repeat_byte(1), false);
        assert_eq!(a, nonce_for(U256::from(1), B256::repeat_byte(1), false));
        assert_ne!(a, nonce_for(U256::from(2), B256::repeat_byte(1), false));
        assert_ne!(a, nonce_for(U256::from(1), B256::repeat_byte(2), false));
        // only the final flag differs between a job's last report and an earlier one
        let last = nonce_for(U256::from(1), B256::repeat_byte(1), true);
        assert!(!a.bit(FINAL_NONCE_BIT) && last.bit(FINAL_NONCE_BIT));
        assert_eq!(last ^ a, U256::from(1) << FINAL_NONCE_BIT);
    }

    proptest! {
        #[test]
        fn gpu_seconds_fit_the_window(start in 1_600_000_000_000u64..1_900_000_000_000, steps in prop::collection::vec(1u64..3000, 1..100)) {
            let mut t = start;
            let mut samples = vec![Sample { t_ms: t, reading: Some(GpuReading { util_pct: 100, energy_mj: 0 }) }];
            for dt in steps {
                t += dt;
                samples.push(Sample { t_ms: t, reading: Some(GpuReading { util_pct: 100, energy_mj: t }) });
            }
            let gpu = GpuInfo { index: 0, uuid: "GPU-x".into(), name: "x".into() };
            let (r, _) = build(U256::from(1), Address::ZERO, &gpu, &samples, B256::ZERO, true);
            prop_assert!(r.gpuSeconds <= r.endTs - r.startTs);
            prop_assert!(r.check_shape().is_ok());
        }
    }
}
