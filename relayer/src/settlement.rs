//! Settlement: verified reports go to `market.settleBatch` in batches of up to N reports, or
//! sooner once the oldest has waited T seconds; per-entry outcomes come from the
//! transaction's `ReportSettled` / `ReportSkipped` events.
//!
//! Exactly-once hinges on the order of three steps: the batch transaction is signed first
//! (its hash is then known), its reports are committed as `submitted(hash)`, and only then
//! is it broadcast. A crash in between leaves `submitted` reports whose transaction the chain
//! does not know: they are re-queued, never sent twice under different hashes while the
//! first could still land. One batch is in flight at a time, which keeps nonces trivial.
//!
//! The chain is behind [`SettlementChain`] so the loop is tested with a fake; the alloy
//! implementation against the devnet and real contracts is the next step.
// TODO(relayer): alloy SettlementChain (EIP-1559 fees, replacement of stuck txs,
// confirmation depth) and its devnet end-to-end tests.

use std::collections::HashMap;

use alloy_primitives::{Address, B256, U256};
use market_protocol::{ReportId, SignedReport};

use crate::directory::BoxFuture;
use crate::queue::{QueueError, ReportQueue, ReportState, StoredReport};

/// A signed, not yet broadcast, settleBatch transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedTx {
    pub hash: B256,
    pub raw: Vec<u8>,
}

/// What the market did with one entry of a batch (from its event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryOutcome {
    pub job_id: U256,
    pub provider: Address,
    pub nonce: U256,
    /// `None`: ReportSettled; `Some(reason)`: ReportSkipped(reason).
    pub skipped: Option<u8>,
}

/// Where a transaction is, as far as the chain can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxStatus {
    /// Known to the node, not mined (or not yet deep enough).
    Pending,
    /// The node does not know it (never arrived, dropped, or reorged out).
    Unknown,
    /// Mined with enough confirmations.
    Confirmed { block: u64, success: bool, outcomes: Vec<EntryOutcome> },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ChainError {
    #[error("rpc: {0}")]
    Rpc(String),
}

/// The few chain operations settlement needs.
pub trait SettlementChain: Send + Sync {
    /// Builds and signs `settleBatch(reports, signatures)` (nothing is sent).
    fn prepare(&self, reports: &[SignedReport]) -> BoxFuture<'_, Result<PreparedTx, ChainError>>;
    fn broadcast(&self, tx: &PreparedTx) -> BoxFuture<'_, Result<(), ChainError>>;
    fn status(&self, hash: B256) -> BoxFuture<'_, Result<TxStatus, ChainError>>;
}

#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("stored report {0} no longer parses: {1}")]
    Corrupt(ReportId, String),
}

/// What one step of the loop did (for logs, metrics and tests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StepReport {
    pub settled: usize,
    pub skipped: usize,
    pub requeued: usize,
    pub sent: Option<(B256, usize)>,
}

/// Batching parameters.
#[derive(Debug, Clone, Copy)]
pub struct BatchPolicy {
    pub max_batch: usize,
    pub max_wait_secs: u64,
}

/// Whether to send a batch now: full, or its oldest report has waited long enough.
pub fn batch_due(batch: &[StoredReport], policy: BatchPolicy, now: u64) -> bool {
    match batch.first() {
        None => false,
        Some(oldest) => {
            batch.len() >= policy.max_batch || now.saturating_sub(oldest.updated_at) >= policy.max_wait_secs
        }
    }
}

