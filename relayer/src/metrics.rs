//! Prometheus metrics in the text exposition format, hand-rolled: a few counters do not
//! justify a metrics framework, and the format is simple and stable.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct Metrics {
    /// POST /v1/reports requests, whatever their outcome.
    pub reports_received: AtomicU64,
    /// Reports committed as verified.
    pub reports_verified: AtomicU64,
    /// Refusals by stable error code.
    rejections: Mutex<BTreeMap<&'static str, u64>>,
    /// Microseconds spent verifying (signature + evidence), summed; with the count, a mean.
    pub verify_micros_total: AtomicU64,
    pub settlement_batches: AtomicU64,
    /// Stuck settlement transactions replaced with higher fees.
    pub settlement_replacements: AtomicU64,
    pub reports_settled: AtomicU64,
    pub reports_skipped: AtomicU64,
}

impl Metrics {
    pub fn reject(&self, code: &'static str) {
        if let Ok(mut m) = self.rejections.lock() {
            *m.entry(code).or_default() += 1;
        }
    }

    pub fn rejections(&self, code: &str) -> u64 {
        self.rejections.lock().map(|m| m.get(code).copied().unwrap_or(0)).unwrap_or(0)
    }

    /// Renders all metrics; `queue` is the current count of reports per state.
    pub fn render(&self, queue: &[(String, u64)]) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(&mut out, "relayer_reports_received_total", "Reports posted.", load(&self.reports_received));
        counter(
            &mut out,
            "relayer_reports_verified_total",
            "Reports verified and queued.",
            load(&self.reports_verified),
        );
        let _ = writeln!(
            out,
            "# HELP relayer_reports_rejected_total Reports refused, by error code.\n# TYPE relayer_reports_rejected_total counter"
        );
        if let Ok(m) = self.rejections.lock() {
            for (code, v) in m.iter() {
                let _ = writeln!(out, "relayer_reports_rejected_total{{code=\"{code}\"}} {v}");
            }
        }
        let _ = writeln!(
            out,
            "# HELP relayer_verify_seconds_total Seconds spent verifying reports.\n\
             # TYPE relayer_verify_seconds_total counter\nrelayer_verify_seconds_total {:.6}",
            load(&self.verify_micros_total) as f64 / 1e6
        );
        counter(
            &mut out,
            "relayer_settlement_batches_total",
            "settleBatch transactions sent.",
            load(&self.settlement_batches),
        );
        counter(
            &mut out,
            "relayer_settlement_replacements_total",
            "Stuck settleBatch transactions replaced with higher fees.",
            load(&self.settlement_replacements),
        );
        counter(
            &mut out,
            "relayer_reports_settled_total",
            "Reports settled on chain.",
            load(&self.reports_settled),
        );
        counter(
            &mut out,
            "relayer_reports_skipped_total",
            "Reports skipped by the market.",
            load(&self.reports_skipped),
        );
        let _ = writeln!(out, "# HELP relayer_queue_reports Reports in the queue, by state.\n# TYPE relayer_queue_reports gauge");
        for (state, n) in queue {
            let _ = writeln!(out, "relayer_queue_reports{{state=\"{state}\"}} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_labels_and_queue_gauges() {
        let m = Metrics::default();
        m.reports_received.fetch_add(3, Ordering::Relaxed);
        m.reject("bad_signature");
        m.reject("bad_signature");
        m.reject("replay");
        let text = m.render(&[("verified".into(), 2)]);
        assert!(text.contains("relayer_reports_received_total 3\n"), "{text}");
        assert!(text.contains("relayer_reports_rejected_total{code=\"bad_signature\"} 2\n"), "{text}");
        assert!(text.contains("relayer_reports_rejected_total{code=\"replay\"} 1\n"), "{text}");
        assert!(text.contains("relayer_queue_reports{state=\"verified\"} 2\n"), "{text}");
        assert!(text.contains("# TYPE relayer_queue_reports gauge"));
        assert!(text.contains("relayer_verify_seconds_total 0.000000\n"), "{text}");
    }
}
