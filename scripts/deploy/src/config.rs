//! The deployment configuration (`deployments/config.toml`): parsed strictly (unknown keys
//! are refused) and validated before anything touches a chain, so a typo or a bad value
//! fails with a message naming the key.

use std::{collections::BTreeMap, path::Path};

use alloy::primitives::{keccak256, Address, B256, U256};
use serde::Deserialize;

/// Evidence kinds and their bits in the registry's accepted-evidence mask (fixed interface 3).
pub const EVIDENCE_KINDS: [(&str, u8); 4] = [("tdx", 1), ("sev-snp", 2), ("nvidia-cc", 4), ("none", 8)];
/// Fee tiers the AMM accepts, in basis points.
pub const POOL_FEE_TIERS: [u16; 3] = [5, 30, 100];
/// The vault's upper bound on the withdrawal delay.
pub const MAX_WITHDRAWAL_DELAY: u64 = 365 * 24 * 3600;
/// Contracts store names and symbols as short strings of at most 31 bytes.
pub const MAX_SHORT_STRING: usize = 31;

/// A configuration that cannot be used; always names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: `{key}` {problem}")]
    Invalid { path: String, key: String, problem: String },
    #[error("{path}: no network `{network}` (configured: {known})")]
    UnknownNetwork { path: String, network: String, known: String },
}

/// Raw file layout. Amounts are decimal strings of base units (they exceed TOML's i64).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    deploy: RawDeploy,
    networks: BTreeMap<String, RawNetwork>,
    classes: Vec<RawClass>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeploy {
    withdrawal_delay: u64,
    veto_window: u64,
    pool_fee_bps: u16,
    #[serde(default = "yes")]
    amm: bool,
    twap_window: u32,
    oracle_cardinality: u16,
    dispute_window: u64,
    dispute_bond: String,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    chain_id: u64,
    rpc_url: Option<String>,
    rpc_url_env: Option<String>,
    key_env: Option<String>,
    dev_key: Option<String>,
    stablecoin: String,
    collateral: String,
    #[serde(default)]
    allow_simulated_meter: bool,
    #[serde(default)]
    relayers: Vec<String>,
    treasury: Option<String>,
    collateral_per_stable: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClass {
    name: String,
    symbol: String,
    token_name: String,
    collateral_per_second: String,
    min_stake: String,
    accept_window: u64,
    max_report_delay: u64,
    evidence: Vec<String>,
}

/// Where a token comes from: a mock deployed by us (devnet) or an existing contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    Mock,
    Existing(Address),
}

/// One network's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    pub name: String,
    pub chain_id: u64,
    pub rpc_url: Option<String>,
    pub rpc_url_env: Option<String>,
    pub key_env: Option<String>,
    /// A well-known development key used when `key_env` is unset (devnet only).
    pub dev_key: Option<String>,
    pub stablecoin: TokenSource,
    pub collateral: TokenSource,
    /// Adds evidence kind `none` (the simulated meter) to every class on this network.
    pub allow_simulated_meter: bool,
    pub relayers: Vec<Address>,
    /// `None`: the deployer's own address.
    pub treasury: Option<Address>,
    /// Collateral base units worth one stablecoin base unit (the enforcement contract's
    /// conversion of TWAP-priced compensation into stake).
    pub collateral_per_stable: U256,
}

/// A hardware class to list, with its compute-second token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassConfig {
    /// e.g. `H100-SXM5-80GB`; `classId = keccak256(name)`.
    pub name: String,
    pub symbol: String,
    pub token_name: String,
    pub collateral_per_second: U256,
    pub min_stake: U256,
    pub accept_window: u64,
    pub max_report_delay: u64,
    /// Accepted-evidence mask before the network's simulated-meter bit.
    pub evidence_mask: u8,
}

impl ClassConfig {
    pub fn class_id(&self) -> B256 {
        keccak256(self.name.as_bytes())
    }
}

