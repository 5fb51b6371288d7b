//! The chain watcher: jobs assigned to this provider on the market, accepted while a GPU is
//! free, run by the node.
//!
//! Each poll (`chain.poll_interval_ms`):
//! 1. **Scan**: `eth_getLogs` for the market's `JobOpened` events whose indexed `provider` is
//!    this provider's account, from the persisted cursor to `head - chain.confirmations` in
//!    ranges of at most `chain.max_block_range` blocks. The market resolves `address(0)`
//!    ("any provider") to a concrete provider inside `openJob` (round-robin over the class's
//!    registered providers, `contracts/market`), and the event carries the resolved one, so
//!    filtering on our own address sees every job we can be given. Each event is recorded
//!    (`jobs/<id>/chain.json`, written atomically) *before* the cursor passes its block, and
//!    the cursor (`chain/cursor.json`) is saved after each range: a restart neither misses a
//!    job nor records one twice.
//! 2. **Accept**: for each job still `assigned`, `market.job(id)` is read (it is
//!    authoritative: status, provider, escrow, deadline); the spec is fetched from the
//!    relayer's spec store (`GET {relayer.url}/v1/specs/{specHash}`) and refused for good
//!    (logged, recorded, never accepted) when `keccak256(bytes) != specHash` or it does not
//!    parse ([`crate::jobs::SpecDocument`]); GPUs are leased from the node *before*
//!    `acceptJob` is sent, and only while the chain's time is inside the accept window, so
//!    an accepted job always has its GPUs. A job the market shows as already accepted by us
//!    (a crash between the transaction and the record) is recorded as accepted without a
//!    second transaction.
//! 3. **Run**: accepted jobs not yet claimed are handed to [`Node::execute_leased`], which
//!    meters, signs and spools the reports as for any other job. A job runs at most
//!    `escrow / gpus` seconds (what the buyer paid for), or less if its spec or
//!    `jobs.default_time_limit_s` says so.

use crate::jobs::{self, JobSpec, SpecDocument, SpecError};
use crate::node::Node;
use alloy::eips::BlockNumberOrTag;
use alloy::network::EthereumWallet;
use alloy::primitives::{keccak256, Address, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::Filter;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;
use market_protocol::bindings::Market;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Largest spec the node downloads (the relayer's store accepts up to 256 KiB).
pub const MAX_SPEC_BYTES: usize = 1 << 20;

/// The market's job status codes (`contracts/market`, `status`).
pub mod status {
    pub const NONE: u8 = 0;
    pub const OPEN: u8 = 1;
    pub const ACCEPTED: u8 = 2;
    pub const SETTLED: u8 = 3;
    pub const CANCELLED: u8 = 4;
    pub const SLASHED: u8 = 5;

    pub fn name(s: u8) -> &'static str {
        match s {
            NONE => "none",
            OPEN => "open",
            ACCEPTED => "accepted",
            SETTLED => "settled",
            CANCELLED => "cancelled",
            SLASHED => "slashed",
            _ => "unknown",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("chain.rpc_url is not set: the chain watcher needs a JSON-RPC endpoint")]
    NoRpcUrl,
    #[error("chain.rpc_url {0:?} is not a URL")]
    BadUrl(String),
    #[error("RPC {0}: {1}")]
    Rpc(&'static str, String),
    #[error("the RPC endpoint is chain {actual}, chain.chain_id says {configured}")]
    WrongChain { configured: u64, actual: u64 },
    #[error("no contract at chain.market {0} on this chain (wrong address, or not deployed yet)")]
    NoMarket(Address),
    #[error(
        "the transaction key is {tx_key}, but the node reports for provider {provider}: they must be the same account"
    )]
    KeyMismatch { tx_key: Address, provider: Address },
    #[error("chain state {path}: {problem}")]
    Store { path: PathBuf, problem: String },
}

fn rpc(what: &'static str) -> impl FnOnce(alloy::transports::TransportError) -> ChainError {
    move |e| ChainError::Rpc(what, e.to_string())
}

fn store_err(path: &Path, e: impl std::fmt::Display) -> ChainError {
    ChainError::Store { path: path.to_path_buf(), problem: e.to_string() }
}

// ----- persisted state ----------------------------------------------------------------------

/// Where the scan continues: `<data_dir>/chain/cursor.json`. It names the chain and market
/// it belongs to, so a node pointed at a new deployment starts over instead of skipping its
/// early blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub chain_id: u64,
    pub market: Address,
    /// The first block not scanned yet.
    pub next_block: u64,
}

/// What the node knows about one market job (`<data_dir>/jobs/<id>/chain.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainJob {
    #[serde(with = "dec")]
    pub job_id: U256,
    pub buyer: Address,
    pub class_id: B256,
    /// Escrowed GPU-seconds at opening.
    #[serde(with = "dec")]
    pub gpu_seconds: U256,
    pub spec_hash: B256,
    pub accept_deadline: u64,
    pub opened_block: u64,
    pub state: JobState,
    /// Why it was refused, expired or closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The node's `acceptJob` transaction (absent if the market already showed the job
    /// accepted by us, e.g. after a crash between sending and recording).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_tx: Option<B256>,
}

