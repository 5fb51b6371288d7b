//! Jobs as child processes of the node: command, args, env, the assigned GPUs (by UUID in
//! `CUDA_VISIBLE_DEVICES`, since CUDA's device order need not match NVML's), a time limit,
//! and per-job stdout/stderr files under `<data_dir>/jobs/<job id>/`.

use alloy::primitives::U256;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// The market's job id (decimal string in files).
    #[serde(with = "u256_dec")]
    pub job_id: U256,
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How many GPUs the job gets.
    #[serde(default = "one")]
    pub gpus: u32,
    /// Seconds before the job is killed; the node's default when absent.
    #[serde(default)]
    pub time_limit_s: Option<u64>,
}

fn one() -> u32 {
    1
}

/// The version of the chain job spec format this node reads.
pub const SPEC_VERSION: u32 = 1;

/// A job spec as a buyer stores it in the relayer's spec store (`POST /v1/specs`) and
/// commits to on chain (`openJob(.., specHash = keccak256(bytes))`): JSON, the fields of
/// [`JobSpec`] without `job_id` (the market assigns the id after the hash is fixed) and with
/// a format version:
///
/// ```json
/// {"version": 1, "command": "python3", "args": ["train.py"], "env": {"EPOCHS": "3"},
///  "gpus": 1, "time_limit_s": 600}
/// ```
///
/// The hash is over the stored bytes exactly as they are; the node parses those bytes,
/// never a re-serialisation. Unknown fields are refused (a buyer's typo must not silently
/// change what runs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecDocument {
    pub version: u32,
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default = "one")]
    pub gpus: u32,
    #[serde(default)]
    pub time_limit_s: Option<u64>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("not a job spec (JSON, version {SPEC_VERSION}): {0}")]
    Format(String),
    #[error("spec version {0} is not supported (this node reads version {SPEC_VERSION})")]
    Version(u32),
    #[error("spec field `{0}`: {1}")]
    Field(&'static str, String),
}

impl SpecDocument {
    /// Parse the stored bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, SpecError> {
        let doc: SpecDocument =
            serde_json::from_slice(bytes).map_err(|e| SpecError::Format(e.to_string()))?;
        if doc.version != SPEC_VERSION {
            return Err(SpecError::Version(doc.version));
        }
        if doc.command.trim().is_empty() {
            return Err(SpecError::Field("command", "is empty".into()));
        }
        if doc.gpus == 0 {
            return Err(SpecError::Field("gpus", "must be at least 1".into()));
        }
        if doc.time_limit_s == Some(0) {
            return Err(SpecError::Field("time_limit_s", "must be positive".into()));
        }
        if let Some(k) = doc.env.keys().find(|k| k.is_empty() || k.contains('=') || k.contains('\0')) {
            return Err(SpecError::Field("env", format!("{k:?} is not a valid variable name")));
        }
        Ok(doc)
    }

    /// The job to run for market job `job_id`, with the time limit the node settled on.
    pub fn into_job(self, job_id: U256, time_limit_s: u64) -> JobSpec {
        JobSpec {
            job_id,
            command: self.command,
            args: self.args,
            env: self.env,
            gpus: self.gpus,
            time_limit_s: Some(time_limit_s),
        }
    }
}

mod u256_dec {
    use alloy::primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        let s = String::deserialize(d)?;
        U256::from_str_radix(&s, 10)
            .map_err(|_| serde::de::Error::custom(format!("job_id {s:?} is not a decimal uint256")))
    }
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOutcome {
    /// Exit code, `None` when killed by a signal (including the time limit).
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub pid: u32,
    pub started_ms: u64,
    pub ended_ms: u64,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("job {job}: preparing {path}: {source}")]
    Files { job: U256, path: PathBuf, source: std::io::Error },
    #[error("job {job}: starting {command:?}: {source}")]
    Spawn { job: U256, command: String, source: std::io::Error },
    #[error("job {job}: waiting for the process: {0}", job = .1)]
    Wait(std::io::Error, U256),
}

/// The job's working directory: `<data_dir>/jobs/<job id>`.
pub fn job_dir(data_dir: &Path, job_id: U256) -> PathBuf {
    data_dir.join("jobs").join(job_id.to_string())
}

/// Run `spec` with `gpu_uuids` visible.
pub async fn run(
    spec: &JobSpec,
    gpu_uuids: &[String],
    data_dir: &Path,
    time_limit: Duration,
    now_ms: impl Fn() -> u64,
) -> Result<JobOutcome, JobError> {
    run_with(spec, gpu_uuids, data_dir, time_limit, now_ms, |_| {}).await
}

