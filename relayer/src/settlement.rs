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
//! A transaction pending longer than `replace_after_secs` is replaced: same account nonce,
//! fees raised by at least the nodes' replacement rule. The replacement is signed, its
//! reports re-pointed to it (`replace_submitted`), then broadcast, in the same order as a
//! first send. Either version may be the one mined, and a crash can lose the link between
//! a report and the transaction that settled it; so before a report is re-queued (its
//! transaction unknown or reverted) or recorded as skipped `NONCE_USED`, the chain is asked
//! whether a `ReportSettled` event for it exists. If so it is recorded as settled by that
//! transaction: a report is never sent twice *and* counted as failed.
//!
//! The chain is behind [`SettlementChain`] so the loop is tested with a fake; `chain.rs` is
//! the alloy implementation.

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

/// Whether the market already settled a report, from its `ReportSettled` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettledLookup {
    /// Settled in `tx_hash`, mined in `block` with enough confirmations.
    Settled { tx_hash: B256, block: u64 },
    /// An event exists but is not yet deep enough: ask again later.
    Shallow,
    /// No event: the report was not settled (within the lookback window).
    NotSettled,
}

/// The `ReportSkipped` reason for a nonce the market had already used.
pub const NONCE_USED: u8 = 2;

/// The few chain operations settlement needs.
pub trait SettlementChain: Send + Sync {
    /// Builds and signs `settleBatch(reports, signatures)` (nothing is sent).
    fn prepare(&self, reports: &[SignedReport]) -> BoxFuture<'_, Result<PreparedTx, ChainError>>;
    fn broadcast(&self, tx: &PreparedTx) -> BoxFuture<'_, Result<(), ChainError>>;
    fn status(&self, hash: B256) -> BoxFuture<'_, Result<TxStatus, ChainError>>;
    /// Signs a replacement for pending transaction `hash`: same nonce and call, higher fees.
    /// `None` if it is no longer pending (mined or dropped meanwhile).
    fn replace(&self, hash: B256) -> BoxFuture<'_, Result<Option<PreparedTx>, ChainError>>;
    /// For each report, whether a `ReportSettled` event for it exists.
    fn find_settled(&self, reports: &[SignedReport])
        -> BoxFuture<'_, Result<Vec<SettledLookup>, ChainError>>;
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
    /// Stuck transactions replaced: (old hash, new hash).
    pub replaced: Vec<(B256, B256)>,
}

