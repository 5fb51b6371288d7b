//! `provider-node`: init, run, status, exec (one job now), verify-report.

use alloy::primitives::{Address, U256};
use clap::{Parser, Subcommand};
use eyre::{eyre, WrapErr};
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
    Init {
        #[arg(long, default_value = "provider.toml")]
        config: PathBuf,
        #[arg(long, default_value = "provider.key")]
        key_file: PathBuf,
        #[arg(long, default_value_t = 412346)]
        chain_id: u64,
        #[arg(long, default_value = "0x0000000000000000000000000000000000000001")]
        market: Address,
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
        /// Also require this signer.
        #[arg(long)]
        provider: Option<Address>,
    },
}

fn load(path: &Path) -> eyre::Result<(Config, alloy::signers::local::PrivateKeySigner)> {
    let cfg = Config::load(path, std::env::vars())?;
    let signer = key::load(&cfg.node.key_file, std::env::var(key::KEY_ENV).ok())?;
    Ok((cfg, signer))
}

async fn real_main(cli: Cli) -> eyre::Result<()> {
    match cli.cmd {
        Cmd::Init { config: cfg_path, key_file, chain_id, market, relayer, simulated } => {
            if cfg_path.exists() {
                return Err(eyre!("{} already exists; refusing to overwrite it", cfg_path.display()));
            }
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
            std::fs::write(&cfg_path, config::template(chain_id, market, &relayer, meter, &key_file))
                .wrap_err_with(|| format!("writing {}", cfg_path.display()))?;
            println!("wrote {}\nprovider address: {address}", cfg_path.display());
        }
        Cmd::Run { config } => {
            let (cfg, signer) = load(&config)?;
            let node = Node::start(cfg, signer)?;
            node.run().await?;
        }
        Cmd::Status { config } => {
            let (cfg, signer) = load(&config)?;
            println!("provider:  {}", signer.address());
            println!(
                "chain:     id {} market {} rpc {}",
                cfg.chain.chain_id,
                cfg.chain.market,
                cfg.chain.rpc_url.as_deref().unwrap_or("-")
            );
            println!("relayer:   {}/v1/reports", cfg.relayer.url.trim_end_matches('/'));
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
            let jobs = cfg.node.data_dir.join("jobs");
            let count = std::fs::read_dir(&jobs).map(|d| d.count()).unwrap_or(0);
            println!("jobs:      {count} in {}", jobs.display());
            println!(
                "chain watcher: not built yet (jobs enter through {}/inbox or `exec`)",
                cfg.node.data_dir.display()
            );
        }
        Cmd::Exec { config, job_id, gpus, time_limit_s, command } => {
            let (cfg, signer) = load(&config)?;
            let node = Node::start(cfg, signer)?;
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
        Cmd::VerifyReport { file, provider } => {
            let bytes = std::fs::read(&file).wrap_err_with(|| format!("reading {}", file.display()))?;
            let s = market_protocol::SignedReport::from_json(&bytes)?;
            let signer = provider_node::verify::verify(&s)?;
            if let Some(p) = provider {
                if p != signer {
                    return Err(eyre!("signed by {signer}, expected {p}"));
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
