//! Connecting to a configured network: the RPC URL (environment first, then the config)
//! and the deployer key (environment, or the devnet's well-known dev key).

use alloy::{
    network::EthereumWallet,
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};

use crate::config::Network;

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network `{network}` has no RPC URL: set {env}")]
    NoRpcUrl { network: String, env: String },
    #[error("{source_name} is not a valid RPC URL: {value:?}")]
    BadUrl { source_name: String, value: String },
    #[error("network `{network}` needs a deployer key: set {env} to a 0x-prefixed private key")]
    NoKey { network: String, env: String },
    #[error("{source_name} is not a valid private key")]
    BadKey { source_name: String },
}

/// The RPC URL: `$<rpc_url_env>` when set, else `rpc_url` from the config.
pub fn rpc_url(network: &Network) -> Result<String, NetworkError> {
    if let Some(env) = &network.rpc_url_env {
        if let Ok(v) = std::env::var(env) {
            if !v.is_empty() {
                return Ok(v);
            }
        }
    }
    network.rpc_url.clone().ok_or_else(|| NetworkError::NoRpcUrl {
        network: network.name.clone(),
        env: network.rpc_url_env.clone().unwrap_or_else(|| "rpc_url in the config".into()),
    })
}

/// The deployer's key: `$<key_env>` when set, else the configured development key, else `None`.
pub fn signer(network: &Network) -> Result<Option<PrivateKeySigner>, NetworkError> {
    if let Some(env) = &network.key_env {
        if let Ok(v) = std::env::var(env) {
            if !v.is_empty() {
                return v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| NetworkError::BadKey { source_name: format!("${env}") });
            }
        }
    }
    match &network.dev_key {
        Some(k) => k
            .parse()
            .map(Some)
            .map_err(|_| NetworkError::BadKey { source_name: format!("networks.{}.dev_key", network.name) }),
        None => Ok(None),
    }
}

/// Like [`signer`], but a key is required.
pub fn require_signer(network: &Network) -> Result<PrivateKeySigner, NetworkError> {
    signer(network)?.ok_or_else(|| NetworkError::NoKey {
        network: network.name.clone(),
        env: network.key_env.clone().unwrap_or_else(|| "DEPLOYER_PRIVATE_KEY".into()),
    })
}

fn parse_url(url: &str) -> Result<reqwest_url::Url, NetworkError> {
    url.parse().map_err(|_| NetworkError::BadUrl { source_name: "the RPC URL".into(), value: url.into() })
}

/// A provider that signs with `signer` (nonce, gas and chain id filled in).
pub fn signing_provider(url: &str, signer: PrivateKeySigner) -> Result<DynProvider, NetworkError> {
    Ok(ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(parse_url(url)?).erased())
}

/// A read-only provider.
pub fn read_provider(url: &str) -> Result<DynProvider, NetworkError> {
    Ok(ProviderBuilder::new().connect_http(parse_url(url)?).erased())
}

mod reqwest_url {
    pub use alloy::transports::http::reqwest::Url;
}
