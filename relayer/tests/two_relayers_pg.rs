//! Two relayer binaries, each with its own authorised key, sharing one PostgreSQL queue
//! (a real server) and settling into the real contracts on the devnet: reports posted to
//! either instance all settle, each exactly once (one `ReportSettled` event, one settled
//! row), however the two split the batches.

mod support;

use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use market_protocol::bindings::Registry;
use market_protocol::SignedReport;
use relayer::queue::{PostgresOptions, PostgresQueue, ReportQueue, ReportState};
use support::market::{Market, CHAIN_ID};
use support::pg::PgServer;
use support::relayer_bin::{free_port, start_relayer, wait_until};

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_one_postgres_settle_every_report_exactly_once() {
    let m = Market::start().await;
    // A second relayer key, authorised by the registry's owner (the deployer).
    let second: PrivateKeySigner = devnet::accounts::ANVIL_KEYS[5].parse().unwrap();
    let owner: PrivateKeySigner = devnet::accounts::NITRO_DEV_KEY.parse().unwrap();
    let as_owner = ProviderBuilder::new()
        .wallet(EthereumWallet::from(owner))
        .connect_http(m.url.parse().unwrap())
        .erased();
    let r = Registry::new(m.registry, &as_owner).setRelayer(second.address(), true).send().await.unwrap();
    assert!(r.get_receipt().await.unwrap().status(), "setRelayer");

    let jobs = m.open_accepted_jobs(12).await;
    let reports: Vec<SignedReport> =
        jobs.iter().enumerate().map(|(i, j)| m.report(*j, 500 + i as u64)).collect();
    let pg = PgServer::start();
    let url = pg.fresh_database("relayers");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("relayers.log");
    let config = |name: &str| {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "listen = \"127.0.0.1:{port}\"\nchain_id = {CHAIN_ID}\nmarket = \"{market}\"\nregistry = \"{registry}\"\n\
                 rpc_url = \"{rpc}\"\nprovider_cache_secs = 5\n\n[queue]\ndatabase = \"{url}\"\ninstance = \"{name}\"\n\n\
                 [settlement]\nmax_batch = 2\nmax_wait_secs = 1\nconfirmations = 1\ncontract = \"{settlement}\"\n\n\
                 [classes.\"H100-SXM5-80GB\"]\nallow_none = true\n",
                port = free_port(),
                market = m.market,
                registry = m.registry,
                rpc = m.url,
                settlement = m.settlement,
            ),
        )
        .unwrap();
        path
    };
    let key = |k: &PrivateKeySigner| format!("0x{}", alloy_primitives::hex::encode(k.to_bytes()));
    let a = start_relayer(&config("a"), &key(&m.relayer_key), &log);
    let b = start_relayer(&config("b"), &key(&second), &log);
    for (i, r) in reports.iter().enumerate() {
        if i % 2 == 0 {
            a.post(r)
        } else {
            b.post(r)
        }
    }
    let settled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until("every report settled", Duration::from_secs(120), || {
            reports.iter().all(|r| a.status(r) == "settled" && b.status(r) == "settled")
        })
    }));
    if settled.is_err() {
        eprintln!("---- relayer logs ----\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        panic!("not every report settled");
    }
    a.kill_9();
    b.kill_9();

    let queue = PostgresQueue::connect(PostgresOptions::new(&url, "check")).unwrap();
    let mut senders = std::collections::BTreeSet::new();
    for r in &reports {
        let events = m.settled_events(r).await;
        assert_eq!(events.len(), 1, "report {} settled {} times", r.id(), events.len());
        let (tx, block) = (events[0].transaction_hash.unwrap(), events[0].block_number.unwrap());
        assert_eq!(queue.get(&r.id()).unwrap().unwrap().state, ReportState::Settled { tx_hash: tx, block });
        let sent = m.rpc.get_transaction_by_hash(tx).await.unwrap().unwrap();
        senders.insert(sent.inner.signer());
    }
    assert_eq!(queue.counts().unwrap(), vec![("settled".to_string(), reports.len() as u64)]);
    // Both keys are allowed; which one sent what depends on timing.
    assert!(senders.iter().all(|s| *s == m.relayer_key.address() || *s == second.address()), "{senders:?}");
    eprintln!("batches sent by {} instance(s)", senders.len());
}
