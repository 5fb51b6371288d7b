//! What gets deployed and wired, as data: the contract table (one row per deployment, in
//! order, each with its constructor), the wiring table (one-shot setup calls, each checked
//! on chain before it is sent), and the pure decision of what must be (re)deployed.
//!
//! A constructor change (for example the market gaining an `amm` argument) is one row here:
//! its `deps` and its encoding closure.

use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
};

use alloy::{
    primitives::{keccak256, Address, B256},
    sol_types::SolValue,
};

use crate::config::{ClassConfig, Config, Network, TokenSource};

/// Vault role ids: `keccak256("<NAME>_ROLE")`.
pub fn role_id(name: &str) -> B256 {
    keccak256(name.as_bytes())
}

/// Key of a class's compute-token in the deployment record.
pub fn token_key(class: &ClassConfig) -> String {
    format!("token:{}", class.name)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("constructor of `{contract}` needs the address of `{missing}`, which is not deployed yet")]
    MissingAddress { contract: String, missing: String },
}

/// Values every constructor may use besides other contracts' addresses.
#[derive(Clone, Debug)]
pub struct Env<'a> {
    pub owner: Address,
    pub treasury: Address,
    pub config: &'a Config,
    pub network: &'a Network,
}

/// What a constructor closure sees: the environment and the addresses known so far. It
/// records the keys it reads, so a test can check each row's `deps`.
pub struct Ctx<'a> {
    pub env: &'a Env<'a>,
    contract: &'a str,
    addresses: &'a BTreeMap<String, Address>,
    read: RefCell<BTreeSet<String>>,
}

impl Ctx<'_> {
    pub fn addr(&self, key: &str) -> Result<Address, PlanError> {
        self.read.borrow_mut().insert(key.to_owned());
        self.addresses.get(key).copied().ok_or_else(|| PlanError::MissingAddress {
            contract: self.contract.to_owned(),
            missing: key.to_owned(),
        })
    }
}

type CtorFn = Box<dyn Fn(&Ctx) -> Result<Vec<u8>, PlanError> + Send + Sync>;

/// One deployment.
pub struct ContractSpec {
    /// Key in `deployments/<network>.json`.
    pub key: String,
    /// Cargo package of the contract (its wasm is `<package with _>.wasm`).
    pub package: &'static str,
    /// Keys whose addresses the constructor uses: redeploying one redeploys this.
    pub deps: Vec<&'static str>,
    /// Contracts tied by one-shot wiring (a token's minter is set once; a class is listed
    /// once): if one member is redeployed, all are.
    pub group: Option<&'static str>,
    ctor: CtorFn,
}

