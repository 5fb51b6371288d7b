//! [`SettlementChain`] over JSON-RPC with alloy: a local signer (the key never leaves the
//! process and is never logged), EIP-1559 fees from the node's fee history, the account's
//! pending nonce, and a confirmation depth before outcomes are read from the receipt.
//!
//! A stuck transaction is replaced with the same nonce and call and fees raised by
//! `bump_percent` (at least 10%, the rule nodes apply to replacements), or to the current
//! estimate if that is higher. Whether a report was settled at all is read back from the
//! settlement contract's `ReportSettled` events (`find_settled`).

use alloy::consensus::{Transaction as _, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEvent};
use alloy_primitives::{Address, B256, U256};
use market_protocol::bindings::settlement::settle_batch_call;
use market_protocol::bindings::Settlement;
use market_protocol::SignedReport;

use crate::directory::BoxFuture;
use crate::settlement::{ChainError, EntryOutcome, PreparedTx, SettledLookup, SettlementChain, TxStatus};

pub struct AlloyChain {
    provider: DynProvider,
    wallet: EthereumWallet,
    from: Address,
    /// Where `settleBatch` is sent and its events come from (the market, or a settlement
    /// contract beside it).
    market: Address,
    chain_id: u64,
    /// Blocks on top of the receipt's block (1 = the receipt's own block is enough).
    confirmations: u64,
    /// Fee raise of a replacement, in percent (at least 10).
    bump_percent: u64,
    /// How far back `find_settled` searches for events, in blocks.
    lookback_blocks: u64,
    /// Highest `maxFeePerGas` (wei) the relayer signs; `None`: no cap.
    max_fee_cap: Option<u128>,
    /// The last transaction whose replacement the cap held back (logged once, not every pass).
    capped: std::sync::Mutex<Option<B256>>,
}

/// The fees of a replacement, or why there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplacementFees {
    /// Sign the replacement with these fees (wei).
    Send { max_fee_per_gas: u128, max_priority_fee_per_gas: u128 },
    /// Even the smallest replacement the nodes accept (both fees + `bump_percent`, at least
    /// 10%) would have `maxFeePerGas` above the cap: nothing is sent, the original waits.
    OverCap { needed_max_fee_per_gas: u128, cap: u128 },
}

/// Fees of a replacement for a pending transaction with `old_max_fee` / `old_tip`, given the
/// node's current estimate: both raised by `bump_percent` (rounded up, at least 10%), or to
/// the estimate if higher; the tip never above the max fee. With a `cap`, the max fee is
/// lowered to the cap when the bump alone still fits under it, and no replacement is made
/// when it does not.
pub fn replacement_fees(
    old_max_fee: u128,
    old_tip: u128,
    est_max_fee: u128,
    est_tip: u128,
    bump_percent: u64,
    cap: Option<u128>,
) -> ReplacementFees {
    let min_tip = bump_fee(old_tip, bump_percent);
    let min_max_fee = bump_fee(old_max_fee, bump_percent).max(min_tip);
    let tip = min_tip.max(est_tip);
    let max_fee = min_max_fee.max(est_max_fee).max(tip);
    match cap {
        Some(cap) if min_max_fee > cap => {
            ReplacementFees::OverCap { needed_max_fee_per_gas: min_max_fee, cap }
        }
        Some(cap) => {
            let max_fee = max_fee.min(cap);
            ReplacementFees::Send { max_fee_per_gas: max_fee, max_priority_fee_per_gas: tip.min(max_fee) }
        }
        None => ReplacementFees::Send { max_fee_per_gas: max_fee, max_priority_fee_per_gas: tip },
    }
}

/// Fees of a first send: the estimate, with the max fee lowered to `cap` if it is above
/// (the transaction then waits for the base fee to come down) and the tip never above it.
pub fn first_send_fees(est_max_fee: u128, est_tip: u128, cap: Option<u128>) -> (u128, u128) {
    let max_fee = cap.map_or(est_max_fee, |c| est_max_fee.min(c));
    (max_fee, est_tip.min(max_fee))
}

/// Replacement rule of geth, anvil and nitro: both fees must rise by at least 10%.
pub const MIN_BUMP_PERCENT: u64 = 10;

/// `fee` raised by `percent`, rounded up (so 10% of an odd fee still clears the rule).
pub fn bump_fee(fee: u128, percent: u64) -> u128 {
    let p = u128::from(percent.max(MIN_BUMP_PERCENT));
    fee.saturating_mul(100 + p).div_ceil(100)
}

