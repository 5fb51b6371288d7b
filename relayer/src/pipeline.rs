//! The intake pipeline for one posted report. Each step is a plain function returning a
//! [`Refusal`] with a stable code; [`Intake::submit`] runs them in order and commits.
//!
//! Order matters: nothing is stored before the signature is checked against the provider's
//! registered key, so a forger cannot occupy a report id; evidence is verified after the
//! report is committed as `received`, so a crash mid-verification loses nothing (the
//! `received` sweep re-verifies it).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use alloy_primitives::B256;
use market_protocol::wire::WireError;
use market_protocol::{MarketDomain, ReportId, SignedReport};

use crate::directory::{DirectoryError, ProviderDirectory, ProviderRecord};
use crate::evidence::{verify_evidence, ClassPolicy, CollateralSource, EvidenceError};
use crate::metrics::Metrics;
use crate::queue::{InsertOutcome, NewReport, QueueError, ReportQueue, ReportState};

/// Why a report was refused: HTTP status, stable snake_case code, human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Refusal { status, code, message: message.into() }
    }
}

/// Step 1: schema and size (the wire format's own strict parser).
pub fn parse(body: &[u8]) -> Result<SignedReport, Refusal> {
    SignedReport::from_json(body).map_err(|e| {
        let (status, code) = match &e {
            WireError::TooLarge(_) => (413, "body_too_large"),
            WireError::UnsupportedVersion(_) => (400, "unsupported_version"),
            WireError::MissingVersion | WireError::Json(_) => (400, "malformed_json"),
            WireError::Field { .. } => (400, "invalid_field"),
            WireError::Signature(_) => (400, "bad_signature"),
            WireError::Evidence { .. } | WireError::TooMuchEvidence(_) | WireError::NoEvidence => {
                (400, "invalid_evidence_envelope")
            }
        };
        Refusal::new(status, code, e.to_string())
    })
}

/// Step 2: the report was signed for this relayer's chain and market.
pub fn check_domain(report: &SignedReport, ours: &MarketDomain) -> Result<(), Refusal> {
    if report.domain != *ours {
        return Err(Refusal::new(
            422,
            "wrong_domain",
            format!(
                "report is for chain {} market {}, this relayer serves chain {} market {}",
                report.domain.chain_id, report.domain.market, ours.chain_id, ours.market
            ),
        ));
    }
    report.report.check_shape().map_err(|e| Refusal::new(400, "invalid_report", e.to_string()))
}

/// Step 3: the provider is registered for the job's class, the job is theirs, and the
/// signature recovers to their registered signing key.
pub fn check_signer(
    report: &SignedReport,
    record: Option<ProviderRecord>,
) -> Result<ProviderRecord, Refusal> {
    let provider = report.report.provider;
    let record = record.ok_or_else(|| {
        Refusal::new(
            403,
            "unknown_provider",
            format!("{provider} is not a registered provider for job {}", report.report.jobId),
        )
    })?;
    if record.job_provider != provider {
        return Err(Refusal::new(
            422,
            "wrong_provider",
            format!("job {} belongs to {}, not {provider}", report.report.jobId, record.job_provider),
        ));
    }
    // libsecp256k1 rather than k256 (`report.signer()`): same address, same errors.
    let signer = crate::recover::report_signer(report)
        .map_err(|e| Refusal::new(401, "bad_signature", e.to_string()))?;
    if signer != record.signing_key {
        return Err(Refusal::new(
            401,
            "bad_signature",
            format!("signed by {signer}, {provider}'s registered signing key is {}", record.signing_key),
        ));
    }
    Ok(record)
}

/// Step 4 (pure, CPU-bound): evidence against the class policy, and the digest of what it
/// proves equal to both the report's `evidenceDigest` and the registered one.
pub fn check_evidence(
    report: &SignedReport,
    record: &ProviderRecord,
    policies: &HashMap<B256, ClassPolicy>,
    collateral: &dyn CollateralSource,
    now_secs: u64,
) -> Result<(), Refusal> {
    let policy = policies.get(&record.class_id).ok_or_else(|| {
        Refusal::new(422, "unknown_class", format!("no evidence policy for class {}", record.class_id))
    })?;
    let verified = verify_evidence(
        policy,
        collateral,
        &report.evidence,
        report.report.provider,
        report.id().0,
        now_secs,
    )
    .map_err(|e: EvidenceError| Refusal::new(422, e.code(), e.to_string()))?;
    if verified.digest != report.report.evidenceDigest {
        return Err(Refusal::new(
            422,
            "evidence_digest_mismatch",
            format!(
                "evidence proves digest {}, the report claims {}",
                verified.digest, report.report.evidenceDigest
            ),
        ));
    }
    if verified.digest != record.evidence_digest {
        return Err(Refusal::new(
            422,
            "evidence_digest_mismatch",
            format!(
                "evidence proves digest {}, the provider registered {}",
                verified.digest, record.evidence_digest
            ),
        ));
    }
    Ok(())
}

fn queue_failure(e: QueueError) -> Refusal {
    Refusal::new(500, "internal", format!("queue: {e}"))
}

/// What a successful submission returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub id: ReportId,
    pub state: ReportState,
}

