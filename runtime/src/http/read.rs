//! `GET`/`HEAD /files/{path}` and `GET /stat/{path}` (DESIGN §2 "read"). Any node serves any
//! path from its local metadata replica, once it has applied the leader's read index (unless
//! `stale=true`; docs/consistency.md). Each chunk comes from this node's store when it holds a
//! good copy, else from the recorded replicas in turn; a failed or corrupt copy is skipped and
//! logged (read failover). Every byte served was hash-checked. One `Range: bytes=a-b` is honoured.

use std::collections::BTreeSet;

use super::extract::{Query, UrlPath};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use dfs_core::ids::{ChunkId, NodeId, Version};
use dfs_core::meta::{EntryKind, VersionRecord};
use dfs_core::CommandError;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{check, Authed};
use super::{parse_path, ApiError, ApiState};
use crate::store::chunks::StoreError;
use dfs_core::auth::Need;

/// Chunks fetched ahead of the one being sent.
pub const CHUNKS_PREFETCH: usize = 2;

/// Query options of a read.
#[derive(Debug, Deserialize)]
pub struct ReadOptions {
    /// A specific version instead of the latest.
    pub version: Option<u64>,
    /// The version a checkpoint names instead of the latest.
    pub checkpoint: Option<String>,
    /// Serve from this node's replica without confirming with the leader (may be behind).
    #[serde(default)]
    pub stale: bool,
    /// Accepted for compatibility: reads are linearizable by default.
    #[serde(default)]
    pub consistent: bool,
}

struct Piece {
    chunk: ChunkId,
    replicas: Vec<NodeId>,
    // The bytes of the chunk to send: start..end within it.
    start: usize,
    end: usize,
}

/// Handles `GET /files/{path}` (and `HEAD`).
pub async fn get_file(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    UrlPath(raw): UrlPath<String>,
    Query(options): Query<ReadOptions>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = parse_path(&raw)?;
    let freshness = super::Freshness { stale: options.stale, consistent: options.consistent };
    super::linearize(&state, freshness).await?;
    check(&state, &caller, &path, Need::Read).await?;
    if options.version.is_some() && options.checkpoint.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "give version=N or checkpoint=NAME, not both",
        ));
    }
    let (record, replicas) = state
        .driver
        .query(move |node| {
            let namespace = node.status().namespace;
            let record = match (options.version, &options.checkpoint) {
                (Some(v), _) => namespace.version(&path, Version(v)),
                (None, Some(name)) => namespace.checkpoint(&path, name),
                (None, None) => namespace.latest(&path),
            }?
            .clone();
            let replicas: Vec<Vec<NodeId>> = record
                .content
                .chunks
                .iter()
                .map(|c| {
                    namespace
                        .replicas(&c.id)
                        .map(|s| s.iter().copied().collect())
                        .unwrap_or_default()
                })
                .collect();
            Ok::<_, CommandError>((record, replicas))
        })
        .await
        .map_err(|_| ApiError::stopping())??;
    let size = record.content.size_bytes;
    let range = match parse_range(&headers, size) {
        Ok(range) => range,
        Err(error) => {
            // RFC 9110 §14.4: a 416 says how long the representation is.
            let mut response = error.into_response();
            let length = format!("bytes */{size}");
            insert_text(response.headers_mut(), header::CONTENT_RANGE.as_str(), &length);
            return Ok(response);
        }
    };
    let (first, last) = range.unwrap_or((0, size.saturating_sub(1)));
    let length = if size == 0 { 0 } else { last - first + 1 };
    let body = content_stream(&state, &record, replicas, first, last);
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert("x-dfs-version", HeaderValue::from(record.version.0));
    insert_text(headers, "x-dfs-blake3", &record.content.hash.to_hex());
    insert_text(headers, header::ETAG.as_str(), &format!("\"{}\"", record.version.0));
    if range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        insert_text(
            response.headers_mut(),
            header::CONTENT_RANGE.as_str(),
            &format!("bytes {first}-{last}/{size}"),
        );
    }
    Ok(response)
}