/// As [`run`]; `on_start` is called with the child's pid right after it started (the meter's
/// sampler is already running by then), e.g. to persist it for crash recovery.
pub async fn run_with(
    spec: &JobSpec,
    gpu_uuids: &[String],
    data_dir: &Path,
    time_limit: Duration,
    now_ms: impl Fn() -> u64,
    on_start: impl FnOnce(u32),
) -> Result<JobOutcome, JobError> {
    let dir = job_dir(data_dir, spec.job_id);
    let files = |path: PathBuf| move |source| JobError::Files { job: spec.job_id, path, source };
    std::fs::create_dir_all(&dir).map_err(files(dir.clone()))?;
    let stdout = dir.join("stdout");
    let stderr = dir.join("stderr");
    let out = std::fs::File::create(&stdout).map_err(files(stdout.clone()))?;
    let err = std::fs::File::create(&stderr).map_err(files(stderr.clone()))?;
    let mut cmd = tokio::process::Command::new(&spec.command);
    cmd.args(&spec.args)
        .envs(&spec.env)
        .env("CUDA_VISIBLE_DEVICES", gpu_uuids.join(","))
        .env("MARKET_JOB_ID", spec.job_id.to_string())
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .kill_on_drop(true);
    let started_ms = now_ms();
    let mut child = cmd.spawn().map_err(|source| JobError::Spawn {
        job: spec.job_id,
        command: spec.command.clone(),
        source,
    })?;
    let pid = child.id().unwrap_or(0);
    on_start(pid);
    let (status, timed_out) = match tokio::time::timeout(time_limit, child.wait()).await {
        Ok(status) => (status.map_err(|e| JobError::Wait(e, spec.job_id))?, false),
        Err(_) => {
            tracing::warn!(job = %spec.job_id, limit_s = time_limit.as_secs(), "time limit reached, killing the job");
            // kill() also reaps the child.
            let _ = child.kill().await;
            (child.wait().await.map_err(|e| JobError::Wait(e, spec.job_id))?, true)
        }
    };
    Ok(JobOutcome {
        exit_code: status.code(),
        timed_out,
        pid,
        started_ms,
        ended_ms: now_ms(),
        stdout,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cmd: &str, args: &[&str], limit: Option<u64>) -> JobSpec {
        JobSpec {
            job_id: U256::from(9),
            command: cmd.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: [("GREETING".to_string(), "hi".to_string())].into(),
            gpus: 1,
            time_limit_s: limit,
        }
    }

    fn now() -> u64 {
        crate::meter::sampler::now_ms()
    }

    #[tokio::test]
    async fn runs_with_env_gpus_and_logs() {
        let dir = tempfile::tempdir().unwrap();
        let s = spec(
            "sh",
            &["-c", "echo $GREETING $CUDA_VISIBLE_DEVICES $MARKET_JOB_ID; echo oops >&2; exit 3"],
            None,
        );
        let o = run(&s, &["GPU-a".into(), "GPU-b".into()], dir.path(), Duration::from_secs(10), now)
            .await
            .unwrap();
        assert_eq!(o.exit_code, Some(3));
        assert!(!o.timed_out);
        assert_eq!(std::fs::read_to_string(&o.stdout).unwrap(), "hi GPU-a,GPU-b 9\n");
        assert_eq!(std::fs::read_to_string(&o.stderr).unwrap(), "oops\n");
        assert_eq!(o.stdout, dir.path().join("jobs/9/stdout"));
    }

    #[tokio::test]
    async fn time_limit_kills() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = std::time::Instant::now();
        let o = run(&spec("sleep", &["30"], None), &[], dir.path(), Duration::from_millis(300), now)
            .await
            .unwrap();
        assert!(o.timed_out);
        assert_eq!(o.exit_code, None);
        assert!(t0.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn missing_command_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = run(&spec("/nonexistent/bin", &[], None), &[], dir.path(), Duration::from_secs(1), now)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/bin"), "{e}");
    }

    #[test]
    fn chain_spec_parses_and_refuses_bad_documents() {
        let d = SpecDocument::parse(
            br#"{"version":1,"command":"python3","args":["t.py"],"env":{"A":"1"},"gpus":2,"time_limit_s":60}"#,
        )
        .unwrap();
        assert_eq!((d.command.as_str(), d.gpus, d.time_limit_s), ("python3", 2, Some(60)));
        let job = d.into_job(U256::from(4), 30);
        assert_eq!(
            (job.job_id, job.time_limit_s, job.args.clone()),
            (U256::from(4), Some(30), vec!["t.py".into()])
        );
        let d = SpecDocument::parse(br#"{"version":1,"command":"sh"}"#).unwrap();
        assert_eq!((d.gpus, d.time_limit_s, d.args.len()), (1, None, 0));
        let err = |b: &[u8]| SpecDocument::parse(b).unwrap_err();
        assert!(matches!(err(b"command = \"sh\""), SpecError::Format(_)), "TOML is not the chain format");
        assert_eq!(err(br#"{"version":2,"command":"sh"}"#), SpecError::Version(2));
        assert!(matches!(err(br#"{"command":"sh"}"#), SpecError::Format(m) if m.contains("version")));
        assert!(
            matches!(err(br#"{"version":1,"command":"sh","gpu":2}"#), SpecError::Format(m) if m.contains("gpu"))
        );
        assert!(matches!(err(br#"{"version":1,"command":" "}"#), SpecError::Field("command", _)));
        assert!(matches!(err(br#"{"version":1,"command":"sh","gpus":0}"#), SpecError::Field("gpus", _)));
        assert!(matches!(
            err(br#"{"version":1,"command":"sh","time_limit_s":0}"#),
            SpecError::Field("time_limit_s", _)
        ));
        assert!(matches!(
            err(br#"{"version":1,"command":"sh","env":{"A=B":"x"}}"#),
            SpecError::Field("env", _)
        ));
        assert!(matches!(err(&[0xff, 0xfe]), SpecError::Format(_)));
    }

    #[test]
    fn spec_parses_from_toml() {
        let s: JobSpec = toml::from_str(
            "job_id = \"12\"\ncommand = \"python3\"\nargs = [\"train.py\"]\ngpus = 2\ntime_limit_s = 60\n",
        )
        .unwrap();
        assert_eq!((s.job_id, s.gpus, s.time_limit_s), (U256::from(12), 2, Some(60)));
        assert!(toml::from_str::<JobSpec>("job_id = \"x\"\ncommand = \"a\"").is_err());
    }
}
