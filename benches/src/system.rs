//! The chain every on-chain benchmark uses: an in-process devnet running the real compiled
//! wasm, the whole system deployed by the `deployer` crate as `scripts/run.sh` does, and the
//! helpers the market benchmarks share (seeding, extra providers, jobs, signed reports).

use std::path::PathBuf;

use alloy::{
    primitives::{keccak256, Address, Bytes, B256, U256},
    providers::{DynProvider, Provider},
    rpc::types::TransactionReceipt,
    signers::local::PrivateKeySigner,
    sol,
};
use deployer::{
    config::Config,
    deploy::{deploy, Request},
    network,
    plan::Env,
    record::Deployment,
    seed::{seed, simulated_evidence_digest, SeedPlan, Seeded},
    wasm::{self, WasmSource},
};
use devnet::{
    accounts::{ANVIL_KEYS, NITRO_DEV_KEY},
    DevnetConfig,
};
use eyre::{bail, eyre, Context, Result};
use market_protocol::{
    bindings::{settlement::report_struct, Settlement},
    MarketDomain, UsageReport,
};

sol!(
    #[sol(rpc)]
    "../abi/IMarket.sol"
);
sol!(
    #[sol(rpc)]
    "../abi/IVault.sol"
);
sol!(
    #[sol(rpc)]
    "../abi/IRegistry.sol"
);
sol!(
    #[sol(rpc)]
    "../abi/IComputeToken.sol"
);
pub use crate::IMockErc20;

/// The top bit of a report nonce marks the job's final report (burn the used seconds,
/// refund the rest), as in `tests/tests/settlement.rs`.
pub const FINAL: U256 = U256::from_limbs([0, 0, 0, 1 << 63]);
pub const E18: u128 = 1_000_000_000_000_000_000;

pub fn key(hex: &str) -> PrivateKeySigner {
    hex.parse().expect("a dev key")
}

/// Fails on a reverted receipt; returns its `gasUsed`.
pub fn ok(r: TransactionReceipt, what: &str) -> Result<u64> {
    if !r.status() {
        bail!("{what} reverted (gas {})", r.gas_used);
    }
    Ok(r.gas_used)
}

/// Sends a contract call with a 30 % margin over the estimate and returns the receipt's
/// `gasUsed` (the margin does not change it).
#[macro_export]
macro_rules! send {
    ($call:expr, $what:expr) => {{
        let call = $call;
        let gas = call.estimate_gas().await.wrap_err($what)?;
        $crate::system::ok(
            call.gas(gas * 13 / 10).send().await.wrap_err($what)?.get_receipt().await.wrap_err($what)?,
            $what,
        )
    }};
}

/// Like `send!` but returns the receipt.
#[macro_export]
macro_rules! send_receipt {
    ($call:expr, $what:expr) => {{
        let call = $call;
        let gas = call.estimate_gas().await.wrap_err($what)?;
        let r = call.gas(gas * 13 / 10).send().await.wrap_err($what)?.get_receipt().await.wrap_err($what)?;
        $crate::system::ok(r.clone(), $what)?;
        r
    }};
}

pub struct System {
    /// Kept so the in-process devnet lives as long as the benchmark.
    #[allow(dead_code)]
    pub dn: devnet::Devnet,
    pub config: Config,
    pub record: Deployment,
    pub url: String,
    pub chain_id: u64,
    /// The deployer (nitro dev key), owner of every contract.
    pub owner: DynProvider,
    pub me: Address,
}

impl System {
    /// Spawns the devnet and deploys everything (release wasm from `wasm_dir`, or built).
    pub async fn start(wasm_dir: Option<PathBuf>) -> Result<System> {
        let root = deployer::workspace_root();
        let config =
            Config::load(&root.join("deployments/config.toml")).wrap_err("deployments/config.toml")?;
        let mut net =
            config.networks.get("devnet").ok_or_else(|| eyre!("config has no devnet network"))?.clone();
        let dn = devnet::spawn(DevnetConfig {
            addr: "127.0.0.1:0".parse()?,
            chain_id: net.chain_id,
            ..Default::default()
        })
        .await
        .wrap_err("devnet starts")?;
        net.rpc_url = Some(dn.url());
        let probe = Env { owner: Address::ZERO, treasury: Address::ZERO, config: &config, network: &net };
        let source = match wasm_dir {
            Some(d) => WasmSource::Dir(d),
            None => WasmSource::Build { workspace: root.clone() },
        };
        let wasm = wasm::load(&source, &deployer::packages(&probe)).wrap_err("contract wasm")?;
        let signer: PrivateKeySigner = NITRO_DEV_KEY.parse()?;
        let me = signer.address();
        let owner = network::signing_provider(&dn.url(), signer)?;
        let (record, _) = deploy(
            &owner,
            Request { config: &config, network: &net, deployer: me, wasm: &wasm, previous: None },
            &|_| {},
        )
        .await
        .wrap_err("deploy")?;
        let url = dn.url();
        Ok(System { chain_id: net.chain_id, dn, config, record, url, owner, me })
    }

