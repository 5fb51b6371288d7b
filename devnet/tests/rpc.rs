//! Chain core and JSON-RPC through a real alloy provider and raw HTTP.

mod common;

use alloy::{
    consensus::{SignableTransaction, TxLegacy},
    eips::BlockNumberOrTag,
    network::{TransactionBuilder, TxSignerSync},
    primitives::{address, b256, Address, Bytes, TxKind, U256},
    providers::Provider,
    rpc::types::{Filter, TransactionRequest},
    signers::local::{coins_bip39::English, MnemonicBuilder},
};
use common::*;
use devnet::accounts::{dev_accounts, ANVIL_KEYS, DEV_MNEMONIC};
use serde_json::{json, Value};

/// Raw JSON-RPC over HTTP, for error-shape checks alloy would hide.
async fn raw(url: &str, body: &str) -> Value {
    let resp = reqwest_post(url, body).await;
    serde_json::from_str(&resp).unwrap_or_else(|e| panic!("not JSON ({e}): {resp}"))
}

async fn reqwest_post(url: &str, body: &str) -> String {
    // A tiny HTTP/1.1 client over tokio keeps the test free of another HTTP dependency.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string()
}

#[test]
fn dev_accounts_match_mnemonic_and_nitro_key() {
    let accounts = dev_accounts();
    assert_eq!(accounts[0].address, address!("3f1Eae7D46d88F08fc2F8ed27FCb2AB183EB2d0E"));
    for (i, _) in ANVIL_KEYS.iter().enumerate() {
        let derived = MnemonicBuilder::<English>::default()
            .phrase(DEV_MNEMONIC)
            .index(i as u32)
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(derived.address(), accounts[i + 1].address, "anvil account {i}");
    }
}