fn insert_text(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) =
        (header::HeaderName::try_from(name), HeaderValue::try_from(value))
    {
        headers.insert(name, value);
    }
}

/// Bytes `first..=last` of `record` (`replicas`: where each of its chunks is), fetched
/// [`CHUNKS_PREFETCH`] chunks ahead, every chunk hash-checked: the body of a native read and
/// of S3's GetObject.
pub(crate) fn content_stream(
    state: &ApiState,
    record: &VersionRecord,
    replicas: Vec<Vec<NodeId>>,
    first: u64,
    last: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    content_bytes(state, &record.content, replicas, first, last)
}

/// [`content_stream`] of any chunk list (the parts of an S3 multipart upload, say).
pub(crate) fn content_bytes(
    state: &ApiState,
    content: &dfs_core::command::Content,
    replicas: Vec<Vec<NodeId>>,
    first: u64,
    last: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let pieces = plan(content, replicas, first, last, content.size_bytes);
    let fetcher = state.clone();
    futures_util::stream::iter(pieces)
        .map(move |piece| fetch_piece(fetcher.clone(), piece))
        .buffered(CHUNKS_PREFETCH)
}

/// Where the copies of each chunk of `record` are, in chunk order (for [`content_stream`]).
pub(crate) fn chunk_replicas(
    namespace: &dfs_core::meta::Namespace,
    record: &VersionRecord,
) -> Vec<Vec<NodeId>> {
    content_replicas(namespace, &record.content)
}

/// [`chunk_replicas`] of any chunk list.
pub(crate) fn content_replicas(
    namespace: &dfs_core::meta::Namespace,
    content: &dfs_core::command::Content,
) -> Vec<Vec<NodeId>> {
    content
        .chunks
        .iter()
        .map(|c| namespace.replicas(&c.id).map(|s| s.iter().copied().collect()).unwrap_or_default())
        .collect()
}

/// The chunks (and parts of chunks) covering bytes `first..=last`.
fn plan(
    content: &dfs_core::command::Content,
    replicas: Vec<Vec<NodeId>>,
    first: u64,
    last: u64,
    size: u64,
) -> Vec<Piece> {
    if size == 0 {
        return Vec::new();
    }
    let mut pieces = Vec::new();
    let mut offset = 0u64;
    for (chunk, replicas) in content.chunks.iter().zip(replicas) {
        let len = u64::from(chunk.len_bytes);
        let (chunk_first, chunk_last) = (offset, offset + len - 1);
        offset += len;
        if chunk_last < first || chunk_first > last {
            continue;
        }
        let start = first.saturating_sub(chunk_first) as usize;
        let end = (last.min(chunk_last) - chunk_first + 1) as usize;
        pieces.push(Piece { chunk: chunk.id, replicas, start, end });
    }
    pieces
}

/// One piece's bytes: from the local store if it holds a good copy, else from each replica.
async fn fetch_piece(state: ApiState, piece: Piece) -> Result<Bytes, std::io::Error> {
    let bytes = fetch_chunk(&state, piece.chunk, &piece.replicas).await?;
    if piece.end > bytes.len() || piece.start > piece.end {
        return Err(std::io::Error::other(format!(
            "chunk {} is shorter than recorded",
            piece.chunk
        )));
    }
    Ok(bytes.slice(piece.start..piece.end))
}

