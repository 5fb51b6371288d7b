//! Crash recovery end to end: the node binary is SIGKILLed while a 2-GPU job's process runs;
//! after a restart the orphaned process is killed, the job's final reports are built from the
//! samples the node persisted, spooled once and delivered once; the job is not re-run.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use market_protocol::SignedReport;
use provider_node::reporting::FINAL_NONCE_BIT;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Relayer {
    acked: Mutex<HashMap<String, usize>>,
}

async fn receive(State(r): State<Arc<Relayer>>, body: Bytes) -> (StatusCode, String) {
    let report = match SignedReport::from_json(&body) {
        Ok(s) => s,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()),
    };
    let mut acked = r.acked.lock().unwrap();
    let n = acked.entry(report.id().to_string()).or_default();
    *n += 1;
    if *n == 1 {
        (StatusCode::ACCEPTED, "stored".into())
    } else {
        (StatusCode::CONFLICT, "already have it".into())
    }
}

/// Kills the node (and the job's process, if it is still there) when the test ends, passed
/// or failed.
struct Procs {
    node: Option<Child>,
    job_pid: Option<u32>,
}

impl Procs {
    fn kill_node(&mut self) {
        if let Some(mut n) = self.node.take() {
            let _ = n.kill(); // SIGKILL: no clean shutdown
            let _ = n.wait();
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        self.kill_node();
        if let Some(pid) = self.job_pid {
            if provider_node::recovery::is_alive(pid) {
                let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            }
        }
    }
}

fn wait_for<T>(what: &str, limit: Duration, mut cond: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn reports(data: &Path) -> Vec<(String, SignedReport)> {
    let mut out = Vec::new();
    for st in ["pending", "sent", "rejected"] {
        let Ok(dir) = std::fs::read_dir(data.join("spool").join(st)) else { continue };
        for e in dir.flatten() {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) == Some("json") {
                out.push((st.to_string(), SignedReport::from_json(&std::fs::read(&p).unwrap()).unwrap()));
            }
        }
    }
    out
}

fn record_status(job_dir: &Path) -> Option<String> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(job_dir.join("record.json")).ok()?).ok()?;
    v.get("status").and_then(|s| s.as_str()).map(str::to_string)
}

#[test]
fn killed_mid_job_reports_the_metered_part_once_after_restart() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let relayer = Arc::new(Relayer::default());
    let app = axum::Router::new().route("/v1/reports", post(receive)).with_state(relayer.clone());
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(
        dir.path(),
        &url,
        "kind = \"simulated\"\nsample_interval_ms = 50\n[meter.simulated]\ngpus = 2\nutil_pct = 85\npower_watts = 300",
        "",
    );
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
    let mut procs = Procs { node: Some(start()), job_pid: None };
    wait_for("the inbox", Duration::from_secs(20), || data.join("inbox").is_dir().then_some(()));
    // The job appends its pid to `runs` (in its job directory) each time it starts.
    std::fs::write(
        data.join("inbox/job-41.toml"),
        "job_id = \"41\"\ngpus = 2\ncommand = \"sh\"\nargs = [\"-c\", \"echo $$ >> runs; exec sleep 60\"]\n",
    )
    .unwrap();
    let job = data.join("jobs/41");
    let pid: u32 = wait_for("the job's pid", Duration::from_secs(20), || {
        std::fs::read_to_string(job.join("pid")).ok()?.trim().parse().ok()
    });
    procs.job_pid = Some(pid);
    // At least 1.5 s metered and persisted, so the recovered report claims > 0 GPU seconds.
    let samples = job.join("samples.jsonl");
    wait_for("1.5 s of persisted samples", Duration::from_secs(20), || {
        let text = std::fs::read_to_string(&samples).ok()?;
        let t: Vec<u64> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?.get("t_ms")?.as_u64())
            .collect();
        (t.len() >= 2 && t[t.len() - 1] - t[0] >= 1500).then_some(())
    });
    procs.kill_node();
    let killed_at_ms = provider_node::meter::sampler::now_ms();
    assert!(provider_node::recovery::is_alive(pid), "the job's process outlived the node");
    assert!(reports(&data).is_empty(), "no report before the restart");
    let start_rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(job.join("start.json")).unwrap()).unwrap();
    let started_ms = start_rec["started_ms"].as_u64().unwrap();
    // A torn last line, as if the node died in the middle of a write: ignored.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&samples).unwrap();
        f.write_all(br#"{"t_ms":99999999999999,"readings":[{"util_pct":100,"ener"#).unwrap();
    }

    procs.node = Some(start());
    wait_for("the job recorded as interrupted", Duration::from_secs(20), || {
        (record_status(&job).as_deref() == Some("interrupted")).then_some(())
    });
    assert!(!provider_node::recovery::is_alive(pid), "the orphaned job process was killed");
    wait_for("both reports acknowledged", Duration::from_secs(20), || {
        let r = reports(&data);
        (r.len() == 2 && r.iter().all(|(st, _)| st == "sent")).then_some(())
    });
    let check = |r: &[(String, SignedReport)]| {
        assert_eq!(r.len(), 2, "one report per GPU: {r:?}");
        let finals = r.iter().filter(|(_, s)| s.report.nonce.bit(FINAL_NONCE_BIT)).count();
        assert_eq!(finals, 1, "exactly one final report");
        for (_, s) in r {
            let u = &s.report;
            assert_eq!(u.jobId, alloy::primitives::U256::from(41));
            assert!(u.gpuSeconds > 0, "the metered part is claimed: {u:?}");
            assert!(u.gpuSeconds * 1000 <= killed_at_ms - started_ms, "never more than ran: {u:?}");
            assert!(u.gpuSeconds <= u.endTs - u.startTs);
            assert!(u.endTs * 1000 < 99999999999999, "the torn line was ignored");
            provider_node::verify::verify(s).unwrap();
        }
    };
    let first = reports(&data);
    check(&first);

    // A crash during recovery (reports spooled, record not written yet): recovery runs again
    // and rebuilds the same reports, which the spool already holds; then the node goes on.
    procs.kill_node();
    std::fs::remove_file(job.join("record.json")).unwrap();
    procs.node = Some(start());
    std::fs::write(data.join("inbox/job-42.toml"), "job_id = \"42\"\ncommand = \"true\"\n").unwrap();
    // Recovery runs before the inbox is read, so once job 42 is recorded it is done.
    wait_for("job 42 recorded", Duration::from_secs(20), || {
        data.join("jobs/42/record.json").exists().then_some(())
    });
    assert_eq!(record_status(&job).as_deref(), Some("interrupted"));
    let again: Vec<_> = reports(&data)
        .into_iter()
        .filter(|(_, s)| s.report.jobId == alloy::primitives::U256::from(41))
        .collect();
    check(&again);
    let ids = |r: &[(String, SignedReport)]| {
        let mut v: Vec<String> = r.iter().map(|(_, s)| s.id().to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(ids(&again), ids(&first), "the same two reports, not new ones");
    let runs: PathBuf = job.join("runs");
    assert_eq!(std::fs::read_to_string(runs).unwrap().lines().count(), 1, "the job was not re-run");
    procs.kill_node();
    let acked = relayer.acked.lock().unwrap().clone();
    for id in ids(&first) {
        assert_eq!(acked.get(&id), Some(&1), "delivered exactly once: {acked:?}");
    }
}
