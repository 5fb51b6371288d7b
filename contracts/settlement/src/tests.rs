//! Native tests through `contract_testkit::TestHost`: the market, registry, vault, court
//! and AMM are mocked for their exact calldata (an unmocked call reverts), signatures are
//! real secp256k1 (k256) and the `ecrecover` precompile answers what the real one would.

use super::*;
use alloy_primitives::{address, b256, keccak256, Address, Bytes, B256, U256};
use alloy_sol_types::{eip712_domain, sol, SolCall, SolEvent, SolStruct, SolValue};
use contract_testkit::{CallKind, TestHost};
use k256::ecdsa::SigningKey;
use proptest::prelude::*;
use stylus_sdk::testing::*;

mod properties;

/// The market of the shared vectors (abi/vectors/usage-report.json) is the verifying contract.
const MARKET: Address = address!("5FbDB2315678afecb367f032d93F642f64180aa3");
const SETTLEMENT: Address = address!("6000000000000000000000000000000000000006");
const REGISTRY: Address = address!("4000000000000000000000000000000000000004");
const VAULT: Address = address!("2000000000000000000000000000000000000002");
const OWNER: Address = address!("a000000000000000000000000000000000000001");
const GUARDIAN: Address = address!("a000000000000000000000000000000000000002");
const RELAYER: Address = address!("a000000000000000000000000000000000000003");
const PROVIDER: Address = address!("b000000000000000000000000000000000000001");
const BUYER: Address = address!("c000000000000000000000000000000000000001");

const CHAIN: u64 = 412346;
const PER_SECOND: u64 = 1_000;
const MAX_DELAY: u64 = 50_000;
const GPUS: u64 = 2;
const ACCEPTED_AT: u64 = 10_000;
const NOW: u64 = 20_000;
const ESCROW: u64 = 5_000;
/// The provider's signing key (not its account key): seed 0x11.
const KEY_SEED: u8 = 0x11;

sol! {
    struct UsageReport {
        uint256 jobId; address provider; bytes32 gpuUuidHash; uint64 startTs; uint64 endTs;
        uint64 gpuSeconds; uint64 energyMilliJoules; uint16 avgUtilBps; bytes32 evidenceDigest; uint256 nonce;
    }
    interface Market {
        function job(uint256 jobId) external view returns (address, address, bytes32, uint256, bytes32, uint64, uint64, uint64, uint8);
        function settleUsage(uint256 jobId, uint256 gpuSeconds, bool isFinal) external returns (uint256, uint256);
        function refundJob(uint256 jobId) external returns (uint256);
    }
    interface Registry {
        function isRelayer(address relayer) external view returns (bool);
        function classInfo(bytes32 classId) external view returns (address, uint256, uint64, uint64, uint8, uint256, bool, uint256);
        function providerInfo(bytes32 classId, address provider) external view returns (bool, address, bytes32, uint64);
        function gpuOwner(bytes32 gpuUuidHash) external view returns (address);
    }
    interface Vault {
        function slash(address operator, uint256 amount, bytes32 evidenceHash, address beneficiary, uint256 compensation) external returns (uint256);
    }
    function settleBatch(UsageReport[] reports, bytes[] signatures) external returns (uint256 settled);
}

fn u(x: u64) -> U256 {
    U256::from(x)
}

fn class() -> B256 {
    keccak256("H100-SXM5-80GB")
}

fn gpu() -> B256 {
    keccak256("GPU-0000-aaaa")
}

fn evidence() -> B256 {
    keccak256("evidence")
}

fn key(seed: u8) -> (SigningKey, Address) {
    let key = SigningKey::from_bytes(&[seed; 32].into()).unwrap();
    let point = key.verifying_key().to_encoded_point(false);
    let address = Address::from_slice(&keccak256(&point.as_bytes()[1..])[12..]);
    (key, address)
}

fn host() -> TestHost {
    let h = TestHost::new(TestVMBuilder::new().contract_address(SETTLEMENT).sender(OWNER).build());
    h.set_chain_id(CHAIN);
    h.set_block_timestamp(NOW);
    h
}

