//! `deploy --dry-run`: the plan, the estimated fees and the balance needed, without sending
//! anything. Works offline (sizes, gas units); with a reachable RPC endpoint it adds the
//! gas price, each program's activation data fee (quoted with `eth_call`, no key needed),
//! what is already deployed, and the deployer's balance when its address is known.

use std::collections::BTreeMap;

use alloy::{
    primitives::{keccak256, Address, U256},
    providers::{DynProvider, Provider},
};

use crate::{
    config::{Config, Network},
    deploy::format_ether,
    plan::{self, Env},
    program,
    record::Deployment,
    stylus,
};

/// Gas of a deployment through the StylusDeployer, without activation: intrinsic 21,000,
/// calldata (16 per non-zero byte, 4 per zero byte), CREATE 32,000, code deposit 200 per byte,
/// plus 100,000 for the deployer's own work and the constructor.
pub fn deploy_gas(initcode: &[u8], code_len: usize) -> u64 {
    let calldata: u64 = initcode.iter().map(|b| if *b == 0 { 4 } else { 16 }).sum();
    21_000 + calldata + 32_000 + 200 * code_len as u64 + 100_000
}

/// Allowance for `activateProgram`'s gas (on top of the data fee, paid in ether). Arbitrum
/// charges activation by the program's size and complexity; this is a deliberate over-estimate.
pub const ACTIVATION_GAS_ALLOWANCE: u64 = 12_000_000;
/// Allowance per wiring call (setMinter, setRole, listClass, setRelayer, createPool).
pub const WIRING_GAS: u64 = 300_000;

/// Gas allowance of one wiring step: growing an oracle ring writes three fresh storage
/// words per observation (22,100 gas each, cold), the others fit [`WIRING_GAS`].
pub fn wiring_gas(step: &plan::Wire) -> u64 {
    match step {
        plan::Wire::GrowOracle { cardinality, .. } => WIRING_GAS + *cardinality as u64 * 3 * 22_100,
        _ => WIRING_GAS,
    }
}

/// One line of the plan.
#[derive(Clone, Debug)]
pub struct PlanLine {
    pub what: String,
    pub compressed: Option<usize>,
    pub gas: u64,
    pub data_fee: Option<U256>,
    pub status: &'static str,
}

/// The dry run's result.
#[derive(Clone, Debug)]
pub struct DryRun {
    pub lines: Vec<PlanLine>,
    pub gas_total: u64,
    pub gas_price: Option<u128>,
    pub data_fees: Option<U256>,
    pub balance: Option<U256>,
    pub over_limit: Vec<String>,
}

impl DryRun {
    /// Ether needed: gas at twice the current price (headroom for price moves) plus the data
    /// fees with cargo-stylus's 20% margin. `None` offline.
    pub fn needed(&self) -> Option<U256> {
        let price = self.gas_price?;
        let fees = program::fee_with_margin(self.data_fees?);
        Some(U256::from(self.gas_total) * U256::from(price) * U256::from(2) + fees)
    }
}

/// Builds the plan. `rpc` is optional (offline without it); `from` is the deployer's address
/// when known (from the key, or `--from`).
pub async fn dry_run(
    config: &Config,
    network: &Network,
    wasm: &BTreeMap<String, Vec<u8>>,
    rpc: Option<&DynProvider>,
    from: Option<Address>,
    previous: Option<&Deployment>,
) -> DryRun {
    let owner = from.unwrap_or(Address::ZERO);
    let env = Env { owner, treasury: network.treasury.unwrap_or(owner), config, network };
    let mut lines = Vec::new();
    let mut over_limit = Vec::new();
    let mut data_fees = rpc.map(|_| U256::ZERO);
    let mut gas_total = 0u64;
    for spec in plan::contracts(&env) {
        let Some(w) = wasm.get(spec.package) else { continue };
        let code = stylus::program_code(w);
        if let Err(e) = stylus::check_limits(w) {
            over_limit.push(format!("{}: {e}", spec.key));
        }
        let mut status = "deploy";
        let mut fee = None;
        if let Some(p) = rpc {
            let deployed = match previous.and_then(|d| d.contracts.get(&spec.key)) {
                Some(rec) => program::verify_code(p, rec.address).await.ok() == Some(keccak256(&code)),
                None => false,
            };
            if deployed {
                status = "on chain (code hash matches; skipped unless a dependency changes)";
            } else if program::activated_version(p, keccak256(&code)).await.is_some() {
                fee = Some(U256::ZERO);
                status = "deploy (code already activated on this chain: no data fee)";
            } else {
                fee = program::quote_data_fee(p, &code).await.ok();
                if fee.is_none() {
                    status = "deploy (data fee quote failed)";
                }
            }
            if let (Some(total), Some(f)) = (data_fees.as_mut(), fee) {
                *total += f;
            }
        }
        let gas = if status.starts_with("on chain") {
            0
        } else {
            deploy_gas(&stylus::deploy_initcode(&code), code.len()) + ACTIVATION_GAS_ALLOWANCE
        };
        gas_total += gas;
        lines.push(PlanLine {
            what: format!("deploy {} ({})", spec.key, spec.package),
            compressed: Some(code.len() - 1),
            gas,
            data_fee: fee,
            status,
        });
    }
    for step in plan::wiring(&env) {
        let gas = wiring_gas(&step);
        gas_total += gas;
        lines.push(PlanLine {
            what: step.to_string(),
            compressed: None,
            gas,
            data_fee: None,
            status: "call",
        });
    }
    let gas_price = match rpc {
        Some(p) => p.get_gas_price().await.ok(),
        None => None,
    };
    let balance = match (rpc, from) {
        (Some(p), Some(a)) => p.get_balance(a).await.ok(),
        _ => None,
    };
    DryRun { lines, gas_total, gas_price, data_fees, balance, over_limit }
}

