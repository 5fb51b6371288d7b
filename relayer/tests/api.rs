//! The HTTP API end to end in-process (tower `oneshot`): real signatures, real evidence
//! samples, a real SQLite queue; only the registry is a fixed table.

use std::collections::HashMap;
use std::sync::Arc;

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{keccak256, Address, B256, U256};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use market_protocol::wire::MAX_BODY_BYTES;
use market_protocol::{
    evidence_digest, Evidence, EvidenceIdentity, EvidenceKind, MarketDomain, SignedReport, UsageReport,
};
use relayer::directory::{ProviderRecord, StaticDirectory};
use relayer::evidence::{
    ClassPolicy, CollateralSource, DiskCache, FetchingCollateral, OfflineCollateral, PccsCollateral,
};
use relayer::metrics::Metrics;
use relayer::pipeline::Intake;
use relayer::queue::{ReportQueue, SqliteQueue};
use serde_json::Value;
use tower::ServiceExt;

/// Inside the sample TDX collateral's validity.
const NOW: u64 = 1_750_400_000;

struct World {
    domain: MarketDomain,
    devnet_key: PrivateKeySigner,
    tdx_key: PrivateKeySigner,
    queue: Arc<dyn ReportQueue>,
    directory: StaticDirectory,
    now: u64,
}

fn devnet_class() -> B256 {
    keccak256("DEVNET-SIM")
}

fn tdx_class() -> B256 {
    keccak256("H100-SXM5-80GB")
}

fn none_digest(provider: Address) -> B256 {
    evidence_digest(&[EvidenceIdentity::None { provider }]).unwrap()
}

impl World {
    fn new() -> Self {
        Self::with_queue(Arc::new(SqliteQueue::in_memory().unwrap()))
    }

    fn with_queue(queue: Arc<dyn ReportQueue>) -> Self {
        let domain = MarketDomain::new(412346, Address::repeat_byte(0x11));
        let devnet_key = PrivateKeySigner::from_bytes(&B256::repeat_byte(0x01)).unwrap();
        let tdx_key = PrivateKeySigner::from_bytes(&B256::repeat_byte(0x02)).unwrap();
        let mut directory = StaticDirectory::default();
        directory.providers.insert(
            devnet_key.address(),
            ProviderRecord {
                class_id: devnet_class(),
                job_provider: devnet_key.address(),
                signing_key: devnet_key.address(),
                evidence_digest: none_digest(devnet_key.address()),
            },
        );
        let tdx_identity = EvidenceIdentity::from_tdx_quote(include_bytes!("data/tdx_quote.bin")).unwrap();
        directory.providers.insert(
            tdx_key.address(),
            ProviderRecord {
                class_id: tdx_class(),
                job_provider: tdx_key.address(),
                signing_key: tdx_key.address(),
                evidence_digest: evidence_digest(&[tdx_identity]).unwrap(),
            },
        );
        World { domain, devnet_key, tdx_key, queue, directory, now: NOW }
    }

    fn app(&self) -> axum::Router {
        relayer::api::router(self.intake())
    }

    fn intake(&self) -> Arc<Intake> {
        let mut collateral = OfflineCollateral::default();
        collateral
            .tdx
            .push(serde_json::from_slice(include_bytes!("data/tdx_quote_collateral.json")).unwrap());
        self.intake_with(Arc::new(collateral))
    }

    fn intake_with(&self, collateral: Arc<dyn CollateralSource>) -> Arc<Intake> {
        let mut policies = HashMap::new();
        policies.insert(devnet_class(), ClassPolicy::from_toml("allow_none = true").unwrap());
        policies.insert(
            tdx_class(),
            ClassPolicy::from_toml(
                r#"
                required = ["tdx"]
                [tdx]
                allowed_tcb_statuses = ["UpToDate"]
                allowed_measurements = [{ mrtd = "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7" }]
                "#,
            )
            .unwrap(),
        );
        let now = self.now;
        Arc::new(Intake {
            domain: self.domain,
            policies,
            collateral,
            directory: Arc::new(self.directory.clone()),
            queue: self.queue.clone(),
            metrics: Arc::new(Metrics::default()),
            clock: Arc::new(move || now),
        })
    }

