//! The NVML meter, through `nvml-wrapper`.

use super::{CcAttestation, GpuInfo, Meter, MeterError, MeterKind, ProcessAccounting};
use crate::metering::GpuReading;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::Nvml;
use std::ffi::OsStr;

pub struct NvmlMeter {
    nvml: Nvml,
}

fn err(e: NvmlError) -> MeterError {
    MeterError::Nvml(e.to_string())
}

impl NvmlMeter {
    /// Load NVML (the system's `libnvidia-ml.so.1`, or `lib_path`) and initialise it.
    pub fn open(lib_path: Option<&OsStr>) -> Result<Self, MeterError> {
        let default = OsStr::new("libnvidia-ml.so.1");
        let nvml = Nvml::builder().lib_path(lib_path.unwrap_or(default)).init().map_err(|e| match e {
            NvmlError::LibloadingError(inner) => MeterError::NvmlUnavailable(inner.to_string()),
            NvmlError::DriverNotLoaded => {
                MeterError::NvmlUnavailable("the NVIDIA driver is not loaded".into())
            }
            other => MeterError::Nvml(format!("initialising NVML: {other}")),
        })?;
        Ok(Self { nvml })
    }

    fn device(&self, gpu: &GpuInfo) -> Result<nvml_wrapper::Device<'_>, MeterError> {
        self.nvml.device_by_index(gpu.index).map_err(|e| match e {
            NvmlError::InvalidArg => MeterError::NoSuchGpu(gpu.index),
            other => err(other),
        })
    }

    /// The driver version string (for `status`).
    pub fn driver_version(&self) -> Result<String, MeterError> {
        self.nvml.sys_driver_version().map_err(err)
    }
}

impl Meter for NvmlMeter {
    fn kind(&self) -> MeterKind {
        MeterKind::Nvml
    }

    fn gpus(&self) -> Result<Vec<GpuInfo>, MeterError> {
        let n = self.nvml.device_count().map_err(err)?;
        (0..n)
            .map(|index| {
                let d = self.nvml.device_by_index(index).map_err(err)?;
                Ok(GpuInfo { index, uuid: d.uuid().map_err(err)?, name: d.name().map_err(err)? })
            })
            .collect()
    }

    fn read(&self, gpu: &GpuInfo) -> Result<GpuReading, MeterError> {
        let d = self.device(gpu)?;
        let util = d.utilization_rates().map_err(err)?;
        let energy = d.total_energy_consumption().map_err(err)?;
        Ok(GpuReading { util_pct: util.gpu, energy_mj: energy })
    }

    fn accounting_enabled(&self, gpu: &GpuInfo) -> Result<bool, MeterError> {
        self.device(gpu)?.is_accounting_enabled().map_err(err)
    }

    fn accounting(&self, gpu: &GpuInfo, pid: u32) -> Result<Option<ProcessAccounting>, MeterError> {
        let d = self.device(gpu)?;
        if !d.accounting_pids().map_err(err)?.contains(&pid) {
            return Ok(None);
        }
        match d.accounting_stats_for(pid) {
            Ok(s) => Ok(Some(ProcessAccounting { gpu_time_ms: s.time, gpu_util_pct: s.gpu_utilization })),
            Err(NvmlError::NotFound) => Ok(None),
            Err(e) => Err(err(e)),
        }
    }

    fn cc_attestation(&self, gpu: &GpuInfo, nonce: [u8; 32]) -> Result<CcAttestation, MeterError> {
        let d = self.device(gpu)?;
        let unsupported = |what: &str, e: NvmlError| match e {
            NvmlError::NotSupported | NvmlError::FailedToLoadSymbol(_) => MeterError::NotSupported(format!(
                "GPU {} ({}) has no confidential-computing {what} (NVML: {e}); is CC mode on?",
                gpu.index, gpu.name
            )),
            other => err(other),
        };
        let report = d
            .confidential_compute_gpu_attestation_report(nonce)
            .map_err(|e| unsupported("attestation report", e))?;
        let cert = d.confidential_compute_gpu_certificate().map_err(|e| unsupported("certificate", e))?;
        Ok(CcAttestation { report: report.attestation_report, cert_chain: cert.attestation_cert_chain })
    }
}