/// A report of job 1 by PROVIDER on `gpu()`.
fn report(start: u64, end: u64, gpu_seconds: u64, nonce: u64) -> UsageReport {
    UsageReport {
        jobId: u(1),
        provider: PROVIDER,
        gpuUuidHash: gpu(),
        startTs: start,
        endTs: end,
        gpuSeconds: gpu_seconds,
        energyMilliJoules: 1_234,
        avgUtilBps: 9_000,
        evidenceDigest: evidence(),
        nonce: u(nonce),
    }
}

/// The EIP-712 digest, computed with alloy (independently of the contract).
fn digest_of(r: &UsageReport, chain_id: u64, market: Address) -> B256 {
    let domain = eip712_domain! { name: "GpuComputeMarket", version: "1", chain_id: chain_id, verifying_contract: market, };
    r.eip712_signing_hash(&domain)
}

/// Makes ecrecover answer what the real precompile answers for this input.
fn mock_precompile(h: &TestHost, digest: B256, sig: &[u8]) {
    let (r, s, v) = (B256::from_slice(&sig[..32]), B256::from_slice(&sig[32..64]), sig[64]);
    let recovered = k256::ecdsa::Signature::from_scalars(r.0, s.0).ok().and_then(|sg| {
        let id = k256::ecdsa::RecoveryId::from_byte(v.wrapping_sub(27))?;
        k256::ecdsa::VerifyingKey::recover_from_prehash(digest.as_slice(), &sg, id).ok()
    });
    let out = recovered.map_or(Vec::new(), |k| {
        let point = k.to_encoded_point(false);
        Address::from_slice(&keccak256(&point.as_bytes()[1..])[12..]).into_word().to_vec()
    });
    h.mock_static_call(
        contracts_common::ecdsa::ECRECOVER,
        contracts_common::ecdsa::ecrecover_input(digest, v, r, s).to_vec(),
        Ok(out),
    );
}

/// Signs `r` for `chain_id`/`market` with key `seed` (r ‖ s ‖ v), mocking the precompile.
fn sign_with(h: &TestHost, r: &UsageReport, seed: u8, chain_id: u64, market: Address) -> Bytes {
    let digest = digest_of(r, chain_id, market);
    let (sk, _) = key(seed);
    let (sig, recid) = sk.sign_prehash_recoverable(digest.as_slice()).unwrap();
    let mut out = sig.to_bytes().to_vec();
    out.push(27 + recid.to_byte());
    // the contract checks against its own digest: mock for that one
    mock_precompile(h, digest_of(r, CHAIN, MARKET), &out);
    Bytes::from(out)
}

fn sign(h: &TestHost, r: &UsageReport) -> Bytes {
    sign_with(h, r, KEY_SEED, CHAIN, MARKET)
}

fn job_is(h: &TestHost, job_id: U256, provider: Address, escrow: u64, st: u8) {
    let view =
        (BUYER, provider, class(), u(escrow), keccak256("spec"), 1u64, 600u64, ACCEPTED_AT, U256::from(st));
    h.mock_static_call(MARKET, Market::jobCall { jobId: job_id }.abi_encode(), Ok(view.abi_encode_params()));
}

/// The registry knows the class, the relayer, the provider (signing key KEY_SEED, 2 GPUs)
/// and its GPU.
fn registry_knows(h: &TestHost) {
    h.mock_static_call(
        REGISTRY,
        Registry::isRelayerCall { relayer: RELAYER }.abi_encode(),
        Ok(true.abi_encode()),
    );
    let info =
        (Address::repeat_byte(0x10), u(PER_SECOND), 600u64, MAX_DELAY, U256::from(15), u(0), true, u(1));
    h.mock_static_call(
        REGISTRY,
        Registry::classInfoCall { classId: class() }.abi_encode(),
        Ok(info.abi_encode_params()),
    );
    h.mock_static_call(
        REGISTRY,
        Registry::providerInfoCall { classId: class(), provider: PROVIDER }.abi_encode(),
        Ok((true, key(KEY_SEED).1, evidence(), GPUS).abi_encode_params()),
    );
    h.mock_static_call(
        REGISTRY,
        Registry::gpuOwnerCall { gpuUuidHash: gpu() }.abi_encode(),
        Ok(PROVIDER.abi_encode()),
    );
}