/// The report printed by `deploy --dry-run`.
pub fn render(d: &DryRun, network: &Network, rpc_url: Option<&str>, from: Option<Address>) -> String {
    let mut s =
        format!("Dry run for `{}` (chain id {}): nothing is sent.\n\n", network.name, network.chain_id);
    for (i, l) in d.lines.iter().enumerate() {
        let size = l.compressed.map(|c| format!(", {c} B compressed")).unwrap_or_default();
        let fee = l.data_fee.map(|f| format!(", data fee {} ETH", format_ether(f))).unwrap_or_default();
        s += &format!("{:>3}. {}{size}: {}, ~{} gas{fee}\n", i + 1, l.what, l.status, l.gas);
    }
    s += &format!(
        "\nGas (estimate, with a {ACTIVATION_GAS_ALLOWANCE}-gas allowance per activation): {}\n",
        d.gas_total
    );
    match d.gas_price {
        Some(p) => s += &format!("Gas price now: {p} wei\n"),
        None => s += "Gas price: unknown (no RPC endpoint reached)\n",
    }
    match d.data_fees {
        Some(f) => {
            s += &format!("Activation data fees: {} ETH (+20% margin sent, refunded)\n", format_ether(f))
        }
        None => s += "Activation data fees: unknown (quoted through the RPC endpoint)\n",
    }
    match d.needed() {
        Some(n) => {
            s += &format!(
                "Balance needed (gas at 2x the current price + data fees): {} ETH\n",
                format_ether(n)
            )
        }
        None => s += "Balance needed: unknown offline; rerun with a reachable RPC URL\n",
    }
    match (from, d.balance) {
        (Some(a), Some(b)) => {
            s += &format!("Deployer {a} holds {} ETH", format_ether(b));
            if let Some(n) = d.needed() {
                s += if b >= n { " (enough)\n" } else { " (NOT enough: fund it first)\n" };
            } else {
                s += "\n";
            }
        }
        (Some(a), None) => s += &format!("Deployer {a}: balance unknown\n"),
        (None, _) => {
            s += "Deployer: unknown (set the key variable, or pass --from ADDRESS, to check its balance)\n"
        }
    }
    if let Some(u) = rpc_url {
        s += &format!("RPC: {u}\n");
    }
    if !d.over_limit.is_empty() {
        s += &format!("\nWARNING: Arbitrum will refuse to activate:\n  {}\n", d.over_limit.join("\n  "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_gas_counts_calldata_and_deposit() {
        assert_eq!(deploy_gas(&[0, 0], 10), 21_000 + 8 + 32_000 + 2_000 + 100_000);
        assert_eq!(deploy_gas(&[1], 0), 21_000 + 16 + 32_000 + 100_000);
    }

    #[tokio::test]
    async fn offline_dry_run_lists_every_deployment_and_wiring_step() {
        let mut config = Config::parse(include_str!("../../../deployments/config.toml"), "c").unwrap();
        config.deploy_amm = true; // the plan covers the AMM even while main ships without it
        let net = &config.networks["arbitrum-sepolia"];
        let wasm: BTreeMap<String, Vec<u8>> = [
            "mock-erc20",
            "vault",
            "slash-court",
            "registry",
            "amm",
            "market",
            "settlement",
            "compute-token",
        ]
        .iter()
        .map(|p| (p.to_string(), b"\0asm\x01\0\0\0".to_vec()))
        .collect();
        let d = dry_run(&config, net, &wasm, None, None, None).await;
        let text = render(&d, net, None, None);
        // Sepolia: its USDC is used, the collateral is a mock.
        assert!(!text.contains("deploy stablecoin") && text.contains("deploy collateral"), "{text}");
        assert!(text.contains("registry.listClass(classes[1])") && text.contains("amm.createPool"), "{text}");
        assert!(text.contains("Balance needed: unknown offline"), "{text}");
        assert_eq!(
            d.lines.len(),
            9 + plan::wiring(&Env {
                owner: Address::ZERO,
                treasury: Address::ZERO,
                config: &config,
                network: net
            })
            .len()
        );
        assert!(d.needed().is_none());
    }
}
