//! The node: meter + evidence + signer + spool + sender, and where jobs come from: the inbox
//! directory, `exec`, and the chain watcher ([`crate::chain`]).

use crate::config::{Config, MeterChoice};
use crate::evidence::EvidenceSet;
use crate::jobs::{self, JobOutcome, JobSpec};
use crate::meter::{
    nvml::NvmlMeter, sampler, sim::SimulatedMeter, GpuInfo, Meter, MeterError, ProcessAccounting,
};
use crate::metering::GpuUsage;
use crate::recovery;
use crate::reporting;
use crate::sender::Sender;
use crate::spool::Spool;
use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use eyre::{eyre, WrapErr};
use market_protocol::wire::{ReportId, SignedReport};
use market_protocol::MarketDomain;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Open the configured meter. Without NVML this is the one-line error that names NVML and
/// the simulated meter.
pub fn open_meter(cfg: &Config) -> Result<Arc<dyn Meter>, MeterError> {
    Ok(match cfg.meter.kind {
        MeterChoice::Nvml => Arc::new(NvmlMeter::open(cfg.meter.nvml_lib.as_deref().map(|p| p.as_os_str()))?),
        MeterChoice::Simulated => {
            let s = &cfg.meter.simulated;
            tracing::warn!("SIMULATED meter: no GPU is measured; every report carries evidence kind `none`");
            Arc::new(SimulatedMeter::new(s.gpus, s.util_pct, s.power_watts))
        }
    })
}

/// What the node keeps about a finished job (`<data_dir>/jobs/<id>/record.json`).
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    pub job_id: String,
    pub outcome: JobOutcome,
    pub gpus: Vec<GpuRecord>,
}

/// What the node keeps about a job a crash interrupted (`record.json`, `"status":
/// "interrupted"`), written by [`Node::recover_interrupted`].
#[derive(Debug, Clone, Serialize)]
pub struct InterruptedRecord {
    pub job_id: String,
    pub status: &'static str,
    pub reason: Option<String>,
    /// Processes of the job that outlived the node and were killed.
    pub killed: Vec<u32>,
    /// The reports built from the persisted samples (empty: nothing was metered).
    pub gpus: Vec<GpuRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GpuRecord {
    pub uuid: String,
    pub usage: GpuUsage,
    /// NVML accounting for the job's process, when accounting mode is on.
    pub accounting: Option<ProcessAccounting>,
    pub report_id: String,
}

pub struct Node {
    cfg: Config,
    signer: PrivateKeySigner,
    /// The provider's account: `report.provider`, the address jobs are assigned to. The
    /// signer's address unless a separate transaction key is configured.
    provider: Address,
    domain: MarketDomain,
    meter: Arc<dyn Meter>,
    gpus: Vec<GpuInfo>,
    free: Mutex<BTreeSet<u32>>,
    evidence: EvidenceSet,
    spool: Spool,
    wake: Arc<tokio::sync::Notify>,
}

/// GPUs taken from the node's free set; they go back when the lease is dropped, so a job that
/// fails or panics cannot leak them.
pub struct GpuLease {
    node: Arc<Node>,
    gpus: Vec<GpuInfo>,
}

impl GpuLease {
    pub fn gpus(&self) -> &[GpuInfo] {
        &self.gpus
    }
}

impl Drop for GpuLease {
    fn drop(&mut self) {
        self.node.release(&self.gpus);
    }
}

impl Node {
    /// A node whose report signer is also the provider's account.
    pub fn start(cfg: Config, signer: PrivateKeySigner) -> eyre::Result<Arc<Self>> {
        let provider = signer.address();
        Self::start_as(cfg, signer, provider)
    }