fn rpc(e: impl std::fmt::Display) -> ChainError {
    ChainError::Rpc(e.to_string())
}

impl AlloyChain {
    pub fn new(
        provider: DynProvider,
        signer: PrivateKeySigner,
        market: Address,
        chain_id: u64,
        confirmations: u64,
    ) -> Self {
        let from = signer.address();
        AlloyChain {
            provider,
            wallet: EthereumWallet::from(signer),
            from,
            market,
            chain_id,
            confirmations: confirmations.max(1),
            bump_percent: 20,
            lookback_blocks: 1_000_000,
            max_fee_cap: None,
            capped: std::sync::Mutex::new(None),
        }
    }

    /// Highest `maxFeePerGas` (wei) of any transaction the relayer signs, replacements
    /// included; `None` or 0: no cap.
    pub fn with_max_fee_cap(mut self, cap_wei: Option<u128>) -> Self {
        self.max_fee_cap = cap_wei.filter(|c| *c > 0);
        self
    }

    /// Fee raise of replacements, in percent; below 10 is raised to 10.
    pub fn with_bump_percent(mut self, percent: u64) -> Self {
        self.bump_percent = percent.max(MIN_BUMP_PERCENT);
        self
    }

    /// How far back to look for `ReportSettled` events.
    pub fn with_lookback_blocks(mut self, blocks: u64) -> Self {
        self.lookback_blocks = blocks.max(1);
        self
    }

    pub fn relayer_address(&self) -> Address {
        self.from
    }

    async fn prepare_tx(&self, reports: &[SignedReport]) -> Result<PreparedTx, ChainError> {
        let pairs: Vec<_> = reports.iter().map(|r| (r.report.clone(), r.signature)).collect();
        let input = settle_batch_call(&pairs).abi_encode();
        let mut tx = TransactionRequest::default()
            .with_from(self.from)
            .with_to(self.market)
            .with_input(input)
            .with_chain_id(self.chain_id);
        let nonce = self.provider.get_transaction_count(self.from).pending().await.map_err(rpc)?;
        tx.set_nonce(nonce);
        let gas = self.provider.estimate_gas(tx.clone()).await.map_err(rpc)?;
        tx.set_gas_limit(gas.saturating_mul(12) / 10);
        let fees = self.provider.estimate_eip1559_fees().await.map_err(rpc)?;
        let (max_fee, tip) =
            first_send_fees(fees.max_fee_per_gas, fees.max_priority_fee_per_gas, self.max_fee_cap);
        if max_fee < fees.max_fee_per_gas {
            tracing::warn!(
                estimate = fees.max_fee_per_gas,
                cap = max_fee,
                "maxFeePerGas capped by settlement.max_fee_per_gas_cap"
            );
        }
        tx.set_max_fee_per_gas(max_fee);
        tx.set_max_priority_fee_per_gas(tip);
        let envelope: TxEnvelope = tx.build(&self.wallet).await.map_err(rpc)?;
        Ok(PreparedTx { hash: *envelope.tx_hash(), raw: envelope.encoded_2718() })
    }

    async fn replace_tx(&self, hash: B256) -> Result<Option<PreparedTx>, ChainError> {
        let Some(old) = self.provider.get_transaction_by_hash(hash).await.map_err(rpc)? else {
            return Ok(None);
        };
        if old.block_number.is_some() {
            return Ok(None);
        }
        let est = self.provider.estimate_eip1559_fees().await.map_err(rpc)?;
        let old_tip = old.max_priority_fee_per_gas().unwrap_or_else(|| old.max_fee_per_gas());
        let (max_fee, tip) = match replacement_fees(
            old.max_fee_per_gas(),
            old_tip,
            est.max_fee_per_gas,
            est.max_priority_fee_per_gas,
            self.bump_percent,
            self.max_fee_cap,
        ) {
            ReplacementFees::Send { max_fee_per_gas, max_priority_fee_per_gas } => {
                (max_fee_per_gas, max_priority_fee_per_gas)
            }
            ReplacementFees::OverCap { needed_max_fee_per_gas, cap } => {
                let mut last = self.capped.lock().unwrap_or_else(|p| p.into_inner());
                if *last != Some(hash) {
                    tracing::warn!(
                        tx = %hash, needed_max_fee_per_gas, cap,
                        "not replacing a stuck settleBatch: the bump would exceed settlement.max_fee_per_gas_cap; waiting"
                    );
                    *last = Some(hash);
                } else {
                    tracing::debug!(tx = %hash, "replacement still above the fee cap; waiting");
                }
                return Ok(None);
            }
        };
        let to = old.to().ok_or_else(|| rpc("pending transaction has no recipient"))?;
        let tx = TransactionRequest::default()
            .with_from(self.from)
            .with_to(to)
            .with_input(old.input().clone())
            .with_chain_id(self.chain_id)
            .with_nonce(old.nonce())
            .with_gas_limit(old.gas_limit())
            .with_max_fee_per_gas(max_fee)
            .with_max_priority_fee_per_gas(tip);
        let envelope: TxEnvelope = tx.build(&self.wallet).await.map_err(rpc)?;
        Ok(Some(PreparedTx { hash: *envelope.tx_hash(), raw: envelope.encoded_2718() }))
    }

