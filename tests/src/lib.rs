//! The harness the end-to-end scenarios share: an in-process devnet running the real
//! contract wasm, deployed and wired by the `deployer` exactly as `scripts/run.sh` does,
//! seeded with the demo market (a staked, registered H100 provider with minted seconds, an
//! H100s/USDC pool, a buyer with USDC), and typed handles on every contract from `abi/`.

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
        let r = amm
            .swapExactIn(path.into(), usdc, quote[1], self.buyer.address, U256::from(u64::MAX))
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        ok(r);
        quote[1]
    }

    /// The buyer escrows `seconds` in a job for the seeded provider; returns the job id.
    pub async fn open_job(&self, seconds: U256, spec_hash: B256) -> U256 {
        let token = IComputeToken::new(self.seeded.token, self.buyer.p.clone());
        ok(token.approve(self.at("market"), seconds).send().await.unwrap().get_receipt().await.unwrap());
        let market = IMarket::new(self.at("market"), self.buyer.p.clone());
        let call = market.openJob(self.seeded.class_id, seconds, self.seeded.provider, spec_hash);
        let id = call.call().await.unwrap();
        ok(call.send().await.unwrap().get_receipt().await.unwrap());
        id
    }
}

/// Asserts a mined transaction succeeded.
pub fn ok(r: alloy::rpc::types::TransactionReceipt) {
    assert!(r.status(), "transaction {} reverted", r.transaction_hash);
}

/// Prints how long a scenario took (the suite's table in tests/README.md comes from these).
pub fn report(name: &str, s: &System) {
    println!("scenario `{name}`: {:.1} s", s.started.elapsed().as_secs_f64());
}
