//! The relayer's HTTP API as provider nodes reach it: the real `relayer` binary against the
//! real contracts on the devnet. A report posted twice is a `replay` and settles once; the
//! same report signed for another chain never settles; and bad input at the boundary
//! (malformed JSON, oversized body, wrong version, forged signature, unknown provider,
//! garbage evidence) each gets its own stable error code and nothing reaches the chain.

use std::time::Duration;

use alloy::primitives::U256;
use devnet::accounts::ANVIL_KEYS;
use e2e::{
    key, report,
    services::{metric, queue_gauges, settled_events, Relayer},
    signed, IMarket, ISettlement, System, FINAL,
};
use market_protocol::{MarketDomain, SignedReport};
use serde_json::{json, Value};

const SETTLED: u8 = 3;
const SETTLE_WITHIN: Duration = Duration::from_secs(60);

fn provider_key() -> alloy::signers::local::PrivateKeySigner {
    key(ANVIL_KEYS[1])
}

/// The error code of a refusal, with its HTTP status.
fn refusal(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["code"].as_str().unwrap_or_else(|| panic!("an error code: {}", answer.1)))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_posted_twice_is_a_replay_and_settles_once_and_another_chains_never() {
    let s = System::start().await;
    let dir = tempfile::tempdir().unwrap();
    let relayer = Relayer::start(&s, dir.path()).await;
    let (job, _, t0) = s.accepted_job(1_000_000).await;
    s.advance(400).await;

    let first = signed(s.domain(), s.usage(job, t0, t0 + 300, 300, U256::from(11)), &provider_key());
    let (code, v) = relayer.post(&first).await;
    assert_eq!((code, v["id"].as_str()), (202, Some(first.id().to_string().as_str())), "{v}");
    let again = relayer.post(&first).await;
    assert_eq!(refusal(&again), (409, "replay"), "{}", again.1);
    let settled = relayer.wait_for(first.id(), "settled", SETTLE_WITHIN).await;
    let third = relayer.post(&first).await;
    assert_eq!(refusal(&third), (409, "replay"), "after settling too: {}", third.1);

    let events = settled_events(&s, job).await;
    assert_eq!(events.len(), 1, "one ReportSettled for the job");
    assert_eq!(
        events[0].transaction_hash,
        settled["txHash"].as_str().and_then(|h| h.parse().ok()),
        "the relayer records the transaction that settled it: {settled}"
    );
    let settlement = ISettlement::new(s.at("settlement"), s.anyone.p.clone());
    assert!(settlement.nonceUsed(s.seeded.provider, first.report.nonce).call().await.unwrap());

    // The job's final report, signed for another chain (a second deployment of the market).
    let last = s.usage(job, t0 + 300, t0 + 350, 50, U256::from(12) | FINAL);
    let other_chain = MarketDomain::new(421614, s.at("market"));
    let foreign = signed(other_chain, last.clone(), &provider_key());
    let answer = relayer.post(&foreign).await;
    assert_eq!(refusal(&answer), (422, "wrong_domain"), "{}", answer.1);
    // The same signature presented as ours does not recover to the provider's key.
    let mut relabelled = foreign.clone();
    relabelled.domain = s.domain();
    let answer = relayer.post(&relabelled).await;
    assert_eq!(refusal(&answer), (401, "bad_signature"), "{}", answer.1);
    for id in [foreign.id(), relabelled.id()] {
        let (code, v) = relayer.get(id).await;
        assert_eq!((code, v["code"].as_str()), (404, Some("not_found")), "{v}");
    }
    assert!(!settlement.nonceUsed(s.seeded.provider, last.nonce).call().await.unwrap());
    assert_eq!(settled_events(&s, job).await.len(), 1, "nothing more settled");

    // Signed for this chain, the same report is accepted and settles (so the refusals
    // above were about the domain alone), and closes the job.
    let good = signed(s.domain(), last, &provider_key());
    assert_eq!(relayer.post(&good).await.0, 202);
    relayer.wait_for(good.id(), "settled", SETTLE_WITHIN).await;
    assert_eq!(settled_events(&s, job).await.len(), 2);
    let market = IMarket::new(s.at("market"), s.anyone.p.clone());
    assert_eq!(market.job(job).call().await.unwrap()._8, SETTLED);
    let m = relayer.metrics().await;
    assert_eq!(queue_gauges(&m), vec![("settled".to_string(), 2)], "{m}");
    assert_eq!(metric(&m, "relayer_reports_rejected_total{code=\"replay\"}"), 2.0, "{m}");
    report("replay through the relayer's HTTP API", &s);
}

