//! The off-chain services as the user runs them: the real `relayer` and `provider-node`
//! binaries as child processes against the in-process devnet, a small HTTP client for the
//! relayer's API, and polling with a deadline.

use std::{
    future::Future,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy::{
    primitives::{B256, U256},
    providers::Provider,
    rpc::types::{Filter, Log},
    sol_types::SolEvent,
};
use devnet::accounts::ANVIL_KEYS;
use market_protocol::SignedReport;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{ISettlement, System};

/// A workspace binary (`target/debug/<name>`), built with `cargo build -p <package>` when it
/// is missing. `CARGO_BIN_EXE_*` only names the test crate's own binaries; `cargo test
/// --workspace` builds every binary first, so in CI this finds them fresh.
pub fn workspace_bin(package: &str, name: &str) -> PathBuf {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let root = deployer::workspace_root();
    let path = deployer::wasm::target_dir(&root).join("debug").join(name);
    if !path.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let ok = Command::new(cargo).current_dir(&root).args(["build", "-p", package]).status().unwrap();
        assert!(ok.success(), "cargo build -p {package}");
    }
    assert!(path.exists(), "{} after cargo build -p {package}", path.display());
    path
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process that is killed (SIGKILL) and reaped when dropped, even when the test
/// panics. Its stdout and stderr go to `log`.
pub struct Proc {
    pub child: Option<Child>,
    pub log: PathBuf,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Proc {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("{name} starts: {e}"));
        Proc { child: Some(child), log: log.to_path_buf(), name: name.into() }
    }

    /// `kill -9`: no shutdown code runs.
    pub fn kill_9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill_9();
        if std::thread::panicking() {
            eprintln!("---- {} log ({}) ----\n{}", self.name, self.log.display(), self.log_text());
        }
    }
}

/// Polls `f` until it returns `Some`, every 100 ms, failing after `within`.
pub async fn poll<T, F, Fut>(what: &str, within: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One HTTP/1.1 request; `(status, body)`. The response is read while the body is still
/// being written, so a server that answers early (413) and closes is still heard.
pub async fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut rd, mut wr) = stream.into_split();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let body = body.to_vec();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(head.as_bytes()).await;
        let _ = wr.write_all(&body).await;
        wr
    });
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let parsed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(r) = parse_response(&buf) {
                return Ok(r);
            }
            match rd.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if buf.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        parse_response(&buf).ok_or_else(|| {
            std::io::Error::other(format!("incomplete HTTP response: {}", String::from_utf8_lossy(&buf)))
        })
    })
    .await
    .map_err(|_| std::io::Error::other("HTTP response timed out"))?;
    writer.abort();
    parsed
}

/// A complete response in `buf` (headers and Content-Length bytes of body).
fn parse_response(buf: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let len = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
    })?;
    (body.len() >= len).then(|| (status, body[..len].to_string()))
}

/// The real relayer binary, configured for the system's market and registry, settling as
/// the registry's authorised relayer (anvil 3) into a SQLite queue.
pub struct Relayer {
    pub proc: Proc,
    pub addr: String,
    pub config: PathBuf,
}

/// The PEM root that the devnet relayer pins for NVIDIA CC evidence in these tests (the
/// fake GPU's test CA, `fixtures/fake-gpu-cc/`).
pub const FAKE_GPU_ROOT_PEM: &str = include_str!("../fixtures/fake-gpu-cc/root.pem");

