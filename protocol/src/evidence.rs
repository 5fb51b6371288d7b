//! The evidence envelope a node attaches to a report, and the `evidenceDigest`.
//!
//! Two different things are bound to a report, on purpose:
//! - per report, the raw evidence (a TDX quote, an SEV-SNP attestation report, an NVIDIA
//!   confidential-computing report) whose report_data / nonce commits to the report's EIP-712
//!   signing hash ([`report_data_for`], [`nvidia_nonce_for`]): it proves *this* report came
//!   out of the attested machine. It cannot be inside the signed report (it hashes the report);
//! - in the report, `evidenceDigest`: a digest of the provider's *stable* hardware identity
//!   (measurements, chip id, GPU device certificate), the same digest the provider registered
//!   in the registry. Definition (fixed by the lead, implemented only here):
//!   `identity_hash = keccak256(kind_bit || identity_bytes)` per kind present, and
//!   `evidenceDigest = keccak256(identity_hash...)` in ascending kind-bit order.

use alloy::primitives::{keccak256, Address, B256};
use sha2::{Digest, Sha256};

/// The evidence kinds, as bits; the same bits are the registry's accepted-evidence mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum EvidenceKind {
    /// Intel TDX quote (v4/v5) from configfs-tsm.
    Tdx = 1,
    /// AMD SEV-SNP attestation report from configfs-tsm.
    SevSnp = 2,
    /// NVIDIA GPU confidential-computing attestation (SPDM GET_MEASUREMENTS response).
    NvidiaCc = 4,
    /// No hardware evidence: the simulated meter. Production policy rejects it.
    None = 8,
}

impl EvidenceKind {
    pub const ALL: [EvidenceKind; 4] = [Self::Tdx, Self::SevSnp, Self::NvidiaCc, Self::None];

    pub fn bit(self) -> u8 {
        self as u8
    }

    pub fn from_bit(bit: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.bit() == bit)
    }

    /// The wire / config name: `tdx`, `sev-snp`, `nvidia-cc`, `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tdx => "tdx",
            Self::SevSnp => "sev-snp",
            Self::NvidiaCc => "nvidia-cc",
            Self::None => "none",
        }
    }

    /// The registry mask of a set of kinds.
    pub fn mask(kinds: impl IntoIterator<Item = EvidenceKind>) -> u8 {
        kinds.into_iter().fold(0, |m, k| m | k.bit())
    }
}

impl std::fmt::Display for EvidenceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EvidenceKind {
    type Err = EvidenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| EvidenceError::UnknownKind(s.to_string()))
    }
}

/// Why evidence was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EvidenceError {
    #[error("unknown evidence kind {0:?} (expected tdx, sev-snp, nvidia-cc or none)")]
    UnknownKind(String),
    #[error("{kind} evidence is {got} bytes, expected at least {need}")]
    TooShort { kind: EvidenceKind, got: usize, need: usize },
    #[error("evidence kind {0} appears more than once")]
    DuplicateKind(EvidenceKind),
    #[error("not a TDX quote: tee_type {0:#x} (expected 0x81)")]
    NotTdx(u32),
    #[error("unsupported TDX quote version {0} (expected 4 or 5)")]
    QuoteVersion(u16),
    #[error("no evidence identities: the digest needs at least one")]
    Empty,
    #[error("`none` evidence must carry no data (got {0} bytes)")]
    NoneWithData(usize),
    #[error("nvidia-cc evidence needs a certificate chain (leaf device certificate first)")]
    MissingCertChain,
    #[error("certificate chain is only for nvidia-cc evidence, not {0}")]
    UnexpectedCertChain(EvidenceKind),
    #[error("bad PEM certificate chain: {0}")]
    Pem(String),
}

/// One piece of per-report evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub kind: EvidenceKind,
    /// TDX: the quote; SEV-SNP: the 1184-byte attestation report (plus whatever configfs
    /// returned after it); NVIDIA CC: the SPDM GET_MEASUREMENTS request + response as NVML
    /// returns it; none: empty.
    pub data: Vec<u8>,
    /// NVIDIA CC only: DER certificates, the GPU's leaf device certificate first.
    pub cert_chain: Option<Vec<Vec<u8>>>,
}

impl Evidence {
    /// The evidence of the simulated meter.
    pub fn none() -> Self {
        Self { kind: EvidenceKind::None, data: Vec::new(), cert_chain: None }
    }

