//! The JSON a node POSTs to a relayer (`POST {relayer}/v1/reports`), version 1:
//!
//! ```json
//! {
//!   "version": 1,
//!   "domain": { "chainId": "412346", "market": "0x5FbD...0aa3" },
//!   "report": { "jobId": "1", "provider": "0x..", "gpuUuidHash": "0x..", "startTs": "1764000000",
//!               "endTs": "1764000600", "gpuSeconds": "600", "energyMilliJoules": "420000000",
//!               "avgUtilBps": "9312", "evidenceDigest": "0x..", "nonce": "7" },
//!   "signature": "0x<65 bytes r||s||v>",
//!   "evidence": [ { "kind": "tdx", "data": "<base64>" },
//!                 { "kind": "nvidia-cc", "data": "<base64>", "certChain": ["<base64 DER>", ...] } ]
//! }
//! ```
//!
//! Decisions:
//! - integers are written as decimal strings (uint256 and uint64 exceed JavaScript's safe
//!   integers); on input a decimal string or a plain JSON integer is accepted, nothing else
//!   (no hex, no sign, no fractions);
//! - `domain` is part of the envelope because the report id and the signature depend on it:
//!   a relayer refuses a report signed for another chain or market before anything else;
//! - evidence `data` and `certChain` entries are standard base64 with padding (quotes are a few
//!   KiB; hex would double them);
//! - parsing is strict: unknown fields are errors, the version is checked first with its own
//!   error, and sizes are bounded ([`MAX_BODY_BYTES`], [`MAX_EVIDENCE`], [`MAX_EVIDENCE_BYTES`],
//!   [`MAX_CERTS`]);
//! - the report id is the EIP-712 signing hash, so one report has exactly one id whoever
//!   computes it, and a resend is recognisably the same report.

use crate::evidence::{Evidence, EvidenceError, EvidenceKind};
use crate::report::{MarketDomain, ReportError, ReportSignature, UsageReport};
use alloy::primitives::{Address, B256, U256};
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The only version this crate reads and writes.
pub const WIRE_VERSION: u64 = 1;
/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most evidence items per report (one per kind is the norm).
pub const MAX_EVIDENCE: usize = 8;
/// Largest decoded evidence `data`.
pub const MAX_EVIDENCE_BYTES: usize = 256 * 1024;
/// Most certificates in a chain.
pub const MAX_CERTS: usize = 16;

/// A report's stable id: its EIP-712 signing hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReportId(pub B256);

impl std::fmt::Display for ReportId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for ReportId {
    type Err = WireError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<B256>()
            .map(ReportId)
            .map_err(|_| WireError::Field { field: "id", problem: "not a 0x-hex 32-byte word".into() })
    }
}

/// Why a body was refused.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("body is {0} bytes, the limit is {MAX_BODY_BYTES}")]
    TooLarge(usize),
    #[error("unsupported wire version {0}; this build reads version {WIRE_VERSION}")]
    UnsupportedVersion(u64),
    #[error("missing or non-integer `version` field")]
    MissingVersion,
    #[error("malformed report JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("field `{field}`: {problem}")]
    Field { field: &'static str, problem: String },
    #[error("signature: {0}")]
    Signature(#[from] ReportError),
    #[error("evidence {index}: {source}")]
    Evidence { index: usize, source: EvidenceError },
    #[error("{0} evidence items, the limit is {MAX_EVIDENCE}")]
    TooMuchEvidence(usize),
    #[error("no evidence: even the simulated meter sends one `none` item")]
    NoEvidence,
}

/// A signed report with its evidence, as sent from node to relayer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReport {
    pub domain: MarketDomain,
    pub report: UsageReport,
    pub signature: ReportSignature,
    pub evidence: Vec<Evidence>,
}

impl SignedReport {
    /// The report id (= EIP-712 signing hash).
    pub fn id(&self) -> ReportId {
        ReportId(self.report.signing_hash(&self.domain))
    }

