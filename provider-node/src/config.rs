//! `provider.toml` plus environment overrides.
//!
//! Every key can be overridden by `PROVIDER_NODE_<SECTION>_<KEY>` (upper case), e.g.
//! `PROVIDER_NODE_METER_KIND=simulated`, `PROVIDER_NODE_RELAYER_URL=http://…`. The value is read
//! as a TOML literal when it parses as one (numbers, booleans, arrays) and as a string
//! otherwise. Errors name the key (`meter.sample_interval_ms: …`).

use alloy::primitives::Address;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Environment prefix for overrides.
pub const ENV_PREFIX: &str = "PROVIDER_NODE_";

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub node: NodeConfig,
    pub chain: ChainConfig,
    pub relayer: RelayerConfig,
    pub meter: MeterConfig,
    #[serde(default)]
    pub evidence: EvidenceConfig,
    #[serde(default)]
    pub jobs: JobsConfig,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Spool, job logs and job inbox live here.
    pub data_dir: PathBuf,
    /// The provider's signing key (hex, 0600). Ignored when PROVIDER_NODE_KEY is set.
    pub key_file: PathBuf,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    pub chain_id: u64,
    /// The market contract (EIP-712 verifying contract, and where jobs are opened).
    pub market: Address,
    /// JSON-RPC endpoint. Set: `run` watches the market for jobs assigned to this provider
    /// (see [`crate::chain`]). Absent: no chain access; jobs enter through the inbox only.
    #[serde(default)]
    pub rpc_url: Option<String>,
    /// How often the watcher polls the chain head for new `JobOpened` events.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// First block to scan when the data dir has no cursor yet (a fresh node). Absent: the
    /// head at first start (jobs opened before it are not seen). `init --deployment` sets the
    /// market's deployment block.
    #[serde(default)]
    pub start_block: Option<u64>,
    /// Blocks to stay behind the head before reading events (0 on the devnet; a few on a
    /// chain that can reorg).
    #[serde(default)]
    pub confirmations: u64,
    /// Largest block range of one `eth_getLogs` request (public RPCs cap it).
    #[serde(default = "default_max_block_range")]
    pub max_block_range: u64,
    /// The key that sends transactions (`acceptJob`): the provider's account, the address
    /// jobs are assigned to. Absent: `node.key_file` (the report signing key) is also the
    /// account. `PROVIDER_NODE_TX_KEY=0x...` takes precedence. The registry lets the
    /// provider's account register a different report signing key, which is why they can
    /// differ.
    #[serde(default)]
    pub tx_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RelayerConfig {
    /// Base URL; reports go to `{url}/v1/reports`.
    pub url: String,
    #[serde(default = "default_backoff_initial_ms")]
    pub backoff_initial_ms: u64,
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MeterChoice {
    Nvml,
    Simulated,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MeterConfig {
    pub kind: MeterChoice,
    #[serde(default = "default_sample_interval_ms")]
    pub sample_interval_ms: u64,
    /// Another libnvidia-ml.so.1 (tests, unusual installs).
    #[serde(default)]
    pub nvml_lib: Option<PathBuf>,
    #[serde(default)]
    pub simulated: SimulatedConfig,
}

/// Each key defaults on its own, so one override (`PROVIDER_NODE_METER_SIMULATED_GPUS=4`)
/// works without writing the whole `[meter.simulated]` table.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatedConfig {
    pub gpus: u32,
    pub util_pct: u32,
    pub power_watts: u64,
}

impl Default for SimulatedConfig {
    fn default() -> Self {
        Self { gpus: 1, util_pct: 85, power_watts: 300 }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CollectorChoice {
    Tdx,
    SevSnp,
    NvidiaCc,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EvidenceConfig {
    /// `"auto"` (detect) or an explicit list, e.g. `["tdx", "nvidia-cc"]`.
    #[serde(default)]
    pub collectors: Collectors,
    #[serde(default = "default_tsm_dir")]
    pub configfs_tsm_dir: PathBuf,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        Self { collectors: Collectors::Auto, configfs_tsm_dir: default_tsm_dir() }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Collectors {
    #[default]
    Auto,
    List(Vec<CollectorChoice>),
}

impl<'de> Deserialize<'de> for Collectors {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            L(Vec<CollectorChoice>),
        }
        match Raw::deserialize(d)? {
            Raw::S(s) if s == "auto" => Ok(Collectors::Auto),
            Raw::S(s) => Err(serde::de::Error::custom(format!(
                "expected \"auto\" or a list of \"tdx\", \"sev-snp\", \"nvidia-cc\", got {s:?}"
            ))),
            Raw::L(l) => Ok(Collectors::List(l)),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    #[serde(default = "default_time_limit_s")]
    pub default_time_limit_s: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self { default_time_limit_s: default_time_limit_s() }
    }
}

fn default_poll_interval_ms() -> u64 {
    2000
}
fn default_max_block_range() -> u64 {
    10_000
}
fn default_backoff_initial_ms() -> u64 {
    500
}
fn default_backoff_max_ms() -> u64 {
    60_000
}
fn default_sample_interval_ms() -> u64 {
    1000
}
fn default_tsm_dir() -> PathBuf {
    PathBuf::from("/sys/kernel/config/tsm/report")
}
fn default_time_limit_s() -> u64 {
    3600
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config key `{key}`: {problem}")]
    Key { key: String, problem: String },
}

fn key_err(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Key { key: key.into(), problem: problem.into() }
}

impl Config {
    /// Read `path`, apply `env` overrides (pass `std::env::vars()`), validate.
    pub fn load(path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::from_toml(&text, env).map_err(|e| match e {
            ConfigError::Syntax { message, .. } => ConfigError::Syntax { path: path.to_path_buf(), message },
            other => other,
        })
    }

    pub fn from_toml(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut doc: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        apply_env(&mut doc, env)?;
        let config: Config = serde_path_to_error::deserialize(toml::Value::Table(doc)).map_err(|e| {
            let key = e.path().to_string();
            key_err(if key == "." { "(top level)".to_string() } else { key }, e.into_inner().to_string())
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(10..=60_000).contains(&self.meter.sample_interval_ms) {
            return Err(key_err("meter.sample_interval_ms", "must be between 10 and 60000 milliseconds"));
        }
        if self.meter.simulated.gpus == 0 || self.meter.simulated.gpus > 64 {
            return Err(key_err("meter.simulated.gpus", "must be between 1 and 64"));
        }
        if self.meter.simulated.util_pct > 100 {
            return Err(key_err("meter.simulated.util_pct", "is a percentage, at most 100"));
        }
        if !(self.relayer.url.starts_with("http://") || self.relayer.url.starts_with("https://")) {
            return Err(key_err(
                "relayer.url",
                format!("{:?} is not an http:// or https:// URL", self.relayer.url),
            ));
        }
        if self.relayer.backoff_initial_ms == 0
            || self.relayer.backoff_initial_ms > self.relayer.backoff_max_ms
        {
            return Err(key_err(
                "relayer.backoff_initial_ms",
                "must be positive and at most relayer.backoff_max_ms",
            ));
        }
        if self.chain.market == Address::ZERO {
            return Err(key_err("chain.market", "is the zero address; set the deployed market contract"));
        }
        if !(50..=600_000).contains(&self.chain.poll_interval_ms) {
            return Err(key_err("chain.poll_interval_ms", "must be between 50 and 600000 milliseconds"));
        }
        if self.chain.max_block_range == 0 {
            return Err(key_err("chain.max_block_range", "must be positive"));
        }
        if let Some(url) = &self.chain.rpc_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(key_err(
                    "chain.rpc_url",
                    format!("{url:?} is not an http:// or https:// URL (the watcher polls over HTTP)"),
                ));
            }
        }
        if self.jobs.default_time_limit_s == 0 {
            return Err(key_err("jobs.default_time_limit_s", "must be positive"));
        }
        Ok(())
    }
}

/// `PROVIDER_NODE_<SECTION>_<KEY>` → `section.key` (the first `_` after the prefix splits
/// section from key; nested simulated keys use `PROVIDER_NODE_METER_SIMULATED_<KEY>`).
fn apply_env(
    doc: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    const SECTIONS: [&str; 6] = ["node", "chain", "relayer", "meter", "evidence", "jobs"];
    for (name, value) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else { continue };
        let rest = rest.to_ascii_lowercase();
        if rest == "key" || rest == "tx_key" {
            continue; // the keys themselves, read by key.rs
        }
        let Some(section) = SECTIONS.iter().find(|s| rest.starts_with(&format!("{s}_"))) else {
            return Err(key_err(name, format!("unknown section; expected one of {}", SECTIONS.join(", "))));
        };
        let mut path: Vec<String> = vec![section.to_string()];
        let key = &rest[section.len() + 1..];
        match key.strip_prefix("simulated_") {
            Some(k) if *section == "meter" => path.extend(["simulated".to_string(), k.to_string()]),
            _ => path.push(key.to_string()),
        }
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(value.clone()));
        let mut table = &mut *doc;
        for p in &path[..path.len() - 1] {
            let entry = table.entry(p.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table =
                entry.as_table_mut().ok_or_else(|| key_err(path.join("."), format!("{p} is not a table")))?;
        }
        table.insert(path[path.len() - 1].clone(), parsed);
    }
    Ok(())
}

/// What `provider-node init` puts into the commented `provider.toml`.
#[derive(Debug, Clone)]
pub struct Template<'a> {
    pub chain_id: u64,
    pub market: Address,
    pub rpc_url: &'a str,
    /// The market's deployment block (from `deployments/<network>.json`), if known.
    pub start_block: Option<u64>,
    pub relayer: &'a str,
    pub meter: MeterChoice,
    pub key_file: &'a Path,
}

/// The commented `provider.toml` that `provider-node init` writes.
pub fn template(t: &Template<'_>) -> String {
    let kind = match t.meter {
        MeterChoice::Nvml => "nvml",
        MeterChoice::Simulated => "simulated",
    };
    let start_block = match t.start_block {
        Some(b) => format!("start_block = {b}"),
        None => "# start_block = 0".to_string(),
    };
    format!(
        r#"# provider-node configuration. Every key can be overridden from the environment as
# PROVIDER_NODE_<SECTION>_<KEY>, e.g. PROVIDER_NODE_METER_KIND=simulated.

[node]
# Spool (signed reports waiting for the relayer), job logs, the job inbox and the chain
# watcher's cursor and job states.
data_dir = "./provider-data"
# The key that signs usage reports (hex, file mode 0600); register its address in the
# registry as the provider's signing key. PROVIDER_NODE_KEY=0x... takes precedence.
key_file = "{key_file}"

[chain]
chain_id = {chain_id}
# The market contract: where jobs are opened and accepted, and the EIP-712 verifying
# contract of every usage report.
market = "{market}"
# JSON-RPC endpoint (HTTP). While set, `run` watches the market for JobOpened events
# assigned to this provider, fetches each job's spec from the relayer's spec store, checks
# its hash, accepts the job while a GPU is free and runs it. Remove it to take jobs only
# from the inbox.
rpc_url = "{rpc_url}"
# How often the chain head is polled for new jobs.
poll_interval_ms = 2000
# First block to scan on the very first start (later starts resume from the cursor saved
# in data_dir). Without it the watcher starts at the head it first sees.
{start_block}
# Blocks to stay behind the head (0 on the devnet; a few where the chain can reorg).
confirmations = 0
# Largest block range per eth_getLogs request.
max_block_range = 10000
# The key that sends transactions (acceptJob), i.e. the provider's account that jobs are
# assigned to and that registered in the registry. Default: key_file above (one key for
# both). PROVIDER_NODE_TX_KEY=0x... takes precedence.
# tx_key_file = "provider-account.key"

[relayer]
# Reports are POSTed to {{url}}/v1/reports and retried with exponential backoff until
# acknowledged; job specs are fetched from {{url}}/v1/specs/<specHash>.
url = "{relayer}"
backoff_initial_ms = 500
backoff_max_ms = 60000

[meter]
# "nvml" (real NVIDIA GPUs) or "simulated" (no GPU; every report says evidence kind `none`,
# which production relayers reject).
kind = "{kind}"
# How often utilisation and the energy counter are sampled while a job runs.
sample_interval_ms = 1000
# nvml_lib = "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"

[meter.simulated]
gpus = 1
util_pct = 85
power_watts = 300

[evidence]
# "auto" detects configfs-tsm (TDX / SEV-SNP) and NVIDIA CC; or list them: ["tdx", "nvidia-cc"].
collectors = "auto"
configfs_tsm_dir = "/sys/kernel/config/tsm/report"

[jobs]
# Time limit of a job whose spec names none. A chain job is also never run longer than
# its escrow pays for (escrowed GPU-seconds / GPUs).
default_time_limit_s = 3600
"#,
        key_file = t.key_file.display(),
        chain_id = t.chain_id,
        market = t.market,
        rpc_url = t.rpc_url,
        relayer = t.relayer,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base_template() -> Template<'static> {
        Template {
            chain_id: 412346,
            market: Address::repeat_byte(0x5f),
            rpc_url: "http://127.0.0.1:8547",
            start_block: Some(6),
            relayer: "http://127.0.0.1:8600",
            meter: MeterChoice::Nvml,
            key_file: Path::new("k.key"),
        }
    }

    fn base() -> String {
        template(&base_template())
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn template_parses() {
        let c = Config::from_toml(&base(), env(&[])).unwrap();
        assert_eq!(c.chain.chain_id, 412346);
        assert_eq!(c.meter.kind, MeterChoice::Nvml);
        assert_eq!(c.evidence.collectors, Collectors::Auto);
        assert_eq!(c.meter.simulated, SimulatedConfig::default());
        assert_eq!(c.chain.rpc_url.as_deref(), Some("http://127.0.0.1:8547"));
        assert_eq!(
            (c.chain.poll_interval_ms, c.chain.start_block, c.chain.confirmations),
            (2000, Some(6), 0)
        );
        assert_eq!(c.chain.tx_key_file, None, "one key for both unless configured");
        // Without a deployment block the key is left commented out.
        let t = Template { start_block: None, key_file: Path::new("k"), ..base_template() };
        assert_eq!(Config::from_toml(&template(&t), env(&[])).unwrap().chain.start_block, None);
    }

    #[test]
    fn chain_keys_are_validated_and_overridable() {
        let c = Config::from_toml(
            &base(),
            env(&[
                ("PROVIDER_NODE_CHAIN_POLL_INTERVAL_MS", "100"),
                ("PROVIDER_NODE_CHAIN_TX_KEY_FILE", "/keys/account.key"),
                ("PROVIDER_NODE_CHAIN_RPC_URL", "http://rpc:8547"),
                ("PROVIDER_NODE_TX_KEY", "0xignored-here"),
            ]),
        )
        .unwrap();
        assert_eq!(c.chain.poll_interval_ms, 100);
        assert_eq!(c.chain.tx_key_file, Some(PathBuf::from("/keys/account.key")));
        assert_eq!(c.chain.rpc_url.as_deref(), Some("http://rpc:8547"));
        let msg = |e: &[(&str, &str)]| Config::from_toml(&base(), env(e)).unwrap_err().to_string();
        let m = msg(&[("PROVIDER_NODE_CHAIN_POLL_INTERVAL_MS", "5")]);
        assert!(m.contains("chain.poll_interval_ms"), "{m}");
        let m = msg(&[("PROVIDER_NODE_CHAIN_RPC_URL", "ws://x:1")]);
        assert!(m.contains("chain.rpc_url"), "{m}");
        let m = msg(&[("PROVIDER_NODE_CHAIN_MAX_BLOCK_RANGE", "0")]);
        assert!(m.contains("chain.max_block_range"), "{m}");
        let m = msg(&[("PROVIDER_NODE_CHAIN_START_BLOCK", "soon")]);
        assert!(m.contains("chain.start_block"), "{m}");
    }

    #[test]
    fn env_overrides_win() {
        let c = Config::from_toml(
            &base(),
            env(&[
                ("PROVIDER_NODE_METER_KIND", "simulated"),
                ("PROVIDER_NODE_METER_SIMULATED_GPUS", "4"),
                ("PROVIDER_NODE_RELAYER_URL", "http://relayer:9"),
                ("PROVIDER_NODE_EVIDENCE_COLLECTORS", r#"["tdx", "nvidia-cc"]"#),
                ("PROVIDER_NODE_KEY", "ignored here"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.meter.kind, MeterChoice::Simulated);
        assert_eq!(c.meter.simulated.gpus, 4);
        assert_eq!(c.relayer.url, "http://relayer:9");
        assert_eq!(
            c.evidence.collectors,
            Collectors::List(vec![CollectorChoice::Tdx, CollectorChoice::NvidiaCc])
        );
    }

    #[test]
    fn one_simulated_key_from_env_without_the_table() {
        let text = base().replace("[meter.simulated]\ngpus = 1\nutil_pct = 85\npower_watts = 300\n", "");
        assert!(!text.contains("[meter.simulated]"));
        let c = Config::from_toml(&text, env(&[("PROVIDER_NODE_METER_SIMULATED_GPUS", "4")])).unwrap();
        assert_eq!(c.meter.simulated, SimulatedConfig { gpus: 4, ..SimulatedConfig::default() });
    }

    #[test]
    fn errors_name_the_key() {
        let msg = |text: &str, e: &[(&str, &str)]| Config::from_toml(text, env(e)).unwrap_err().to_string();
        let m = msg(&base(), &[("PROVIDER_NODE_METER_KIND", "cuda")]);
        assert!(m.contains("meter.kind") && m.contains("cuda"), "{m}");
        let m = msg(&base().replace("sample_interval_ms = 1000", "sample_interval_ms = 1"), &[]);
        assert!(m.contains("meter.sample_interval_ms"), "{m}");
        let m = msg(&base().replace("market = \"0x", "market = \"0xzz"), &[]);
        assert!(m.contains("chain.market"), "{m}");
        let m = msg(&base().replace("[jobs]", "[jobs]\nbogus = 1"), &[]);
        assert!(m.contains("jobs") && m.contains("bogus"), "{m}");
        let m = msg(&base(), &[("PROVIDER_NODE_WAT_X", "1")]);
        assert!(m.contains("PROVIDER_NODE_WAT_X"), "{m}");
        let m = msg(&base(), &[("PROVIDER_NODE_RELAYER_URL", "ftp://x")]);
        assert!(m.contains("relayer.url"), "{m}");
        let m = msg("[node\n", &[]);
        assert!(m.contains("not valid TOML"), "{m}");
    }
}
