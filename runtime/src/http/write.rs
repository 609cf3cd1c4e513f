//! `PUT /files/{path}` (DESIGN §2 "write", "integrity"): the body streams through the chunker
//! into core's upload machine ([`crate::upload`]), which places each chunk, has it stored (at
//! most [`CHUNKS_INFLIGHT_MAX`](crate::upload::CHUNKS_INFLIGHT_MAX) chunks in memory), and, once every chunk has `write_quorum`
//! durable copies and the whole-file hash matches what the client expected, commits the new
//! version through raft. Until that commit nothing is visible; chunks of a refused write are
//! orphans for GC.

use super::extract::UrlPath;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use dfs_core::auth::Need;
use dfs_core::command::{IdempotencyKey, Precondition};
use dfs_core::ids::{Hash, Version};
use dfs_core::write::{UploadStart, Written};
use dfs_core::Change;
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::auth::{check, Authed};
use super::{now_millis, parse_path, ApiError, ApiState};
use crate::chunker::Chunker;
use crate::failpoint::{self, CrashPoint};
use crate::upload::{Upload, UploadError};

/// Header with the blake3 (hex) the client expects the whole file to have.
pub const EXPECTED_HASH_HEADER: &str = "x-dfs-blake3";

/// What a write request (`PUT /files`, `POST /commit`) settles before reading its body.
pub(super) struct WriteHead {
    /// Where it writes.
    pub path: dfs_core::Path,
    /// `If-Match` / `If-None-Match: *`.
    pub precondition: Precondition,
    /// `Idempotency-Key`.
    pub idempotency_key: Option<IdempotencyKey>,
}

/// Parses the path and the write headers and checks that `caller` may write there, before a byte
/// of the body is read or stored.
pub(super) async fn write_head(
    state: &ApiState,
    caller: &dfs_core::auth::Caller,
    raw: &str,
    headers: &HeaderMap,
) -> Result<WriteHead, ApiError> {
    let path = parse_path(raw)?;
    check(state, caller, &path, Need::Write).await?;
    Ok(WriteHead {
        path,
        precondition: precondition(headers)?,
        idempotency_key: idempotency_key(headers)?,
    })
}

/// Handles `PUT /files/{path}`: streams the body through the chunker into core's upload machine
/// ([`crate::upload`]) and relays its answer.
pub async fn put_file(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    UrlPath(raw): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let WriteHead { path, precondition, idempotency_key } =
        write_head(&state, &caller, &raw, &headers).await?;
    let expected = expected_hash(&headers)?;
    let max = state.settings.body_bytes_max;
    if content_length(&headers).is_some_and(|len| len > max) {
        return Err(too_large(max));
    }
    let start = UploadStart { path, precondition, idempotency_key, author: caller.user };
    let frames = body.into_data_stream();
    let streamed = stream_body(&state, start, frames, ApiError::body_error, |_| {}).await?;
    let Streamed { upload, size_bytes, hash, chunks } = streamed;
    if let Some(expected) = expected.filter(|e| *e != hash) {
        let message = format!(
            "body hashes to {}, client expected {}; nothing was committed",
            hash.to_hex(),
            expected.to_hex()
        );
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "hash_mismatch", message));
    }
    let written = upload.seal(size_bytes, hash, now_millis()).await.map_err(upload_error)?;
    Ok(created(&state, written, size_bytes, hash, chunks))
}

/// A body streamed through the chunker into an open upload, not yet sealed.
pub(crate) struct Streamed {
    /// The upload, every chunk sent in.
    pub upload: Upload,
    /// The body's length.
    pub size_bytes: u64,
    /// Its blake3.
    pub hash: Hash,
    /// How many chunks it was cut into.
    pub chunks: usize,
}

