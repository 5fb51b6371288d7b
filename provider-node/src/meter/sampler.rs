//! The sampling loop: reads every assigned GPU at a fixed rate on its own thread while a job
//! runs, and hands back the recorded streams for [`crate::metering::summarise`].

use super::{GpuInfo, Meter};
use crate::metering::Sample;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A running sampler; [`Sampler::finish`] takes a last sample and returns one stream per GPU.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Vec<Vec<Sample>>>,
}

impl Sampler {
    /// Start sampling `gpus` every `interval`; the first (baseline) sample is taken before this
    /// returns, so it precedes the job's start.
    pub fn start(meter: Arc<dyn Meter>, gpus: Vec<GpuInfo>, interval: Duration) -> Self {
        let take = {
            let meter = meter.clone();
            let gpus = gpus.clone();
            move |streams: &mut Vec<Vec<Sample>>| {
                let t_ms = now_ms();
                for (gpu, stream) in gpus.iter().zip(streams.iter_mut()) {
                    let reading = match meter.read(gpu) {
                        Ok(r) => Some(r),
                        Err(e) => {
                            tracing::warn!(gpu = gpu.index, error = %e, "GPU sample failed");
                            None
                        }
                    };
                    stream.push(Sample { t_ms, reading });
                }
            }
        };
        let mut streams: Vec<Vec<Sample>> = vec![Vec::new(); gpus.len()];
        take(&mut streams);
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::spawn(move || {
            let tick = Duration::from_millis(5).min(interval);
            let mut next = std::time::Instant::now() + interval;
            loop {
                if stop2.load(Ordering::Acquire) {
                    break;
                }
                if std::time::Instant::now() >= next {
                    take(&mut streams);
                    next += interval;
                }
                std::thread::sleep(tick);
            }
            take(&mut streams);
            streams
        });
        Self { stop, handle }
    }

    pub fn finish(self) -> Vec<Vec<Sample>> {
        self.stop.store(true, Ordering::Release);
        self.handle.join().unwrap_or_default()
    }
}