    /// Structural checks that need no verifier: per-kind minimum sizes, cert chain only and
    /// always for NVIDIA, `none` empty. Cryptographic verification is the relayer's job.
    pub fn check_shape(&self) -> Result<(), EvidenceError> {
        match (self.kind, &self.cert_chain) {
            (EvidenceKind::NvidiaCc, None) => return Err(EvidenceError::MissingCertChain),
            (EvidenceKind::NvidiaCc, Some(c)) if c.is_empty() => return Err(EvidenceError::MissingCertChain),
            (EvidenceKind::NvidiaCc, Some(_)) => {}
            (k, Some(_)) => return Err(EvidenceError::UnexpectedCertChain(k)),
            (_, None) => {}
        }
        let need = match self.kind {
            EvidenceKind::Tdx => TDX_QUOTE_MIN_LEN,
            EvidenceKind::SevSnp => SNP_REPORT_LEN,
            EvidenceKind::NvidiaCc => 1,
            EvidenceKind::None => {
                if !self.data.is_empty() {
                    return Err(EvidenceError::NoneWithData(self.data.len()));
                }
                0
            }
        };
        if self.data.len() < need {
            return Err(EvidenceError::TooShort { kind: self.kind, got: self.data.len(), need });
        }
        Ok(())
    }
}

/// The 64-byte TDX/SEV-SNP report_data for a report: its EIP-712 signing hash followed by 32
/// zero bytes (so a verifier compares all 64 bytes, not a prefix).
pub fn report_data_for(signing_hash: B256) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(signing_hash.as_slice());
    out
}

/// The 32-byte nonce of the NVIDIA CC attestation request: the signing hash itself.
pub fn nvidia_nonce_for(signing_hash: B256) -> [u8; 32] {
    signing_hash.0
}

// TDX quote: 48-byte header (version u16 LE at 0, tee_type u32 LE at 4 = 0x81), then the
// TD report body; v5 puts a 2-byte body type and a 4-byte body size before the body. Offsets
// inside the body are the same for TDX 1.0 and 1.5 bodies.
const TDX_HEADER_LEN: usize = 48;
const TDX_BODY_LEN: usize = 584;
const TDX_MRTD: usize = 136;
const TDX_RTMR0: usize = 328;
const TDX_REPORT_DATA: usize = 520;
/// Header + TD report body of a v4 quote; the signature section follows.
pub const TDX_QUOTE_MIN_LEN: usize = TDX_HEADER_LEN + TDX_BODY_LEN;

/// Where the TD report body starts in `quote` (checks version, TEE type and length).
pub fn tdx_body_offset(quote: &[u8]) -> Result<usize, EvidenceError> {
    need(EvidenceKind::Tdx, quote, TDX_HEADER_LEN)?;
    let version = u16::from_le_bytes([quote[0], quote[1]]);
    let tee_type = u32::from_le_bytes([quote[4], quote[5], quote[6], quote[7]]);
    if tee_type != 0x81 {
        return Err(EvidenceError::NotTdx(tee_type));
    }
    let offset = match version {
        4 => TDX_HEADER_LEN,
        5 => TDX_HEADER_LEN + 6,
        v => return Err(EvidenceError::QuoteVersion(v)),
    };
    need(EvidenceKind::Tdx, quote, offset + TDX_BODY_LEN)?;
    Ok(offset)
}

// SEV-SNP ATTESTATION_REPORT (AMD SEV-SNP ABI spec, table "ATTESTATION_REPORT Structure").
const SNP_REPORT_DATA_OFFSET: usize = 0x50;
const SNP_MEASUREMENT_OFFSET: usize = 0x90;
const SNP_CHIP_ID_OFFSET: usize = 0x1A0;
/// The fixed size of an SEV-SNP attestation report.
pub const SNP_REPORT_LEN: usize = 0x4A0;

fn need(kind: EvidenceKind, bytes: &[u8], len: usize) -> Result<(), EvidenceError> {
    if bytes.len() < len {
        return Err(EvidenceError::TooShort { kind, got: bytes.len(), need: len });
    }
    Ok(())
}

/// The report_data of a TDX quote (to compare with [`report_data_for`]).
pub fn tdx_report_data(quote: &[u8]) -> Result<[u8; 64], EvidenceError> {
    let at = tdx_body_offset(quote)? + TDX_REPORT_DATA;
    let mut out = [0u8; 64];
    out.copy_from_slice(&quote[at..at + 64]);
    Ok(out)
}

