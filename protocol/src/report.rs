//! The EIP-712 `UsageReport` as the market verifies it.
//!
//! Domain: name `GpuComputeMarket`, version `1`, the chain id and the MARKET contract as
//! verifying contract. Signatures are 65 bytes `r || s || v` with `v` 27 or 28 and a low `s`
//! (the market rejects high-s signatures as malleable, so this crate refuses them too, both when
//! signing and when recovering).

use alloy::primitives::{Address, B256, U256};
use alloy::signers::{local::PrivateKeySigner, SignerSync};
use alloy::sol_types::{Eip712Domain, SolStruct};

alloy::sol! {
    /// One metered usage window of one job on one GPU (field order and types are the EIP-712
    /// type string; do not reorder).
    #[derive(Debug, Default, PartialEq, Eq)]
    struct UsageReport {
        uint256 jobId;
        address provider;
        bytes32 gpuUuidHash;
        uint64 startTs;
        uint64 endTs;
        uint64 gpuSeconds;
        uint64 energyMilliJoules;
        uint16 avgUtilBps;
        bytes32 evidenceDigest;
        uint256 nonce;
    }
}

/// The EIP-712 type string, identical to the market's.
pub const USAGE_REPORT_TYPE: &str = "UsageReport(uint256 jobId,address provider,bytes32 gpuUuidHash,uint64 startTs,uint64 endTs,uint64 gpuSeconds,uint64 energyMilliJoules,uint16 avgUtilBps,bytes32 evidenceDigest,uint256 nonce)";
/// The market's EIP-712 domain name.
pub const DOMAIN_NAME: &str = "GpuComputeMarket";
/// The market's EIP-712 domain version.
pub const DOMAIN_VERSION: &str = "1";
/// Largest valid utilisation in basis points.
pub const MAX_UTIL_BPS: u16 = 10_000;

/// secp256k1 group order n, and n/2 (the largest low `s`).
const SECP256K1_N: U256 = U256::from_be_slice(&alloy::primitives::hex!(
    "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
));
const SECP256K1_HALF_N: U256 = U256::from_be_slice(&alloy::primitives::hex!(
    "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0"
));

/// Which market a report is signed for: a signature for one chain or market is worthless on
/// another, which is what stops cross-deployment replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MarketDomain {
    pub chain_id: u64,
    pub market: Address,
}

impl MarketDomain {
    pub fn new(chain_id: u64, market: Address) -> Self {
        Self { chain_id, market }
    }

    /// The alloy EIP-712 domain (name, version, chain id, verifying contract).
    pub fn eip712_domain(&self) -> Eip712Domain {
        alloy::sol_types::eip712_domain! {
            name: DOMAIN_NAME,
            version: DOMAIN_VERSION,
            chain_id: self.chain_id,
            verifying_contract: self.market,
        }
    }
}

/// Why a signature or report was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    #[error("signature must be 65 bytes (r || s || v), got {0}")]
    SignatureLength(usize),
    #[error("signature v must be 27 or 28, got {0}")]
    BadV(u8),
    #[error("signature r or s is zero or not below the secp256k1 order")]
    ScalarOutOfRange,
    #[error(
        "signature s is in the upper half of the curve order (high-s, malleable); the market rejects it"
    )]
    HighS,
    #[error("signature does not recover to a public key")]
    Unrecoverable,
    #[error("report signed by {recovered}, expected {expected}")]
    WrongSigner { recovered: Address, expected: Address },
    #[error("signing failed: {0}")]
    Signing(String),
    #[error("endTs {end} is before startTs {start}")]
    WindowReversed { start: u64, end: u64 },
    #[error("avgUtilBps {0} is above 10000")]
    UtilOutOfRange(u16),
}

impl UsageReport {
    /// The EIP-712 signing hash for `domain`. It is also the report's id on the wire and what
    /// every per-report TEE quote commits to.
    pub fn signing_hash(&self, domain: &MarketDomain) -> B256 {
        self.eip712_signing_hash(&domain.eip712_domain())
    }