/// A validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub withdrawal_delay: u64,
    pub veto_window: u64,
    pub pool_fee_bps: u16,
    /// Deploy the AMM (and the enforcement contract, which prices with its TWAP) and create
    /// the pools.
    pub deploy_amm: bool,
    /// Seconds the missed-accept compensation's TWAP averages over.
    pub twap_window: u32,
    /// Observations each pool's oracle ring is grown to (so the TWAP window is covered).
    pub oracle_cardinality: u16,
    /// Seconds a buyer may dispute after a job's last settlement, and the bond (wei).
    pub dispute_window: u64,
    pub dispute_bond: U256,
    pub networks: BTreeMap<String, Network>,
    pub classes: Vec<ClassConfig>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates `text`; `path` only labels the errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string().trim().to_owned(),
        })?;
        validate(raw, path)
    }

    pub fn network(&self, name: &str, path: &str) -> Result<&Network, ConfigError> {
        self.networks.get(name).ok_or_else(|| ConfigError::UnknownNetwork {
            path: path.into(),
            network: name.into(),
            known: self.networks.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}

impl Network {
    /// The evidence mask a class gets on this network.
    pub fn evidence_mask(&self, class: &ClassConfig) -> u8 {
        class.evidence_mask | if self.allow_simulated_meter { 8 } else { 0 }
    }
}

fn validate(raw: RawConfig, path: &str) -> Result<Config, ConfigError> {
    let bad =
        |key: &str, problem: String| ConfigError::Invalid { path: path.into(), key: key.into(), problem };
    let d = &raw.deploy;
    if d.withdrawal_delay == 0 || d.withdrawal_delay > MAX_WITHDRAWAL_DELAY {
        return Err(bad(
            "deploy.withdrawal_delay",
            format!("must be between 1 and {MAX_WITHDRAWAL_DELAY} seconds, got {}", d.withdrawal_delay),
        ));
    }
    if d.veto_window >= d.withdrawal_delay {
        return Err(bad(
            "deploy.veto_window",
            format!(
                "must be shorter than deploy.withdrawal_delay ({} s), got {} s: a disputed slash must \
                 execute before a queued withdrawal escapes it",
                d.withdrawal_delay, d.veto_window
            ),
        ));
    }
    if !POOL_FEE_TIERS.contains(&d.pool_fee_bps) {
        return Err(bad(
            "deploy.pool_fee_bps",
            format!("must be one of the AMM's fee tiers {POOL_FEE_TIERS:?}, got {}", d.pool_fee_bps),
        ));
    }

    if d.twap_window == 0 {
        return Err(bad("deploy.twap_window", "must be greater than 0 seconds".into()));
    }
    if d.oracle_cardinality == 0 {
        return Err(bad("deploy.oracle_cardinality", "must be at least 1".into()));
    }
    if d.dispute_window == 0 {
        return Err(bad("deploy.dispute_window", "must be greater than 0 seconds".into()));
    }
    let dispute_bond = parse_amount(&d.dispute_bond).map_err(|p| bad("deploy.dispute_bond", p))?;

    let mut networks = BTreeMap::new();
    for (name, n) in raw.networks {
        let k = |field: &str| format!("networks.{name}.{field}");
        if n.chain_id == 0 {
            return Err(bad(&k("chain_id"), "must not be 0".into()));
        }
        if n.rpc_url.is_none() && n.rpc_url_env.is_none() {
            return Err(bad(&k("rpc_url"), "is missing (give rpc_url or rpc_url_env)".into()));
        }
        if let Some(url) = &n.rpc_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(bad(&k("rpc_url"), format!("must be an http(s) URL, got {url:?}")));
            }
        }
        if let Some(key) = &n.dev_key {
            if key.trim_start_matches("0x").parse::<B256>().is_err() {
                return Err(bad(&k("dev_key"), "must be a 32-byte hex private key".into()));
            }
        }
        let token = |field: &str, v: &str| -> Result<TokenSource, ConfigError> {
            if v == "mock" {
                return Ok(TokenSource::Mock);
            }
            parse_address(v)
                .map(TokenSource::Existing)
                .map_err(|p| bad(&k(field), format!("must be \"mock\" or a token address: {p}")))
        };
        let relayers = n
            .relayers
            .iter()
            .enumerate()
            .map(|(i, r)| parse_address(r).map_err(|p| bad(&format!("networks.{name}.relayers[{i}]"), p)))
            .collect::<Result<_, _>>()?;
        let treasury =
            n.treasury.as_deref().map(parse_address).transpose().map_err(|p| bad(&k("treasury"), p))?;
        let collateral_per_stable =
            parse_amount(&n.collateral_per_stable).map_err(|p| bad(&k("collateral_per_stable"), p))?;
        if collateral_per_stable.is_zero() || collateral_per_stable >= U256::from(1u8) << 144 {
            return Err(bad(&k("collateral_per_stable"), "must be between 1 and 2^144 - 1".into()));
        }
        networks.insert(
            name.clone(),
            Network {
                chain_id: n.chain_id,
                stablecoin: token("stablecoin", &n.stablecoin)?,
                collateral: token("collateral", &n.collateral)?,
                rpc_url: n.rpc_url,
                rpc_url_env: n.rpc_url_env,
                key_env: n.key_env,
                dev_key: n.dev_key,
                allow_simulated_meter: n.allow_simulated_meter,
                relayers,
                treasury,
                collateral_per_stable,
                name,
            },
        );
    }
    if networks.is_empty() {
        return Err(bad("networks", "must configure at least one network".into()));
    }

    if raw.classes.is_empty() {
        return Err(bad("classes", "must list at least one hardware class".into()));
    }
    let mut classes: Vec<ClassConfig> = Vec::new();
    for (i, c) in raw.classes.into_iter().enumerate() {
        let k = |field: &str| format!("classes[{i}].{field}");
        for (field, v) in [("name", &c.name), ("symbol", &c.symbol), ("token_name", &c.token_name)] {
            if v.is_empty() || v.len() > MAX_SHORT_STRING {
                return Err(bad(&k(field), format!("must be 1 to {MAX_SHORT_STRING} bytes, got {v:?}")));
            }
        }
        if classes.iter().any(|o| o.name == c.name) {
            return Err(bad(&k("name"), format!("{:?} is listed twice", c.name)));
        }
        if classes.iter().any(|o| o.symbol == c.symbol) {
            return Err(bad(&k("symbol"), format!("{:?} is used by two classes", c.symbol)));
        }
        let collateral_per_second =
            parse_amount(&c.collateral_per_second).map_err(|p| bad(&k("collateral_per_second"), p))?;
        if collateral_per_second.is_zero() {
            return Err(bad(&k("collateral_per_second"), "must be greater than 0".into()));
        }
        let min_stake = parse_amount(&c.min_stake).map_err(|p| bad(&k("min_stake"), p))?;
        if c.accept_window == 0 {
            return Err(bad(&k("accept_window"), "must be greater than 0 seconds".into()));
        }
        if c.max_report_delay == 0 {
            return Err(bad(&k("max_report_delay"), "must be greater than 0 seconds".into()));
        }
        let mut evidence_mask = 0u8;
        for (j, e) in c.evidence.iter().enumerate() {
            let bit = EVIDENCE_KINDS.iter().find(|(n, _)| n == e).map(|(_, b)| *b).ok_or_else(|| {
                let known: Vec<_> = EVIDENCE_KINDS.iter().map(|(n, _)| *n).collect();
                bad(&format!("classes[{i}].evidence[{j}]"), format!("{e:?} is not one of {known:?}"))
            })?;
            evidence_mask |= bit;
        }
        if evidence_mask == 0 {
            return Err(bad(&k("evidence"), "must list at least one evidence kind".into()));
        }
        classes.push(ClassConfig {
            name: c.name,
            symbol: c.symbol,
            token_name: c.token_name,
            collateral_per_second,
            min_stake,
            accept_window: c.accept_window,
            max_report_delay: c.max_report_delay,
            evidence_mask,
        });
    }
    Ok(Config {
        withdrawal_delay: d.withdrawal_delay,
        veto_window: d.veto_window,
        pool_fee_bps: d.pool_fee_bps,
        deploy_amm: d.amm,
        twap_window: d.twap_window,
        oracle_cardinality: d.oracle_cardinality,
        dispute_window: d.dispute_window,
        dispute_bond,
        networks,
        classes,
    })
}

