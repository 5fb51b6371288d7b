//! The chain: in-memory state, blocks, transactions and receipts. Mines one block per
//! transaction as soon as it arrives.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use alloy_consensus::{
    transaction::SignerRecoverable, Header, Transaction as _, TxEnvelope, EMPTY_OMMER_ROOT_HASH,
};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{address, keccak256, logs_bloom, Address, Bytes, Log, TxKind, B256, U256};
use alloy_rpc_types_eth::{state::StateOverride, Filter, FilterBlockOption, TransactionRequest};
use revm::{
    context::{BlockEnv, TxEnv},
    context_interface::result::ExecutionResult,
    state::{AccountInfo, Bytecode},
    DatabaseCommit, DatabaseRef,
};

use crate::{
    accounts::{dev_accounts, dev_balance, DevAccount},
    arbos, arbwasm,
    evm::{self, Db},
    predeploys,
    stylus::ProgramCache,
};

/// Arbitrum's minimum base fee (0.1 gwei). The devnet keeps it constant.
pub const BASE_FEE: u64 = 100_000_000;
/// Block gas limit reported and enforced per transaction (Arbitrum's 32M per-block target).
pub const BLOCK_GAS_LIMIT: u64 = 32_000_000;
/// Arbitrum's "sequencer" coinbase.
pub const COINBASE: Address = address!("A4b000000000000000000073657175656e636572");
/// Gas limit eth_call and eth_estimateGas use when the request gives none.
pub const CALL_GAS_CAP: u64 = 50_000_000;

/// Why a transaction or call was refused. The RPC layer maps each to a JSON-RPC error.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("failed to decode transaction: {0}")]
    Decode(String),
    #[error("invalid signature: {0}")]
    Signature(String),
    #[error("invalid chain id: expected {expected}, got {got}")]
    ChainId { expected: u64, got: u64 },
    #[error("unsupported transaction type {0}")]
    UnsupportedType(u8),
    #[error("{0}")]
    Rejected(String),
    #[error("execution reverted")]
    Reverted(Bytes),
    #[error("{0}")]
    Halted(String),
    #[error("unknown block")]
    UnknownBlock,
}

/// A mined transaction with its receipt data.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StoredTx {
    pub envelope: TxEnvelope,
    pub from: Address,
    pub hash: B256,
    pub block_number: u64,
    pub block_hash: B256,
    pub index: u64,
    pub status: bool,
    pub gas_used: u64,
    pub cumulative_gas_used: u64,
    pub logs: Vec<Log>,
    pub contract_address: Option<Address>,
    pub effective_gas_price: u128,
    /// Index of this transaction's first log within its block.
    pub first_log_index: u64,
}

/// A mined block.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StoredBlock {
    pub header: Header,
    pub hash: B256,
    pub txs: Vec<B256>,
}

/// A transaction's outcome inside a block being built.
struct Executed {
    status: bool,
    gas_used: u64,
    logs: Vec<Log>,
}

/// Chain configuration.
#[derive(Clone, Debug)]
pub struct ChainConfig {
    pub chain_id: u64,
}

/// Everything `evm_snapshot` saves and `evm_revert` restores.
#[derive(Clone)]
struct Snapshot {
    db: Db,
    blocks: Vec<StoredBlock>,
    block_index: HashMap<B256, u64>,
    txs: HashMap<B256, StoredTx>,
    time_offset: i64,
    next_timestamp: Option<u64>,
    pending: Vec<(TxEnvelope, Address)>,
}