    /// The EIP-712 `hashStruct`.
    pub fn struct_hash(&self) -> B256 {
        self.eip712_hash_struct()
    }

    /// Field sanity a well-behaved node never violates (the market has its own, stricter,
    /// checks against the job; these are the ones that need no chain state).
    pub fn check_shape(&self) -> Result<(), ReportError> {
        if self.endTs < self.startTs {
            return Err(ReportError::WindowReversed { start: self.startTs, end: self.endTs });
        }
        if self.avgUtilBps > MAX_UTIL_BPS {
            return Err(ReportError::UtilOutOfRange(self.avgUtilBps));
        }
        Ok(())
    }

    /// Sign for `domain` with a local key; the result is low-s with v 27/28.
    pub fn sign(
        &self,
        domain: &MarketDomain,
        signer: &PrivateKeySigner,
    ) -> Result<ReportSignature, ReportError> {
        let hash = self.signing_hash(domain);
        let sig = signer.sign_hash_sync(&hash).map_err(|e| ReportError::Signing(e.to_string()))?;
        // alloy's `as_bytes` encodes v as 27 + parity; validate anyway so a signer that ever
        // returned high-s would be caught here rather than slashed on chain.
        ReportSignature::from_slice(&sig.as_bytes())
    }

    /// The address that signed this report for `domain`.
    pub fn recover_signer(
        &self,
        domain: &MarketDomain,
        sig: &ReportSignature,
    ) -> Result<Address, ReportError> {
        let hash = self.signing_hash(domain);
        let parsed =
            alloy::primitives::Signature::from_raw(&sig.0).map_err(|_| ReportError::Unrecoverable)?;
        parsed.recover_address_from_prehash(&hash).map_err(|_| ReportError::Unrecoverable)
    }

    /// Recover and require `expected` (the provider's registered signing key).
    pub fn verify(
        &self,
        domain: &MarketDomain,
        sig: &ReportSignature,
        expected: Address,
    ) -> Result<(), ReportError> {
        let recovered = self.recover_signer(domain, sig)?;
        if recovered != expected {
            return Err(ReportError::WrongSigner { recovered, expected });
        }
        Ok(())
    }
}

/// A 65-byte `r || s || v` signature that passed the market's shape rules (v 27/28, r and s
/// in range, low s). Holding one means it is at least well-formed.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReportSignature([u8; 65]);

impl ReportSignature {
    /// Parse and validate.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ReportError> {
        let raw: [u8; 65] = bytes.try_into().map_err(|_| ReportError::SignatureLength(bytes.len()))?;
        let v = raw[64];
        if v != 27 && v != 28 {
            return Err(ReportError::BadV(v));
        }
        let r = U256::from_be_slice(&raw[..32]);
        let s = U256::from_be_slice(&raw[32..64]);
        if r.is_zero() || s.is_zero() || r >= SECP256K1_N || s >= SECP256K1_N {
            return Err(ReportError::ScalarOutOfRange);
        }
        if s > SECP256K1_HALF_N {
            return Err(ReportError::HighS);
        }
        Ok(Self(raw))
    }

    pub fn as_bytes(&self) -> &[u8; 65] {
        &self.0
    }

    /// `0x`-prefixed lowercase hex.
    pub fn to_hex(&self) -> String {
        alloy::primitives::hex::encode_prefixed(self.0)
    }
}

impl std::fmt::Debug for ReportSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReportSignature({})", self.to_hex())
    }
}