/// One pass: resolve transactions in flight, then send a new batch if none is in flight and
/// one is due.
pub async fn step(
    queue: &dyn ReportQueue,
    chain: &dyn SettlementChain,
    policy: BatchPolicy,
    now: u64,
) -> Result<StepReport, SettleError> {
    let mut out = StepReport::default();
    let mut in_flight = false;
    for hash in queue.submitted_txs()? {
        match chain.status(hash).await? {
            TxStatus::Pending => in_flight = true,
            TxStatus::Unknown => out.requeued += queue.requeue_submitted(hash, now)?,
            TxStatus::Confirmed { success: false, .. } => {
                out.requeued += queue.requeue_submitted(hash, now)?
            }
            TxStatus::Confirmed { block, success: true, outcomes } => {
                let (s, k, r) = apply_outcomes(queue, hash, block, &outcomes, now)?;
                out.settled += s;
                out.skipped += k;
                out.requeued += r;
            }
        }
    }
    if in_flight {
        return Ok(out);
    }
    let batch = queue.next_batch(policy.max_batch)?;
    if !batch_due(&batch, policy, now) {
        return Ok(out);
    }
    let reports = batch
        .iter()
        .map(|s| SignedReport::from_json(&s.wire_json).map_err(|e| SettleError::Corrupt(s.id, e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let tx = chain.prepare(&reports).await?;
    let ids: Vec<ReportId> = batch.iter().map(|s| s.id).collect();
    queue.mark_submitted(&ids, tx.hash, now)?;
    // A failed broadcast leaves the reports submitted: the next pass sees the transaction as
    // unknown and re-queues them.
    if let Err(e) = chain.broadcast(&tx).await {
        tracing::warn!(tx = %tx.hash, error = %e, "broadcast failed; will re-queue");
    }
    out.sent = Some((tx.hash, ids.len()));
    Ok(out)
}

/// Maps the events of a confirmed batch to its reports. A report of the batch without an
/// event (should not happen with a conforming market) goes back to the queue.
fn apply_outcomes(
    queue: &dyn ReportQueue,
    hash: B256,
    block: u64,
    outcomes: &[EntryOutcome],
    now: u64,
) -> Result<(usize, usize, usize), SettleError> {
    let by_key: HashMap<(U256, Address, U256), &EntryOutcome> =
        outcomes.iter().map(|o| ((o.job_id, o.provider, o.nonce), o)).collect();
    let submitted = queue.submitted_in(hash)?;
    let (mut settled, mut skipped, mut missing) = (0, 0, 0);
    for s in submitted {
        let r =
            SignedReport::from_json(&s.wire_json).map_err(|e| SettleError::Corrupt(s.id, e.to_string()))?;
        match by_key.get(&(r.report.jobId, r.report.provider, r.report.nonce)) {
            Some(o) => {
                let state = match o.skipped {
                    None => {
                        settled += 1;
                        ReportState::Settled { tx_hash: hash, block }
                    }
                    Some(reason) => {
                        skipped += 1;
                        ReportState::Skipped { tx_hash: hash, block, reason }
                    }
                };
                queue.mark_outcome(&s.id, state, now)?;
            }
            None => missing += 1,
        }
    }
    if missing > 0 {
        tracing::warn!(tx = %hash, missing, "reports without an outcome event; re-queued");
        queue.requeue_submitted(hash, now)?;
    }
    Ok((settled, skipped, missing))
}

/// Runs [`step`] forever (until `shutdown` resolves), once a second, backing off
/// exponentially (up to a minute) while the chain or the queue fails.
pub async fn run(
    queue: std::sync::Arc<dyn ReportQueue>,
    chain: std::sync::Arc<dyn SettlementChain>,
    policy: BatchPolicy,
    clock: std::sync::Arc<dyn Fn() -> u64 + Send + Sync>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::Duration;
    let mut delay = Duration::from_secs(1);
    loop {
        match step(&*queue, &*chain, policy, clock()).await {
            Ok(s) => {
                delay = Duration::from_secs(1);
                metrics.reports_settled.fetch_add(s.settled as u64, Relaxed);
                metrics.reports_skipped.fetch_add(s.skipped as u64, Relaxed);
                if let Some((tx, n)) = s.sent {
                    metrics.settlement_batches.fetch_add(1, Relaxed);
                    tracing::info!(%tx, reports = n, "settleBatch sent");
                }
                if s.settled + s.skipped + s.requeued > 0 {
                    tracing::info!(
                        settled = s.settled,
                        skipped = s.skipped,
                        requeued = s.requeued,
                        "batch resolved"
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_secs = delay.as_secs(), "settlement step failed");
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        }
        tokio::time::sleep(delay).await;
    }
}
