//! JSON-RPC methods. Transport-independent: takes a parsed request, returns a response
//! value; never panics on bad input.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use alloy_consensus::{
    transaction::Recovered, Eip658Value, Receipt, ReceiptEnvelope, ReceiptWithBloom, Transaction as _,
    TxEnvelope,
};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{hex, Address, Bytes, B256, U256, U64};
use alloy_rpc_types_eth::{
    state::StateOverride, Block, BlockTransactions, FeeHistory, Filter, Header as RpcHeader,
    Transaction as RpcTransaction, TransactionReceipt, TransactionRequest,
};
use alloy_sol_types::SolError;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::chain::{tx_size, Chain, ChainError, StoredBlock, StoredTx, BASE_FEE};

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), data: None }
    }
    pub fn parse() -> Self {
        Self::new(-32700, "parse error")
    }
    pub fn invalid_request(msg: &str) -> Self {
        Self::new(-32600, format!("invalid request: {msg}"))
    }
    pub fn method_not_found(m: &str) -> Self {
        Self::new(-32601, format!("the method {m} does not exist/is not available"))
    }
    pub fn invalid_params(msg: impl std::fmt::Display) -> Self {
        Self::new(-32602, format!("invalid params: {msg}"))
    }
    pub fn to_json(&self) -> Value {
        let mut v = json!({ "code": self.code, "message": self.message });
        if let Some(d) = &self.data {
            v["data"] = d.clone();
        }
        v
    }
}

impl From<ChainError> for RpcError {
    fn from(e: ChainError) -> Self {
        match e {
            ChainError::Reverted(data) => {
                // geth's format: code 3, "execution reverted[: reason]", data = revert bytes.
                let reason = alloy_sol_types::Revert::abi_decode(&data).ok().map(|r| r.reason);
                let message = match reason {
                    Some(r) => format!("execution reverted: {r}"),
                    None => "execution reverted".to_string(),
                };
                RpcError { code: 3, message, data: Some(Value::String(hex::encode_prefixed(&data))) }
            }
            ChainError::Decode(m) => RpcError::invalid_params(m),
            ChainError::UnknownBlock => RpcError::new(-32001, "unknown block"),
            other => RpcError::new(-32000, other.to_string()),
        }
    }
}

/// Installed polling filters (eth_newBlockFilter / eth_newFilter).
enum PollFilter {
    Blocks { next: u64 },
    Logs { filter: Box<Filter>, next: u64 },
}

/// The RPC service: the chain plus per-node RPC state.
#[derive(Clone)]
pub struct Rpc {
    chain: Arc<Mutex<Chain>>,
    filters: Arc<Mutex<(u64, HashMap<u64, PollFilter>)>>,
}

fn param<T: DeserializeOwned>(params: &Value, i: usize) -> Result<T, RpcError> {
    let v = params.get(i).cloned().unwrap_or(Value::Null);
    serde_json::from_value(v).map_err(|e| RpcError::invalid_params(format!("argument {i}: {e}")))
}

fn opt_param<T: DeserializeOwned>(params: &Value, i: usize) -> Result<Option<T>, RpcError> {
    match params.get(i) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| RpcError::invalid_params(format!("argument {i}: {e}"))),
    }
}

fn to_json<T: serde::Serialize>(v: T) -> Result<Value, RpcError> {
    serde_json::to_value(v).map_err(|e| RpcError::new(-32603, e.to_string()))
}

fn quantity(n: u64) -> Value {
    json!(U64::from(n))
}

impl Rpc {
    pub fn new(chain: Chain) -> Self {
        Self { chain: Arc::new(Mutex::new(chain)), filters: Arc::new(Mutex::new((1, HashMap::new()))) }
    }

