//! Process CPU time (user + system, all threads) from `getrusage(RUSAGE_SELF)`, and small
//! statistics helpers.

use std::time::Duration;

/// User + system CPU time this process has used so far, all threads together.
pub fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1_000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The `q`-quantile (0..=1) of `sorted` by the nearest-rank method; `None` when empty.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// "met" or "MISSED by x (y %)" for a throughput measured against a floor target.
pub fn against_floor(measured: f64, target: f64) -> String {
    if measured >= target {
        format!("met (x{:.1})", measured / target)
    } else {
        format!("MISSED by {:.0}/s ({:.0} % short)", target - measured, (1.0 - measured / target) * 100.0)
    }
}

/// Cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let before = process_cpu();
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(process_cpu() > before);
    }

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&v, 1.0), Some(100.0));
        assert_eq!(quantile(&[7.0], 0.99), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn floor_targets_say_by_how_much() {
        assert!(against_floor(12_000.0, 10_000.0).starts_with("met"));
        assert_eq!(against_floor(7_500.0, 10_000.0), "MISSED by 2500/s (25 % short)");
    }
}
