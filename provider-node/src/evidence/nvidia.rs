//! NVIDIA GPU confidential-computing evidence through NVML: the GPU's attestation report
//! (SPDM GET_MEASUREMENTS, signed by the device key) for the report's signing hash as nonce,
//! and its certificate chain (leaf device certificate first) as DER.

use super::{CollectError, Collector};
use crate::meter::{GpuInfo, Meter, MeterError};
use alloy::primitives::B256;
use market_protocol::evidence::{self, Evidence, EvidenceKind};
use std::sync::Arc;

pub struct NvidiaCc {
    meter: Arc<dyn Meter>,
}

impl NvidiaCc {
    pub fn new(meter: Arc<dyn Meter>) -> Self {
        Self { meter }
    }
}

/// The chain as DER certificates: NVML returns PEM text on current drivers; raw DER (one
/// certificate) is accepted as is.
pub fn chain_to_der(raw: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let trimmed: &[u8] = {
        let end = raw.iter().rposition(|b| *b != 0).map(|i| i + 1).unwrap_or(0);
        &raw[..end]
    };
    if trimmed.is_empty() {
        return Err("the driver returned an empty certificate chain".into());
    }
    match std::str::from_utf8(trimmed) {
        Ok(text) if text.contains("-----BEGIN CERTIFICATE-----") => {
            evidence::pem_chain_to_der(text).map_err(|e| e.to_string())
        }
        _ => Ok(vec![trimmed.to_vec()]),
    }
}

impl Collector for NvidiaCc {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::NvidiaCc
    }

    fn collect(&self, signing_hash: B256, gpu: &GpuInfo) -> Result<Evidence, CollectError> {
        let kind = EvidenceKind::NvidiaCc;
        let att =
            self.meter.cc_attestation(gpu, evidence::nvidia_nonce_for(signing_hash)).map_err(
                |e| match e {
                    MeterError::NotSupported(p) => CollectError::Unavailable { kind, problem: p },
                    other => CollectError::Unavailable { kind, problem: other.to_string() },
                },
            )?;
        if att.report.is_empty() {
            return Err(CollectError::Unavailable {
                kind,
                problem: format!("GPU {} returned an empty attestation report", gpu.index),
            });
        }
        let chain = chain_to_der(&att.cert_chain).map_err(|problem| CollectError::Bad { kind, problem })?;
        Ok(Evidence { kind, data: att.report, cert_chain: Some(chain) })
    }
}