    pub fn at(&self, k: &str) -> Result<Address> {
        self.record.address(k).ok_or_else(|| eyre!("deployment has no `{k}`"))
    }

    /// A provider signing as dev account `anvil i`.
    pub fn role(&self, i: usize) -> Result<(DynProvider, PrivateKeySigner)> {
        let k = key(ANVIL_KEYS[i]);
        Ok((network::signing_provider(&self.url, k.clone())?, k))
    }

    pub fn domain(&self) -> Result<MarketDomain> {
        Ok(MarketDomain::new(self.chain_id, self.at("market")?))
    }

    /// The demo market of `scripts/run.sh`: provider anvil 1 (staked, registered, seconds
    /// minted, pool seeded), buyer anvil 2.
    pub async fn seed(&self) -> Result<Seeded> {
        seed(&self.url, &self.record, &SeedPlan::default(), key(ANVIL_KEYS[1]), key(ANVIL_KEYS[2]), &|_| {})
            .await
            .wrap_err("seed")
    }

    /// Moves the chain's clock forward and mines a block.
    pub async fn advance(&self, seconds: u64) -> Result<()> {
        let _: serde_json::Value = self.owner.raw_request("evm_increaseTime".into(), (seconds,)).await?;
        let _: serde_json::Value = self.owner.raw_request("evm_mine".into(), ()).await?;
        Ok(())
    }

    /// Registers dev account `anvil i` as a second (third, ...) provider of the seeded class:
    /// stake, one simulated GPU of its own (`GPU-BENCH-<i>`), `minted` seconds, all of which
    /// it hands to `buyer` to escrow in jobs. Returns (address, gpu uuid hash, digest).
    pub async fn extra_provider(
        &self,
        seeded: &Seeded,
        i: usize,
        minted: u64,
        buyer: Address,
    ) -> Result<Provider1> {
        let (p, k) = self.role(i)?;
        let me = k.address();
        let lrt = IMockErc20::new(self.at("collateral")?, p.clone());
        let vault = IVault::new(self.at("vault")?, p.clone());
        let stake = U256::from(100u128 * E18);
        send!(lrt.mint(me, stake), "collateral faucet")?;
        send!(lrt.approve(*vault.address(), U256::MAX), "approve vault")?;
        send!(vault.deposit(stake, me), "stake")?;
        let gpu = keccak256(format!("GPU-BENCH-{i}"));
        let digest = simulated_evidence_digest(me);
        let reg = IRegistry::new(self.at("registry")?, p.clone());
        send!(reg.registerProvider(seeded.class_id, me, digest, vec![gpu]), "registerProvider")?;
        let market = IMarket::new(self.at("market")?, p.clone());
        send!(market.mint(seeded.class_id, U256::from(minted)), "mint")?;
        let token = IComputeToken::new(seeded.token, p.clone());
        send!(token.transfer(buyer, U256::from(minted)), "seconds to the buyer")?;
        Ok(Provider1 { p, key: k, address: me, gpu, digest })
    }
}

/// A registered provider: its signing provider and key, GPU hash and evidence digest.
#[derive(Clone)]
pub struct Provider1 {
    pub p: DynProvider,
    pub key: PrivateKeySigner,
    pub address: Address,
    pub gpu: B256,
    pub digest: B256,
}

impl Provider1 {
    pub fn seeded(s: &System, seeded: &Seeded) -> Result<Provider1> {
        let (p, key) = s.role(1)?;
        Ok(Provider1 {
            p,
            address: key.address(),
            key,
            gpu: seeded.gpu_uuid_hash,
            digest: seeded.evidence_digest,
        })
    }
}

/// An accepted job: its id and the chain time it was accepted at.
#[derive(Clone, Copy, Debug)]
pub struct Job {
    pub id: U256,
    pub accepted_at: u64,
}

/// Gas of one `openJob` and one `acceptJob`.
pub struct JobGas {
    pub open: u64,
    pub accept: u64,
}

