//! The HTTP API for provider nodes and anyone checking on a report (axum).
//!
//! Every error is JSON `{ "code": "stable_snake_code", "message": "..." }`; codes are part of
//! the API and do not change. Bodies are read with an explicit limit so an oversized body
//! gets its own code rather than a dropped connection.

use std::sync::Arc;

use alloy_primitives::{keccak256, B256};
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use market_protocol::wire::MAX_BODY_BYTES;
use market_protocol::ReportId;
use serde_json::json;

use crate::pipeline::{Intake, Refusal};
use crate::queue::ReportState;

/// Largest job spec accepted by `POST /v1/specs`.
pub const MAX_SPEC_BYTES: usize = 256 * 1024;

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(json!({ "code": self.code, "message": self.message }))).into_response()
    }
}

pub fn router(intake: Arc<Intake>) -> Router {
    Router::new()
        .route("/v1/reports", post(post_report))
        .route("/v1/reports/{id}", get(get_report))
        .route("/v1/specs", post(post_spec))
        .route("/v1/specs/{hash}", get(get_spec))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(|| async { Refusal::new(404, "not_found", "no such endpoint") })
        // Limits are enforced by `read_body` below, with our own error code.
        .layer(DefaultBodyLimit::disable())
        .with_state(intake)
}

/// Reads at most `limit` bytes; more is `body_too_large` (413).
async fn read_body(body: Body, limit: usize) -> Result<Bytes, Refusal> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if err.is::<http_body_util::LengthLimitError>() {
                return Refusal::new(413, "body_too_large", format!("body is larger than {limit} bytes"));
            }
            source = err.source();
        }
        Refusal::new(400, "unreadable_body", e.to_string())
    })
}

async fn post_report(State(intake): State<Arc<Intake>>, body: Body) -> Result<Response, Refusal> {
    let bytes = read_body(body, MAX_BODY_BYTES).await?;
    let accepted = intake.submit(bytes.to_vec()).await?;
    tracing::info!(id = %accepted.id, state = accepted.state.name(), "report accepted");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": accepted.id.to_string(), "status": accepted.state.name() })),
    )
        .into_response())
}

fn state_json(id: &ReportId, state: &ReportState) -> serde_json::Value {
    let mut v = json!({ "id": id.to_string(), "status": state.name() });
    match state {
        ReportState::Received | ReportState::Verified => {}
        ReportState::Rejected { code, message } => {
            v["reason"] = json!({ "code": code, "message": message });
        }
        ReportState::Submitted { tx_hash } => v["txHash"] = json!(tx_hash.to_string()),
        ReportState::Settled { tx_hash, block } => {
            v["txHash"] = json!(tx_hash.to_string());
            v["block"] = json!(block);
        }
        ReportState::Skipped { tx_hash, block, reason } => {
            v["txHash"] = json!(tx_hash.to_string());
            v["block"] = json!(block);
            v["skipReason"] = json!(reason);
        }
    }
    v
}

async fn get_report(State(intake): State<Arc<Intake>>, Path(id): Path<String>) -> Result<Response, Refusal> {
    let id: ReportId =
        id.parse().map_err(|_| Refusal::new(400, "invalid_id", "report id must be 0x + 64 hex"))?;
    let queue = intake.queue.clone();
    let stored = tokio::task::spawn_blocking(move || queue.get(&id))
        .await
        .map_err(|e| Refusal::new(500, "internal", e.to_string()))?
        .map_err(|e| Refusal::new(500, "internal", e.to_string()))?
        .ok_or_else(|| Refusal::new(404, "not_found", format!("no report {id}")))?;
    Ok(Json(state_json(&id, &stored.state)).into_response())
}

async fn post_spec(State(intake): State<Arc<Intake>>, body: Body) -> Result<Response, Refusal> {
    let bytes = read_body(body, MAX_SPEC_BYTES).await?;
    if bytes.is_empty() {
        return Err(Refusal::new(400, "empty_body", "a job spec cannot be empty"));
    }
    let hash = keccak256(&bytes);
    let (queue, now) = (intake.queue.clone(), (intake.clock)());
    let created = tokio::task::spawn_blocking(move || queue.put_spec(hash, &bytes, now))
        .await
        .map_err(|e| Refusal::new(500, "internal", e.to_string()))?
        .map_err(|e| Refusal::new(500, "internal", e.to_string()))?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({ "hash": hash.to_string() }))).into_response())
}

async fn get_spec(State(intake): State<Arc<Intake>>, Path(hash): Path<String>) -> Result<Response, Refusal> {
    let hash: B256 =
        hash.parse().map_err(|_| Refusal::new(400, "invalid_hash", "spec hash must be 0x + 64 hex"))?;
    let queue = intake.queue.clone();
    let body = tokio::task::spawn_blocking(move || queue.get_spec(&hash))
        .await
        .map_err(|e| Refusal::new(500, "internal", e.to_string()))?
        .map_err(|e| Refusal::new(500, "internal", e.to_string()))?
        .ok_or_else(|| Refusal::new(404, "not_found", format!("no spec {hash}")))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response())
}

async fn healthz(State(intake): State<Arc<Intake>>) -> Result<Response, Refusal> {
    let queue = intake.queue.clone();
    tokio::task::spawn_blocking(move || queue.counts())
        .await
        .map_err(|e| Refusal::new(503, "unhealthy", e.to_string()))?
        .map_err(|e| Refusal::new(503, "unhealthy", e.to_string()))?;
    Ok(Json(json!({ "status": "ok" })).into_response())
}

async fn metrics(State(intake): State<Arc<Intake>>) -> Response {
    let queue = intake.queue.clone();
    let counts = tokio::task::spawn_blocking(move || queue.counts())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], intake.metrics.render(&counts)).into_response()
}
