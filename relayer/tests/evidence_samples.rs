//! Evidence verification against real vendor samples (see tests/data/README.md): each
//! verifies at a pinned time with the right policy and expected report data, and fails when
//! one byte changes, when bound to another report, when stale, or when the policy says no.

use market_protocol::evidence::pem_chain_to_der;
use market_protocol::EvidenceIdentity;
use relayer::evidence::nvidia::{verify_h100, NVIDIA_DEVICE_IDENTITY_ROOT_PEM};
use relayer::evidence::snp::{verify_snp, AmdProduct, SnpPolicy, SnpTcb};
use relayer::evidence::tdx::{verify_tdx, TdxMeasurement, TdxPolicy};
use relayer::evidence::{EvidenceError, Hex48};

/// 2025-06-20T06:13:20Z: inside the sample TDX collateral's validity window.
const PINNED_NOW: u64 = 1_750_400_000;
/// 2025-10-09: after the sample collateral's nextUpdate.
const AFTER_EXPIRY: u64 = 1_760_000_000;

fn hex64(s: &str) -> [u8; 64] {
    hex::decode(s).unwrap().try_into().unwrap()
}

// ---------- Intel TDX ----------

const TDX_QUOTE: &[u8] = include_bytes!("data/tdx_quote.bin");
const TDX_MRTD: &str =
    "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7";
const TDX_RTMR0: &str =
    "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0";
const TDX_REPORT_DATA: &str = "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20";

fn tdx_collateral() -> dcap_qvl::QuoteCollateralV3 {
    serde_json::from_slice(include_bytes!("data/tdx_quote_collateral.json")).unwrap()
}

fn tdx_policy() -> TdxPolicy {
    TdxPolicy {
        allowed_tcb_statuses: vec!["UpToDate".into()],
        allowed_measurements: vec![TdxMeasurement {
            mrtd: TDX_MRTD.parse().unwrap(),
            rtmr: [Some(TDX_RTMR0.parse().unwrap()), None, None, None],
        }],
        allow_debug: false,
    }
}

#[test]
fn tdx_sample_verifies_at_pinned_time_and_yields_its_identity() {
    let id = verify_tdx(&tdx_policy(), TDX_QUOTE, &tdx_collateral(), &hex64(TDX_REPORT_DATA), PINNED_NOW)
        .expect("sample quote verifies");
    let EvidenceIdentity::Tdx { mrtd, rtmr } = &id else { panic!("expected a TDX identity, got {id:?}") };
    assert_eq!(hex::encode(mrtd), TDX_MRTD);
    assert_eq!(hex::encode(rtmr[0]), TDX_RTMR0);
    // The identity is the one the shared crate reads from the same quote.
    assert_eq!(id, EvidenceIdentity::from_tdx_quote(TDX_QUOTE).unwrap());
}

#[test]
fn tdx_one_byte_changed_in_the_signed_quote_fails() {
    let collateral = tdx_collateral();
    let policy = tdx_policy();
    // Every third byte of the header (48) and TD report body (584) that the attestation key
    // signs, plus the signature, the attestation key and the QE report after them.
    let positions: Vec<usize> = (0..632).step_by(3).chain([631, 640, 700, 800, 1000, 1200]).collect();
    for i in positions {
        let mut q = TDX_QUOTE.to_vec();
        q[i] ^= 0x01;
        let r = verify_tdx(&policy, &q, &collateral, &hex64(TDX_REPORT_DATA), PINNED_NOW);
        assert!(r.is_err(), "quote with byte {i} flipped was accepted");
    }
}

#[test]
fn tdx_bound_to_another_report_is_foreign() {
    let mut other = hex64(TDX_REPORT_DATA);
    other[63] ^= 1;
    let err = verify_tdx(&tdx_policy(), TDX_QUOTE, &tdx_collateral(), &other, PINNED_NOW).unwrap_err();
    assert!(matches!(err, EvidenceError::Foreign(_)), "{err}");
}

#[test]
fn tdx_with_expired_collateral_is_stale() {
    let err = verify_tdx(&tdx_policy(), TDX_QUOTE, &tdx_collateral(), &hex64(TDX_REPORT_DATA), AFTER_EXPIRY)
        .unwrap_err();
    assert!(matches!(err, EvidenceError::Stale(_)), "{err}");
}

#[test]
fn tdx_policy_rejects_unlisted_tcb_status_mrtd_and_rtmr() {
    let rd = hex64(TDX_REPORT_DATA);
    let c = tdx_collateral();

    let mut p = tdx_policy();
    p.allowed_tcb_statuses = vec!["SWHardeningNeeded".into()];
    let err = verify_tdx(&p, TDX_QUOTE, &c, &rd, PINNED_NOW).unwrap_err();
    assert!(matches!(&err, EvidenceError::Policy(m) if m.contains("TCB status UpToDate")), "{err}");

    let mut p = tdx_policy();
    p.allowed_measurements[0].mrtd.0[0] ^= 1;
    let err = verify_tdx(&p, TDX_QUOTE, &c, &rd, PINNED_NOW).unwrap_err();
    assert!(matches!(&err, EvidenceError::Policy(m) if m.contains("MRTD")), "{err}");

    let mut p = tdx_policy();
    p.allowed_measurements[0].rtmr[3] = Some(Hex48([0xFF; 48]));
    let err = verify_tdx(&p, TDX_QUOTE, &c, &rd, PINNED_NOW).unwrap_err();
    assert!(matches!(err, EvidenceError::Policy(_)), "{err}");

    let mut p = tdx_policy();
    p.allowed_measurements.clear();
    assert!(verify_tdx(&p, TDX_QUOTE, &c, &rd, PINNED_NOW).is_err(), "empty allow-list accepts none");
}

