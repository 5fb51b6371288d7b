//! A throwaway PostgreSQL server for tests: `initdb` into a temporary directory, `postgres`
//! on a free localhost port (its unix socket in the same directory), stopped on drop.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root (CI containers) the
//! server runs as the `postgres` user (created by the Debian package), else `nobody`.
//! Missing binaries are a test FAILURE with the install command, never a skip: a skipped
//! PostgreSQL suite would look green while testing nothing.

#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct PgServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
}

const INSTALL_HINT: &str = "PostgreSQL server binaries (initdb, postgres) were not found on PATH, in \
     $RELAYER_TEST_PG_BIN or under /usr/lib/postgresql/*/bin. Install them: \
     `sudo apt-get install -y postgresql` (Debian/Ubuntu; .ci/run does this), or point \
     RELAYER_TEST_PG_BIN at the folder holding initdb and postgres.";

/// The folder holding `initdb` and `postgres`.
pub fn pg_bin_dir() -> PathBuf {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(d) = std::env::var_os("RELAYER_TEST_PG_BIN") {
        let d = PathBuf::from(d);
        assert!(has_both(&d), "RELAYER_TEST_PG_BIN={} has no initdb/postgres. {INSTALL_HINT}", d.display());
        return d;
    }
    for d in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if has_both(&d) {
            return d;
        }
    }
    // Debian installs the server outside PATH, one folder per major version: take the newest.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_both(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!("{INSTALL_HINT}"),
    }
}

/// uid/gid to run the server as when we are root.
fn unprivileged_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let find = |name: &str| {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && f[0] == name).then(|| (f[2].parse().ok(), f[3].parse().ok()))
        })
    };
    match find("postgres").or_else(|| find("nobody")) {
        Some((Some(u), Some(g))) => (u, g),
        _ => (65534, 65534),
    }
}

fn is_root() -> bool {
    // The owner of a file we just created is our effective uid.
    let probe = tempfile::NamedTempFile::new().expect("temp file");
    std::os::unix::fs::MetadataExt::uid(&probe.as_file().metadata().unwrap()) == 0
}

/// Runs `f` on a plain thread: the `postgres` client panics when called on a thread that
/// drives a tokio runtime (as `#[tokio::test]` bodies do).
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("database thread panicked"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl PgServer {
    /// Initialises and starts a server; waits until it accepts connections.
    pub fn start() -> PgServer {
        let bin = pg_bin_dir();
        let dir = tempfile::Builder::new().prefix("relayer-pg").tempdir().expect("temp dir");
        let drop_to = is_root().then(unprivileged_user);
        if let Some((uid, gid)) = drop_to {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown the server's folder");
        }
        let as_user = |cmd: &mut Command| {
            if let Some((uid, gid)) = drop_to {
                cmd.uid(uid).gid(gid);
            }
        };
        let data = dir.path().join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args(["-D"])
            .arg(&data)
            .args(["-U", "relayer", "-A", "trust", "-E", "UTF8", "--no-locale", "-N"])
            .current_dir(dir.path())
            .stdin(Stdio::null());
        as_user(&mut initdb);
        let out = initdb.output().expect("running initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );

        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        if let Some((uid, gid)) = drop_to {
            std::os::unix::fs::chown(dir.path().join("server.log"), Some(uid), Some(gid)).unwrap();
        }
        let mut postgres = Command::new(bin.join("postgres"));
        postgres
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c"])
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            // A test server: durability of the server itself is not under test.
            .args(["-c", "fsync=off", "-c", "max_connections=200"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        as_user(&mut postgres);
        let child = postgres.spawn().expect("starting postgres");
        let mut server = PgServer { child: Some(child), dir, port };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let url = self.url("postgres");
            if off_runtime(|| postgres::Client::connect(&url, postgres::NoTls).is_ok()) {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("postgres exited ({status}) before accepting connections:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "postgres did not start within 60 s:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// A URL for database `db` over TCP.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://relayer@127.0.0.1:{}/{db}", self.port)
    }

    /// The same server through its unix socket (key-value form).
    pub fn socket_conninfo(&self, db: &str) -> String {
        format!("host={} port={} user=relayer dbname={db}", self.dir.path().display(), self.port)
    }

    /// Creates an empty database and returns its URL.
    pub fn fresh_database(&self, name: &str) -> String {
        let url = self.url("postgres");
        off_runtime(|| {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        });
        self.url(name)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGINT = "fast" shutdown: backends are told to exit, then the postmaster.
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