    pub fn chain(&self) -> std::sync::MutexGuard<'_, Chain> {
        // A panic while holding the lock must not take the node down with it.
        self.chain.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handles one JSON-RPC request object; returns the response object (None for
    /// notifications).
    pub fn handle_request(&self, req: &Value) -> Option<Value> {
        let id = req.get("id").cloned();
        let result = (|| {
            let obj = req.as_object().ok_or_else(|| RpcError::invalid_request("not an object"))?;
            let method = obj
                .get("method")
                .and_then(Value::as_str)
                .ok_or_else(|| RpcError::invalid_request("missing method"))?;
            let params = match obj.get("params") {
                None | Some(Value::Null) => Value::Array(vec![]),
                Some(p @ Value::Array(_)) => p.clone(),
                Some(_) => return Err(RpcError::invalid_params("params must be an array")),
            };
            tracing::debug!(method, "rpc");
            // Catch panics so one bad request cannot kill the server task.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.dispatch(method, &params)))
                .unwrap_or_else(|_| Err(RpcError::new(-32603, "internal error")))
        })();
        let id = match id {
            Some(id) => id,
            None if req.is_object() && req.get("method").is_some() => return None,
            None => Value::Null,
        };
        Some(match result {
            Ok(v) => json!({ "jsonrpc": "2.0", "id": id, "result": v }),
            Err(e) => json!({ "jsonrpc": "2.0", "id": id, "error": e.to_json() }),
        })
    }

    /// Checks that a block parameter names the latest state: historical state is not kept.
    fn state_block(&self, params: &Value, i: usize) -> Result<(), RpcError> {
        let Some(id) = opt_param::<BlockId>(params, i)? else { return Ok(()) };
        let chain = self.chain();
        let head = chain.head();
        match id {
            BlockId::Number(BlockNumberOrTag::Number(n)) if n == head.header.number => Ok(()),
            BlockId::Number(BlockNumberOrTag::Number(n)) if n > head.header.number => {
                Err(RpcError::new(-32001, "unknown block"))
            }
            BlockId::Number(BlockNumberOrTag::Number(_)) | BlockId::Number(BlockNumberOrTag::Earliest) => {
                Err(RpcError::new(
                    -32000,
                    "historical state is not available (devnet keeps the latest state only)",
                ))
            }
            BlockId::Hash(h) if h.block_hash == head.hash => Ok(()),
            BlockId::Hash(_) => Err(RpcError::new(
                -32000,
                "historical state is not available (devnet keeps the latest state only)",
            )),
            _ => Ok(()),
        }
    }

    fn dispatch(&self, method: &str, p: &Value) -> Result<Value, RpcError> {
        match method {
            "web3_clientVersion" => Ok(json!(format!("devnet/{}", env!("CARGO_PKG_VERSION")))),
            "net_version" => Ok(json!(self.chain().chain_id.to_string())),
            "net_listening" => Ok(json!(true)),
            "eth_syncing" => Ok(json!(false)),
            "eth_chainId" => Ok(quantity(self.chain().chain_id)),
            "eth_blockNumber" => Ok(quantity(self.chain().head().header.number)),
            "eth_gasPrice" => Ok(quantity(BASE_FEE)),
            "eth_maxPriorityFeePerGas" => Ok(quantity(0)),
            "eth_accounts" => {
                Ok(to_json(self.chain().accounts.iter().map(|a| a.address).collect::<Vec<_>>())?)
            }
            "eth_getBalance" => {
                let a: Address = param(p, 0)?;
                self.state_block(p, 1)?;
                to_json(self.chain().balance(a))
            }
            "eth_getCode" => {
                let a: Address = param(p, 0)?;
                self.state_block(p, 1)?;
                to_json(self.chain().code(a))
            }
            "eth_getStorageAt" => {
                let a: Address = param(p, 0)?;
                let slot: U256 = param(p, 1)?;
                self.state_block(p, 2)?;
                to_json(B256::from(self.chain().storage(a, slot)))
            }
            "eth_getTransactionCount" => {
                let a: Address = param(p, 0)?;
                self.state_block(p, 1)?;
                let pending =
                    matches!(opt_param::<BlockId>(p, 1)?, Some(BlockId::Number(BlockNumberOrTag::Pending)));
                let chain = self.chain();
                Ok(quantity(if pending { chain.pending_nonce(a) } else { chain.nonce(a) }))
            }
            "eth_sendRawTransaction" => {
                let raw: Bytes = param(p, 0)?;
                let hash = self.chain().send_raw_transaction(&raw)?;
                to_json(hash)
            }
            "eth_call" => {
                let req: TransactionRequest = param(p, 0)?;
                self.state_block(p, 1)?;
                let overrides: Option<StateOverride> = opt_param(p, 2)?;
                let (out, _) = self.chain().call(&req, overrides.as_ref(), None)?;
                to_json(out)
            }
            "eth_estimateGas" => {
                let req: TransactionRequest = param(p, 0)?;
                self.state_block(p, 1)?;
                let overrides: Option<StateOverride> = opt_param(p, 2)?;
                Ok(quantity(self.chain().estimate_gas(&req, overrides.as_ref())?))
            }
            "eth_getTransactionReceipt" => {
                let h: B256 = param(p, 0)?;
                let chain = self.chain();
                match chain.txs.get(&h) {
                    Some(tx) => to_json(receipt(&chain, tx)),
                    None => Ok(Value::Null),
                }
            }
            "eth_getTransactionByHash" => {
                let h: B256 = param(p, 0)?;
                let chain = self.chain();
                match chain.txs.get(&h) {
                    Some(tx) => to_json(rpc_tx(tx)),
                    // Queued (interval mining): known, not in a block yet.
                    None => match chain.pending_tx(&h) {
                        Some((envelope, from)) => to_json(RpcTransaction {
                            inner: Recovered::new_unchecked(envelope.clone(), from),
                            block_hash: None,
                            block_number: None,
                            transaction_index: None,
                            effective_gas_price: None,
                            block_timestamp: None,
                        }),
                        None => Ok(Value::Null),
                    },
                }
            }
            "eth_getBlockByNumber" => {
                let tag: BlockNumberOrTag = param(p, 0)?;
                let full: bool = opt_param(p, 1)?.unwrap_or(false);
                let chain = self.chain();
                let n = match tag {
                    BlockNumberOrTag::Number(n) => n,
                    BlockNumberOrTag::Earliest => 0,
                    _ => chain.head().header.number,
                };
                match chain.block_by_number(n) {
                    Some(b) => to_json(rpc_block(&chain, b, full)),
                    None => Ok(Value::Null),
                }
            }
            "eth_getBlockByHash" => {
                let h: B256 = param(p, 0)?;
                let full: bool = opt_param(p, 1)?.unwrap_or(false);
                let chain = self.chain();
                match chain.block_by_hash(&h) {
                    Some(b) => to_json(rpc_block(&chain, b, full)),
                    None => Ok(Value::Null),
                }
            }
            "eth_getLogs" => {
                let f: Filter = param(p, 0)?;
                to_json(self.chain().logs(&f)?)
            }
            "eth_feeHistory" => {
                let count: U64 = param(p, 0)?;
                let newest: BlockNumberOrTag = param(p, 1)?;
                let percentiles: Option<Vec<f64>> = opt_param(p, 2)?;
                let chain = self.chain();
                let head = chain.head().header.number;
                let newest = newest.as_number().unwrap_or(head).min(head);
                let count = count.to::<u64>().clamp(1, 1024).min(newest + 1);
                let oldest = newest + 1 - count;
                let reward = percentiles.map(|ps| vec![vec![0u128; ps.len()]; count as usize]);
                let ratios = (oldest..=newest)
                    .map(|n| {
                        let h = &chain.blocks[n as usize].header;
                        h.gas_used as f64 / h.gas_limit as f64
                    })
                    .collect();
                to_json(FeeHistory {
                    base_fee_per_gas: vec![BASE_FEE as u128; count as usize + 1],
                    gas_used_ratio: ratios,
                    base_fee_per_blob_gas: vec![],
                    blob_gas_used_ratio: vec![],
                    oldest_block: oldest,
                    reward,
                })
            }
            "eth_newBlockFilter" => {
                let next = self.chain().head().header.number + 1;
                Ok(self.install(PollFilter::Blocks { next }))
            }
            "eth_newFilter" => {
                let f: Filter = param(p, 0)?;
                let next = self.chain().head().header.number + 1;
                Ok(self.install(PollFilter::Logs { filter: Box::new(f), next }))
            }
            "eth_uninstallFilter" => {
                let id: U64 = param(p, 0)?;
                let mut filters = self.filters.lock().unwrap_or_else(|e| e.into_inner());
                Ok(json!(filters.1.remove(&id.to::<u64>()).is_some()))
            }
            "eth_getFilterChanges" => {
                let id: U64 = param(p, 0)?;
                let chain = self.chain();
                let head = chain.head().header.number;
                let mut filters = self.filters.lock().unwrap_or_else(|e| e.into_inner());
                match filters.1.get_mut(&id.to::<u64>()) {
                    None => Err(RpcError::new(-32000, "filter not found")),
                    Some(PollFilter::Blocks { next }) => {
                        let hashes: Vec<B256> =
                            (*next..=head).filter_map(|n| chain.block_by_number(n)).map(|b| b.hash).collect();
                        *next = head + 1;
                        to_json(hashes)
                    }
                    Some(PollFilter::Logs { filter, next }) => {
                        let f = (**filter).clone().from_block(*next).to_block(head);
                        *next = head + 1;
                        to_json(chain.logs(&f)?)
                    }
                }
            }
            // Test controls (anvil/hardhat names).
            "evm_setAutomine" => {
                let on: bool = param(p, 0)?;
                self.chain().set_automine(on);
                Ok(Value::Bool(true))
            }
            "evm_snapshot" => Ok(quantity(self.chain().snapshot())),
            "evm_revert" => {
                let id: U64 = param(p, 0)?;
                Ok(json!(self.chain().revert_to(id.to::<u64>())))
            }
            "evm_increaseTime" => {
                let secs: i64 = match param::<Value>(p, 0)? {
                    Value::Number(n) => n.as_i64().ok_or_else(|| RpcError::invalid_params("seconds"))?,
                    v => {
                        serde_json::from_value::<U64>(v).map_err(RpcError::invalid_params)?.to::<u64>() as i64
                    }
                };
                Ok(json!(self.chain().increase_time(secs)))
            }
            "evm_setNextBlockTimestamp" => {
                let ts = match param::<Value>(p, 0)? {
                    Value::Number(n) => n.as_u64().ok_or_else(|| RpcError::invalid_params("timestamp"))?,
                    v => serde_json::from_value::<U64>(v).map_err(RpcError::invalid_params)?.to::<u64>(),
                };
                self.chain().set_next_timestamp(ts)?;
                Ok(Value::Null)
            }
            "evm_mine" => {
                let ts = match opt_param::<Value>(p, 0)? {
                    None => None,
                    Some(Value::Number(n)) => n.as_u64(),
                    Some(Value::Object(o)) => o.get("timestamp").and_then(|v| {
                        v.as_u64()
                            .or_else(|| serde_json::from_value::<U64>(v.clone()).ok().map(|x| x.to::<u64>()))
                    }),
                    Some(v) => {
                        Some(serde_json::from_value::<U64>(v).map_err(RpcError::invalid_params)?.to::<u64>())
                    }
                };
                self.chain().mine_empty(ts)?;
                Ok(json!("0x0"))
            }
            _ => Err(RpcError::method_not_found(method)),
        }
    }

    /// The RPC header of block `n` (what `newHeads` subscriptions send).
    pub fn header_json(&self, n: u64) -> Option<Value> {
        let chain = self.chain();
        let b = chain.block_by_number(n)?;
        let block = rpc_block(&chain, b, false);
        serde_json::to_value(block.header).ok()
    }

    /// Logs of block `n` that match `filter` (its block range is ignored).
    pub fn block_logs(&self, n: u64, filter: &Filter) -> Vec<Value> {
        let chain = self.chain();
        let f = filter.clone().from_block(n).to_block(n);
        chain.logs(&f).unwrap_or_default().into_iter().filter_map(|l| serde_json::to_value(l).ok()).collect()
    }

    /// Hashes of the transactions in block `n`.
    pub fn block_tx_hashes(&self, n: u64) -> Vec<B256> {
        self.chain().block_by_number(n).map(|b| b.txs.clone()).unwrap_or_default()
    }

    fn install(&self, f: PollFilter) -> Value {
        let mut filters = self.filters.lock().unwrap_or_else(|e| e.into_inner());
        let id = filters.0;
        filters.0 += 1;
        filters.1.insert(id, f);
        quantity(id)
    }
}

fn rpc_tx(tx: &StoredTx) -> RpcTransaction<TxEnvelope> {
    RpcTransaction {
        inner: Recovered::new_unchecked(tx.envelope.clone(), tx.from),
        block_hash: Some(tx.block_hash),
        block_number: Some(tx.block_number),
        transaction_index: Some(tx.index),
        effective_gas_price: Some(tx.effective_gas_price),
        block_timestamp: None,
    }
}

fn receipt(chain: &Chain, tx: &StoredTx) -> TransactionReceipt {
    let header = &chain.blocks[tx.block_number as usize].header;
    let logs: Vec<alloy_rpc_types_eth::Log> =
        tx.logs.iter().enumerate().map(|(i, l)| crate::chain::rpc_log(tx, header, i, l)).collect();
    let bloom = alloy_primitives::logs_bloom(tx.logs.iter());
    let inner = ReceiptWithBloom {
        receipt: Receipt {
            status: Eip658Value::Eip658(tx.status),
            cumulative_gas_used: tx.cumulative_gas_used,
            logs,
        },
        logs_bloom: bloom,
    };
    let inner = match &tx.envelope {
        TxEnvelope::Legacy(_) => ReceiptEnvelope::Legacy(inner),
        TxEnvelope::Eip2930(_) => ReceiptEnvelope::Eip2930(inner),
        _ => ReceiptEnvelope::Eip1559(inner),
    };
    TransactionReceipt {
        inner,
        transaction_hash: tx.hash,
        transaction_index: Some(tx.index),
        block_hash: Some(tx.block_hash),
        block_number: Some(tx.block_number),
        gas_used: tx.gas_used,
        effective_gas_price: tx.effective_gas_price,
        blob_gas_used: None,
        blob_gas_price: None,
        from: tx.from,
        to: tx.envelope.to(),
        contract_address: tx.contract_address,
    }
}

fn rpc_block(chain: &Chain, b: &StoredBlock, full: bool) -> Block<RpcTransaction<TxEnvelope>> {
    let txs: Vec<&StoredTx> = b.txs.iter().map(|h| &chain.txs[h]).collect();
    let size = 540 + txs.iter().map(|t| tx_size(&t.envelope)).sum::<usize>();
    let header = RpcHeader {
        hash: b.hash,
        inner: b.header.clone(),
        total_difficulty: Some(U256::ZERO),
        size: Some(U256::from(size)),
    };
    let transactions = if full {
        BlockTransactions::Full(txs.iter().map(|t| rpc_tx(t)).collect())
    } else {
        BlockTransactions::Hashes(b.txs.clone())
    };
    Block { header, uncles: vec![], transactions, withdrawals: None }
}
