//! HTTP and WebSocket transports for the JSON-RPC service, on the same port and path.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use serde_json::{json, Value};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{
    chain::{Chain, ChainConfig},
    rpc::{Rpc, RpcError},
};

/// Largest request body accepted (a Stylus deployment is ~50 KB of hex).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// How to start a devnet.
#[derive(Clone, Debug)]
pub struct DevnetConfig {
    pub addr: SocketAddr,
    pub chain_id: u64,
    /// Interval mining: queue transactions and mine a block every this often (None: one
    /// block per transaction, the moment it arrives).
    pub block_time: Option<Duration>,
    /// State file: loaded at start when it exists; [`Devnet::save_state`] writes it.
    pub state_file: Option<PathBuf>,
}

impl Default for DevnetConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8547)),
            chain_id: 412346,
            block_time: None,
            state_file: None,
        }
    }
}

/// Why a devnet could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
    #[error("state file {path}: {reason}")]
    State { path: PathBuf, reason: String },
}

/// A running devnet. Dropping it stops the server.
pub struct Devnet {
    pub addr: SocketAddr,
    pub rpc: Rpc,
    state_file: Option<PathBuf>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    miner: Option<JoinHandle<()>>,
}

impl Devnet {
    /// HTTP endpoint URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// WebSocket endpoint URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Writes the chain to the configured state file (no-op without one). Writes a temporary
    /// file next to it and renames it, so an interrupted save never leaves a torn file.
    pub fn save_state(&self) -> std::io::Result<Option<&PathBuf>> {
        let Some(path) = &self.state_file else { return Ok(None) };
        let dump = self.rpc.chain().dump();
        let json = serde_json::to_vec(&dump).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, path)?;
        Ok(Some(path))
    }

    /// Waits until the server stops (it stops when the process is signalled).
    pub async fn wait(mut self) {
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        if let Some(m) = self.miner.take() {
            m.abort();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds the listener and starts serving. Port 0 picks a free port.
pub async fn spawn(config: DevnetConfig) -> Result<Devnet, StartError> {
    let mut chain = Chain::new(ChainConfig { chain_id: config.chain_id });
    if let Some(path) = config.state_file.as_ref().filter(|p| p.exists()) {
        let err = |reason: String| StartError::State { path: path.clone(), reason };
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let dump = serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))?;
        chain.load(dump).map_err(|e| err(e.to_string()))?;
        tracing::info!(path = %path.display(), block = chain.head().header.number, "loaded state");
    }
    let rpc = Rpc::new(chain);
    let listener = TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/", post(handle).get(crate::ws::upgrade))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(rpc.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = rx.await;
        });
        if let Err(e) = server.await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    let miner = config.block_time.map(|every| {
        rpc.chain().set_automine(false);
        let rpc = rpc.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
            tick.tick().await; // the first tick is immediate
            loop {
                tick.tick().await;
                rpc.chain().mine_pending();
            }
        })
    });
    Ok(Devnet { addr, rpc, state_file: config.state_file, shutdown: Some(tx), task: Some(task), miner })
}

async fn handle(
    State(rpc): State<Rpc>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    // An unreadable or oversized body still gets a JSON-RPC error, not a bare HTTP status.
    let Ok(body) = body else {
        let err =
            RpcError::invalid_request(&format!("request body larger than {MAX_BODY} bytes or unreadable"));
        let v = json!({ "jsonrpc": "2.0", "id": null, "error": err.to_json() });
        return (StatusCode::PAYLOAD_TOO_LARGE, [(header::CONTENT_TYPE, "application/json")], v.to_string())
            .into_response();
    };
    let response = match serde_json::from_slice::<Value>(&body) {
        Err(_) => Some(json!({ "jsonrpc": "2.0", "id": null, "error": RpcError::parse().to_json() })),
        Ok(Value::Array(batch)) if batch.is_empty() => Some(
            json!({ "jsonrpc": "2.0", "id": null, "error": RpcError::invalid_request("empty batch").to_json() }),
        ),
        Ok(Value::Array(batch)) => {
            let out: Vec<Value> = batch.iter().filter_map(|r| rpc.handle_request(r)).collect();
            if out.is_empty() {
                None
            } else {
                Some(Value::Array(out))
            }
        }
        Ok(req) => rpc.handle_request(&req),
    };
    match response {
        Some(v) => ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}
