//! The deployer against an in-process devnet: a fresh deploy (everything deployed, activated
//! and wired), an idempotent re-run (nothing sent), the `deploy` binary refusing a broken
//! config by naming the key, and the dry run quoting fees from the chain.
//!
//! Wasm: `DEPLOY_WASM_DIR` (a folder of prebuilt `<package>.wasm`), else built here with
//! `cargo build --release --target wasm32-unknown-unknown` into the usual target dir.

use std::{collections::BTreeMap, process::Command, sync::Mutex};

use alloy::{
    primitives::{keccak256, Address, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
    sol,
};
use deployer::{
    deploy::{deploy, Request},
    network,
    plan::{self, Env},
    program,
    record::Deployment,
    wasm::{self, WasmSource},
};
use devnet::accounts::NITRO_DEV_KEY;

mod common;
use common::{shipped_config, start_devnet, wasm_dir};

sol! {
    #[sol(rpc)]
    interface IView {
        function minter() external view returns (address);
        function decimals() external view returns (uint8);
        function hasRole(bytes32 role, address account) external view returns (bool);
        function classInfo(bytes32 classId) external view returns (address, uint256, uint64, uint64, uint8, uint256, bool, uint256);
        function isRelayer(address relayer) external view returns (bool);
        function getPool(uint256 poolId) external view returns (address, address, uint16);
        function liquidityProgram() external view returns (address);
        function observationState(uint256 poolId) external view returns (uint16, uint16, uint16);
        function classPricing(bytes32 classId) external view returns (uint256, bool, uint32, uint256);
        function registry() external view returns (address);
        function owner() external view returns (address);
        function isSettler(address account) external view returns (bool);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fresh_deploy_then_idempotent_rerun() {
    let (mut config, _) = shipped_config();
    let mut net = config.networks["devnet"].clone();
    let dn = start_devnet().await;
    net.rpc_url = Some(dn.url());
    let probe = Env { owner: Address::ZERO, treasury: Address::ZERO, config: &config, network: &net };
    let wasm: BTreeMap<String, Vec<u8>> =
        wasm::load(&WasmSource::Dir(wasm_dir()), &deployer::packages(&probe)).unwrap();
    let signer: PrivateKeySigner = NITRO_DEV_KEY.parse().unwrap();
    let me = signer.address();
    let p = network::signing_provider(&dn.url(), signer).unwrap();

    // The shipped config deploys the AMM (both of its programs); every program fits.
    assert!(config.deploy_amm, "the shipped config deploys the AMM");
    for (package, w) in &wasm {
        deployer::stylus::check_limits(w).unwrap_or_else(|e| panic!("{package}: {e}"));
    }
    let probe = Env { owner: Address::ZERO, treasury: Address::ZERO, config: &config, network: &net };
    let lines = Mutex::new(Vec::new());
    let log = |l: String| lines.lock().unwrap().push(l);

    let (record, summary) = deploy(
        &p,
        Request { config: &config, network: &net, deployer: me, wasm: &wasm, previous: None },
        &log,
    )
    .await
    .unwrap_or_else(|e| panic!("fresh deploy: {e:#}"));
    let keys: Vec<String> = plan::contracts(&probe).iter().map(|s| s.key.clone()).collect();
    assert_eq!(summary.deployed, keys, "a fresh chain gets every contract");
    assert_eq!(summary.wiring_skipped, 0);
    assert_eq!(summary.wiring_sent, plan::wiring(&probe).len());
    assert!(lines.lock().unwrap().iter().any(|l| l.starts_with("[1/") && l.contains("stablecoin")));

    // Every contract has the recorded code, activated.
    for (key, rec) in &record.contracts {
        let code = p.get_code_at(rec.address).await.unwrap();
        assert_eq!(keccak256(&code), rec.code_hash, "{key}");
        assert_eq!(&code[..3], &[0xEF, 0xF0, 0x00], "{key} is a Stylus program");
        assert!(program::activated_version(&p, rec.code_hash).await.is_some(), "{key} activated");
    }
    let at = |k: &str| record.address(k).unwrap_or_else(|| panic!("{k} recorded"));
    let view = |k: &str| IView::new(at(k), p.clone());
    assert_eq!(view("stablecoin").decimals().call().await.unwrap(), 6);
    assert_eq!(view("collateral").decimals().call().await.unwrap(), 18);
    assert_eq!(view("market").registry().call().await.unwrap(), at("registry"));
    assert_eq!(view("market").owner().call().await.unwrap(), me);
    for role in ["LOCKER_ROLE", "SLASHER_ROLE"] {
        assert!(view("vault").hasRole(keccak256(role), at("market")).call().await.unwrap(), "{role}");
    }
    assert!(view("vault").hasRole(keccak256("SLASHER_ROLE"), at("slashCourt")).call().await.unwrap());
    assert!(view("vault").hasRole(keccak256("SLASHER_ROLE"), at("settlement")).call().await.unwrap());
    assert!(view("market").isSettler(at("settlement")).call().await.unwrap());
    assert!(view("market").isSettler(at("enforcement")).call().await.unwrap());
    assert!(view("vault").hasRole(keccak256("SLASHER_ROLE"), at("enforcement")).call().await.unwrap());
    assert!(view("slashCourt")
        .hasRole(keccak256("VETOABLE_SLASHER_ROLE"), at("enforcement"))
        .call()
        .await
        .unwrap());
    assert!(view("registry").isRelayer(net.relayers[0]).call().await.unwrap());
    for class in &config.classes {
        let token = at(&plan::token_key(class));
        assert_eq!(view(&plan::token_key(class)).minter().call().await.unwrap(), at("market"));
        let info = view("registry").classInfo(keccak256(&class.name)).call().await.unwrap();
        assert_eq!(info._0, token, "{} listed with its token", class.name);
        assert_eq!(info._4, net.evidence_mask(class), "devnet accepts the simulated meter");
        if config.deploy_amm {
            let pool = record.pools.iter().find(|x| x.class == class.name).unwrap();
            let onchain = view("amm").getPool(U256::from_be_bytes(pool.pool_id.0)).call().await.unwrap();
            assert_ne!(onchain._0, Address::ZERO, "pool for {}", class.name);
            assert_eq!(onchain._2, config.pool_fee_bps);
            // Served by `amm-liquidity` through `amm`'s fallback (a delegate call).
            assert_eq!(view("amm").liquidityProgram().call().await.unwrap(), at("ammLiquidity"));
            let ring =
                view("amm").observationState(U256::from_be_bytes(pool.pool_id.0)).call().await.unwrap();
            assert_eq!(ring._2, config.oracle_cardinality, "oracle ring paid for");
            // The enforcement contract prices missed accepts at this pool's TWAP.
            let pricing = view("enforcement").classPricing(keccak256(&class.name)).call().await.unwrap();
            assert_eq!(pricing._0, U256::from_be_bytes(pool.pool_id.0));
            assert_eq!(pricing._1, token < at("stablecoin"));
            assert_eq!((pricing._2, pricing._3), (config.twap_window, net.collateral_per_stable << 112));
        } else {
            assert!(record.pools.is_empty() && record.address("amm").is_none());
        }
    }
    let h100 = record.classes.iter().find(|c| c.name == "H100-SXM5-80GB").unwrap();
    assert_eq!(h100.class_id, keccak256("H100-SXM5-80GB"));
    assert_eq!(record.chain_id, 412346);

    // The record survives a file round trip, and a re-run sends nothing.
    let file = std::env::temp_dir().join(format!("deployer-test-{}.json", std::process::id()));
    record.save(&file).unwrap();
    let previous = Deployment::load(&file).unwrap().unwrap();
    std::fs::remove_file(&file).unwrap();
    let nonce = p.get_transaction_count(me).await.unwrap();
    let (again, summary) = deploy(
        &p,
        Request { config: &config, network: &net, deployer: me, wasm: &wasm, previous: Some(&previous) },
        &|_| {},
    )
    .await
    .unwrap();
    assert!(summary.deployed.is_empty(), "nothing redeployed: {:?}", summary.deployed);
    assert_eq!(summary.skipped, keys);
    assert_eq!(summary.wiring_sent, 0);
    assert_eq!(p.get_transaction_count(me).await.unwrap(), nonce, "no transaction sent");
    assert_eq!(again.contracts, record.contracts);

    // A changed constructor argument redeploys that contract (and what depends on it) only,
    // and the wiring follows the new address.
    config.veto_window += 1;
    let (third, summary) = deploy(
        &p,
        Request { config: &config, network: &net, deployer: me, wasm: &wasm, previous: Some(&again) },
        &|_| {},
    )
    .await
    .unwrap();
    // The enforcement contract holds the court's address, so it follows.
    assert_eq!(summary.deployed, ["slashCourt", "enforcement"]);
    // The new court's SLASHER_ROLE; the new enforcement's settler flag, vault and court
    // roles, pricing per class and dispute terms.
    assert_eq!(summary.wiring_sent, 1 + 3 + config.classes.len() + 1);
    let court = third.address("slashCourt").unwrap();
    assert_ne!(court, at("slashCourt"));
    assert!(view("vault").hasRole(keccak256("SLASHER_ROLE"), court).call().await.unwrap());
    assert_eq!(third.address("market"), Some(at("market")));
}

#[test]
fn broken_config_is_refused_naming_the_key() {
    let (_, path) = shipped_config();
    let text = std::fs::read_to_string(&path).unwrap();
    let dir = std::env::temp_dir().join(format!("deployer-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (from, to, key) in [
        ("veto_window = 259200", "veto_window = 604800", "deploy.veto_window"),
        ("\"nvidia-cc\"]", "\"nvidia\"]", "classes[0].evidence[2]"),
        ("pool_fee_bps = 30", "pool_fees = 30", "pool_fees"),
    ] {
        let broken = dir.join("config.toml");
        std::fs::write(&broken, text.replacen(from, to, 1)).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_deploy"))
            .args(["--network", "devnet", "--config"])
            .arg(&broken)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(key), "error names `{key}`: {stderr}");
        assert!(!dir.join("devnet.json").exists(), "nothing written");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_the_plan_and_fees_without_sending() {
    let dn = start_devnet().await;
    let dir = wasm_dir();
    let out = std::env::temp_dir().join(format!("deployer-dry-{}.json", std::process::id()));
    let url = dn.url();
    let child = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_deploy"))
            .args(["--network", "devnet", "--dry-run", "--rpc-url", &url, "--wasm-dir"])
            .arg(&dir)
            .arg("--out")
            .arg(&out)
            .arg("--config")
            .arg(deployer::workspace_root().join("deployments/config.toml"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(child.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&child.stderr));
    assert!(stdout.contains("nothing is sent") && stdout.contains("deploy market (market)"), "{stdout}");
    assert!(stdout.contains("Activation data fees:") && stdout.contains("Balance needed (gas"), "{stdout}");
    assert!(stdout.contains("holds 10000."), "the dev key's balance is checked: {stdout}");
    let p = network::read_provider(&dn.url()).unwrap();
    assert_eq!(p.get_block_number().await.unwrap(), 0, "no block mined: nothing sent");
}

/// The path of `cargo stylus deploy` for a program without a constructor: CREATE of the
/// prefixed, compressed wasm, then `activateProgram` paying the quoted data fee; the same
/// code a second time is already active (one transaction, no fee).
#[tokio::test(flavor = "multi_thread")]
async fn create_then_activate_without_constructor() {
    let dn = start_devnet().await;
    let wasm = std::fs::read(wasm_dir().join("mock_erc20.wasm")).unwrap();
    let signer: PrivateKeySigner = NITRO_DEV_KEY.parse().unwrap();
    let p = network::signing_provider(&dn.url(), signer).unwrap();
    let code_hash = deployer::stylus::code_hash(&wasm);
    assert_eq!(program::activated_version(&p, code_hash).await, None, "not active yet");
    let quote = program::quote_data_fee(&p, &deployer::stylus::program_code(&wasm)).await.unwrap();
    assert!(quote > U256::ZERO, "activation costs a data fee");

    let first = program::deploy_program(&p, &wasm, None).await.unwrap();
    assert_eq!(first.txs.len(), 2, "CREATE + activateProgram");
    assert_eq!(first.data_fee, quote);
    assert_eq!(first.code_hash, code_hash);
    assert_eq!(keccak256(p.get_code_at(first.address).await.unwrap()), code_hash);
    assert_eq!(program::activated_version(&p, code_hash).await, Some(first.stylus_version));

    let second = program::deploy_program(&p, &wasm, None).await.unwrap();
    assert_eq!(second.txs.len(), 1, "already active: CREATE only");
    assert_eq!(second.data_fee, U256::ZERO);
    assert_ne!(second.address, first.address);
}