impl ContractSpec {
    fn new(
        key: impl Into<String>,
        package: &'static str,
        deps: &[&'static str],
        group: Option<&'static str>,
        ctor: impl Fn(&Ctx) -> Result<Vec<u8>, PlanError> + Send + Sync + 'static,
    ) -> Self {
        ContractSpec { key: key.into(), package, deps: deps.to_vec(), group, ctor: Box::new(ctor) }
    }

    /// ABI-encoded constructor arguments given the addresses known so far.
    pub fn constructor_args(
        &self,
        env: &Env,
        addresses: &BTreeMap<String, Address>,
    ) -> Result<Vec<u8>, PlanError> {
        self.constructor_args_and_reads(env, addresses).map(|(args, _)| args)
    }

    fn constructor_args_and_reads(
        &self,
        env: &Env,
        addresses: &BTreeMap<String, Address>,
    ) -> Result<(Vec<u8>, BTreeSet<String>), PlanError> {
        let ctx = Ctx { env, contract: &self.key, addresses, read: RefCell::new(BTreeSet::new()) };
        let args = (self.ctor)(&ctx)?;
        Ok((args, ctx.read.into_inner()))
    }
}

/// Devnet mock tokens: (key, name, symbol, decimals).
pub const MOCK_STABLECOIN: (&str, &str, &str, u8) = ("stablecoin", "Mock USD Coin", "USDC", 6);
pub const MOCK_COLLATERAL: (&str, &str, &str, u8) = ("collateral", "Mock Restaked ETH", "mLRT", 18);

/// The contract table for `env.network`, in deployment order.
pub fn contracts(env: &Env) -> Vec<ContractSpec> {
    let mut t = Vec::new();
    for (source, (key, name, symbol, decimals)) in
        [(&env.network.stablecoin, MOCK_STABLECOIN), (&env.network.collateral, MOCK_COLLATERAL)]
    {
        if *source == TokenSource::Mock {
            t.push(ContractSpec::new(key, "mock-erc20", &[], None, move |_| {
                // `uint8` is one ABI word, like `uint256` (alloy reserves `u8` for bytes).
                Ok((name.to_owned(), symbol.to_owned(), alloy::primitives::U256::from(decimals))
                    .abi_encode_params())
            }));
        }
    }
    let (delay, window) = (env.config.withdrawal_delay, env.config.veto_window);
    t.push(ContractSpec::new("vault", "vault", &["collateral"], None, move |c| {
        Ok((c.addr("collateral")?, c.env.owner, c.env.treasury, delay).abi_encode_params())
    }));
    t.push(ContractSpec::new("slashCourt", "slash-court", &["vault"], None, move |c| {
        Ok((c.addr("vault")?, c.env.owner, window).abi_encode_params())
    }));
    t.push(ContractSpec::new("registry", "registry", &["vault"], Some("core"), |c| {
        Ok((c.env.owner, c.addr("vault")?).abi_encode_params())
    }));
    if env.config.deploy_amm {
        // The AMM is two programs at one address: `amm` delegate-calls `amm-liquidity`
        // (liquidity, LP shares, governance), which has no constructor of its own.
        t.push(ContractSpec::new("ammLiquidity", "amm-liquidity", &[], None, |_| Ok(Vec::new())));
        t.push(ContractSpec::new("amm", "amm", &["ammLiquidity"], None, |c| {
            Ok((c.env.owner, c.addr("ammLiquidity")?).abi_encode_params())
        }));
    }
    t.push(ContractSpec::new("market", "market", &["vault", "registry"], Some("core"), |c| {
        Ok((c.env.owner, c.addr("vault")?, c.addr("registry")?).abi_encode_params())
    }));
    // settleBatch lives here (the market's size split); the market trusts it via setSettler.
    t.push(ContractSpec::new(
        "settlement",
        "settlement",
        &["market", "registry", "vault"],
        Some("core"),
        |c| Ok((c.env.owner, c.addr("market")?, c.addr("registry")?, c.addr("vault")?).abi_encode_params()),
    ));
    if env.config.deploy_amm {
        // slashMissedAccept (priced at the AMM's TWAP) and buyer disputes.
        t.push(ContractSpec::new(
            "enforcement",
            "enforcement",
            &["market", "registry", "settlement", "vault", "slashCourt", "amm"],
            None,
            |c| {
                Ok((
                    c.env.owner,
                    c.addr("market")?,
                    c.addr("registry")?,
                    c.addr("settlement")?,
                    c.addr("vault")?,
                    c.addr("slashCourt")?,
                    c.addr("amm")?,
                )
                    .abi_encode_params())
            },
        ));
    }
    for class in &env.config.classes {
        let class = class.clone();
        t.push(ContractSpec::new(token_key(&class), "compute-token", &[], Some("core"), move |c| {
            Ok((
                class.token_name.clone(),
                class.symbol.clone(),
                class.class_id(),
                class.name.clone(),
                c.env.owner,
            )
                .abi_encode_params())
        }));
    }
    t
}

/// One-shot setup after deployment. Each is checked on chain first and skipped when done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wire {
    /// `token.setMinter(market)` (once, by the token's admin).
    SetMinter { token: String, minter: String },
    /// `vault.setRole(keccak256(role), account, true)`.
    GrantRole { contract: String, role: &'static str, account: String },
    /// `registry.listClass(...)` for `classes[index]`.
    ListClass { index: usize },
    /// `market.setSettler(settler, true)`.
    SetSettler { settler: String },
    /// `registry.setRelayer(relayer, true)`.
    SetRelayer { relayer: Address },
    /// `amm.createPool(token, quote, fee)`.
    CreatePool { token: String, quote: String, fee: u16 },
    /// `amm.increaseObservationCardinality(pool, cardinality)` for the class's pool.
    GrowOracle { index: usize, cardinality: u16 },
    /// `enforcement.setClassPricing(...)` for `classes[index]` (its pool, its side, the TWAP
    /// window, the network's collateral rate).
    SetClassPricing { index: usize },
    /// `enforcement.setDisputeConfig(owner, window, bond)`.
    SetDisputeConfig,
}

/// The wiring table.
pub fn wiring(env: &Env) -> Vec<Wire> {
    let mut w = Vec::new();
    for class in &env.config.classes {
        w.push(Wire::SetMinter { token: token_key(class), minter: "market".into() });
    }
    for (role, account) in [
        ("LOCKER_ROLE", "market"),
        ("SLASHER_ROLE", "market"),
        ("SLASHER_ROLE", "slashCourt"),
        ("SLASHER_ROLE", "settlement"),
    ] {
        w.push(Wire::GrantRole { contract: "vault".into(), role, account: account.into() });
    }
    w.push(Wire::SetSettler { settler: "settlement".into() });
    for index in 0..env.config.classes.len() {
        w.push(Wire::ListClass { index });
    }
    for relayer in &env.network.relayers {
        w.push(Wire::SetRelayer { relayer: *relayer });
    }
    if env.config.deploy_amm {
        for class in &env.config.classes {
            w.push(Wire::CreatePool {
                token: token_key(class),
                quote: "stablecoin".into(),
                fee: env.config.pool_fee_bps,
            });
        }
        w.push(Wire::SetSettler { settler: "enforcement".into() });
        w.push(Wire::GrantRole {
            contract: "vault".into(),
            role: "SLASHER_ROLE",
            account: "enforcement".into(),
        });
        w.push(Wire::GrantRole {
            contract: "slashCourt".into(),
            role: "VETOABLE_SLASHER_ROLE",
            account: "enforcement".into(),
        });
        for index in 0..env.config.classes.len() {
            w.push(Wire::GrowOracle { index, cardinality: env.config.oracle_cardinality });
            w.push(Wire::SetClassPricing { index });
        }
        w.push(Wire::SetDisputeConfig);
    }
    w
}

impl std::fmt::Display for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Wire::SetMinter { token, minter } => write!(f, "{token}.setMinter({minter})"),
            Wire::GrantRole { contract, role, account } => write!(f, "{contract}.setRole({role}, {account})"),
            Wire::ListClass { index } => write!(f, "registry.listClass(classes[{index}])"),
            Wire::SetSettler { settler } => write!(f, "market.setSettler({settler})"),
            Wire::SetRelayer { relayer } => write!(f, "registry.setRelayer({relayer})"),
            Wire::CreatePool { token, quote, fee } => {
                write!(f, "amm.createPool({token}, {quote}, {fee} bps)")
            }
            Wire::GrowOracle { index, cardinality } => {
                write!(f, "amm.increaseObservationCardinality(pool of classes[{index}], {cardinality})")
            }
            Wire::SetClassPricing { index } => write!(f, "enforcement.setClassPricing(classes[{index}])"),
            Wire::SetDisputeConfig => write!(f, "enforcement.setDisputeConfig(owner, window, bond)"),
        }
    }
}

