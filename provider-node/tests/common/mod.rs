//! Shared test helpers: building the fake NVML library, writing configs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Compile `tests/fake-nvml/fake_nvml.c` into a temp dir once per test binary and return the
/// path of the resulting `libnvidia-ml.so.1`. Needs gcc.
pub fn fake_nvml() -> PathBuf {
    static LIB: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    LIB.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("libnvidia-ml.so.1");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake-nvml/fake_nvml.c");
        let status = std::process::Command::new("gcc")
            .args(["-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("gcc is needed to build the fake libnvidia-ml.so.1 (apt-get install gcc)");
        assert!(status.success(), "gcc failed to build {}", src.display());
        (dir, out)
    })
    .1
    .clone()
}

pub const MARKET: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
pub const KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// A provider.toml in `dir` with the given meter section lines and relayer.
pub fn write_config(dir: &Path, relayer: &str, meter: &str, extra: &str) -> PathBuf {
    let key = dir.join("provider.key");
    std::fs::write(&key, format!("{KEY}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = format!(
        r#"[node]
data_dir = "{data}"
key_file = "{key}"

[chain]
chain_id = 412346
market = "{MARKET}"

[relayer]
url = "{relayer}"
backoff_initial_ms = 50
backoff_max_ms = 200

[meter]
{meter}
{extra}
"#,
        data = dir.join("data").display(),
        key = key.display(),
    );
    let path = dir.join("provider.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}
