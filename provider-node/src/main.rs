//! `provider-node`: init, run, status, exec (one job now), verify-report.

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use clap::{Parser, Subcommand};
use eyre::{eyre, WrapErr};
use provider_node::chain::{self, Watcher};
use provider_node::config::{self, Config, MeterChoice};
use provider_node::jobs::JobSpec;
use provider_node::key;
use provider_node::node::{self, Node};
use provider_node::spool::State;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "provider-node",
    version,
    about = "GPU provider node: runs jobs, meters them (NVML), attests, signs and spools usage reports"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a signing key (0600) and a commented provider.toml.
    ///
    /// The market, chain id and first block to watch come from the flags, else from a
    /// deployment record (`--deployment`, or `deployments/devnet.json` when it exists here).
    Init {
        #[arg(long, default_value = "provider.toml")]
        config: PathBuf,
        #[arg(long, default_value = "provider.key")]
        key_file: PathBuf,
        /// Default: the deployment's, else 412346 (the devnet).
        #[arg(long)]
        chain_id: Option<u64>,
        /// Default: the deployment's market.
        #[arg(long)]
        market: Option<Address>,
        /// A deployment record written by the deployer (`deployments/<network>.json`).
        #[arg(long)]
        deployment: Option<PathBuf>,
        #[arg(long, default_value = "http://127.0.0.1:8547")]
        rpc_url: String,
        #[arg(long, default_value = "http://127.0.0.1:8600")]
        relayer: String,
        /// Configure the simulated meter (no GPU).
        #[arg(long)]
        simulated: bool,
    },
    /// Run until stopped (Ctrl-C / SIGTERM).
    Run {
        #[arg(long, default_value = "provider.toml")]
        config: PathBuf,
    },
    /// Print what the node sees: key, GPUs, evidence, chain, spool, jobs.
    Status {
        #[arg(long, default_value = "provider.toml")]
        config: PathBuf,
    },
    /// Run one job now (meter, sign, spool), then try to send pending reports once.
    Exec {
        #[arg(long, default_value = "provider.toml")]
        config: PathBuf,
        #[arg(long)]
        job_id: U256,
        #[arg(long, default_value_t = 1)]
        gpus: u32,
        #[arg(long)]
        time_limit_s: Option<u64>,
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
    /// Check a signed report (wire JSON, e.g. a spool file) with the market's rules.
    VerifyReport {
        file: PathBuf,
        /// Also require this provider (`report.provider`).
        #[arg(long)]
        provider: Option<Address>,
        /// The provider's registered signing key, when it is not the provider's account.
        #[arg(long)]
        signer: Option<Address>,
    },
}

/// The config, the report signing key and the transaction key (the provider's account).
fn load(path: &Path) -> eyre::Result<(Config, PrivateKeySigner, PrivateKeySigner)> {
    let cfg = Config::load(path, std::env::vars())?;
    let signer = key::load(&cfg.node.key_file, std::env::var(key::KEY_ENV).ok())?;
    let tx = key::load_tx(
        cfg.chain.tx_key_file.as_deref(),
        std::env::var(key::TX_KEY_ENV).ok(),
        &cfg.node.key_file,
        std::env::var(key::KEY_ENV).ok(),
    )
    .wrap_err("loading the transaction key (chain.tx_key_file)")?;
    Ok((cfg, signer, tx))
}

/// What `init` takes from a deployer record: chain id, market, and the market's deployment
/// block (the first block the watcher needs to scan).
struct DeploymentInfo {
    chain_id: u64,
    market: Address,
    market_block: Option<u64>,
}