fn settlement(h: &TestHost) -> Settlement {
    let mut s = Settlement::from(h);
    h.set_sender(OWNER);
    s.constructor(OWNER, MARKET, REGISTRY, VAULT).unwrap();
    s.set_guardian(GUARDIAN).unwrap();
    registry_knows(h);
    job_is(h, u(1), PROVIDER, ESCROW, status::ACCEPTED);
    s
}

/// The market settles `gpu_seconds` of job `id` as a real market would with `escrow` left.
fn market_settles(h: &TestHost, id: U256, gpu_seconds: u64, is_final: bool, escrow: u64) {
    let burned = gpu_seconds.min(escrow);
    let refunded = if is_final || burned == escrow { escrow - burned } else { 0 };
    h.mock_call(
        MARKET,
        Market::settleUsageCall { jobId: id, gpuSeconds: u(gpu_seconds), isFinal: is_final }.abi_encode(),
        U256::ZERO,
        Ok((u(burned), u(refunded)).abi_encode_params()),
    );
}

#[derive(Debug, PartialEq)]
enum Seen {
    Settled(U256, u64, u64),
    Skipped(U256, u8),
}

/// The ReportSettled / ReportSkipped events emitted since `from`, in order.
fn outcomes(h: &TestHost, from: usize) -> Vec<Seen> {
    h.get_emitted_logs()
        .into_iter()
        .skip(from)
        .filter_map(|(topics, data)| {
            if topics[0] == ReportSettled::SIGNATURE_HASH {
                let e = ReportSettled::decode_raw_log(topics.iter().copied(), &data).unwrap();
                Some(Seen::Settled(e.nonce, e.gpuSecondsBurned, e.secondsRefunded))
            } else if topics[0] == ReportSkipped::SIGNATURE_HASH {
                let e = ReportSkipped::decode_raw_log(topics.iter().copied(), &data).unwrap();
                Some(Seen::Skipped(e.nonce, e.reason))
            } else {
                None
            }
        })
        .collect()
}

/// Calls `settleBatch` as a relayer would: ABI-encoded by alloy, through the fallback.
fn call_batch(
    s: &mut Settlement,
    reports: Vec<UsageReport>,
    sigs: Vec<Bytes>,
) -> Result<U256, SettlementError> {
    let data = settleBatchCall { reports, signatures: sigs }.abi_encode();
    match s.fallback(&data) {
        Ok(out) => Ok(U256::from_be_slice(&out)),
        Err(e) => Err(decode_error(e)),
    }
}

/// Our errors from revert data (for assertions).
fn decode_error(data: Vec<u8>) -> SettlementError {
    use alloy_sol_types::SolError;
    macro_rules! try_decode {
        ($($name:ident),*) => {$(
            if let Ok(e) = $name::abi_decode(&data) { return SettlementError::$name(e); }
        )*};
    }
    try_decode!(NotRelayer, LengthMismatch, EnforcedPause, MalformedCalldata, UnknownSelector);
    SettlementError::Bubbled(data)
}

fn settle(
    h: &TestHost,
    s: &mut Settlement,
    entries: &[(UsageReport, Bytes)],
) -> (Result<U256, SettlementError>, Vec<Seen>) {
    let from = h.get_emitted_logs().len();
    h.set_sender(RELAYER);
    let reports = entries.iter().map(|(r, _)| r.clone()).collect();
    let sigs = entries.iter().map(|(_, g)| g.clone()).collect();
    let res = call_batch(s, reports, sigs);
    (res, outcomes(h, from))
}

/// Settles one report and returns its outcome.
fn settle_one(h: &TestHost, s: &mut Settlement, r: UsageReport, sig: Bytes) -> Seen {
    let (res, mut seen) = settle(h, s, &[(r, sig)]);
    res.unwrap();
    assert_eq!(seen.len(), 1, "exactly one outcome event per entry");
    seen.remove(0)
}

