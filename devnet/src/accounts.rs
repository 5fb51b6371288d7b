//! Deterministic pre-funded development accounts.

use alloy_primitives::{Address, B256, U256};
use k256::ecdsa::SigningKey;

/// The mnemonic anvil and hardhat derive their dev accounts from (m/44'/60'/0'/0/i).
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// The first ten keys of [`DEV_MNEMONIC`]. Kept as constants so start-up does not run
/// PBKDF2 + BIP-32 (slow in debug builds); a test re-derives them from the mnemonic.
pub const ANVIL_KEYS: [&str; 10] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// The nitro dev node's funded key, address 0x3f1Eae7D46d88F08fc2F8ed27FCb2AB183EB2d0E
/// (scripts written for nitro-testnode / nitro-devnode use it).
pub const NITRO_DEV_KEY: &str = "b6b15c8cb491557369f3c7d2c287b053eb229daa9c22138887752191c9520659";

/// Balance each dev account starts with: 10,000 ETH, as anvil.
pub fn dev_balance() -> U256 {
    U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18u64))
}

/// One funded account.
#[derive(Clone, Debug)]
pub struct DevAccount {
    pub address: Address,
    pub key: B256,
}

/// Address of a secp256k1 private key.
pub fn address_of(key: &B256) -> Address {
    let sk = SigningKey::from_slice(key.as_slice()).expect("valid dev key");
    let point = sk.verifying_key().to_encoded_point(false);
    Address::from_raw_public_key(&point.as_bytes()[1..])
}

/// The dev accounts: the nitro dev key first, then anvil's ten.
pub fn dev_accounts() -> Vec<DevAccount> {
    std::iter::once(NITRO_DEV_KEY)
        .chain(ANVIL_KEYS)
        .map(|hex| {
            let key: B256 = hex.parse().expect("valid hex key");
            DevAccount { address: address_of(&key), key }
        })
        .collect()
}