    /// The address that signed it (the relayer compares this with the registered key).
    pub fn signer(&self) -> Result<Address, ReportError> {
        self.report.recover_signer(&self.domain, &self.signature)
    }

    /// The evidence kinds present, as a registry mask.
    pub fn evidence_mask(&self) -> u8 {
        EvidenceKind::mask(self.evidence.iter().map(|e| e.kind))
    }

    /// Serialise to the version-1 JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let r = &self.report;
        let doc = WireDoc {
            version: WIRE_VERSION,
            domain: WireDomain {
                chain_id: Num(self.domain.chain_id.to_string()),
                market: self.domain.market,
            },
            report: WireReport {
                job_id: Num(r.jobId.to_string()),
                provider: r.provider,
                gpu_uuid_hash: r.gpuUuidHash,
                start_ts: Num(r.startTs.to_string()),
                end_ts: Num(r.endTs.to_string()),
                gpu_seconds: Num(r.gpuSeconds.to_string()),
                energy_milli_joules: Num(r.energyMilliJoules.to_string()),
                avg_util_bps: Num(r.avgUtilBps.to_string()),
                evidence_digest: r.evidenceDigest,
                nonce: Num(r.nonce.to_string()),
            },
            signature: self.signature.to_hex(),
            evidence: self
                .evidence
                .iter()
                .map(|e| WireEvidence {
                    kind: e.kind.as_str().to_string(),
                    data: b64(&e.data),
                    cert_chain: e.cert_chain.as_ref().map(|c| c.iter().map(|d| b64(d)).collect()),
                })
                .collect(),
        };
        // Serialising owned strings and fixed-size values cannot fail.
        serde_json::to_vec(&doc).expect("wire document serialises")
    }

    /// Parse and validate a version-1 body (size, version, fields, signature shape, evidence
    /// shape). It does not check who signed or verify evidence cryptographically.
    pub fn from_json(body: &[u8]) -> Result<Self, WireError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(WireError::TooLarge(body.len()));
        }
        #[derive(Deserialize)]
        struct Probe {
            version: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(body)?;
        match probe.version.as_ref().and_then(|v| v.as_u64()) {
            Some(WIRE_VERSION) => {}
            Some(v) => return Err(WireError::UnsupportedVersion(v)),
            None => return Err(WireError::MissingVersion),
        }
        let doc: WireDoc = serde_json::from_slice(body)?;
        let r = &doc.report;
        let report = UsageReport {
            jobId: r.job_id.u256("report.jobId")?,
            provider: r.provider,
            gpuUuidHash: r.gpu_uuid_hash,
            startTs: r.start_ts.u64("report.startTs")?,
            endTs: r.end_ts.u64("report.endTs")?,
            gpuSeconds: r.gpu_seconds.u64("report.gpuSeconds")?,
            energyMilliJoules: r.energy_milli_joules.u64("report.energyMilliJoules")?,
            avgUtilBps: u16::try_from(r.avg_util_bps.u64("report.avgUtilBps")?).map_err(|_| {
                WireError::Field { field: "report.avgUtilBps", problem: "does not fit uint16".into() }
            })?,
            evidenceDigest: r.evidence_digest,
            nonce: r.nonce.u256("report.nonce")?,
        };
        let sig_bytes = alloy::primitives::hex::decode(&doc.signature)
            .map_err(|e| WireError::Field { field: "signature", problem: format!("not hex: {e}") })?;
        let signature = ReportSignature::from_slice(&sig_bytes)?;
        if doc.evidence.len() > MAX_EVIDENCE {
            return Err(WireError::TooMuchEvidence(doc.evidence.len()));
        }
        if doc.evidence.is_empty() {
            return Err(WireError::NoEvidence);
        }
        let mut evidence = Vec::with_capacity(doc.evidence.len());
        for (index, e) in doc.evidence.iter().enumerate() {
            let err = |source| WireError::Evidence { index, source };
            let kind: EvidenceKind = e.kind.parse().map_err(err)?;
            let data = decode_b64(&e.data, "evidence.data", MAX_EVIDENCE_BYTES)?;
            let cert_chain = match &e.cert_chain {
                None => None,
                Some(c) if c.len() > MAX_CERTS => {
                    return Err(WireError::Field {
                        field: "evidence.certChain",
                        problem: format!("{} certificates, the limit is {MAX_CERTS}", c.len()),
                    })
                }
                Some(c) => Some(
                    c.iter()
                        .map(|d| decode_b64(d, "evidence.certChain", MAX_EVIDENCE_BYTES))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
            };
            let ev = Evidence { kind, data, cert_chain };
            ev.check_shape().map_err(err)?;
            evidence.push(ev);
        }
        let domain = MarketDomain::new(doc.domain.chain_id.u64("domain.chainId")?, doc.domain.market);
        Ok(Self { domain, report, signature, evidence })
    }
}