/// A verified copy of `chunk`, trying this node first and then every replica.
pub async fn fetch_chunk(
    state: &ApiState,
    chunk: ChunkId,
    replicas: &[NodeId],
) -> Result<Bytes, std::io::Error> {
    let me = state.peers.me();
    match state.chunks.get(chunk).await {
        Ok(bytes) => return Ok(bytes),
        Err(error) if replicas.contains(&me) => {
            tracing::warn!(node = %me, chunk = %chunk, %error, "local replica unreadable; reading elsewhere");
            if matches!(error, StoreError::Corrupt { .. } | StoreError::NotFound { .. }) {
                crate::repair::report_damaged(&state.driver, chunk);
            }
        }
        Err(_) => {}
    }
    let others: BTreeSet<NodeId> = replicas.iter().copied().filter(|&n| n != me).collect();
    for node in others {
        match state.peers.get_chunk(node, chunk).await {
            Ok(bytes) => return Ok(bytes),
            Err(error) => {
                tracing::warn!(node = %me, source = %node, chunk = %chunk, %error, "replica read failed; trying the next")
            }
        }
    }
    tracing::error!(node = %me, chunk = %chunk, "no replica of chunk could be read");
    Err(std::io::Error::other(format!("no replica of chunk {chunk} could be read")))
}

/// A single `bytes=a-b` (or `a-`, or `-n`) range within `size`; `None` when absent.
fn parse_range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(value) = headers.get(header::RANGE) else { return Ok(None) };
    let unsatisfiable = || {
        ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "bad_range",
            format!("range not satisfiable for a {size}-byte file (one bytes=a-b range)"),
        )
    };
    let text = value.to_str().map_err(|_| unsatisfiable())?;
    let spec =
        text.strip_prefix("bytes=").filter(|s| !s.contains(',')).ok_or_else(unsatisfiable)?;
    let (a, b) = spec.split_once('-').ok_or_else(unsatisfiable)?;
    let (first, last) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| unsatisfiable())?;
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        (a, "") => (a.parse().map_err(|_| unsatisfiable())?, size.saturating_sub(1)),
        (a, b) => (
            a.parse().map_err(|_| unsatisfiable())?,
            b.parse::<u64>().map_err(|_| unsatisfiable())?.min(size.saturating_sub(1)),
        ),
    };
    if size == 0 || first > last || first >= size {
        return Err(unsatisfiable());
    }
    Ok(Some((first, last)))
}

/// Handles `GET /stat/{path}`: every version with its chunks and where their copies are.
pub async fn stat(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    UrlPath(raw): UrlPath<String>,
    Query(freshness): Query<super::Freshness>,
) -> Result<Json<Value>, ApiError> {
    let path = parse_path(&raw)?;
    super::linearize(&state, freshness).await?;
    check(&state, &caller, &path, Need::Read).await?;
    let view = state
        .driver
        .query(move |node| {
            let namespace = node.status().namespace;
            let entry = namespace.entry(&path).ok_or_else(|| CommandError::NotFound { path: path.clone() })?;
            let EntryKind::File(file) = &entry.kind else {
                // What a recursive delete would remove (the folder itself included).
                let below = namespace.tree_counts(&path)?;
                return Ok::<_, CommandError>(json!({
                    "path": path.as_str(), "kind": "folder", "owner": entry.owner.0,
                    "files_below": below.files, "folders_below": below.folders,
                }));
            };
            let versions: Vec<Value> = file
                .versions
                .iter()
                .map(|v| {
                    let chunks: Vec<Value> = v.content.chunks.iter().map(|c| {
                        let replicas: Vec<u64> = namespace.replicas(&c.id).map(|s| s.iter().map(|n| n.0).collect()).unwrap_or_default();
                        json!({ "hash": c.id.0.to_hex(), "len_bytes": c.len_bytes, "replicas": replicas })
                    }).collect();
                    json!({
                        "version": v.version.0, "size_bytes": v.content.size_bytes, "hash": v.content.hash.to_hex(),
                        "created_ms": v.created_at.0, "author": v.author.0, "index": v.index.0, "chunks": chunks,
                    })
                })
                .collect();
            Ok(json!({ "path": path.as_str(), "kind": "file", "owner": entry.owner.0, "deleted": file.is_deleted(), "versions": versions }))
        })
        .await
        .map_err(|_| ApiError::stopping())?
        .map_err(ApiError::from)?;
    Ok(Json(view))
}