impl Relayer {
    /// Writes `dir/relayer.toml` and starts the relayer. The H100 class accepts the simulated
    /// meter (`none`, as the devnet does) and NVIDIA CC evidence chained to the fake GPU's
    /// test root.
    pub async fn start(s: &System, dir: &Path) -> Relayer {
        let port = free_port();
        let config = dir.join("relayer.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:{port}\"\nchain_id = {chain}\nmarket = \"{market}\"\nregistry = \"{registry}\"\n\
                 rpc_url = \"{url}\"\nprovider_cache_secs = 1\n\n[queue]\ndatabase = \"sqlite://{db}\"\n\n\
                 [settlement]\nmax_batch = 8\nmax_wait_secs = 1\nconfirmations = 1\ncontract = \"{settlement}\"\n\
                 replace_after_secs = 0\n\n[classes.\"H100-SXM5-80GB\"]\nallow_none = true\n\n\
                 [classes.\"H100-SXM5-80GB\".nvidia_cc]\nroot_pem = \"\"\"\n{root}\"\"\"\n",
                chain = s.config.networks["devnet"].chain_id,
                market = s.at("market"),
                registry = s.at("registry"),
                url = s.devnet.url(),
                db = dir.join("queue.sqlite").display(),
                settlement = s.at("settlement"),
                root = FAKE_GPU_ROOT_PEM,
            ),
        )
        .unwrap();
        Self::start_with(&config, dir).await
    }

    /// Starts the relayer binary with an existing config (a restart keeps the queue).
    pub async fn start_with(config: &Path, dir: &Path) -> Relayer {
        let text = std::fs::read_to_string(config).unwrap();
        let addr = text
            .lines()
            .find_map(|l| l.strip_prefix("listen = \""))
            .unwrap()
            .trim_end_matches('"')
            .to_string();
        let mut cmd = Command::new(workspace_bin("relayer", "relayer"));
        cmd.args(["run", "--config"])
            .arg(config)
            .env("RELAYER_KEY", format!("0x{}", ANVIL_KEYS[3]))
            .env("RUST_LOG", "relayer=debug,info");
        let mut proc = Proc::spawn("relayer", cmd, &dir.join("relayer.log"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !matches!(http(&addr, "GET", "/healthz", b"").await, Ok((200, _))) {
            assert!(proc.alive(), "the relayer exited:\n{}", proc.log_text());
            assert!(Instant::now() < deadline, "the relayer did not answer /healthz in 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Relayer { proc, addr, config: config.to_path_buf() }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// POST `body` to `/v1/reports`: `(status, JSON answer)`.
    pub async fn post_raw(&self, body: &[u8]) -> (u16, Value) {
        let (code, text) = http(&self.addr, "POST", "/v1/reports", body).await.unwrap();
        (code, serde_json::from_str(&text).unwrap_or_else(|e| panic!("a JSON answer ({e}): {text:?}")))
    }

    pub async fn post(&self, r: &SignedReport) -> (u16, Value) {
        self.post_raw(&r.to_json()).await
    }

    /// GET `/v1/reports/{id}`: `(status, JSON answer)`.
    pub async fn get(&self, id: impl std::fmt::Display) -> (u16, Value) {
        let (code, text) = http(&self.addr, "GET", &format!("/v1/reports/{id}"), b"").await.unwrap();
        (code, serde_json::from_str(&text).unwrap_or_else(|e| panic!("a JSON answer ({e}): {text:?}")))
    }

    /// Stores a job spec; returns its hash.
    pub async fn put_spec(&self, spec: &[u8]) -> B256 {
        let (code, text) = http(&self.addr, "POST", "/v1/specs", spec).await.unwrap();
        assert!(code == 201 || code == 200, "{code} {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        v["hash"].as_str().unwrap().parse().unwrap()
    }

    pub async fn metrics(&self) -> String {
        let (code, text) = http(&self.addr, "GET", "/metrics", b"").await.unwrap();
        assert_eq!(code, 200, "{text}");
        text
    }

    /// Polls until the report is `status` (panics on a terminal state that is not it).
    pub async fn wait_for(&self, id: impl std::fmt::Display, status: &str, within: Duration) -> Value {
        let id = id.to_string();
        poll(&format!("report {id} {status}"), within, || async {
            let (code, v) = self.get(&id).await;
            let now = v["status"].as_str().unwrap_or_default().to_string();
            assert!(
                !(matches!(now.as_str(), "rejected" | "skipped" | "settled") && now != status),
                "report {id} ended {v} ({code}), expected {status}"
            );
            (now == status).then_some(v)
        })
        .await
    }
}

/// A Prometheus sample's value (`name` with its labels as written, e.g.
/// `relayer_queue_reports{state="settled"}`); 0 when absent.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

/// The `relayer_queue_reports` gauges: `(state, count)` for every state present.
pub fn queue_gauges(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("relayer_queue_reports{state=\""))
        .filter_map(|l| {
            let (state, rest) = l.split_once("\"} ")?;
            Some((state.to_string(), rest.trim().parse().ok()?))
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Every `ReportSettled` event of `job` on the settlement contract.
pub async fn settled_events(s: &System, job: U256) -> Vec<Log> {
    let filter = Filter::new()
        .address(s.at("settlement"))
        .event_signature(ISettlement::ReportSettled::SIGNATURE_HASH)
        .topic1(B256::from(job))
        .from_block(0);
    s.anyone.p.get_logs(&filter).await.unwrap()
}

/// Compiles the provider node's fake `libnvidia-ml.so.1`
/// (`provider-node/tests/fake-nvml/fake_nvml.c`) into `dir` with gcc; returns its path.
pub fn fake_nvml(dir: &Path) -> PathBuf {
    let out = dir.join("libnvidia-ml.so.1");
    let src = deployer::workspace_root().join("provider-node/tests/fake-nvml/fake_nvml.c");
    let status = Command::new("gcc")
        .args(["-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("gcc builds the fake libnvidia-ml.so.1 (apt-get install gcc)");
    assert!(status.success(), "gcc failed on {}", src.display());
    out
}

/// How a provider node meters: the simulated meter (one GPU, evidence `none`), or the real
/// NVML code against a library (the fake one) with NVIDIA CC evidence from `attester`.
pub enum Meter {
    Simulated,
    Nvml { lib: PathBuf, attester: PathBuf },
}

/// The real `provider-node` binary (`run --config`), watching the market as `key`'s account
/// and sending reports to `relayer_url`. Its data dir (spool, jobs, cursor) survives
/// restarts of this value.
pub struct Node {
    pub proc: Option<Proc>,
    pub dir: PathBuf,
    pub config: PathBuf,
    meter: Meter,
}

impl Node {
    /// Writes `dir/provider.toml` (and the key file, 0600).
    pub fn configure(s: &System, dir: &Path, key_hex: &str, relayer_url: &str, meter: Meter) -> Node {
        std::fs::create_dir_all(dir).unwrap();
        let key = dir.join("provider.key");
        std::fs::write(&key, format!("0x{key_hex}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let meter_toml = match &meter {
            Meter::Simulated => "kind = \"simulated\"\nsample_interval_ms = 100\n".to_string(),
            Meter::Nvml { lib, .. } => format!(
                "kind = \"nvml\"\nsample_interval_ms = 100\nnvml_lib = \"{}\"\n\n[evidence]\ncollectors = [\"nvidia-cc\"]\n",
                lib.display()
            ),
        };
        let config = dir.join("provider.toml");
        std::fs::write(
            &config,
            format!(
                "[node]\ndata_dir = \"{data}\"\nkey_file = \"{key}\"\n\n[chain]\nchain_id = {chain}\nmarket = \"{market}\"\n\
                 rpc_url = \"{rpc}\"\npoll_interval_ms = 200\nstart_block = 0\n\n[relayer]\nurl = \"{relayer_url}\"\n\
                 backoff_initial_ms = 100\nbackoff_max_ms = 500\n\n[meter]\n{meter_toml}",
                data = dir.join("data").display(),
                key = key.display(),
                chain = s.config.networks["devnet"].chain_id,
                market = s.at("market"),
                rpc = s.devnet.url(),
            ),
        )
        .unwrap();
        Node { proc: None, dir: dir.to_path_buf(), config, meter }
    }

    /// Starts (or restarts) `provider-node run --config`.
    pub fn start(&mut self) {
        assert!(self.proc.is_none(), "the node is already running");
        let mut cmd = Command::new(workspace_bin("provider-node", "provider-node"));
        cmd.args(["run", "--config"]).arg(&self.config).env("RUST_LOG", "provider_node=debug,info");
        // Nothing from the test's environment changes the config.
        for (k, _) in std::env::vars() {
            if k.starts_with("PROVIDER_NODE_") {
                cmd.env_remove(k);
            }
        }
        if let Meter::Nvml { attester, .. } = &self.meter {
            cmd.env("FAKE_NVML_CC_SIGNER", attester);
        }
        self.proc = Some(Proc::spawn("provider-node", cmd, &self.dir.join("node.log")));
    }

    /// `kill -9`.
    pub fn kill_9(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill_9();
        }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Whether the node has claimed (started) the job.
    pub fn claimed(&self, job: U256) -> bool {
        self.data().join("jobs").join(job.to_string()).join("claim").exists()
    }

    /// The spooled reports in `state` (`pending`, `sent`, `rejected`).
    pub fn spooled(&self, state: &str) -> Vec<SignedReport> {
        let dir = self.data().join("spool").join(state);
        let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
        entries
            .filter_map(|e| {
                let p = e.ok()?.path();
                (p.extension()? == "json")
                    .then(|| SignedReport::from_json(&std::fs::read(&p).unwrap()).unwrap())
            })
            .collect()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("node.log")).unwrap_or_default()
    }

    /// Why the relayer refused the reports in `spool/rejected/` (the `.reason` files).
    pub fn rejection_reasons(&self) -> Vec<String> {
        let dir = self.data().join("spool").join("rejected");
        let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
        entries
            .filter_map(|e| {
                let p = e.ok()?.path();
                (p.extension()? == "reason").then(|| std::fs::read_to_string(&p).unwrap_or_default())
            })
            .collect()
    }
}
