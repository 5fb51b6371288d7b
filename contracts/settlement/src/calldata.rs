//! Hand-written decoder of `settleBatch(UsageReport[] reports, bytes[] signatures)`.
//!
//! The SDK's generic ABI decoder for a dynamic array of 10-field tuples plus `bytes[]`
//! came to ~15 KB of wasm, more than half of what kept this contract over Stylus's 24 KiB
//! limit. The layout is fixed and simple, so it is read here directly, strictly: every
//! offset and length must lie inside the calldata and every narrow field (address,
//! uint64, uint16) must have clean high bits, as Solidity's decoder requires; anything
//! else is refused whole (the relayer sent garbage, not a bad report).

use alloc::vec::Vec;
use alloy_primitives::{Address, B256, U256};
use contracts_common::usage_report::UsageReport;

/// `settleBatch((uint256,address,bytes32,uint64,uint64,uint64,uint64,uint16,bytes32,uint256)[],bytes[])`
pub const SETTLE_BATCH: [u8; 4] = stylus_sdk::function_selector!(
    "settleBatch",
    Vec<(U256, Address, B256, u64, u64, u64, u64, u16, B256, U256)>,
    Vec<stylus_sdk::abi::Bytes>
);

/// The Solidity declaration behind the selector above, for the generated interface
/// (`UsageReport` is the EIP-712 struct; its tuple type is what the selector hashes).
pub const SETTLE_BATCH_SOL: &str = "struct UsageReport { uint256 jobId; address provider; bytes32 gpuUuidHash; uint64 startTs; uint64 endTs; uint64 gpuSeconds; uint64 energyMilliJoules; uint16 avgUtilBps; bytes32 evidenceDigest; uint256 nonce; } function settleBatch(UsageReport[] calldata reports, bytes[] calldata signatures) external returns (uint256 settled);";

/// Words per report (a static tuple is encoded inline).
const REPORT_WORDS: usize = 10;

/// Reads word `i` of `data` (0-based, 32-byte aligned from the start of `data`).
fn word(data: &[u8], at: usize) -> Option<&[u8]> {
    data.get(at..at.checked_add(32)?)
}

/// `Some` if `len` bytes from `at` lie inside `data`.
fn present(data: &[u8], at: usize, len: usize) -> Option<()> {
    (data.len() >= at.checked_add(len)?).then_some(())
}

/// A word that must fit in `bytes` low-order bytes; returns it as a usize-safe u64.
fn narrow(w: &[u8], bytes: usize) -> Option<u64> {
    if w[..32 - bytes].iter().any(|b| *b != 0) {
        return None;
    }
    let mut v = 0u64;
    for b in &w[32 - bytes.min(8)..] {
        v = (v << 8) | *b as u64;
    }
    Some(v)
}

/// An offset or length: a small number that must fit in memory.
fn small(w: &[u8]) -> Option<usize> {
    narrow(w, 4).map(|v| v as usize)
}

fn address(w: &[u8]) -> Option<Address> {
    w[..12].iter().all(|b| *b == 0).then(|| Address::from_slice(&w[12..]))
}