/// The buyer opens a job of `seconds` for `provider` and the provider accepts it at once.
pub async fn open_and_accept(
    s: &System,
    class_id: B256,
    buyer: &DynProvider,
    provider: &Provider1,
    seconds: u64,
    spec: B256,
) -> Result<(Job, JobGas)> {
    let market_b = IMarket::new(s.at("market")?, buyer.clone());
    let r = send_receipt!(market_b.openJob(class_id, U256::from(seconds), provider.address, spec), "openJob");
    let id = r
        .inner
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<IMarket::JobOpened>().ok())
        .map(|e| e.inner.data.jobId)
        .ok_or_else(|| eyre!("openJob emitted no JobOpened"))?;
    let open = r.gas_used;
    let market_p = IMarket::new(s.at("market")?, provider.p.clone());
    let r = send_receipt!(market_p.acceptJob(id), "acceptJob");
    let accept = r.gas_used;
    let block = r.block_number.ok_or_else(|| eyre!("acceptJob receipt without a block"))?;
    let accepted_at = s
        .owner
        .get_block_by_number(block.into())
        .await?
        .ok_or_else(|| eyre!("block {block} missing"))?
        .header
        .timestamp;
    Ok((Job { id, accepted_at }, JobGas { open, accept }))
}

/// The final report of `job`: `used` GPU-seconds on the provider's one GPU, from the accept
/// time on, as the provider node reports it (simulated meter evidence digest).
pub fn final_report(provider: &Provider1, job: Job, used: u64, nonce: u64) -> UsageReport {
    UsageReport {
        jobId: job.id,
        provider: provider.address,
        gpuUuidHash: provider.gpu,
        startTs: job.accepted_at,
        endTs: job.accepted_at + used,
        gpuSeconds: used,
        energyMilliJoules: used * 700_000,
        avgUtilBps: 9_000,
        evidenceDigest: provider.digest,
        nonce: U256::from(nonce) | FINAL,
    }
}

/// What one `settleBatch` cost.
#[derive(Clone, Copy, Debug)]
pub enum BatchGas {
    /// Mined, every report settled: the receipt's `gasUsed`.
    Used(u64),
    /// Needs more gas than a block holds: `eth_estimateGas`'s answer (not sent).
    TooBig(u64),
}

/// Settles `reports` (signed by `provider`) in one `settleBatch` from the registered relayer
/// (anvil 3); fails unless every report settled.
pub async fn settle_batch(
    s: &System,
    relayer: &DynProvider,
    domain: &MarketDomain,
    provider: &PrivateKeySigner,
    reports: &[UsageReport],
) -> Result<BatchGas> {
    let settlement = Settlement::new(s.at("settlement")?, relayer.clone());
    let sigs: Vec<Bytes> = reports
        .iter()
        .map(|r| -> Result<Bytes> { Ok(Bytes::copy_from_slice(r.sign(domain, provider)?.as_bytes())) })
        .collect::<Result<_>>()?;
    let calls: Vec<_> = reports.iter().map(report_struct).collect();
    let what = format!("settleBatch of {}", reports.len());
    let call = settlement.settleBatch(calls, sigs);
    let est = call.estimate_gas().await.wrap_err(what.clone())?;
    let limit = devnet::chain::BLOCK_GAS_LIMIT;
    if est > limit {
        return Ok(BatchGas::TooBig(est));
    }
    let gas = (est * 13 / 10).min(limit);
    let r = call.gas(gas).send().await.wrap_err(what.clone())?.get_receipt().await.wrap_err(what.clone())?;
    let used = ok(r.clone(), &what)?;
    let mut settled = 0;
    let mut skipped = Vec::new();
    for log in r.inner.logs() {
        if log.log_decode::<Settlement::ReportSettled>().is_ok() {
            settled += 1;
        } else if let Ok(e) = log.log_decode::<Settlement::ReportSkipped>() {
            skipped.push(e.inner.data.reason);
        }
    }
    if settled != reports.len() {
        bail!("{what}: {settled} settled, skipped with reasons {skipped:?}");
    }
    Ok(BatchGas::Used(used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_reports_are_final_and_possible() {
        let p = Provider1 {
            p: network::read_provider("http://127.0.0.1:1").unwrap(),
            key: PrivateKeySigner::random(),
            address: Address::repeat_byte(7),
            gpu: B256::repeat_byte(1),
            digest: B256::repeat_byte(2),
        };
        let r = final_report(&p, Job { id: U256::from(9), accepted_at: 1_000 }, 60, 3);
        assert_eq!(r.nonce & FINAL, FINAL);
        assert_eq!(r.nonce & !FINAL, U256::from(3));
        assert!(r.gpuSeconds <= r.endTs - r.startTs, "one GPU cannot report more than the wall time");
        assert_eq!(r.startTs, 1_000, "starts when the job was accepted");
        r.check_shape().unwrap();
        assert_eq!(report_struct(&r).nonce, r.nonce);
    }
}