    /// A node for the provider account `provider`, signing reports with `signer` (the key
    /// the provider registered as its signing key).
    pub fn start_as(cfg: Config, signer: PrivateKeySigner, provider: Address) -> eyre::Result<Arc<Self>> {
        let meter = open_meter(&cfg)?;
        let gpus = meter.gpus()?;
        if gpus.is_empty() {
            return Err(eyre!("the meter reports no GPUs"));
        }
        for g in &gpus {
            match meter.accounting_enabled(g) {
                Ok(true) => {}
                Ok(false) if meter.kind() == crate::meter::MeterKind::Nvml => tracing::warn!(
                    gpu = g.index,
                    "NVML accounting mode is off: per-process GPU time will not be recorded (enable as root: nvidia-smi -am 1)"
                ),
                Ok(false) => {}
                Err(e) => tracing::warn!(gpu = g.index, error = %e, "cannot read accounting mode"),
            }
        }
        let evidence = EvidenceSet::start(&cfg.evidence, meter.clone(), provider, gpus.first())
            .wrap_err("starting evidence collection")?;
        let spool = Spool::open(&cfg.node.data_dir)?;
        let domain = MarketDomain::new(cfg.chain.chain_id, cfg.chain.market);
        tracing::info!(
            %provider,
            signer = %signer.address(),
            gpus = gpus.len(),
            evidence = ?evidence.kinds(),
            evidence_digest = %evidence.digest(),
            "node started"
        );
        let free = Mutex::new(gpus.iter().map(|g| g.index).collect());
        Ok(Arc::new(Self {
            cfg,
            signer,
            provider,
            domain,
            meter,
            gpus,
            free,
            evidence,
            spool,
            wake: Default::default(),
        }))
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The provider's account (see [`Node::start_as`]).
    pub fn provider(&self) -> Address {
        self.provider
    }

    /// How many GPUs the node has, free or not.
    pub fn gpu_count(&self) -> usize {
        self.gpus.len()
    }

    /// Take `n` free GPUs, or `None` if fewer are free now.
    pub fn lease(self: &Arc<Self>, n: u32) -> Option<GpuLease> {
        self.take_gpus(n).map(|gpus| GpuLease { node: self.clone(), gpus })
    }

    /// Whether the job was already taken by this node (it runs at most once, see `claim`).
    pub fn is_claimed(&self, job_id: U256) -> bool {
        jobs::job_dir(&self.cfg.node.data_dir, job_id).join("claim").exists()
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    pub fn evidence(&self) -> &EvidenceSet {
        &self.evidence
    }

    pub fn sender(&self) -> Sender {
        let r = &self.cfg.relayer;
        Sender::new(
            &r.url,
            self.spool.clone(),
            Duration::from_millis(r.backoff_initial_ms),
            Duration::from_millis(r.backoff_max_ms),
        )
    }

    fn take_gpus(&self, n: u32) -> Option<Vec<GpuInfo>> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        if (free.len() as u32) < n {
            return None;
        }
        let picked: Vec<u32> = free.iter().take(n as usize).copied().collect();
        picked.iter().for_each(|i| {
            free.remove(i);
        });
        Some(self.gpus.iter().filter(|g| picked.contains(&g.index)).cloned().collect())
    }

    fn release(&self, gpus: &[GpuInfo]) {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        gpus.iter().for_each(|g| {
            free.insert(g.index);
        });
    }

    /// Claim a job durably (`jobs/<id>/claim`, created exclusively): a job is run at most once
    /// per node, across restarts, so it can never produce two different reports.
    fn claim(&self, job_id: U256) -> eyre::Result<()> {
        let dir = jobs::job_dir(&self.cfg.node.data_dir, job_id);
        std::fs::create_dir_all(&dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
        let claim = dir.join("claim");
        std::fs::OpenOptions::new().write(true).create_new(true).open(&claim).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                eyre!("job {job_id} was already taken by this node ({} exists)", claim.display())
            } else {
                eyre!("claiming job {job_id}: {e}")
            }
        })?;
        std::fs::File::open(&dir).and_then(|d| d.sync_all()).wrap_err("syncing the job directory")?;
        Ok(())
    }

    /// Run one job to completion: claim, meter, sign one report per GPU, spool them durably,
    /// wake the sender. Returns the record; `Ok(None)` if not enough GPUs are free.
    pub async fn execute(self: &Arc<Self>, spec: &JobSpec) -> eyre::Result<Option<JobRecord>> {
        let Some(lease) = self.lease(spec.gpus) else { return Ok(None) };
        self.execute_leased(spec, &lease).await.map(Some)
    }

    /// Run one job on GPUs already leased (the chain watcher leases them before it accepts
    /// the job, so an accepted job always has its GPUs).
    pub async fn execute_leased(&self, spec: &JobSpec, lease: &GpuLease) -> eyre::Result<JobRecord> {
        if lease.gpus.len() != spec.gpus as usize {
            return Err(eyre!(
                "job {} asks for {} GPU(s), the lease holds {}",
                spec.job_id,
                spec.gpus,
                lease.gpus.len()
            ));
        }
        self.execute_on(spec, &lease.gpus).await
    }

