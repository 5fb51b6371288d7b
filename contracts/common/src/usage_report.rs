//! The EIP-712 `UsageReport`: what a provider node signs for metered GPU time and what the
//! market verifies before it burns, refunds or slashes. The field list is fixed by
//! DESIGN.md; the off-chain crate hashes the same struct with alloy and both check the
//! vectors in `abi/vectors/usage-report.json`.

use crate::eip712;
use alloy_primitives::{keccak256, Address, B256, U256};

/// The EIP-712 type string.
pub const USAGE_REPORT_TYPE: &str = "UsageReport(uint256 jobId,address provider,bytes32 gpuUuidHash,uint64 startTs,uint64 endTs,uint64 gpuSeconds,uint64 energyMilliJoules,uint16 avgUtilBps,bytes32 evidenceDigest,uint256 nonce)";
/// The market's EIP-712 domain name and version.
pub const DOMAIN_NAME: &str = "GpuComputeMarket";
pub const DOMAIN_VERSION: &str = "1";

/// One metered usage window of one job on one GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsageReport {
    pub job_id: U256,
    pub provider: Address,
    /// `keccak256` of the GPU's UUID string as NVML reports it.
    pub gpu_uuid_hash: B256,
    pub start_ts: u64,
    pub end_ts: u64,
    pub gpu_seconds: u64,
    pub energy_milli_joules: u64,
    /// Average utilisation in basis points (0..=10_000).
    pub avg_util_bps: u16,
    /// Digest of the TEE evidence whose report_data commits to this report.
    pub evidence_digest: B256,
    pub nonce: U256,
}

/// `keccak256(USAGE_REPORT_TYPE)`
pub fn type_hash() -> B256 {
    keccak256(USAGE_REPORT_TYPE.as_bytes())
}

fn u64_word(x: u64) -> [u8; 32] {
    U256::from(x).to_be_bytes()
}

impl UsageReport {
    /// The EIP-712 `hashStruct` of this report.
    pub fn struct_hash(&self) -> B256 {
        eip712::hash_words(&[
            type_hash().0,
            self.job_id.to_be_bytes(),
            eip712::address_word(self.provider),
            self.gpu_uuid_hash.0,
            u64_word(self.start_ts),
            u64_word(self.end_ts),
            u64_word(self.gpu_seconds),
            u64_word(self.energy_milli_joules),
            u64_word(self.avg_util_bps as u64),
            self.evidence_digest.0,
            self.nonce.to_be_bytes(),
        ])
    }

    /// The digest the provider signs for the market at `market` on `chain_id`.
    pub fn signing_digest(&self, chain_id: u64, market: Address) -> B256 {
        let domain =
            eip712::domain_separator(DOMAIN_NAME.as_bytes(), DOMAIN_VERSION.as_bytes(), chain_id, market);
        eip712::typed_data_digest(domain, self.struct_hash())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloy_primitives::hex;
    use alloy_sol_types::{eip712_domain, sol, SolStruct};
    use std::{string::String, vec::Vec};

    sol! {
        struct UsageReport {
            uint256 jobId; address provider; bytes32 gpuUuidHash; uint64 startTs; uint64 endTs;
            uint64 gpuSeconds; uint64 energyMilliJoules; uint16 avgUtilBps; bytes32 evidenceDigest; uint256 nonce;
        }
    }

    /// The vectors shared with the off-chain crate.
    fn vectors() -> Vec<(UsageReport_, u64, Address, B256, B256)> {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../../abi/vectors/usage-report.json")).unwrap();
        let word = |s: &serde_json::Value| B256::from_slice(&hex::decode(s.as_str().unwrap()).unwrap());
        doc["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let num = |k: &str| -> String { String::from(v[k].as_str().unwrap()) };
                let r = UsageReport_ {
                    job_id: num("jobId").parse().unwrap(),
                    provider: num("provider").parse().unwrap(),
                    gpu_uuid_hash: word(&v["gpuUuidHash"]),
                    start_ts: num("startTs").parse().unwrap(),
                    end_ts: num("endTs").parse().unwrap(),
                    gpu_seconds: num("gpuSeconds").parse().unwrap(),
                    energy_milli_joules: num("energyMilliJoules").parse().unwrap(),
                    avg_util_bps: num("avgUtilBps").parse().unwrap(),
                    evidence_digest: word(&v["evidenceDigest"]),
                    nonce: num("nonce").parse().unwrap(),
                };
                let chain_id = num("chainId").parse().unwrap();
                let market = num("market").parse().unwrap();
                (r, chain_id, market, word(&v["structHash"]), word(&v["signingDigest"]))
            })
            .collect()
    }
    use super::UsageReport as UsageReport_;

    fn to_sol(r: &UsageReport_) -> UsageReport {
        UsageReport {
            jobId: r.job_id,
            provider: r.provider,
            gpuUuidHash: r.gpu_uuid_hash,
            startTs: r.start_ts,
            endTs: r.end_ts,
            gpuSeconds: r.gpu_seconds,
            energyMilliJoules: r.energy_milli_joules,
            avgUtilBps: r.avg_util_bps,
            evidenceDigest: r.evidence_digest,
            nonce: r.nonce,
        }
    }

    #[test]
    fn type_string_matches_alloy() {
        assert_eq!(UsageReport::eip712_encode_type(), USAGE_REPORT_TYPE);
    }

    #[test]
    fn vectors_match_ours_and_alloys() {
        let v = vectors();
        assert!(v.len() >= 2, "expected at least two vectors");
        for (r, chain_id, market, struct_hash, digest) in v {
            let domain = eip712_domain! { name: DOMAIN_NAME, version: DOMAIN_VERSION, chain_id: chain_id, verifying_contract: market, };
            assert_eq!(to_sol(&r).eip712_hash_struct(), struct_hash, "alloy struct hash");
            assert_eq!(r.struct_hash(), struct_hash, "our struct hash");
            assert_eq!(to_sol(&r).eip712_signing_hash(&domain), digest, "alloy digest");
            assert_eq!(r.signing_digest(chain_id, market), digest, "our digest");
        }
    }

    #[test]
    fn every_field_and_the_domain_change_the_digest() {
        let base = UsageReport_ { job_id: U256::from(1), end_ts: 10, gpu_seconds: 5, ..Default::default() };
        let m = Address::repeat_byte(0x11);
        let d = base.signing_digest(412346, m);
        let mut variants = Vec::new();
        variants.push(UsageReport_ { job_id: U256::from(2), ..base });
        variants.push(UsageReport_ { provider: Address::repeat_byte(1), ..base });
        variants.push(UsageReport_ { gpu_uuid_hash: B256::repeat_byte(1), ..base });
        variants.push(UsageReport_ { start_ts: 1, ..base });
        variants.push(UsageReport_ { end_ts: 11, ..base });
        variants.push(UsageReport_ { gpu_seconds: 6, ..base });
        variants.push(UsageReport_ { energy_milli_joules: 1, ..base });
        variants.push(UsageReport_ { avg_util_bps: 1, ..base });
        variants.push(UsageReport_ { evidence_digest: B256::repeat_byte(1), ..base });
        variants.push(UsageReport_ { nonce: U256::from(1), ..base });
        for v in variants {
            assert_ne!(v.signing_digest(412346, m), d);
        }
        assert_ne!(base.signing_digest(421614, m), d);
        assert_ne!(base.signing_digest(412346, Address::repeat_byte(0x12)), d);
    }
}
