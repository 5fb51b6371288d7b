//! The harness the end-to-end scenarios share: an in-process devnet running the real
//! contract wasm, deployed and wired by the `deployer` exactly as `scripts/run.sh` does,
//! seeded with the demo market (a staked, registered H100 provider with minted seconds, an
//! H100s/USDC pool, a buyer with USDC), and typed handles on every contract from `abi/`.

// The generated bindings mirror the contracts' signatures, some with more than 7 parameters.
#![allow(clippy::too_many_arguments)]

pub mod services;

use std::{path::PathBuf, sync::Mutex, time::Instant};

use alloy::{
    primitives::{Address, B256, U256},
    providers::DynProvider,
    providers::Provider,
    signers::local::PrivateKeySigner,
    sol,
};
use deployer::{
    config::Config,
    deploy::{deploy, Request},
    network,
    plan::Env,
    record::Deployment,
    seed::{seed, SeedPlan, Seeded},
    wasm::{self, WasmSource},
};
use devnet::{
    accounts::{ANVIL_KEYS, NITRO_DEV_KEY},
    DevnetConfig,
};
use market_protocol::{MarketDomain, SignedReport, UsageReport};

sol!(
    #[sol(rpc, all_derives)]
    "../abi/IAmm.sol"
);
sol!(
    #[sol(rpc, all_derives)]
    "../abi/IMarket.sol"
);
sol!(
    #[sol(rpc, all_derives)]
    "../abi/IEnforcement.sol"
);
sol!(
    #[sol(rpc, all_derives)]
    "../abi/IVault.sol"
);
sol!(
    #[sol(rpc, all_derives)]
    "../abi/IComputeToken.sol"
);
sol!(
    #[sol(rpc, all_derives)]
    "../abi/IMockErc20.sol"
);
sol!(
    #[sol(rpc, all_derives)]
    "../abi/IRegistry.sol"
);
sol!(
    #[sol(rpc, all_derives)]
    "../abi/ISettlement.sol"
);

/// An account and a provider that signs as it.
#[derive(Clone)]
pub struct Role {
    pub p: DynProvider,
    pub address: Address,
}

impl Role {
    pub fn new(url: &str, key: PrivateKeySigner) -> Role {
        let address = key.address();
        Role { p: network::signing_provider(url, key).unwrap(), address }
    }
}

/// A running system: the devnet, the deployment record, the demo market and a signing
/// provider per role.
pub struct System {
    pub devnet: devnet::Devnet,
    pub config: Config,
    pub record: Deployment,
    pub seeded: Seeded,
    /// The deployer, owner of every contract (the nitro dev key).
    pub owner: Role,
    /// anvil 1: the GPU provider (operator in the vault).
    pub provider: Role,
    /// anvil 2: the buyer.
    pub buyer: Role,
    /// anvil 4: a stranger, for calls anyone may make (and a delegator in the vault).
    pub anyone: Role,
    pub started: Instant,
}

/// Built once per test binary.
fn wasm_dir() -> PathBuf {
    static DIR: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut dir = DIR.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = dir.as_ref() {
        return d.clone();
    }
    let root = deployer::workspace_root();
    let config = Config::load(&root.join("deployments/config.toml")).expect("shipped config");
    let env = Env {
        owner: Address::ZERO,
        treasury: Address::ZERO,
        config: &config,
        network: &config.networks["devnet"],
    };
    wasm::load(&WasmSource::Build { workspace: root.clone() }, &deployer::packages(&env))
        .expect("contracts build for wasm32 (rustup target add wasm32-unknown-unknown)");
    let d = wasm::target_dir(&root).join("wasm32-unknown-unknown/release");
    *dir = Some(d.clone());
    d
}

pub fn key(hex: &str) -> PrivateKeySigner {
    hex.parse().expect("a dev key")
}

