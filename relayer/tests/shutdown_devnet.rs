//! Graceful shutdown of the real `relayer` binary against the real contracts on the devnet:
//! SIGTERM with a batch submitted and pending makes it stop accepting connections, finish the
//! settlement step and exit with status 0 (not die from the signal); what it committed stays
//! committed, and after a restart every report settles exactly once. Ctrl-C (SIGINT) also
//! stops it cleanly.

mod support;

use std::time::Duration;

use market_protocol::SignedReport;
use relayer::queue::{ReportQueue, ReportState, SqliteQueue};
use support::market::Market;
use support::relayer_bin::{free_port, http, start_relayer, wait_until};

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_batch_exits_0_and_a_restart_settles_everything_once() {
    let m = Market::start().await;
    let jobs = m.open_accepted_jobs(6).await;
    let reports: Vec<SignedReport> =
        jobs.iter().enumerate().map(|(i, j)| m.report(*j, 300 + i as u64)).collect();
    let dir = tempfile::tempdir().unwrap();
    let (db, config, log) =
        (dir.path().join("queue.sqlite"), dir.path().join("relayer.toml"), dir.path().join("relayer.log"));
    std::fs::write(&config, m.relayer_config(free_port(), &m.url, &db, 3, "")).unwrap();
    let key = m.relayer_key_hex();
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();

    let relayer = start_relayer(&config, &key, &log);
    let addr = relayer.addr.clone();
    let (first, rest) = reports.split_at(3);
    m.set_automine(false).await;
    for r in first {
        relayer.post(r);
    }
    wait_until("a batch submitted", Duration::from_secs(30), || {
        first.iter().all(|r| relayer.status(r) == "submitted")
    });
    let status = relayer.terminate(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM: {status:?}\n{}", read_log());
    let text = read_log();
    assert!(text.contains("SIGTERM") && text.contains("relayer stopped"), "clean shutdown logged:\n{text}");
    assert!(http(&addr, "GET", "/healthz", b"").is_err(), "the port is closed after exit");
    {
        let q = SqliteQueue::open(&db).unwrap();
        for r in first {
            assert!(
                matches!(q.get(&r.id()).unwrap().unwrap().state, ReportState::Submitted { .. }),
                "what was committed before the signal is still there"
            );
        }
    }

    m.mine().await;
    m.set_automine(true).await;
    let relayer = start_relayer(&config, &key, &log);
    for r in rest {
        relayer.post(r);
    }
    wait_until("every report settled", Duration::from_secs(90), || {
        reports.iter().all(|r| relayer.status(r) == "settled")
    });
    // Ctrl-C (SIGINT) is a clean stop too.
    let status = relayer.signal("INT", Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "exit status after SIGINT: {status:?}");
    m.assert_settled_exactly_once(&db, &reports).await;
}
