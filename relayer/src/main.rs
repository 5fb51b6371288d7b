//! `relayer run --config relayer.toml`: the HTTP API, the durable queue and (when a key is
//! configured) the settlement loop, in one process.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use market_protocol::MarketDomain;
use relayer::chain::AlloyChain;
use relayer::config::Config;
use relayer::directory::RegistryDirectory;
use relayer::metrics::Metrics;
use relayer::pipeline::Intake;
use relayer::queue::{PostgresOptions, PostgresQueue, QueueLocation, ReportQueue, SqliteQueue};
use relayer::settlement::{self, BatchPolicy};

#[derive(Parser)]
#[command(name = "relayer", about = "Verifies usage reports and TEE evidence and settles them on chain")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and settle queued reports.
    Run {
        /// Config file (TOML); RELAYER_* environment variables override its values.
        #[arg(long, default_value = "relayer.toml")]
        config: PathBuf,
    },
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,relayer=info".into()),
        )
        .init();
    let Cli { command: Command::Run { config } } = Cli::parse();
    run(config).await
}

async fn run(config_path: PathBuf) -> Result<()> {
    let signal = shutdown_signal();
    let env: HashMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("RELAYER_")).collect();
    let text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("reading config {}", config_path.display()))?;
    let config = Config::from_toml_and_env(&text, &env)
        .with_context(|| format!("config {}", config_path.display()))?;
    let key = config.relayer_key(&env).context("relayer key")?;

    let collateral = config.collateral.source()?;
    if let Some(p) = &collateral.pccs {
        tracing::info!(pccs = p.base_url(), "TDX collateral from the PCCS, cached on disk");
    }
    if let Some(k) = &collateral.kds {
        tracing::info!(kds = k.base_url(), "SEV-SNP VCEKs from the AMD KDS, cached on disk");
    }
    let location = config.queue_location()?;
    let queue: Arc<dyn ReportQueue> = match &location {
        QueueLocation::Sqlite(path) => Arc::new(
            SqliteQueue::open(path).with_context(|| format!("opening queue {}", location.redacted()))?,
        ),
        QueueLocation::Postgres(url) => {
            let instance = config.instance_name();
            tracing::info!(%instance, "shared PostgreSQL queue");
            let queue = PostgresQueue::connect(PostgresOptions {
                url: url.clone(),
                instance,
                claim_secs: config.queue.claim_secs,
                connections: config.queue.connections,
            });
            Arc::new(queue.with_context(|| format!("opening queue {}", location.redacted()))?)
        }
    };
    let rpc_url = config.rpc_url.parse().with_context(|| format!("rpc_url {:?}", config.rpc_url))?;
    // A timeout on every RPC call: a node that stops answering (a black-holed connection)
    // must fail the settlement step, which then retries, instead of hanging it.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(config.rpc_timeout_secs.max(1)))
        .build()
        .context("RPC HTTP client")?;
    let chain = ProviderBuilder::new().connect_reqwest(http, rpc_url).erased();
    let directory = RegistryDirectory::new(
        chain.clone(),
        config.market,
        config.registry,
        Duration::from_secs(config.provider_cache_secs),
    );
    let intake = Arc::new(Intake {
        domain: MarketDomain::new(config.chain_id, config.market),
        policies: config.policies_by_class_id(),
        collateral: Arc::new(collateral),
        directory: Arc::new(directory),
        queue: queue.clone(),
        metrics: Arc::new(Metrics::default()),
        clock: Arc::new(unix_now),
    });
    // Reports left `received` (a crash mid-verification, or the registry unreachable then)
    // are verified now and re-tried every 30 s.
    let sweeper = intake.clone();
    tokio::spawn(async move {
        let mut min_age = 0; // at start-up nothing is in flight
        loop {
            match sweeper.recover_received(min_age).await {
                Ok(n) if n > 0 => tracing::info!(reports = n, "verified reports left unverified"),
                Ok(_) => {}
                Err(r) => tracing::warn!(code = r.code, message = %r.message, "re-verification deferred"),
            }
            min_age = 60;
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    });

    // Shutdown (SIGTERM, Ctrl-C): stop accepting connections, let requests in flight finish,
    // let the settlement loop finish (or, after a grace period, abandon) its current step.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let settler = match (key, config.settlement.enabled) {
        (Some(key), true) => {
            let signer = PrivateKeySigner::from_bytes(key.expose()).context("relayer key")?;
            let chain = AlloyChain::new(
                chain.clone(),
                signer,
                config.settlement.contract.unwrap_or(config.market),
                config.chain_id,
                config.settlement.confirmations,
            )
            .with_bump_percent(config.settlement.fee_bump_percent)
            .with_lookback_blocks(config.settlement.lookback_blocks)
            .with_max_fee_cap(Some(u128::from(config.settlement.max_fee_per_gas_cap)));
            tracing::info!(relayer = %chain.relayer_address(), "settling as this relayer");
            let policy = BatchPolicy {
                max_batch: config.settlement.max_batch,
                max_wait_secs: config.settlement.max_wait_secs,
                replace_after_secs: config.settlement.replace_after_secs,
            };
            Some(tokio::spawn(settlement::run(
                queue.clone(),
                Arc::new(chain),
                policy,
                intake.clock.clone(),
                intake.metrics.clone(),
                stop_rx,
                SETTLEMENT_GRACE,
            )))
        }
        (None, true) => {
            tracing::warn!("no relayer key (RELAYER_KEY or settlement.key_file): not settling");
            None
        }
        (_, false) => {
            tracing::info!("settlement disabled by config");
            None
        }
    };

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(listen = %listener.local_addr()?, chain_id = config.chain_id, market = %config.market, "relayer up");
    axum::serve(listener, relayer::api::router(intake))
        .with_graceful_shutdown(async move {
            let signal = signal.await;
            tracing::info!(
                signal,
                "shutting down: no new connections, finishing requests and the settlement step"
            );
            let _ = stop_tx.send(true);
        })
        .await
        .context("serving")?;
    if let Some(settler) = settler {
        // The loop itself bounds its last step by SETTLEMENT_GRACE; this only guards a hang.
        match tokio::time::timeout(SETTLEMENT_GRACE + Duration::from_secs(5), settler).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "settlement task failed"),
            Err(_) => tracing::warn!("settlement loop did not stop in time; abandoning it"),
        }
    }
    tracing::info!("relayer stopped");
    Ok(())
}

/// How long the settlement step in progress may take once a shutdown is asked for.
const SETTLEMENT_GRACE: Duration = Duration::from_secs(10);

/// Resolves on SIGTERM or SIGINT (Ctrl-C) and names the signal. The handlers are installed
/// when this is called (at start-up), not when it is first awaited, so a SIGTERM during
/// start-up is not fatal either.
fn shutdown_signal() -> impl std::future::Future<Output = &'static str> {
    #[cfg(unix)]
    let term = {
        use tokio::signal::unix::{signal, SignalKind};
        signal(SignalKind::terminate())
            .map_err(|e| tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the relayer cleanly"))
            .ok()
    };
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            return tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = ctrl_c => "SIGINT",
            };
        }
        let _ = ctrl_c.await;
        "SIGINT"
    }
}