    fn report(&self, provider: Address, nonce: u64, digest: B256) -> UsageReport {
        UsageReport {
            jobId: U256::from(7),
            provider,
            gpuUuidHash: keccak256("GPU-0"),
            startTs: 1_000,
            endTs: 1_600,
            gpuSeconds: 600,
            energyMilliJoules: 420_000,
            avgUtilBps: 9_000,
            evidenceDigest: digest,
            nonce: U256::from(nonce),
        }
    }

    fn signed(&self, report: UsageReport, key: &PrivateKeySigner, evidence: Vec<Evidence>) -> SignedReport {
        let signature = report.sign(&self.domain, key).unwrap();
        SignedReport { domain: self.domain, report, signature, evidence }
    }

    fn devnet_report(&self, nonce: u64) -> SignedReport {
        let p = self.devnet_key.address();
        self.signed(self.report(p, nonce, none_digest(p)), &self.devnet_key, vec![Evidence::none()])
    }

    fn tdx_report(&self) -> SignedReport {
        let p = self.tdx_key.address();
        let digest = self.directory.providers[&p].evidence_digest;
        let ev = Evidence {
            kind: EvidenceKind::Tdx,
            data: include_bytes!("data/tdx_quote.bin").to_vec(),
            cert_chain: None,
        };
        self.signed(self.report(p, 1, digest), &self.tdx_key, vec![ev])
    }
}

async fn call(app: &axum::Router, method: &str, uri: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let req = Request::builder().method(method).uri(uri).body(Body::from(body)).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    (status, res.into_body().collect().await.unwrap().to_bytes().to_vec())
}

async fn call_json(app: &axum::Router, method: &str, uri: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let (s, b) = call(app, method, uri, body).await;
    (
        s,
        serde_json::from_slice(&b)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&b))),
    )
}

async fn post(app: &axum::Router, r: &SignedReport) -> (StatusCode, Value) {
    call_json(app, "POST", "/v1/reports", r.to_json()).await
}

#[tokio::test]
async fn a_valid_report_is_committed_and_its_status_readable() {
    let w = World::new();
    let app = w.app();
    let r = w.devnet_report(1);
    let (s, v) = post(&app, &r).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["id"], r.id().to_string());
    assert_eq!(v["status"], "verified");
    let (s, v) = call_json(&app, "GET", &format!("/v1/reports/{}", r.id()), vec![]).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("verified")), "{v}");
}

#[tokio::test]
async fn an_acknowledged_report_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.sqlite");
    let id = {
        let w = World::with_queue(Arc::new(SqliteQueue::open(&path).unwrap()));
        let r = w.devnet_report(1);
        assert_eq!(post(&w.app(), &r).await.0, StatusCode::ACCEPTED);
        r.id()
    };
    let w = World::with_queue(Arc::new(SqliteQueue::open(&path).unwrap()));
    let (s, v) = call_json(&w.app(), "GET", &format!("/v1/reports/{id}"), vec![]).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("verified")), "{v}");
}

#[tokio::test]
async fn the_same_report_twice_is_a_replay() {
    let w = World::new();
    let app = w.app();
    let r = w.devnet_report(1);
    assert_eq!(post(&app, &r).await.0, StatusCode::ACCEPTED);
    let (s, v) = post(&app, &r).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::CONFLICT, Some("replay")), "{v}");
    assert_eq!(w.queue.counts().unwrap(), vec![("verified".to_string(), 1)]);
}

#[tokio::test]
async fn malformed_and_oversized_bodies_get_their_own_codes() {
    let w = World::new();
    let app = w.app();
    let (s, v) = call_json(&app, "POST", "/v1/reports", b"{not json".to_vec()).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_json")), "{v}");
    let (s, v) = call_json(&app, "POST", "/v1/reports", vec![b' '; MAX_BODY_BYTES + 1]).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large")), "{v}");
    let mut doc: Value = serde_json::from_slice(&w.devnet_report(1).to_json()).unwrap();
    doc["version"] = 2.into();
    let (s, v) = call_json(&app, "POST", "/v1/reports", serde_json::to_vec(&doc).unwrap()).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("unsupported_version")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("version 2"), "{v}");
    assert!(w.queue.counts().unwrap().is_empty(), "nothing stored");
}

