//! The sampling loop: reads every assigned GPU at a fixed rate on its own thread while a job
//! runs, and hands back the recorded streams for [`crate::metering::summarise`].

use super::{GpuInfo, Meter};
use crate::metering::Sample;
use std::io::Write;
use std::path::{Path, PathBuf};
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
        Self::start_persisted(meter, gpus, interval, None)
    }

    /// As [`Sampler::start`], and every tick (one line per tick, all GPUs, see
    /// [`crate::recovery::SampleLine`]) is also appended to `persist` (`jobs/<id>/samples.jsonl`)
    /// so a job interrupted by a crash can still be reported. Each line is written with one
    /// `write` (a node killed by a signal loses nothing written), and fsynced at most once a
    /// second and after the last sample (a machine crash loses at most ~1 s). A file that
    /// cannot be opened or written is logged and persistence stops; sampling goes on.
    pub fn start_persisted(
        meter: Arc<dyn Meter>,
        gpus: Vec<GpuInfo>,
        interval: Duration,
        persist: Option<PathBuf>,
    ) -> Self {
        let mut sink = persist.and_then(|p| match Persist::open(&p) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(path = %p.display(), error = %e, "cannot persist samples; an interrupted job will not be recoverable");
                None
            }
        });
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
        let mut take = move |streams: &mut Vec<Vec<Sample>>, last: bool| {
            take(streams);
            if let Some(p) = sink.as_mut() {
                let tick: Vec<Sample> = streams.iter().filter_map(|s| s.last().copied()).collect();
                if let Err(e) = p.append(&tick, last) {
                    tracing::warn!(error = %e, "persisting samples failed; persistence stops for this job");
                    sink = None;
                }
            }
        };
        let mut streams: Vec<Vec<Sample>> = vec![Vec::new(); gpus.len()];
        take(&mut streams, false);
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
                    take(&mut streams, false);
                    next += interval;
                }
                std::thread::sleep(tick);
            }
            take(&mut streams, true);
            streams
        });
        Self { stop, handle }
    }

    pub fn finish(self) -> Vec<Vec<Sample>> {
        self.stop.store(true, Ordering::Release);
        self.handle.join().unwrap_or_default()
    }
}

/// The append-only sample file of one job.
struct Persist {
    file: std::fs::File,
    last_sync: std::time::Instant,
}

impl Persist {
    fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        // The file's directory entry must survive a machine crash too.
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(Self { file, last_sync: std::time::Instant::now() })
    }

    fn append(&mut self, tick: &[Sample], sync_now: bool) -> std::io::Result<()> {
        let Some(t_ms) = tick.first().map(|s| s.t_ms) else { return Ok(()) };
        let line = crate::recovery::SampleLine { t_ms, readings: tick.iter().map(|s| s.reading).collect() };
        let mut bytes = serde_json::to_vec(&line).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        self.file.write_all(&bytes)?;
        if sync_now || self.last_sync.elapsed() >= Duration::from_secs(1) {
            self.file.sync_data()?;
            self.last_sync = std::time::Instant::now();
        }
        Ok(())
    }
}
