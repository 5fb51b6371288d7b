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
        }
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
        tx.set_max_fee_per_gas(fees.max_fee_per_gas);
        tx.set_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
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
        let tip = bump_fee(old_tip, self.bump_percent).max(est.max_priority_fee_per_gas);
        let max_fee = bump_fee(old.max_fee_per_gas(), self.bump_percent).max(est.max_fee_per_gas).max(tip);
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