/// The report_data of an SEV-SNP attestation report.
pub fn snp_report_data(report: &[u8]) -> Result<[u8; 64], EvidenceError> {
    need(EvidenceKind::SevSnp, report, SNP_REPORT_LEN)?;
    let mut out = [0u8; 64];
    out.copy_from_slice(&report[SNP_REPORT_DATA_OFFSET..SNP_REPORT_DATA_OFFSET + 64]);
    Ok(out)
}

/// The stable hardware identity of one evidence kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvidenceIdentity {
    /// MRTD and RTMR0..3 of the TD.
    Tdx { mrtd: [u8; 48], rtmr: [[u8; 48]; 4] },
    /// Launch MEASUREMENT and CHIP_ID of the SNP guest's platform.
    SevSnp { measurement: [u8; 48], chip_id: [u8; 64] },
    /// sha256 of the GPU's leaf device certificate (DER).
    NvidiaCc { leaf_cert_sha256: [u8; 32] },
    /// The simulated meter: the provider's address stands in for hardware.
    None { provider: Address },
}

impl EvidenceIdentity {
    pub fn kind(&self) -> EvidenceKind {
        match self {
            Self::Tdx { .. } => EvidenceKind::Tdx,
            Self::SevSnp { .. } => EvidenceKind::SevSnp,
            Self::NvidiaCc { .. } => EvidenceKind::NvidiaCc,
            Self::None { .. } => EvidenceKind::None,
        }
    }

    /// The identity bytes exactly as the digest definition lists them.
    pub fn identity_bytes(&self) -> Vec<u8> {
        match self {
            Self::Tdx { mrtd, rtmr } => {
                let mut v = Vec::with_capacity(48 * 5);
                v.extend_from_slice(mrtd);
                rtmr.iter().for_each(|r| v.extend_from_slice(r));
                v
            }
            Self::SevSnp { measurement, chip_id } => [measurement.as_slice(), chip_id.as_slice()].concat(),
            Self::NvidiaCc { leaf_cert_sha256 } => leaf_cert_sha256.to_vec(),
            Self::None { provider } => provider.to_vec(),
        }
    }

    /// `keccak256(kind_bit || identity_bytes)`.
    pub fn identity_hash(&self) -> B256 {
        let mut pre = vec![self.kind().bit()];
        pre.extend_from_slice(&self.identity_bytes());
        keccak256(pre)
    }

    /// MRTD and RTMR0..3 out of a TDX quote.
    pub fn from_tdx_quote(quote: &[u8]) -> Result<Self, EvidenceError> {
        let body = tdx_body_offset(quote)?;
        let take48 = |off: usize| -> [u8; 48] {
            let mut a = [0u8; 48];
            a.copy_from_slice(&quote[off..off + 48]);
            a
        };
        let mrtd = take48(body + TDX_MRTD);
        let rtmr = [0, 1, 2, 3].map(|i| take48(body + TDX_RTMR0 + 48 * i));
        Ok(Self::Tdx { mrtd, rtmr })
    }

    /// MEASUREMENT and CHIP_ID out of an SEV-SNP attestation report.
    pub fn from_snp_report(report: &[u8]) -> Result<Self, EvidenceError> {
        need(EvidenceKind::SevSnp, report, SNP_REPORT_LEN)?;
        let mut measurement = [0u8; 48];
        measurement.copy_from_slice(&report[SNP_MEASUREMENT_OFFSET..SNP_MEASUREMENT_OFFSET + 48]);
        let mut chip_id = [0u8; 64];
        chip_id.copy_from_slice(&report[SNP_CHIP_ID_OFFSET..SNP_CHIP_ID_OFFSET + 64]);
        Ok(Self::SevSnp { measurement, chip_id })
    }

    /// The GPU identity from its leaf device certificate (DER).
    pub fn from_nvidia_leaf_cert(der: &[u8]) -> Self {
        Self::NvidiaCc { leaf_cert_sha256: Sha256::digest(der).into() }
    }

    /// The identity of one piece of evidence; `provider` is used only for `none`.
    pub fn from_evidence(ev: &Evidence, provider: Address) -> Result<Self, EvidenceError> {
        match ev.kind {
            EvidenceKind::Tdx => Self::from_tdx_quote(&ev.data),
            EvidenceKind::SevSnp => Self::from_snp_report(&ev.data),
            EvidenceKind::NvidiaCc => {
                let leaf =
                    ev.cert_chain.as_ref().and_then(|c| c.first()).ok_or(EvidenceError::MissingCertChain)?;
                Ok(Self::from_nvidia_leaf_cert(leaf))
            }
            EvidenceKind::None => Ok(Self::None { provider }),
        }
    }
}

