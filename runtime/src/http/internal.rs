//! Node-to-node chunk endpoints (`/internal/chunks/{hash}`, `/internal/replicate/{hash}`), used
//! by writes, reads and repair copies on other nodes. Every request must carry a token keyed by the cluster secret; a body that does not hash
//! to the chunk's name is refused and nothing is stored.

use super::extract::UrlPath;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dfs_core::ids::{ChunkId, Hash, NodeId};

use super::{ApiError, ApiState};
use crate::peers::{FROM_HEADER, NODE_HEADER, TOKEN_HEADER};
use crate::store::chunks::StoreError;

/// The refusal of a request without a valid cluster token.
pub(super) fn denied() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "not_a_peer",
        "node-to-node requests need a valid cluster token",
    )
}

/// The node a request claims to come from and the token it carries; `denied` if either is
/// missing or malformed.
pub(super) fn credentials(headers: &HeaderMap) -> Result<(NodeId, blake3::Hash), ApiError> {
    let node = headers
        .get(NODE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .map(NodeId)
        .ok_or_else(denied)?;
    let token = headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| blake3::Hash::from_hex(v).ok())
        .ok_or_else(denied)?;
    Ok((node, token))
}

fn authorize(
    state: &ApiState,
    headers: &HeaderMap,
    method: &str,
    hex: &str,
) -> Result<ChunkId, ApiError> {
    let (node, token) = credentials(headers)?;
    // blake3::Hash compares in constant time.
    if token != state.peers.key().chunk_token(node, method, hex) {
        tracing::warn!(peer = %node, "chunk request with a bad token refused");
        return Err(denied());
    }
    let hash = blake3::Hash::from_hex(hex).map_err(|_| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_chunk_id", "a chunk id is 64 hex digits")
    })?;
    Ok(ChunkId(Hash(*hash.as_bytes())))
}

fn store_error(error: StoreError) -> ApiError {
    let status = match &error {
        StoreError::HashMismatch { .. } => StatusCode::BAD_REQUEST,
        StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
        e if e.is_disk_full() => StatusCode::INSUFFICIENT_STORAGE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, "chunk_store", error.to_string())
}

/// `PUT /internal/chunks/{hash}`: store a chunk durably.
pub async fn put_chunk(
    State(state): State<ApiState>,
    UrlPath(hex): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let id = authorize(&state, &headers, "PUT", &hex)?;
    state.chunks.put(id, body).await.map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /internal/chunks/{hash}`: a verified copy of a chunk.
pub async fn get_chunk(
    State(state): State<ApiState>,
    UrlPath(hex): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = authorize(&state, &headers, "GET", &hex)?;
    let bytes = state.chunks.get(id).await.map_err(|error| {
        if matches!(error, StoreError::Corrupt { .. }) {
            // Read repair: a peer found our copy bad, so drop it and let the leader replace it.
            crate::repair::report_damaged(&state.driver, id);
        }
        store_error(error)
    })?;
    Ok(bytes.into_response())
}

/// `POST /internal/replicate/{hash}` with `x-dfs-from: N`: copy a chunk from node N into this
/// node's store (a repair or rebalance copy the leader decided); answers once it is durable.
pub async fn replicate(
    State(state): State<ApiState>,
    UrlPath(hex): UrlPath<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let id = authorize(&state, &headers, "POST", &hex)?;
    let from = headers
        .get(FROM_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .map(NodeId)
        .ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_source", "x-dfs-from must name a node")
        })?;
    crate::repair::pull(&state.peers, &state.chunks, &state.metrics, id, from).await.map_err(
        |fault| {
            use dfs_core::input::JobFault as F;
            let (status, code, why) = match fault {
                F::SourceUnavailable => {
                    (StatusCode::BAD_GATEWAY, "source_unavailable", "the source did not answer")
                }
                F::Corrupt => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "source_corrupt",
                    "the bytes did not match the hash",
                ),
                F::DiskFull => (StatusCode::INSUFFICIENT_STORAGE, "disk_full", "the disk is full"),
                F::TargetUnavailable | F::Io => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "io", "a disk or network error")
                }
            };
            ApiError::new(status, code, format!("copying {id} from {from} failed: {why}"))
        },
    )?;
    Ok(StatusCode::NO_CONTENT)
}