/// The AMM's pool id: `uint256(keccak256(abi.encode(token0, token1, uint256(fee))))` with
/// `token0 < token1`.
pub fn pool_id(a: Address, b: Address, fee: u16) -> B256 {
    let (t0, t1) = if a < b { (a, b) } else { (b, a) };
    keccak256((t0, t1, alloy::primitives::U256::from(fee)).abi_encode())
}

/// Which contracts to (re)deploy. `changed` holds the keys that must be deployed on their
/// own account (no record, other code on chain, or different constructor arguments); the
/// result adds everything that depends on them and every member of a group with a changed
/// member, to a fixpoint.
pub fn to_deploy(table: &[ContractSpec], changed: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = changed.clone();
    loop {
        let before = out.len();
        let groups: BTreeSet<&str> =
            table.iter().filter(|s| out.contains(&s.key)).filter_map(|s| s.group).collect();
        for s in table {
            let dep_changed = s.deps.iter().any(|d| out.contains(*d));
            let group_changed = s.group.is_some_and(|g| groups.contains(g));
            if dep_changed || group_changed {
                out.insert(s.key.clone());
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped config, with the AMM on (the plan must cover it even while main ships
    /// with `amm = false`).
    fn config() -> Config {
        let mut c = Config::parse(include_str!("../../../deployments/config.toml"), "config.toml").unwrap();
        c.deploy_amm = true;
        c
    }

    fn keys(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn devnet_table_deploys_mocks_first_and_a_token_per_class() {
        let c = config();
        let env = Env {
            owner: Address::repeat_byte(1),
            treasury: Address::repeat_byte(2),
            config: &c,
            network: &c.networks["devnet"],
        };
        let t = contracts(&env);
        let k: Vec<_> = t.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(
            k,
            [
                "stablecoin",
                "collateral",
                "vault",
                "slashCourt",
                "registry",
                "ammLiquidity",
                "amm",
                "market",
                "settlement",
                "enforcement",
                "token:H100-SXM5-80GB",
                "token:A100-SXM4-80GB"
            ]
        );
        let sepolia = Env { network: &c.networks["arbitrum-sepolia"], ..env.clone() };
        assert!(!contracts(&sepolia).iter().any(|s| s.key == "stablecoin"), "Sepolia uses its USDC");
    }

    /// Every constructor reads exactly its declared deps, and every dep is deployed earlier
    /// (or given by the config): so the redeploy rules see every address a constructor uses.
    #[test]
    fn constructors_read_exactly_their_declared_deps() {
        let c = config();
        let env = Env {
            owner: Address::repeat_byte(1),
            treasury: Address::repeat_byte(2),
            config: &c,
            network: &c.networks["devnet"],
        };
        let table = contracts(&env);
        let mut known = BTreeMap::new();
        for (i, s) in table.iter().enumerate() {
            let (_, read) = s.constructor_args_and_reads(&env, &known).unwrap_or_else(|e| panic!("{e}"));
            let declared: BTreeSet<String> = s.deps.iter().map(|d| d.to_string()).collect();
            assert_eq!(read, declared, "{}", s.key);
            known.insert(s.key.clone(), Address::with_last_byte(i as u8 + 10));
        }
    }

    #[test]
    fn vault_constructor_encodes_collateral_owner_treasury_delay() {
        let c = config();
        let env = Env {
            owner: Address::repeat_byte(1),
            treasury: Address::repeat_byte(2),
            config: &c,
            network: &c.networks["devnet"],
        };
        let vault = contracts(&env).into_iter().find(|s| s.key == "vault").unwrap();
        let known = BTreeMap::from([("collateral".to_string(), Address::repeat_byte(9))]);
        let args = vault.constructor_args(&env, &known).unwrap();
        let (collateral, owner, treasury, delay) =
            <(Address, Address, Address, u64)>::abi_decode_params(&args).unwrap();
        assert_eq!(
            (collateral, owner, treasury, delay),
            (Address::repeat_byte(9), env.owner, env.treasury, 604800)
        );
        let err = vault.constructor_args(&env, &BTreeMap::new()).unwrap_err();
        assert_eq!(err, PlanError::MissingAddress { contract: "vault".into(), missing: "collateral".into() });
    }

    #[test]
    fn redeploys_follow_deps_and_groups() {
        let c = config();
        let env =
            Env { owner: Address::ZERO, treasury: Address::ZERO, config: &c, network: &c.networks["devnet"] };
        let t = contracts(&env);
        assert!(to_deploy(&t, &BTreeSet::new()).is_empty(), "nothing changed, nothing deployed");
        // A new AMM takes only the enforcement contract (which reads its TWAP) with it.
        assert_eq!(to_deploy(&t, &keys(&["amm"])), keys(&["amm", "enforcement"]));
        assert_eq!(to_deploy(&t, &keys(&["ammLiquidity"])), keys(&["ammLiquidity", "amm", "enforcement"]));
        // A new token means a new class listing, which needs a new registry: the core group.
        assert_eq!(
            to_deploy(&t, &keys(&["token:A100-SXM4-80GB"])),
            keys(&[
                "registry",
                "market",
                "settlement",
                "enforcement",
                "token:H100-SXM5-80GB",
                "token:A100-SXM4-80GB"
            ])
        );
        // New collateral: a new vault, hence everything that holds the vault's address.
        let all = to_deploy(&t, &keys(&["collateral"]));
        assert!(all.contains("slashCourt") && all.contains("market") && all.contains("token:H100-SXM5-80GB"));
        assert!(!all.contains("stablecoin") && !all.contains("amm"));
    }

    #[test]
    fn wiring_gives_the_market_its_roles_and_creates_a_pool_per_class() {
        let c = config();
        let env =
            Env { owner: Address::ZERO, treasury: Address::ZERO, config: &c, network: &c.networks["devnet"] };
        let w = wiring(&env);
        assert!(w.contains(&Wire::GrantRole {
            contract: "vault".into(),
            role: "LOCKER_ROLE",
            account: "market".into()
        }));
        assert!(w.contains(&Wire::GrantRole {
            contract: "vault".into(),
            role: "SLASHER_ROLE",
            account: "slashCourt".into()
        }));
        assert!(w.contains(&Wire::GrantRole {
            contract: "vault".into(),
            role: "SLASHER_ROLE",
            account: "settlement".into()
        }));
        assert!(w.contains(&Wire::SetSettler { settler: "settlement".into() }));
        assert_eq!(w.iter().filter(|s| matches!(s, Wire::CreatePool { .. })).count(), c.classes.len());
        assert_eq!(w.iter().filter(|s| matches!(s, Wire::SetMinter { .. })).count(), c.classes.len());
        assert_eq!(role_id("LOCKER_ROLE"), keccak256("LOCKER_ROLE"));
    }

    #[test]
    fn pool_id_ignores_token_order() {
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        assert_eq!(pool_id(a, b, 30), pool_id(b, a, 30));
        assert_ne!(pool_id(a, b, 30), pool_id(a, b, 5));
        let mut pre = [0u8; 96];
        pre[12..32].copy_from_slice(a.as_slice());
        pre[44..64].copy_from_slice(b.as_slice());
        pre[95] = 30;
        assert_eq!(pool_id(b, a, 30), keccak256(pre));
    }
}
