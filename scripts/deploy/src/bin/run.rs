//! `run`: the whole system on one machine. Builds what is needed, starts the devnet,
//! deploys, seeds a demo market, starts the relayer, a provider node and the dApp where they
//! exist, prints URLs, accounts and MetaMask settings, and stops everything on Ctrl-C.

use std::{path::PathBuf, process::Command, time::Duration};

use alloy::{hex, providers::Provider, signers::local::PrivateKeySigner};
use anyhow::{bail, Context, Result};
use clap::Parser;
use deployer::{
    config::Config,
    deploy::{deploy, Request},
    network,
    plan::Env,
    record::Deployment,
    seed::{seed, SeedPlan},
    services::Service,
    wasm::{self, WasmSource},
};

/// Dev accounts (anvil's mnemonic) given roles in the demo.
const PROVIDER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"; // anvil 1
const BUYER_KEY: &str = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"; // anvil 2
const RELAYER_KEY: &str = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"; // anvil 3

#[derive(Parser, Debug)]
#[command(
    name = "run",
    about = "Start the devnet, deploy, seed a demo market and the services; Ctrl-C stops all"
)]
struct Args {
    /// JSON-RPC port of the devnet.
    #[arg(long, default_value_t = 8547)]
    port: u16,
    /// Port of the relayer's HTTP API (when the relayer is built).
    #[arg(long, default_value_t = 8080)]
    relayer_port: u16,
    /// Port of the dApp's dev server (when the dApp exists).
    #[arg(long, default_value_t = 5173)]
    dapp_port: u16,
    /// Deployment configuration.
    #[arg(long, default_value = "deployments/config.toml")]
    config: PathBuf,
    /// Skip `cargo build` (use what is already built).
    #[arg(long)]
    no_build: bool,
    /// Prebuilt contract wasm folder (implies not building the contracts).
    #[arg(long)]
    wasm_dir: Option<PathBuf>,
    /// Where to write the deployment record.
    #[arg(long, default_value = "deployments/devnet.json")]
    out: PathBuf,
    /// Stop after seeding (for scripts and tests): prints everything, then stops cleanly.
    #[arg(long)]
    exit_after_seed: bool,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Args::parse()).await {
        eprintln!("run: {e:#}");
        std::process::exit(1);
    }
}

fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Builds a workspace binary package (debug); `Ok(false)` if it failed (reported).
fn build_bin(root: &std::path::Path, package: &str) -> Result<bool> {
    println!("building {package}...");
    let status = Command::new(cargo()).current_dir(root).args(["build", "-p", package]).status()?;
    Ok(status.success())
}