#[tokio::test]
async fn a_forged_signature_is_refused_and_stores_nothing() {
    let w = World::new();
    let app = w.app();
    let p = w.devnet_key.address();
    let forger = PrivateKeySigner::from_bytes(&B256::repeat_byte(0x66)).unwrap();
    let r = w.signed(w.report(p, 1, none_digest(p)), &forger, vec![Evidence::none()]);
    let (s, v) = post(&app, &r).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("bad_signature")), "{v}");
    // The forger did not take the id: the genuine report still goes through.
    let genuine = w.signed(w.report(p, 1, none_digest(p)), &w.devnet_key, vec![Evidence::none()]);
    assert_eq!(genuine.id(), r.id());
    assert_eq!(post(&app, &genuine).await.0, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn unknown_provider_and_foreign_domain_are_refused() {
    let w = World::new();
    let app = w.app();
    let stranger = PrivateKeySigner::from_bytes(&B256::repeat_byte(0x55)).unwrap();
    let a = stranger.address();
    let r = w.signed(w.report(a, 1, none_digest(a)), &stranger, vec![Evidence::none()]);
    let (s, v) = post(&app, &r).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::FORBIDDEN, Some("unknown_provider")), "{v}");

    let mut r = w.devnet_report(1);
    r.domain = MarketDomain::new(1, w.domain.market);
    r.signature = r.report.sign(&r.domain, &w.devnet_key).unwrap();
    let (s, v) = post(&app, &r).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_domain")), "{v}");
}

#[tokio::test]
async fn foreign_stale_and_disallowed_evidence_are_refused_and_recorded() {
    let mut w = World::new();
    // A genuine TDX quote, but bound to another report.
    let r = w.tdx_report();
    let (s, v) = post(&w.app(), &r).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("evidence_foreign")), "{v}");
    let (_, v) = call_json(&w.app(), "GET", &format!("/v1/reports/{}", r.id()), vec![]).await;
    assert_eq!(
        (v["status"].as_str(), v["reason"]["code"].as_str()),
        (Some("rejected"), Some("evidence_foreign"))
    );

    // The same after the collateral expired: stale (a resend of a rejected report is allowed).
    w.now = 1_760_000_000;
    let (s, v) = post(&w.app(), &r).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("evidence_stale")), "{v}");

    // The simulated meter's `none` for a production class.
    let p = w.tdx_key.address();
    let digest = w.directory.providers[&p].evidence_digest;
    let r = w.signed(w.report(p, 2, digest), &w.tdx_key, vec![Evidence::none()]);
    let (s, v) = post(&w.app(), &r).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("evidence_policy")), "{v}");
}

#[tokio::test]
async fn an_evidence_digest_other_than_the_evidence_proves_is_refused() {
    let w = World::new();
    let p = w.devnet_key.address();
    let r = w.signed(w.report(p, 1, B256::repeat_byte(9)), &w.devnet_key, vec![Evidence::none()]);
    let (s, v) = post(&w.app(), &r).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("evidence_digest_mismatch")),
        "{v}"
    );
}