/// Decodes the arguments (calldata without the selector) into reports and signatures.
/// `None` if the encoding is malformed.
pub fn decode(args: &[u8]) -> Option<(Vec<UsageReport>, Vec<&[u8]>)> {
    let reports_at = small(word(args, 0)?)?;
    let sigs_at = small(word(args, 32)?)?;
    let n = small(word(args, reports_at)?)?;
    let base = reports_at.checked_add(32)?;
    // The whole array must be present before anything is allocated for it.
    present(args, base, n.checked_mul(REPORT_WORDS * 32)?)?;
    let mut reports = Vec::with_capacity(n);
    for i in 0..n {
        let at = base + i * REPORT_WORDS * 32;
        let w = |k: usize| word(args, at + k * 32);
        reports.push(UsageReport {
            job_id: U256::from_be_slice(w(0)?),
            provider: address(w(1)?)?,
            gpu_uuid_hash: B256::from_slice(w(2)?),
            start_ts: narrow(w(3)?, 8)?,
            end_ts: narrow(w(4)?, 8)?,
            gpu_seconds: narrow(w(5)?, 8)?,
            energy_milli_joules: narrow(w(6)?, 8)?,
            avg_util_bps: narrow(w(7)?, 2)? as u16,
            evidence_digest: B256::from_slice(w(8)?),
            nonce: U256::from_be_slice(w(9)?),
        });
    }
    let m = small(word(args, sigs_at)?)?;
    let heads = sigs_at.checked_add(32)?;
    present(args, heads, m.checked_mul(32)?)?;
    let mut sigs = Vec::with_capacity(m);
    for i in 0..m {
        let at = heads.checked_add(small(word(args, heads + i * 32)?)?)?;
        let len = small(word(args, at)?)?;
        let from = at.checked_add(32)?;
        sigs.push(args.get(from..from.checked_add(len)?)?);
    }
    Some((reports, sigs))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloy_primitives::Bytes;
    use alloy_sol_types::{sol, SolCall};
    use proptest::prelude::*;

    sol! {
        #[derive(Debug, Default, PartialEq)]
        struct Report {
            uint256 jobId; address provider; bytes32 gpuUuidHash; uint64 startTs; uint64 endTs;
            uint64 gpuSeconds; uint64 energyMilliJoules; uint16 avgUtilBps; bytes32 evidenceDigest; uint256 nonce;
        }
        function settleBatch(Report[] reports, bytes[] signatures) external returns (uint256 settled);
    }

    fn report_strategy() -> impl Strategy<Value = Report> {
        (
            any::<[u8; 32]>(),
            any::<[u8; 20]>(),
            any::<[u8; 32]>(),
            any::<(u64, u64, u64, u64, u16)>(),
            any::<[u8; 32]>(),
            any::<[u8; 32]>(),
        )
            .prop_map(|(j, p, g, (a, b, c, d, e), ev, n)| Report {
                jobId: U256::from_be_bytes(j),
                provider: Address::from(p),
                gpuUuidHash: B256::from(g),
                startTs: a,
                endTs: b,
                gpuSeconds: c,
                energyMilliJoules: d,
                avgUtilBps: e,
                evidenceDigest: B256::from(ev),
                nonce: U256::from_be_bytes(n),
            })
    }

    #[test]
    fn selector_matches_solidity() {
        assert_eq!(SETTLE_BATCH, settleBatchCall::SELECTOR);
        assert_eq!(
            alloy_primitives::keccak256("settleBatch((uint256,address,bytes32,uint64,uint64,uint64,uint64,uint16,bytes32,uint256)[],bytes[])")[..4],
            SETTLE_BATCH
        );
    }

    #[test]
    fn refuses_malformed_calldata() {
        let call =
            settleBatchCall { reports: std::vec![], signatures: std::vec![Bytes::from(std::vec![1u8; 65])] };
        let data = call.abi_encode();
        assert_eq!(decode(&data[4..]).map(|(r, s)| (r.len(), s.len())), Some((0, 1)));
        // two offsets, two lengths, one element offset, one byte length and the signature's 65 bytes are needed; its padding is not read
        let needed = 6 * 32 + 65;
        for cut in 0..data.len() - 4 {
            assert_eq!(decode(&data[4..4 + cut]).is_some(), cut >= needed, "truncated at {cut}");
        }
        // a dirty address word
        let r = Report { provider: Address::repeat_byte(1), ..Default::default() };
        let mut data = settleBatchCall { reports: std::vec![r], signatures: std::vec![] }.abi_encode();
        data[4 + 32 * 3 + 32 + 11] = 1;
        assert!(decode(&data[4..]).is_none());
        // a huge length
        let mut data = settleBatchCall { reports: std::vec![], signatures: std::vec![] }.abi_encode();
        data[4 + 64 + 31] = 0xff;
        assert!(decode(&data[4..]).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Whatever alloy (Solidity's encoding) produces decodes to the same values.
        #[test]
        fn decodes_what_solidity_encodes(
            reports in proptest::collection::vec(report_strategy(), 0..5),
            sigs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 0..5),
        ) {
            let call = settleBatchCall {
                reports: reports.clone(),
                signatures: sigs.iter().cloned().map(Bytes::from).collect(),
            };
            let data = call.abi_encode();
            let (got, got_sigs) = decode(&data[4..]).expect("valid calldata decodes");
            prop_assert_eq!(got.len(), reports.len());
            for (g, r) in got.iter().zip(&reports) {
                prop_assert_eq!(
                    (g.job_id, g.provider, g.gpu_uuid_hash, g.start_ts, g.end_ts, g.gpu_seconds),
                    (r.jobId, r.provider, r.gpuUuidHash, r.startTs, r.endTs, r.gpuSeconds)
                );
                prop_assert_eq!(
                    (g.energy_milli_joules, g.avg_util_bps, g.evidence_digest, g.nonce),
                    (r.energyMilliJoules, r.avgUtilBps, r.evidenceDigest, r.nonce)
                );
            }
            let want: std::vec::Vec<&[u8]> = sigs.iter().map(|s| s.as_slice()).collect();
            prop_assert_eq!(got_sigs, want);
        }

        /// Random bytes never panic the decoder.
        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode(&data);
        }
    }
}