/// The whole chain.
pub struct Chain {
    pub chain_id: u64,
    db: Db,
    programs: Arc<ProgramCache>,
    pub blocks: Vec<StoredBlock>,
    block_index: HashMap<B256, u64>,
    pub txs: HashMap<B256, StoredTx>,
    pub accounts: Vec<DevAccount>,
    /// Seconds added to the wall clock (evm_increaseTime).
    time_offset: i64,
    /// Timestamp forced on the next mined block (evm_setNextBlockTimestamp).
    next_timestamp: Option<u64>,
    /// Saved states by id (evm_snapshot); ids are never reused.
    snapshots: Vec<(u64, Snapshot)>,
    next_snapshot_id: u64,
    /// Announces each newly mined block number (WebSocket subscriptions listen here).
    new_blocks: tokio::sync::broadcast::Sender<u64>,
    /// One block per transaction (true) or interval mining with a queue (false).
    automine: bool,
    /// Transactions waiting for the next interval block, with their senders.
    pending: Vec<(TxEnvelope, Address)>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Chain {
    /// Genesis: funded dev accounts, and marker code at the precompile addresses (Arbitrum
    /// precompiles have code `0xfe`, so Solidity's extcodesize check passes).
    pub fn new(config: ChainConfig) -> Self {
        let mut db = Db::default();
        let accounts = dev_accounts();
        for acc in &accounts {
            db.insert_account_info(acc.address, AccountInfo { balance: dev_balance(), ..Default::default() });
        }
        let marker = Bytecode::new_raw(Bytes::from_static(&[0xfe]));
        for precompile in [arbwasm::ADDRESS, arbos::ARB_SYS, arbos::ARB_OWNER_PUBLIC] {
            db.insert_account_info(
                precompile,
                AccountInfo {
                    code_hash: marker.hash_slow(),
                    code: Some(marker.clone()),
                    nonce: 1,
                    ..Default::default()
                },
            );
        }
        let timestamp = now();
        let programs = Arc::new(ProgramCache::new());
        let db = install_predeploys(db, config.chain_id, timestamp, &programs);
        let header = Header {
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: COINBASE,
            number: 0,
            gas_limit: BLOCK_GAS_LIMIT,
            timestamp,
            base_fee_per_gas: Some(BASE_FEE),
            ..Default::default()
        };
        let hash = header.hash_slow();
        let mut db = db;
        db.cache.block_hashes.insert(U256::ZERO, hash);
        let genesis = StoredBlock { header, hash, txs: vec![] };
        Self {
            chain_id: config.chain_id,
            db,
            programs,
            block_index: HashMap::from([(hash, 0)]),
            blocks: vec![genesis],
            txs: HashMap::new(),
            accounts,
            time_offset: 0,
            next_timestamp: None,
            snapshots: Vec::new(),
            next_snapshot_id: 0,
            new_blocks: tokio::sync::broadcast::channel(1024).0,
            automine: true,
            pending: Vec::new(),
        }
    }

    /// A receiver of newly mined block numbers. A block's transactions and receipts are in
    /// the chain by the time a receiver can lock the chain to read them.
    pub fn subscribe_blocks(&self) -> tokio::sync::broadcast::Receiver<u64> {
        self.new_blocks.subscribe()
    }

    // ----- test controls -----

    /// Saves the whole chain; returns the snapshot id.
    pub fn snapshot(&mut self) -> u64 {
        let id = self.next_snapshot_id;
        self.next_snapshot_id += 1;
        let snap = Snapshot {
            db: self.db.clone(),
            blocks: self.blocks.clone(),
            block_index: self.block_index.clone(),
            txs: self.txs.clone(),
            time_offset: self.time_offset,
            next_timestamp: self.next_timestamp,
            pending: self.pending.clone(),
        };
        self.snapshots.push((id, snap));
        id
    }

    /// Restores snapshot `id` and drops it and every later one (as anvil and hardhat do).
    pub fn revert_to(&mut self, id: u64) -> bool {
        let Some(pos) = self.snapshots.iter().position(|(i, _)| *i == id) else { return false };
        let (_, snap) = self.snapshots.drain(pos..).next().expect("position exists");
        self.db = snap.db;
        self.blocks = snap.blocks;
        self.block_index = snap.block_index;
        self.txs = snap.txs;
        self.time_offset = snap.time_offset;
        self.next_timestamp = snap.next_timestamp;
        self.pending = snap.pending;
        true
    }

    /// Moves the clock forward; returns the total offset in seconds.
    pub fn increase_time(&mut self, seconds: i64) -> i64 {
        self.time_offset = self.time_offset.saturating_add(seconds);
        self.time_offset
    }

    /// Forces the next block's timestamp; it must not go back in time.
    pub fn set_next_timestamp(&mut self, ts: u64) -> Result<(), ChainError> {
        if ts < self.head().header.timestamp {
            return Err(ChainError::Rejected(format!(
                "timestamp {ts} is before the latest block's {}",
                self.head().header.timestamp
            )));
        }
        self.next_timestamp = Some(ts);
        Ok(())
    }

    /// Mines a block (evm_mine), optionally at a given timestamp: empty, or with the queued
    /// transactions when interval mining is on.
    pub fn mine_empty(&mut self, timestamp: Option<u64>) -> Result<(), ChainError> {
        if let Some(ts) = timestamp {
            self.set_next_timestamp(ts)?;
        }
        // With interval mining, evm_mine includes the queued transactions (as anvil does).
        self.mine_pending();
        Ok(())
    }

    /// Appends a block with the given transactions on top of the head.
    fn seal(
        &mut self,
        block: &BlockEnv,
        txs: Vec<&TxEnvelope>,
        gas_used: u64,
        bloom: alloy_primitives::Bloom,
    ) -> B256 {
        let number = block.number.saturating_to::<u64>();
        let header = Header {
            parent_hash: self.head().hash,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: COINBASE,
            transactions_root: alloy_consensus::proofs::calculate_transaction_root(&txs),
            logs_bloom: bloom,
            number,
            gas_limit: BLOCK_GAS_LIMIT,
            gas_used,
            timestamp: block.timestamp.saturating_to(),
            mix_hash: block.prevrandao.unwrap_or_default(),
            base_fee_per_gas: Some(BASE_FEE),
            ..Default::default()
        };
        let hash = header.hash_slow();
        // BLOCKHASH and ArbSys.arbBlockHash read block hashes from the state database.
        self.db.cache.block_hashes.insert(U256::from(number), hash);
        self.block_index.insert(hash, number);
        self.blocks.push(StoredBlock { header, hash, txs: txs.iter().map(|t| *t.tx_hash()).collect() });
        // No receivers is fine: nobody is subscribed.
        let _ = self.new_blocks.send(number);
        hash
    }

    pub fn head(&self) -> &StoredBlock {
        self.blocks.last().expect("genesis exists")
    }

    pub fn block_by_number(&self, n: u64) -> Option<&StoredBlock> {
        self.blocks.get(n as usize)
    }

    pub fn block_by_hash(&self, h: &B256) -> Option<&StoredBlock> {
        self.block_index.get(h).and_then(|n| self.block_by_number(*n))
    }

    // ----- state reads (latest state only) -----

    pub fn balance(&self, a: Address) -> U256 {
        self.db.basic_ref(a).ok().flatten().map(|i| i.balance).unwrap_or_default()
    }

    pub fn nonce(&self, a: Address) -> u64 {
        self.db.basic_ref(a).ok().flatten().map(|i| i.nonce).unwrap_or_default()
    }

    pub fn code(&self, a: Address) -> Bytes {
        let Some(info) = self.db.basic_ref(a).ok().flatten() else { return Bytes::new() };
        if let Some(code) = info.code {
            return code.original_bytes();
        }
        self.db.code_by_hash_ref(info.code_hash).map(|c| c.original_bytes()).unwrap_or_default()
    }

    pub fn storage(&self, a: Address, slot: U256) -> U256 {
        self.db.storage_ref(a, slot).unwrap_or_default()
    }

    /// Environment of the block the next transaction goes into.
    fn next_block_env(&self) -> BlockEnv {
        let head = &self.head().header;
        let number = head.number + 1;
        BlockEnv {
            number: U256::from(number),
            beneficiary: COINBASE,
            timestamp: U256::from(
                self.next_timestamp
                    .unwrap_or_else(|| now().saturating_add_signed(self.time_offset))
                    .max(head.timestamp),
            ),
            gas_limit: BLOCK_GAS_LIMIT,
            basefee: BASE_FEE,
            difficulty: U256::ZERO,
            prevrandao: Some(keccak256(number.to_be_bytes())),
            ..Default::default()
        }
    }

    // ----- transactions -----

    /// Decodes, checks and mines a raw signed transaction. Returns its hash.
    pub fn send_raw_transaction(&mut self, raw: &[u8]) -> Result<B256, ChainError> {
        let envelope =
            TxEnvelope::decode_2718(&mut &raw[..]).map_err(|e| ChainError::Decode(e.to_string()))?;
        let from = envelope.recover_signer().map_err(|e| ChainError::Signature(e.to_string()))?;
        match &envelope {
            TxEnvelope::Legacy(_) | TxEnvelope::Eip2930(_) | TxEnvelope::Eip1559(_) => {}
            other => return Err(ChainError::UnsupportedType(other.tx_type() as u8)),
        }
        if let Some(id) = envelope.chain_id() {
            if id != self.chain_id {
                return Err(ChainError::ChainId { expected: self.chain_id, got: id });
            }
        }
        let hash = *envelope.tx_hash();
        if self.txs.contains_key(&hash) || self.pending.iter().any(|(t, _)| t.tx_hash() == &hash) {
            return Err(ChainError::Rejected("already known".into()));
        }
        if self.automine {
            let block = self.next_block_env();
            let executed = self.execute_in_block(&block, &envelope, from, 0)?;
            self.seal_with(&block, vec![(envelope, from, executed)]);
            return Ok(hash);
        }
        // A queued transaction with the same sender and nonce is replaced if both fees rise by
        // at least 10% (geth's and anvil's replacement rule); otherwise it is refused.
        if let Some(slot) = self.pending.iter().position(|(t, f)| *f == from && t.nonce() == envelope.nonce())
        {
            let old = &self.pending[slot].0;
            let bumped = |new: u128, old: u128| new.saturating_mul(10) >= old.saturating_mul(11);
            let tip = |t: &TxEnvelope| t.max_priority_fee_per_gas().unwrap_or_else(|| t.max_fee_per_gas());
            if !bumped(envelope.max_fee_per_gas(), old.max_fee_per_gas()) || !bumped(tip(&envelope), tip(old))
            {
                return Err(ChainError::Rejected("replacement transaction underpriced".into()));
            }
            tracing::info!(%hash, replaced = %old.tx_hash(), "replaced a queued transaction");
            self.pending[slot] = (envelope, from);
            return Ok(hash);
        }
        // Interval mining: queue it. The nonce must follow the sender's queued transactions
        // (no gaps, as in automine mode); everything else is checked when the block is mined.
        let expected = self.pending_nonce(from);
        if envelope.nonce() != expected {
            return Err(ChainError::Rejected(format!(
                "nonce {} is not the next one for {from}: expected {expected}",
                envelope.nonce()
            )));
        }
        tracing::info!(%hash, "queued transaction for the next block");
        self.pending.push((envelope, from));
        Ok(hash)
    }

    /// Next nonce of `a`, counting its queued transactions (the "pending" block tag).
    pub fn pending_nonce(&self, a: Address) -> u64 {
        self.nonce(a) + self.pending.iter().filter(|(_, f)| *f == a).count() as u64
    }

    /// True when a transaction waits in the queue (interval mining).
    pub fn is_pending(&self, hash: &B256) -> bool {
        self.pending.iter().any(|(t, _)| t.tx_hash() == hash)
    }

    /// A transaction waiting in the queue, with its sender.
    pub fn pending_tx(&self, hash: &B256) -> Option<(&TxEnvelope, Address)> {
        self.pending.iter().find(|(t, _)| t.tx_hash() == hash).map(|(t, f)| (t, *f))
    }

    /// Switches automatic mining (one block per transaction) on or off. Switching it on mines
    /// whatever is queued.
    pub fn set_automine(&mut self, on: bool) {
        self.automine = on;
        if on && !self.pending.is_empty() {
            self.mine_pending();
        }
    }

    /// Mines one block with every queued transaction (an empty block if none). Transactions
    /// that have become invalid are dropped with a warning.
    pub fn mine_pending(&mut self) -> B256 {
        let block = self.next_block_env();
        let mut included = Vec::new();
        let mut gas = 0u64;
        for (envelope, from) in std::mem::take(&mut self.pending) {
            match self.execute_in_block(&block, &envelope, from, gas) {
                Ok(executed) => {
                    gas += executed.gas_used;
                    included.push((envelope, from, executed));
                }
                Err(e) => {
                    tracing::warn!(hash = %envelope.tx_hash(), error = %e, "dropped queued transaction")
                }
            }
        }
        self.seal_with(&block, included)
    }

    /// Executes one transaction on top of the current state inside `block` and commits it.
    /// `gas_before` is the gas the block's earlier transactions used.
    fn execute_in_block(
        &mut self,
        block: &BlockEnv,
        envelope: &TxEnvelope,
        from: Address,
        gas_before: u64,
    ) -> Result<Executed, ChainError> {
        if gas_before + envelope.gas_limit() > BLOCK_GAS_LIMIT {
            return Err(ChainError::Rejected("block gas limit reached".into()));
        }
        let tx = tx_env(envelope, from);
        let mut cfg = evm::cfg(self.chain_id);
        cfg.tx_chain_id_check = true;
        // Execute on a copy: whatever happens inside (even a panic), the chain's state is
        // only replaced by a finished execution.
        let (db, out) = evm::execute(self.db.clone(), cfg, block.clone(), tx, self.programs.clone());
        let out = out.map_err(|e| ChainError::Rejected(e.to_string()))?;
        self.db = db;
        self.db.commit(out.state);
        let (status, gas_used, logs) = match out.result {
            ExecutionResult::Success { gas, logs, .. } => (true, gas.tx_gas_used(), logs),
            ExecutionResult::Revert { gas, .. } => (false, gas.tx_gas_used(), vec![]),
            ExecutionResult::Halt { gas, .. } => (false, gas.tx_gas_used(), vec![]),
        };
        Ok(Executed { status, gas_used, logs })
    }

    /// Seals a block holding already executed transactions and stores their receipts.
    fn seal_with(&mut self, block: &BlockEnv, txs: Vec<(TxEnvelope, Address, Executed)>) -> B256 {
        let gas_used = txs.iter().map(|(_, _, e)| e.gas_used).sum();
        let bloom = logs_bloom(txs.iter().flat_map(|(_, _, e)| e.logs.iter()));
        let number = block.number.saturating_to::<u64>();
        self.next_timestamp = None;
        let block_hash = self.seal(block, txs.iter().map(|(t, _, _)| t).collect(), gas_used, bloom);
        let (mut cumulative, mut log_index) = (0u64, 0u64);
        for (index, (envelope, from, e)) in txs.into_iter().enumerate() {
            let hash = *envelope.tx_hash();
            cumulative += e.gas_used;
            let contract_address = match envelope.kind() {
                TxKind::Create if e.status => Some(from.create(envelope.nonce())),
                _ => None,
            };
            tracing::info!(%hash, block = number, gas_used = e.gas_used, status = e.status, "mined transaction");
            let n_logs = e.logs.len() as u64;
            self.txs.insert(
                hash,
                StoredTx {
                    envelope,
                    from,
                    hash,
                    block_number: number,
                    block_hash,
                    index: index as u64,
                    status: e.status,
                    gas_used: e.gas_used,
                    cumulative_gas_used: cumulative,
                    logs: e.logs,
                    contract_address,
                    effective_gas_price: BASE_FEE as u128,
                    first_log_index: log_index,
                },
            );
            log_index += n_logs;
        }
        block_hash
    }

    /// Runs a call against the latest state without committing. Returns (output, gas used).
    pub fn call(
        &self,
        req: &TransactionRequest,
        overrides: Option<&StateOverride>,
        gas_limit: Option<u64>,
    ) -> Result<(Bytes, u64), ChainError> {
        let mut db = self.db.clone();
        if let Some(o) = overrides {
            apply_overrides(&mut db, o)?;
        }
        let from = req.from.unwrap_or_default();
        let nonce = db.basic_ref(from).ok().flatten().map(|i| i.nonce).unwrap_or(0);
        let tx = TxEnv {
            tx_type: 0,
            caller: from,
            gas_limit: gas_limit.or(req.gas).unwrap_or(CALL_GAS_CAP),
            gas_price: 0,
            kind: req.to.unwrap_or(TxKind::Create),
            value: req.value.unwrap_or_default(),
            data: req.input.input().cloned().unwrap_or_default(),
            nonce,
            chain_id: Some(self.chain_id),
            ..Default::default()
        };
        let mut cfg = evm::cfg(self.chain_id);
        // eth_call semantics: no fee, no nonce check, no base-fee floor.
        cfg.disable_nonce_check = true;
        cfg.disable_base_fee = true;
        cfg.disable_fee_charge = true;
        cfg.disable_block_gas_limit = true;
        let (_, out) = evm::execute(db, cfg, self.next_block_env(), tx, self.programs.clone());
        let out = out.map_err(|e| ChainError::Rejected(e.to_string()))?;
        match out.result {
            ExecutionResult::Success { gas, output, .. } => Ok((output.into_data(), gas.tx_gas_used())),
            ExecutionResult::Revert { output, .. } => Err(ChainError::Reverted(output)),
            ExecutionResult::Halt { reason, .. } => Err(ChainError::Halted(format!("{reason:?}"))),
        }
    }

    /// Smallest gas limit with which the call succeeds (binary search, as geth does).
    pub fn estimate_gas(
        &self,
        req: &TransactionRequest,
        overrides: Option<&StateOverride>,
    ) -> Result<u64, ChainError> {
        let cap = req.gas.unwrap_or(CALL_GAS_CAP);
        let (_, used) = self.call(req, overrides, Some(cap))?;
        let mut lo = used.saturating_sub(1).max(20_999);
        let mut hi = cap;
        // Most calls succeed with what they used plus the 63/64 headroom; try that first.
        let guess = (used + used / 63 + 2_300).min(cap);
        if self.call(req, overrides, Some(guess)).is_ok() {
            hi = guess;
        } else {
            lo = guess;
        }
        while lo + 1 < hi {
            let mid = lo + (hi - lo) / 2;
            if self.call(req, overrides, Some(mid)).is_ok() {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(hi)
    }

    /// Logs matching a filter, with their position in the chain.
    pub fn logs(&self, filter: &Filter) -> Result<Vec<alloy_rpc_types_eth::Log>, ChainError> {
        let head = self.head().header.number;
        let (from, to) = match &filter.block_option {
            FilterBlockOption::AtBlockHash(h) => {
                let b = self.block_by_hash(h).ok_or(ChainError::UnknownBlock)?;
                (b.header.number, b.header.number)
            }
            FilterBlockOption::Range { from_block, to_block } => {
                let resolve = |t: &Option<alloy_eips::BlockNumberOrTag>, default: u64| match t {
                    None => default,
                    Some(t) => match t.as_number() {
                        Some(n) => n,
                        None if t.is_earliest() => 0,
                        None => head,
                    },
                };
                (resolve(from_block, head), resolve(to_block, head).min(head))
            }
        };
        let mut out = Vec::new();
        for n in from..=to {
            let Some(block) = self.block_by_number(n) else { break };
            for tx_hash in &block.txs {
                let tx = &self.txs[tx_hash];
                for (i, log) in tx.logs.iter().enumerate() {
                    if filter.matches(log) {
                        out.push(rpc_log(tx, &block.header, i, log));
                    }
                }
            }
        }
        Ok(out)
    }
}

/// One account in a state file.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct DumpedAccount {
    pub balance: U256,
    pub nonce: u64,
    #[serde(default, skip_serializing_if = "<[u8]>::is_empty")]
    pub code: Bytes,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub storage: std::collections::BTreeMap<U256, U256>,
}

/// What `--state FILE` saves and loads: the latest state, every block and transaction, and
/// the clock offset. Snapshots (evm_snapshot) are not saved.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StateDump {
    /// Format version of this file.
    pub version: u32,
    pub chain_id: u64,
    pub time_offset: i64,
    pub accounts: std::collections::BTreeMap<Address, DumpedAccount>,
    pub blocks: Vec<StoredBlock>,
    pub txs: Vec<StoredTx>,
}

/// Current [`StateDump::version`].
pub const STATE_DUMP_VERSION: u32 = 1;

impl Chain {
    /// The whole chain as a [`StateDump`].
    pub fn dump(&self) -> StateDump {
        let mut accounts = std::collections::BTreeMap::new();
        for (address, acc) in &self.db.cache.accounts {
            if matches!(acc.account_state, revm::database::AccountState::NotExisting) {
                continue;
            }
            let code = if acc.info.is_empty_code_hash() { Bytes::new() } else { self.code(*address) };
            let storage = acc.storage.iter().filter(|(_, v)| !v.is_zero()).map(|(k, v)| (*k, *v)).collect();
            accounts.insert(
                *address,
                DumpedAccount { balance: acc.info.balance, nonce: acc.info.nonce, code, storage },
            );
        }
        let mut txs: Vec<StoredTx> = self.txs.values().cloned().collect();
        txs.sort_by_key(|t| (t.block_number, t.index));
        StateDump {
            version: STATE_DUMP_VERSION,
            chain_id: self.chain_id,
            time_offset: self.time_offset,
            accounts,
            blocks: self.blocks.clone(),
            txs,
        }
    }

