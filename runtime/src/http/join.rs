//! `POST /internal/join` (issue 23, `dfs_core::membership`): a node holding the cluster secret
//! asks to have its addresses recorded and, when it asks for a role, to be made a member. Any
//! member takes the request; a follower passes it to the leader once (re-signed with its own
//! id), and the leader proposes what [`membership::answer`] decides, addresses first. The body
//! is a [`JoinRequest`] in JSON, signed like the other internal requests
//! ([`ClusterKey::join_token`](crate::handshake::ClusterKey::join_token)).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use dfs_core::membership::JoinRequest;
use dfs_core::CommandError;
use serde_json::{json, Value};

use super::internal::{credentials, denied};
use super::{ApiError, ApiState};
use crate::peers::RELAYED_HEADER;

/// Largest join request body read (a few addresses in JSON).
pub const JOIN_BODY_BYTES_MAX: usize = 4096;

/// Handles `POST /internal/join`.
pub async fn join(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body = axum::body::to_bytes(body, JOIN_BODY_BYTES_MAX).await.map_err(|_| {
        let message = format!("join requests are limited to {JOIN_BODY_BYTES_MAX} bytes");
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message)
    })?;
    let (from, token) = credentials(&headers)?;
    // blake3::Hash compares in constant time.
    if token != state.peers.key().join_token(from, &body) {
        tracing::warn!(peer = %from, "join request with a bad token refused");
        return Err(denied());
    }
    let request: JoinRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("not a join request: {e}"))
    })?;
    let leader =
        state.driver.query(|node| node.status().leader).await.map_err(|_| ApiError::stopping())?;
    let me = state.peers.me();
    match leader {
        Some(leader) if leader == me => answer(&state, &request).await,
        Some(leader) if !headers.contains_key(RELAYED_HEADER) => {
            relay(&state, leader, &request).await
        }
        _ => Err(ApiError::from(CommandError::NoLeader)),
    }
}

/// On the leader: proposes the commands the request needs, in order.
async fn answer(state: &ApiState, request: &JoinRequest) -> Result<Json<Value>, ApiError> {
    match crate::membership::propose(&state.driver, request).await {
        Ok(answer) => Ok(Json(serde_json::to_value(answer).unwrap_or_else(|_| json!({})))),
        Err(Some(error)) => Err(ApiError::from(error)),
        Err(None) => Err(ApiError::stopping()),
    }
}

/// On a follower: passes the request to the leader and returns its answer.
async fn relay(
    state: &ApiState,
    leader: dfs_core::NodeId,
    request: &JoinRequest,
) -> Result<Json<Value>, ApiError> {
    let unavailable = |e: crate::peers::TransferError| {
        ApiError::unavailable(format!("the leader {leader} did not take the join request: {e}"))
    };
    let relayed = state.peers.join(leader, None, request, true).await.map_err(unavailable)?;
    let status = StatusCode::from_u16(relayed.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let body: Value = serde_json::from_slice(&relayed.body)
        .map_err(|e| ApiError::unavailable(format!("{leader} sent a bad answer: {e}")))?;
    if status.is_success() {
        Ok(Json(body))
    } else {
        Err(ApiError::relayed(status, body))
    }
}
