//! The provider's signing key: `PROVIDER_NODE_KEY` (hex) if set, else the key file (hex, must
//! not be readable by group or others).

use alloy::signers::local::PrivateKeySigner;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub const KEY_ENV: &str = "PROVIDER_NODE_KEY";
/// The transaction key (the provider's account) from the environment.
pub const TX_KEY_ENV: &str = "PROVIDER_NODE_TX_KEY";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("key file {0} is readable by group or others (mode {1:o}); run `chmod 600 {0}`")]
    TooOpen(String, u32),
    #[error("{0}: not a 32-byte hex secp256k1 private key")]
    Invalid(String),
    #[error("key file {0} already exists; refusing to overwrite a provider key")]
    Exists(String),
}

fn parse(text: &str, origin: &str) -> Result<PrivateKeySigner, KeyError> {
    text.trim().parse::<PrivateKeySigner>().map_err(|_| KeyError::Invalid(origin.to_string()))
}

/// Load the signing key: `env_value` (from PROVIDER_NODE_KEY) wins over `path`.
pub fn load(path: &Path, env_value: Option<String>) -> Result<PrivateKeySigner, KeyError> {
    if let Some(v) = env_value {
        return parse(&v, KEY_ENV);
    }
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| KeyError::Io { path: shown.clone(), source })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen(shown, mode));
    }
    let text =
        std::fs::read_to_string(path).map_err(|source| KeyError::Io { path: shown.clone(), source })?;
    parse(&text, &shown)
}

/// Load the key that sends transactions (the provider's account): `PROVIDER_NODE_TX_KEY`,
/// else `chain.tx_key_file`, else the report signing key (`PROVIDER_NODE_KEY` /
/// `node.key_file`), so a provider with one key configures nothing extra.
pub fn load_tx(
    tx_key_file: Option<&Path>,
    tx_env: Option<String>,
    signing_key_file: &Path,
    signing_env: Option<String>,
) -> Result<PrivateKeySigner, KeyError> {
    if let Some(v) = tx_env {
        return parse(&v, TX_KEY_ENV);
    }
    match tx_key_file {
        Some(path) => load(path, None),
        None => load(signing_key_file, signing_env),
    }
}

/// Generate a key and write it to `path` with mode 0600 (created exclusively: never
/// overwrites an existing key).
pub fn generate(path: &Path) -> Result<PrivateKeySigner, KeyError> {
    let shown = path.display().to_string();
    let signer = PrivateKeySigner::random();
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(
        |source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => KeyError::Exists(shown.clone()),
            _ => KeyError::Io { path: shown.clone(), source },
        },
    )?;
    let hex = alloy::primitives::hex::encode_prefixed(signer.to_bytes());
    f.write_all(format!("{hex}\n").as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|source| KeyError::Io { path: shown, source })?;
    Ok(signer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_is_0600_and_loads_back_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("provider.key");
        let s = generate(&p).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load(&p, None).unwrap().address(), s.address());
        assert!(matches!(generate(&p), Err(KeyError::Exists(_))));
    }

    #[test]
    fn env_wins_and_open_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, "0x0101010101010101010101010101010101010101010101010101010101010101").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(load(&p, None), Err(KeyError::TooOpen(_, 0o644))));
        let env = "0x0202020202020202020202020202020202020202020202020202020202020202".to_string();
        let from_env = load(&p, Some(env)).unwrap();
        assert_eq!(from_env.to_bytes().0, [2u8; 32]);
        assert!(matches!(load(&p, Some("nope".into())), Err(KeyError::Invalid(_))));
    }

    #[test]
    fn tx_key_defaults_to_the_signing_key_and_can_be_separate() {
        let dir = tempfile::tempdir().unwrap();
        let signing = dir.path().join("signing.key");
        let account = dir.path().join("account.key");
        let s = generate(&signing).unwrap();
        let a = generate(&account).unwrap();
        assert_eq!(load_tx(None, None, &signing, None).unwrap().address(), s.address());
        assert_eq!(load_tx(Some(&account), None, &signing, None).unwrap().address(), a.address());
        let env = "0x0303030303030303030303030303030303030303030303030303030303030303".to_string();
        assert_eq!(load_tx(Some(&account), Some(env), &signing, None).unwrap().to_bytes().0, [3u8; 32]);
        let e = load_tx(None, Some("0xbad".into()), &signing, None).unwrap_err();
        assert!(e.to_string().contains(TX_KEY_ENV), "{e}");
        let e = load_tx(Some(&dir.path().join("missing")), None, &signing, None).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }
}
