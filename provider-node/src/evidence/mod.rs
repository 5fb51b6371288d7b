//! Evidence collectors: per-report TEE / GPU evidence whose report_data or nonce is the
//! report's EIP-712 signing hash, and the node's stable identity (`evidenceDigest`).
//!
//! The simulated meter has no collectors: its reports carry one `none` item and the
//! `evidenceDigest` of the provider address. The NVML meter needs at least one collector.

pub mod configfs_tsm;
pub mod nvidia;

use crate::config::{CollectorChoice, Collectors, EvidenceConfig};
use crate::meter::{GpuInfo, Meter, MeterKind};
use alloy::primitives::{Address, B256};
use market_protocol::evidence::{self, Evidence, EvidenceIdentity, EvidenceKind};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("{kind} evidence: {problem}")]
    Unavailable { kind: EvidenceKind, problem: String },
    #[error("{kind} evidence: {problem}")]
    Bad { kind: EvidenceKind, problem: String },
    #[error("{kind} evidence: the hardware identity changed since start-up (was {expected}, now {got}); restart the node and re-register the evidence digest")]
    IdentityChanged { kind: EvidenceKind, expected: B256, got: B256 },
    #[error(
        "no evidence collector is available for the NVML meter (tried: {0}); set [evidence] collectors explicitly, or run on a TDX/SEV-SNP guest or an NVIDIA GPU in CC mode"
    )]
    NoneAvailable(String),
}

/// Produces one kind of evidence for a report.
pub trait Collector: Send + Sync {
    fn kind(&self) -> EvidenceKind;
    /// Evidence whose report_data / nonce commits to `signing_hash`, for the report of `gpu`.
    fn collect(&self, signing_hash: B256, gpu: &GpuInfo) -> Result<Evidence, CollectError>;
}

/// The node's evidence set: the collectors and the identities they had at start-up.
pub struct EvidenceSet {
    collectors: Vec<Box<dyn Collector>>,
    provider: Address,
    /// Identity per collector, taken at start-up for `probe_gpu`.
    identities: Vec<EvidenceIdentity>,
}

impl EvidenceSet {
    /// Choose collectors by config or detection and take the start-up identity.
    pub fn start(
        cfg: &EvidenceConfig,
        meter: Arc<dyn Meter>,
        provider: Address,
        probe_gpu: Option<&GpuInfo>,
    ) -> Result<Self, CollectError> {
        if meter.kind() == MeterKind::Simulated {
            return Ok(Self { collectors: Vec::new(), provider, identities: Vec::new() });
        }
        let tsm = configfs_tsm::ConfigfsTsm::new(cfg.configfs_tsm_dir.clone());
        let mut collectors: Vec<Box<dyn Collector>> = Vec::new();
        match &cfg.collectors {
            Collectors::List(list) => {
                for c in list {
                    match c {
                        CollectorChoice::Tdx => collectors.push(Box::new(tsm.expecting(EvidenceKind::Tdx))),
                        CollectorChoice::SevSnp => {
                            collectors.push(Box::new(tsm.expecting(EvidenceKind::SevSnp)))
                        }
                        CollectorChoice::NvidiaCc => {
                            collectors.push(Box::new(nvidia::NvidiaCc::new(meter.clone())))
                        }
                    }
                }
            }
            Collectors::Auto => {
                let mut tried = Vec::new();
                match tsm.detect() {
                    Ok(kind) => collectors.push(Box::new(tsm.expecting(kind))),
                    Err(e) => tried.push(e.to_string()),
                }
                let nv = nvidia::NvidiaCc::new(meter.clone());
                match probe_gpu.map(|g| nv.collect(B256::ZERO, g)) {
                    Some(Ok(_)) => collectors.push(Box::new(nv)),
                    Some(Err(e)) => tried.push(e.to_string()),
                    None => tried.push("nvidia-cc: no GPU to probe".into()),
                }
                if collectors.is_empty() {
                    return Err(CollectError::NoneAvailable(tried.join("; ")));
                }
            }
        }
        if collectors.is_empty() {
            return Err(CollectError::NoneAvailable("an empty [evidence] collectors list".into()));
        }
        let mut identities = Vec::new();
        let probe =
            probe_gpu.cloned().unwrap_or(GpuInfo { index: 0, uuid: String::new(), name: String::new() });
        for c in &collectors {
            let ev = c.collect(B256::ZERO, &probe)?;
            identities.push(identity_of(&ev, provider)?);
        }
        Ok(Self { collectors, provider, identities })
    }

    /// The evidence kinds this node sends.
    pub fn kinds(&self) -> Vec<EvidenceKind> {
        if self.collectors.is_empty() {
            vec![EvidenceKind::None]
        } else {
            self.collectors.iter().map(|c| c.kind()).collect()
        }
    }

    /// The `evidenceDigest` this node puts in its reports and registers in the registry.
    pub fn digest(&self) -> B256 {
        if self.collectors.is_empty() {
            evidence::evidence_digest(&[EvidenceIdentity::None { provider: self.provider }])
                .expect("one identity is a valid digest input")
        } else {
            evidence::evidence_digest(&self.identities).expect("distinct kinds, checked at start-up")
        }
    }

    /// Collect every kind for one report and check each still shows the start-up identity.
    pub fn collect(&self, signing_hash: B256, gpu: &GpuInfo) -> Result<Vec<Evidence>, CollectError> {
        if self.collectors.is_empty() {
            return Ok(vec![Evidence::none()]);
        }
        let mut out = Vec::new();
        for (c, expected) in self.collectors.iter().zip(&self.identities) {
            let ev = c.collect(signing_hash, gpu)?;
            let id = identity_of(&ev, self.provider)?;
            // Per-GPU identities (NVIDIA) legitimately differ between GPUs; the digest is
            // registered per provider for its probe GPU, so only check host-level kinds here.
            if c.kind() != EvidenceKind::NvidiaCc && id != *expected {
                return Err(CollectError::IdentityChanged {
                    kind: c.kind(),
                    expected: expected.identity_hash(),
                    got: id.identity_hash(),
                });
            }
            out.push(ev);
        }
        Ok(out)
    }
}

fn identity_of(ev: &Evidence, provider: Address) -> Result<EvidenceIdentity, CollectError> {
    EvidenceIdentity::from_evidence(ev, provider)
        .map_err(|e| CollectError::Bad { kind: ev.kind, problem: e.to_string() })
}
