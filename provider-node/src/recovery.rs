//! Crash recovery of interrupted jobs. While a job runs the node keeps, under
//! `<data_dir>/jobs/<id>/`:
//! - `start.json` ([`JobStart`]): wall time and the GPUs assigned (index, UUID, name), written
//!   atomically before the first sample;
//! - `samples.jsonl`: one [`SampleLine`] per sampler tick (every assigned GPU), appended by the
//!   sampler thread, fsynced at most once a second and after the last sample;
//! - `pid`: the job's process id, to find a process that outlived a killed node.
//!
//! After a crash, [`parse_samples`] turns the (untrusted: possibly torn) sample file back into
//! the per-GPU streams that [`crate::metering::summarise`] reads, so an interrupted job's
//! final reports are computed exactly as a normal report is, over the part that was metered.
//! The I/O around it (finding and killing the orphaned process) is Linux `/proc`.

use crate::meter::GpuInfo;
use crate::metering::{GpuReading, Sample};
use alloy::primitives::U256;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const START_FILE: &str = "start.json";
pub const SAMPLES_FILE: &str = "samples.jsonl";
pub const PID_FILE: &str = "pid";

/// One sampler tick in `samples.jsonl`: the time and one reading per assigned GPU, in the
/// order of [`JobStart::gpus`] (`null` = the GPU could not be read).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SampleLine {
    pub t_ms: u64,
    pub readings: Vec<Option<GpuReading>>,
}

/// What the node persists when a job starts (`start.json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobStart {
    /// Decimal job id.
    pub job_id: String,
    /// Unix milliseconds, just before the sampler's baseline.
    pub started_ms: u64,
    pub gpus: Vec<GpuInfo>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a job start record: {problem}")]
    Corrupt { path: PathBuf, problem: String },
}

/// The sample streams read back from a sample file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedSamples {
    /// One stream per GPU, in the order of [`JobStart::gpus`].
    pub streams: Vec<Vec<Sample>>,
    /// Complete, valid ticks read.
    pub ticks: usize,
    /// Lines ignored: a torn last line (no trailing newline: the write was cut short), or a
    /// line that is not a valid tick for `gpus` GPUs.
    pub ignored: usize,
}

/// Read a sample file's bytes for a job on `gpus` GPUs. Never panics: anything that is not a
/// complete, newline-terminated tick with exactly `gpus` readings, later than the previous
/// tick, is ignored (so no usage is ever claimed from a partial write).
pub fn parse_samples(bytes: &[u8], gpus: usize) -> ParsedSamples {
    let mut out = ParsedSamples { streams: vec![Vec::new(); gpus], ..Default::default() };
    let mut rest = bytes;
    let mut last_t: Option<u64> = None;
    while !rest.is_empty() {
        let Some(nl) = rest.iter().position(|b| *b == b'\n') else {
            out.ignored += 1; // torn: the last write did not complete
            break;
        };
        let line = &rest[..nl];
        rest = &rest[nl + 1..];
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match serde_json::from_slice::<SampleLine>(line) {
            Ok(l) if l.readings.len() == gpus && last_t.is_none_or(|t| l.t_ms > t) => {
                last_t = Some(l.t_ms);
                for (stream, reading) in out.streams.iter_mut().zip(l.readings) {
                    stream.push(Sample { t_ms: l.t_ms, reading });
                }
                out.ticks += 1;
            }
            _ => out.ignored += 1,
        }
    }
    out
}

/// `start.json` of a job directory; `Ok(None)` when the job never got that far.
pub fn read_start(job_dir: &Path) -> Result<Option<JobStart>, RecoveryError> {
    let path = job_dir.join(START_FILE);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| RecoveryError::Corrupt { path, problem: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RecoveryError::Io { path, source }),
    }
}

/// The sample file of a job directory, parsed (missing = no samples).
pub fn read_samples(job_dir: &Path, gpus: usize) -> Result<ParsedSamples, RecoveryError> {
    let path = job_dir.join(SAMPLES_FILE);
    match std::fs::read(&path) {
        Ok(b) => Ok(parse_samples(&b, gpus)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(parse_samples(&[], gpus)),
        Err(source) => Err(RecoveryError::Io { path, source }),
    }
}

/// Write `bytes` to `path` atomically and durably (temp file, fsync, rename, fsync dir).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RecoveryError> {
    use std::io::Write;
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| RecoveryError::Io { path: p, source }
    };
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    }
    Ok(())
}

/// Whether `environ` (NUL-separated, as in `/proc/<pid>/environ`) sets `MARKET_JOB_ID=<job>`.
pub fn environ_has_job(environ: &[u8], job_id: U256) -> bool {
    let want = format!("MARKET_JOB_ID={job_id}");
    environ.split(|b| *b == 0).any(|v| v == want.as_bytes())
}

/// Whether the live (not zombie) process `pid` is job `job_id`'s: its environment has
/// `MARKET_JOB_ID=<job>` and, unless it is the pid the node recorded, its working directory
/// is the job's directory.
fn is_job_process(pid: u32, job_id: U256, job_dir: &Path, recorded: bool) -> bool {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    if !is_alive(pid) {
        return false;
    }
    let Ok(environ) = std::fs::read(proc.join("environ")) else { return false };
    if !environ_has_job(&environ, job_id) {
        return false;
    }
    recorded
        || match (std::fs::read_link(proc.join("cwd")), std::fs::canonicalize(job_dir)) {
            (Ok(cwd), Ok(dir)) => cwd == dir,
            _ => false,
        }
}

/// Whether `pid` exists and is not a zombie.
pub fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // state is the first field after the parenthesised command name
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next())
            .is_some_and(|s| s != "Z" && s != "X"),
        Err(_) => false,
    }
}

