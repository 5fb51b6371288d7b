//! `evidence_digest` reproduces vectors computed independently in Python (eth-hash keccak,
//! hashlib sha256) by `tests/vectors/evidence_digest.py`.

use alloy::primitives::{hex, Address, B256};
use market_protocol::evidence::{evidence_digest, EvidenceIdentity};

fn arr<const N: usize>(v: &serde_json::Value, k: &str) -> [u8; N] {
    let bytes = hex::decode(v[k].as_str().unwrap_or_else(|| panic!("{k} missing"))).expect("hex");
    bytes.try_into().unwrap_or_else(|_| panic!("{k} is not {N} bytes"))
}

fn identity(v: &serde_json::Value) -> EvidenceIdentity {
    match v["kind"].as_str().expect("kind") {
        "tdx" => {
            let r = &v["rtmr"];
            let rtmr = [0, 1, 2, 3].map(|i| {
                let b = hex::decode(r[i].as_str().expect("rtmr hex")).expect("hex");
                <[u8; 48]>::try_from(b).expect("48 bytes")
            });
            EvidenceIdentity::Tdx { mrtd: arr(v, "mrtd"), rtmr }
        }
        "sev-snp" => {
            EvidenceIdentity::SevSnp { measurement: arr(v, "measurement"), chip_id: arr(v, "chipId") }
        }
        "nvidia-cc" => {
            EvidenceIdentity::from_nvidia_leaf_cert(&hex::decode(v["leafCertDer"].as_str().unwrap()).unwrap())
        }
        "none" => {
            EvidenceIdentity::None { provider: v["provider"].as_str().unwrap().parse::<Address>().unwrap() }
        }
        other => panic!("unknown kind {other}"),
    }
}

#[test]
fn digest_matches_the_python_vectors() {
    let text = include_str!("vectors/evidence-digest.json");
    let doc: serde_json::Value = serde_json::from_str(text).unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 5);
    for v in vectors {
        let ids: Vec<_> = v["identities"].as_array().unwrap().iter().map(identity).collect();
        let expected: B256 = v["evidenceDigest"].as_str().unwrap().parse().unwrap();
        assert_eq!(evidence_digest(&ids).unwrap(), expected, "{}", v["identities"]);
    }
}