#[tokio::test]
async fn specs_are_content_addressed() {
    let w = World::new();
    let app = w.app();
    let spec = br#"{"image":"ghcr.io/x/train:1","gpus":1}"#.to_vec();
    let (s, v) = call_json(&app, "POST", "/v1/specs", spec.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let hash = v["hash"].as_str().unwrap().to_string();
    assert_eq!(hash, keccak256(&spec).to_string());
    let (s, _) = call_json(&app, "POST", "/v1/specs", spec.clone()).await;
    assert_eq!(s, StatusCode::OK, "second post of the same spec");
    let (s, body) = call(&app, "GET", &format!("/v1/specs/{hash}"), vec![]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(keccak256(&body).to_string(), hash);
    let (s, v) = call_json(&app, "GET", &format!("/v1/specs/{}", B256::ZERO), vec![]).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (s, v) = call_json(&app, "GET", "/v1/specs/nothex", vec![]).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_hash")));
    let (s, v) = call_json(&app, "POST", "/v1/specs", vec![b'x'; relayer::api::MAX_SPEC_BYTES + 1]).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large")));
}

#[tokio::test]
async fn health_metrics_and_unknown_routes() {
    let w = World::new();
    let app = w.app();
    assert_eq!(post(&app, &w.devnet_report(1)).await.0, StatusCode::ACCEPTED);
    assert_eq!(post(&app, &w.devnet_report(1)).await.0, StatusCode::CONFLICT);
    let (s, v) = call_json(&app, "GET", "/healthz", vec![]).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, body) = call(&app, "GET", "/metrics", vec![]).await;
    let text = String::from_utf8(body).unwrap();
    assert_eq!(s, StatusCode::OK);
    assert!(text.contains("relayer_reports_received_total 2\n"), "{text}");
    assert!(text.contains("relayer_reports_verified_total 1\n"), "{text}");
    assert!(text.contains("relayer_reports_rejected_total{code=\"replay\"} 1\n"), "{text}");
    assert!(text.contains("relayer_queue_reports{state=\"verified\"} 1\n"), "{text}");
    let (s, v) = call_json(&app, "GET", "/v2/nothing", vec![]).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (s, v) = call_json(&app, "GET", "/v1/reports/0x12", vec![]).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_id")));
}

#[tokio::test]
async fn reports_left_received_by_a_crash_are_verified_at_start_up() {
    let w = World::new();
    let good = w.devnet_report(1);
    let p = w.devnet_key.address();
    let forged =
        w.signed(w.report(p, 2, none_digest(p)), &PrivateKeySigner::random(), vec![Evidence::none()]);
    for r in [&good, &forged] {
        let new = relayer::queue::NewReport { id: r.id(), provider: p, wire_json: r.to_json(), now: NOW };
        w.queue.insert(new).unwrap();
    }
    // Fresh ones may be in flight in a request: left alone until old enough.
    assert_eq!(w.intake().recover_received(60).await.unwrap(), 0);
    assert_eq!(w.queue.get(&good.id()).unwrap().unwrap().state, relayer::queue::ReportState::Received);
    assert_eq!(w.intake().recover_received(0).await.unwrap(), 2);
    let state = |id| w.queue.get(&id).unwrap().unwrap().state;
    assert_eq!(state(good.id()), relayer::queue::ReportState::Verified);
    assert!(
        matches!(state(forged.id()), relayer::queue::ReportState::Rejected { ref code, .. } if code == "bad_signature"),
        "{:?}",
        state(forged.id())
    );
}

#[tokio::test]
async fn unreachable_collateral_is_a_503_and_the_report_is_judged_once_it_is_back() {
    let w = World::new();
    let dir = tempfile::tempdir().unwrap();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let pccs =
        PccsCollateral::new(&dead, DiskCache::open(dir.path()).unwrap(), std::time::Duration::from_secs(5));
    let fetching = FetchingCollateral { pccs: Some(pccs), ..Default::default() };
    let app = relayer::api::router(w.intake_with(Arc::new(fetching)));
    let r = w.tdx_report();
    let (s, v) = post(&app, &r).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("collateral_unavailable")),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains(&dead), "the PCCS URL is named: {v}");
    // Not a verdict: the report stays `received` (not `rejected`).
    let (_, v) = call_json(&app, "GET", &format!("/v1/reports/{}", r.id()), vec![]).await;
    assert_eq!(v["status"].as_str(), Some("received"), "{v}");
    // Collateral available again (here: pre-loaded): the sweep judges it (this sample quote is
    // bound to another report, so the verdict is `evidence_foreign`).
    assert_eq!(w.intake().recover_received(0).await.unwrap(), 1);
    let (_, v) = call_json(&app, "GET", &format!("/v1/reports/{}", r.id()), vec![]).await;
    assert_eq!(
        (v["status"].as_str(), v["reason"]["code"].as_str()),
        (Some("rejected"), Some("evidence_foreign")),
        "{v}"
    );
}
