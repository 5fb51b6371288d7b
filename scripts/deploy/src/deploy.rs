//! The deployment run: decide what to (re)deploy, deploy it, wire everything, and return
//! the record for `deployments/<network>.json`. Progress goes to a callback, one line per
//! step.

use std::collections::{BTreeMap, BTreeSet};

use alloy::{
    primitives::{keccak256, Address, U256},
    providers::{DynProvider, Provider},
};

use crate::{
    config::{Config, Network, TokenSource},
    plan::{self, ContractSpec, Env},
    program::{self, DeployedProgram},
    record::{ClassRecord, ContractRecord, Deployment, PoolRecord},
    stylus, wire,
};

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(
        "the RPC endpoint serves chain id {actual}, but network `{network}` is configured with {expected}"
    )]
    WrongChain { network: String, expected: u64, actual: u64 },
    #[error("RPC error: {0}")]
    Rpc(String),
    #[error("no wasm loaded for package `{0}`")]
    NoWasm(String),
    #[error("`{key}` ({package}) cannot be deployed: {problem} (nothing was sent; `amm = false` under [deploy] in the config deploys everything but the AMM)")]
    TooLarge { key: String, package: String, problem: stylus::LimitError },
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error("deploying `{key}`: {source}")]
    Program {
        key: String,
        #[source]
        source: program::ProgramError,
    },
    #[error(transparent)]
    Wire(#[from] wire::WireError),
}

/// What a run did, for the summary line and the tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub deployed: Vec<String>,
    pub skipped: Vec<String>,
    pub wiring_sent: usize,
    pub wiring_skipped: usize,
}

/// Inputs of one run.
pub struct Request<'a> {
    pub config: &'a Config,
    pub network: &'a Network,
    /// Signs and owns everything; the provider must sign for it.
    pub deployer: Address,
    /// Wasm by package name.
    pub wasm: &'a BTreeMap<String, Vec<u8>>,
    /// The record of a previous run (on this network), if any.
    pub previous: Option<&'a Deployment>,
}

/// Keys that must be deployed on their own account: no record, other code on chain than
/// the current wasm, or other constructor arguments than recorded.
async fn changed_contracts(
    provider: &DynProvider,
    env: &Env<'_>,
    table: &[ContractSpec],
    wasm: &BTreeMap<String, Vec<u8>>,
    previous: Option<&Deployment>,
    external: &BTreeMap<String, Address>,
) -> Result<BTreeSet<String>, DeployError> {
    let mut recorded: BTreeMap<String, Address> = external.clone();
    if let Some(p) = previous {
        recorded.extend(p.contracts.iter().map(|(k, c)| (k.clone(), c.address)));
    }
    let mut changed = BTreeSet::new();
    for spec in table {
        let Some(rec) = previous.and_then(|p| p.contracts.get(&spec.key)) else {
            changed.insert(spec.key.clone());
            continue;
        };
        let code = wasm.get(spec.package).ok_or_else(|| DeployError::NoWasm(spec.package.into()))?;
        let expected = stylus::code_hash(code);
        let on_chain =
            program::verify_code(provider, rec.address).await.map_err(|e| DeployError::Rpc(e.to_string()))?;
        let same_args =
            spec.constructor_args(env, &recorded).map(|a| keccak256(a) == rec.init_hash).unwrap_or(false);
        if on_chain != expected || !same_args {
            changed.insert(spec.key.clone());
        }
    }
    Ok(changed)
}

