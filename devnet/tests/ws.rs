//! WebSocket transport: alloy's ws provider on the same port as HTTP, `eth_subscribe`
//! (newHeads, logs, newPendingTransactions) and `eth_unsubscribe`.

mod common;

use std::time::Duration;

use alloy::{
    network::TransactionBuilder,
    primitives::{b256, Address, Bytes, U256},
    providers::{Provider, ProviderBuilder, WsConnect},
    rpc::types::{Filter, TransactionRequest},
};
use common::*;

/// Runtime: log1(0, 32, topic) with memory[0..32] = calldataload(0); stop.
fn logger_runtime() -> Vec<u8> {
    let topic = b256!("2222222222222222222222222222222222222222222222222222222222222222");
    let mut r = vec![0x60, 0x00, 0x35, 0x60, 0x00, 0x52]; // mstore(0, calldataload(0))
    r.push(0x7f);
    r.extend_from_slice(topic.as_slice());
    r.extend([0x60, 0x20, 0x60, 0x00, 0xa1, 0x00]); // log1(0, 32, topic); stop
    r
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test]
async fn ws_requests_and_subscriptions() {
    let dn = start().await;
    let http = provider(&dn, 0);
    let ws = ProviderBuilder::new().connect_ws(WsConnect::new(dn.ws_url())).await.expect("ws connects");

    // Plain requests over the socket.
    assert_eq!(ws.get_chain_id().await.unwrap(), CHAIN_ID);
    assert_eq!(
        ws.get_balance(address(0)).await.unwrap(),
        U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18))
    );

    let heads = ws.subscribe_blocks().await.unwrap();
    let pending = ws.subscribe_pending_transactions().await.unwrap();
    let mut heads = heads;
    let mut pending = pending;

    // A transfer: one new head, its transaction hash.
    let r = http
        .send_transaction(TransactionRequest::default().with_to(address(3)).with_value(U256::from(1)))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let head = within("newHeads", heads.recv()).await.unwrap();
    assert_eq!(head.number, 1);
    assert_eq!(Some(head.hash), r.block_hash);
    assert_eq!(within("newPendingTransactions", pending.recv()).await.unwrap(), r.transaction_hash);

    // Logs: deploy a logger, subscribe to its address (and, separately, to another address).
    let r = http
        .send_transaction(TransactionRequest::default().with_deploy_code(deploy_prelude(&logger_runtime())))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let logger = r.contract_address.unwrap();
    assert_eq!(within("newHeads", heads.recv()).await.unwrap().number, 2);
    let mut logs = ws.subscribe_logs(&Filter::new().address(logger)).await.unwrap();
    let mut other = ws.subscribe_logs(&Filter::new().address(Address::repeat_byte(9))).await.unwrap();
    let payload = Bytes::from(U256::from(42).to_be_bytes::<32>().to_vec());
    let r = http
        .send_transaction(TransactionRequest::default().with_to(logger).with_input(payload.clone()))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(r.status());
    let log = within("logs", logs.recv()).await.unwrap();
    assert_eq!(log.address(), logger);
    assert_eq!(log.data().data, payload);
    assert_eq!(log.transaction_hash, Some(r.transaction_hash));
    assert_eq!(log.block_number, Some(3));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), other.recv()).await.is_err(),
        "a filter on another address gets nothing"
    );

    // Unsubscribe: the server confirms, and a second unsubscribe of the same id is false.
    let id = *logs.local_id();
    ws.unsubscribe(id).await.unwrap();
    let gone: bool =
        ws.raw_request("eth_unsubscribe".into(), ("0x00000000000000000000000000000001",)).await.unwrap();
    assert!(!gone);
    // Unknown subscription names are refused with invalid params.
    let err = ws.raw_request::<_, String>("eth_subscribe".into(), ("syncing",)).await.unwrap_err();
    assert_eq!(err.as_error_resp().unwrap().code, -32602);

    // Transactions sent over the socket are mined as well.
    let wallet_ws = ProviderBuilder::new()
        .wallet(alloy::network::EthereumWallet::from(signer(1)))
        .connect_ws(WsConnect::new(dn.ws_url()))
        .await
        .unwrap();
    let r = wallet_ws
        .send_transaction(TransactionRequest::default().with_to(address(4)).with_value(U256::from(5)))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(r.status());
    assert_eq!(within("newHeads", heads.recv()).await.unwrap().number, 3, "the logger call's block");
    assert_eq!(within("newHeads", heads.recv()).await.unwrap().number, 4);
}

/// Raw frames: malformed JSON, batches and unknown methods over the socket get JSON-RPC
/// answers, and the connection survives them.
#[tokio::test]
async fn ws_raw_frames() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let dn = start().await;
    let (mut socket, _) = tokio_tungstenite::connect_async(dn.ws_url()).await.expect("ws connects");
    let mut ask = async |text: &str| -> serde_json::Value {
        socket.send(Message::Text(text.into())).await.unwrap();
        loop {
            match within("a reply", socket.next()).await.unwrap().unwrap() {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                _ => continue,
            }
        }
    };
    let v = ask("{not json").await;
    assert_eq!(v["error"]["code"], -32700);
    let v = ask(r#"{"jsonrpc":"2.0","id":7,"method":"no_such_method","params":[]}"#).await;
    assert_eq!((v["id"].clone(), v["error"]["code"].clone()), (7.into(), (-32601).into()));
    let v = ask(r#"[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"eth_subscribe","params":["newHeads"]}]"#).await;
    assert_eq!(v[0]["result"], "0x64aba");
    let sub = v[1]["result"].as_str().expect("subscription id").to_string();
    let v = ask(r#"{"jsonrpc":"2.0","id":3,"method":"evm_mine","params":[]}"#).await;
    // The notification and the reply may come in either order.
    let next = ask(r#"{"jsonrpc":"2.0","id":4,"method":"eth_blockNumber"}"#).await;
    let mut seen = vec![v, next];
    while !seen.iter().any(|m| m["method"] == "eth_subscription") || !seen.iter().any(|m| m["id"] == 4) {
        match within("more frames", socket.next()).await.unwrap().unwrap() {
            Message::Text(t) => seen.push(serde_json::from_str(&t).unwrap()),
            _ => continue,
        }
    }
    let note = seen.iter().find(|m| m["method"] == "eth_subscription").unwrap();
    assert_eq!(note["params"]["subscription"], sub.as_str());
    assert_eq!(note["params"]["result"]["number"], "0x1");
}