async fn run(args: Args) -> Result<()> {
    let root = deployer::workspace_root();
    let config_path = if args.config.is_absolute() { args.config.clone() } else { root.join(&args.config) };
    let mut config = Config::load(&config_path)?;
    let mut net = config.network("devnet", &config_path.display().to_string())?.clone();
    let url = format!("http://127.0.0.1:{}", args.port);
    net.rpc_url = Some(url.clone());
    let target = wasm::target_dir(&root);
    let bin = |name: &str| target.join("debug").join(name);

    // 1. Build.
    let probe = Env {
        owner: alloy::primitives::Address::ZERO,
        treasury: alloy::primitives::Address::ZERO,
        config: &config,
        network: &net,
    };
    let source = if let Some(d) = &args.wasm_dir {
        WasmSource::Dir(d.clone())
    } else if args.no_build {
        WasmSource::Dir(target.join("wasm32-unknown-unknown/release"))
    } else {
        WasmSource::Build { workspace: root.clone() }
    };
    println!("building the contracts (wasm32, release)...");
    let wasm = wasm::load(&source, &deployer::packages(&probe)).context("building the contracts")?;
    let amm_problem = wasm.get("amm").and_then(|w| deployer::stylus::check_limits(w).err());
    if let Some(problem) = &amm_problem {
        println!(
            "WARNING: the AMM cannot be activated yet ({problem}); running without the AMM and its pools"
        );
        config.deploy_amm = false;
    }
    if !args.no_build && !build_bin(&root, "devnet")? {
        bail!("the devnet failed to build");
    }
    // Slots for the services others are building: built and started when they exist.
    let mut relayer_built = false;
    let mut node_built = false;
    if !args.no_build {
        if root.join("relayer/Cargo.toml").exists() {
            relayer_built = build_bin(&root, "relayer")?;
        }
        if root.join("provider-node/Cargo.toml").exists() {
            node_built = build_bin(&root, "provider-node")?;
        }
    }
    relayer_built |= args.no_build && bin("relayer").exists();
    node_built |= args.no_build && bin("provider-node").exists();

    // 2. The devnet.
    let devnet_bin = bin("devnet");
    if !devnet_bin.exists() {
        bail!("{} not found: build it with `cargo build -p devnet`", devnet_bin.display());
    }
    let mut services = Vec::new();
    // Every service logs to target/run/<name>.log (printed at the end).
    let log_dir = wasm::target_dir(&root).join("run");
    std::fs::create_dir_all(&log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
    let devnet = Service::start(
        "devnet",
        &devnet_bin,
        &["--port".into(), args.port.to_string()],
        &root,
        &[],
        Some(&log_dir.join("devnet.log")),
    )
    .context("starting the devnet")?;
    services.push(devnet);
    let outcome =
        bring_up(&args, &root, &config, &net, &url, &wasm, relayer_built, node_built, &bin, &mut services)
            .await;
    if outcome.is_ok() && !args.exit_after_seed {
        println!("\nRunning. Press Ctrl-C to stop everything.");
        wait_for_stop(&mut services).await;
    }
    println!("\nstopping...");
    for s in services.into_iter().rev() {
        let name = s.name.clone();
        let status = s.stop(Duration::from_secs(10)).await;
        println!("  {name} stopped ({})", status.map(|s| s.to_string()).unwrap_or_else(|| "unknown".into()));
    }
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn bring_up(
    args: &Args,
    root: &std::path::Path,
    config: &Config,
    net: &deployer::config::Network,
    url: &str,
    wasm: &std::collections::BTreeMap<String, Vec<u8>>,
    relayer_built: bool,
    node_built: bool,
    bin: &dyn Fn(&str) -> PathBuf,
    services: &mut Vec<Service>,
) -> Result<()> {
    let reader = network::read_provider(url)?;
    let mut ready = false;
    for _ in 0..200 {
        if services[0].exited().is_some() {
            bail!("the devnet exited at start (is port {} taken?)", args.port);
        }
        if reader.get_chain_id().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !ready {
        bail!("the devnet did not answer on {url} within 20 s");
    }
    println!("devnet up at {url}");

    // 3. Deploy.
    let signer = network::require_signer(net)?;
    let deployer_addr = signer.address();
    let provider = network::signing_provider(url, signer)?;
    let out = if args.out.is_absolute() { args.out.clone() } else { root.join(&args.out) };
    let previous = Deployment::load(&out)?;
    let log = |l: String| println!("{l}");
    let (record, summary) = deploy(
        &provider,
        Request { config, network: net, deployer: deployer_addr, wasm, previous: previous.as_ref() },
        &log,
    )
    .await
    .context("deploying to the devnet")?;
    record.save(&out)?;
    println!("deployed {} contracts, wrote {}", summary.deployed.len(), out.display());

    // 4. Seed the demo market.
    let provider_key: PrivateKeySigner = PROVIDER_KEY.parse()?;
    let buyer_key: PrivateKeySigner = BUYER_KEY.parse()?;
    let seeded = seed(url, &record, &SeedPlan::default(), provider_key, buyer_key, &log).await?;

    // 5. Services (slots).
    let deployments = out.display().to_string();
    let mut lines = Vec::new();
    let run_dir = wasm::target_dir(root).join("run");
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    // Each run is a new chain: the services' state from a previous run (the relayer's queue,
    // the node's cursor, jobs and spool) belongs to the old one.
    for stale in ["relayer.sqlite", "relayer.sqlite-wal", "relayer.sqlite-shm", "provider-data"] {
        let p = run_dir.join(stale);
        let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
    }
    let relayer_url = format!("http://127.0.0.1:{}", args.relayer_port);
    if relayer_built && bin("relayer").exists() {
        let cfg = relayer_config(args, &record, config, net, url, &run_dir)?;
        let path = run_dir.join("relayer.toml");
        std::fs::write(&path, cfg).with_context(|| format!("writing {}", path.display()))?;
        let env = vec![("RELAYER_KEY".to_string(), RELAYER_KEY.to_string())];
        let a = ["run".to_string(), "--config".to_string(), path.display().to_string()];
        services.push(Service::start(
            "relayer",
            &bin("relayer"),
            &a,
            &run_dir,
            &env,
            Some(&run_dir.join("relayer.log")),
        )?);
        wait_http(&format!("{relayer_url}/healthz"), services).await.context("starting the relayer")?;
        lines.push(format!("relayer       {relayer_url}  (/healthz, /metrics)"));
    } else {
        lines.push("relayer       not built".into());
    }
    if node_built && bin("provider-node").exists() {
        let market = record.address("market").context("no market in the deployment")?;
        let cfg = run_dir.join("provider.toml");
        // A fresh config each run (init refuses to overwrite one).
        let _ = std::fs::remove_file(&cfg);
        let env = vec![
            ("PROVIDER_NODE_KEY".to_string(), PROVIDER_KEY.to_string()),
            ("PROVIDER_NODE_NODE_DATA_DIR".to_string(), run_dir.join("provider-data").display().to_string()),
        ];
        let init = std::process::Command::new(bin("provider-node"))
            .args(["init", "--config", &cfg.display().to_string(), "--chain-id", &net.chain_id.to_string()])
            .args(["--market", &market.to_string(), "--relayer", &relayer_url, "--simulated"])
            // The node watches this chain for jobs assigned to it (from the market's block).
            .args(["--rpc-url", &url.to_string(), "--deployment", &out.display().to_string()])
            .envs(env.iter().cloned())
            .current_dir(&run_dir)
            .stdout(std::process::Stdio::null())
            .status()
            .context("provider-node init")?;
        if !init.success() {
            bail!("provider-node init failed ({init})");
        }
        let a = ["run".to_string(), "--config".to_string(), cfg.display().to_string()];
        services.push(Service::start(
            "provider-node",
            &bin("provider-node"),
            &a,
            &run_dir,
            &env,
            Some(&run_dir.join("provider-node.log")),
        )?);
        lines.push(format!(
            "provider node simulated meter (no GPU here), config {}; jobs: `provider-node exec --config {} -- CMD`",
            cfg.display(),
            cfg.display()
        ));
    } else {
        lines.push("provider node not built".into());
    }
    if root.join("dapp/package.json").exists() {
        let env = vec![
            ("VITE_RPC_URL".to_string(), url.to_string()),
            ("VITE_CHAIN_ID".to_string(), net.chain_id.to_string()),
            ("VITE_RELAYER_URL".to_string(), relayer_url.clone()),
            ("DAPP_DEPLOYMENTS".to_string(), out.display().to_string()),
        ];
        let a = ["run".into(), "dev".into(), "--".into(), "--port".into(), args.dapp_port.to_string()];
        services.push(Service::start(
            "dapp",
            std::path::Path::new("npm"),
            &a,
            &root.join("dapp"),
            &env,
            Some(&run_dir.join("dapp.log")),
        )?);
        lines.push(format!("dApp          http://127.0.0.1:{}", args.dapp_port));
    } else {
        lines.push("dApp          not found (dapp/package.json missing)".into());
    }

    // 6. What to use.
    let key_hex = |k: &str| k.to_string();
    println!("\n=== GPU compute AMM on the devnet ===");
    println!("JSON-RPC      {url}   (WebSocket ws://127.0.0.1:{})", args.port);
    for l in &lines {
        println!("{l}");
    }
    println!("Logs          {}/*.log", run_dir.display());
    println!("Deployment    {deployments}");
    for (k, c) in &record.contracts {
        println!("  {k:<24} {}", c.address);
    }
    println!("\nAccounts (10000 ETH each on the devnet):");
    println!("  deployer/owner {deployer_addr}");
    println!(
        "  provider       {}  key {}  (1000 mLRT staked, registered, {} H100-seconds minted)",
        seeded.provider,
        key_hex(PROVIDER_KEY),
        SeedPlan::default().minted_seconds
    );
    println!("  buyer          {}  key {}  (1000 USDC)", seeded.buyer, key_hex(BUYER_KEY));
    println!(
        "  relayer        {}  key {}",
        RELAYER_KEY.parse::<PrivateKeySigner>()?.address(),
        key_hex(RELAYER_KEY)
    );
    match seeded.pool_id {
        Some(id) => println!("  H100 pool id   0x{}  (30000 H100s / 18 USDC)", hex::encode(id)),
        None => println!("  H100 pool      none: the AMM is not deployed"),
    }
    println!("\nMetaMask: Settings > Networks > Add a network manually:");
    println!("  Network name  GPU AMM devnet");
    println!("  RPC URL       {url}");
    println!("  Chain ID      {}", net.chain_id);
    println!("  Currency      ETH");
    println!("  then import the buyer's key above, and import tokens by address:");
    println!("  USDC {}  H100s {}", record.address("stablecoin").unwrap_or_default(), seeded.token);
    println!("  (a restarted devnet is a new chain: in MetaMask use Settings > Advanced > Clear activity tab data)");
    Ok(())
}

/// The relayer's config for this deployment: its contracts, the settlement contract as
/// the batch target, and every class accepting the simulated meter's `none` evidence (as
/// the devnet's registry listing does).
fn relayer_config(
    args: &Args,
    record: &Deployment,
    config: &Config,
    net: &deployer::config::Network,
    url: &str,
    run_dir: &std::path::Path,
) -> Result<String> {
    let need = |k: &str| record.address(k).with_context(|| format!("no {k} in the deployment"));
    let mut t = format!(
        "listen = \"127.0.0.1:{port}\"\ndatabase = \"{db}\"\nchain_id = {chain}\nmarket = \"{market}\"\n\
         registry = \"{registry}\"\nrpc_url = \"{url}\"\nprovider_cache_secs = 5\n\n[settlement]\n\
         max_batch = 32\nmax_wait_secs = 2\nconfirmations = 1\ncontract = \"{settlement}\"\n",
        port = args.relayer_port,
        db = run_dir.join("relayer.sqlite").display(),
        chain = net.chain_id,
        market = need("market")?,
        registry = need("registry")?,
        settlement = need("settlement")?,
    );
    for class in &config.classes {
        t.push_str(&format!("\n[classes.{:?}]\nallow_none = true\n", class.name));
    }
    Ok(t)
}

/// Polls `url` until it answers 2xx (10 s), or a service dies.
async fn wait_http(url: &str, services: &mut [Service]) -> Result<()> {
    for _ in 0..100 {
        if let Some(s) = services.iter_mut().find_map(|s| s.exited().map(|e| (s.name.clone(), e))) {
            bail!("{} exited ({})", s.0, s.1);
        }
        if http_ok(url).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{url} did not answer within 10 s")
}

/// A plain HTTP/1.1 GET on loopback, true on a 2xx status (no HTTP client dependency).
async fn http_ok(url: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let Ok(mut s) = tokio::net::TcpStream::connect(host).await else { return false };
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf).await, Ok(n) if n >= 12 && buf[9] == b'2')
}

/// Waits for Ctrl-C or SIGTERM, or for the devnet to die.
async fn wait_for_stop(services: &mut [Service]) {
    let terminate = async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match signal(SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    };
    let devnet_died = async {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if let Some(s) = services[0].exited() {
                eprintln!("the devnet exited ({s})");
                return;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
        _ = devnet_died => {}
    }
}