    /// Replaces the chain with a dump (the genesis contracts come from the dump too).
    pub fn load(&mut self, dump: StateDump) -> Result<(), ChainError> {
        if dump.version != STATE_DUMP_VERSION {
            return Err(ChainError::Rejected(format!(
                "state file format {} is not supported (expected {STATE_DUMP_VERSION})",
                dump.version
            )));
        }
        if dump.chain_id != self.chain_id {
            return Err(ChainError::Rejected(format!(
                "state file is for chain id {}, this devnet runs chain id {}",
                dump.chain_id, self.chain_id
            )));
        }
        if dump.blocks.is_empty() {
            return Err(ChainError::Rejected("state file has no blocks".into()));
        }
        let mut db = Db::default();
        for (address, acc) in dump.accounts {
            let mut info = AccountInfo { balance: acc.balance, nonce: acc.nonce, ..Default::default() };
            if !acc.code.is_empty() {
                let code = Bytecode::new_raw(acc.code);
                info.code_hash = code.hash_slow();
                info.code = Some(code);
            }
            db.insert_account_info(address, info);
            for (slot, value) in acc.storage {
                db.insert_account_storage(address, slot, value)
                    .map_err(|e| ChainError::Rejected(format!("{e:?}")))?;
            }
        }
        let mut block_index = HashMap::new();
        for (i, b) in dump.blocks.iter().enumerate() {
            if b.header.number != i as u64 {
                return Err(ChainError::Rejected(format!(
                    "state file: block {i} has number {}",
                    b.header.number
                )));
            }
            block_index.insert(b.hash, b.header.number);
            db.cache.block_hashes.insert(U256::from(b.header.number), b.hash);
        }
        self.db = db;
        self.blocks = dump.blocks;
        self.block_index = block_index;
        self.txs = dump.txs.into_iter().map(|t| (t.hash, t)).collect();
        self.time_offset = dump.time_offset;
        self.next_timestamp = None;
        self.snapshots.clear();
        self.pending.clear();
        Ok(())
    }
}

/// Installs the CREATE2 factory and the StylusDeployer by executing, at genesis, the same
/// transactions the nitro dev node's setup sends (see [`predeploys`]). Nothing is mined and no
/// fee is charged; only the accounts the transactions touch change.
fn install_predeploys(db: Db, chain_id: u64, timestamp: u64, programs: &Arc<ProgramCache>) -> Db {
    let mut cfg = evm::cfg(chain_id);
    cfg.disable_nonce_check = true;
    cfg.disable_base_fee = true;
    cfg.disable_fee_charge = true;
    cfg.disable_block_gas_limit = true;
    let block = BlockEnv {
        number: U256::ZERO,
        beneficiary: COINBASE,
        timestamp: U256::from(timestamp),
        gas_limit: BLOCK_GAS_LIMIT,
        basefee: 0,
        prevrandao: Some(B256::ZERO),
        ..Default::default()
    };
    let raw = alloy_primitives::hex::decode(predeploys::CREATE2_FACTORY_RAW_TX).expect("valid hex");
    let factory_tx = TxEnvelope::decode_2718(&mut &raw[..]).expect("valid factory tx");
    let from = factory_tx.recover_signer().expect("valid factory tx signature");
    debug_assert_eq!(from, predeploys::CREATE2_FACTORY_DEPLOYER);
    let mut deployer_input = vec![0u8; 32]; // CREATE2 salt 0
    deployer_input
        .extend(alloy_primitives::hex::decode(predeploys::STYLUS_DEPLOYER_INITCODE).expect("valid hex"));
    let deployer_tx = TxEnv {
        tx_type: 0,
        caller: predeploys::CREATE2_FACTORY_DEPLOYER,
        gas_limit: 5_000_000,
        gas_price: 0,
        kind: TxKind::Call(predeploys::CREATE2_FACTORY),
        data: deployer_input.into(),
        nonce: 1,
        chain_id: Some(chain_id),
        ..Default::default()
    };
    let mut db = db;
    for tx in [tx_env(&factory_tx, from), deployer_tx] {
        let (next, out) = evm::execute(db, cfg.clone(), block.clone(), tx, programs.clone());
        let out = out.expect("genesis transaction executes");
        assert!(out.result.is_success(), "genesis transaction failed: {:?}", out.result);
        db = next;
        db.commit(out.state);
    }
    debug_assert!(db
        .basic_ref(predeploys::STYLUS_DEPLOYER)
        .ok()
        .flatten()
        .is_some_and(|a| !a.is_empty_code_hash()));
    db
}

/// Builds the RPC view of a log.
pub fn rpc_log(tx: &StoredTx, header: &Header, i: usize, log: &Log) -> alloy_rpc_types_eth::Log {
    alloy_rpc_types_eth::Log {
        inner: log.clone(),
        block_hash: Some(tx.block_hash),
        block_number: Some(tx.block_number),
        block_timestamp: Some(header.timestamp),
        transaction_hash: Some(tx.hash),
        transaction_index: Some(tx.index),
        log_index: Some(tx.first_log_index + i as u64),
        removed: false,
    }
}

/// revm's transaction environment for a signed transaction. Arbitrum ignores priority fees
/// (everyone pays the base fee), so the tip is dropped and legacy prices are capped at it.
fn tx_env(envelope: &TxEnvelope, from: Address) -> TxEnv {
    let (gas_price, priority) = match envelope {
        TxEnvelope::Eip1559(_) => (envelope.max_fee_per_gas(), Some(0)),
        // A price below the base fee stays below it, so revm rejects it as geth would.
        _ => (envelope.max_fee_per_gas().min(BASE_FEE as u128), None),
    };
    TxEnv {
        tx_type: envelope.tx_type() as u8,
        caller: from,
        gas_limit: envelope.gas_limit(),
        gas_price,
        kind: envelope.kind(),
        value: envelope.value(),
        data: envelope.input().clone(),
        nonce: envelope.nonce(),
        chain_id: envelope.chain_id(),
        access_list: envelope.access_list().cloned().unwrap_or_default(),
        gas_priority_fee: priority,
        ..Default::default()
    }
}

/// Applies eth_call state overrides to a scratch copy of the state.
fn apply_overrides(db: &mut Db, overrides: &StateOverride) -> Result<(), ChainError> {
    for (address, o) in overrides {
        let mut info = db.basic_ref(*address).ok().flatten().unwrap_or_default();
        if let Some(b) = o.balance {
            info.balance = b;
        }
        if let Some(n) = o.nonce {
            info.nonce = n;
        }
        if let Some(code) = &o.code {
            let code = Bytecode::new_raw(code.clone());
            info.code_hash = code.hash_slow();
            info.code = Some(code);
        }
        db.insert_account_info(*address, info);
        if let Some(state) = &o.state {
            let slots = state.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
            db.replace_account_storage(*address, slots)
                .map_err(|e| ChainError::Rejected(format!("{e:?}")))?;
        }
        if let Some(diff) = &o.state_diff {
            for (k, v) in diff {
                db.insert_account_storage(*address, (*k).into(), (*v).into())
                    .map_err(|e| ChainError::Rejected(format!("{e:?}")))?;
            }
        }
    }
    Ok(())
}

/// Encoded size of a transaction, for block sizes.
pub fn tx_size(tx: &TxEnvelope) -> usize {
    tx.encode_2718_len()
}