/// Find the processes of job `job_id` that outlived the node (the recorded pid, and any
/// process with the job's `MARKET_JOB_ID` whose working directory is the job's), SIGKILL
/// them and wait (up to 5 s) until they are gone. Returns the pids killed.
pub fn kill_job_processes(job_id: U256, job_dir: &Path, recorded_pid: Option<u32>) -> Vec<u32> {
    let me = std::process::id();
    let mut pids: Vec<u32> = recorded_pid
        .filter(|p| *p != 0 && *p != me && is_job_process(*p, job_id, job_dir, true))
        .into_iter()
        .collect();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if pid != me && !pids.contains(&pid) && is_job_process(pid, job_id, job_dir, false) {
                pids.push(pid);
            }
        }
    }
    for pid in &pids {
        match std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status() {
            Ok(s) if s.success() => {
                tracing::warn!(job = %job_id, pid, "killed the interrupted job's orphaned process")
            }
            Ok(s) => {
                tracing::error!(job = %job_id, pid, status = %s, "could not kill the interrupted job's process")
            }
            Err(e) => tracing::error!(job = %job_id, pid, error = %e, "could not run kill"),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| is_alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    pids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::summarise;

    fn line(t: u64, r: &[Option<(u32, u64)>]) -> String {
        let l = SampleLine {
            t_ms: t,
            readings: r.iter().map(|o| o.map(|(u, e)| GpuReading { util_pct: u, energy_mj: e })).collect(),
        };
        format!("{}\n", serde_json::to_string(&l).unwrap())
    }

    #[test]
    fn recovers_streams_and_ignores_a_torn_last_line() {
        let mut f = String::new();
        for i in 0..=4u64 {
            f += &line(10_000 + i * 500, &[Some((50, 1000 + i * 10)), Some((100, i * 20))]);
        }
        let full = line(20_000, &[Some((100, 5000)), Some((100, 5000))]);
        // torn at every possible byte: never a panic, never the torn tick
        for cut in 0..full.len() {
            let bytes = format!("{f}{}", &full[..cut]);
            let p = parse_samples(bytes.as_bytes(), 2);
            assert_eq!(p.ticks, 5, "cut at {cut}");
            assert_eq!(p.ignored, usize::from(cut > 0));
            assert_eq!(p.streams.len(), 2);
            let u = summarise(&p.streams[0]);
            assert_eq!(
                (u.healthy_ms, u.gpu_seconds, u.energy_milli_joules, u.avg_util_bps),
                (2000, 2, 40, 5000)
            );
            assert_eq!(summarise(&p.streams[1]).energy_milli_joules, 80);
        }
    }

    #[test]
    fn garbage_wrong_width_and_reordered_lines_are_ignored() {
        let mut f = line(1000, &[Some((10, 1))]);
        f += "not json\n";
        f += &line(1500, &[Some((10, 2)), None]); // two GPUs in a one-GPU job
        f += &line(900, &[Some((10, 3))]); // time going backwards
        f += "\n";
        f += &line(2000, &[None]);
        f += &line(3000, &[Some((10, 9))]);
        let mut bytes = f.into_bytes();
        bytes.extend_from_slice(&[0xff, 0x00, b'{']);
        let p = parse_samples(&bytes, 1);
        assert_eq!((p.ticks, p.ignored), (3, 4));
        let u = summarise(&p.streams[0]);
        assert_eq!(u.healthy_ms, 1000, "(1000,2000] unreadable, (2000,3000] healthy");
        assert_eq!(
            parse_samples(b"", 2),
            ParsedSamples { streams: vec![vec![], vec![]], ticks: 0, ignored: 0 }
        );
        assert_eq!(parse_samples(&[0u8; 64], 1).ticks, 0);
    }

    #[test]
    fn environ_match_is_exact() {
        let env = b"A=1\0MARKET_JOB_ID=12\0B=2\0";
        assert!(environ_has_job(env, U256::from(12)));
        assert!(!environ_has_job(env, U256::from(1)));
        assert!(!environ_has_job(b"MARKET_JOB_ID=123\0", U256::from(12)));
        assert!(!environ_has_job(b"", U256::from(12)));
    }

    #[test]
    fn start_record_round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_start(dir.path()).unwrap().is_none());
        let s = JobStart {
            job_id: "5".into(),
            started_ms: 7,
            gpus: vec![GpuInfo { index: 0, uuid: "GPU-a".into(), name: "x".into() }],
        };
        write_atomic(&dir.path().join(START_FILE), &serde_json::to_vec(&s).unwrap()).unwrap();
        assert_eq!(read_start(dir.path()).unwrap(), Some(s));
        std::fs::write(dir.path().join(START_FILE), b"{\"job_id\":").unwrap();
        assert!(matches!(read_start(dir.path()), Err(RecoveryError::Corrupt { .. })));
        assert_eq!(read_samples(dir.path(), 1).unwrap().ticks, 0);
    }

    #[test]
    fn finds_and_kills_a_job_process_by_environment() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env("MARKET_JOB_ID", "4242")
            .current_dir(dir.path())
            .spawn()
            .unwrap();
        struct Guard<'a>(&'a mut std::process::Child);
        impl Drop for Guard<'_> {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let pid = child.id();
        let g = Guard(&mut child);
        // another job's id: left alone
        assert!(kill_job_processes(U256::from(4243), dir.path(), Some(pid)).is_empty());
        assert!(is_alive(pid));
        // found by the scan (no recorded pid): environment and working directory match
        assert_eq!(kill_job_processes(U256::from(4242), dir.path(), None), vec![pid]);
        let status = g.0.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
    }
}