fn market_calls(h: &TestHost) -> Vec<Vec<u8>> {
    h.calls().into_iter().filter(|c| c.kind == CallKind::Call && c.to == MARKET).map(|c| c.data).collect()
}

// ----- access -----

#[test]
fn constructor_rejects_zero_addresses() {
    let h = host();
    let mut s = Settlement::from(&h);
    for i in 0..4 {
        let mut a = [OWNER, MARKET, REGISTRY, VAULT];
        a[i] = Address::ZERO;
        assert_eq!(s.constructor(a[0], a[1], a[2], a[3]), Err(SettlementError::ZeroAddress(ZeroAddress {})));
    }
    s.constructor(OWNER, MARKET, REGISTRY, VAULT).unwrap();
    assert_eq!(s.config(), (MARKET, REGISTRY, VAULT));
}

#[test]
fn only_relayers_settle_and_lengths_must_match() {
    let h = host();
    let mut s = settlement(&h);
    let r = report(ACCEPTED_AT, ACCEPTED_AT + 100, 100, 1);
    let sig = sign(&h, &r);
    h.mock_static_call(
        REGISTRY,
        Registry::isRelayerCall { relayer: BUYER }.abi_encode(),
        Ok(false.abi_encode()),
    );
    h.set_sender(BUYER);
    assert_eq!(
        call_batch(&mut s, vec![r.clone()], vec![sig.clone()]),
        Err(SettlementError::NotRelayer(NotRelayer { caller: BUYER }))
    );
    assert!(outcomes(&h, 0).is_empty());
    h.set_sender(RELAYER);
    assert_eq!(
        call_batch(&mut s, vec![r.clone()], vec![]),
        Err(SettlementError::LengthMismatch(LengthMismatch { reports: u(1), signatures: u(0) }))
    );
    assert_eq!(call_batch(&mut s, vec![], vec![]), Ok(U256::ZERO));
    // garbage and other selectors revert whole
    assert_eq!(
        s.fallback(&[1, 2, 3]).map_err(decode_error),
        Err(SettlementError::UnknownSelector(UnknownSelector {}))
    );
    let mut data = settleBatchCall { reports: vec![r.clone()], signatures: vec![] }.abi_encode();
    data.truncate(100);
    assert_eq!(
        s.fallback(&data).map_err(decode_error),
        Err(SettlementError::MalformedCalldata(MalformedCalldata {}))
    );
    h.set_sender(GUARDIAN);
    s.pause().unwrap();
    h.set_sender(RELAYER);
    assert_eq!(call_batch(&mut s, vec![r], vec![sig]), Err(SettlementError::EnforcedPause(EnforcedPause {})));
}

// ----- settling -----

#[test]
fn a_valid_report_settles_records_provenance_and_spends_the_nonce() {
    let h = host();
    let mut s = settlement(&h);
    let r = report(ACCEPTED_AT + 10, ACCEPTED_AT + 1_010, 1_500, 7);
    let sig = sign(&h, &r);
    market_settles(&h, u(1), 1_500, false, ESCROW);
    h.take_calls();
    let (res, seen) = settle(&h, &mut s, &[(r.clone(), sig)]);
    assert_eq!(res, Ok(u(1)));
    assert_eq!(seen, vec![Seen::Settled(u(7), 1_500, 0)]);
    assert_eq!(
        market_calls(&h),
        vec![Market::settleUsageCall { jobId: u(1), gpuSeconds: u(1_500), isFinal: false }.abi_encode()]
    );
    let (topics, data) = h.get_emitted_logs().last().unwrap().clone();
    assert_eq!(
        topics,
        vec![ReportSettled::SIGNATURE_HASH, B256::from(u(1)), PROVIDER.into_word(), B256::from(u(7))]
    );
    assert_eq!(data, (1_500u64, 0u64, evidence()).abi_encode_params());
    assert!(s.nonce_used(PROVIDER, u(7)));
    assert_eq!(s.job_record(u(1)), (evidence(), NOW, u(1_500)));
}