    async fn lookup_settled(&self, reports: &[SignedReport]) -> Result<Vec<SettledLookup>, ChainError> {
        let latest = self.provider.get_block_number().await.map_err(rpc)?;
        let from = latest.saturating_sub(self.lookback_blocks);
        let mut out = Vec::with_capacity(reports.len());
        for r in reports {
            let filter = Filter::new()
                .address(self.market)
                .event_signature(Settlement::ReportSettled::SIGNATURE_HASH)
                .topic1(B256::from(r.report.jobId))
                .topic2(r.report.provider.into_word())
                .topic3(B256::from(U256::from(r.report.nonce)))
                .from_block(from);
            let logs = self.provider.get_logs(&filter).await.map_err(rpc)?;
            out.push(match logs.iter().find(|l| !l.removed) {
                None => SettledLookup::NotSettled,
                Some(l) => {
                    let (Some(tx_hash), Some(block)) = (l.transaction_hash, l.block_number) else {
                        return Err(rpc("ReportSettled log without a transaction or block"));
                    };
                    if latest.saturating_add(1) < block.saturating_add(self.confirmations) {
                        SettledLookup::Shallow
                    } else {
                        SettledLookup::Settled { tx_hash, block }
                    }
                }
            });
        }
        Ok(out)
    }

    async fn tx_status(&self, hash: B256) -> Result<TxStatus, ChainError> {
        let Some(receipt) = self.provider.get_transaction_receipt(hash).await.map_err(rpc)? else {
            return match self.provider.get_transaction_by_hash(hash).await.map_err(rpc)? {
                Some(_) => Ok(TxStatus::Pending),
                None => Ok(TxStatus::Unknown),
            };
        };
        let block = receipt.block_number.ok_or_else(|| rpc("receipt without a block number"))?;
        let latest = self.provider.get_block_number().await.map_err(rpc)?;
        if latest.saturating_add(1) < block.saturating_add(self.confirmations) {
            return Ok(TxStatus::Pending);
        }
        let mut outcomes = Vec::new();
        for log in receipt.inner.logs().iter().filter(|l| l.address() == self.market) {
            if let Ok(ev) = log.log_decode::<Settlement::ReportSettled>() {
                let d = ev.inner.data;
                outcomes.push(EntryOutcome {
                    job_id: d.jobId,
                    provider: d.provider,
                    nonce: d.nonce,
                    skipped: None,
                });
            } else if let Ok(ev) = log.log_decode::<Settlement::ReportSkipped>() {
                let d = ev.inner.data;
                outcomes.push(EntryOutcome {
                    job_id: d.jobId,
                    provider: d.provider,
                    nonce: d.nonce,
                    skipped: Some(d.reason),
                });
            }
        }
        Ok(TxStatus::Confirmed { block, success: receipt.status(), outcomes })
    }
}

