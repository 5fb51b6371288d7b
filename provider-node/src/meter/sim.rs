//! The simulated meter: for machines without a GPU (development, CI, demos). It says so: its
//! GPUs are named `SIMULATED`, and the node attaches evidence kind `none` to every report it
//! meters, which production relayer policy rejects.

use super::{CcAttestation, GpuInfo, Meter, MeterError, MeterKind, ProcessAccounting};
use crate::metering::GpuReading;
use std::time::Instant;

pub struct SimulatedMeter {
    gpus: u32,
    util_pct: u32,
    power_watts: u64,
    started: Instant,
}

impl SimulatedMeter {
    pub fn new(gpus: u32, util_pct: u32, power_watts: u64) -> Self {
        Self { gpus, util_pct: util_pct.min(100), power_watts, started: Instant::now() }
    }

    /// The UUID of simulated GPU `i` (stable, so it can be registered).
    pub fn uuid(i: u32) -> String {
        format!("GPU-SIMULATED-{i:04}")
    }
}

impl Meter for SimulatedMeter {
    fn kind(&self) -> MeterKind {
        MeterKind::Simulated
    }

    fn gpus(&self) -> Result<Vec<GpuInfo>, MeterError> {
        Ok((0..self.gpus)
            .map(|i| GpuInfo { index: i, uuid: Self::uuid(i), name: "SIMULATED GPU".into() })
            .collect())
    }

    fn read(&self, gpu: &GpuInfo) -> Result<GpuReading, MeterError> {
        if gpu.index >= self.gpus {
            return Err(MeterError::NoSuchGpu(gpu.index));
        }
        // W × ms = mJ
        let ms = self.started.elapsed().as_millis() as u64;
        Ok(GpuReading { util_pct: self.util_pct, energy_mj: self.power_watts.saturating_mul(ms) })
    }

    fn accounting_enabled(&self, _gpu: &GpuInfo) -> Result<bool, MeterError> {
        Ok(false)
    }

    fn accounting(&self, _gpu: &GpuInfo, _pid: u32) -> Result<Option<ProcessAccounting>, MeterError> {
        Ok(None)
    }

    fn cc_attestation(&self, _gpu: &GpuInfo, _nonce: [u8; 32]) -> Result<CcAttestation, MeterError> {
        Err(MeterError::NotSupported(
            "the simulated meter has no GPU attestation (evidence kind `none`)".into(),
        ))
    }
}