    async fn execute_on(&self, spec: &JobSpec, gpus: &[GpuInfo]) -> eyre::Result<JobRecord> {
        self.claim(spec.job_id)?;
        let limit = Duration::from_secs(spec.time_limit_s.unwrap_or(self.cfg.jobs.default_time_limit_s));
        let interval = Duration::from_millis(self.cfg.meter.sample_interval_ms);
        let dir = jobs::job_dir(&self.cfg.node.data_dir, spec.job_id);
        // What crash recovery needs (src/recovery.rs): the start, the samples, the pid.
        let start = recovery::JobStart {
            job_id: spec.job_id.to_string(),
            started_ms: sampler::now_ms(),
            gpus: gpus.to_vec(),
        };
        recovery::write_atomic(&dir.join(recovery::START_FILE), &serde_json::to_vec(&start)?)?;
        let sampler = sampler::Sampler::start_persisted(
            self.meter.clone(),
            gpus.to_vec(),
            interval,
            Some(dir.join(recovery::SAMPLES_FILE)),
        );
        let uuids: Vec<String> = gpus.iter().map(|g| g.uuid.clone()).collect();
        let pid_file = dir.join(recovery::PID_FILE);
        let outcome = jobs::run_with(spec, &uuids, &self.cfg.node.data_dir, limit, sampler::now_ms, |pid| {
            // No fsync: the pid only matters while the machine is up.
            if let Err(e) = std::fs::write(&pid_file, pid.to_string()) {
                tracing::warn!(job = %spec.job_id, error = %e, "cannot record the job's pid");
            }
        })
        .await;
        let streams =
            tokio::task::spawn_blocking(move || sampler.finish()).await.wrap_err("sampler thread")?;
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                // The process never ran (or could not be waited for): nothing to report,
                // now or by crash recovery, which finds no start and says so.
                let _ = std::fs::remove_file(dir.join(recovery::START_FILE));
                return Err(e.into());
            }
        };
        let mut records = Vec::new();
        let last = gpus.len().saturating_sub(1);
        for (i, (gpu, samples)) in gpus.iter().zip(streams).enumerate() {
            // The last GPU's report is the job's final one: settling it refunds the rest.
            let (id, usage) = self.sign_and_spool(spec.job_id, gpu, &samples, i == last)?;
            let accounting = self.meter.accounting(gpu, outcome.pid).unwrap_or_else(|e| {
                tracing::warn!(gpu = gpu.index, error = %e, "accounting stats unavailable");
                None
            });
            tracing::info!(job = %spec.job_id, gpu = %gpu.uuid, report = %id, gpu_seconds = usage.gpu_seconds,
                energy_mj = usage.energy_milli_joules, avg_util_bps = usage.avg_util_bps, "report signed and spooled");
            records.push(GpuRecord { uuid: gpu.uuid.clone(), usage, accounting, report_id: id.to_string() });
        }
        self.wake.notify_one();
        let record = JobRecord { job_id: spec.job_id.to_string(), outcome, gpus: records };
        let path = jobs::job_dir(&self.cfg.node.data_dir, spec.job_id).join("record.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&record)?)
            .wrap_err_with(|| format!("writing {}", path.display()))?;
        Ok(record)
    }

    /// Recover the jobs a previous run of the node was running when it died (claimed, no
    /// `record.json`): kill a process of the job that outlived the node, build the job's
    /// final report(s) from the persisted samples (as a normal report, over
    /// `[first sample, last persisted sample]`), sign and spool them, and write a
    /// `record.json` with `"status": "interrupted"` so the job is never recovered twice. A job
    /// with fewer than two persisted sampler ticks (nothing metered) is marked interrupted
    /// with the reason and reports nothing. Idempotent: a crash during recovery rebuilds the
    /// same reports (same ids, spooled once); a GPU that already has a report for the job in
    /// the spool keeps it.
    pub fn recover_interrupted(&self) -> eyre::Result<Vec<InterruptedRecord>> {
        let jobs_dir = self.cfg.node.data_dir.join("jobs");
        let entries = match std::fs::read_dir(&jobs_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(eyre!("reading {}: {e}", jobs_dir.display())),
        };
        let mut ids: Vec<U256> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| U256::from_str_radix(n, 10).ok()))
            .collect();
        ids.sort();
        let mut out = Vec::new();
        for id in ids {
            let dir = jobs::job_dir(&self.cfg.node.data_dir, id);
            if !dir.join("claim").exists() || dir.join("record.json").exists() {
                continue;
            }
            match self.recover_job(id, &dir) {
                Ok(r) => out.push(r),
                Err(e) => {
                    tracing::error!(job = %id, error = format!("{e:#}"), "recovering the interrupted job failed; retried at the next start")
                }
            }
        }
        if !out.is_empty() {
            self.wake.notify_one();
        }
        Ok(out)
    }

    fn recover_job(&self, id: U256, dir: &Path) -> eyre::Result<InterruptedRecord> {
        let recorded_pid = std::fs::read_to_string(dir.join(recovery::PID_FILE))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        let killed = recovery::kill_job_processes(id, dir, recorded_pid);
        let mut record = InterruptedRecord {
            job_id: id.to_string(),
            status: "interrupted",
            reason: None,
            killed,
            gpus: Vec::new(),
        };
        match recovery::read_start(dir)? {
            None => {
                record.reason =
                    Some("interrupted before it started: nothing metered, nothing reported".into())
            }
            Some(start) => {
                let parsed = recovery::read_samples(dir, start.gpus.len())?;
                if parsed.ignored > 0 {
                    tracing::warn!(job = %id, ignored = parsed.ignored, "ignored torn or invalid lines in the sample file");
                }
                if parsed.ticks < 2 || start.gpus.is_empty() {
                    record.reason = Some(format!(
                        "interrupted before a metered interval was persisted ({} sample tick(s)): nothing reported",
                        parsed.ticks
                    ));
                } else {
                    record.reason =
                        Some(format!("interrupted: reported the {} persisted sample tick(s)", parsed.ticks));
                    // Reports the spool already holds for this job (a crash while spooling).
                    let existing: Vec<(alloy::primitives::B256, ReportId)> = self
                        .spool
                        .all()?
                        .into_iter()
                        .filter(|(_, r)| r.report.jobId == id)
                        .map(|(_, r)| (r.report.gpuUuidHash, r.id()))
                        .collect();
                    let last = start.gpus.len() - 1;
                    for (i, (gpu, samples)) in start.gpus.iter().zip(&parsed.streams).enumerate() {
                        let hash = market_protocol::report::gpu_uuid_hash(&gpu.uuid);
                        if let Some((_, rid)) = existing.iter().find(|(h, _)| *h == hash) {
                            record.gpus.push(GpuRecord {
                                uuid: gpu.uuid.clone(),
                                usage: crate::metering::summarise(samples),
                                accounting: None,
                                report_id: rid.to_string(),
                            });
                            continue;
                        }
                        // The node's own view of the GPU when it still has it (evidence).
                        let gpu = self.gpus.iter().find(|g| g.uuid == gpu.uuid).unwrap_or(gpu);
                        let (rid, usage) = self.sign_and_spool(id, gpu, samples, i == last)?;
                        tracing::warn!(job = %id, gpu = %gpu.uuid, report = %rid, gpu_seconds = usage.gpu_seconds,
                            energy_mj = usage.energy_milli_joules, avg_util_bps = usage.avg_util_bps,
                            final_report = i == last, "interrupted job recovered: report signed and spooled");
                        record.gpus.push(GpuRecord {
                            uuid: gpu.uuid.clone(),
                            usage,
                            accounting: None,
                            report_id: rid.to_string(),
                        });
                    }
                }
            }
        }
        tracing::warn!(job = %id, killed = ?record.killed, reports = record.gpus.len(), reason = record.reason.as_deref().unwrap_or(""), "interrupted job recovered");
        recovery::write_atomic(&dir.join("record.json"), &serde_json::to_vec_pretty(&record)?)?;
        Ok(record)
    }

    /// Build, sign (with evidence) and spool one GPU's report.
    fn sign_and_spool(
        &self,
        job_id: U256,
        gpu: &GpuInfo,
        samples: &[crate::metering::Sample],
        is_final: bool,
    ) -> eyre::Result<(ReportId, GpuUsage)> {
        let (report, usage) =
            reporting::build(job_id, self.provider, gpu, samples, self.evidence.digest(), is_final);
        let hash = report.signing_hash(&self.domain);
        let evidence =
            self.evidence.collect(hash, gpu).wrap_err_with(|| format!("evidence for job {job_id}"))?;
        let signature = report.sign(&self.domain, &self.signer)?;
        let signed = SignedReport { domain: self.domain, report, signature, evidence };
        Ok((self.spool.put(&signed)?, usage))
    }

    /// Run until Ctrl-C / SIGTERM: the sender, the inbox poller and, when given, the chain
    /// watcher. Jobs interrupted by a previous crash are recovered first
    /// ([`Node::recover_interrupted`]).
    pub async fn run(self: Arc<Self>, watcher: Option<crate::chain::Watcher>) -> eyre::Result<()> {
        let node = self.clone();
        let recovered = tokio::task::spawn_blocking(move || node.recover_interrupted())
            .await
            .wrap_err("recovery thread")??;
        if !recovered.is_empty() {
            tracing::warn!(jobs = recovered.len(), "recovered interrupted jobs");
        }
        let sender = tokio::spawn(self.sender().run(self.wake.clone()));
        let watcher = match watcher {
            Some(w) => Some(tokio::spawn(w.run())),
            None => {
                tracing::info!("chain watcher off (no chain.rpc_url): jobs come from the inbox only");
                None
            }
        };
        let inbox = self.cfg.node.data_dir.join("inbox");
        std::fs::create_dir_all(inbox.join("rejected"))
            .wrap_err_with(|| format!("creating {}", inbox.display()))?;
        tracing::info!(inbox = %inbox.display(), relayer = %self.cfg.relayer.url, "running; drop job specs (*.toml) into the inbox");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        loop {
            if let Err(e) = self.clone().poll_inbox(&inbox) {
                tracing::error!(error = %e, "inbox");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
            }
        }
        tracing::info!("stopping");
        sender.abort();
        if let Some(w) = watcher {
            w.abort();
        }
        Ok(())
    }

    fn poll_inbox(self: Arc<Self>, inbox: &Path) -> eyre::Result<()> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(inbox)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("toml"))
            .collect();
        files.sort();
        for file in files {
            let reject = |why: String| {
                tracing::error!(file = %file.display(), reason = %why, "job spec rejected");
                let name = file.file_name().map(|n| n.to_os_string()).unwrap_or_default();
                let _ = std::fs::write(inbox.join("rejected").join(&name).with_extension("reason"), &why);
                let _ = std::fs::rename(&file, inbox.join("rejected").join(name));
            };
            let spec: JobSpec = match std::fs::read_to_string(&file)
                .map_err(|e| e.to_string())
                .and_then(|t| toml::from_str(&t).map_err(|e| e.to_string()))
            {
                Ok(s) => s,
                Err(e) => {
                    reject(format!("not a valid job spec: {e}"));
                    continue;
                }
            };
            if spec.gpus == 0 || spec.gpus as usize > self.gpus.len() {
                reject(format!("asks for {} GPUs, this node has {}", spec.gpus, self.gpus.len()));
                continue;
            }
            let Some(lease) = self.lease(spec.gpus) else { continue };
            // Out of the inbox before it runs, so a restart never picks it up again.
            let dir = jobs::job_dir(&self.cfg.node.data_dir, spec.job_id);
            std::fs::create_dir_all(&dir)?;
            std::fs::rename(&file, dir.join("spec.toml"))?;
            let node = self.clone();
            tokio::spawn(async move {
                match node.execute_leased(&spec, &lease).await {
                    Ok(r) => tracing::info!(job = %r.job_id, exit = ?r.outcome.exit_code, "job finished"),
                    Err(e) => tracing::error!(job = %spec.job_id, error = format!("{e:#}"), "job failed"),
                }
                drop(lease);
            });
        }
        Ok(())
    }
}

/// Ids of reports for `job` in the spool (for `status` and tests).
pub fn reports_for_job(spool: &Spool, job: U256) -> eyre::Result<Vec<ReportId>> {
    Ok(spool.all()?.into_iter().filter(|(_, r)| r.report.jobId == job).map(|(_, r)| r.id()).collect())
}
