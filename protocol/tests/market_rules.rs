//! Reports signed by this crate pass the market's own checks: the market's digest code
//! (`contracts-common`, compiled natively) gives the same digest, its signature-shape rule
//! (v 27/28, low s) accepts the signature, and an independent secp256k1 recovery (k256, what
//! the ecrecover precompile computes) returns the provider.

use alloy::primitives::{Address, B256, U256};
use alloy::signers::local::PrivateKeySigner;
use contracts_common::{ecdsa::check_signature_shape, usage_report::UsageReport as MarketReport};
use market_protocol::report::{MarketDomain, UsageReport};
use proptest::prelude::*;

fn ecrecover(digest: B256, sig: &[u8; 65]) -> Address {
    let rs = k256::ecdsa::Signature::from_slice(&sig[..64]).expect("r,s in range");
    let id = k256::ecdsa::RecoveryId::from_byte(sig[64] - 27).expect("v 27/28");
    let key = k256::ecdsa::VerifyingKey::recover_from_prehash(digest.as_slice(), &rs, id).expect("recovers");
    let point = key.to_encoded_point(false);
    Address::from_slice(&alloy::primitives::keccak256(&point.as_bytes()[1..])[12..])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn signed_reports_pass_the_market_rules(
        key in prop::array::uniform32(1u8..),
        job in any::<[u8; 32]>(), uuid in any::<[u8; 32]>(), ev in any::<[u8; 32]>(), nonce in any::<[u8; 32]>(),
        start in any::<u64>(), end in any::<u64>(), secs in any::<u64>(), energy in any::<u64>(),
        util in 0u16..=10_000, chain in any::<u64>(), market in any::<[u8; 20]>(),
    ) {
        let signer = PrivateKeySigner::from_bytes(&B256::from(key)).expect("non-zero key below n w.h.p.");
        let r = UsageReport {
            jobId: U256::from_be_bytes(job), provider: signer.address(), gpuUuidHash: uuid.into(),
            startTs: start, endTs: end, gpuSeconds: secs, energyMilliJoules: energy, avgUtilBps: util,
            evidenceDigest: ev.into(), nonce: U256::from_be_bytes(nonce),
        };
        let domain = MarketDomain::new(chain, Address::from(market));
        let m = MarketReport {
            job_id: r.jobId, provider: r.provider, gpu_uuid_hash: r.gpuUuidHash, start_ts: start, end_ts: end,
            gpu_seconds: secs, energy_milli_joules: energy, avg_util_bps: util, evidence_digest: r.evidenceDigest,
            nonce: r.nonce,
        };
        let digest = m.signing_digest(chain, domain.market);
        prop_assert_eq!(r.signing_hash(&domain), digest);
        let sig = r.sign(&domain, &signer).unwrap();
        let raw = sig.as_bytes();
        prop_assert!(check_signature_shape(raw[64], B256::from_slice(&raw[32..64])).is_ok());
        prop_assert_eq!(ecrecover(digest, raw), signer.address());
    }
}
