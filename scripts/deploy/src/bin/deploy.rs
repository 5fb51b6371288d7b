//! `deploy`: deploys and wires the contracts on a configured network and writes
//! `deployments/<network>.json`. Run `deploy --help`.

use std::path::PathBuf;

use alloy::primitives::Address;
use anyhow::{bail, Context, Result};
use clap::Parser;
use deployer::{
    config::Config,
    deploy::{deploy, Request},
    dry_run, network,
    plan::Env,
    record::Deployment,
    wasm::{self, WasmSource},
};

#[derive(Parser, Debug)]
#[command(
    name = "deploy",
    about = "Deploy, activate and wire the Stylus contracts; write deployments/<network>.json"
)]
struct Args {
    /// Network from the config: `devnet` or `arbitrum-sepolia`.
    #[arg(long, default_value = "devnet")]
    network: String,
    /// Configuration file.
    #[arg(long, default_value = "deployments/config.toml")]
    config: PathBuf,
    /// Print the plan, the estimated fees and the balance needed; send nothing. Needs no
    /// key; without a reachable RPC endpoint it prints sizes and gas only.
    #[arg(long)]
    dry_run: bool,
    /// Override the RPC URL (otherwise the network's env variable, then the config).
    #[arg(long)]
    rpc_url: Option<String>,
    /// Use prebuilt wasm from this folder instead of building with cargo.
    #[arg(long)]
    wasm_dir: Option<PathBuf>,
    /// Deployer address for the dry run's balance check when no key is set.
    #[arg(long)]
    from: Option<Address>,
    /// Where to write the record (default: deployments/<network>.json next to the config).
    #[arg(long)]
    out: Option<PathBuf>,
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
        eprintln!("deploy: {e:#}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<()> {
    let config = Config::load(&args.config)?;
    let path = args.config.display().to_string();
    let net = config.network(&args.network, &path)?.clone();
    let out = args.out.clone().unwrap_or_else(|| {
        args.config.parent().unwrap_or(std::path::Path::new(".")).join(format!("{}.json", net.name))
    });
    let signer = network::signer(&net)?;
    let rpc_url = match &args.rpc_url {
        Some(u) => Some(u.clone()),
        None => network::rpc_url(&net).ok(),
    };
    let probe = Env { owner: Address::ZERO, treasury: Address::ZERO, config: &config, network: &net };
    let source = match &args.wasm_dir {
        Some(d) => WasmSource::Dir(d.clone()),
        None => WasmSource::Build { workspace: deployer::workspace_root() },
    };
    println!("Loading the contracts' wasm...");
    let wasm = wasm::load(&source, &deployer::packages(&probe))?;
    let previous = Deployment::load(&out)?;

    if args.dry_run {
        let from = args.from.or(signer.as_ref().map(|s| s.address()));
        let rpc = match &rpc_url {
            Some(u) => Some(network::read_provider(u)?),
            None => None,
        };
        // An unreachable endpoint makes the dry run offline rather than failing it.
        let reachable = match &rpc {
            Some(p) => alloy::providers::Provider::get_chain_id(p)
                .await
                .ok()
                .map(|id| id == net.chain_id)
                .unwrap_or(false),
            None => false,
        };
        if rpc.is_some() && !reachable {
            println!(
                "(RPC endpoint {} not reachable or on another chain: offline dry run)",
                rpc_url.as_deref().unwrap_or("")
            );
        }
        let rpc = rpc.filter(|_| reachable);
        let report = dry_run::dry_run(&config, &net, &wasm, rpc.as_ref(), from, previous.as_ref()).await;
        print!("{}", dry_run::render(&report, &net, rpc.as_ref().and(rpc_url.as_deref()), from));
        return Ok(());
    }

    let Some(url) = rpc_url else { bail!(network::rpc_url(&net).unwrap_err()) };
    let signer = match signer {
        Some(s) => s,
        None => network::require_signer(&net)?,
    };
    let deployer = signer.address();
    let provider = network::signing_provider(&url, signer)?;
    println!("Deploying to `{}` at {url} as {deployer}", net.name);
    let log = |line: String| println!("{line}");
    let (record, summary) = deploy(
        &provider,
        Request { config: &config, network: &net, deployer, wasm: &wasm, previous: previous.as_ref() },
        &log,
    )
    .await
    .with_context(|| format!("deploying to {}", net.name))?;
    record.save(&out)?;
    println!(
        "Done: {} deployed, {} already on chain, {} wiring calls sent, {} already done. Wrote {}",
        summary.deployed.len(),
        summary.skipped.len(),
        summary.wiring_sent,
        summary.wiring_skipped,
        out.display()
    );
    Ok(())
}
