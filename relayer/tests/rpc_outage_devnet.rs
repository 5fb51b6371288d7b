//! The RPC endpoint failing mid-batch, against the real contracts on the devnet and the real
//! `relayer` binary: its `rpc_url` points at a TCP proxy that the test cuts (open connections
//! shut down, new ones refused) and restores, as when a node restarts or a load balancer
//! drops the relayer. A batch is broadcast and then mined while the relayer cannot see the
//! chain; later outages hit at arbitrary moments while more reports flow. The relayer never
//! exits, and every report ends `settled` with exactly one `ReportSettled` event.
//!
//! (The devnet keeps its state in memory only, so "restarting the node" is modelled by the
//! proxy: what the relayer sees is the same, connection resets and refusals.)

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use market_protocol::SignedReport;
use support::market::Market;
use support::proxy::Proxy;
use support::relayer_bin::{free_port, start_relayer, wait_until, Relayer};

fn alive(relayer: &mut Relayer, log: &Path) {
    if !relayer.is_running() {
        panic!("the relayer exited:\n{}", std::fs::read_to_string(log).unwrap_or_default());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rpc_outages_mid_batch_lose_nothing_and_settle_every_report_once() {
    let m = Market::start().await;
    let jobs = m.open_accepted_jobs(10).await;
    let reports: Vec<SignedReport> =
        jobs.iter().enumerate().map(|(i, j)| m.report(*j, 200 + i as u64)).collect();
    let upstream: SocketAddr = m.url.trim_start_matches("http://").trim_end_matches('/').parse().unwrap();
    let proxy = Proxy::start(upstream);
    let dir = tempfile::tempdir().unwrap();
    let (db, config, log) =
        (dir.path().join("queue.sqlite"), dir.path().join("relayer.toml"), dir.path().join("relayer.log"));
    std::fs::write(&config, m.relayer_config(free_port(), &proxy.url(), &db, 2, "")).unwrap();
    let dump_log =
        || eprintln!("---- relayer log ----\n{}", std::fs::read_to_string(&log).unwrap_or_default());

    let mut relayer = start_relayer(&config, &m.relayer_key_hex(), &log);
    // Phase 1, deterministic: a batch is broadcast and pending (blocks stopped), the endpoint
    // goes away, the batch is mined while the relayer cannot see the chain.
    let (first, rest) = reports.split_at(4);
    m.set_automine(false).await;
    for r in first {
        relayer.post(r);
    }
    wait_until("a batch submitted", Duration::from_secs(30), || {
        first.iter().filter(|r| relayer.status(r) == "submitted").count() == 2
    });
    proxy.cut();
    m.mine().await;
    m.set_automine(true).await;
    let refused_before = proxy.refused.load(Ordering::SeqCst);
    wait_until("the relayer retrying against the dead endpoint", Duration::from_secs(30), || {
        proxy.refused.load(Ordering::SeqCst) >= refused_before + 3
    });
    alive(&mut relayer, &log);
    // The API keeps answering from the queue; nothing moved while the chain was out of sight.
    assert_eq!(first.iter().filter(|r| relayer.status(r) == "submitted").count(), 2);
    proxy.restore();
    let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until("phase 1 settled", Duration::from_secs(90), || {
            first.iter().all(|r| relayer.status(r) == "settled")
        })
    }));
    if done.is_err() {
        dump_log();
        panic!("phase 1 did not settle after the endpoint came back");
    }

    // Phase 2: outages at arbitrary moments while the rest flows in and settles.
    for r in rest {
        relayer.post(r);
    }
    for (up_ms, down_ms) in [(300u64, 1_500u64), (1_200, 800), (500, 2_500), (2_000, 400), (700, 1_000)] {
        std::thread::sleep(Duration::from_millis(up_ms));
        proxy.cut();
        std::thread::sleep(Duration::from_millis(down_ms));
        alive(&mut relayer, &log);
        proxy.restore();
    }
    let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until("every report settled", Duration::from_secs(120), || {
            reports.iter().all(|r| relayer.status(r) == "settled")
        })
    }));
    if done.is_err() {
        dump_log();
        panic!("not every report settled");
    }
    alive(&mut relayer, &log);
    assert!(proxy.refused.load(Ordering::SeqCst) > refused_before, "the outages were seen by the relayer");
    let status = relayer.terminate(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "clean exit on SIGTERM: {status:?}");
    m.assert_settled_exactly_once(&db, &reports).await;
}
