//! The shared EIP-712 vectors (`abi/vectors/usage-report.json`, generated with eth-account and
//! also checked by the market's own tests) reproduced through this crate.

use alloy::primitives::{Address, B256, U256};
use market_protocol::report::{MarketDomain, UsageReport};

fn vectors() -> Vec<serde_json::Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../abi/vectors/usage-report.json");
    let text = std::fs::read_to_string(path).expect("read abi/vectors/usage-report.json");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("vectors are JSON");
    doc["vectors"].as_array().expect("a `vectors` array").clone()
}

fn field<'a>(v: &'a serde_json::Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("vector field {k} missing or not a string"))
}

#[test]
fn every_vector_reproduces_struct_hash_and_signing_digest() {
    let vs = vectors();
    assert!(vs.len() >= 2, "expected at least two vectors, found {}", vs.len());
    for v in vs {
        let report = UsageReport {
            jobId: field(&v, "jobId").parse::<U256>().unwrap(),
            provider: field(&v, "provider").parse::<Address>().unwrap(),
            gpuUuidHash: field(&v, "gpuUuidHash").parse::<B256>().unwrap(),
            startTs: field(&v, "startTs").parse().unwrap(),
            endTs: field(&v, "endTs").parse().unwrap(),
            gpuSeconds: field(&v, "gpuSeconds").parse().unwrap(),
            energyMilliJoules: field(&v, "energyMilliJoules").parse().unwrap(),
            avgUtilBps: field(&v, "avgUtilBps").parse().unwrap(),
            evidenceDigest: field(&v, "evidenceDigest").parse::<B256>().unwrap(),
            nonce: field(&v, "nonce").parse::<U256>().unwrap(),
        };
        let domain = MarketDomain::new(
            field(&v, "chainId").parse().unwrap(),
            field(&v, "market").parse::<Address>().unwrap(),
        );
        assert_eq!(report.struct_hash(), field(&v, "structHash").parse::<B256>().unwrap(), "structHash");
        assert_eq!(
            report.signing_hash(&domain),
            field(&v, "signingDigest").parse::<B256>().unwrap(),
            "signingDigest"
        );
    }
}