/// The watcher's view of a job. `running` and `reported` are not stored here: they are the
/// node's own job files (`claim`, `record.json`), see [`job_phase`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Seen in a `JobOpened` event, not accepted yet.
    Assigned,
    /// Accepted on chain; runs when its GPUs are leased.
    Accepted,
    /// Never to be accepted: bad spec, spec hash mismatch, more GPUs than the node has.
    Refused,
    /// The accept deadline passed before the node could accept.
    Expired,
    /// The market closed it before we accepted (cancelled by the buyer, refunded).
    Closed,
}

mod dec {
    use alloy::primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        let s = String::deserialize(d)?;
        U256::from_str_radix(&s, 10)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a decimal uint256")))
    }
}

/// The watcher's files under the node's data dir.
#[derive(Debug, Clone)]
pub struct ChainStore {
    data_dir: PathBuf,
}

/// Write `bytes` to `path` durably: temp file, fsync, rename, fsync the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ChainError> {
    use std::io::Write;
    let dir = path.parent().ok_or_else(|| store_err(path, "no parent directory"))?;
    std::fs::create_dir_all(dir).map_err(|e| store_err(dir, e))?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| store_err(&tmp, e))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| store_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| store_err(path, e))?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| store_err(dir, e))
}

impl ChainStore {
    pub fn new(data_dir: &Path) -> Self {
        Self { data_dir: data_dir.to_path_buf() }
    }

    fn cursor_path(&self) -> PathBuf {
        self.data_dir.join("chain").join("cursor.json")
    }

    fn job_path(&self, id: U256) -> PathBuf {
        jobs::job_dir(&self.data_dir, id).join("chain.json")
    }

    fn spec_path(&self, id: U256) -> PathBuf {
        jobs::job_dir(&self.data_dir, id).join("spec.json")
    }

    pub fn cursor(&self) -> Result<Option<Cursor>, ChainError> {
        let path = self.cursor_path();
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| store_err(&path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(store_err(&path, e)),
        }
    }

    pub fn save_cursor(&self, c: &Cursor) -> Result<(), ChainError> {
        let bytes = serde_json::to_vec_pretty(c).map_err(|e| store_err(&self.cursor_path(), e))?;
        write_atomic(&self.cursor_path(), &bytes)
    }

    pub fn job(&self, id: U256) -> Result<Option<ChainJob>, ChainError> {
        let path = self.job_path(id);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| store_err(&path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(store_err(&path, e)),
        }
    }

    pub fn put_job(&self, job: &ChainJob) -> Result<(), ChainError> {
        let path = self.job_path(job.job_id);
        write_atomic(&path, &serde_json::to_vec_pretty(job).map_err(|e| store_err(&path, e))?)
    }

    /// Record a newly seen job; `false` (and nothing written) if it is already known, so a
    /// rescanned block never resets a job's state.
    pub fn record_new(&self, job: &ChainJob) -> Result<bool, ChainError> {
        if self.job(job.job_id)?.is_some() {
            return Ok(false);
        }
        self.put_job(job)?;
        Ok(true)
    }

    /// The ids of every job directory (chain jobs and local ones), ascending.
    pub fn ids(&self) -> Result<Vec<U256>, ChainError> {
        let dir = self.data_dir.join("jobs");
        let entries = match std::fs::read_dir(&dir) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(store_err(&dir, e)),
        };
        let mut ids: Vec<U256> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().and_then(|n| U256::from_str_radix(n, 10).ok()))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Every job the watcher has recorded, by id.
    pub fn jobs(&self) -> Result<BTreeMap<U256, ChainJob>, ChainError> {
        let mut out = BTreeMap::new();
        for id in self.ids()? {
            if let Some(j) = self.job(id)? {
                out.insert(id, j);
            }
        }
        Ok(out)
    }

    /// The spec bytes kept for `id` (only ever bytes whose hash was checked).
    pub fn spec(&self, id: U256) -> Option<Vec<u8>> {
        std::fs::read(self.spec_path(id)).ok()
    }

    pub fn save_spec(&self, id: U256, bytes: &[u8]) -> Result<(), ChainError> {
        write_atomic(&self.spec_path(id), bytes)
    }
}

/// Where a job is, for `status`: the node's own files first (a job that ran is `reported`,
/// one a crash interrupted and the next start recovered is `interrupted`, one that was
/// claimed and has no record is `running`, or was interrupted and not recovered yet), else
/// the watcher's state. `None`: a job directory with neither.
pub fn job_phase(data_dir: &Path, id: U256, chain: Option<&ChainJob>) -> Option<&'static str> {
    let dir = jobs::job_dir(data_dir, id);
    if let Ok(record) = std::fs::read(dir.join("record.json")) {
        let interrupted = serde_json::from_slice::<serde_json::Value>(&record)
            .is_ok_and(|v| v.get("status").and_then(|s| s.as_str()) == Some("interrupted"));
        return Some(if interrupted { "interrupted" } else { "reported" });
    }
    if dir.join("claim").exists() {
        return Some("running");
    }
    chain.map(|j| match j.state {
        JobState::Assigned => "assigned",
        JobState::Accepted => "accepted",
        JobState::Refused => "refused",
        JobState::Expired => "expired",
        JobState::Closed => "closed",
    })
}

