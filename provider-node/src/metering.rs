//! Metering arithmetic: turns a recorded stream of per-GPU samples into the report's
//! `gpuSeconds`, `energyMilliJoules` and `avgUtilBps`. Pure functions, no I/O, so they are
//! tested on recorded streams.
//!
//! Definitions (also in the README):
//! - A sample at time `t` describes the interval since the previous sample (NVML utilisation
//!   is "percent of the last sample period a kernel was executing"), so interval `(a, b]` is
//!   attributed to the reading at `b`.
//! - **gpuSeconds** = the integral over the job's wall time of the number of assigned GPUs
//!   that were *held and healthy* (readable through NVML) — i.e. wall seconds × GPUs assigned,
//!   minus the time a GPU was lost or unreadable. Summed in milliseconds over the GPU's
//!   intervals, floored once to whole seconds at the end (never rounded up: the market burns
//!   `gpuSeconds` from the buyer's escrow and slashes `gpuSeconds > (endTs-startTs) × gpus`).
//!   Idle-but-reserved time counts: the token is an obligation to deliver *exclusive* GPU time
//!   and a reserved GPU cannot be sold to anyone else. How busy it was is reported separately
//!   in `avgUtilBps`.
//! - **energyMilliJoules** = the sum of increases of NVML's total-energy counter between
//!   consecutive healthy readings. A decrease means the counter restarted (driver reload;
//!   the u64 mJ counter cannot wrap in practice): the new reading counts as the energy since
//!   the restart. Unreadable samples break the chain; the next healthy reading starts a new
//!   baseline (that interval's energy is not claimed).
//! - **avgUtilBps** = the time-weighted mean of utilisation over the GPU's healthy intervals,
//!   in basis points (percent × 100), rounded down, at most 10,000.

/// One reading of one GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GpuReading {
    /// Kernel-busy percent over the last sample period (0..=100), as NVML reports it.
    pub util_pct: u32,
    /// NVML total energy counter, millijoules since driver load.
    pub energy_mj: u64,
}

/// A sample of one GPU at a moment; `reading` is `None` when NVML could not read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    /// Unix time in milliseconds.
    pub t_ms: u64,
    pub reading: Option<GpuReading>,
}

/// What one GPU delivered to one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct GpuUsage {
    pub gpu_seconds: u64,
    pub energy_milli_joules: u64,
    pub avg_util_bps: u16,
    /// Healthy milliseconds before flooring (for the job log).
    pub healthy_ms: u64,
}

/// Summarise one GPU's samples. `samples` must start with a baseline taken at (or just
/// before) the job's start and end with one taken at (or just after) its end; they are
/// sorted by time here, and samples at equal times collapse to the last one.
pub fn summarise(samples: &[Sample]) -> GpuUsage {
    let mut sorted: Vec<Sample> = samples.to_vec();
    sorted.sort_by_key(|s| s.t_ms);
    let mut healthy_ms: u64 = 0;
    let mut util_weighted: u128 = 0;
    let mut energy: u64 = 0;
    for pair in sorted.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let dt = b.t_ms - a.t_ms;
        let Some(rb) = b.reading else { continue };
        healthy_ms += dt;
        util_weighted += u128::from(rb.util_pct.min(100)) * u128::from(dt);
        if let Some(ra) = a.reading {
            energy = energy.saturating_add(energy_delta(ra.energy_mj, rb.energy_mj));
        }
    }
    let avg_util_bps = if healthy_ms == 0 {
        0
    } else {
        // percent × 100 = bps; the mean is ≤ 100 so this fits.
        (util_weighted * 100 / u128::from(healthy_ms)).min(10_000) as u16
    };
    GpuUsage { gpu_seconds: healthy_ms / 1000, energy_milli_joules: energy, avg_util_bps, healthy_ms }
}

/// Energy between two counter readings, treating a decrease as a counter restart.
pub fn energy_delta(before: u64, after: u64) -> u64 {
    if after >= before {
        after - before
    } else {
        after
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(t_ms: u64, util: u32, energy: u64) -> Sample {
        Sample { t_ms, reading: Some(GpuReading { util_pct: util, energy_mj: energy }) }
    }
    fn lost(t_ms: u64) -> Sample {
        Sample { t_ms, reading: None }
    }

    #[test]
    fn steady_stream() {
        // 10 s at 1 Hz, 300 W, 90 % busy.
        let stream: Vec<_> = (0..=10).map(|i| s(1_000_000 + i * 1000, 90, 5_000_000 + i * 300_000)).collect();
        let u = summarise(&stream);
        assert_eq!(u.gpu_seconds, 10);
        assert_eq!(u.energy_milli_joules, 3_000_000);
        assert_eq!(u.avg_util_bps, 9_000);
    }

    #[test]
    fn recorded_stream_with_a_lost_gpu_and_a_counter_restart() {
        // recorded shape: 0.5 s cadence, one unreadable sample, driver reload at t=3000.
        let stream = [
            s(0, 0, 1_000),
            s(500, 100, 1_100),
            s(1000, 100, 1_250),
            lost(1500),         // interval (1000,1500] not counted; energy chain broken
            s(2000, 50, 1_400), // (1500,2000] counts, but no energy (no healthy predecessor)
            s(3000, 50, 40),    // restart: counts 40
            s(3700, 0, 90),
        ];
        let u = summarise(&stream);
        assert_eq!(u.healthy_ms, 500 + 500 + 500 + 1000 + 700);
        assert_eq!(u.gpu_seconds, 3); // 3.2 s floored
        assert_eq!(u.energy_milli_joules, 100 + 150 + 40 + 50);
        // (100*500 + 100*500 + 50*500 + 50*1000 + 0*700) / 3200 = 54.6875 % -> 5468 bps
        assert_eq!(u.avg_util_bps, 5468);
    }

    #[test]
    fn unsorted_input_and_empty_streams() {
        let u = summarise(&[s(2000, 10, 30), s(0, 10, 10), s(1000, 10, 20)]);
        assert_eq!((u.gpu_seconds, u.energy_milli_joules, u.avg_util_bps), (2, 20, 1000));
        assert_eq!(summarise(&[]), GpuUsage::default());
        assert_eq!(summarise(&[s(5, 50, 1)]), GpuUsage::default());
    }

    #[test]
    fn util_above_100_is_clamped() {
        assert_eq!(summarise(&[s(0, 0, 0), s(1000, 250, 0)]).avg_util_bps, 10_000);
    }

    proptest! {
        #[test]
        fn never_more_than_wall_time_and_util_in_range(
            steps in prop::collection::vec((1u64..5_000, prop::option::of((0u32..=100, 0u64..1_000_000))), 0..200)
        ) {
            let mut t = 1_700_000_000_000u64;
            let mut stream = vec![s(t, 0, 0)];
            for (dt, r) in steps {
                t += dt;
                stream.push(Sample { t_ms: t, reading: r.map(|(u, e)| GpuReading { util_pct: u, energy_mj: e }) });
            }
            let wall_ms = t - stream[0].t_ms;
            let u = summarise(&stream);
            prop_assert!(u.healthy_ms <= wall_ms);
            prop_assert!(u.gpu_seconds <= wall_ms / 1000);
            prop_assert!(u.avg_util_bps <= 10_000);
        }
    }
}