/// Batching parameters.
#[derive(Debug, Clone, Copy)]
pub struct BatchPolicy {
    pub max_batch: usize,
    pub max_wait_secs: u64,
    /// Replace a transaction still pending this long after it (or its last replacement) was
    /// sent; 0 never replaces.
    pub replace_after_secs: u64,
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
            TxStatus::Pending => {
                in_flight = true;
                if let Some(new) = replace_if_stuck(queue, chain, hash, policy, now).await? {
                    out.replaced.push((hash, new));
                }
            }
            TxStatus::Unknown | TxStatus::Confirmed { success: false, .. } => {
                let (settled, requeued, shallow) = resolve_lost(queue, chain, hash, now).await?;
                out.settled += settled;
                out.requeued += requeued;
                in_flight |= shallow;
            }
            TxStatus::Confirmed { block, success: true, outcomes } => {
                let (s, k, r) = apply_outcomes(queue, chain, hash, block, &outcomes, now).await?;
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
    let reports = batch.iter().map(parse_stored).collect::<Result<Vec<_>, _>>()?;
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

fn parse_stored(s: &StoredReport) -> Result<SignedReport, SettleError> {
    SignedReport::from_json(&s.wire_json).map_err(|e| SettleError::Corrupt(s.id, e.to_string()))
}

/// Replaces `hash` if it has been pending for `replace_after_secs` since it was sent.
async fn replace_if_stuck(
    queue: &dyn ReportQueue,
    chain: &dyn SettlementChain,
    hash: B256,
    policy: BatchPolicy,
    now: u64,
) -> Result<Option<B256>, SettleError> {
    if policy.replace_after_secs == 0 {
        return Ok(None);
    }
    // `updated_at` of a submitted report is when its current transaction was signed.
    let sent_at = queue.submitted_in(hash)?.iter().map(|r| r.updated_at).max().unwrap_or(now);
    if now.saturating_sub(sent_at) < policy.replace_after_secs {
        return Ok(None);
    }
    let Some(new) = chain.replace(hash).await? else { return Ok(None) };
    // Committed before broadcast, like a first send: if the replacement never arrives, the
    // reports point at an unknown transaction and are looked up / re-queued.
    queue.replace_submitted(hash, new.hash, now)?;
    match chain.broadcast(&new).await {
        Ok(()) => {
            tracing::info!(old = %hash, new = %new.hash, "replaced a stuck transaction with higher fees")
        }
        Err(e) => {
            tracing::warn!(old = %hash, new = %new.hash, error = %e, "broadcasting the replacement failed")
        }
    }
    Ok(Some(new.hash))
}

/// A transaction that is unknown or reverted: its reports that the market settled anyway
/// (another version of it, or an earlier transaction whose record a crash lost) are recorded
/// as settled; the rest are re-queued. Returns (settled, re-queued, waiting for depth).
async fn resolve_lost(
    queue: &dyn ReportQueue,
    chain: &dyn SettlementChain,
    hash: B256,
    now: u64,
) -> Result<(usize, usize, bool), SettleError> {
    let stored = queue.submitted_in(hash)?;
    if stored.is_empty() {
        return Ok((0, 0, false));
    }
    let reports = stored.iter().map(parse_stored).collect::<Result<Vec<_>, _>>()?;
    let lookups = chain.find_settled(&reports).await?;
    let (mut settled, mut shallow) = (0, false);
    for (s, lookup) in stored.iter().zip(lookups) {
        match lookup {
            SettledLookup::Settled { tx_hash, block } => {
                queue.mark_outcome(&s.id, ReportState::Settled { tx_hash, block }, now)?;
                settled += 1;
            }
            SettledLookup::Shallow => shallow = true,
            SettledLookup::NotSettled => {}
        }
    }
    if shallow {
        // Settled, but not final yet: keep everything where it is until it is.
        return Ok((settled, 0, true));
    }
    let requeued = queue.requeue_submitted(hash, now)?;
    if settled > 0 {
        tracing::info!(tx = %hash, settled, requeued, "transaction lost, but the market had settled some of its reports");
    }
    Ok((settled, requeued, false))
}

/// Maps the events of a confirmed batch to its reports. A report of the batch without an
/// event (should not happen with a conforming market) goes back to the queue. A
/// `NONCE_USED` skip is looked up: if the market settled the report earlier (in another
/// version of this batch, or a transaction a crash forgot), it is recorded as settled there.
async fn apply_outcomes(
    queue: &dyn ReportQueue,
    chain: &dyn SettlementChain,
    hash: B256,
    block: u64,
    outcomes: &[EntryOutcome],
    now: u64,
) -> Result<(usize, usize, usize), SettleError> {
    let by_key: HashMap<(U256, Address, U256), &EntryOutcome> =
        outcomes.iter().map(|o| ((o.job_id, o.provider, o.nonce), o)).collect();
    let submitted = queue.submitted_in(hash)?;
    let (mut settled, mut skipped, mut missing) = (0, 0, 0);
    let mut nonce_used = Vec::new();
    for s in submitted {
        let r = parse_stored(&s)?;
        match by_key.get(&(r.report.jobId, r.report.provider, r.report.nonce)) {
            Some(o) => match o.skipped {
                None => {
                    settled += 1;
                    queue.mark_outcome(&s.id, ReportState::Settled { tx_hash: hash, block }, now)?;
                }
                Some(NONCE_USED) => nonce_used.push((s, r)),
                Some(reason) => {
                    skipped += 1;
                    queue.mark_outcome(&s.id, ReportState::Skipped { tx_hash: hash, block, reason }, now)?;
                }
            },
            None => missing += 1,
        }
    }
    if !nonce_used.is_empty() {
        let reports: Vec<SignedReport> = nonce_used.iter().map(|(_, r)| r.clone()).collect();
        let lookups = chain.find_settled(&reports).await?;
        for ((s, _), lookup) in nonce_used.iter().zip(lookups) {
            let state = match lookup {
                SettledLookup::Settled { tx_hash, block } => {
                    settled += 1;
                    ReportState::Settled { tx_hash, block }
                }
                // Settled, not final yet: stays submitted, looked up again next pass.
                SettledLookup::Shallow => continue,
                // The nonce was used without a settlement event we can find (e.g. by a
                // conflicting report): the market's word stands.
                SettledLookup::NotSettled => {
                    skipped += 1;
                    ReportState::Skipped { tx_hash: hash, block, reason: NONCE_USED }
                }
            };
            queue.mark_outcome(&s.id, state, now)?;
        }
    }
    if missing > 0 {
        tracing::warn!(tx = %hash, missing, "reports without an outcome event; re-queued");
        queue.requeue_submitted(hash, now)?;
    }
    Ok((settled, skipped, missing))
}

/// Runs [`step`] once a second until `shutdown` turns true, backing off exponentially (up to
/// a minute) while the chain or the queue fails.
///
/// On shutdown the step in progress is given `grace` to finish, then abandoned. Abandoning is
/// safe at any await point: a batch is committed `submitted(hash)` before it is broadcast, so
/// the next start finds it (pending, mined, or unknown and re-queued), exactly as after a
/// crash; queue writes themselves are synchronous and never cut in half.
pub async fn run(
    queue: std::sync::Arc<dyn ReportQueue>,
    chain: std::sync::Arc<dyn SettlementChain>,
    policy: BatchPolicy,
    clock: std::sync::Arc<dyn Fn() -> u64 + Send + Sync>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    grace: std::time::Duration,
) {
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::Duration;
    let mut delay = Duration::from_secs(1);
    loop {
        // A dropped sender counts as a shutdown too (never spin on a closed channel).
        if *shutdown.borrow() || shutdown.has_changed().is_err() {
            break;
        }
        let pass = step(&*queue, &*chain, policy, clock());
        tokio::pin!(pass);
        let result = tokio::select! {
            r = &mut pass => r,
            _ = stopped(&mut shutdown) => {
                match tokio::time::timeout(grace, &mut pass).await {
                    Ok(r) => r,
                    Err(_) => {
                        tracing::warn!(grace_secs = grace.as_secs(), "settlement step abandoned at shutdown; it resumes at the next start");
                        break;
                    }
                }
            }
        };
        match result {
            Ok(s) => {
                delay = Duration::from_secs(1);
                metrics.reports_settled.fetch_add(s.settled as u64, Relaxed);
                metrics.reports_skipped.fetch_add(s.skipped as u64, Relaxed);
                for (old, new) in &s.replaced {
                    metrics.settlement_replacements.fetch_add(1, Relaxed);
                    tracing::info!(%old, %new, "stuck settleBatch replaced");
                }
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
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped(&mut shutdown) => {}
        }
    }
    tracing::info!("settlement loop stopped");
}

/// Resolves once `shutdown` is true or its sender is gone (the borrow it returns is dropped
/// here: it must not be held across an await).
async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