#[tokio::test]
async fn basics_and_errors() {
    let t = std::time::Instant::now();
    let dn = start().await;
    assert!(t.elapsed().as_millis() < 1000, "starts in under a second");
    let p = provider(&dn, 0);
    assert_eq!(p.get_chain_id().await.unwrap(), CHAIN_ID);
    assert_eq!(p.get_block_number().await.unwrap(), 0);
    let accounts = p.get_accounts().await.unwrap();
    assert_eq!(accounts.len(), 11);
    let bal = p.get_balance(address!("3f1Eae7D46d88F08fc2F8ed27FCb2AB183EB2d0E")).await.unwrap();
    assert_eq!(bal, U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18)));

    let url = dn.url();
    let v = raw(&url, r#"{"jsonrpc":"2.0","id":1,"method":"net_version","params":[]}"#).await;
    assert_eq!(v["result"], json!("412346"));
    let v = raw(&url, r#"{"jsonrpc":"2.0","id":1,"method":"web3_clientVersion"}"#).await;
    assert!(v["result"].as_str().unwrap().starts_with("devnet/"));
    let v = raw(&url, "{not json").await;
    assert_eq!(v["error"]["code"], json!(-32700));
    let v = raw(&url, r#"{"jsonrpc":"2.0","id":7,"method":"eth_nope","params":[]}"#).await;
    assert_eq!(v["error"]["code"], json!(-32601));
    assert_eq!(v["id"], json!(7));
    let v = raw(&url, r#"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x12"]}"#).await;
    assert_eq!(v["error"]["code"], json!(-32602));
    let v =
        raw(&url, r#"{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0xdeadbeef"]}"#)
            .await;
    assert!(v["error"].is_object(), "{v}");
    let v = raw(&url, r#"[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"eth_blockNumber"}]"#).await;
    assert_eq!(v[0]["result"], json!("0x64aba"));
    assert_eq!(v[1]["result"], json!("0x0"));
    let big =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["{}"]}}"#, "a".repeat(9 << 20));
    let v = raw(&url, &big).await;
    assert_eq!(v["error"]["code"], json!(-32600), "oversized request");

    // Wrong chain id, bad nonce: JSON-RPC errors, no block mined.
    let signer = signer(1);
    let mut tx = TxLegacy {
        chain_id: Some(1),
        nonce: 0,
        gas_price: 1_000_000_000,
        gas_limit: 21_000,
        to: TxKind::Call(Address::repeat_byte(1)),
        value: U256::from(1),
        input: Bytes::new(),
    };
    let sig = signer.sign_transaction_sync(&mut tx).unwrap();
    let raw_tx = alloy::eips::eip2718::Encodable2718::encoded_2718(&tx.clone().into_signed(sig));
    let err = p.send_raw_transaction(&raw_tx).await.unwrap_err();
    assert!(err.to_string().contains("chain id"), "{err}");
    tx.chain_id = Some(CHAIN_ID);
    tx.nonce = 5;
    let sig = signer.sign_transaction_sync(&mut tx).unwrap();
    let raw_tx = alloy::eips::eip2718::Encodable2718::encoded_2718(&tx.clone().into_signed(sig));
    let err = p.send_raw_transaction(&raw_tx).await.unwrap_err();
    assert!(err.to_string().to_lowercase().contains("nonce"), "{err}");
    // EIP-2930 tx with an access list is mined.
    let mut tx2930 = alloy::consensus::TxEip2930 {
        chain_id: CHAIN_ID,
        nonce: 0,
        gas_price: 1_000_000_000,
        gas_limit: 30_000,
        to: TxKind::Call(Address::repeat_byte(2)),
        value: U256::from(2),
        access_list: alloy::eips::eip2930::AccessList(vec![alloy::eips::eip2930::AccessListItem {
            address: Address::repeat_byte(2),
            storage_keys: vec![Default::default()],
        }]),
        input: Bytes::new(),
    };
    let sig = common::signer(2).sign_transaction_sync(&mut tx2930).unwrap();
    let raw_tx = alloy::eips::eip2718::Encodable2718::encoded_2718(&tx2930.clone().into_signed(sig));
    let receipt = p.send_raw_transaction(&raw_tx).await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status());
    assert_eq!(receipt.transaction_type(), alloy::consensus::TxType::Eip2930);
    // A corrupted signature (invalid, or recovering to an unfunded stranger) is an error.
    let mut corrupt = raw_tx.clone();
    let n = corrupt.len();
    corrupt[n - 1] ^= 0xff;
    assert!(p.send_raw_transaction(&corrupt).await.is_err());
    // Legacy tx with the right nonce is mined.
    tx.nonce = 0;
    let sig = signer.sign_transaction_sync(&mut tx).unwrap();
    let raw_tx = alloy::eips::eip2718::Encodable2718::encoded_2718(&tx.clone().into_signed(sig));
    let receipt = p.send_raw_transaction(&raw_tx).await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status());
    assert_eq!(receipt.transaction_type(), alloy::consensus::TxType::Legacy);
    // Arbitrum-style pricing: legacy txs pay the base fee, not their gas price.
    assert_eq!(receipt.effective_gas_price, 100_000_000);
    assert_eq!(p.get_block_number().await.unwrap(), 2);
}

#[tokio::test]
async fn send_eth_and_blocks() {
    let dn = start().await;
    let p = provider(&dn, 0);
    let to = address!("00000000000000000000000000000000000000aa");
    let value = U256::from(123_456_789u64);
    let from_before = p.get_balance(address(0)).await.unwrap();
    let receipt = p
        .send_transaction(TransactionRequest::default().with_to(to).with_value(value))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    assert_eq!(receipt.gas_used, 21_000);
    assert_eq!(p.get_balance(to).await.unwrap(), value);
    let fee = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
    assert_eq!(p.get_balance(address(0)).await.unwrap(), from_before - value - fee);
    assert_eq!(p.get_transaction_count(address(0)).await.unwrap(), 1);
    assert_eq!(p.get_transaction_count(address(0)).pending().await.unwrap(), 1);

    let tx = p.get_transaction_by_hash(receipt.transaction_hash).await.unwrap().unwrap();
    assert_eq!(tx.inner.signer(), address(0));
    let block = p.get_block_by_number(BlockNumberOrTag::Latest).full().await.unwrap().unwrap();
    assert_eq!(block.header.number, 1);
    assert_eq!(block.transactions.len(), 1);
    let by_hash = p.get_block_by_hash(block.header.hash).await.unwrap().unwrap();
    assert_eq!(by_hash.header.hash, block.header.hash);
    assert_eq!(by_hash.transactions.hashes().next(), Some(receipt.transaction_hash));
    let genesis = p.get_block_by_number(0.into()).await.unwrap().unwrap();
    assert_eq!(block.header.parent_hash, genesis.header.hash);

    let gas_price = p.get_gas_price().await.unwrap();
    assert_eq!(gas_price, 100_000_000);
    let fh = p.get_fee_history(2, BlockNumberOrTag::Latest, &[50.0]).await.unwrap();
    assert_eq!(fh.base_fee_per_gas.len(), 3);
    assert_eq!(p.get_max_priority_fee_per_gas().await.unwrap(), 0);
}

/// Runtime: sstore(0, calldataload(0)); log1(0, 32, topic) ; return sload(0).
fn store_runtime() -> Vec<u8> {
    let topic = b256!("1111111111111111111111111111111111111111111111111111111111111111");
    let mut r = vec![0x60, 0x00, 0x35, 0x60, 0x00, 0x55]; // sstore(0, calldataload(0))
    r.extend([0x60, 0x00, 0x54, 0x60, 0x00, 0x52]); // mstore(0, sload(0))
    r.push(0x7f); // PUSH32 topic
    r.extend_from_slice(topic.as_slice());
    r.extend([0x60, 0x20, 0x60, 0x00, 0xa1]); // log1(0, 32, topic)
    r.extend([0x60, 0x20, 0x60, 0x00, 0xf3]); // return(0, 32)
    r
}

/// Runtime that reverts with the 4 bytes 0xdeadbeef.
fn revert_runtime() -> Vec<u8> {
    vec![0x63, 0xde, 0xad, 0xbe, 0xef, 0x60, 0xe0, 0x1b, 0x60, 0x00, 0x52, 0x60, 0x04, 0x60, 0x00, 0xfd]
}

#[tokio::test]
async fn evm_contract_call_logs_and_revert() {
    let dn = start().await;
    let p = provider(&dn, 0);
    let receipt = p
        .send_transaction(TransactionRequest::default().with_deploy_code(deploy_prelude(&store_runtime())))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    let c = receipt.contract_address.unwrap();
    assert_eq!(p.get_code_at(c).await.unwrap(), Bytes::from(store_runtime()));

    let word = U256::from(42).to_be_bytes::<32>();
    let r = p
        .send_transaction(TransactionRequest::default().with_to(c).with_input(word.to_vec()))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(r.status());
    assert_eq!(r.inner.logs().len(), 1);
    assert_eq!(p.get_storage_at(c, U256::ZERO).await.unwrap(), U256::from(42));
    // eth_call does not change state.
    let out = p
        .call(TransactionRequest::default().with_to(c).with_input(U256::from(7).to_be_bytes::<32>().to_vec()))
        .await
        .unwrap();
    assert_eq!(U256::from_be_slice(&out), U256::from(7));
    assert_eq!(p.get_storage_at(c, U256::ZERO).await.unwrap(), U256::from(42));

    let logs = p.get_logs(&Filter::new().address(c).from_block(0)).await.unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].transaction_hash, Some(r.transaction_hash));
    let none = p.get_logs(&Filter::new().address(Address::repeat_byte(9)).from_block(0)).await.unwrap();
    assert!(none.is_empty());

    // Reverts: code 3 with the revert bytes in data.
    let rc = p
        .send_transaction(TransactionRequest::default().with_deploy_code(deploy_prelude(&revert_runtime())))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap()
        .contract_address
        .unwrap();
    let err = p.call(TransactionRequest::default().with_to(rc)).await.unwrap_err();
    let payload = err.as_error_resp().expect("JSON-RPC error");
    assert_eq!(payload.code, 3);
    assert_eq!(payload.as_revert_data(), Some(Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef])));
    let err = p.estimate_gas(TransactionRequest::default().with_to(rc)).await.unwrap_err();
    assert_eq!(err.as_error_resp().unwrap().code, 3);
}