#[test]
fn the_final_flag_refunds_the_rest() {
    let h = host();
    let mut s = settlement(&h);
    let nonce = u(3) | (U256::from(1) << 255);
    let mut r = report(ACCEPTED_AT, ACCEPTED_AT + 500, 800, 0);
    r.nonce = nonce;
    let sig = sign(&h, &r);
    market_settles(&h, u(1), 800, true, ESCROW);
    assert_eq!(settle_one(&h, &mut s, r, sig), Seen::Settled(nonce, 800, ESCROW - 800));
    assert_eq!(
        market_calls(&h).last().unwrap(),
        &Market::settleUsageCall { jobId: u(1), gpuSeconds: u(800), isFinal: true }.abi_encode()
    );
}

#[test]
fn the_shared_vector_settles_with_the_dev_key() {
    // abi/vectors/usage-report.json, vector 0: signed with the nitro dev node's well-known
    // key, whose address is the vector's provider; the contract must hash it to the
    // vector's signing digest for the (exactly mocked) ecrecover to answer.
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../../../abi/vectors/usage-report.json")).unwrap();
    let v = &doc["vectors"][0];
    let num = |k: &str| v[k].as_str().unwrap().to_string();
    let r = UsageReport {
        jobId: num("jobId").parse().unwrap(),
        provider: num("provider").parse().unwrap(),
        gpuUuidHash: num("gpuUuidHash").parse().unwrap(),
        startTs: num("startTs").parse().unwrap(),
        endTs: num("endTs").parse().unwrap(),
        gpuSeconds: num("gpuSeconds").parse().unwrap(),
        energyMilliJoules: num("energyMilliJoules").parse().unwrap(),
        avgUtilBps: num("avgUtilBps").parse().unwrap(),
        evidenceDigest: num("evidenceDigest").parse().unwrap(),
        nonce: num("nonce").parse().unwrap(),
    };
    let chain: u64 = num("chainId").parse().unwrap();
    let market: Address = num("market").parse().unwrap();
    assert_eq!((chain, market), (CHAIN, MARKET));
    let digest: B256 = num("signingDigest").parse().unwrap();
    let dev = SigningKey::from_bytes(
        &b256!("b6b15c8cb491557369f3c7d2c287b053eb229daa9c22138887752191c9520659").0.into(),
    )
    .unwrap();
    let (sig, recid) = dev.sign_prehash_recoverable(digest.as_slice()).unwrap();
    let mut bytes = sig.to_bytes().to_vec();
    bytes.push(27 + recid.to_byte());
    let h = host();
    let mut s = settlement(&h);
    mock_precompile(&h, digest, &bytes);
    let (start, end) = (r.startTs, r.endTs);
    h.set_block_timestamp(end + 60);
    let view = (
        BUYER,
        r.provider,
        class(),
        u(ESCROW),
        keccak256("spec"),
        1u64,
        600u64,
        start,
        U256::from(status::ACCEPTED),
    );
    h.mock_static_call(MARKET, Market::jobCall { jobId: r.jobId }.abi_encode(), Ok(view.abi_encode_params()));
    h.mock_static_call(
        REGISTRY,
        Registry::providerInfoCall { classId: class(), provider: r.provider }.abi_encode(),
        Ok((true, r.provider, r.evidenceDigest, 1u64).abi_encode_params()),
    );
    h.mock_static_call(
        REGISTRY,
        Registry::gpuOwnerCall { gpuUuidHash: r.gpuUuidHash }.abi_encode(),
        Ok(r.provider.abi_encode()),
    );
    market_settles(&h, r.jobId, r.gpuSeconds, false, ESCROW);
    assert_eq!(settle_one(&h, &mut s, r.clone(), Bytes::from(bytes.clone())), Seen::Settled(r.nonce, 600, 0));
    // the same signature on another chain is worthless
    let h2 = host();
    h2.set_chain_id(421614);
    let mut s2 = settlement(&h2);
    mock_precompile(&h2, digest, &bytes);
    h2.set_block_timestamp(end + 60);
    h2.mock_static_call(
        MARKET,
        Market::jobCall { jobId: r.jobId }.abi_encode(),
        Ok(view.abi_encode_params()),
    );
    h2.mock_static_call(
        REGISTRY,
        Registry::providerInfoCall { classId: class(), provider: r.provider }.abi_encode(),
        Ok((true, r.provider, r.evidenceDigest, 1u64).abi_encode_params()),
    );
    assert_eq!(
        settle_one(&h2, &mut s2, r.clone(), Bytes::from(bytes)),
        Seen::Skipped(r.nonce, reason::BAD_SIGNATURE)
    );
}

