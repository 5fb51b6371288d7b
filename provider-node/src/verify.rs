//! Check a signed report the way the market and a relayer will, before it leaves the node
//! (and from the CLI: `provider-node verify-report FILE`): signature shape and signer, the
//! objective usage bound the market slashes for, the evidence digest, and that TDX/SNP
//! report_data commits to the signing hash. Cryptographic verification of the evidence
//! itself (quote signatures, certificate chains) is the relayer's.

use alloy::primitives::Address;
use market_protocol::evidence::{self, EvidenceIdentity, EvidenceKind};
use market_protocol::wire::SignedReport;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("signature: {0}")]
    Signature(String),
    #[error("signed by {recovered}, but the provider's signing key is {provider}")]
    NotByProvider { recovered: Address, provider: Address },
    #[error("report shape: {0}")]
    Shape(String),
    #[error("gpuSeconds {gpu_seconds} exceeds the window endTs-startTs = {window} for one GPU (the market slashes this)")]
    ImpossibleUsage { gpu_seconds: u64, window: u64 },
    #[error("evidence: {0}")]
    Evidence(String),
    #[error("evidenceDigest {in_report} does not match the evidence ({computed})")]
    DigestMismatch { in_report: String, computed: String },
    #[error("{0} report_data does not commit to the report's signing hash")]
    NotBound(EvidenceKind),
}

/// Everything checked, for a provider whose account signs its own reports; returns the
/// signer.
pub fn verify(s: &SignedReport) -> Result<Address, VerifyError> {
    verify_signed_by(s, s.report.provider)
}

/// Everything checked, with the signature by `signing_key`: the key the provider registered
/// for its reports, which may differ from its account (`report.provider`).
pub fn verify_signed_by(s: &SignedReport, signing_key: Address) -> Result<Address, VerifyError> {
    let r = &s.report;
    r.check_shape().map_err(|e| VerifyError::Shape(e.to_string()))?;
    let recovered = s.signer().map_err(|e| VerifyError::Signature(e.to_string()))?;
    if recovered != signing_key {
        return Err(VerifyError::NotByProvider { recovered, provider: signing_key });
    }
    let window = r.endTs - r.startTs;
    if r.gpuSeconds > window {
        return Err(VerifyError::ImpossibleUsage { gpu_seconds: r.gpuSeconds, window });
    }
    let hash = r.signing_hash(&s.domain);
    let mut ids = Vec::new();
    for e in &s.evidence {
        e.check_shape().map_err(|e| VerifyError::Evidence(e.to_string()))?;
        let bound = match e.kind {
            EvidenceKind::Tdx => {
                evidence::tdx_report_data(&e.data).map(|d| d == evidence::report_data_for(hash))
            }
            EvidenceKind::SevSnp => {
                evidence::snp_report_data(&e.data).map(|d| d == evidence::report_data_for(hash))
            }
            // The SPDM nonce is inside the signed request; the relayer's verifier checks it.
            EvidenceKind::NvidiaCc | EvidenceKind::None => Ok(true),
        }
        .map_err(|e| VerifyError::Evidence(e.to_string()))?;
        if !bound {
            return Err(VerifyError::NotBound(e.kind));
        }
        ids.push(
            EvidenceIdentity::from_evidence(e, r.provider)
                .map_err(|e| VerifyError::Evidence(e.to_string()))?,
        );
    }
    let computed = evidence::evidence_digest(&ids).map_err(|e| VerifyError::Evidence(e.to_string()))?;
    if computed != r.evidenceDigest {
        return Err(VerifyError::DigestMismatch {
            in_report: r.evidenceDigest.to_string(),
            computed: computed.to_string(),
        });
    }
    Ok(recovered)
}