#[tokio::test]
async fn eth_call_state_overrides() {
    use alloy::rpc::types::state::{AccountOverride, StateOverridesBuilder};
    let dn = start().await;
    let p = provider(&dn, 0);
    let c = Address::repeat_byte(0x42);
    // Code override: the store runtime at an empty address, with a storage override.
    let overrides = StateOverridesBuilder::default()
        .append(c, AccountOverride { code: Some(store_runtime().into()), ..Default::default() })
        .build();
    let out = p
        .call(TransactionRequest::default().with_to(c).with_input(U256::from(9).to_be_bytes::<32>().to_vec()))
        .overrides(overrides)
        .await
        .unwrap();
    assert_eq!(U256::from_be_slice(&out), U256::from(9));
    // Balance override lets an empty account send value.
    let poor = Address::repeat_byte(0x55);
    let req = TransactionRequest::default().from(poor).with_to(c).with_value(U256::from(1000));
    assert!(p.call(req.clone()).await.is_err());
    let overrides = StateOverridesBuilder::default()
        .append(poor, AccountOverride { balance: Some(U256::from(10_000)), ..Default::default() })
        .build();
    p.call(req).overrides(overrides).await.unwrap();
    // Overrides never touch the chain.
    assert!(p.get_code_at(c).await.unwrap().is_empty());
}

