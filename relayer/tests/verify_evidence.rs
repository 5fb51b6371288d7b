//! The `verify_evidence` entry point: class policy (kinds accepted, required, `none` only on
//! the devnet), the evidence digest it returns, and real evidence routed to its verifier.

use alloy_primitives::{Address, B256};
use market_protocol::{evidence_digest, Evidence, EvidenceIdentity, EvidenceKind};
use relayer::evidence::{verify_evidence, ClassPolicy, EvidenceError, OfflineCollateral};

const NOW: u64 = 1_750_400_000;

fn devnet_policy() -> ClassPolicy {
    ClassPolicy::from_toml("allow_none = true").unwrap()
}

fn tdx_policy() -> ClassPolicy {
    ClassPolicy::from_toml(
        r#"
        required = ["tdx"]
        [tdx]
        allowed_tcb_statuses = ["UpToDate"]
        allowed_measurements = [{ mrtd = "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7" }]
        "#,
    )
    .unwrap()
}

fn tdx_evidence() -> Evidence {
    Evidence {
        kind: EvidenceKind::Tdx,
        data: include_bytes!("data/tdx_quote.bin").to_vec(),
        cert_chain: None,
    }
}

fn collateral() -> OfflineCollateral {
    let mut c = OfflineCollateral::default();
    c.add_tdx_file(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/tdx_quote_collateral.json"
    )))
    .unwrap();
    c
}

#[test]
fn devnet_accepts_none_and_returns_the_provider_digest() {
    let provider = Address::repeat_byte(0x42);
    let v = verify_evidence(&devnet_policy(), &collateral(), &[Evidence::none()], provider, B256::ZERO, NOW)
        .unwrap();
    assert_eq!(v.identities, vec![EvidenceIdentity::None { provider }]);
    assert_eq!(v.digest, evidence_digest(&[EvidenceIdentity::None { provider }]).unwrap());
    let other =
        verify_evidence(&devnet_policy(), &collateral(), &[Evidence::none()], Address::ZERO, B256::ZERO, NOW)
            .unwrap();
    assert_ne!(v.digest, other.digest, "the none digest commits to the provider");
}

#[test]
fn production_policy_rejects_none() {
    let err =
        verify_evidence(&tdx_policy(), &collateral(), &[Evidence::none()], Address::ZERO, B256::ZERO, NOW)
            .unwrap_err();
    assert!(matches!(&err, EvidenceError::Policy(m) if m.contains("none")), "{err}");
    assert_eq!(err.code(), "evidence_policy");
}

#[test]
fn required_kind_missing_duplicate_kinds_and_empty_are_refused() {
    let mut p = tdx_policy();
    p.allow_none = true;
    let err =
        verify_evidence(&p, &collateral(), &[Evidence::none()], Address::ZERO, B256::ZERO, NOW).unwrap_err();
    assert!(matches!(&err, EvidenceError::Policy(m) if m.contains("required")), "{err}");

    let twice = [Evidence::none(), Evidence::none()];
    let err =
        verify_evidence(&devnet_policy(), &collateral(), &twice, Address::ZERO, B256::ZERO, NOW).unwrap_err();
    assert!(matches!(err, EvidenceError::Malformed(_)), "{err}");

    let err =
        verify_evidence(&devnet_policy(), &collateral(), &[], Address::ZERO, B256::ZERO, NOW).unwrap_err();
    assert!(matches!(err, EvidenceError::Malformed(_)), "{err}");
}

#[test]
fn genuine_tdx_quote_for_another_report_is_foreign() {
    // The sample quote is genuine but its report_data is not this report's signing hash.
    let err =
        verify_evidence(&tdx_policy(), &collateral(), &[tdx_evidence()], Address::ZERO, B256::ZERO, NOW)
            .unwrap_err();
    assert!(matches!(err, EvidenceError::Foreign(_)), "{err}");
    assert_eq!(err.code(), "evidence_foreign");
}

#[test]
fn tdx_without_collateral_or_after_expiry_is_stale() {
    let none = OfflineCollateral::default();
    let err =
        verify_evidence(&tdx_policy(), &none, &[tdx_evidence()], Address::ZERO, B256::ZERO, NOW).unwrap_err();
    assert!(matches!(err, EvidenceError::Stale(_)), "{err}");
    let err = verify_evidence(
        &tdx_policy(),
        &collateral(),
        &[tdx_evidence()],
        Address::ZERO,
        B256::ZERO,
        1_760_000_000,
    )
    .unwrap_err();
    assert!(matches!(err, EvidenceError::Stale(_)), "{err}");
}

#[test]
fn truncated_quote_is_malformed() {
    let mut ev = tdx_evidence();
    ev.data.truncate(100);
    let err =
        verify_evidence(&tdx_policy(), &collateral(), &[ev], Address::ZERO, B256::ZERO, NOW).unwrap_err();
    assert!(matches!(err, EvidenceError::Malformed(_)), "{err}");
}
