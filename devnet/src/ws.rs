//! JSON-RPC over WebSocket (same port and path as HTTP): every method, plus
//! `eth_subscribe` (`newHeads`, `logs`, `newPendingTransactions`) and `eth_unsubscribe`.
//!
//! One task per connection: it reads requests, answers them in order, and forwards the
//! notifications of the connection's subscriptions. A subscription is a task that listens to
//! the chain's new-block announcements and pushes `eth_subscription` messages; it ends when it
//! is unsubscribed or the connection closes.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicU64, Ordering},
};

use alloy_primitives::{keccak256, B256};
use alloy_rpc_types_eth::Filter;
use axum::{
    extract::{
        ws::{Message, WebSocket, WebSocketUpgrade},
        State,
    },
    response::Response,
};
use serde_json::{json, Value};
use tokio::{
    sync::{broadcast::error::RecvError, mpsc},
    task::JoinHandle,
};

use crate::{
    rpc::{Rpc, RpcError},
    server::MAX_BODY,
};

/// What a subscription sends.
#[derive(Clone, Debug)]
enum Kind {
    NewHeads,
    Logs(Box<Filter>),
    PendingTransactions,
}

/// Upgrades a GET on the RPC path to a WebSocket.
pub async fn upgrade(State(rpc): State<Rpc>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_BODY).on_upgrade(move |socket| connection(rpc, socket))
}

fn subscription_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let h = keccak256([n.to_be_bytes().as_slice(), &seed.to_be_bytes()].concat());
    format!("0x{}", alloy_primitives::hex::encode(&h[..16]))
}

async fn connection(rpc: Rpc, mut socket: WebSocket) {
    let (notify_tx, mut notify_rx) = mpsc::unbounded_channel::<Value>();
    let mut subs: HashMap<String, JoinHandle<()>> = HashMap::new();
    loop {
        tokio::select! {
            msg = socket.recv() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                };
                let reply = handle_text(&rpc, &text, &mut subs, &notify_tx);
                if let Some(reply) = reply {
                    if socket.send(Message::Text(reply.to_string().into())).await.is_err() {
                        break;
                    }
                }
            }
            Some(note) = notify_rx.recv() => {
                if socket.send(Message::Text(note.to_string().into())).await.is_err() {
                    break;
                }
            }
        }
    }
    for (_, task) in subs {
        task.abort();
    }
}

/// Answers one message (a request or a batch); None when nothing is to be sent back.
fn handle_text(
    rpc: &Rpc,
    text: &str,
    subs: &mut HashMap<String, JoinHandle<()>>,
    notify: &mpsc::UnboundedSender<Value>,
) -> Option<Value> {
    let error = |e: RpcError| json!({ "jsonrpc": "2.0", "id": null, "error": e.to_json() });
    match serde_json::from_str::<Value>(text) {
        Err(_) => Some(error(RpcError::parse())),
        Ok(Value::Array(batch)) if batch.is_empty() => Some(error(RpcError::invalid_request("empty batch"))),
        Ok(Value::Array(batch)) => {
            let out: Vec<Value> = batch.iter().filter_map(|r| handle_one(rpc, r, subs, notify)).collect();
            (!out.is_empty()).then_some(Value::Array(out))
        }
        Ok(req) => handle_one(rpc, &req, subs, notify),
    }
}

fn handle_one(
    rpc: &Rpc,
    req: &Value,
    subs: &mut HashMap<String, JoinHandle<()>>,
    notify: &mpsc::UnboundedSender<Value>,
) -> Option<Value> {
    let method = req.get("method").and_then(Value::as_str);
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let params = req.get("params").cloned().unwrap_or(Value::Array(vec![]));
    let result = match method {
        Some("eth_subscribe") => subscribe(rpc, &params, subs, notify),
        Some("eth_unsubscribe") => match params.get(0).and_then(Value::as_str) {
            Some(sub) => Ok(json!(subs.remove(sub).map(|t| t.abort()).is_some())),
            None => Err(RpcError::invalid_params("argument 0: subscription id expected")),
        },
        _ => return rpc.handle_request(req),
    };
    Some(match result {
        Ok(v) => json!({ "jsonrpc": "2.0", "id": id, "result": v }),
        Err(e) => json!({ "jsonrpc": "2.0", "id": id, "error": e.to_json() }),
    })
}

fn subscribe(
    rpc: &Rpc,
    params: &Value,
    subs: &mut HashMap<String, JoinHandle<()>>,
    notify: &mpsc::UnboundedSender<Value>,
) -> Result<Value, RpcError> {
    let kind = match params.get(0).and_then(Value::as_str) {
        Some("newHeads") => Kind::NewHeads,
        Some("newPendingTransactions") => Kind::PendingTransactions,
        Some("logs") => {
            let filter = match params.get(1) {
                None | Some(Value::Null) => Filter::default(),
                Some(v) => serde_json::from_value(v.clone())
                    .map_err(|e| RpcError::invalid_params(format!("argument 1: {e}")))?,
            };
            Kind::Logs(Box::new(filter))
        }
        Some(other) => return Err(RpcError::invalid_params(format!("unsupported subscription `{other}`"))),
        None => return Err(RpcError::invalid_params("argument 0: subscription name expected")),
    };
    let id = subscription_id();
    let mut blocks = rpc.chain().subscribe_blocks();
    let (rpc, notify, sub) = (rpc.clone(), notify.clone(), id.clone());
    let task = tokio::spawn(async move {
        loop {
            let n = match blocks.recv().await {
                Ok(n) => n,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "subscriber fell behind; blocks skipped");
                    continue;
                }
                Err(RecvError::Closed) => break,
            };
            let results: Vec<Value> = match &kind {
                Kind::NewHeads => rpc.header_json(n).into_iter().collect(),
                Kind::Logs(filter) => rpc.block_logs(n, filter),
                Kind::PendingTransactions => {
                    rpc.block_tx_hashes(n).into_iter().map(|h: B256| json!(h)).collect()
                }
            };
            for result in results {
                let note = json!({
                    "jsonrpc": "2.0",
                    "method": "eth_subscription",
                    "params": { "subscription": sub, "result": result },
                });
                if notify.send(note).is_err() {
                    return;
                }
            }
        }
    });
    subs.insert(id.clone(), task);
    Ok(json!(id))
}
