//! The real market on the in-process devnet: the contracts' wasm deployed and wired by the
//! deployer (as `scripts/run.sh` does), the demo provider seeded (stake, registration with
//! the simulated meter's evidence digest, minted H100-seconds), and jobs opened by a buyer
//! and accepted by the provider, ready for usage reports.
//!
//! Wasm: `DEPLOY_WASM_DIR`, else `<target>/wasm32-unknown-unknown/release` when every
//! contract is there (the size gate of `scripts/test.sh` builds them), else built here.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use alloy::network::EthereumWallet;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::Filter;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;
use alloy_primitives::{keccak256, Address, B256, U256};
use deployer::config::Config;
use deployer::deploy::{deploy, Request};
use deployer::plan::Env;
use deployer::seed::{seed, SeedPlan, Seeded};
use deployer::wasm::{self, WasmSource};
use market_protocol::bindings::{ComputeToken, Market as MarketContract, Settlement};
use market_protocol::{Evidence, MarketDomain, SignedReport, UsageReport};

pub const CHAIN_ID: u64 = 412346;

pub struct Market {
    pub devnet: devnet::Devnet,
    pub url: String,
    pub market: Address,
    pub settlement: Address,
    pub registry: Address,
    pub provider_key: PrivateKeySigner,
    pub buyer_key: PrivateKeySigner,
    /// Authorised in the registry by the devnet config (`relayers`).
    pub relayer_key: PrivateKeySigner,
    pub seeded: Seeded,
    pub rpc: DynProvider,
}

/// A job open and accepted, and when it was accepted (block time).
#[derive(Debug, Clone, Copy)]
pub struct Job {
    pub id: U256,
    pub accepted_at: u64,
}

fn wasm_dir(config: &Config) -> PathBuf {
    if let Some(d) = std::env::var_os("DEPLOY_WASM_DIR") {
        return PathBuf::from(d);
    }
    let root = deployer::workspace_root();
    let env =
        Env { owner: Address::ZERO, treasury: Address::ZERO, config, network: &config.networks["devnet"] };
    let packages = deployer::packages(&env);
    let dir = wasm::target_dir(&root).join("wasm32-unknown-unknown/release");
    if packages.iter().all(|p| dir.join(wasm::file_name(p)).is_file()) {
        return dir;
    }
    wasm::load(&WasmSource::Build { workspace: root.clone() }, &packages)
        .expect("contracts build for wasm32 (rustup target add wasm32-unknown-unknown)");
    dir
}

