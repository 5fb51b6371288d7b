//! [`SettlementChain`] over JSON-RPC with alloy: a local signer (the key never leaves the
//! process and is never logged), EIP-1559 fees from the node's fee history, the account's
//! pending nonce, and a confirmation depth before outcomes are read from the receipt.
//!
//! Not yet: replacing a stuck transaction with a higher fee (today a transaction the node
//! drops is re-queued and re-sent; one that stays pending forever holds the loop).

use alloy::consensus::TxEnvelope;
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use alloy_primitives::{Address, B256};
use market_protocol::bindings::settlement::{settle_batch_call, MarketSettlement};
use market_protocol::SignedReport;

use crate::directory::BoxFuture;
use crate::settlement::{ChainError, EntryOutcome, PreparedTx, SettlementChain, TxStatus};

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
        }
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
            if let Ok(ev) = log.log_decode::<MarketSettlement::ReportSettled>() {
                let d = ev.inner.data;
                outcomes.push(EntryOutcome {
                    job_id: d.jobId,
                    provider: d.provider,
                    nonce: d.nonce,
                    skipped: None,
                });
            } else if let Ok(ev) = log.log_decode::<MarketSettlement::ReportSkipped>() {
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
}
