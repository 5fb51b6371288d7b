//! The meter: what the node knows about its GPUs. One trait, two implementations: NVML (real
//! GPUs, through `nvml-wrapper`) and the explicit simulated meter for machines without a GPU,
//! whose reports always carry evidence kind `none` (production policy rejects them).

pub mod nvml;
pub mod sampler;
pub mod sim;

use crate::metering::GpuReading;

/// A GPU as the meter sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GpuInfo {
    /// NVML index (not necessarily the CUDA index; jobs get UUIDs in CUDA_VISIBLE_DEVICES).
    pub index: u32,
    /// The UUID string exactly as NVML prints it; `gpuUuidHash = keccak256(uuid)`.
    pub uuid: String,
    pub name: String,
}

/// Per-process accounting (NVML accounting mode) for one process on one GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcessAccounting {
    /// Milliseconds the process's compute context was active (0 until the process exits).
    pub gpu_time_ms: u64,
    /// Percent of the process's lifetime a kernel was executing, if the GPU reports it.
    pub gpu_util_pct: Option<u32>,
}

/// Which meter is running; it decides the evidence a report can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MeterKind {
    Nvml,
    Simulated,
}

#[derive(Debug, thiserror::Error)]
pub enum MeterError {
    #[error(
        "NVML is not available ({0}): no NVIDIA driver/GPU here. To run without a GPU, start with the simulated meter: set `kind = \"simulated\"` under [meter] in provider.toml or PROVIDER_NODE_METER_KIND=simulated (its reports carry evidence kind `none`)"
    )]
    NvmlUnavailable(String),
    #[error("NVML: {0}")]
    Nvml(String),
    #[error("{0}")]
    NotSupported(String),
    #[error("no GPU with index {0}")]
    NoSuchGpu(u32),
}

/// What the node needs from a meter. Blocking calls: the sampler runs on its own thread.
pub trait Meter: Send + Sync {
    fn kind(&self) -> MeterKind;
    /// Every GPU this node can hand to jobs.
    fn gpus(&self) -> Result<Vec<GpuInfo>, MeterError>;
    /// Current utilisation and energy counter of one GPU.
    fn read(&self, gpu: &GpuInfo) -> Result<GpuReading, MeterError>;
    /// Whether per-process accounting is on for this GPU (needs root to switch on).
    fn accounting_enabled(&self, gpu: &GpuInfo) -> Result<bool, MeterError>;
    /// Accounting record of `pid` on `gpu`, if the GPU kept one.
    fn accounting(&self, gpu: &GpuInfo, pid: u32) -> Result<Option<ProcessAccounting>, MeterError>;
    /// The GPU's confidential-computing attestation report for `nonce` and its certificate
    /// chain (raw, as the driver returns it).
    fn cc_attestation(&self, gpu: &GpuInfo, nonce: [u8; 32]) -> Result<CcAttestation, MeterError>;
}

/// NVIDIA CC attestation material from the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CcAttestation {
    /// SPDM GET_MEASUREMENTS request + signed response.
    pub report: Vec<u8>,
    /// The attestation certificate chain (leaf device certificate first), PEM or DER.
    pub cert_chain: Vec<u8>,
}