// ----- pure decisions -----------------------------------------------------------------------

/// `market.job(id)`, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobView {
    pub buyer: Address,
    pub provider: Address,
    pub class_id: B256,
    pub escrow: U256,
    pub spec_hash: B256,
    pub opened_at: u64,
    pub accept_deadline: u64,
    pub accepted_at: u64,
    pub status: u8,
}

/// What to do with an assigned job, given the market's view and the chain's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Open, ours, inside the window: accept once the spec checks out and GPUs are free.
    TryAccept,
    /// The market already shows it accepted by us: record it, no transaction.
    AlreadyAccepted,
    Expired,
    NotOurs(Address),
    Closed(u8),
}

/// The market accepts while `block.timestamp <= acceptDeadline` (`contracts/market`).
pub fn decide(view: &JobView, provider: Address, now: u64) -> Decision {
    if view.provider != provider {
        return Decision::NotOurs(view.provider);
    }
    match view.status {
        status::ACCEPTED => Decision::AlreadyAccepted,
        status::OPEN if now > view.accept_deadline => Decision::Expired,
        status::OPEN => Decision::TryAccept,
        other => Decision::Closed(other),
    }
}

/// Why a spec is refused for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecRefusal {
    #[error("spec hash mismatch: the spec store returned bytes hashing to {actual}, the job commits to {expected}")]
    HashMismatch { expected: B256, actual: B256 },
    #[error(transparent)]
    Invalid(#[from] SpecError),
    #[error("the spec asks for {wanted} GPU(s), this node has {have}")]
    TooManyGpus { wanted: u32, have: usize },
    #[error("the escrow of {escrow} GPU-seconds does not pay for one second on {gpus} GPU(s)")]
    EscrowTooSmall { escrow: U256, gpus: u32 },
}

/// Check spec bytes against the job: their hash, their format, the node's GPUs; and the
/// time limit to run them with: the spec's (or the node's default), never more than the
/// escrow pays for (`escrow / gpus` wall seconds).
pub fn check_spec(
    bytes: &[u8],
    spec_hash: B256,
    escrow: U256,
    node_gpus: usize,
    default_time_limit_s: u64,
) -> Result<(SpecDocument, u64), SpecRefusal> {
    let actual = keccak256(bytes);
    if actual != spec_hash {
        return Err(SpecRefusal::HashMismatch { expected: spec_hash, actual });
    }
    let doc = SpecDocument::parse(bytes)?;
    if doc.gpus as usize > node_gpus {
        return Err(SpecRefusal::TooManyGpus { wanted: doc.gpus, have: node_gpus });
    }
    let paid = escrow / U256::from(doc.gpus);
    if paid.is_zero() {
        return Err(SpecRefusal::EscrowTooSmall { escrow, gpus: doc.gpus });
    }
    let paid = u64::try_from(paid).unwrap_or(u64::MAX);
    let limit = doc.time_limit_s.unwrap_or(default_time_limit_s).min(paid);
    Ok((doc, limit))
}

// ----- the spec store -----------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("the spec store has no spec {0} (yet)")]
    NotFound(B256),
    #[error("spec store {url}: HTTP {status}: {body}")]
    Http { url: String, status: u16, body: String },
    #[error("spec store {url}: {message}")]
    Transport { url: String, message: String },
    #[error("spec store {url}: the spec is larger than {MAX_SPEC_BYTES} bytes")]
    TooLarge { url: String },
}

/// The relayer's spec store: `GET {base}/v1/specs/{hash}` returns the bytes.
#[derive(Debug, Clone)]
pub struct SpecStore {
    client: reqwest::Client,
    base: String,
}

impl SpecStore {
    pub fn new(relayer_url: &str) -> Self {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap_or_default();
        Self { client, base: relayer_url.trim_end_matches('/').to_string() }
    }