#[test]
fn bad_signatures_are_skipped() {
    let h = host();
    let mut s = settlement(&h);
    let r = report(ACCEPTED_AT, ACCEPTED_AT + 100, 100, 1);
    let skipped = Seen::Skipped(u(1), reason::BAD_SIGNATURE);
    // another key
    let other = sign_with(&h, &r, 0x22, CHAIN, MARKET);
    assert_eq!(settle_one(&h, &mut s, r.clone(), other), skipped);
    // another chain, another market
    let cross_chain = sign_with(&h, &r, KEY_SEED, 421614, MARKET);
    assert_eq!(settle_one(&h, &mut s, r.clone(), cross_chain), skipped);
    let cross_market = sign_with(&h, &r, KEY_SEED, CHAIN, SETTLEMENT);
    assert_eq!(settle_one(&h, &mut s, r.clone(), cross_market), skipped);
    // malformed: short, bad v, and the high-s twin of a good signature
    let good = sign(&h, &r);
    assert_eq!(settle_one(&h, &mut s, r.clone(), Bytes::from(good[..64].to_vec())), skipped);
    let mut bad_v = good.to_vec();
    bad_v[64] = 29;
    assert_eq!(settle_one(&h, &mut s, r.clone(), Bytes::from(bad_v)), skipped);
    let n = U256::from_be_bytes(b256!("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").0);
    let s_val = U256::from_be_slice(&good[32..64]);
    let mut high = good.to_vec();
    high[32..64].copy_from_slice(&(n - s_val).to_be_bytes::<32>());
    high[64] = if good[64] == 27 { 28 } else { 27 };
    mock_precompile(&h, digest_of(&r, CHAIN, MARKET), &high); // the precompile itself would accept it
    assert_eq!(settle_one(&h, &mut s, r.clone(), Bytes::from(high)), skipped);
    // a provider that is not registered has no key
    h.mock_static_call(
        REGISTRY,
        Registry::providerInfoCall { classId: class(), provider: PROVIDER }.abi_encode(),
        Ok((false, key(KEY_SEED).1, B256::ZERO, 0u64).abi_encode_params()),
    );
    assert_eq!(settle_one(&h, &mut s, r.clone(), good), skipped);
    assert!(market_calls(&h).is_empty(), "nothing reached the market");
    assert!(!s.nonce_used(PROVIDER, u(1)));
}

