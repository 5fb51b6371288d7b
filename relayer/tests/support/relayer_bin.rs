//! The real `relayer` binary as a child process, and a minimal HTTP client for its API.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use market_protocol::SignedReport;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A minimal HTTP/1.1 request; (status, body).
pub fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

pub struct Relayer {
    pub child: Child,
    pub addr: String,
}

pub fn start_relayer(config: &Path, key: &str, log: &Path) -> Relayer {
    let text = std::fs::read_to_string(config).unwrap();
    let addr =
        text.lines().find_map(|l| l.strip_prefix("listen = \"")).unwrap().trim_end_matches('"').to_string();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_relayer"))
        .args(["run", "--config"])
        .arg(config)
        .env("RELAYER_KEY", key)
        .env("RUST_LOG", "relayer=debug,info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("the relayer binary starts");
    let r = Relayer { child, addr };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(http(&r.addr, "GET", "/healthz", b""), Ok((200, _))) {
        assert!(Instant::now() < deadline, "relayer did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    r
}

impl Relayer {
    pub fn kill_9(mut self) {
        self.child.kill().unwrap(); // SIGKILL: no shutdown code runs
        self.child.wait().unwrap();
    }
    pub fn status(&self, r: &SignedReport) -> String {
        let (code, body) = http(&self.addr, "GET", &format!("/v1/reports/{}", r.id()), b"").unwrap();
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["status"].as_str().unwrap().to_string()
    }
    pub fn post(&self, r: &SignedReport) {
        let (code, body) = http(&self.addr, "POST", "/v1/reports", &r.to_json()).unwrap();
        assert_eq!(code, 202, "{body}");
    }
}

impl Drop for Relayer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Relayer {
    /// Still running (not exited)?
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Sends SIGTERM and waits (up to `within`) for the process to exit; its exit status.
    pub fn terminate(self, within: Duration) -> std::process::ExitStatus {
        self.signal("TERM", within)
    }

    /// Sends `SIG<name>` (e.g. "INT") and waits (up to `within`) for the process to exit.
    pub fn signal(mut self, name: &str, within: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill").args([&format!("-{name}"), &pid]).status().expect("running kill");
        assert!(ok.success(), "kill -{name} {pid} failed");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the relayer did not exit within {within:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