// ---------- AMD SEV-SNP ----------

const SNP_MEASUREMENT: &str =
    "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";
const SNP_REPORT_DATA: &str = "d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd";
const SNP_VCEK: &[u8] = include_bytes!("data/snp_vcek_milan.der");

fn snp_report() -> Vec<u8> {
    hex::decode(include_str!("data/snp_report_milan.hex").trim()).unwrap()
}

fn snp_policy() -> SnpPolicy {
    SnpPolicy {
        products: vec![AmdProduct::Milan],
        allowed_measurements: vec![SNP_MEASUREMENT.parse().unwrap()],
        min_tcb: SnpTcb { bootloader: 3, tee: 0, snp: 8, microcode: 115 },
        allow_debug: false,
        allow_migration_agent: false,
        allow_smt: true,
        max_vmpl: 0,
    }
}

#[test]
fn snp_sample_verifies_against_amd_milan_roots() {
    let report = snp_report();
    let id = verify_snp(&snp_policy(), &report, SNP_VCEK, &hex64(SNP_REPORT_DATA)).expect("sample verifies");
    assert_eq!(id, EvidenceIdentity::from_snp_report(&report).unwrap());
    let EvidenceIdentity::SevSnp { measurement, .. } = id else { panic!("expected SNP identity") };
    assert_eq!(hex::encode(measurement), SNP_MEASUREMENT);
}

#[test]
fn snp_one_byte_changed_anywhere_fails() {
    let report = snp_report();
    let policy = snp_policy();
    for i in 0..report.len() {
        let mut r = report.clone();
        r[i] ^= 0x01;
        assert!(
            verify_snp(&policy, &r, SNP_VCEK, &hex64(SNP_REPORT_DATA)).is_err(),
            "report with byte {i:#x} flipped was accepted"
        );
    }
}

#[test]
fn snp_vcek_changed_or_from_wrong_product_fails() {
    let report = snp_report();
    let mut vcek = SNP_VCEK.to_vec();
    let n = vcek.len();
    vcek[n - 10] ^= 0x01; // inside the ASK's signature over the VCEK
    let err = verify_snp(&snp_policy(), &report, &vcek, &hex64(SNP_REPORT_DATA)).unwrap_err();
    assert!(matches!(err, EvidenceError::Invalid(_) | EvidenceError::Malformed(_)), "{err}");

    let mut p = snp_policy();
    p.products = vec![AmdProduct::Genoa];
    let err = verify_snp(&p, &report, SNP_VCEK, &hex64(SNP_REPORT_DATA)).unwrap_err();
    assert!(matches!(err, EvidenceError::Invalid(_)), "{err}");
}

#[test]
fn snp_bound_to_another_report_is_foreign() {
    let mut other = hex64(SNP_REPORT_DATA);
    other[0] ^= 1;
    let err = verify_snp(&snp_policy(), &snp_report(), SNP_VCEK, &other).unwrap_err();
    assert!(matches!(err, EvidenceError::Foreign(_)), "{err}");
}

#[test]
fn snp_policy_checks_measurement_tcb_and_smt() {
    let report = snp_report();
    let rd = hex64(SNP_REPORT_DATA);

    let mut p = snp_policy();
    p.allowed_measurements = vec![Hex48([0; 48])];
    let err = verify_snp(&p, &report, SNP_VCEK, &rd).unwrap_err();
    assert!(matches!(&err, EvidenceError::Policy(m) if m.contains("measurement")), "{err}");

    let mut p = snp_policy();
    p.min_tcb.microcode = 116;
    let err = verify_snp(&p, &report, SNP_VCEK, &rd).unwrap_err();
    assert!(matches!(&err, EvidenceError::Policy(m) if m.contains("TCB")), "{err}");

    let mut p = snp_policy();
    p.allow_smt = false;
    let err = verify_snp(&p, &report, SNP_VCEK, &rd).unwrap_err();
    assert!(matches!(&err, EvidenceError::Policy(m) if m.contains("SMT")), "{err}");
}

// ---------- NVIDIA H100 ----------

const H100_NONCE: &str = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb";

fn h100_report() -> Vec<u8> {
    hex::decode(include_str!("data/h100_attestation_report.hex").trim()).unwrap()
}

fn h100_chain() -> Vec<Vec<u8>> {
    pem_chain_to_der(include_str!("data/h100_cert_chain.pem")).unwrap()
}

fn h100_nonce() -> [u8; 32] {
    hex::decode(H100_NONCE).unwrap().try_into().unwrap()
}

