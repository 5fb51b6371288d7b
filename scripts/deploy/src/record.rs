//! `deployments/<network>.json`: what was deployed where. Relayer, provider node, dApp and
//! tests read it; the deployer reads it back to skip what is already on chain.
//! camelCase keys, hex strings for addresses and hashes (readable from TypeScript as is).

use std::{collections::BTreeMap, path::Path};

use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub network: String,
    pub chain_id: u64,
    /// The account that deployed and owns the contracts.
    pub deployer: Address,
    /// Block of the last transaction of the last deploy run (or the head when nothing was sent).
    pub block: u64,
    /// By key: `stablecoin`, `collateral`, `vault`, `slashCourt`, `registry`, `amm`,
    /// `market`, `token:<class name>`.
    pub contracts: BTreeMap<String, ContractRecord>,
    /// Tokens that were not deployed by us (e.g. USDC on Sepolia), by key.
    #[serde(default)]
    pub external: BTreeMap<String, Address>,
    pub classes: Vec<ClassRecord>,
    pub pools: Vec<PoolRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractRecord {
    pub address: Address,
    /// Cargo package the wasm came from.
    pub package: String,
    /// keccak256 of the deployed code (`EF F0 00 00 ‖ brotli(wasm)`).
    pub code_hash: B256,
    /// keccak256 of the ABI-encoded constructor arguments.
    pub init_hash: B256,
    pub stylus_version: u16,
    pub block: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassRecord {
    pub name: String,
    pub class_id: B256,
    pub symbol: String,
    pub token: Address,
    pub evidence_kinds: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolRecord {
    pub class: String,
    pub token: Address,
    pub quote: Address,
    pub fee: u16,
    /// The AMM's pool id (also the ERC-6909 id of its LP shares).
    pub pool_id: B256,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not a deployment record: {source}")]
    Parse { path: String, source: serde_json::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

impl Deployment {
    /// The address of `key`, deployed by us or external.
    pub fn address(&self, key: &str) -> Option<Address> {
        self.contracts.get(key).map(|c| c.address).or_else(|| self.external.get(key).copied())
    }

    /// Reads a record; `Ok(None)` when the file does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>, RecordError> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|source| RecordError::Parse { path: path.display().to_string(), source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(RecordError::Read { path: path.display().to_string(), source }),
        }
    }

    /// Writes atomically (temporary file, then rename), so readers never see half a file.
    pub fn save(&self, path: &Path) -> Result<(), RecordError> {
        let err = |source| RecordError::Write { path: path.display().to_string(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).expect("a record always serialises") + "\n";
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json_with_camel_case_keys() {
        let mut d = Deployment { network: "devnet".into(), chain_id: 412346, block: 7, ..Default::default() };
        d.contracts.insert(
            "vault".into(),
            ContractRecord {
                address: Address::repeat_byte(1),
                package: "vault".into(),
                code_hash: B256::repeat_byte(2),
                init_hash: B256::repeat_byte(3),
                stylus_version: 2,
                block: 5,
            },
        );
        d.external.insert("stablecoin".into(), Address::repeat_byte(9));
        let dir = std::env::temp_dir().join(format!("deployer-record-{}", std::process::id()));
        let path = dir.join("devnet.json");
        d.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"chainId\": 412346") && text.contains("\"codeHash\""), "{text}");
        assert_eq!(Deployment::load(&path).unwrap(), Some(d.clone()));
        assert_eq!(d.address("stablecoin"), Some(Address::repeat_byte(9)));
        assert_eq!(d.address("vault"), Some(Address::repeat_byte(1)));
        assert_eq!(Deployment::load(&dir.join("none.json")).unwrap(), None);
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(Deployment::load(&path), Err(RecordError::Parse { .. })));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
