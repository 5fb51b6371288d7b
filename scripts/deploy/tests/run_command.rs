//! The run command as a user starts it: up (devnet answering, contracts deployed and the
//! record written, demo market seeded), then Ctrl-C stops everything cleanly (exit status 0,
//! the devnet's port closed), and a second run works.
//!
//! Needs the devnet binary (built here with `cargo build -p devnet` if missing) and the
//! contracts' wasm (`DEPLOY_WASM_DIR`, else built like in `devnet_deploy.rs`).

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use alloy::providers::Provider;
use deployer::{network, record::Deployment, wasm};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn ensure_built() -> PathBuf {
    let root = deployer::workspace_root();
    let target = wasm::target_dir(&root);
    if !target.join("debug/devnet").exists() {
        let ok =
            Command::new(env!("CARGO")).current_dir(&root).args(["build", "-p", "devnet"]).status().unwrap();
        assert!(ok.success(), "cargo build -p devnet");
    }
    match std::env::var_os("DEPLOY_WASM_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            // Every package the shipped config deploys (the AMM's two programs included).
            let config = deployer::config::Config::load(&root.join("deployments/config.toml")).unwrap();
            let env = deployer::plan::Env {
                owner: alloy::primitives::Address::ZERO,
                treasury: alloy::primitives::Address::ZERO,
                config: &config,
                network: &config.networks["devnet"],
            };
            let mut cmd = Command::new(env!("CARGO"));
            cmd.current_dir(&root).args(["build", "--release", "--target", "wasm32-unknown-unknown"]);
            for p in deployer::packages(&env) {
                cmd.args(["-p", p]);
            }
            assert!(cmd.status().unwrap().success(), "contracts build for wasm32");
            target.join("wasm32-unknown-unknown/release")
        }
    }
}

/// Starts `run`, returns the child and a channel of its stdout lines.
fn start(
    port: u16,
    out: &std::path::Path,
    wasm_dir: &std::path::Path,
    extra: &[&str],
) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_run"))
        .current_dir(deployer::workspace_root())
        .args(["--no-build", "--port", &port.to_string(), "--out"])
        .arg(out)
        .arg("--wasm-dir")
        .arg(wasm_dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("run> {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// A plain HTTP/1.1 GET; the whole response as text (empty while nothing listens).
fn http_get(host: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(host) else { return String::new() };
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn wait_for(rx: &mpsc::Receiver<String>, needle: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) => {
                let hit = l.contains(needle);
                seen.push(l);
                if hit {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("`{needle}` not printed within {within:?}; got:\n{}", seen.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn run_comes_up_stops_on_ctrl_c_and_runs_again() {
    let wasm_dir = ensure_built();
    let port = free_port();
    let out = std::env::temp_dir().join(format!("deployer-run-{}.json", std::process::id()));
    let url = format!("http://127.0.0.1:{port}");

    let relayer_port = free_port().to_string();
    let dapp_port = free_port().to_string();
    let (mut child, rx) =
        start(port, &out, &wasm_dir, &["--relayer-port", &relayer_port, "--dapp-port", &dapp_port]);
    let printed = wait_for(&rx, "Press Ctrl-C", Duration::from_secs(300)).join("\n");
    assert!(printed.contains("Chain ID      412346") && printed.contains(&url), "MetaMask settings printed");
    assert!(printed.contains("relayer") && printed.contains("dApp"), "service slots reported");
    // Healthy: the RPC answers and the recorded contracts are there, seeded.
    let p = network::read_provider(&url).unwrap();
    assert_eq!(p.get_chain_id().await.unwrap(), 412346);
    let record = Deployment::load(&out).unwrap().expect("record written");
    let market = record.address("market").unwrap();
    assert!(!p.get_code_at(market).await.unwrap().is_empty());
    assert!(printed.contains("seed: mint GPU-seconds"), "demo market seeded");
    // The relayer (whenever its binary is built, as `cargo test --workspace` does) is up.
    let target = deployer::wasm::target_dir(&deployer::workspace_root());
    if target.join("debug/relayer").exists() {
        let line = format!("relayer       http://127.0.0.1:{relayer_port}");
        assert!(printed.contains(&line), "relayer started: {printed}");
        assert!(http_get(&format!("127.0.0.1:{relayer_port}"), "/healthz").starts_with("HTTP/1.1 200"));
    }
    if target.join("debug/provider-node").exists() {
        assert!(printed.contains("provider node simulated meter"), "provider node started: {printed}");
    }
    // The dApp (whenever its packages are installed, as `.ci/run` does) is served.
    if deployer::workspace_root().join("dapp/node_modules").exists() {
        let mut page = String::new();
        for _ in 0..60 {
            page = http_get(&format!("127.0.0.1:{dapp_port}"), "/");
            if page.starts_with("HTTP/1.1 200") {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        assert!(page.starts_with("HTTP/1.1 200") && page.contains("<html"), "dApp page served: {page}");
    }

    // Ctrl-C: SIGINT to the run command only (as the terminal would, children are in their
    // own process groups), then everything stops and the port closes.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(status.success(), "clean exit: {status}");
    wait_for(&rx, "devnet stopped", Duration::from_secs(5));
    assert!(p.get_chain_id().await.is_err(), "the devnet is gone");

    // A second run (same record file, fresh chain) works.
    let (mut child, rx) = start(
        port,
        &out,
        &wasm_dir,
        &["--exit-after-seed", "--relayer-port", &relayer_port, "--dapp-port", &dapp_port],
    );
    wait_for(&rx, "devnet stopped", Duration::from_secs(300));
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(status.success(), "second run: {status}");
    let again = Deployment::load(&out).unwrap().unwrap();
    assert_eq!(again.chain_id, 412346);
    let _ = std::fs::remove_file(&out);
}