    pub async fn fetch(&self, hash: B256) -> Result<Vec<u8>, FetchError> {
        let url = format!("{}/v1/specs/{hash}", self.base);
        let transport =
            |e: reqwest::Error| FetchError::Transport { url: url.clone(), message: e.to_string() };
        let mut res = self.client.get(&url).send().await.map_err(transport)?;
        let code = res.status().as_u16();
        if code == 404 {
            return Err(FetchError::NotFound(hash));
        }
        if !(200..300).contains(&code) {
            let body = res.text().await.unwrap_or_default().chars().take(300).collect();
            return Err(FetchError::Http { url, status: code, body });
        }
        if res.content_length().is_some_and(|n| n > MAX_SPEC_BYTES as u64) {
            return Err(FetchError::TooLarge { url });
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_SPEC_BYTES {
                return Err(FetchError::TooLarge { url });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

// ----- the watcher --------------------------------------------------------------------------

/// What one poll did (for logs and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tick {
    pub head: u64,
    /// Blocks scanned this poll: `from..=to`, if any.
    pub scanned: Option<(u64, u64)>,
    pub new_jobs: Vec<U256>,
    pub accepted: Vec<U256>,
    pub started: Vec<U256>,
    pub refused: Vec<U256>,
}

pub struct Watcher {
    node: Arc<Node>,
    rpc: DynProvider,
    market: Market::MarketInstance<DynProvider>,
    provider: Address,
    chain_id: u64,
    store: ChainStore,
    specs: SpecStore,
    confirmations: u64,
    max_range: u64,
    start_block: Option<u64>,
    poll: Duration,
    /// Jobs handed to the node and not finished yet (in this process).
    running: Arc<Mutex<HashSet<U256>>>,
    /// Why a job is waiting (a GPU, its spec), so each wait is logged once, not every poll.
    waiting: HashMap<U256, &'static str>,
    /// Jobs the watcher still has to act on (assigned, or accepted and not started);
    /// loaded from disk at the first poll, so a poll does not reread every job ever seen.
    active: Option<BTreeSet<U256>>,
    checked: bool,
}

impl Watcher {
    /// A watcher for `node`, sending transactions with `tx_key` (the provider's account,
    /// which must be the node's provider).
    pub fn new(node: Arc<Node>, tx_key: PrivateKeySigner) -> Result<Self, ChainError> {
        let cfg = node.config().clone();
        if tx_key.address() != node.provider() {
            return Err(ChainError::KeyMismatch { tx_key: tx_key.address(), provider: node.provider() });
        }
        let url = cfg.chain.rpc_url.as_deref().ok_or(ChainError::NoRpcUrl)?;
        let parsed: alloy::transports::http::reqwest::Url =
            url.parse().map_err(|_| ChainError::BadUrl(url.to_string()))?;
        // Nonces are read from the chain for every transaction rather than cached: the
        // provider's account is also used from a wallet (mint, stake), and a cached nonce
        // would go stale and jam every later accept.
        let rpc = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .with_chain_id(cfg.chain.chain_id)
            .wallet(EthereumWallet::from(tx_key))
            .connect_http(parsed)
            .erased();
        Ok(Self {
            market: Market::new(cfg.chain.market, rpc.clone()),
            rpc,
            provider: node.provider(),
            chain_id: cfg.chain.chain_id,
            store: ChainStore::new(&cfg.node.data_dir),
            specs: SpecStore::new(&cfg.relayer.url),
            confirmations: cfg.chain.confirmations,
            max_range: cfg.chain.max_block_range,
            start_block: cfg.chain.start_block,
            poll: Duration::from_millis(cfg.chain.poll_interval_ms),
            running: Default::default(),
            waiting: Default::default(),
            active: None,
            checked: false,
            node,
        })
    }

    pub fn store(&self) -> &ChainStore {
        &self.store
    }

    /// Poll until the task is aborted. Errors (RPC down, wrong chain) are logged and retried
    /// with backoff; they never stop the node, which keeps sending spooled reports.
    pub async fn run(mut self) {
        tracing::info!(market = %self.market.address(), provider = %self.provider, "watching the market for jobs");
        let mut failures = 0u32;
        loop {
            let wait = match self.tick().await {
                Ok(t) => {
                    failures = 0;
                    if !t.new_jobs.is_empty() || !t.accepted.is_empty() {
                        tracing::debug!(?t, "chain poll");
                    }
                    self.poll
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::error!(error = %e, "chain watcher");
                    crate::sender::backoff(failures, self.poll, Duration::from_secs(60))
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    async fn preflight(&mut self) -> Result<(), ChainError> {
        if self.checked {
            return Ok(());
        }
        let actual = self.rpc.get_chain_id().await.map_err(rpc("eth_chainId"))?;
        if actual != self.chain_id {
            return Err(ChainError::WrongChain { configured: self.chain_id, actual });
        }
        let code = self.rpc.get_code_at(*self.market.address()).await.map_err(rpc("eth_getCode"))?;
        if code.is_empty() {
            return Err(ChainError::NoMarket(*self.market.address()));
        }
        self.checked = true;
        Ok(())
    }

    /// The chain's time as the market will see it: the latest block's timestamp, or the
    /// local clock if that is later (a quiet devnet's last block can be old, and the next
    /// block, the one that would carry our transaction, is not older than now).
    async fn chain_now(&self) -> Result<u64, ChainError> {
        let block = self
            .rpc
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(rpc("eth_getBlockByNumber"))?
            .ok_or_else(|| ChainError::Rpc("eth_getBlockByNumber", "no latest block".into()))?;
        let local = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(block.header.timestamp.max(local))
    }

    async fn view(&self, id: U256) -> Result<JobView, ChainError> {
        let r = self.market.job(id).call().await.map_err(|e| ChainError::Rpc("market.job", e.to_string()))?;
        Ok(JobView {
            buyer: r._0,
            provider: r._1,
            class_id: r._2,
            escrow: r._3,
            spec_hash: r._4,
            opened_at: r._5,
            accept_deadline: r._6,
            accepted_at: r._7,
            status: r._8,
        })
    }

    /// One poll: scan new blocks, then act on every job not finished.
    pub async fn tick(&mut self) -> Result<Tick, ChainError> {
        self.preflight().await?;
        if self.active.is_none() {
            let mut active = BTreeSet::new();
            for id in self.store.ids()? {
                match self.store.job(id) {
                    Ok(Some(j)) if matches!(j.state, JobState::Assigned | JobState::Accepted) => {
                        active.insert(id);
                    }
                    Ok(_) => {}
                    // Written atomically, so this is outside damage: one job must not stop the rest.
                    Err(e) => {
                        tracing::error!(job = %id, error = %e, "job state unreadable; the watcher skips it")
                    }
                }
            }
            self.active = Some(active);
        }
        let mut t = Tick::default();
        self.scan(&mut t).await?;
        let ids: Vec<U256> =
            self.active.iter().flatten().copied().chain(t.new_jobs.iter().copied()).collect();
        for id in ids {
            let job = self.store.job(id)?;
            let keep = match job {
                Some(job) if job.state == JobState::Assigned => {
                    self.try_accept(job, &mut t).await?;
                    true
                }
                Some(job) if job.state == JobState::Accepted && !self.node.is_claimed(id) => {
                    self.try_start(job, &mut t).await?;
                    true
                }
                // Claimed (running or done) or finished: nothing more to do here.
                _ => false,
            };
            let active = self.active.get_or_insert_with(Default::default);
            if keep {
                active.insert(id);
            } else {
                active.remove(&id);
                self.waiting.remove(&id);
            }
        }
        Ok(t)
    }

    /// Log a job's wait once per reason.
    fn note_wait(&mut self, id: U256, why: &'static str) -> bool {
        self.waiting.insert(id, why) != Some(why)
    }

    async fn scan(&mut self, t: &mut Tick) -> Result<(), ChainError> {
        let head = self.rpc.get_block_number().await.map_err(rpc("eth_blockNumber"))?;
        t.head = head;
        let Some(safe) = head.checked_sub(self.confirmations) else { return Ok(()) };
        let market = *self.market.address();
        let mut cursor = match self.store.cursor()? {
            Some(c) if c.chain_id == self.chain_id && c.market == market => c,
            other => {
                if let Some(old) = other {
                    tracing::warn!(old_market = %old.market, old_chain = old.chain_id, "the cursor belongs to another market or chain; starting over");
                }
                let next_block = self.start_block.unwrap_or_else(|| {
                    tracing::info!(
                        block = safe,
                        "no cursor yet and no chain.start_block: watching from the current head"
                    );
                    safe
                });
                let c = Cursor { chain_id: self.chain_id, market, next_block };
                self.store.save_cursor(&c)?;
                c
            }
        };
        // A cursor past the head means this is not the chain it was saved on (a restarted
        // devnet reuses the chain id and the addresses): scan it from the start again.
        if cursor.next_block > head.saturating_add(1) {
            tracing::warn!(
                cursor = cursor.next_block,
                head,
                "the chain is behind the saved cursor (a new chain?); rescanning"
            );
            cursor.next_block = self.start_block.unwrap_or(safe);
            self.store.save_cursor(&cursor)?;
        }
        let first = cursor.next_block;
        while cursor.next_block <= safe {
            let from = cursor.next_block;
            let to = from.saturating_add(self.max_range - 1).min(safe);
            let filter = Filter::new()
                .address(market)
                .event_signature(Market::JobOpened::SIGNATURE_HASH)
                .topic3(self.provider.into_word())
                .from_block(from)
                .to_block(to);
            let logs = self.rpc.get_logs(&filter).await.map_err(rpc("eth_getLogs"))?;
            for log in logs {
                let block = log.block_number.unwrap_or(from);
                let ev = match log.log_decode::<Market::JobOpened>() {
                    Ok(ev) => ev.inner.data,
                    Err(e) => {
                        tracing::warn!(block, error = %e, "undecodable JobOpened log skipped");
                        continue;
                    }
                };
                if ev.provider != self.provider {
                    continue; // a node that ignores topic filters
                }
                let job = ChainJob {
                    job_id: ev.jobId,
                    buyer: ev.buyer,
                    class_id: ev.classId,
                    gpu_seconds: ev.gpuSeconds,
                    spec_hash: ev.specHash,
                    accept_deadline: ev.acceptDeadline,
                    opened_block: block,
                    state: JobState::Assigned,
                    reason: None,
                    accept_tx: None,
                };
                if self.store.record_new(&job)? {
                    tracing::info!(job = %job.job_id, buyer = %job.buyer, gpu_seconds = %job.gpu_seconds,
                        spec = %job.spec_hash, deadline = job.accept_deadline, block, "job assigned to this provider");
                    t.new_jobs.push(job.job_id);
                }
            }
            // Only after every job of the range is on disk.
            cursor.next_block = to + 1;
            self.store.save_cursor(&cursor)?;
        }
        if cursor.next_block > first {
            t.scanned = Some((first, cursor.next_block - 1));
        }
        Ok(())
    }

    fn finish(&self, mut job: ChainJob, state: JobState, reason: String) -> Result<(), ChainError> {
        match state {
            JobState::Refused => {
                tracing::error!(job = %job.job_id, %reason, "job refused; it will not be accepted")
            }
            _ => tracing::warn!(job = %job.job_id, state = ?state, %reason, "job not accepted"),
        }
        job.state = state;
        job.reason = Some(reason);
        self.store.put_job(&job)
    }

    async fn try_accept(&mut self, mut job: ChainJob, t: &mut Tick) -> Result<(), ChainError> {
        let id = job.job_id;
        let view = self.view(id).await?;
        let now = self.chain_now().await?;
        match decide(&view, self.provider, now) {
            Decision::TryAccept => {}
            Decision::AlreadyAccepted => {
                tracing::info!(job = %id, "the market shows the job accepted by us already; recording it, no new transaction");
                job.state = JobState::Accepted;
                self.store.put_job(&job)?;
                return self.try_start(job, t).await;
            }
            Decision::Expired => {
                return self.finish(
                    job,
                    JobState::Expired,
                    format!("accept deadline {} passed (chain time {now})", view.accept_deadline),
                );
            }
            Decision::NotOurs(p) => {
                t.refused.push(id);
                return self.finish(job, JobState::Refused, format!("the market assigns it to {p}"));
            }
            Decision::Closed(s) => {
                return self.finish(
                    job,
                    JobState::Closed,
                    format!("the market shows it {}", status::name(s)),
                );
            }
        }
        let (doc, limit) = match self.spec_for(&job, &view).await? {
            Some(ok) => ok,
            None => return Ok(()),
        };
        // GPUs first: a job is accepted only with GPUs to run it on.
        let Some(lease) = self.node.lease(doc.gpus) else {
            if self.note_wait(id, "gpu") {
                tracing::info!(job = %id, gpus = doc.gpus, deadline = view.accept_deadline, "no free GPU; the job waits (not accepted yet)");
            }
            return Ok(());
        };
        self.waiting.remove(&id);
        tracing::info!(job = %id, "accepting");
        let sent = match self.market.acceptJob(id).send().await {
            // Bounded, so a transaction the chain never mines cannot stall the watcher; the
            // next poll reads the job's status and sees whether it landed after all.
            Ok(pending) => pending
                .with_timeout(Some(Duration::from_secs(120)))
                .get_receipt()
                .await
                .map(|r| (r.status(), r.transaction_hash))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match sent {
            Ok((true, tx)) => {
                tracing::info!(job = %id, %tx, "job accepted on chain");
                job.state = JobState::Accepted;
                job.accept_tx = Some(tx);
                self.store.put_job(&job)?;
                t.accepted.push(id);
                self.start(doc.into_job(id, limit), lease);
                t.started.push(id);
                Ok(())
            }
            other => {
                drop(lease);
                let why = match other {
                    Ok((_, tx)) => format!("transaction {tx} reverted"),
                    Err(e) => e,
                };
                // What happened on chain decides; a transient failure is retried next poll.
                let view = self.view(id).await?;
                match decide(&view, self.provider, self.chain_now().await?) {
                    Decision::AlreadyAccepted => {
                        job.state = JobState::Accepted;
                        self.store.put_job(&job)?;
                        Ok(())
                    }
                    Decision::TryAccept => {
                        tracing::warn!(job = %id, error = %why, "acceptJob failed; retrying next poll");
                        Ok(())
                    }
                    Decision::Expired => self.finish(
                        job,
                        JobState::Expired,
                        format!("acceptJob failed ({why}) and the deadline passed"),
                    ),
                    Decision::Closed(s) => {
                        self.finish(job, JobState::Closed, format!("the market shows it {}", status::name(s)))
                    }
                    Decision::NotOurs(p) => {
                        self.finish(job, JobState::Refused, format!("the market assigns it to {p}"))
                    }
                }
            }
        }
    }

    /// The checked spec of `job` and its time limit; `None` when not available yet (the
    /// store does not have it, or is down: retried next poll). A spec that fails the checks
    /// refuses the job for good.
    async fn spec_for(
        &mut self,
        job: &ChainJob,
        view: &JobView,
    ) -> Result<Option<(SpecDocument, u64)>, ChainError> {
        let id = job.job_id;
        let bytes = match self.store.spec(id) {
            Some(b) => b,
            None => match self.specs.fetch(view.spec_hash).await {
                Ok(b) => b,
                Err(e) => {
                    if self.note_wait(id, "spec") {
                        tracing::warn!(job = %id, error = %e, "job spec not available; retrying every poll");
                    }
                    return Ok(None);
                }
            },
        };
        let default_limit = self.node.config().jobs.default_time_limit_s;
        match check_spec(&bytes, view.spec_hash, view.escrow, self.node.gpu_count(), default_limit) {
            Ok(ok) => {
                self.store.save_spec(id, &bytes)?;
                Ok(Some(ok))
            }
            Err(refusal) => {
                self.finish(job.clone(), JobState::Refused, refusal.to_string())?;
                Ok(None)
            }
        }
    }

    /// An accepted job not running yet (after a restart, or accepted before it was
    /// recorded): lease GPUs and run it.
    async fn try_start(&mut self, job: ChainJob, t: &mut Tick) -> Result<(), ChainError> {
        let id = job.job_id;
        if self.running.lock().unwrap_or_else(|p| p.into_inner()).contains(&id) {
            return Ok(());
        }
        let view = self.view(id).await?;
        if view.status != status::ACCEPTED {
            // Accepted by us but closed since (refunded or settled): nothing to deliver.
            return self.finish(
                job,
                JobState::Closed,
                format!("the market shows it {}", status::name(view.status)),
            );
        }
        let Some((doc, limit)) = self.spec_for(&job, &view).await? else { return Ok(()) };
        let Some(lease) = self.node.lease(doc.gpus) else {
            if self.note_wait(id, "gpu") {
                tracing::warn!(job = %id, "accepted job waits for a free GPU");
            }
            return Ok(());
        };
        self.waiting.remove(&id);
        self.start(doc.into_job(id, limit), lease);
        t.started.push(id);
        Ok(())
    }

    fn start(&self, spec: JobSpec, lease: crate::node::GpuLease) {
        let id = spec.job_id;
        self.running.lock().unwrap_or_else(|p| p.into_inner()).insert(id);
        let (node, running) = (self.node.clone(), self.running.clone());
        tokio::spawn(async move {
            match node.execute_leased(&spec, &lease).await {
                Ok(r) => {
                    tracing::info!(job = %r.job_id, exit = ?r.outcome.exit_code, "chain job finished and reported")
                }
                Err(e) => tracing::error!(job = %id, error = format!("{e:#}"), "chain job failed"),
            }
            drop(lease);
            running.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        });
    }
}

/// For `status`: the chain head, or why it cannot be read.
pub async fn head(rpc_url: &str) -> Result<(u64, u64), ChainError> {
    let parsed: alloy::transports::http::reqwest::Url =
        rpc_url.parse().map_err(|_| ChainError::BadUrl(rpc_url.to_string()))?;
    let client = ProviderBuilder::new().connect_http(parsed);
    let chain = tokio::time::timeout(Duration::from_secs(5), client.get_chain_id())
        .await
        .map_err(|_| ChainError::Rpc("eth_chainId", "timed out after 5 s".into()))?
        .map_err(rpc("eth_chainId"))?;
    let head = client.get_block_number().await.map_err(rpc("eth_blockNumber"))?;
    Ok((chain, head))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(status: u8, provider: Address, deadline: u64) -> JobView {
        JobView {
            buyer: Address::repeat_byte(2),
            provider,
            class_id: B256::ZERO,
            escrow: U256::from(60),
            spec_hash: B256::ZERO,
            opened_at: 100,
            accept_deadline: deadline,
            accepted_at: 0,
            status,
        }
    }

    #[test]
    fn decide_follows_the_market_rules() {
        let me = Address::repeat_byte(1);
        assert_eq!(decide(&view(status::OPEN, me, 700), me, 700), Decision::TryAccept, "deadline inclusive");
        assert_eq!(decide(&view(status::OPEN, me, 700), me, 701), Decision::Expired);
        assert_eq!(decide(&view(status::ACCEPTED, me, 700), me, 9999), Decision::AlreadyAccepted);
        let other = Address::repeat_byte(9);
        assert_eq!(decide(&view(status::OPEN, other, 700), me, 1), Decision::NotOurs(other));
        assert_eq!(decide(&view(status::CANCELLED, me, 700), me, 1), Decision::Closed(status::CANCELLED));
        // An unknown job reads as all zeros: not ours.
        assert_eq!(decide(&view(status::NONE, Address::ZERO, 0), me, 1), Decision::NotOurs(Address::ZERO));
    }

    #[test]
    fn check_spec_refuses_mismatch_and_caps_time_at_the_escrow() {
        let bytes = br#"{"version":1,"command":"sh","args":["-c","true"],"gpus":2,"time_limit_s":500}"#;
        let hash = keccak256(bytes);
        let (doc, limit) = check_spec(bytes, hash, U256::from(120), 4, 3600).unwrap();
        assert_eq!((doc.gpus, limit), (2, 60), "120 GPU-seconds on 2 GPUs pay for 60 s");
        let (_, limit) = check_spec(bytes, hash, U256::from(10_000), 4, 3600).unwrap();
        assert_eq!(limit, 500, "the spec's own limit when the escrow covers more");
        let e = check_spec(bytes, B256::repeat_byte(7), U256::from(120), 4, 3600).unwrap_err();
        assert_eq!(e, SpecRefusal::HashMismatch { expected: B256::repeat_byte(7), actual: hash });
        assert!(e.to_string().contains("hash mismatch"));
        assert_eq!(
            check_spec(bytes, hash, U256::from(120), 1, 3600).unwrap_err(),
            SpecRefusal::TooManyGpus { wanted: 2, have: 1 }
        );
        assert!(matches!(
            check_spec(bytes, hash, U256::from(1), 4, 3600),
            Err(SpecRefusal::EscrowTooSmall { .. })
        ));
        let bad = b"command = \"sh\"";
        assert!(matches!(
            check_spec(bad, keccak256(bad), U256::from(1), 4, 3600),
            Err(SpecRefusal::Invalid(_))
        ));
        let nolimit = br#"{"version":1,"command":"sh"}"#;
        assert_eq!(check_spec(nolimit, keccak256(nolimit), U256::from(10_000), 1, 3600).unwrap().1, 3600);
        assert_eq!(check_spec(nolimit, keccak256(nolimit), U256::MAX, 1, 3600).unwrap().1, 3600);
    }

    fn job(id: u64) -> ChainJob {
        ChainJob {
            job_id: U256::from(id),
            buyer: Address::repeat_byte(2),
            class_id: B256::repeat_byte(3),
            gpu_seconds: U256::from(600),
            spec_hash: B256::repeat_byte(4),
            accept_deadline: 1_000,
            opened_block: 12,
            state: JobState::Assigned,
            reason: None,
            accept_tx: None,
        }
    }

    #[test]
    fn store_round_trips_and_never_resets_a_known_job() {
        let dir = tempfile::tempdir().unwrap();
        let s = ChainStore::new(dir.path());
        assert_eq!(s.cursor().unwrap(), None);
        let c = Cursor { chain_id: 412346, market: Address::repeat_byte(5), next_block: 42 };
        s.save_cursor(&c).unwrap();
        assert_eq!(ChainStore::new(dir.path()).cursor().unwrap(), Some(c));
        assert!(!dir.path().join("chain/cursor.tmp").exists(), "no temp file left behind");

        assert!(s.record_new(&job(7)).unwrap());
        let mut accepted = job(7);
        accepted.state = JobState::Accepted;
        accepted.accept_tx = Some(B256::repeat_byte(9));
        s.put_job(&accepted).unwrap();
        assert!(!s.record_new(&job(7)).unwrap(), "a rescanned event does not reset the state");
        assert_eq!(s.job(U256::from(7)).unwrap(), Some(accepted.clone()));
        s.record_new(&job(8)).unwrap();
        let all = s.jobs().unwrap();
        assert_eq!(all.keys().copied().collect::<Vec<_>>(), vec![U256::from(7), U256::from(8)]);
        assert_eq!(job_phase(dir.path(), U256::from(7), Some(&accepted)), Some("accepted"));
        std::fs::write(dir.path().join("jobs/7/claim"), "").unwrap();
        assert_eq!(job_phase(dir.path(), U256::from(7), Some(&accepted)), Some("running"));
        std::fs::write(dir.path().join("jobs/7/record.json"), "{}").unwrap();
        assert_eq!(job_phase(dir.path(), U256::from(7), Some(&accepted)), Some("reported"));
        std::fs::write(dir.path().join("jobs/7/record.json"), r#"{"status":"interrupted"}"#).unwrap();
        assert_eq!(job_phase(dir.path(), U256::from(7), Some(&accepted)), Some("interrupted"));

        // A corrupt file is an error naming it, not a silent reset.
        std::fs::write(dir.path().join("jobs/8/chain.json"), "{").unwrap();
        let e = s.jobs().unwrap_err().to_string();
        assert!(e.contains("jobs/8/chain.json"), "{e}");
        // Ids are decimal uint256 strings in the file.
        let text = serde_json::to_string(&job(7)).unwrap();
        assert!(text.contains("\"job_id\":\"7\"") && text.contains("\"state\":\"assigned\""), "{text}");
    }

    #[tokio::test]
    async fn spec_store_fetches_by_hash_and_reports_missing_and_oversized() {
        use axum::routing::get;
        let big = vec![b'x'; MAX_SPEC_BYTES + 1];
        let app = axum::Router::new().route(
            "/v1/specs/{hash}",
            get(move |axum::extract::Path(h): axum::extract::Path<String>| {
                let big = big.clone();
                async move {
                    match h.as_str() {
                        h if h == B256::repeat_byte(1).to_string() => Ok(b"spec bytes".to_vec()),
                        h if h == B256::repeat_byte(2).to_string() => Ok(big),
                        h if h == B256::repeat_byte(3).to_string() => {
                            Err(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
                        }
                        _ => Err(axum::http::StatusCode::NOT_FOUND),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let store = SpecStore::new(&url);
        assert_eq!(store.fetch(B256::repeat_byte(1)).await.unwrap(), b"spec bytes");
        assert!(matches!(store.fetch(B256::repeat_byte(2)).await, Err(FetchError::TooLarge { .. })));
        assert!(matches!(store.fetch(B256::repeat_byte(3)).await, Err(FetchError::Http { status: 500, .. })));
        assert_eq!(store.fetch(B256::repeat_byte(4)).await, Err(FetchError::NotFound(B256::repeat_byte(4))));
        let down = SpecStore::new("http://127.0.0.1:9");
        assert!(matches!(down.fetch(B256::ZERO).await, Err(FetchError::Transport { .. })));
    }
}