/// Everything the pipeline needs, shared by the HTTP handlers.
pub struct Intake {
    pub domain: MarketDomain,
    /// Evidence policy per class id.
    pub policies: HashMap<B256, ClassPolicy>,
    pub collateral: Arc<dyn CollateralSource>,
    pub directory: Arc<dyn ProviderDirectory>,
    pub queue: Arc<dyn ReportQueue>,
    pub metrics: Arc<Metrics>,
    /// Unix seconds (a function so tests pin the time the sample evidence is valid at).
    pub clock: Arc<dyn Fn() -> u64 + Send + Sync>,
}

impl Intake {
    /// Runs the whole pipeline for one posted body. `Ok` means committed.
    pub async fn submit(self: &Arc<Self>, body: Vec<u8>) -> Result<Accepted, Refusal> {
        self.metrics.reports_received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = self.submit_inner(body).await;
        if let Err(r) = &result {
            self.metrics.reject(r.code);
        }
        result
    }

    async fn submit_inner(self: &Arc<Self>, body: Vec<u8>) -> Result<Accepted, Refusal> {
        let started = Instant::now();
        let report = parse(&body)?;
        check_domain(&report, &self.domain)?;
        let record = self
            .directory
            .lookup(report.report.jobId, report.report.provider)
            .await
            .map_err(|DirectoryError::Unavailable(m)| Refusal::new(503, "registry_unavailable", m))?;
        let record = check_signer(&report, record)?;
        let id = report.id();
        let now = (self.clock)();
        let new = NewReport { id, provider: report.report.provider, wire_json: body, now };
        let queue = self.queue.clone();
        let outcome = blocking(move || queue.insert(new)).await?.map_err(queue_failure)?;
        if let InsertOutcome::AlreadyPresent(state) = outcome {
            return Err(Refusal::new(
                409,
                "replay",
                format!("report {id} was already received; it is {}", state.name()),
            ));
        }
        let this = self.clone();
        let state = blocking(move || this.verify_and_record(&report, &record, now)).await??;
        self.metrics
            .verify_micros_total
            .fetch_add(started.elapsed().as_micros() as u64, std::sync::atomic::Ordering::Relaxed);
        match state {
            ReportState::Rejected { code, message } => Err(Refusal::new(422, code_static(&code), message)),
            state => Ok(Accepted { id, state }),
        }
    }

    /// Verifies evidence and commits `verified` or `rejected` for a `received` report.
    fn verify_and_record(
        &self,
        report: &SignedReport,
        record: &ProviderRecord,
        now: u64,
    ) -> Result<ReportState, Refusal> {
        let state = match check_evidence(report, record, &self.policies, &*self.collateral, now) {
            Ok(()) => ReportState::Verified,
            // Not a verdict: the report stays `received` and the sweep verifies it again.
            Err(r) if r.code == "collateral_unavailable" => {
                tracing::warn!(id = %report.id(), message = %r.message, "verification deferred");
                return Err(Refusal::new(503, r.code, r.message));
            }
            Err(r) => ReportState::Rejected { code: r.code.to_string(), message: r.message },
        };
        self.queue.finish_verification(&report.id(), state.clone(), now).map_err(queue_failure)?;
        if state == ReportState::Verified {
            self.metrics.reports_verified.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(state)
    }

    /// Verifies reports left `received` for at least `min_age_secs` (by a crash, or an
    /// unreachable registry). The age keeps it off reports a request is verifying right now.
    pub async fn recover_received(self: &Arc<Self>, min_age_secs: u64) -> Result<usize, Refusal> {
        let queue = self.queue.clone();
        let cutoff = (self.clock)().saturating_sub(min_age_secs);
        let pending = blocking(move || queue.pending_verification(10_000)).await?.map_err(queue_failure)?;
        let pending: Vec<_> = pending.into_iter().filter(|s| s.updated_at <= cutoff).collect();
        let n = pending.len();
        for stored in pending {
            let now = (self.clock)();
            let outcome = match parse(&stored.wire_json) {
                Ok(report) => {
                    match self.directory.lookup(report.report.jobId, report.report.provider).await {
                        Ok(rec) => match check_signer(&report, rec) {
                            Ok(record) => {
                                let this = self.clone();
                                blocking(move || this.verify_and_record(&report, &record, now)).await??;
                                continue;
                            }
                            Err(r) => ReportState::Rejected { code: r.code.into(), message: r.message },
                        },
                        Err(e) => return Err(Refusal::new(503, "registry_unavailable", e.to_string())),
                    }
                }
                Err(r) => ReportState::Rejected { code: r.code.into(), message: r.message },
            };
            let queue = self.queue.clone();
            blocking(move || queue.finish_verification(&stored.id, outcome, now))
                .await?
                .map_err(queue_failure)?;
        }
        Ok(n)
    }
}

/// Stored rejection codes are ours; map back to the static set (unknown: "rejected").
fn code_static(code: &str) -> &'static str {
    const CODES: [&str; 8] = [
        "evidence_malformed",
        "evidence_invalid",
        "evidence_stale",
        "evidence_foreign",
        "evidence_policy",
        "evidence_digest_mismatch",
        "unknown_class",
        "internal",
    ];
    CODES.into_iter().find(|c| *c == code).unwrap_or("rejected")
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Refusal::new(500, "internal", format!("worker: {e}")))
}