fn decode_b64(s: &str, field: &'static str, limit: usize) -> Result<Vec<u8>, WireError> {
    // Reject before decoding: 4 base64 chars carry 3 bytes.
    if s.len() / 4 * 3 > limit + 3 {
        return Err(WireError::Field { field, problem: format!("larger than {limit} bytes") });
    }
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| WireError::Field { field, problem: format!("not standard base64: {e}") })
}

/// A decimal integer written as a string (always, on output) or a JSON integer (accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Num(String);

impl Serialize for Num {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(Num(s)),
            serde_json::Value::Number(n) if n.is_u64() => Ok(Num(n.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected a decimal integer string or a non-negative JSON integer, got {other}"
            ))),
        }
    }
}

impl Num {
    fn digits(&self, field: &'static str) -> Result<&str, WireError> {
        if self.0.is_empty() || !self.0.bytes().all(|b| b.is_ascii_digit()) {
            return Err(WireError::Field {
                field,
                problem: format!("{:?} is not a decimal integer", self.0),
            });
        }
        Ok(&self.0)
    }

    fn u64(&self, field: &'static str) -> Result<u64, WireError> {
        self.digits(field)?
            .parse()
            .map_err(|_| WireError::Field { field, problem: format!("{} does not fit uint64", self.0) })
    }

