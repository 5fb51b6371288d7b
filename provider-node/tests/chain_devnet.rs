//! The chain watcher end to end on the in-process devnet running the real contract wasm,
//! deployed and seeded by the `deployer` crate: a buyer opens jobs for this provider with
//! specs in a spec store that serves the relayer's `/v1/specs` API, and the real
//! `provider-node run` binary (simulated meter, one GPU) accepts them on chain, runs them
//! one at a time, and signs and sends a report for each; a spec whose bytes do not hash to
//! the job's specHash is refused and never accepted; after a restart nothing is accepted
//! twice, jobs opened while the node was down are found, a job the market already shows
//! accepted is run without a second transaction, and a job past its accept deadline is
//! left alone.
//!
//! Wasm: `DEPLOY_WASM_DIR` (a folder of prebuilt `<package>.wasm`), else built here with
//! `cargo build --release --target wasm32-unknown-unknown` into the usual target dir.

use alloy::primitives::{keccak256, Address, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::signers::local::PrivateKeySigner;
use axum::body::Bytes as Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use deployer::config::Config as DeployConfig;
use deployer::deploy::{deploy, Request};
use deployer::network;
use deployer::plan::Env;
use deployer::seed::{seed, SeedPlan};
use deployer::wasm::{self, WasmSource};
use devnet::accounts::{ANVIL_KEYS, NITRO_DEV_KEY};
use market_protocol::bindings::{ComputeToken, Market};
use market_protocol::SignedReport;
use provider_node::chain::{ChainStore, JobState};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CHAIN_ID: u64 = 412346;
const ACCEPTED: u8 = 2;
const OPEN: u8 = 1;

/// The relayer's spec store and report intake, as far as the node uses them: `POST
/// /v1/specs` stores bytes under their keccak256, `GET /v1/specs/{hash}` returns them,
/// `POST /v1/reports` acknowledges. `specs` can also be written directly to play a store
/// that serves bytes not matching the hash.
#[derive(Default)]
struct Relayer {
    specs: Mutex<HashMap<B256, Vec<u8>>>,
    reports: Mutex<Vec<SignedReport>>,
}

async fn post_spec(State(r): State<Arc<Relayer>>, body: Body) -> (StatusCode, String) {
    let hash = keccak256(&body);
    r.specs.lock().unwrap().insert(hash, body.to_vec());
    (StatusCode::CREATED, format!("{{\"hash\":\"{hash}\"}}"))
}

async fn get_spec(
    State(r): State<Arc<Relayer>>,
    UrlPath(hash): UrlPath<String>,
) -> Result<Vec<u8>, StatusCode> {
    let hash: B256 = hash.parse().map_err(|_| StatusCode::BAD_REQUEST)?;
    r.specs.lock().unwrap().get(&hash).cloned().ok_or(StatusCode::NOT_FOUND)
}

async fn post_report(State(r): State<Arc<Relayer>>, body: Body) -> (StatusCode, String) {
    match SignedReport::from_json(&body) {
        Ok(s) => {
            let mut all = r.reports.lock().unwrap();
            if all.iter().any(|x| x.id() == s.id()) {
                return (StatusCode::CONFLICT, "replay".into());
            }
            all.push(s);
            (StatusCode::ACCEPTED, "verified".into())
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()),
    }
}

fn wasm_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DEPLOY_WASM_DIR") {
        return PathBuf::from(d);
    }
    let (config, net) = shipped_config();
    let env = Env { owner: Address::ZERO, treasury: Address::ZERO, config: &config, network: &net };
    let root = deployer::workspace_root();
    wasm::load(&WasmSource::Build { workspace: root.clone() }, &deployer::packages(&env))
        .expect("contracts build for wasm32 (rustup target add wasm32-unknown-unknown)");
    wasm::target_dir(&root).join("wasm32-unknown-unknown/release")
}

fn shipped_config() -> (DeployConfig, deployer::config::Network) {
    let mut config = DeployConfig::load(&deployer::workspace_root().join("deployments/config.toml")).unwrap();
    // The AMM is not on main (over Stylus's size limit); jobs need no pool.
    config.deploy_amm = false;
    let net = config.networks["devnet"].clone();
    (config, net)
}