/// Deploys what is missing or changed, wires everything, and returns the new record.
pub async fn deploy(
    provider: &DynProvider,
    req: Request<'_>,
    log: &(dyn Fn(String) + Sync),
) -> Result<(Deployment, Summary), DeployError> {
    let chain_id = provider.get_chain_id().await.map_err(|e| DeployError::Rpc(e.to_string()))?;
    if chain_id != req.network.chain_id {
        return Err(DeployError::WrongChain {
            network: req.network.name.clone(),
            expected: req.network.chain_id,
            actual: chain_id,
        });
    }
    // A record from another chain (or a restarted devnet with another id) says nothing.
    let previous = req.previous.filter(|p| p.chain_id == chain_id);
    let env = Env {
        owner: req.deployer,
        treasury: req.network.treasury.unwrap_or(req.deployer),
        config: req.config,
        network: req.network,
    };
    let mut external = BTreeMap::new();
    for (key, source) in [("stablecoin", &req.network.stablecoin), ("collateral", &req.network.collateral)] {
        if let TokenSource::Existing(a) = source {
            external.insert(key.to_owned(), *a);
        }
    }

    let table = plan::contracts(&env);
    for spec in &table {
        let wasm = req.wasm.get(spec.package).ok_or_else(|| DeployError::NoWasm(spec.package.into()))?;
        stylus::check_limits(wasm).map_err(|problem| DeployError::TooLarge {
            key: spec.key.clone(),
            package: spec.package.into(),
            problem,
        })?;
    }
    let changed = changed_contracts(provider, &env, &table, req.wasm, previous, &external).await?;
    let redeploy = plan::to_deploy(&table, &changed);
    let total = table.len() + plan::wiring(&env).len();
    let mut summary = Summary::default();
    let mut addresses = external.clone();
    let mut contracts = BTreeMap::new();
    let mut last_block = 0;

    for (i, spec) in table.iter().enumerate() {
        let n = i + 1;
        if !redeploy.contains(&spec.key) {
            let rec =
                previous.and_then(|p| p.contracts.get(&spec.key)).cloned().expect("unchanged means recorded");
            log(format!(
                "[{n}/{total}] {} ({}): already deployed at {}, same code hash",
                spec.key, spec.package, rec.address
            ));
            addresses.insert(spec.key.clone(), rec.address);
            contracts.insert(spec.key.clone(), rec);
            summary.skipped.push(spec.key.clone());
            continue;
        }
        let wasm = req.wasm.get(spec.package).ok_or_else(|| DeployError::NoWasm(spec.package.into()))?;
        let args = spec.constructor_args(&env, &addresses)?;
        log(format!(
            "[{n}/{total}] {} ({}): deploying {} KiB of compressed wasm...",
            spec.key,
            spec.package,
            stylus::program_code(wasm).len() / 1024
        ));
        let DeployedProgram { address, code_hash, stylus_version, data_fee, block, .. } =
            program::deploy_program(provider, wasm, Some(&args))
                .await
                .map_err(|source| DeployError::Program { key: spec.key.clone(), source })?;
        log(format!(
            "[{n}/{total}] {}: deployed at {address}, activated (Stylus v{stylus_version}, data fee {data_fee} wei)",
            spec.key
        ));
        last_block = last_block.max(block);
        addresses.insert(spec.key.clone(), address);
        contracts.insert(
            spec.key.clone(),
            ContractRecord {
                address,
                package: spec.package.to_owned(),
                code_hash,
                init_hash: keccak256(&args),
                stylus_version,
                block,
            },
        );
        summary.deployed.push(spec.key.clone());
    }

    let lookup = |k: &str| addresses.get(k).copied();
    for (i, step) in plan::wiring(&env).iter().enumerate() {
        let n = table.len() + i + 1;
        match wire::run(provider, req.config, req.network, &lookup, step).await? {
            wire::Outcome::AlreadyDone => {
                log(format!("[{n}/{total}] {step}: already done"));
                summary.wiring_skipped += 1;
            }
            wire::Outcome::Sent => {
                log(format!("[{n}/{total}] {step}: done"));
                summary.wiring_sent += 1;
            }
        }
    }

    let head = provider.get_block_number().await.map_err(|e| DeployError::Rpc(e.to_string()))?;
    let quote = lookup("stablecoin").unwrap_or_default();
    let classes = req
        .config
        .classes
        .iter()
        .map(|c| ClassRecord {
            name: c.name.clone(),
            class_id: c.class_id(),
            symbol: c.symbol.clone(),
            token: lookup(&plan::token_key(c)).unwrap_or_default(),
            evidence_kinds: req.network.evidence_mask(c),
        })
        .collect();
    let pools = req
        .config
        .classes
        .iter()
        .filter(|_| req.config.deploy_amm)
        .map(|c| {
            let token = lookup(&plan::token_key(c)).unwrap_or_default();
            PoolRecord {
                class: c.name.clone(),
                token,
                quote,
                fee: req.config.pool_fee_bps,
                pool_id: plan::pool_id(token, quote, req.config.pool_fee_bps),
            }
        })
        .collect();
    let record = Deployment {
        network: req.network.name.clone(),
        chain_id,
        deployer: req.deployer,
        block: if summary.deployed.is_empty() && summary.wiring_sent == 0 {
            previous.map(|p| p.block).unwrap_or(head)
        } else {
            head.max(last_block)
        },
        contracts,
        external,
        classes,
        pools,
    };
    Ok((record, summary))
}

/// `U256` wei as ether with 6 decimals, for messages.
pub fn format_ether(wei: U256) -> String {
    let micro = wei / U256::from(1_000_000_000_000u64);
    let whole = micro / U256::from(1_000_000u64);
    let frac = micro % U256::from(1_000_000u64);
    format!("{whole}.{frac:0>6}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ether_formatting() {
        assert_eq!(format_ether(U256::from(10).pow(U256::from(18))), "1.000000");
        assert_eq!(format_ether(U256::from(1_234_567_000_000_000u64)), "0.001234");
        assert_eq!(format_ether(U256::ZERO), "0.000000");
    }
}