impl System {
    pub async fn start() -> System {
        suite_clock::start();
        let started = Instant::now();
        let root = deployer::workspace_root();
        let config = Config::load(&root.join("deployments/config.toml")).expect("shipped config");
        let mut net = config.networks["devnet"].clone();
        let devnet = devnet::spawn(DevnetConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            chain_id: net.chain_id,
            ..Default::default()
        })
        .await
        .expect("devnet starts");
        let url = devnet.url();
        net.rpc_url = Some(url.clone());
        let env = Env { owner: Address::ZERO, treasury: Address::ZERO, config: &config, network: &net };
        let wasm = wasm::load(&WasmSource::Dir(wasm_dir()), &deployer::packages(&env)).unwrap();
        let owner = Role::new(&url, key(NITRO_DEV_KEY));
        let me = owner.address;
        let (record, _) = deploy(
            &owner.p,
            Request { config: &config, network: &net, deployer: me, wasm: &wasm, previous: None },
            &|_| {},
        )
        .await
        .unwrap_or_else(|e| panic!("deploy: {e:#}"));
        let seeded =
            seed(&url, &record, &SeedPlan::default(), key(ANVIL_KEYS[1]), key(ANVIL_KEYS[2]), &|_| {})
                .await
                .unwrap_or_else(|e| panic!("seed: {e:#}"));
        let signer = |i: usize| Role::new(&url, key(ANVIL_KEYS[i]));
        System {
            config,
            record,
            seeded,
            owner,
            provider: signer(1),
            buyer: signer(2),
            anyone: signer(4),
            devnet,
            started,
        }
    }

    pub fn at(&self, key: &str) -> Address {
        self.record.address(key).unwrap_or_else(|| panic!("`{key}` deployed"))
    }

    /// Moves the chain's clock forward and mines a block.
    pub async fn advance(&self, seconds: u64) {
        let _: serde_json::Value =
            self.owner.p.raw_request("evm_increaseTime".into(), (seconds,)).await.unwrap();
        let _: serde_json::Value = self.owner.p.raw_request("evm_mine".into(), ()).await.unwrap();
    }

    pub async fn now(&self) -> u64 {
        let b = self.owner.p.get_block_by_number(Default::default()).await.unwrap().unwrap();
        b.header.timestamp
    }

    /// The buyer swaps `usdc` (base units) for H100 seconds in the seeded pool and returns
    /// what it received.
    pub async fn buy_seconds(&self, usdc: U256) -> U256 {
        let stable = self.at("stablecoin");
        let token = self.seeded.token;
        let fee = self.config.pool_fee_bps;
        let amm = IAmm::new(self.at("amm"), self.buyer.p.clone());
        let erc = IMockErc20::new(stable, self.buyer.p.clone());
        ok(erc.approve(*amm.address(), U256::MAX).send().await.unwrap().get_receipt().await.unwrap());
        let mut path = stable.to_vec();
        path.extend_from_slice(&fee.to_be_bytes());
        path.extend_from_slice(token.as_slice());
        let quote = amm.getAmountsOut(path.clone().into(), usdc).call().await.unwrap();
        let swap = amm.swapExactIn(path.into(), usdc, quote[1], self.buyer.address, U256::from(u64::MAX));
        // Headroom over the estimate, as wallets add: the estimate runs in the head block's
        // second, and a swap mined in a later second also writes the pool's once-per-block
        // oracle observation (~25k gas more), which ran the unpadded transaction out of gas.
        let gas = swap.estimate_gas().await.unwrap();
        let r = swap.gas(gas + gas / 4).send().await.unwrap().get_receipt().await.unwrap();
        ok(r);
        quote[1]
    }

    /// The buyer escrows `seconds` in a job for the seeded provider; returns the job id.
    pub async fn open_job(&self, seconds: U256, spec_hash: B256) -> U256 {
        self.open_job_for(self.seeded.provider, seconds, spec_hash).await
    }

    /// The buyer escrows `seconds` in a job for `provider`; returns the job id.
    pub async fn open_job_for(&self, provider: Address, seconds: U256, spec_hash: B256) -> U256 {
        let token = IComputeToken::new(self.seeded.token, self.buyer.p.clone());
        ok(token.approve(self.at("market"), seconds).send().await.unwrap().get_receipt().await.unwrap());
        let market = IMarket::new(self.at("market"), self.buyer.p.clone());
        let call = market.openJob(self.seeded.class_id, seconds, provider, spec_hash);
        let id = call.call().await.unwrap();
        ok(call.send().await.unwrap().get_receipt().await.unwrap());
        id
    }
}