/// `keccak256` of a GPU UUID string exactly as NVML prints it (e.g. `GPU-5f2c...`), the
/// `gpuUuidHash` a provider registers and reports.
pub fn gpu_uuid_hash(uuid: &str) -> B256 {
    alloy::primitives::keccak256(uuid.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> PrivateKeySigner {
        PrivateKeySigner::from_bytes(&B256::repeat_byte(n)).expect("valid test key")
    }

    fn sample() -> UsageReport {
        UsageReport {
            jobId: U256::from(42),
            provider: key(7).address(),
            gpuUuidHash: gpu_uuid_hash("GPU-00000000-1111-2222-3333-444444444444"),
            startTs: 1_764_000_000,
            endTs: 1_764_000_600,
            gpuSeconds: 600,
            energyMilliJoules: 1_000,
            avgUtilBps: 9_000,
            evidenceDigest: B256::repeat_byte(3),
            nonce: U256::from(1),
        }
    }

    #[test]
    fn type_string_is_the_markets() {
        assert_eq!(UsageReport::eip712_encode_type(), USAGE_REPORT_TYPE);
    }

    #[test]
    fn sign_then_recover_gives_the_signer_and_v_is_27_or_28() {
        let d = MarketDomain::new(412346, Address::repeat_byte(0x55));
        let r = sample();
        let sig = r.sign(&d, &key(7)).unwrap();
        assert!(matches!(sig.as_bytes()[64], 27 | 28));
        assert_eq!(r.recover_signer(&d, &sig).unwrap(), key(7).address());
        r.verify(&d, &sig, key(7).address()).unwrap();
        assert_eq!(
            r.verify(&d, &sig, key(8).address()),
            Err(ReportError::WrongSigner { recovered: key(7).address(), expected: key(8).address() })
        );
    }

    #[test]
    fn a_signature_for_another_domain_or_report_recovers_someone_else() {
        let d = MarketDomain::new(412346, Address::repeat_byte(0x55));
        let r = sample();
        let sig = r.sign(&d, &key(7)).unwrap();
        let other_chain = MarketDomain::new(421614, d.market);
        let other_market = MarketDomain::new(d.chain_id, Address::repeat_byte(0x56));
        assert_ne!(r.recover_signer(&other_chain, &sig).ok(), Some(key(7).address()));
        assert_ne!(r.recover_signer(&other_market, &sig).ok(), Some(key(7).address()));
        let tampered = UsageReport { gpuSeconds: 601, ..r.clone() };
        assert_ne!(tampered.recover_signer(&d, &sig).ok(), Some(key(7).address()));
    }

    #[test]
    fn high_s_and_bad_v_are_refused() {
        let d = MarketDomain::new(1, Address::ZERO);
        let sig = sample().sign(&d, &key(9)).unwrap();
        let mut raw = *sig.as_bytes();
        // s' = n - s is the malleable twin of a valid signature.
        let s = U256::from_be_slice(&raw[32..64]);
        raw[32..64].copy_from_slice(&(SECP256K1_N - s).to_be_bytes::<32>());
        raw[64] = if raw[64] == 27 { 28 } else { 27 };
        assert_eq!(ReportSignature::from_slice(&raw), Err(ReportError::HighS));
        let mut raw = *sig.as_bytes();
        raw[64] = 1;
        assert_eq!(ReportSignature::from_slice(&raw), Err(ReportError::BadV(1)));
        assert_eq!(ReportSignature::from_slice(&raw[..64]), Err(ReportError::SignatureLength(64)));
        let mut raw = *sig.as_bytes();
        raw[..32].fill(0);
        assert_eq!(ReportSignature::from_slice(&raw), Err(ReportError::ScalarOutOfRange));
    }

    #[test]
    fn shape_checks() {
        let r = UsageReport { startTs: 10, endTs: 9, ..sample() };
        assert_eq!(r.check_shape(), Err(ReportError::WindowReversed { start: 10, end: 9 }));
        let r = UsageReport { avgUtilBps: 10_001, ..sample() };
        assert_eq!(r.check_shape(), Err(ReportError::UtilOutOfRange(10_001)));
        sample().check_shape().unwrap();
    }
}