#[test]
fn skip_reasons_for_job_provider_nonce_gpu_and_time() {
    let h = host();
    let mut s = settlement(&h);
    let start = ACCEPTED_AT + 100;
    // 3: unknown / open / closed job
    for st in [0u8, 1, 3, 4, 5] {
        job_is(&h, u(1), PROVIDER, ESCROW, st);
        let r = report(start, start + 10, 10, 1);
        let sig = sign(&h, &r);
        assert_eq!(settle_one(&h, &mut s, r, sig), Seen::Skipped(u(1), reason::JOB_NOT_SETTLEABLE));
    }
    job_is(&h, u(1), PROVIDER, ESCROW, status::ACCEPTED);
    // 4: the report names another provider than the job's
    let mut r = report(start, start + 10, 10, 1);
    r.provider = BUYER;
    let sig = sign(&h, &r);
    assert_eq!(settle_one(&h, &mut s, r, sig), Seen::Skipped(u(1), reason::WRONG_PROVIDER));
    // 9: a GPU that is not the provider's
    let mut r = report(start, start + 10, 10, 1);
    r.gpuUuidHash = keccak256("someone else's");
    h.mock_static_call(
        REGISTRY,
        Registry::gpuOwnerCall { gpuUuidHash: r.gpuUuidHash }.abi_encode(),
        Ok(BUYER.abi_encode()),
    );
    let sig = sign(&h, &r);
    assert_eq!(settle_one(&h, &mut s, r, sig), Seen::Skipped(u(1), reason::UNKNOWN_GPU));
    // 5: before acceptance, reversed, in the future
    for (a, b) in [(ACCEPTED_AT - 1, ACCEPTED_AT + 5), (start + 10, start + 10 - 1), (NOW - 5, NOW + 1)] {
        let r = report(a, b, 0, 1);
        let sig = sign(&h, &r);
        assert_eq!(settle_one(&h, &mut s, r, sig), Seen::Skipped(u(1), reason::OUTSIDE_JOB_WINDOW));
    }
    // 6: too late
    let r = report(start, start + 10, 10, 1);
    let sig = sign(&h, &r);
    h.set_block_timestamp(start + 10 + MAX_DELAY + 1);
    assert_eq!(settle_one(&h, &mut s, r.clone(), sig.clone()), Seen::Skipped(u(1), reason::REPORT_TOO_LATE));
    h.set_block_timestamp(start + 10 + MAX_DELAY);
    market_settles(&h, u(1), 10, false, ESCROW);
    assert_eq!(settle_one(&h, &mut s, r, sig), Seen::Settled(u(1), 10, 0));
    h.set_block_timestamp(NOW);
    // 2: the nonce again, even in a different report
    let r = report(NOW - 100, NOW - 50, 10, 1);
    let sig = sign(&h, &r);
    assert_eq!(settle_one(&h, &mut s, r, sig), Seen::Skipped(u(1), reason::NONCE_USED));
    // 5: a window before the last one settled on this GPU (out of order)
    let r = report(start - 50, start - 40, 10, 2);
    let sig = sign(&h, &r);
    assert_eq!(settle_one(&h, &mut s, r, sig), Seen::Skipped(u(2), reason::OUTSIDE_JOB_WINDOW));
    assert_eq!(market_calls(&h).len(), 1, "only the one valid report reached the market");
}

#[test]
fn one_bad_entry_does_not_stop_the_batch() {
    let h = host();
    let mut s = settlement(&h);
    let a = report(ACCEPTED_AT, ACCEPTED_AT + 100, 100, 1);
    let b = report(ACCEPTED_AT + 100, ACCEPTED_AT + 200, 150, 2);
    let c = report(ACCEPTED_AT + 200, ACCEPTED_AT + 300, 100, 3);
    let (sa, sb, sc) = (sign(&h, &a), sign_with(&h, &b, 0x22, CHAIN, MARKET), sign(&h, &c));
    market_settles(&h, u(1), 100, false, ESCROW);
    let (res, seen) = settle(&h, &mut s, &[(a.clone(), sa.clone()), (b, sb), (c, sc), (a, sa)]);
    assert_eq!(res, Ok(u(2)));
    assert_eq!(
        seen,
        vec![
            Seen::Settled(u(1), 100, 0),
            Seen::Skipped(u(2), reason::BAD_SIGNATURE),
            Seen::Settled(u(3), 100, 0),
            Seen::Skipped(u(1), reason::NONCE_USED),
        ]
    );
}

// ----- automatic slashing -----

fn expect_fault_slash(h: &TestHost, r: &UsageReport, escrow: u64) -> Vec<u8> {
    h.mock_call(
        MARKET,
        Market::refundJobCall { jobId: r.jobId }.abi_encode(),
        U256::ZERO,
        Ok(u(escrow).abi_encode()),
    );
    let amount = u(escrow.max(r.gpuSeconds) * PER_SECOND);
    let call = Vault::slashCall {
        operator: PROVIDER,
        amount,
        evidenceHash: digest_of(r, CHAIN, MARKET),
        beneficiary: BUYER,
        compensation: amount,
    }
    .abi_encode();
    h.mock_call(VAULT, call.clone(), U256::ZERO, Ok(amount.abi_encode()));
    call
}

