//! Crash safety of the real relayer binary against the real contracts on the devnet:
//! `kill -9` while a batch is submitted but its confirmation not yet recorded, restart,
//! and every report settles exactly once (one `ReportSettled` event each, the market's
//! nonce spent) with the queue ending `settled` for all; then repeated `kill -9`s at
//! arbitrary moments while reports flow, with the same outcome.

mod support;

use std::time::Duration;

use market_protocol::SignedReport;
use relayer::queue::{ReportQueue, ReportState, SqliteQueue};
use support::market::{Market, CHAIN_ID};
use support::relayer_bin::{free_port, start_relayer, wait_until};

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_batch_and_restart_settle_every_report_exactly_once() {
    let m = Market::start().await;
    let jobs = m.open_accepted_jobs(14).await;
    let reports: Vec<SignedReport> =
        jobs.iter().enumerate().map(|(i, j)| m.report(*j, 100 + i as u64)).collect();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("queue.sqlite");
    let config = dir.path().join("relayer.toml");
    let log = dir.path().join("relayer.log");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nchain_id = {CHAIN_ID}\nmarket = \"{market}\"\nregistry = \"{registry}\"\n\
             rpc_url = \"{url}\"\nprovider_cache_secs = 5\n\n[queue]\ndatabase = \"sqlite://{db}\"\n\n\
             [settlement]\nmax_batch = 3\nmax_wait_secs = 1\nconfirmations = 1\ncontract = \"{settlement}\"\n\
             replace_after_secs = 0\n\n[classes.\"H100-SXM5-80GB\"]\nallow_none = true\n",
            port = free_port(),
            market = m.market,
            registry = m.registry,
            url = m.url,
            db = db.display(),
            settlement = m.settlement,
        ),
    )
    .unwrap();
    let key = format!("0x{}", alloy_primitives::hex::encode(m.relayer_key.to_bytes()));
    let dump_log =
        || eprintln!("---- relayer log ----\n{}", std::fs::read_to_string(&log).unwrap_or_default());

    // Phase 1, deterministic: blocks stop, so the first batch is broadcast and stays
    // pending: submitted, not confirmed. Kill -9 there.
    let relayer = start_relayer(&config, &key, &log);
    m.set_automine(false).await;
    let (first, rest) = reports.split_at(6);
    for r in first {
        relayer.post(r);
    }
    wait_until("a batch submitted", Duration::from_secs(30), || {
        first.iter().filter(|r| relayer.status(r) == "submitted").count() == 3
    });
    relayer.kill_9();
    // The batch lands while the relayer is dead; its record still says `submitted`.
    m.mine().await;
    m.set_automine(true).await;
    {
        let q = SqliteQueue::open(&db).unwrap();
        let submitted = first
            .iter()
            .filter(|r| matches!(q.get(&r.id()).unwrap().unwrap().state, ReportState::Submitted { .. }));
        assert_eq!(submitted.count(), 3, "the crash left the batch unrecorded");
    }
    let relayer = start_relayer(&config, &key, &log);
    wait_until("phase 1 settled", Duration::from_secs(60), || {
        first.iter().all(|r| relayer.status(r) == "settled")
    });

    // Phase 2: kill -9 at arbitrary moments while the rest flows in and settles.
    for r in rest {
        relayer.post(r);
    }
    let mut relayer = relayer;
    for delay_ms in [150u64, 700, 1_300, 400, 2_100, 950] {
        std::thread::sleep(Duration::from_millis(delay_ms));
        relayer.kill_9();
        relayer = start_relayer(&config, &key, &log);
    }
    let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until("every report settled", Duration::from_secs(90), || {
            reports.iter().all(|r| relayer.status(r) == "settled")
        })
    }));
    if done.is_err() {
        dump_log();
        panic!("not every report settled");
    }
    relayer.kill_9();
    m.assert_settled_exactly_once(&db, &reports).await;
}