/// `report`'s wire JSON with `edit` applied.
fn edited(r: &SignedReport, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&r.to_json()).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_at_the_relayers_http_boundary_gets_stable_codes_and_settles_nothing() {
    let s = System::start().await;
    let dir = tempfile::tempdir().unwrap();
    let relayer = Relayer::start(&s, dir.path()).await;
    let (job, _, t0) = s.accepted_job(1_000_000).await;
    s.advance(400).await;
    let good = signed(s.domain(), s.usage(job, t0, t0 + 300, 300, U256::from(21) | FINAL), &provider_key());
    let before = relayer.metrics().await;
    assert!(queue_gauges(&before).is_empty(), "{before}");

    let stranger = key(ANVIL_KEYS[6]);
    // Signed by a key that is not the provider's.
    let forged = signed(s.domain(), good.report.clone(), &stranger);
    // A provider that never registered, signing its own report of the job.
    let mut unknown_report = good.report.clone();
    unknown_report.provider = stranger.address();
    let unknown = signed(s.domain(), unknown_report, &stranger);
    let mut oversized = b"{\"version\":1,\"pad\":\"".to_vec();
    oversized.resize(market_protocol::wire::MAX_BODY_BYTES + 1024, b'a');
    oversized.extend_from_slice(b"\"}");

    // (case, body, status, code, the id a GET must not find)
    type Case<'a> = (&'a str, Vec<u8>, u16, &'a str, Option<String>);
    let cases: Vec<Case> = vec![
        ("malformed JSON", br#"{"version":1,"domain":{"chainId":"#.to_vec(), 400, "malformed_json", None),
        ("oversized body", oversized, 413, "body_too_large", None),
        (
            "wrong version",
            edited(&good, |v| v["version"] = json!(2)),
            400,
            "unsupported_version",
            Some(good.id().to_string()),
        ),
        ("forged signature", forged.to_json(), 401, "bad_signature", Some(forged.id().to_string())),
        ("unknown provider", unknown.to_json(), 403, "unknown_provider", Some(unknown.id().to_string())),
        (
            "garbage evidence envelope (`none` that carries data)",
            edited(&good, |v| v["evidence"] = json!([{ "kind": "none", "data": "Z2FyYmFnZQ==" }])),
            400,
            "invalid_evidence_envelope",
            Some(good.id().to_string()),
        ),
    ];
    for (case, body, status, code, id) in &cases {
        let answer = relayer.post_raw(body).await;
        assert_eq!(refusal(&answer), (*status, *code), "{case}: {}", answer.1);
        assert!(!answer.1["message"].as_str().unwrap_or_default().is_empty(), "{case}: a message");
        if let Some(id) = id {
            let (c, v) = relayer.get(id).await;
            assert_eq!((c, v["code"].as_str()), (404, Some("not_found")), "{case}: nothing stored: {v}");
        }
    }
    let after = relayer.metrics().await;
    assert!(queue_gauges(&after).is_empty(), "nothing queued: {after}");
    for (_, _, _, code, _) in cases.iter().filter(|c| c.3 != "body_too_large") {
        let counted = metric(&after, &format!("relayer_reports_rejected_total{{code=\"{code}\"}}"));
        assert_eq!(counted, 1.0, "{code} counted once: {after}");
    }
    assert_eq!(metric(&after, "relayer_reports_verified_total"), 0.0);

    // Well-formed evidence that proves nothing: the signature checks out, so the report is
    // recorded, but as `rejected` with the verifier's code; it is never queued for settlement.
    let garbage = edited(&good, |v| {
        v["evidence"] =
            json!([{ "kind": "nvidia-cc", "data": "Z2FyYmFnZQ==", "certChain": ["Z2FyYmFnZQ=="] }])
    });
    let answer = relayer.post_raw(&garbage).await;
    assert_eq!(refusal(&answer), (422, "evidence_malformed"), "{}", answer.1);
    let (c, v) = relayer.get(good.id()).await;
    assert_eq!(
        (c, v["status"].as_str(), v["reason"]["code"].as_str()),
        (200, Some("rejected"), Some("evidence_malformed")),
        "{v}"
    );
    let m = relayer.metrics().await;
    assert_eq!(queue_gauges(&m), vec![("rejected".to_string(), 1)], "{m}");
    assert_eq!(metric(&m, "relayer_reports_verified_total"), 0.0);
    let settlement = ISettlement::new(s.at("settlement"), s.anyone.p.clone());
    assert!(settled_events(&s, job).await.is_empty(), "nothing settled");
    assert!(!settlement.nonceUsed(s.seeded.provider, good.report.nonce).call().await.unwrap());

    // The relayer was working all along: the genuine report (a rejected id may be resent)
    // is accepted and settles, once.
    assert_eq!(relayer.post(&good).await.0, 202);
    relayer.wait_for(good.id(), "settled", SETTLE_WITHIN).await;
    assert_eq!(settled_events(&s, job).await.len(), 1);
    report("bad input at the relayer's HTTP boundary", &s);
}