#[test]
fn impossible_usage_slashes_the_provider_and_refunds_the_buyer() {
    let h = host();
    let mut s = settlement(&h);
    // 100 s on 2 GPUs: at most 200 GPU-seconds
    let ok = report(ACCEPTED_AT, ACCEPTED_AT + 100, 200, 1);
    let sig = sign(&h, &ok);
    market_settles(&h, u(1), 200, false, ESCROW);
    assert_eq!(settle_one(&h, &mut s, ok, sig), Seen::Settled(u(1), 200, 0));
    let r = report(ACCEPTED_AT + 100, ACCEPTED_AT + 200, 201, 2);
    let sig = sign(&h, &r);
    let slash = expect_fault_slash(&h, &r, ESCROW);
    h.take_calls();
    assert_eq!(settle_one(&h, &mut s, r.clone(), sig), Seen::Skipped(u(2), reason::IMPOSSIBLE_USAGE));
    let calls: Vec<_> = h.take_calls().into_iter().filter(|c| c.kind == CallKind::Call).collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].to, calls[0].data.clone()),
        (MARKET, Market::refundJobCall { jobId: u(1) }.abi_encode())
    );
    assert_eq!((calls[1].to, calls[1].data.clone()), (VAULT, slash));
    assert!(s.nonce_used(PROVIDER, u(2)), "the proof cannot be replayed");
}

#[test]
fn an_overlapping_second_report_is_a_conflict_and_slashes() {
    let h = host();
    let mut s = settlement(&h);
    let first = report(ACCEPTED_AT, ACCEPTED_AT + 100, 100, 1);
    let sig = sign(&h, &first);
    market_settles(&h, u(1), 100, false, ESCROW);
    assert_eq!(settle_one(&h, &mut s, first, sig), Seen::Settled(u(1), 100, 0));
    // back-to-back is fine
    let next = report(ACCEPTED_AT + 100, ACCEPTED_AT + 150, 50, 2);
    let sig = sign(&h, &next);
    market_settles(&h, u(1), 50, false, ESCROW);
    assert_eq!(settle_one(&h, &mut s, next, sig), Seen::Settled(u(2), 50, 0));
    // the same window claimed again under another nonce
    let again = report(ACCEPTED_AT + 100, ACCEPTED_AT + 150, 40, 3);
    let sig = sign(&h, &again);
    let slash = expect_fault_slash(&h, &again, ESCROW);
    h.take_calls();
    assert_eq!(settle_one(&h, &mut s, again, sig), Seen::Skipped(u(3), reason::CONFLICTING_REPORT));
    assert!(h.take_calls().iter().any(|c| c.to == VAULT && c.data == slash));
}

// ----- governance -----

#[test]
fn guardian_pauses_and_ownership_moves_in_two_steps() {
    let h = host();
    let mut s = settlement(&h);
    h.set_sender(OWNER);
    assert_eq!(s.pause(), Err(SettlementError::NotGuardian(NotGuardian { caller: OWNER })));
    h.set_sender(GUARDIAN);
    s.pause().unwrap();
    assert!(s.paused());
    h.set_sender(GUARDIAN);
    s.unpause().unwrap();
    assert!(!s.paused());
    h.set_sender(BUYER);
    assert_eq!(s.transfer_ownership(BUYER), Err(SettlementError::NotOwner(NotOwner { caller: BUYER })));
    h.set_sender(OWNER);
    s.transfer_ownership(GUARDIAN).unwrap();
    h.set_sender(BUYER);
    assert_eq!(
        s.accept_ownership(),
        Err(SettlementError::NotPendingOwner(NotPendingOwner { caller: BUYER }))
    );
    h.set_sender(GUARDIAN);
    s.accept_ownership().unwrap();
    assert_eq!((s.owner(), s.pending_owner()), (GUARDIAN, Address::ZERO));
}
