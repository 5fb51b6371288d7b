//! `relayer.toml`, with environment overrides (`RELAYER_*`), validated at start-up so a bad
//! file fails with one clear line instead of at the first report.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use alloy_primitives::{keccak256, Address, B256};
use serde::Deserialize;

use crate::evidence::collateral::CollateralLoadError;
use crate::evidence::policy::PolicyError;
use crate::evidence::snp::AmdProduct;
use crate::evidence::{
    ClassPolicy, DiskCache, FetchingCollateral, KdsVceks, OfflineCollateral, PccsCollateral,
};
use crate::queue::{QueueError, QueueLocation};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Old spelling of `queue.database` (kept so existing configs work).
    #[serde(default)]
    pub database: Option<String>,
    #[serde(default)]
    pub queue: QueueConfig,
    pub chain_id: u64,
    /// The market contract: the EIP-712 verifying contract and `settleBatch` target.
    pub market: Address,
    pub registry: Address,
    pub rpc_url: String,
    /// Timeout of one JSON-RPC request, in seconds.
    #[serde(default = "default_rpc_timeout")]
    pub rpc_timeout_secs: u64,
    /// How long a provider's registered key is trusted before it is read again.
    #[serde(default = "default_cache_secs")]
    pub provider_cache_secs: u64,
    /// Evidence policy per hardware class name (class id = keccak256(name)).
    pub classes: BTreeMap<String, ClassPolicy>,
    #[serde(default)]
    pub collateral: CollateralFiles,
    #[serde(default)]
    pub settlement: SettlementConfig,
}

fn default_cache_secs() -> u64 {
    60
}
fn default_rpc_timeout() -> u64 {
    30
}

/// The durable queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// `sqlite://path` (or a bare path): embedded, one relayer. `postgres://…`: shared by
    /// several relayer instances. `RELAYER_DATABASE` overrides it.
    pub database: Option<String>,
    /// PostgreSQL: this instance's name in claims (`RELAYER_INSTANCE`). Keep it stable
    /// across restarts and unique per instance; default `<hostname>-<pid>`.
    pub instance: Option<String>,
    /// PostgreSQL: how long a claim lasts without renewal (a crashed instance's reports are
    /// taken over after this).
    #[serde(default = "default_claim_secs")]
    pub claim_secs: u64,
    /// PostgreSQL: connections this instance opens.
    #[serde(default = "default_connections")]
    pub connections: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            database: None,
            instance: None,
            claim_secs: default_claim_secs(),
            connections: default_connections(),
        }
    }
}

fn default_claim_secs() -> u64 {
    60
}
fn default_connections() -> usize {
    4
}

/// Vendor collateral: pre-loaded files (offline mode) and / or fetching sources with a disk
/// cache.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollateralFiles {
    #[serde(default)]
    pub tdx: Vec<PathBuf>,
    #[serde(default)]
    pub snp_vceks: Vec<PathBuf>,
    /// PCCS (or Intel PCS-compatible) root URL for TDX collateral, e.g.
    /// `https://pccs.internal:8081`.
    pub pccs_url: Option<String>,
    /// AMD KDS root URL for SEV-SNP VCEKs, e.g. `https://kdsintf.amd.com`.
    pub amd_kds_url: Option<String>,
    /// Products tried in this order when fetching a VCEK.
    #[serde(default = "default_amd_products")]
    pub amd_products: Vec<AmdProduct>,
    /// Where fetched collateral is cached (required with `pccs_url` / `amd_kds_url`).
    pub cache_dir: Option<PathBuf>,
    /// Timeout of one HTTP request to the PCCS / KDS.
    #[serde(default = "default_fetch_timeout")]
    pub fetch_timeout_secs: u64,
}

impl Default for CollateralFiles {
    fn default() -> Self {
        CollateralFiles {
            tdx: Vec::new(),
            snp_vceks: Vec::new(),
            pccs_url: None,
            amd_kds_url: None,
            amd_products: default_amd_products(),
            cache_dir: None,
            fetch_timeout_secs: default_fetch_timeout(),
        }
    }
}

