//! TEE evidence verification: one pure function per evidence kind, and the class policy that
//! says which kinds and which measurements a hardware class accepts.
//!
//! Every verifier takes the time as an argument (`now_secs`), so tests pin it and the
//! shipped sample collateral (long expired) still verifies.

pub mod collateral;
pub mod fetch;
pub mod nvidia;
pub mod policy;
pub mod snp;
pub mod tdx;

use std::fmt;

use alloy_primitives::{Address, B256};
use market_protocol::evidence::{nvidia_nonce_for, report_data_for};
use market_protocol::{evidence_digest, Evidence, EvidenceIdentity, EvidenceKind};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

pub use collateral::{CollateralSource, FetchingCollateral, OfflineCollateral};
pub use fetch::{CollateralError, DiskCache, KdsVceks, PccsCollateral};
pub use policy::ClassPolicy;

/// Evidence that passed verification and the class policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEvidence {
    /// One stable identity per evidence kind, in ascending kind order.
    pub identities: Vec<EvidenceIdentity>,
    /// `evidenceDigest` of those identities: must equal the report's `evidenceDigest`.
    pub digest: B256,
}

/// The one entry point: verifies every piece of evidence sent with a report whose EIP-712
/// signing hash is `signing_hash`, applies `policy`, and returns the verified identities and
/// their digest (the caller compares the digest with the report's `evidenceDigest`).
pub fn verify_evidence(
    policy: &ClassPolicy,
    collateral: &dyn CollateralSource,
    evidence: &[Evidence],
    provider: Address,
    signing_hash: B256,
    now_secs: u64,
) -> Result<VerifiedEvidence, EvidenceError> {
    if evidence.is_empty() {
        return Err(EvidenceError::Malformed("no evidence".into()));
    }
    let mut kinds: Vec<EvidenceKind> = evidence.iter().map(|e| e.kind).collect();
    kinds.sort();
    if let Some(w) = kinds.windows(2).find(|w| w[0] == w[1]) {
        return Err(EvidenceError::Malformed(format!("evidence kind {} appears twice", w[0])));
    }
    for kind in &kinds {
        if !policy.accepts(*kind) {
            return Err(EvidenceError::Policy(format!(
                "evidence kind {kind} is not accepted for this class"
            )));
        }
    }
    if let Some(missing) = policy.required.iter().find(|k| !kinds.contains(k)) {
        return Err(EvidenceError::Policy(format!("evidence kind {missing} is required for this class")));
    }
    let report_data = report_data_for(signing_hash);
    let mut identities = Vec::with_capacity(evidence.len());
    for ev in evidence {
        ev.check_shape().map_err(|e| EvidenceError::Malformed(e.to_string()))?;
        let id = match ev.kind {
            EvidenceKind::Tdx => {
                let p = policy.tdx.as_ref().ok_or_else(|| not_accepted(ev.kind))?;
                let candidates =
                    collateral.tdx_collateral(&ev.data, now_secs).map_err(collateral::collateral_failure)?;
                collateral::first_ok(candidates, "TDX collateral", |c| {
                    tdx::verify_tdx(p, &ev.data, c, &report_data, now_secs)
                })?
            }
            EvidenceKind::SevSnp => {
                let p = policy.sev_snp.as_ref().ok_or_else(|| not_accepted(ev.kind))?;
                let candidates =
                    collateral.snp_vceks(&ev.data, now_secs).map_err(collateral::collateral_failure)?;
                collateral::first_ok(candidates, "SNP VCEK", |vcek| {
                    snp::verify_snp(p, &ev.data, vcek, &report_data)
                })?
            }
            EvidenceKind::NvidiaCc => {
                let p = policy.nvidia_cc.as_ref().ok_or_else(|| not_accepted(ev.kind))?;
                let chain = ev.cert_chain.as_deref().unwrap_or_default();
                nvidia::verify_h100(&ev.data, chain, &p.root_pem, &nvidia_nonce_for(signing_hash), now_secs)?
            }
            EvidenceKind::None => EvidenceIdentity::None { provider },
        };
        identities.push(id);
    }
    identities.sort_by_key(|i| i.kind());
    let digest = evidence_digest(&identities).map_err(|e| EvidenceError::Malformed(e.to_string()))?;
    Ok(VerifiedEvidence { identities, digest })
}

fn not_accepted(kind: EvidenceKind) -> EvidenceError {
    EvidenceError::Policy(format!("evidence kind {kind} is not accepted for this class"))
}

/// Why evidence was not accepted. The variants map to stable API error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// Not parseable as the claimed kind of evidence.
    #[error("malformed evidence: {0}")]
    Malformed(String),
    /// Parsed, but a signature or certificate chain does not verify.
    #[error("invalid evidence: {0}")]
    Invalid(String),
    /// Signed correctly, but its collateral/certificates are not valid at the given time.
    #[error("stale evidence: {0}")]
    Stale(String),
    /// Signed correctly, but bound to another report (report_data / nonce mismatch).
    #[error("foreign evidence: {0}")]
    Foreign(String),
    /// Genuine and bound to this report, but the class policy does not accept it.
    #[error("evidence rejected by policy: {0}")]
    Policy(String),
    /// Not judged: the collateral it needs could not be obtained (PCCS / KDS unreachable and
    /// nothing cached). Transient: the report stays `received` and is verified again later.
    #[error("collateral unavailable: {0}")]
    Unavailable(String),
}

impl EvidenceError {
    /// Stable snake_case code for API responses and the queue's rejection reason.
    pub fn code(&self) -> &'static str {
        match self {
            EvidenceError::Malformed(_) => "evidence_malformed",
            EvidenceError::Invalid(_) => "evidence_invalid",
            EvidenceError::Stale(_) => "evidence_stale",
            EvidenceError::Foreign(_) => "evidence_foreign",
            EvidenceError::Policy(_) => "evidence_policy",
            EvidenceError::Unavailable(_) => "collateral_unavailable",
        }
    }
}

/// A 48-byte measurement (MRTD, RTMR, SNP MEASUREMENT) written as hex in policy files.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Hex48(pub [u8; 48]);

impl fmt::Debug for Hex48 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", hex::encode(self.0))
    }
}

impl std::str::FromStr for Hex48 {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.strip_prefix("0x").unwrap_or(s);
        let bytes = hex::decode(s).map_err(|e| format!("not hex: {e}"))?;
        let arr: [u8; 48] =
            bytes.try_into().map_err(|b: Vec<u8>| format!("expected 48 bytes, got {}", b.len()))?;
        Ok(Hex48(arr))
    }
}

impl<'de> Deserialize<'de> for Hex48 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(D::Error::custom)
    }
}