#[test]
fn h100_sample_verifies_to_the_pinned_nvidia_root() {
    let chain = h100_chain();
    assert_eq!(chain.len(), 5);
    let id = verify_h100(&h100_report(), &chain, NVIDIA_DEVICE_IDENTITY_ROOT_PEM, &h100_nonce(), PINNED_NOW)
        .expect("sample verifies");
    assert_eq!(id, EvidenceIdentity::from_nvidia_leaf_cert(&chain[0]));
    // The pinned root in src/ is the one NVIDIA ships with its verifier.
    assert_eq!(NVIDIA_DEVICE_IDENTITY_ROOT_PEM, include_str!("data/nvidia_device_identity_root.pem"));
}

#[test]
fn h100_one_byte_changed_in_report_fails() {
    let report = h100_report();
    let (chain, nonce) = (h100_chain(), h100_nonce());
    for i in (0..report.len()).step_by(37).chain([1, 4, 36, 37, report.len() - 96, report.len() - 1]) {
        let mut r = report.clone();
        r[i] ^= 0x01;
        let res = verify_h100(&r, &chain, NVIDIA_DEVICE_IDENTITY_ROOT_PEM, &nonce, PINNED_NOW);
        assert!(res.is_err(), "report with byte {i} flipped was accepted");
    }
}

#[test]
fn h100_chain_tampered_truncated_or_to_another_root_fails() {
    let (report, nonce) = (h100_report(), h100_nonce());
    let chain = h100_chain();
    for cert in 0..chain.len() {
        let mut c = chain.clone();
        let n = c[cert].len();
        c[cert][n - 5] ^= 0x01; // inside the certificate's signature
        let res = verify_h100(&report, &c, NVIDIA_DEVICE_IDENTITY_ROOT_PEM, &nonce, PINNED_NOW);
        assert!(res.is_err(), "chain with certificate {cert} tampered was accepted");
    }
    // Without the intermediates the leaf cannot reach the root.
    let res = verify_h100(&report, &chain[..1], NVIDIA_DEVICE_IDENTITY_ROOT_PEM, &nonce, PINNED_NOW);
    assert!(matches!(res, Err(EvidenceError::Invalid(_))), "{res:?}");
    // A chain that ends in a root other than the pinned one (here: its own intermediate).
    let other_root = pem_of(&chain[3]);
    let res = verify_h100(&report, &chain, &other_root, &nonce, PINNED_NOW);
    assert!(res.is_err(), "chain accepted against a different root");
}

#[test]
fn h100_with_another_nonce_is_foreign_and_before_validity_is_stale() {
    let (report, chain) = (h100_report(), h100_chain());
    let mut nonce = h100_nonce();
    nonce[31] ^= 1;
    let err = verify_h100(&report, &chain, NVIDIA_DEVICE_IDENTITY_ROOT_PEM, &nonce, PINNED_NOW).unwrap_err();
    assert!(matches!(err, EvidenceError::Foreign(_)), "{err}");
    // 2019: before the certificates' notBefore.
    let err = verify_h100(&report, &chain, NVIDIA_DEVICE_IDENTITY_ROOT_PEM, &h100_nonce(), 1_560_000_000)
        .unwrap_err();
    assert!(matches!(err, EvidenceError::Stale(_)), "{err}");
}

fn pem_of(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
}

mod garbage {
    //! Bad input never crashes a verifier: truncated and scrambled samples give errors.
    use super::*;
    use proptest::prelude::*;

    fn mangle(sample: &[u8], cut: usize, flips: &[(usize, u8)]) -> Vec<u8> {
        let mut v = sample[..cut.min(sample.len())].to_vec();
        for (at, x) in flips {
            if !v.is_empty() {
                let i = at % v.len();
                v[i] ^= x | 1;
            }
        }
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn mangled_evidence_is_an_error_not_a_panic(
            cut in 0usize..6000,
            flips in proptest::collection::vec((0usize..6000, any::<u8>()), 1..4),
        ) {
            // dcap-qvl tolerates changes to bytes no signature covers (PEM line breaks and the
            // embedded copy of Intel's root in the certification data: the pinned root is
            // used instead). Whatever it accepts must prove exactly what the original proves.
            let q = mangle(TDX_QUOTE, cut, &flips);
            let original = EvidenceIdentity::from_tdx_quote(TDX_QUOTE).unwrap();
            if let Ok(id) = verify_tdx(&tdx_policy(), &q, &tdx_collateral(), &hex64(TDX_REPORT_DATA), PINNED_NOW) {
                prop_assert_eq!(&id, &original);
                prop_assert_eq!(&q[..632], &TDX_QUOTE[..632]);
            }
            let r = mangle(&snp_report(), cut, &flips);
            prop_assert!(verify_snp(&snp_policy(), &r, SNP_VCEK, &hex64(SNP_REPORT_DATA)).is_err());
            let h = mangle(&h100_report(), cut, &flips);
            let res = verify_h100(&h, &h100_chain(), NVIDIA_DEVICE_IDENTITY_ROOT_PEM, &h100_nonce(), PINNED_NOW);
            prop_assert!(res.is_err());
        }
    }
}
