//! `RegistryDirectory` against the in-process devnet: `market.job` and
//! `registry.providerInfo` are answered by stand-in EVM contracts returning fixed words, so
//! this checks the calls, the ABI decoding, the "not registered" cases and the cache.

use std::time::Duration;

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{keccak256, Address, B256, U256};
use relayer::directory::{DirectoryError, ProviderDirectory, ProviderRecord, RegistryDirectory};

/// Runtime code that returns `words` to any call.
fn returner(words: &[B256]) -> Vec<u8> {
    let mut code = Vec::new();
    for (i, w) in words.iter().enumerate() {
        code.push(0x7f);
        code.extend_from_slice(w.as_slice());
        let off = u16::try_from(i * 32).unwrap().to_be_bytes();
        code.extend_from_slice(&[0x61, off[0], off[1], 0x52]); // PUSH2 offset, MSTORE
    }
    let len = u16::try_from(words.len() * 32).unwrap().to_be_bytes();
    code.extend_from_slice(&[0x61, len[0], len[1], 0x60, 0x00, 0xf3]); // PUSH2 size, PUSH1 0, RETURN
    code
}

async fn deploy(rpc: &DynProvider, runtime: &[u8]) -> Address {
    let n = u16::try_from(runtime.len()).unwrap().to_be_bytes();
    let mut init = vec![0x61, n[0], n[1], 0x80, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3];
    init.extend_from_slice(runtime);
    let tx = TransactionRequest::default().with_deploy_code(init);
    rpc.send_transaction(tx).await.unwrap().get_receipt().await.unwrap().contract_address.unwrap()
}

fn w(v: u64) -> B256 {
    B256::from(U256::from(v))
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_job_class_and_registered_key_then_serves_from_cache() {
    let devnet = devnet::spawn(devnet::DevnetConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        chain_id: 412346,
        ..Default::default()
    })
    .await
    .expect("devnet starts");
    let url: alloy::transports::http::reqwest::Url = devnet.url().parse().unwrap();
    let deployer: PrivateKeySigner = devnet::accounts::ANVIL_KEYS[3].parse().unwrap();
    let rpc = ProviderBuilder::new().wallet(EthereumWallet::from(deployer)).connect_http(url).erased();

    let (provider, key, class) =
        (Address::repeat_byte(0xA1), Address::repeat_byte(0xB2), keccak256("H100-SXM5-80GB"));
    let digest = B256::repeat_byte(0xD1);
    // job(): buyer, provider, classId, escrow, specHash, openedAt, acceptDeadline, acceptedAt, status
    let job = [w(9), provider.into_word(), class, w(600), B256::ZERO, w(1), w(2), w(3), w(1)];
    let market = deploy(&rpc, &returner(&job)).await;
    let no_job = deploy(&rpc, &returner(&[B256::ZERO; 9])).await;
    let registry = deploy(&rpc, &returner(&[w(1), key.into_word(), digest, w(2)])).await;
    let unregistered = deploy(&rpc, &returner(&[B256::ZERO; 4])).await;

    let ttl = Duration::from_secs(600);
    let dir = RegistryDirectory::new(rpc.clone(), market, registry, ttl);
    let rec = dir.lookup(U256::from(1), provider).await.unwrap();
    assert_eq!(
        rec,
        Some(ProviderRecord {
            class_id: class,
            job_provider: provider,
            signing_key: key,
            evidence_digest: digest
        })
    );
    let dir_unreg = RegistryDirectory::new(rpc.clone(), market, unregistered, ttl);
    assert_eq!(dir_unreg.lookup(U256::from(1), provider).await.unwrap(), None, "not registered");
    let dir_no_job = RegistryDirectory::new(rpc.clone(), no_job, registry, ttl);
    assert_eq!(dir_no_job.lookup(U256::from(1), provider).await.unwrap(), None, "no such job");

    // The chain goes away: the cached answer still serves, a new question is "unavailable".
    drop(devnet);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(dir.lookup(U256::from(1), provider).await.unwrap(), rec);
    let err = dir.lookup(U256::from(2), provider).await.unwrap_err();
    assert!(matches!(err, DirectoryError::Unavailable(_)), "{err}");
}