#[tokio::test]
async fn snapshot_revert_time_and_mine() {
    let dn = start().await;
    let p = provider(&dn, 0);
    let url = dn.url();
    let to = Address::repeat_byte(0x77);
    let snap =
        raw(&url, r#"{"jsonrpc":"2.0","id":1,"method":"evm_snapshot","params":[]}"#).await["result"].clone();
    p.send_transaction(TransactionRequest::default().with_to(to).with_value(U256::from(5)))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert_eq!(p.get_balance(to).await.unwrap(), U256::from(5));
    assert_eq!(p.get_block_number().await.unwrap(), 1);
    let body = json!({"jsonrpc":"2.0","id":1,"method":"evm_revert","params":[snap]}).to_string();
    assert_eq!(raw(&url, &body).await["result"], json!(true));
    assert_eq!(p.get_balance(to).await.unwrap(), U256::ZERO);
    assert_eq!(p.get_block_number().await.unwrap(), 0);
    assert_eq!(p.get_transaction_count(address(0)).await.unwrap(), 0);
    // The snapshot is gone after use.
    assert_eq!(raw(&url, &body).await["result"], json!(false));

    let t0 = p.get_block_by_number(BlockNumberOrTag::Latest).await.unwrap().unwrap().header.timestamp;
    raw(&url, r#"{"jsonrpc":"2.0","id":1,"method":"evm_increaseTime","params":[3600]}"#).await;
    raw(&url, r#"{"jsonrpc":"2.0","id":1,"method":"evm_mine","params":[]}"#).await;
    // alloy caches nonces client-side; after a revert a fresh provider starts over.
    let p = provider(&dn, 0);
    let b1 = p.get_block_by_number(BlockNumberOrTag::Latest).await.unwrap().unwrap();
    assert_eq!(b1.header.number, 1);
    assert!(b1.header.timestamp >= t0 + 3600);
    let target = b1.header.timestamp + 100_000;
    let body =
        json!({"jsonrpc":"2.0","id":1,"method":"evm_setNextBlockTimestamp","params":[target]}).to_string();
    assert!(raw(&url, &body).await["error"].is_null());
    p.send_transaction(TransactionRequest::default().with_to(to).with_value(U256::from(1)))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let b2 = p.get_block_by_number(BlockNumberOrTag::Latest).await.unwrap().unwrap();
    assert_eq!(b2.header.timestamp, target);
    // Going back in time is refused.
    let body = json!({"jsonrpc":"2.0","id":1,"method":"evm_setNextBlockTimestamp","params":[t0]}).to_string();
    assert!(raw(&url, &body).await["error"].is_object());
}