/// Opens an upload for `start` and streams `frames` through the chunker into it (at most
/// [`CHUNKS_INFLIGHT_MAX`](crate::upload::CHUNKS_INFLIGHT_MAX) chunks in memory), refusing a
/// body over the node's limit as it grows; `also` sees every frame (the S3 layer's MD5). The
/// same path for the native `PUT /files` and S3's PutObject.
pub(crate) async fn stream_body<S, E>(
    state: &ApiState,
    start: UploadStart,
    mut frames: S,
    body_error: impl Fn(E) -> ApiError,
    mut also: impl FnMut(&[u8]),
) -> Result<Streamed, ApiError>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
{
    let max = state.settings.body_bytes_max;
    let mut upload = Upload::open(&state.driver, start).await.map_err(|_| ApiError::stopping())?;
    let mut chunker = Chunker::new();
    let mut hasher = blake3::Hasher::new();
    let (mut size_bytes, mut chunks) = (0u64, 0usize);
    while let Some(frame) = frames.next().await {
        let frame = frame.map_err(&body_error)?;
        size_bytes += frame.len() as u64;
        if size_bytes > max {
            return Err(too_large(max));
        }
        hasher.update(&frame);
        also(&frame);
        for chunk in chunker.push(&frame) {
            upload.chunk(chunk).await.map_err(upload_error)?;
            chunks += 1;
        }
    }
    for chunk in chunker.finish() {
        upload.chunk(chunk).await.map_err(upload_error)?;
        chunks += 1;
    }
    let hash = Hash(*hasher.finalize().as_bytes());
    Ok(Streamed { upload, size_bytes, hash, chunks })
}

/// An upload that did not commit, as an HTTP error.
pub(crate) fn upload_error(error: UploadError) -> ApiError {
    match error {
        UploadError::Refused(error) => ApiError::from(error),
        UploadError::Stopped => ApiError::stopping(),
    }
}

/// The `201 Created` answer for a committed upload (DESIGN §2 "write": quorum, then commit,
/// then ack). It describes the committed version (for an idempotent retry, the first
/// request's, which has this request's content: core refuses a key reused otherwise).
pub(super) fn created(
    state: &ApiState,
    written: Written,
    size_bytes: u64,
    hash: Hash,
    chunks: usize,
) -> (StatusCode, Json<Value>) {
    let (path, version) = match written.change {
        Change::FileWritten { path, version, .. } => (path.as_str().to_owned(), version.0),
        other => (format!("{other:?}"), 0),
    };
    failpoint::hit(CrashPoint::WriteBeforeReply);
    let replicas: Value = Value::Object(
        written.replicas.iter().map(|(node, outcome)| (node.to_string(), json!(outcome))).collect(),
    );
    let index = written.index;
    tracing::info!(
        node = %state.peers.me(), index = %index, path = %path, version = %version,
        size_bytes, chunks, placed = %replicas, "file written"
    );
    (
        StatusCode::CREATED,
        Json(json!({
            "path": path, "version": version, "size_bytes": size_bytes,
            "hash": hash.to_hex(), "chunks": chunks, "index": index.0, "replicas": replicas,
        })),
    )
}

/// `If-None-Match: *` → absent; `If-Match: N` (or `"vN"`) → version N; else none.
pub fn precondition(headers: &HeaderMap) -> Result<Precondition, ApiError> {
    let bad = |what: &str| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_precondition",
            format!("{what}: expected If-Match: <version> or If-None-Match: *"),
        )
    };
    if let Some(value) = headers.get("if-none-match") {
        return match value.to_str() {
            Ok("*") => Ok(Precondition::Absent),
            _ => Err(bad("If-None-Match")),
        };
    }
    if let Some(value) = headers.get("if-match") {
        let text = value.to_str().map_err(|_| bad("If-Match"))?;
        let number = text.trim_matches('"').trim_start_matches('v');
        return number
            .parse()
            .map(|n| Precondition::Version(Version(n)))
            .map_err(|_| bad("If-Match"));
    }
    Ok(Precondition::None)
}

pub(super) fn expected_hash(headers: &HeaderMap) -> Result<Option<Hash>, ApiError> {
    let Some(value) = headers.get(EXPECTED_HASH_HEADER) else { return Ok(None) };
    let parsed = value.to_str().ok().and_then(|text| blake3::Hash::from_hex(text.trim()).ok());
    match parsed {
        Some(hash) => Ok(Some(Hash(*hash.as_bytes()))),
        None => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_hash",
            format!("{EXPECTED_HASH_HEADER} must be 64 hex digits (blake3)"),
        )),
    }
}

/// The `Idempotency-Key` header: a retried request with the same key commits one version.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    value.to_str().ok().and_then(IdempotencyKey::parse).map(Some).ok_or_else(|| {
        let message = format!(
            "Idempotency-Key must be 1 to {} visible ASCII characters",
            IdempotencyKey::BYTES_MAX
        );
        ApiError::new(StatusCode::BAD_REQUEST, "bad_idempotency_key", message)
    })
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get("content-length")?.to_str().ok()?.parse().ok()
}

pub(crate) fn too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("bodies are limited to {max} bytes on this node"),
    )
}