/// The node binary as a child process, its log in a file printed when a test fails.
struct NodeProcess {
    child: Option<Child>,
    log: PathBuf,
}

impl NodeProcess {
    fn start(dir: &Path, round: u32) -> Self {
        let log = dir.join(format!("node-{round}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = node_cmd(dir)
            .args(["run", "--config", "provider.toml"])
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap();
        Self { child: Some(child), log }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- {} ----\n{}",
                self.log.display(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

fn node_cmd(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_provider-node"));
    c.current_dir(dir)
        .env("PROVIDER_NODE_KEY", ANVIL_KEYS[1])
        .env_remove("PROVIDER_NODE_TX_KEY")
        .env("PROVIDER_NODE_CHAIN_POLL_INTERVAL_MS", "100")
        .env("PROVIDER_NODE_METER_SAMPLE_INTERVAL_MS", "100")
        .env("PROVIDER_NODE_RELAYER_BACKOFF_INITIAL_MS", "50")
        .env("PROVIDER_NODE_RELAYER_BACKOFF_MAX_MS", "200")
        .env("RUST_LOG", "info");
    c
}

macro_rules! wait_for {
    ($what:expr, $secs:expr, $cond:expr) => {{
        let t0 = Instant::now();
        loop {
            if $cond {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs($secs), "timed out waiting for {}", $what);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }};
}

struct Scene {
    url: String,
    market: Address,
    class_id: B256,
    provider_key: PrivateKeySigner,
    buyer: DynProvider,
}

impl Scene {
    /// A fresh signing provider for the provider's account: the node sends from the same
    /// account, so a provider that caches nonces would go stale.
    fn as_provider(&self) -> DynProvider {
        network::signing_provider(&self.url, self.provider_key.clone()).unwrap()
    }

    async fn open(&self, seconds: u64, provider: Address, spec_hash: B256) -> U256 {
        let receipt = Market::new(self.market, &self.buyer)
            .openJob(self.class_id, U256::from(seconds), provider, spec_hash)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(receipt.status(), "openJob");
        receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| l.log_decode::<Market::JobOpened>().ok())
            .unwrap()
            .inner
            .data
            .jobId
    }

    async fn job(&self, id: U256) -> (Address, u8, u64) {
        let j = Market::new(self.market, &self.buyer).job(id).call().await.unwrap();
        (j._1, j._8, j._7)
    }

    async fn provider_tx_count(&self) -> u64 {
        self.buyer.get_transaction_count(self.provider_key.address()).await.unwrap()
    }
}

fn spec(runs: &Path, sleep: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "version": 1,
        "command": "sh",
        "args": ["-c", format!("echo $MARKET_JOB_ID >> \"$RUNS\"; sleep {sleep}")],
        "env": { "RUNS": runs.display().to_string() },
        "gpus": 1,
        "time_limit_s": 30
    }))
    .unwrap()
}

fn runs(path: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watcher_accepts_runs_and_reports_refuses_bad_specs_and_survives_restarts() {
    // --- chain: devnet, contracts, demo market (provider = anvil 1, buyer = anvil 2) ---
    let dn = devnet::spawn(devnet::DevnetConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        chain_id: CHAIN_ID,
        ..Default::default()
    })
    .await
    .expect("devnet starts");
    let url = dn.url();
    let (config, mut net) = shipped_config();
    net.rpc_url = Some(url.clone());
    let probe = Env { owner: Address::ZERO, treasury: Address::ZERO, config: &config, network: &net };
    let wasm = wasm::load(&WasmSource::Dir(wasm_dir()), &deployer::packages(&probe)).unwrap();
    let owner: PrivateKeySigner = NITRO_DEV_KEY.parse().unwrap();
    let me = owner.address();
    let p = network::signing_provider(&url, owner).unwrap();
    let (record, _) = deploy(
        &p,
        Request { config: &config, network: &net, deployer: me, wasm: &wasm, previous: None },
        &|_| {},
    )
    .await
    .unwrap_or_else(|e| panic!("deploy: {e:#}"));
    let provider_key: PrivateKeySigner = ANVIL_KEYS[1].parse().unwrap();
    let buyer_key: PrivateKeySigner = ANVIL_KEYS[2].parse().unwrap();
    let seeded = seed(&url, &record, &SeedPlan::default(), provider_key.clone(), buyer_key.clone(), &|_| {})
        .await
        .unwrap_or_else(|e| panic!("seed: {e:#}"));
    let provider = seeded.provider;
    let market = record.address("market").unwrap();
    let m = Scene {
        url: url.clone(),
        market,
        class_id: seeded.class_id,
        provider_key,
        buyer: network::signing_provider(&url, buyer_key.clone()).unwrap(),
    };
    // The buyer holds no H100-seconds without the AMM: the provider sells some directly.
    let tok = ComputeToken::new(seeded.token, m.as_provider());
    assert!(tok
        .transfer(buyer_key.address(), U256::from(1_000))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap()
        .status());
    let buyer_token = ComputeToken::new(seeded.token, &m.buyer);
    let approve = buyer_token.approve(market, U256::MAX);
    assert!(approve.send().await.unwrap().get_receipt().await.unwrap().status());

    // --- the spec store ---
    let relayer = Arc::new(Relayer::default());
    let app = axum::Router::new()
        .route("/v1/specs", post(post_spec))
        .route("/v1/specs/{hash}", get(get_spec))
        .route("/v1/reports", post(post_report))
        .with_state(relayer.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relayer_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let store = |bytes: Vec<u8>| {
        let (http, url) = (http.clone(), format!("{relayer_url}/v1/specs"));
        async move {
            let res = http.post(url).body(bytes.clone()).send().await.unwrap();
            assert_eq!(res.status().as_u16(), 201);
            keccak256(&bytes)
        }
    };

    // --- the node's config, written by `init` from the deployment record ---
    let dir = tempfile::tempdir().unwrap();
    let runs_file = dir.path().join("runs");
    let record_file = dir.path().join("devnet.json");
    record.save(&record_file).unwrap();
    let init = node_cmd(dir.path())
        .args(["init", "--simulated", "--deployment"])
        .arg(&record_file)
        .args(["--rpc-url", &url, "--relayer", &relayer_url])
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let cfg = provider_node::config::Config::load(&dir.path().join("provider.toml"), Vec::new()).unwrap();
    assert_eq!((cfg.chain.market, cfg.chain.chain_id), (market, CHAIN_ID));
    assert_eq!(
        cfg.chain.start_block,
        Some(record.contracts["market"].block),
        "init starts at the market's block"
    );
    let data = dir.path().join("provider-data");

    // --- jobs opened before the node ever ran ---
    let good = store(spec(&runs_file, "1.5")).await;
    let job_a = m.open(60, provider, good).await;
    // B commits to bytes the store does not serve: it serves other bytes under B's hash.
    let promised = spec(&runs_file, "0.1");
    let bad_hash = keccak256(&promised);
    relayer.specs.lock().unwrap().insert(bad_hash, spec(&runs_file, "0.2"));
    let job_b = m.open(60, provider, bad_hash).await;
    // C asks for any provider: the market assigns it (we are the only one registered).
    let spec_c = store(spec(&runs_file, "0.5")).await;
    let job_c = m.open(60, Address::ZERO, spec_c).await;
    assert_eq!(m.job(job_c).await.0, provider, "address(0) was resolved to our provider");

    let mut node = NodeProcess::start(dir.path(), 1);
    let reported = |id: U256| data.join("jobs").join(id.to_string()).join("record.json").exists();
    wait_for!("jobs A and C reported", 90, reported(job_a) && reported(job_c));
    wait_for!("two reports at the relayer", 30, relayer.reports.lock().unwrap().len() == 2);

    let (_, status_a, accepted_a) = m.job(job_a).await;
    let (_, status_c, accepted_c) = m.job(job_c).await;
    assert_eq!((status_a, status_c), (ACCEPTED, ACCEPTED), "accepted on chain");
    // One GPU: C was accepted only once A had finished and given the GPU back.
    let rec_a: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join(format!("jobs/{job_a}/record.json"))).unwrap())
            .unwrap();
    let a_ended_s = rec_a["outcome"]["ended_ms"].as_u64().unwrap() / 1000;
    assert!(
        accepted_c >= a_ended_s && accepted_c >= accepted_a,
        "C accepted at {accepted_c}, A ended at {a_ended_s}"
    );
    for r in relayer.reports.lock().unwrap().iter() {
        assert_eq!(provider_node::verify::verify(r).unwrap(), provider);
        assert_eq!((r.report.provider, r.domain.market, r.domain.chain_id), (provider, market, CHAIN_ID));
        assert!([job_a, job_c].contains(&r.report.jobId));
        assert!(r.report.nonce.bit(255), "a job's single GPU report is its final one");
        assert!(r.report.gpuSeconds <= 60, "never more than the escrow");
    }
    // B: refused for its spec, never accepted, never run.
    let chain = ChainStore::new(&data);
    let b = chain.job(job_b).unwrap().expect("B recorded");
    assert_eq!(b.state, JobState::Refused);
    assert!(b.reason.as_deref().unwrap_or("").contains("hash mismatch"), "{b:?}");
    assert_eq!(m.job(job_b).await.1, OPEN, "B is never accepted");
    assert!(!data.join(format!("jobs/{job_b}/claim")).exists());
    assert_eq!(runs(&runs_file), {
        let mut v = vec![job_a.to_string(), job_c.to_string()];
        v.sort();
        v
    });
    let a = chain.job(job_a).unwrap().unwrap();
    assert!(a.state == JobState::Accepted && a.accept_tx.is_some(), "{a:?}");

    let sent = data.join("spool/sent");
    wait_for!("both reports marked sent", 30, std::fs::read_dir(&sent).map(|d| d.count()).unwrap_or(0) == 2);

    // `status` shows what the node sees.
    let st = node_cmd(dir.path()).args(["status", "--config", "provider.toml"]).output().unwrap();
    let st = String::from_utf8_lossy(&st.stdout).to_string();
    assert!(st.contains(&format!("market {market}")) && st.contains("head:      block "), "{st}");
    assert!(st.contains("3 known: 0 assigned, 0 accepted, 0 running, 2 reported, 1 refused"), "{st}");
    assert!(st.contains(&format!("job {job_b}: refused [chain] (spec hash mismatch")), "{st}");
    assert!(st.contains("spool:     0 pending, 2 sent"), "{st}");

    // --- restart: while the node is down, D is opened, and E is opened and accepted by the
    // provider's account itself (as if the node crashed after its accept was mined but
    // before it recorded it) ---
    node.kill();
    let spec_d = store(spec(&runs_file, "0.3")).await;
    let job_d = m.open(30, provider, spec_d).await;
    let job_e = m.open(30, provider, spec_d).await;
    let as_provider = Market::new(market, m.as_provider());
    let accept_e = as_provider.acceptJob(job_e);
    assert!(accept_e.send().await.unwrap().get_receipt().await.unwrap().status());
    let txs_before = m.provider_tx_count().await;

    let mut node = NodeProcess::start(dir.path(), 2);
    wait_for!("jobs D and E reported after the restart", 60, reported(job_d) && reported(job_e));
    wait_for!("four reports at the relayer", 30, relayer.reports.lock().unwrap().len() == 4);
    assert_eq!(m.job(job_d).await.1, ACCEPTED);
    assert_eq!(m.provider_tx_count().await, txs_before + 1, "one transaction after the restart: D's accept");
    let e = chain.job(job_e).unwrap().unwrap();
    assert!(e.state == JobState::Accepted && e.accept_tx.is_none(), "E recorded without a new accept: {e:?}");
    let mut expect = [job_a, job_c, job_d, job_e].iter().map(|j| j.to_string()).collect::<Vec<_>>();
    expect.sort();
    assert_eq!(runs(&runs_file), expect, "every job ran exactly once");
    assert_eq!(chain.job(job_b).unwrap().unwrap().state, JobState::Refused);

    // --- a job whose accept window passed while the node was down is left alone ---
    node.kill();
    let job_f = m.open(30, provider, spec_d).await;
    let _: serde_json::Value = p.raw_request("evm_increaseTime".into(), (601u64,)).await.unwrap();
    let _: serde_json::Value = p.raw_request("evm_mine".into(), Vec::<u64>::new()).await.unwrap();
    let txs_before = m.provider_tx_count().await;
    let _node = NodeProcess::start(dir.path(), 3);
    wait_for!(
        "F recorded as expired",
        30,
        chain.job(job_f).ok().flatten().is_some_and(|j| j.state == JobState::Expired)
    );
    assert_eq!(m.job(job_f).await.1, OPEN);
    assert_eq!(m.provider_tx_count().await, txs_before, "no transaction for an expired job");
    assert_eq!(runs(&runs_file), expect, "nothing ran again");
    // A job whose spec is not in the store yet waits (not accepted) and is accepted once the
    // buyer stores it.
    let late = spec(&runs_file, "0.15");
    let job_g = m.open(30, provider, keccak256(&late)).await;
    wait_for!("G recorded", 30, chain.job(job_g).ok().flatten().is_some());
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(chain.job(job_g).unwrap().unwrap().state, JobState::Assigned);
    assert_eq!(m.job(job_g).await.1, OPEN, "not accepted without its spec");
    store(late).await;
    wait_for!("G reported once its spec is stored", 30, reported(job_g));
    assert_eq!(m.job(job_g).await.1, ACCEPTED);
    expect.push(job_g.to_string());
    expect.sort();
    assert_eq!(runs(&runs_file), expect);

    let cursor = chain.cursor().unwrap().unwrap();
    assert_eq!(cursor.market, market);
    assert!(cursor.next_block > 0);
}

/// The watcher refuses to act against the wrong chain or a market address without code,
/// with errors that say which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_chain_and_missing_market_are_clear_errors() {
    let dn = devnet::spawn(devnet::DevnetConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        chain_id: CHAIN_ID,
        ..Default::default()
    })
    .await
    .expect("devnet starts");
    let dir = tempfile::tempdir().unwrap();
    let key: PrivateKeySigner = ANVIL_KEYS[1].parse().unwrap();
    let load = |chain_id: u64| {
        let text = provider_node::config::template(&provider_node::config::Template {
            chain_id,
            market: Address::repeat_byte(0x42),
            rpc_url: &dn.url(),
            start_block: Some(0),
            relayer: "http://127.0.0.1:9",
            meter: provider_node::config::MeterChoice::Simulated,
            key_file: Path::new("unused.key"),
        });
        let env = vec![("PROVIDER_NODE_NODE_DATA_DIR".to_string(), dir.path().display().to_string())];
        provider_node::config::Config::from_toml(&text, env).unwrap()
    };
    let watcher = |chain_id: u64| {
        let node = provider_node::node::Node::start(load(chain_id), key.clone()).unwrap();
        provider_node::chain::Watcher::new(node, key.clone()).unwrap()
    };
    let e = watcher(1).tick().await.unwrap_err().to_string();
    assert!(e.contains("chain 412346") && e.contains("chain.chain_id says 1"), "{e}");
    let e = watcher(CHAIN_ID).tick().await.unwrap_err().to_string();
    assert!(e.contains("no contract at chain.market 0x4242"), "{e}");
    assert!(ChainStore::new(dir.path()).cursor().unwrap().is_none(), "nothing scanned");
    // The transaction key must be the node's provider account.
    let node = provider_node::node::Node::start(load(CHAIN_ID), key.clone()).unwrap();
    let other: PrivateKeySigner = ANVIL_KEYS[2].parse().unwrap();
    let e = provider_node::chain::Watcher::new(node, other).err().unwrap().to_string();
    assert!(e.contains("must be the same account"), "{e}");
}
