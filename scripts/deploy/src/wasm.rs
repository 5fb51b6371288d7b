//! Where the contracts' wasm comes from: built with cargo (release profile, wasm32) into
//! the target directory cargo would use, or read from a folder of prebuilt files.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    #[error("could not run cargo: {0}")]
    Spawn(std::io::Error),
    #[error("`{command}` failed ({status}); is the wasm32 target installed? (`rustup target add wasm32-unknown-unknown`)")]
    Build { command: String, status: std::process::ExitStatus },
    #[error("wasm of `{package}` not found at {path}: {source}")]
    Missing { package: String, path: String, source: std::io::Error },
}

/// Where to find (or put) the wasm files.
#[derive(Clone, Debug)]
pub enum WasmSource {
    /// `cargo build --release --target wasm32-unknown-unknown -p ...` in `workspace`, into
    /// `$CARGO_TARGET_DIR` (or `<workspace>/target`).
    Build { workspace: PathBuf },
    /// A folder with `<package_with_underscores>.wasm` files, built elsewhere.
    Dir(PathBuf),
}

/// File name of a package's wasm: `slash-court` -> `slash_court.wasm`.
pub fn file_name(package: &str) -> String {
    format!("{}.wasm", package.replace('-', "_"))
}

/// The target directory cargo uses for `workspace`.
pub fn target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace.join("target"))
}

/// Loads the wasm of each package, building them first (one cargo invocation) if asked.
pub fn load(source: &WasmSource, packages: &[&str]) -> Result<BTreeMap<String, Vec<u8>>, WasmError> {
    let mut unique: Vec<&str> = packages.to_vec();
    unique.sort();
    unique.dedup();
    let dir = match source {
        WasmSource::Dir(d) => d.clone(),
        WasmSource::Build { workspace } => {
            let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
            cmd.current_dir(workspace).args(["build", "--release", "--target", "wasm32-unknown-unknown"]);
            for p in &unique {
                cmd.args(["-p", p]);
            }
            let command =
                format!("cargo build --release --target wasm32-unknown-unknown -p {}", unique.join(" -p "));
            tracing::info!("{command}");
            let status = cmd.status().map_err(WasmError::Spawn)?;
            if !status.success() {
                return Err(WasmError::Build { command, status });
            }
            target_dir(workspace).join("wasm32-unknown-unknown/release")
        }
    };
    unique
        .into_iter()
        .map(|p| {
            let path = dir.join(file_name(p));
            std::fs::read(&path).map(|w| (p.to_owned(), w)).map_err(|source| WasmError::Missing {
                package: p.into(),
                path: path.display().to_string(),
                source,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_use_underscores_and_missing_files_are_named() {
        assert_eq!(file_name("slash-court"), "slash_court.wasm");
        let dir = std::env::temp_dir().join(format!("deployer-wasm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("vault.wasm"), b"\0asm").unwrap();
        let got = load(&WasmSource::Dir(dir.clone()), &["vault", "vault"]).unwrap();
        assert_eq!(got.len(), 1);
        let err = load(&WasmSource::Dir(dir.clone()), &["vault", "mock-erc20"]).unwrap_err().to_string();
        assert!(err.contains("mock-erc20") && err.contains("mock_erc20.wasm"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