impl SettlementChain for AlloyChain {
    fn prepare(&self, reports: &[SignedReport]) -> BoxFuture<'_, Result<PreparedTx, ChainError>> {
        let reports = reports.to_vec();
        Box::pin(async move { self.prepare_tx(&reports).await })
    }

    fn broadcast(&self, tx: &PreparedTx) -> BoxFuture<'_, Result<(), ChainError>> {
        let raw = tx.raw.clone();
        Box::pin(async move { self.provider.send_raw_transaction(&raw).await.map(|_| ()).map_err(rpc) })
    }

    fn status(&self, hash: B256) -> BoxFuture<'_, Result<TxStatus, ChainError>> {
        Box::pin(async move { self.tx_status(hash).await })
    }

    fn replace(&self, hash: B256) -> BoxFuture<'_, Result<Option<PreparedTx>, ChainError>> {
        Box::pin(async move { self.replace_tx(hash).await })
    }

    fn find_settled(
        &self,
        reports: &[SignedReport],
    ) -> BoxFuture<'_, Result<Vec<SettledLookup>, ChainError>> {
        let reports = reports.to_vec();
        Box::pin(async move { self.lookup_settled(&reports).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GWEI: u128 = 1_000_000_000;

    #[test]
    fn replacement_fees_bump_both_fees_or_follow_a_higher_estimate() {
        // Estimate below the bump: +20% on both.
        assert_eq!(
            replacement_fees(10 * GWEI, GWEI, 5 * GWEI, GWEI / 2, 20, None),
            ReplacementFees::Send { max_fee_per_gas: 12 * GWEI, max_priority_fee_per_gas: 1_200_000_000 }
        );
        // Estimate above the bump: the estimate.
        assert_eq!(
            replacement_fees(10 * GWEI, GWEI, 30 * GWEI, 2 * GWEI, 20, None),
            ReplacementFees::Send { max_fee_per_gas: 30 * GWEI, max_priority_fee_per_gas: 2 * GWEI }
        );
        // The tip never above the max fee.
        let ReplacementFees::Send { max_fee_per_gas, max_priority_fee_per_gas } =
            replacement_fees(10, 10, 0, 50, 10, None)
        else {
            panic!()
        };
        assert!(max_priority_fee_per_gas <= max_fee_per_gas);
    }

    #[test]
    fn the_cap_lowers_the_estimate_but_never_breaks_the_replacement_rule() {
        // The estimate (30 gwei) is above the cap (15 gwei), the bump (12 gwei) is not: send at
        // the cap; both fees still at least +10%.
        let fees = replacement_fees(10 * GWEI, GWEI, 30 * GWEI, 2 * GWEI, 20, Some(15 * GWEI));
        assert_eq!(
            fees,
            ReplacementFees::Send { max_fee_per_gas: 15 * GWEI, max_priority_fee_per_gas: 2 * GWEI }
        );
        // Exactly at the cap is allowed.
        let fees = replacement_fees(10 * GWEI, GWEI, 0, 0, 20, Some(12 * GWEI));
        assert_eq!(
            fees,
            ReplacementFees::Send { max_fee_per_gas: 12 * GWEI, max_priority_fee_per_gas: 1_200_000_000 }
        );
        // One wei short: not sent.
        assert_eq!(
            replacement_fees(10 * GWEI, GWEI, 0, 0, 20, Some(12 * GWEI - 1)),
            ReplacementFees::OverCap { needed_max_fee_per_gas: 12 * GWEI, cap: 12 * GWEI - 1 }
        );
        // A tip bumped above the cap is over the cap too (max fee >= tip).
        assert!(matches!(
            replacement_fees(GWEI, 10 * GWEI, 0, 0, 10, Some(5 * GWEI)),
            ReplacementFees::OverCap { .. }
        ));
        // Any fee sent under a cap respects it, and clears the 10% rule against the original.
        for (old_max, old_tip, est_max, est_tip, pct, cap) in [
            (7u128, 3u128, 100u128, 9u128, 10u64, 9u128),
            (1_000, 999, 0, 0, 25, 2_000),
            (u128::MAX / 2, 1, u128::MAX, 1, 10, u128::MAX),
        ] {
            if let ReplacementFees::Send { max_fee_per_gas, max_priority_fee_per_gas } =
                replacement_fees(old_max, old_tip, est_max, est_tip, pct, Some(cap))
            {
                assert!(max_fee_per_gas <= cap);
                assert!(max_priority_fee_per_gas <= max_fee_per_gas);
                assert!(max_fee_per_gas >= bump_fee(old_max, 10));
                assert!(max_priority_fee_per_gas >= bump_fee(old_tip, 10));
            }
        }
    }

    #[test]
    fn first_sends_are_capped_too() {
        assert_eq!(first_send_fees(30, 2, None), (30, 2));
        assert_eq!(first_send_fees(30, 2, Some(20)), (20, 2));
        assert_eq!(first_send_fees(30, 25, Some(20)), (20, 20));
    }
}
