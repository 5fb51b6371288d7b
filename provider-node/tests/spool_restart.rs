//! Spool durability end to end: the node is SIGKILLed after the report is on disk but before
//! any relayer acknowledged it; after a restart it is sent, exactly once, under the same id.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use market_protocol::SignedReport;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Relayer {
    /// While true, requests are held open forever (the node is mid-send when killed).
    hang: AtomicBool,
    requests: AtomicUsize,
    acked: Mutex<HashMap<String, usize>>,
}

async fn receive(State(r): State<Arc<Relayer>>, body: Bytes) -> (StatusCode, String) {
    let report = match SignedReport::from_json(&body) {
        Ok(s) => s,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()),
    };
    r.requests.fetch_add(1, Ordering::SeqCst);
    if r.hang.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    let mut acked = r.acked.lock().unwrap();
    let n = acked.entry(report.id().to_string()).or_default();
    *n += 1;
    if *n == 1 {
        (StatusCode::ACCEPTED, "stored".into())
    } else {
        (StatusCode::CONFLICT, "already have it".into())
    }
}

fn files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_spool_and_ack_is_sent_once_after_restart() {
    let relayer = Arc::new(Relayer::default());
    relayer.hang.store(true, Ordering::SeqCst);
    let app = axum::Router::new().route("/v1/reports", post(receive)).with_state(relayer.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(dir.path(), &url, "kind = \"simulated\"\nsample_interval_ms = 50", "");
    let data = dir.path().join("data");
    let start = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_provider-node"))
            .args(["run", "--config"])
            .arg(&cfg)
            .env_remove("PROVIDER_NODE_KEY")
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap()
    };

    let mut node = start();
    wait_for("the inbox", Duration::from_secs(20), || data.join("inbox").is_dir());
    std::fs::write(
        data.join("inbox/job-31.toml"),
        "job_id = \"31\"\ncommand = \"sleep\"\nargs = [\"0.3\"]\n",
    )
    .unwrap();
    let pending = data.join("spool/pending");
    let r = relayer.clone();
    tokio::task::spawn_blocking(move || {
        wait_for("the report in the spool and a send in flight", Duration::from_secs(20), || {
            files(&pending).len() == 1 && r.requests.load(Ordering::SeqCst) >= 1
        })
    })
    .await
    .unwrap();
    node.kill().unwrap(); // SIGKILL: no clean shutdown
    node.wait().unwrap();
    let spooled = files(&data.join("spool/pending"));
    assert_eq!(spooled.len(), 1, "the report survived the kill");
    assert!(relayer.acked.lock().unwrap().is_empty(), "nothing was acknowledged before the kill");

    relayer.hang.store(false, Ordering::SeqCst);
    let mut node = start();
    let d = data.clone();
    tokio::task::spawn_blocking(move || {
        wait_for("the report to be acknowledged", Duration::from_secs(20), || {
            files(&d.join("spool/pending")).is_empty() && files(&d.join("spool/sent")).len() == 1
        });
        std::thread::sleep(Duration::from_millis(800)); // any duplicate send would land here
    })
    .await
    .unwrap();
    node.kill().unwrap();
    node.wait().unwrap();

    let acked = relayer.acked.lock().unwrap().clone();
    let id = spooled[0].trim_end_matches(".json").to_string();
    assert_eq!(acked.len(), 1, "one report id ever reached the relayer: {acked:?}");
    assert_eq!(acked.get(&id), Some(&1), "acknowledged exactly once, under the spooled id: {acked:?}");
    assert_eq!(files(&data.join("spool/sent")), vec![format!("{id}.json")]);
    // The job was not run again after the restart (it left the inbox before it ran).
    assert!(files(&data.join("inbox")).iter().all(|f| !f.ends_with(".toml")));
}