    fn u256(&self, field: &'static str) -> Result<U256, WireError> {
        U256::from_str_radix(self.digits(field)?, 10)
            .map_err(|_| WireError::Field { field, problem: format!("{} does not fit uint256", self.0) })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireDoc {
    version: u64,
    domain: WireDomain,
    report: WireReport,
    signature: String,
    evidence: Vec<WireEvidence>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireDomain {
    chain_id: Num,
    market: Address,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireReport {
    job_id: Num,
    provider: Address,
    gpu_uuid_hash: B256,
    start_ts: Num,
    end_ts: Num,
    gpu_seconds: Num,
    energy_milli_joules: Num,
    avg_util_bps: Num,
    evidence_digest: B256,
    nonce: Num,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireEvidence {
    kind: String,
    data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cert_chain: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::signers::local::PrivateKeySigner;

    fn signed(nonce: u64) -> SignedReport {
        let key = PrivateKeySigner::from_bytes(&B256::repeat_byte(0x11)).unwrap();
        let domain = MarketDomain::new(412346, Address::repeat_byte(0x5f));
        let report = UsageReport {
            jobId: U256::MAX,
            provider: key.address(),
            gpuUuidHash: B256::repeat_byte(1),
            startTs: 1,
            endTs: u64::MAX,
            gpuSeconds: u64::MAX,
            energyMilliJoules: 12,
            avgUtilBps: 10_000,
            evidenceDigest: B256::repeat_byte(2),
            nonce: U256::from(nonce),
        };
        let signature = report.sign(&domain, &key).unwrap();
        let evidence = vec![
            Evidence {
                kind: EvidenceKind::NvidiaCc,
                data: vec![1, 2, 3],
                cert_chain: Some(vec![vec![4], vec![5, 6]]),
            },
            Evidence::none(),
        ];
        SignedReport { domain, report, signature, evidence }
    }

    fn json(s: &SignedReport) -> serde_json::Value {
        serde_json::from_slice(&s.to_json()).unwrap()
    }

    #[test]
    fn round_trip_keeps_everything_and_the_id() {
        let s = signed(7);
        let back = SignedReport::from_json(&s.to_json()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.id(), s.id());
        assert_eq!(s.id().0, s.report.signing_hash(&s.domain));
        assert_eq!(back.signer().unwrap(), s.report.provider);
        assert_eq!(back.evidence_mask(), 4 | 8);
    }

    #[test]
    fn integers_are_strings_and_numbers_are_accepted() {
        let s = signed(7);
        let mut v = json(&s);
        assert_eq!(v["report"]["nonce"], "7");
        assert_eq!(v["report"]["endTs"], u64::MAX.to_string());
        v["report"]["nonce"] = serde_json::json!(7);
        v["report"]["startTs"] = serde_json::json!(1);
        assert_eq!(SignedReport::from_json(&serde_json::to_vec(&v).unwrap()).unwrap(), s);
        for bad in
            [serde_json::json!("0x7"), serde_json::json!(-1), serde_json::json!(1.5), serde_json::json!("")]
        {
            v["report"]["nonce"] = bad;
            assert!(SignedReport::from_json(&serde_json::to_vec(&v).unwrap()).is_err());
        }
    }

    #[test]
    fn unknown_version_is_refused_with_its_own_error() {
        let mut v = json(&signed(1));
        v["version"] = serde_json::json!(2);
        let e = SignedReport::from_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(matches!(e, WireError::UnsupportedVersion(2)), "{e}");
        assert!(e.to_string().contains("unsupported wire version 2"));
        v.as_object_mut().unwrap().remove("version");
        assert!(matches!(
            SignedReport::from_json(&serde_json::to_vec(&v).unwrap()),
            Err(WireError::MissingVersion)
        ));
    }

    #[test]
    fn strictness_and_limits() {
        let v = json(&signed(1));
        let mut extra = v.clone();
        extra["report"]["bonus"] = serde_json::json!(1);
        assert!(matches!(
            SignedReport::from_json(&serde_json::to_vec(&extra).unwrap()),
            Err(WireError::Json(_))
        ));
        let mut util = v.clone();
        util["report"]["avgUtilBps"] = serde_json::json!("70000");
        assert!(SignedReport::from_json(&serde_json::to_vec(&util).unwrap()).is_err());
        let mut kind = v.clone();
        kind["evidence"][1]["kind"] = serde_json::json!("sgx");
        let e = SignedReport::from_json(&serde_json::to_vec(&kind).unwrap()).unwrap_err();
        assert!(e.to_string().contains("evidence 1"), "{e}");
        let mut none = v.clone();
        none["evidence"] = serde_json::json!([]);
        assert!(matches!(
            SignedReport::from_json(&serde_json::to_vec(&none).unwrap()),
            Err(WireError::NoEvidence)
        ));
        let mut sig = v.clone();
        sig["signature"] = serde_json::json!("0x1234");
        assert!(matches!(
            SignedReport::from_json(&serde_json::to_vec(&sig).unwrap()),
            Err(WireError::Signature(_))
        ));
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert!(matches!(SignedReport::from_json(&big), Err(WireError::TooLarge(_))));
        let mut huge = v.clone();
        huge["evidence"][0]["data"] = serde_json::json!("A".repeat(MAX_EVIDENCE_BYTES / 3 * 4 + 16));
        assert!(matches!(
            SignedReport::from_json(&serde_json::to_vec(&huge).unwrap()),
            Err(WireError::Field { .. })
        ));
    }

    #[test]
    fn different_reports_have_different_ids() {
        assert_ne!(signed(1).id(), signed(2).id());
        let id = signed(1).id();
        assert_eq!(id.to_string().parse::<ReportId>().unwrap(), id);
    }
}
