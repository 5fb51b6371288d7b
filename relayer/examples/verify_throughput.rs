//! Throughput of report verification, printed as a table:
//! - signature only: parse the wire JSON, recover the EIP-712 signer, compare with the key;
//! - with a TDX quote: the same plus dcap-qvl verification of the sample TDX quote (Intel
//!   signature chain, collateral, TCB) and the relayer's policy checks.
//!
//! Run: `cargo run -p relayer --release --example verify_throughput [-- N]`
//! (single thread; numbers scale with cores since reports are independent).

use std::time::Instant;

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{keccak256, Address, B256, U256};
use market_protocol::{Evidence, EvidenceKind, MarketDomain, SignedReport, UsageReport};
use relayer::evidence::tdx::{verify_tdx, TdxMeasurement, TdxPolicy};

const TDX_QUOTE: &[u8] = include_bytes!("../tests/data/tdx_quote.bin");
const TDX_COLLATERAL: &[u8] = include_bytes!("../tests/data/tdx_quote_collateral.json");
/// Inside the sample collateral's validity window.
const PINNED_NOW: u64 = 1_750_400_000;

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let domain = MarketDomain::new(412346, Address::repeat_byte(0x11));
    let signer = PrivateKeySigner::from_bytes(&B256::repeat_byte(1)).expect("fixed key");
    let bodies: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let report = UsageReport {
                jobId: U256::from(i),
                provider: signer.address(),
                gpuUuidHash: keccak256("GPU-0"),
                startTs: 0,
                endTs: 600,
                gpuSeconds: 600,
                energyMilliJoules: 1,
                avgUtilBps: 9_000,
                evidenceDigest: B256::ZERO,
                nonce: U256::from(i),
            };
            let signature = report.sign(&domain, &signer).expect("sign");
            let evidence =
                vec![Evidence { kind: EvidenceKind::Tdx, data: TDX_QUOTE.to_vec(), cert_chain: None }];
            SignedReport { domain, report, signature, evidence }.to_json()
        })
        .collect();

    let collateral: dcap_qvl::QuoteCollateralV3 = serde_json::from_slice(TDX_COLLATERAL).expect("collateral");
    let quote = dcap_qvl::quote::Quote::parse(TDX_QUOTE).expect("quote");
    let td = quote.report.as_td10().expect("TDX quote");
    let policy = TdxPolicy {
        allowed_tcb_statuses: vec!["UpToDate".into()],
        allowed_measurements: vec![TdxMeasurement {
            mrtd: relayer::evidence::Hex48(td.mr_td),
            rtmr: [None; 4],
        }],
        allow_debug: false,
    };
    let report_data = td.report_data;

    let check_signature = |body: &[u8]| {
        let r = SignedReport::from_json(body).expect("parse");
        assert_eq!(r.signer().expect("recover"), signer.address());
        r
    };

    let t = Instant::now();
    for b in &bodies {
        check_signature(b);
    }
    let sig_secs = t.elapsed().as_secs_f64();

    let tdx_n = (n / 10).max(50);
    let t = Instant::now();
    for b in bodies.iter().take(tdx_n) {
        let r = check_signature(b);
        verify_tdx(&policy, &r.evidence[0].data, &collateral, &report_data, PINNED_NOW)
            .expect("tdx verifies");
    }
    let tdx_secs = t.elapsed().as_secs_f64();

    println!("| path | reports | seconds | reports/s (1 thread) |");
    println!("| --- | ---: | ---: | ---: |");
    println!("| signature only | {n} | {sig_secs:.3} | {:.0} |", n as f64 / sig_secs);
    println!("| signature + TDX quote | {tdx_n} | {tdx_secs:.3} | {:.0} |", tdx_n as f64 / tdx_secs);
}