fn read_deployment(path: &Path) -> eyre::Result<DeploymentInfo> {
    let text = std::fs::read_to_string(path).wrap_err_with(|| format!("reading {}", path.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).wrap_err_with(|| format!("{} is not JSON", path.display()))?;
    let chain_id = doc["chainId"]
        .as_u64()
        .ok_or_else(|| eyre!("{}: no numeric `chainId`; not a deployment record", path.display()))?;
    let market = doc["contracts"]["market"]["address"]
        .as_str()
        .and_then(|a| a.parse::<Address>().ok())
        .ok_or_else(|| eyre!("{}: no `contracts.market.address`", path.display()))?;
    Ok(DeploymentInfo { chain_id, market, market_block: doc["contracts"]["market"]["block"].as_u64() })
}

async fn real_main(cli: Cli) -> eyre::Result<()> {
    match cli.cmd {
        Cmd::Init {
            config: cfg_path,
            key_file,
            chain_id,
            market,
            deployment,
            rpc_url,
            relayer,
            simulated,
        } => {
            if cfg_path.exists() {
                return Err(eyre!("{} already exists; refusing to overwrite it", cfg_path.display()));
            }
            let default_record = Path::new("deployments/devnet.json");
            let record = match (&deployment, market) {
                (Some(p), _) => Some(read_deployment(p)?),
                (None, None) if default_record.exists() => {
                    println!("using {}", default_record.display());
                    Some(read_deployment(default_record)?)
                }
                _ => None,
            };
            let market = market.or(record.as_ref().map(|r| r.market)).ok_or_else(|| {
                eyre!("no market address: pass --market 0x... or --deployment deployments/<network>.json")
            })?;
            let chain_id = chain_id.or(record.as_ref().map(|r| r.chain_id)).unwrap_or(412346);
            // The deployment block only applies to the deployment's own market.
            let start_block = record.as_ref().filter(|r| r.market == market).and_then(|r| r.market_block);
            let address = match std::env::var(key::KEY_ENV) {
                Ok(v) => {
                    println!("using the key from {} (no key file written)", key::KEY_ENV);
                    key::load(&key_file, Some(v))?.address()
                }
                Err(_) => {
                    let s = key::generate(&key_file)?;
                    println!("wrote {} (mode 0600)", key_file.display());
                    s.address()
                }
            };
            let meter = if simulated { MeterChoice::Simulated } else { MeterChoice::Nvml };
            let text = config::template(&config::Template {
                chain_id,
                market,
                rpc_url: &rpc_url,
                start_block,
                relayer: &relayer,
                meter,
                key_file: &key_file,
            });
            std::fs::write(&cfg_path, text).wrap_err_with(|| format!("writing {}", cfg_path.display()))?;
            println!("wrote {}\nprovider address: {address}", cfg_path.display());
        }
        Cmd::Run { config } => {
            let (cfg, signer, tx) = load(&config)?;
            let watch = cfg.chain.rpc_url.is_some();
            let node = Node::start_as(cfg, signer, tx.address())?;
            let watcher = if watch { Some(Watcher::new(node.clone(), tx)?) } else { None };
            node.run(watcher).await?;
        }
        Cmd::Status { config } => {
            let (cfg, signer, tx) = load(&config)?;
            if tx.address() == signer.address() {
                println!("provider:  {}", signer.address());
            } else {
                println!("provider:  {} (reports signed by {})", tx.address(), signer.address());
            }
            println!(
                "chain:     id {} market {} rpc {}",
                cfg.chain.chain_id,
                cfg.chain.market,
                cfg.chain.rpc_url.as_deref().unwrap_or("-")
            );
            match cfg.chain.rpc_url.as_deref() {
                None => println!("head:      - (no chain.rpc_url: the chain watcher is off)"),
                Some(url) => match chain::head(url).await {
                    Ok((id, head)) if id == cfg.chain.chain_id => println!("head:      block {head}"),
                    Ok((id, head)) => {
                        println!(
                            "head:      block {head} of chain {id}, NOT the configured chain {}",
                            cfg.chain.chain_id
                        )
                    }
                    Err(e) => println!("head:      unreachable: {e}"),
                },
            }
            let store = chain::ChainStore::new(&cfg.node.data_dir);
            match store.cursor() {
                Ok(Some(c)) if c.market == cfg.chain.market => {
                    println!("watcher:   next block to scan {}", c.next_block)
                }
                Ok(Some(c)) => {
                    println!("watcher:   cursor is for another market ({}); it starts over", c.market)
                }
                Ok(None) => println!("watcher:   has not scanned yet"),
                Err(e) => println!("watcher:   {e}"),
            }
            println!(
                "relayer:   {} (reports to /v1/reports, job specs from /v1/specs)",
                cfg.relayer.url.trim_end_matches('/')
            );
            match node::open_meter(&cfg) {
                Ok(m) => match m.gpus() {
                    Ok(gpus) => {
                        println!("meter:     {:?}, {} GPU(s)", m.kind(), gpus.len());
                        for g in &gpus {
                            let acct =
                                m.accounting_enabled(g).map(|b| if b { "on" } else { "off" }).unwrap_or("?");
                            let hash = market_protocol::report::gpu_uuid_hash(&g.uuid);
                            println!(
                                "  gpu {}: {} {} (accounting {acct}) gpuUuidHash {hash}",
                                g.index, g.uuid, g.name
                            );
                        }
                        let ev = provider_node::evidence::EvidenceSet::start(
                            &cfg.evidence,
                            m.clone(),
                            signer.address(),
                            gpus.first(),
                        );
                        match ev {
                            Ok(ev) => println!(
                                "evidence:  {:?}, evidenceDigest {} (register this in the registry)",
                                ev.kinds().iter().map(|k| k.as_str()).collect::<Vec<_>>(),
                                ev.digest()
                            ),
                            Err(e) => println!("evidence:  {e}"),
                        }
                    }
                    Err(e) => println!("meter:     {e}"),
                },
                Err(e) => println!("meter:     {e}"),
            }
            match provider_node::spool::Spool::open(&cfg.node.data_dir) {
                Ok(spool) => {
                    let all = spool.all().unwrap_or_default();
                    let n = |s: State| all.iter().filter(|(st, _)| *st == s).count();
                    println!(
                        "spool:     {} pending, {} sent, {} rejected",
                        n(State::Pending),
                        n(State::Sent),
                        n(State::Rejected)
                    );
                }
                Err(e) => println!("spool:     {e}"),
            }
            print_jobs(&cfg.node.data_dir, &store);
        }
        Cmd::Exec { config, job_id, gpus, time_limit_s, command } => {
            let (cfg, signer, tx) = load(&config)?;
            let node = Node::start_as(cfg, signer, tx.address())?;
            let (command, args) = command.split_first().ok_or_else(|| eyre!("no command given"))?;
            let spec = JobSpec {
                job_id,
                command: command.clone(),
                args: args.to_vec(),
                env: Default::default(),
                gpus,
                time_limit_s,
            };
            let record =
                node.execute(&spec).await?.ok_or_else(|| eyre!("the node has fewer than {gpus} GPU(s)"))?;
            println!("{}", serde_json::to_string_pretty(&record)?);
            match node.sender().send_pending().await {
                Ok(0) => println!("all reports acknowledged by the relayer"),
                Ok(n) => println!("{n} report(s) still pending in the spool (the relayer did not acknowledge); `run` keeps retrying"),
                Err(e) => println!("spool: {e}"),
            }
        }
        Cmd::VerifyReport { file, provider, signer } => {
            let bytes = std::fs::read(&file).wrap_err_with(|| format!("reading {}", file.display()))?;
            let s = market_protocol::SignedReport::from_json(&bytes)?;
            let signer = provider_node::verify::verify_signed_by(&s, signer.unwrap_or(s.report.provider))?;
            if let Some(p) = provider {
                if p != s.report.provider {
                    return Err(eyre!("the report is for provider {}, expected {p}", s.report.provider));
                }
            }
            println!(
                "OK report {} signed by {signer} for chain {} market {}; evidence {:?}; evidenceDigest {}",
                s.id(),
                s.domain.chain_id,
                s.domain.market,
                s.evidence.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
                s.report.evidenceDigest
            );
        }
    }
    Ok(())
}

/// The jobs the node knows, counted by phase and listed (newest last).
fn print_jobs(data_dir: &Path, store: &chain::ChainStore) {
    let known = store.jobs().unwrap_or_else(|e| {
        println!("jobs:      {e}");
        Default::default()
    });
    let ids = store.ids().unwrap_or_default();
    let phases: Vec<(U256, &str)> = ids
        .iter()
        .filter_map(|id| chain::job_phase(data_dir, *id, known.get(id)).map(|p| (*id, p)))
        .collect();
    let order =
        ["assigned", "accepted", "running", "reported", "refused", "expired", "closed", "interrupted"];
    let counts: Vec<String> =
        order.iter().map(|p| format!("{} {p}", phases.iter().filter(|(_, q)| q == p).count())).collect();
    println!("jobs:      {} known: {}", phases.len(), counts.join(", "));
    for (id, phase) in &phases {
        let why = known.get(id).and_then(|j| j.reason.clone()).map(|r| format!(" ({r})")).unwrap_or_default();
        let source = if known.contains_key(id) { "chain" } else { "local" };
        println!("  job {id}: {phase} [{source}]{why}");
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("provider-node: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(real_main(cli)) {
        // One line: the error and its causes joined.
        eprintln!("provider-node: {e:#}");
        std::process::exit(1);
    }
}
