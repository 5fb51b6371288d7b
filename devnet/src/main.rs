//! `devnet`: a local Arbitrum Stylus chain. Run `devnet --help`.

use std::net::{IpAddr, SocketAddr};

use clap::Parser;
use devnet::{
    accounts::dev_accounts,
    server::{spawn, DevnetConfig},
};

#[derive(Parser, Debug)]
#[command(name = "devnet", version, about = "A local Arbitrum Stylus chain in one process")]
struct Args {
    /// Port for JSON-RPC over HTTP.
    #[arg(long, default_value_t = 8547)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Chain id (412346 is the nitro dev node's).
    #[arg(long, default_value_t = 412346)]
    chain_id: u64,
    /// Interval mining: queue transactions and mine a block every SECS seconds (fractions
    /// allowed). Without it, every transaction is mined at once in its own block.
    #[arg(long, value_name = "SECS")]
    block_time: Option<f64>,
    /// Load the chain from FILE at start (when it exists) and save it there on shutdown
    /// (Ctrl-C or SIGTERM).
    #[arg(long, value_name = "FILE")]
    state: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let block_time = match args.block_time {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            eprintln!("devnet: --block-time must be a positive number of seconds");
            std::process::exit(2);
        }
        s => s.map(std::time::Duration::from_secs_f64),
    };
    let config = DevnetConfig {
        addr: SocketAddr::new(args.host, args.port),
        chain_id: args.chain_id,
        block_time,
        state_file: args.state.clone(),
    };
    let devnet = match spawn(config).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("devnet: {e} ({}:{})", args.host, args.port);
            std::process::exit(1);
        }
    };
    println!("devnet {} — chain id {}", env!("CARGO_PKG_VERSION"), args.chain_id);
    println!();
    println!("Available accounts (10000 ETH each)");
    println!("==================");
    for (i, a) in dev_accounts().iter().enumerate() {
        println!("({i}) {}  key 0x{}", a.address, alloy_primitives::hex::encode(a.key));
    }
    println!();
    println!("Account 0 is the nitro dev node's funded key; 1..10 are anvil's mnemonic accounts:");
    println!("  {}", devnet::accounts::DEV_MNEMONIC);
    println!();
    if let Some(p) = &args.state {
        println!("State file: {} (saved on shutdown)", p.display());
    }
    match args.block_time {
        Some(s) => println!("Interval mining: a block every {s} s"),
        None => println!("Automine: one block per transaction"),
    }
    println!("Listening on {} and {}", devnet.url(), devnet.ws_url());
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
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    match devnet.save_state() {
        Ok(Some(path)) => println!("\nSaved state to {}", path.display()),
        Ok(None) => {}
        Err(e) => {
            eprintln!("devnet: could not save state: {e}");
            std::process::exit(1);
        }
    }
}
