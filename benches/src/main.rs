//! Issue #11 benchmarks, printed as markdown tables on stdout:
//!
//! - `gas`: our AMM against Uniswap V2 on the same in-process devnet, then the vault, market
//!   and `settleBatch` (1, 10, 100 real signed reports) on the same deployment;
//! - `relayer`: reports verified per second in process (none / TDX / SNP evidence), reports
//!   accepted per second over HTTP with a durable SQLite commit, and report-to-settlement
//!   latency with simulated provider nodes and a relayer settling on the devnet;
//! - `node`: CPU share of the provider node's metering loop at 1 Hz and 10 Hz;
//! - `sizes` and `devnet`: run `xtask sizes` and the devnet's own throughput example.

// The generated `sol!` bindings of 8-argument functions (addLiquidity, listClass, ...).
#![allow(clippy::too_many_arguments)]

mod amm;
mod cpu;
mod market_gas;
mod node_bench;
mod relayer_bench;
mod system;

use std::{path::PathBuf, process::ExitCode};

use alloy::sol;
use clap::{Parser, Subcommand};
use eyre::{bail, Result};

sol!(
    #[sol(rpc)]
    "../abi/IAmm.sol"
);
sol!(
    #[sol(rpc)]
    "../abi/IMockErc20.sol"
);

#[derive(Parser)]
#[command(about = "Benchmarks for issue #11; prints markdown tables")]
struct Cli {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Gas of every AMM call against Uniswap V2, then vault, market and settlement calls.
    Gas {
        /// Folder with the contracts' release wasm (default: the workspace's build output).
        #[arg(long)]
        wasm_dir: Option<PathBuf>,
        /// Folder with Uniswap V2's compiled build/*.json (npm @uniswap/v2-core).
        #[arg(long)]
        uniswap_build: Option<PathBuf>,
        /// Only the vault / market / settlement tables.
        #[arg(long)]
        skip_amm: bool,
    },
    /// Relayer throughput and report-to-settlement latency.
    Relayer {
        /// Folder with the contracts' release wasm (latency part; default: built).
        #[arg(long)]
        wasm_dir: Option<PathBuf>,
        /// Seconds each throughput measurement runs.
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
        /// Concurrent HTTP clients.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Simulated provider nodes in the latency run.
        #[arg(long, default_value_t = 4)]
        nodes: usize,
        /// Reports per second each node posts in the latency run.
        #[arg(long, default_value_t = 2.0)]
        rate: f64,
        /// Seconds the latency run's load lasts.
        #[arg(long, default_value_t = 20.0)]
        load_secs: f64,
        /// Skip the on-chain latency run.
        #[arg(long)]
        skip_latency: bool,
    },
    /// CPU share of the provider node's metering loop.
    Node {
        /// Wall seconds of each window.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
    },
    /// Contract sizes (runs `cargo run -p xtask -- sizes --no-build`).
    Sizes,
    /// Devnet transfers/s and Stylus calls/s (runs the devnet's `bench` example, release).
    Devnet {
        /// Transactions per row.
        #[arg(default_value_t = 500)]
        n: usize,
    },
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let r = match cli.what {
        What::Gas { wasm_dir, uniswap_build, skip_amm } => gas(wasm_dir, uniswap_build, skip_amm).await,
        What::Relayer { wasm_dir, secs, clients, nodes, rate, load_secs, skip_latency } => {
            relayer_bench::run(relayer_bench::Options {
                wasm_dir,
                secs,
                clients,
                nodes,
                rate,
                load_secs,
                skip_latency,
            })
            .await
        }
        What::Node { secs } => node_bench::run(secs).await,
        What::Sizes => cargo(&["run", "-q", "-p", "xtask", "--", "sizes", "--no-build"], &[]),
        What::Devnet { n } => cargo(
            &["run", "-q", "-p", "devnet", "--release", "--example", "bench", "--", &n.to_string()],
            // As devnet/examples/bench.rs documents: a release build without LTO.
            &[("CARGO_PROFILE_RELEASE_LTO", "false"), ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")],
        ),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Which cargo profile this binary was built with, for the tables.
pub fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "dev (opt-level 1)"
    } else {
        "release"
    }
}

fn cargo(args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let status = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(deployer::workspace_root())
        .args(args)
        .envs(env.iter().copied())
        .status()?;
    if !status.success() {
        bail!("cargo {} failed: {status}", args.join(" "));
    }
    Ok(())
}

async fn gas(wasm_dir: Option<PathBuf>, uniswap_build: Option<PathBuf>, skip_amm: bool) -> Result<()> {
    let s = system::System::start(wasm_dir).await?;
    if !skip_amm {
        amm::measure(&s, uniswap_build).await?;
        println!();
    }
    let m = market_gas::measure(&s).await?;
    market_gas::print(&m);
    Ok(())
}