impl System {
    /// A job of `usdc` worth of seconds for the seeded provider, accepted by it:
    /// `(job, escrowed seconds, accepted at)`.
    pub async fn accepted_job(&self, usdc: u64) -> (U256, U256, u64) {
        let seconds = self.buy_seconds(U256::from(usdc)).await;
        let job = self.open_job(seconds, alloy::primitives::keccak256("job.toml")).await;
        let market = IMarket::new(self.at("market"), self.provider.p.clone());
        ok(market.acceptJob(job).send().await.unwrap().get_receipt().await.unwrap());
        let accepted_at = market.job(job).call().await.unwrap()._7;
        (job, seconds, accepted_at)
    }

    /// A usage report of `job` on the seeded provider's one simulated GPU.
    pub fn usage(&self, job: U256, start: u64, end: u64, gpu_seconds: u64, nonce: U256) -> UsageReport {
        UsageReport {
            jobId: job,
            provider: self.seeded.provider,
            gpuUuidHash: self.seeded.gpu_uuid_hash,
            startTs: start,
            endTs: end,
            gpuSeconds: gpu_seconds,
            energyMilliJoules: 1_000,
            avgUtilBps: 9_000,
            evidenceDigest: self.seeded.evidence_digest,
            nonce,
        }
    }

    /// This deployment's EIP-712 domain.
    pub fn domain(&self) -> MarketDomain {
        MarketDomain::new(self.config.networks["devnet"].chain_id, self.at("market"))
    }
}

/// The nonce bit that marks a job's final report (the settlement refunds the rest).
pub const FINAL: U256 = U256::from_limbs([0, 0, 0, 1 << 63]);

/// `report` signed by `key` for `domain`, with the simulated meter's `none` evidence.
pub fn signed(domain: MarketDomain, report: UsageReport, key: &PrivateKeySigner) -> SignedReport {
    let signature = report.sign(&domain, key).unwrap();
    SignedReport { domain, report, signature, evidence: vec![market_protocol::Evidence::none()] }
}

/// Asserts a mined transaction succeeded.
pub fn ok(r: alloy::rpc::types::TransactionReceipt) {
    assert!(r.status(), "transaction {} reverted", r.transaction_hash);
}

/// Prints how long a scenario took (the suite's table in tests/README.md comes from these).
pub fn report(name: &str, s: &System) {
    println!("scenario `{name}`: {:.1} s", s.started.elapsed().as_secs_f64());
    suite_clock::at_exit_print_total();
}

/// The suite's total wall time. Cargo runs the test binaries one after another, each a
/// child of the same `cargo test`; at exit each adds its own wall time to a ledger named
/// after that cargo process (`target/e2e-suite/<pid>`) and prints the sum so far, so the
/// last binary prints the whole suite's time.
mod suite_clock {
    use std::{io::Write, sync::Once, time::Instant};

    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

    /// Called from every `System::start`: the binary's clock starts with its first scenario.
    pub fn start() {
        START.get_or_init(Instant::now);
    }

    extern "C" {
        fn atexit(f: extern "C" fn()) -> std::os::raw::c_int;
    }

    pub fn at_exit_print_total() {
        static ONCE: Once = Once::new();
        // SAFETY: registers a plain function with no arguments with the C runtime.
        ONCE.call_once(|| unsafe {
            atexit(print_total);
        });
    }

    extern "C" fn print_total() {
        let Some(start) = START.get() else { return };
        let me = start.elapsed().as_secs_f64();
        let name = std::env::args()
            .next()
            .and_then(|a| std::path::Path::new(&a).file_name().map(|f| f.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let name = name.rsplit_once('-').map(|(n, _)| n.to_string()).unwrap_or(name);
        let dir = deployer::wasm::target_dir(&deployer::workspace_root()).join("e2e-suite");
        let cargo = std::os::unix::process::parent_id();
        let ledger = dir.join(cargo.to_string());
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&ledger) {
            let _ = writeln!(f, "{name} {me:.3}");
        }
        let text = std::fs::read_to_string(&ledger).unwrap_or_default();
        let times: Vec<f64> = text.lines().filter_map(|l| l.rsplit_once(' ')?.1.parse().ok()).collect();
        println!(
            "e2e `{name}`: {me:.1} s wall; the suite so far in this `cargo test` (pid {cargo}): {} test binaries, {:.1} s wall",
            times.len(),
            times.iter().sum::<f64>()
        );
    }
}
