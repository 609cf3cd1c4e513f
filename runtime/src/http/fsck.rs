//! `GET /fsck` (any node runs the whole check; `?verify=false` checks existence only) and
//! `POST /internal/verify` (a member checks its own copies for the node running fsck; needs a
//! cluster token bound to the body). See [`crate::fsck`] for the rules.

use super::extract::Query;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::Deserialize;

use super::internal::{credentials, denied};
use super::{ApiError, ApiState};
use crate::fsck::check::{self, verify_here, FsckError};
use crate::fsck::report::FsckReport;
use crate::fsck::verify::{
    parse_request, VerifyAnswer, VerifyInputError, VERIFY_BODY_BYTES_MAX, VERIFY_CHUNKS_MAX,
};

/// Query options of `GET /fsck`.
#[derive(Debug, Deserialize)]
pub struct FsckOptions {
    /// `false` checks only that copies exist; anything else but `true` is refused.
    pub verify: Option<String>,
}

/// Handles `GET /fsck`: 200 with the report whatever it found (`ok` says whether it is clean).
pub async fn fsck(
    State(state): State<ApiState>,
    super::auth::Authed(caller): super::auth::Authed,
    Query(options): Query<FsckOptions>,
) -> Result<Json<FsckReport>, ApiError> {
    super::auth::require_admin(&caller, "fsck")?;
    let verify = match options.verify.as_deref() {
        None | Some("true") => true,
        Some("false") => false,
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_query",
                "verify must be true or false",
            ))
        }
    };
    let Ok(_running) = state.fsck.running.try_acquire() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "fsck_running",
            "this node is already running an fsck; wait for it or ask another node",
        ));
    };
    match check::run(fsck_node(&state), verify).await {
        Ok(report) => Ok(Json(report)),
        Err(FsckError::NoLeader) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_leader",
            FsckError::NoLeader.to_string(),
        )),
        Err(FsckError::Stopping) => Err(ApiError::stopping()),
    }
}

/// Handles `POST /internal/verify`: checks this node's copy of each listed chunk.
pub async fn verify(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<VerifyAnswer>, ApiError> {
    let body = read_bounded(body).await?;
    let (node, token) = credentials(&headers)?;
    // blake3::Hash compares in constant time.
    if token != state.peers.key().verify_token(node, &body) {
        tracing::warn!(peer = %node, "verify request with a bad token refused");
        return Err(denied());
    }
    let (chunks, rehash) = parse_request(&body).map_err(|error| {
        let (status, code) = match &error {
            VerifyInputError::Malformed(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            VerifyInputError::TooManyChunks { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "too_many_chunks")
            }
            VerifyInputError::BadChunkId { .. } => (StatusCode::BAD_REQUEST, "bad_chunk_id"),
        };
        ApiError::new(status, code, error.to_string())
    })?;
    let states = verify_here(fsck_node(&state), &chunks, rehash).await;
    Ok(Json(VerifyAnswer { node: state.peers.me().0, states }))
}

/// The whole body, refused as soon as it passes [`VERIFY_BODY_BYTES_MAX`].
async fn read_bounded(body: Body) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "verify requests are limited to {VERIFY_BODY_BYTES_MAX} bytes and {VERIFY_CHUNKS_MAX} chunks"
            ),
        )
    };
    let mut bytes = BytesMut::new();
    let mut frames = body.into_data_stream();
    while let Some(frame) = frames.next().await {
        let frame = frame.map_err(ApiError::body_error)?;
        if bytes.len() + frame.len() > VERIFY_BODY_BYTES_MAX {
            return Err(too_large());
        }
        bytes.extend_from_slice(&frame);
    }
    Ok(bytes.freeze())
}

/// What fsck needs of the node's state.
fn fsck_node(state: &ApiState) -> check::Node<'_> {
    check::Node {
        driver: &state.driver,
        peers: &state.peers,
        chunks: &state.chunks,
        fsck: &state.fsck,
        replication_factor: state.settings.replication_factor,
    }
}