fn default_amd_products() -> Vec<AmdProduct> {
    vec![AmdProduct::Milan, AmdProduct::Genoa, AmdProduct::Turin]
}
fn default_fetch_timeout() -> u64 {
    30
}

impl CollateralFiles {
    /// The collateral source this section describes: files loaded, fetchers over the cache.
    pub fn source(&self) -> Result<FetchingCollateral, ConfigError> {
        let mut offline = OfflineCollateral::default();
        for p in &self.tdx {
            offline.add_tdx_file(p).map_err(ConfigError::Collateral)?;
        }
        for p in &self.snp_vceks {
            offline.add_vcek_file(p).map_err(ConfigError::Collateral)?;
        }
        let mut source = FetchingCollateral { offline, pccs: None, kds: None };
        if self.pccs_url.is_none() && self.amd_kds_url.is_none() {
            return Ok(source);
        }
        let dir = self.cache_dir.as_ref().ok_or(ConfigError::NoCacheDir)?;
        let cache = DiskCache::open(dir)
            .map_err(|source| ConfigError::CacheDir { path: dir.display().to_string(), source })?;
        let timeout = std::time::Duration::from_secs(self.fetch_timeout_secs.max(1));
        source.pccs = self.pccs_url.as_deref().map(|u| PccsCollateral::new(u, cache.clone(), timeout));
        source.kds = self
            .amd_kds_url
            .as_deref()
            .map(|u| KdsVceks::new(u, self.amd_products.clone(), cache.clone(), timeout));
        Ok(source)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementConfig {
    /// Settle at most this many reports per transaction.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// Settle a partial batch once its oldest report waited this long.
    #[serde(default = "default_max_wait")]
    pub max_wait_secs: u64,
    /// The contract `settleBatch` is sent to and its events are read from, when it is not
    /// the market itself (`RELAYER_SETTLEMENT` overrides it).
    pub contract: Option<Address>,
    /// File holding the relayer's hex private key (`RELAYER_KEY` overrides it).
    pub key_file: Option<PathBuf>,
    /// Blocks a receipt must be buried under before its outcomes are final (reorgs).
    #[serde(default = "default_confirmations")]
    pub confirmations: u64,
    /// Off: only verify and queue (e.g. a verification-only instance).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Replace a settlement transaction still pending this long (same nonce, higher fees);
    /// 0 never replaces.
    #[serde(default = "default_replace_after")]
    pub replace_after_secs: u64,
    /// How much a replacement raises both EIP-1559 fees, in percent (nodes refuse less than
    /// 10).
    #[serde(default = "default_bump_percent")]
    pub fee_bump_percent: u64,
    /// How many blocks back the relayer looks for a report's `ReportSettled` event before
    /// re-sending it (after a crash, a dropped or replaced transaction).
    #[serde(default = "default_lookback")]
    pub lookback_blocks: u64,
    /// Highest `maxFeePerGas` the relayer signs, in wei (1 gwei = 1e9 wei); a replacement
    /// that would need more is not sent (the original keeps waiting). 0 or absent: no cap.
    #[serde(default)]
    pub max_fee_per_gas_cap: u64,
}

impl Default for SettlementConfig {
    fn default() -> Self {
        SettlementConfig {
            max_batch: default_max_batch(),
            max_wait_secs: default_max_wait(),
            contract: None,
            key_file: None,
            confirmations: default_confirmations(),
            enabled: true,
            replace_after_secs: default_replace_after(),
            fee_bump_percent: default_bump_percent(),
            lookback_blocks: default_lookback(),
            max_fee_per_gas_cap: 0,
        }
    }
}

fn default_max_batch() -> usize {
    32
}
fn default_max_wait() -> u64 {
    5
}
fn default_confirmations() -> u64 {
    1
}
fn default_true() -> bool {
    true
}
fn default_replace_after() -> u64 {
    60
}
fn default_bump_percent() -> u64 {
    20
}
fn default_lookback() -> u64 {
    1_000_000
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("env {var}: {problem}")]
    Env { var: &'static str, problem: String },
    #[error("class {class:?}: {source}")]
    Policy { class: String, source: PolicyError },
    #[error("settlement.max_batch must be at least 1")]
    EmptyBatch,
    #[error("reading key file {path}: {source}")]
    KeyFile { path: String, source: std::io::Error },
    #[error("relayer key is not a 32-byte hex private key")]
    BadKey,
    #[error("queue.database (or RELAYER_DATABASE) is required")]
    NoDatabase,
    #[error(transparent)]
    Database(#[from] QueueError),
    #[error("queue.claim_secs and queue.connections must be at least 1")]
    QueueLimits,
    #[error(transparent)]
    Collateral(CollateralLoadError),
    #[error("collateral.cache_dir is required with collateral.pccs_url or collateral.amd_kds_url")]
    NoCacheDir,
    #[error("collateral cache folder {path}: {source}")]
    CacheDir { path: String, source: std::io::Error },
    #[error("settlement.fee_bump_percent must be at least 10 (nodes refuse smaller replacements), got {0}")]
    FeeBump(u64),
}

impl Config {
    /// Parses `text` and applies overrides from `env` (`RELAYER_LISTEN`, `RELAYER_DATABASE`,
    /// `RELAYER_RPC_URL`, `RELAYER_CHAIN_ID`, `RELAYER_MARKET`, `RELAYER_REGISTRY`,
    /// `RELAYER_SETTLEMENT`, `RELAYER_INSTANCE`).
    pub fn from_toml_and_env(text: &str, env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut c: Config = toml::from_str(text)?;
        fn parse<T: std::str::FromStr>(var: &'static str, v: &str) -> Result<T, ConfigError>
        where
            T::Err: fmt::Display,
        {
            v.parse().map_err(|e: T::Err| ConfigError::Env { var, problem: e.to_string() })
        }
        if let Some(v) = env.get("RELAYER_LISTEN") {
            c.listen = parse("RELAYER_LISTEN", v)?;
        }
        if let Some(v) = env.get("RELAYER_DATABASE") {
            c.queue.database = Some(v.clone());
        }
        if let Some(v) = env.get("RELAYER_INSTANCE") {
            c.queue.instance = Some(v.clone());
        }
        match (&c.queue.database, c.database.take()) {
            (Some(_), _) => {}
            (None, Some(old)) => c.queue.database = Some(old),
            (None, None) => return Err(ConfigError::NoDatabase),
        }
        c.queue_location()?;
        if c.queue.claim_secs == 0 || c.queue.connections == 0 {
            return Err(ConfigError::QueueLimits);
        }
        if let Some(v) = env.get("RELAYER_RPC_URL") {
            c.rpc_url = v.clone();
        }
        if let Some(v) = env.get("RELAYER_CHAIN_ID") {
            c.chain_id = parse("RELAYER_CHAIN_ID", v)?;
        }
        if let Some(v) = env.get("RELAYER_MARKET") {
            c.market = parse("RELAYER_MARKET", v)?;
        }
        if let Some(v) = env.get("RELAYER_REGISTRY") {
            c.registry = parse("RELAYER_REGISTRY", v)?;
        }
        if let Some(v) = env.get("RELAYER_SETTLEMENT") {
            c.settlement.contract = Some(parse("RELAYER_SETTLEMENT", v)?);
        }
        for (class, policy) in &c.classes {
            policy.validate().map_err(|source| ConfigError::Policy { class: class.clone(), source })?;
        }
        if c.settlement.max_batch == 0 {
            return Err(ConfigError::EmptyBatch);
        }
        let fetching = c.collateral.pccs_url.is_some() || c.collateral.amd_kds_url.is_some();
        if fetching && c.collateral.cache_dir.is_none() {
            return Err(ConfigError::NoCacheDir);
        }
        if c.settlement.fee_bump_percent < crate::chain::MIN_BUMP_PERCENT {
            return Err(ConfigError::FeeBump(c.settlement.fee_bump_percent));
        }
        Ok(c)
    }

    /// Where the queue lives (validated at load, so this only fails on a hand-built
    /// `Config`).
    pub fn queue_location(&self) -> Result<QueueLocation, ConfigError> {
        let text =
            self.queue.database.as_deref().or(self.database.as_deref()).ok_or(ConfigError::NoDatabase)?;
        Ok(QueueLocation::parse(text)?)
    }

    /// This instance's name in PostgreSQL claims.
    pub fn instance_name(&self) -> String {
        self.queue.instance.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            let host = host.trim();
            format!("{}-{}", if host.is_empty() { "relayer" } else { host }, std::process::id())
        })
    }

    /// Policies keyed by class id, as the pipeline looks them up.
    pub fn policies_by_class_id(&self) -> HashMap<B256, ClassPolicy> {
        self.classes.iter().map(|(name, p)| (keccak256(name.as_bytes()), p.clone())).collect()
    }

    /// The relayer's signing key: `RELAYER_KEY` if set, else `settlement.key_file`.
    pub fn relayer_key(&self, env: &HashMap<String, String>) -> Result<Option<SecretKey>, ConfigError> {
        let text = match (env.get("RELAYER_KEY"), &self.settlement.key_file) {
            (Some(k), _) => k.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|source| ConfigError::KeyFile { path: path.display().to_string(), source })?,
            (None, None) => return Ok(None),
        };
        SecretKey::parse(text.trim()).map(Some)
    }
}

/// A private key that never prints: `Debug` and `Display` show only that it is redacted.
#[derive(Clone)]
pub struct SecretKey(B256);

impl SecretKey {
    pub fn parse(hex_text: &str) -> Result<Self, ConfigError> {
        hex_text.parse::<B256>().map(SecretKey).map_err(|_| ConfigError::BadKey)
    }
    pub fn expose(&self) -> &B256 {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        listen = "127.0.0.1:8090"
        database = "relayer.sqlite"
        chain_id = 412346
        market = "0x1111111111111111111111111111111111111111"
        registry = "0x2222222222222222222222222222222222222222"
        rpc_url = "http://127.0.0.1:8547"
        [classes.DEVNET-SIM]
        allow_none = true
        [settlement]
        max_batch = 8
    "#;

    #[test]
    fn parses_and_env_overrides_win() {
        let env: HashMap<String, String> = [
            ("RELAYER_LISTEN".to_string(), "0.0.0.0:9000".to_string()),
            ("RELAYER_RPC_URL".to_string(), "http://rpc".to_string()),
            ("RELAYER_SETTLEMENT".to_string(), "0x3333333333333333333333333333333333333333".to_string()),
        ]
        .into();
        let c = Config::from_toml_and_env(EXAMPLE, &env).unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(c.rpc_url, "http://rpc");
        assert_eq!(c.settlement.contract, Some(Address::repeat_byte(0x33)));
        assert_eq!(c.chain_id, 412346);
        assert_eq!((c.settlement.max_batch, c.settlement.max_wait_secs), (8, 5));
        let ids = c.policies_by_class_id();
        assert!(ids[&keccak256("DEVNET-SIM")].allow_none);
    }

    #[test]
    fn bad_env_and_bad_policy_name_the_problem() {
        let env: HashMap<String, String> = [("RELAYER_CHAIN_ID".to_string(), "abc".to_string())].into();
        let err = Config::from_toml_and_env(EXAMPLE, &env).unwrap_err();
        assert!(err.to_string().contains("RELAYER_CHAIN_ID"), "{err}");
        let bad = EXAMPLE.replace("allow_none = true", "allow_none = false");
        let err = Config::from_toml_and_env(&bad, &HashMap::new()).unwrap_err();
        assert!(err.to_string().contains("DEVNET-SIM"), "{err}");
    }

    #[test]
    fn the_queue_location_comes_from_queue_database_env_or_the_old_key() {
        let none = HashMap::new();
        let c = Config::from_toml_and_env(EXAMPLE, &none).unwrap();
        assert_eq!(c.queue_location().unwrap(), QueueLocation::Sqlite("relayer.sqlite".into()));
        let pg = format!(
            "{}\n[queue]\ndatabase = \"postgres://relayer:secret@db:5432/q\"\ninstance = \"r1\"\n",
            EXAMPLE.replace("database = \"relayer.sqlite\"", "")
        );
        let c = Config::from_toml_and_env(&pg, &none).unwrap();
        let loc = c.queue_location().unwrap();
        assert_eq!(loc, QueueLocation::Postgres("postgres://relayer:secret@db:5432/q".into()));
        assert_eq!(loc.redacted(), "postgres://relayer@db:5432/q", "no password in logs");
        assert_eq!(c.instance_name(), "r1");
        let env: HashMap<String, String> =
            [("RELAYER_DATABASE".to_string(), "sqlite:///var/lib/relayer/q.db".to_string())].into();
        let c = Config::from_toml_and_env(&pg, &env).unwrap();
        assert_eq!(c.queue_location().unwrap(), QueueLocation::Sqlite("/var/lib/relayer/q.db".into()));
        let env: HashMap<String, String> =
            [("RELAYER_DATABASE".to_string(), "mysql://x@y/z".to_string())].into();
        let err = Config::from_toml_and_env(EXAMPLE, &env).unwrap_err();
        assert!(err.to_string().contains("mysql://x@y/z"), "{err}");
        let err = Config::from_toml_and_env(&EXAMPLE.replace("database = \"relayer.sqlite\"", ""), &none)
            .unwrap_err();
        assert!(matches!(err, ConfigError::NoDatabase), "{err}");
    }

    #[test]
    fn fee_bump_settings_default_and_are_validated() {
        let c = Config::from_toml_and_env(EXAMPLE, &HashMap::new()).unwrap();
        assert_eq!((c.settlement.replace_after_secs, c.settlement.fee_bump_percent), (60, 20));
        assert_eq!(c.settlement.max_fee_per_gas_cap, 0, "no cap unless configured");
        let capped = EXAMPLE.replace("max_batch = 8", "max_batch = 8\nmax_fee_per_gas_cap = 50000000000");
        let c = Config::from_toml_and_env(&capped, &HashMap::new()).unwrap();
        assert_eq!(c.settlement.max_fee_per_gas_cap, 50_000_000_000);
        let low = EXAMPLE.replace("max_batch = 8", "max_batch = 8\nfee_bump_percent = 5");
        let err = Config::from_toml_and_env(&low, &HashMap::new()).unwrap_err();
        assert!(matches!(err, ConfigError::FeeBump(5)), "{err}");
    }

    #[test]
    fn the_shipped_example_config_is_valid() {
        let text = include_str!("../relayer.example.toml");
        let c = Config::from_toml_and_env(text, &HashMap::new()).unwrap();
        let h100 = &c.classes["H100-SXM5-80GB"];
        assert!(!h100.allow_none && h100.tdx.is_some() && h100.nvidia_cc.is_some());
        assert!(c.classes["DEVNET-SIM"].allow_none);
    }

    #[test]
    fn the_key_comes_from_env_first_and_never_prints() {
        let c = Config::from_toml_and_env(EXAMPLE, &HashMap::new()).unwrap();
        assert!(c.relayer_key(&HashMap::new()).unwrap().is_none());
        let hex = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
        let env: HashMap<String, String> = [("RELAYER_KEY".to_string(), format!("{hex}\n"))].into();
        let key = c.relayer_key(&env).unwrap().unwrap();
        assert_eq!(key.expose().to_string(), hex);
        assert!(!format!("{key:?} {key}").contains("59c6"), "key leaked into formatting");
        let env: HashMap<String, String> = [("RELAYER_KEY".to_string(), "nope".to_string())].into();
        assert!(matches!(c.relayer_key(&env), Err(ConfigError::BadKey)));
    }
}