impl Market {
    pub async fn start() -> Market {
        let devnet = devnet::spawn(devnet::DevnetConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            chain_id: CHAIN_ID,
            ..Default::default()
        })
        .await
        .expect("devnet starts");
        let url = devnet.url();
        let root = deployer::workspace_root();
        let mut config = Config::load(&root.join("deployments/config.toml")).expect("shipped deploy config");
        // The AMM is not needed to settle usage.
        config.deploy_amm = false;
        let mut net = config.networks["devnet"].clone();
        net.rpc_url = Some(url.clone());
        let env = Env { owner: Address::ZERO, treasury: Address::ZERO, config: &config, network: &net };
        let wasm: BTreeMap<String, Vec<u8>> =
            wasm::load(&WasmSource::Dir(wasm_dir(&config)), &deployer::packages(&env))
                .expect("contract wasm");
        let deployer_key: PrivateKeySigner = devnet::accounts::NITRO_DEV_KEY.parse().unwrap();
        let me = deployer_key.address();
        let p = deployer::network::signing_provider(&url, deployer_key).unwrap();
        let (record, _) = deploy(
            &p,
            Request { config: &config, network: &net, deployer: me, wasm: &wasm, previous: None },
            &|_| {},
        )
        .await
        .unwrap_or_else(|e| panic!("deploying the contracts: {e:#}"));
        let need = |k: &str| record.address(k).unwrap_or_else(|| panic!("{k} deployed"));
        let relayer_key: PrivateKeySigner = devnet::accounts::ANVIL_KEYS[3].parse().unwrap();
        assert_eq!(net.relayers, vec![relayer_key.address()], "the devnet config authorises anvil key 3");
        let provider_key: PrivateKeySigner = devnet::accounts::ANVIL_KEYS[1].parse().unwrap();
        let buyer_key: PrivateKeySigner = devnet::accounts::ANVIL_KEYS[2].parse().unwrap();
        let seeded = seed(
            &url,
            &record,
            &SeedPlan { class: "H100-SXM5-80GB".into(), ..Default::default() },
            provider_key.clone(),
            buyer_key.clone(),
            &|_| {},
        )
        .await
        .unwrap_or_else(|e| panic!("seeding: {e}"));
        let rpc = ProviderBuilder::new().connect_http(url.parse().unwrap()).erased();
        Market {
            market: need("market"),
            settlement: need("settlement"),
            registry: need("registry"),
            devnet,
            url,
            provider_key,
            buyer_key,
            relayer_key,
            seeded,
            rpc,
        }
    }

    fn signing(&self, key: &PrivateKeySigner) -> DynProvider {
        ProviderBuilder::new()
            .wallet(EthereumWallet::from(key.clone()))
            .connect_http(self.url.parse().unwrap())
            .erased()
    }

    /// Opens `n` jobs of 100 H100-seconds (the provider sells the buyer the tokens) and has
    /// the provider accept them; then moves the clock on so report windows have ended.
    pub async fn open_accepted_jobs(&self, n: usize) -> Vec<Job> {
        let (provider, buyer) = (self.signing(&self.provider_key), self.signing(&self.buyer_key));
        let seconds = U256::from(100);
        let token = ComputeToken::new(self.seeded.token, &provider);
        let r = token.transfer(self.buyer_key.address(), seconds * U256::from(n)).send().await.unwrap();
        assert!(r.get_receipt().await.unwrap().status(), "token transfer");
        let r = ComputeToken::new(self.seeded.token, &buyer)
            .approve(self.market, U256::MAX)
            .send()
            .await
            .unwrap();
        assert!(r.get_receipt().await.unwrap().status(), "approve");
        let as_buyer = MarketContract::new(self.market, &buyer);
        let as_provider = MarketContract::new(self.market, &provider);
        let mut jobs = Vec::new();
        for i in 0..n {
            let spec = keccak256(format!("job spec {i}"));
            let call = as_buyer.openJob(self.seeded.class_id, seconds, self.provider_key.address(), spec);
            let id = call.call().await.unwrap_or_else(|e| panic!("openJob: {e}"));
            assert!(call.send().await.unwrap().get_receipt().await.unwrap().status(), "openJob");
            let receipt = as_provider.acceptJob(id).send().await.unwrap().get_receipt().await.unwrap();
            assert!(receipt.status(), "acceptJob");
            let block = self
                .rpc
                .get_block_by_number(receipt.block_number.unwrap().into())
                .await
                .unwrap()
                .expect("the accept's block");
            jobs.push(Job { id, accepted_at: block.header.timestamp });
        }
        self.increase_time(60).await;
        jobs
    }

    pub fn domain(&self) -> MarketDomain {
        MarketDomain::new(CHAIN_ID, self.market)
    }

    /// The provider's signed report of 10 seconds on `job`, in window `[acceptedAt,
    /// acceptedAt + 10)`, with the simulated meter's `none` evidence.
    pub fn report(&self, job: Job, nonce: u64) -> SignedReport {
        let report = UsageReport {
            jobId: job.id,
            provider: self.provider_key.address(),
            gpuUuidHash: self.seeded.gpu_uuid_hash,
            startTs: job.accepted_at,
            endTs: job.accepted_at + 10,
            gpuSeconds: 10,
            energyMilliJoules: 1_000,
            avgUtilBps: 9_000,
            evidenceDigest: self.seeded.evidence_digest,
            nonce: U256::from(nonce),
        };
        let signature = report.sign(&self.domain(), &self.provider_key).unwrap();
        SignedReport { domain: self.domain(), report, signature, evidence: vec![Evidence::none()] }
    }

    pub async fn rpc_call(&self, method: &'static str, params: serde_json::Value) -> serde_json::Value {
        self.rpc
            .raw_request::<_, serde_json::Value>(method.into(), params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    pub async fn set_automine(&self, on: bool) {
        self.rpc_call("evm_setAutomine", serde_json::json!([on])).await;
    }

    pub async fn mine(&self) {
        self.rpc_call("evm_mine", serde_json::json!([])).await;
    }

    pub async fn increase_time(&self, secs: i64) {
        self.rpc_call("evm_increaseTime", serde_json::json!([secs])).await;
    }

    /// Every `ReportSettled` event of the settlement contract for this report, whichever
    /// transaction emitted it.
    pub async fn settled_events(&self, r: &SignedReport) -> Vec<alloy::rpc::types::Log> {
        let filter = Filter::new()
            .address(self.settlement)
            .event_signature(Settlement::ReportSettled::SIGNATURE_HASH)
            .topic1(B256::from(r.report.jobId))
            .topic2(r.report.provider.into_word())
            .topic3(B256::from(r.report.nonce))
            .from_block(0);
        self.rpc.get_logs(&filter).await.unwrap()
    }

    /// The settlement contract's own record that the nonce is spent.
    pub async fn nonce_used(&self, r: &SignedReport) -> bool {
        Settlement::new(self.settlement, &self.rpc)
            .nonceUsed(r.report.provider, r.report.nonce)
            .call()
            .await
            .unwrap()
    }

    /// Every report settled exactly once on chain (one `ReportSettled`, the nonce spent), and
    /// the relayer's SQLite queue at `db` says so with the same transaction and block, with
    /// nothing else in it.
    pub async fn assert_settled_exactly_once(&self, db: &std::path::Path, reports: &[SignedReport]) {
        use relayer::queue::{ReportQueue, ReportState, SqliteQueue};
        let queue = SqliteQueue::open(db).unwrap();
        for r in reports {
            let events = self.settled_events(r).await;
            assert_eq!(events.len(), 1, "report {} settled {} times", r.id(), events.len());
            assert!(self.nonce_used(r).await);
            let e = &events[0];
            assert_eq!(
                queue.get(&r.id()).unwrap().unwrap().state,
                ReportState::Settled { tx_hash: e.transaction_hash.unwrap(), block: e.block_number.unwrap() },
            );
        }
        let counts = queue.counts().unwrap();
        assert_eq!(counts, vec![("settled".to_string(), reports.len() as u64)], "nothing else in the queue");
    }

    /// A relayer config for the real binary against this market: settling as the devnet's
    /// authorised relayer, batches of `max_batch`, no replacements, `extra_settlement` lines
    /// appended to `[settlement]`.
    pub fn relayer_config(
        &self,
        listen_port: u16,
        rpc_url: &str,
        db: &std::path::Path,
        max_batch: usize,
        extra_settlement: &str,
    ) -> String {
        format!(
            "listen = \"127.0.0.1:{listen_port}\"\nchain_id = {CHAIN_ID}\nmarket = \"{market}\"\nregistry = \"{registry}\"\n\
             rpc_url = \"{rpc_url}\"\nrpc_timeout_secs = 5\nprovider_cache_secs = 5\n\n[queue]\ndatabase = \"sqlite://{db}\"\n\n\
             [settlement]\nmax_batch = {max_batch}\nmax_wait_secs = 1\nconfirmations = 1\ncontract = \"{settlement}\"\n\
             replace_after_secs = 0\n{extra_settlement}\n\n[classes.\"H100-SXM5-80GB\"]\nallow_none = true\n",
            market = self.market,
            registry = self.registry,
            db = db.display(),
            settlement = self.settlement,
        )
    }

    /// The relayer's private key as `RELAYER_KEY` takes it.
    pub fn relayer_key_hex(&self) -> String {
        format!("0x{}", alloy_primitives::hex::encode(self.relayer_key.to_bytes()))
    }
}