fn parse_address(s: &str) -> Result<Address, String> {
    s.parse::<Address>().map_err(|e| format!("{s:?} is not an address ({e})"))
}

/// A decimal integer of base units; `_` separators allowed (`"1_000_000"`).
pub fn parse_amount(s: &str) -> Result<U256, String> {
    let digits: String = s.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("{s:?} is not a decimal integer amount of base units"));
    }
    U256::from_str_radix(&digits, 10).map_err(|e| format!("{s:?} does not fit uint256 ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in configuration must always be valid.
    const SHIPPED: &str = include_str!("../../../deployments/config.toml");

    fn shipped() -> Config {
        Config::parse(SHIPPED, "config.toml").expect("the shipped config is valid")
    }

    fn with(from: &str, to: &str) -> Result<Config, ConfigError> {
        assert!(SHIPPED.contains(from), "test edits an existing line: {from}");
        Config::parse(&SHIPPED.replacen(from, to, 1), "config.toml")
    }

    fn err_key(r: Result<Config, ConfigError>) -> String {
        match r {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn shipped_config_lists_h100_and_a100_with_their_class_ids() {
        let c = shipped();
        let h100 = c.classes.iter().find(|c| c.name == "H100-SXM5-80GB").expect("H100 class");
        assert_eq!(h100.class_id(), keccak256("H100-SXM5-80GB"));
        assert!(c.classes.iter().any(|c| c.name.starts_with("A100")), "an A100 class");
        let devnet = c.network("devnet", "x").unwrap();
        assert_eq!(devnet.stablecoin, TokenSource::Mock);
        assert_eq!(devnet.evidence_mask(h100) & 8, 8, "devnet accepts the simulated meter");
        let sepolia = c.network("arbitrum-sepolia", "x").unwrap();
        assert!(matches!(sepolia.stablecoin, TokenSource::Existing(_)));
        assert_eq!(sepolia.evidence_mask(h100) & 8, 0, "Sepolia refuses the simulated meter");
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        assert_eq!(err_key(with("pool_fee_bps = 30", "pool_fee_bps = 31")), "deploy.pool_fee_bps");
        assert_eq!(err_key(with("veto_window = 259200", "veto_window = 9999999")), "deploy.veto_window");
        assert_eq!(err_key(with("\"tdx\"", "\"tdxx\"")), "classes[0].evidence[0]");
        assert_eq!(
            err_key(with("collateral_per_second = \"", "collateral_per_second = \"x")),
            "classes[0].collateral_per_second"
        );
        assert_eq!(err_key(with("symbol = \"A100s\"", "symbol = \"H100s\"")), "classes[1].symbol");
        assert_eq!(
            err_key(with("stablecoin = \"0x", "stablecoin = \"0xZZ")),
            "networks.arbitrum-sepolia.stablecoin"
        );
    }

    #[test]
    fn unknown_and_missing_keys_are_named() {
        let e = with("pool_fee_bps = 30", "pool_fee_bsp = 30").unwrap_err().to_string();
        assert!(e.contains("pool_fee_bsp"), "{e}");
        let e = with("pool_fee_bps = 30", "").unwrap_err().to_string();
        assert!(e.contains("pool_fee_bps"), "{e}");
        let e = shipped().network("mainnet", "config.toml").unwrap_err().to_string();
        assert!(e.contains("mainnet") && e.contains("devnet"), "{e}");
    }

    #[test]
    fn amounts_are_decimal_base_units() {
        assert_eq!(parse_amount("1_000").unwrap(), U256::from(1000));
        assert_eq!(parse_amount("1000000000000000000000").unwrap(), U256::from(10).pow(U256::from(21)));
        assert!(parse_amount("1e18").is_err());
        assert!(parse_amount("-1").is_err());
        assert!(parse_amount("").is_err());
        assert!(parse_amount(&"9".repeat(80)).is_err());
    }
}