/// `evidenceDigest = keccak256(identity_hash(k) for k in ascending kind order)`. At most one
/// identity per kind; order of the input does not matter.
pub fn evidence_digest(identities: &[EvidenceIdentity]) -> Result<B256, EvidenceError> {
    if identities.is_empty() {
        return Err(EvidenceError::Empty);
    }
    let mut sorted: Vec<&EvidenceIdentity> = identities.iter().collect();
    sorted.sort_by_key(|i| i.kind());
    if let Some(w) = sorted.windows(2).find(|w| w[0].kind() == w[1].kind()) {
        return Err(EvidenceError::DuplicateKind(w[0].kind()));
    }
    let mut cat = Vec::with_capacity(32 * sorted.len());
    sorted.iter().for_each(|i| cat.extend_from_slice(i.identity_hash().as_slice()));
    Ok(keccak256(cat))
}

/// The evidence digest of a set of evidence (each kind at most once).
pub fn evidence_digest_of(evidence: &[Evidence], provider: Address) -> Result<B256, EvidenceError> {
    let ids = evidence
        .iter()
        .map(|e| EvidenceIdentity::from_evidence(e, provider))
        .collect::<Result<Vec<_>, _>>()?;
    evidence_digest(&ids)
}

/// Split a PEM bundle (`-----BEGIN CERTIFICATE-----` blocks, as NVIDIA's tools write chains)
/// into DER certificates, in file order.
pub fn pem_chain_to_der(pem: &str) -> Result<Vec<Vec<u8>>, EvidenceError> {
    use base64::Engine;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let end = after
            .find(END)
            .ok_or_else(|| EvidenceError::Pem(format!("certificate {} has no END line", out.len() + 1)))?;
        let b64: String = after[..end].chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| EvidenceError::Pem(format!("certificate {}: {e}", out.len() + 1)))?;
        out.push(der);
        rest = &after[end + END.len()..];
    }
    if out.is_empty() {
        return Err(EvidenceError::Pem("no CERTIFICATE blocks".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tdx_quote_with(version: u16, mrtd: u8, rtmr: [u8; 4], report_data: [u8; 64]) -> Vec<u8> {
        let body = if version == 5 { 54 } else { 48 };
        let mut q = vec![0xEEu8; body + TDX_BODY_LEN + 100];
        q[0..2].copy_from_slice(&version.to_le_bytes());
        q[4..8].copy_from_slice(&0x81u32.to_le_bytes());
        q[body + TDX_MRTD..body + TDX_MRTD + 48].fill(mrtd);
        for (i, b) in rtmr.iter().enumerate() {
            let o = body + TDX_RTMR0 + 48 * i;
            q[o..o + 48].fill(*b);
        }
        q[body + TDX_REPORT_DATA..body + TDX_REPORT_DATA + 64].copy_from_slice(&report_data);
        q
    }

    #[test]
    fn kinds_round_trip_and_mask() {
        for k in EvidenceKind::ALL {
            assert_eq!(k.as_str().parse::<EvidenceKind>().unwrap(), k);
            assert_eq!(EvidenceKind::from_bit(k.bit()), Some(k));
        }
        assert_eq!(EvidenceKind::mask(EvidenceKind::ALL), 15);
        assert_eq!(EvidenceKind::mask([EvidenceKind::Tdx, EvidenceKind::NvidiaCc]), 5);
        assert!("sgx".parse::<EvidenceKind>().is_err());
        assert_eq!(EvidenceKind::from_bit(3), None);
    }

    #[test]
    fn tdx_fields_come_from_the_v4_offsets() {
        let rd = report_data_for(B256::repeat_byte(0xAB));
        let q = tdx_quote_with(4, 1, [2, 3, 4, 5], rd);
        assert_eq!(tdx_report_data(&q).unwrap(), rd);
        let q5 = tdx_quote_with(5, 1, [2, 3, 4, 5], rd);
        assert_eq!(tdx_report_data(&q5).unwrap(), rd);
        assert_eq!(
            EvidenceIdentity::from_tdx_quote(&q5).unwrap(),
            EvidenceIdentity::from_tdx_quote(&q).unwrap()
        );
        let mut sgx = q.clone();
        sgx[4..8].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(tdx_report_data(&sgx), Err(EvidenceError::NotTdx(0)));
        let mut v3 = q.clone();
        v3[0..2].copy_from_slice(&3u16.to_le_bytes());
        assert_eq!(tdx_report_data(&v3), Err(EvidenceError::QuoteVersion(3)));
        assert_eq!(&rd[32..], &[0u8; 32]);
        let EvidenceIdentity::Tdx { mrtd, rtmr } = EvidenceIdentity::from_tdx_quote(&q).unwrap() else {
            panic!("tdx identity expected")
        };
        assert_eq!(mrtd, [1; 48]);
        assert_eq!(rtmr, [[2; 48], [3; 48], [4; 48], [5; 48]]);
        assert_eq!(
            EvidenceIdentity::from_tdx_quote(&q[..100]),
            Err(EvidenceError::TooShort { kind: EvidenceKind::Tdx, got: 100, need: TDX_QUOTE_MIN_LEN })
        );
    }

    #[test]
    fn snp_fields_come_from_the_abi_offsets() {
        let mut r = vec![0u8; SNP_REPORT_LEN];
        r[0x50..0x90].fill(9);
        r[0x90..0xC0].fill(7);
        r[0x1A0..0x1E0].fill(6);
        assert_eq!(snp_report_data(&r).unwrap(), [9; 64]);
        assert_eq!(
            EvidenceIdentity::from_snp_report(&r).unwrap(),
            EvidenceIdentity::SevSnp { measurement: [7; 48], chip_id: [6; 64] }
        );
        assert!(snp_report_data(&r[..SNP_REPORT_LEN - 1]).is_err());
    }

    #[test]
    fn digest_is_order_independent_and_refuses_duplicates_and_empty() {
        let a = EvidenceIdentity::None { provider: Address::repeat_byte(1) };
        let b = EvidenceIdentity::from_nvidia_leaf_cert(b"leaf");
        let ab = evidence_digest(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(evidence_digest(&[b.clone(), a.clone()]).unwrap(), ab);
        // ascending kind order: nvidia-cc (4) before none (8)
        let manual = keccak256([b.identity_hash().as_slice(), a.identity_hash().as_slice()].concat());
        assert_eq!(ab, manual);
        assert_eq!(
            evidence_digest(&[a.clone(), a.clone()]),
            Err(EvidenceError::DuplicateKind(EvidenceKind::None))
        );
        assert_eq!(evidence_digest(&[]), Err(EvidenceError::Empty));
    }

    #[test]
    fn identity_hash_is_tag_then_bytes() {
        let p = Address::repeat_byte(0x42);
        let id = EvidenceIdentity::None { provider: p };
        assert_eq!(id.identity_hash(), keccak256([&[8u8][..], p.as_slice()].concat()));
        let leaf = b"certificate der";
        let sha: [u8; 32] = Sha256::digest(leaf).into();
        assert_eq!(
            EvidenceIdentity::from_nvidia_leaf_cert(leaf).identity_hash(),
            keccak256([&[4u8][..], &sha].concat())
        );
    }

    #[test]
    fn shape_rules() {
        Evidence::none().check_shape().unwrap();
        let e = Evidence { kind: EvidenceKind::None, data: vec![1], cert_chain: None };
        assert_eq!(e.check_shape(), Err(EvidenceError::NoneWithData(1)));
        let e = Evidence { kind: EvidenceKind::NvidiaCc, data: vec![1], cert_chain: None };
        assert_eq!(e.check_shape(), Err(EvidenceError::MissingCertChain));
        let e =
            Evidence { kind: EvidenceKind::Tdx, data: vec![0; TDX_QUOTE_MIN_LEN], cert_chain: Some(vec![]) };
        assert_eq!(e.check_shape(), Err(EvidenceError::UnexpectedCertChain(EvidenceKind::Tdx)));
        let e = Evidence { kind: EvidenceKind::SevSnp, data: vec![0; 10], cert_chain: None };
        assert!(matches!(e.check_shape(), Err(EvidenceError::TooShort { .. })));
    }

    #[test]
    fn pem_chain_splits_in_order() {
        use base64::Engine;
        let enc = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let pem = format!(
            "junk\n-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\n{}\n{}\n-----END CERTIFICATE-----\n",
            enc(b"leaf-der"),
            &enc(b"intermediate-der-bytes")[..8],
            &enc(b"intermediate-der-bytes")[8..]
        );
        assert_eq!(
            pem_chain_to_der(&pem).unwrap(),
            vec![b"leaf-der".to_vec(), b"intermediate-der-bytes".to_vec()]
        );
        assert!(pem_chain_to_der("nothing").is_err());
        assert!(pem_chain_to_der("-----BEGIN CERTIFICATE-----\nAAAA").is_err());
    }
}
