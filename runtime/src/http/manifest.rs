//! Chunk-level uploads (DESIGN §2 "live directory sync", "write"): a client that chunks a file
//! itself, with the same FastCDC parameters as the nodes ([`crate::chunker`]), asks which chunks
//! the cluster lacks (`POST /chunks/missing`) and then commits the version with one request that
//! carries the manifest and only those chunks' bytes (`POST /commit/{path}`). An edit inside a
//! large file then sends only the chunks around the edit.
//!
//! The rules are the ones of `PUT /files`, in the same core upload machine
//! ([`crate::upload`]): every sent chunk is hash-checked and replicated to its placement
//! targets, and the version commits through raft only once every sent chunk has
//! `write_quorum` durable copies. A chunk hash is a read capability, so a chunk that is not sent
//! may be reused only as [`reusable_chunks`] says: held (`write_quorum` copies in the chunk index
//! and referenced by a kept version of a live file, so the collector cannot take it) **and**
//! referenced by such a file that the caller may read.
//! Any other unsent chunk is answered exactly like one the cluster lacks (409 `chunks_missing`;
//! `/chunks/missing` lists it), so nobody learns that a chunk they cannot read exists; sending the
//! bytes proves possession instead.
//!
//! The whole-file blake3 in the manifest is checked before the version is proposed: the node
//! hashes the file in manifest order, sent chunks as they stream in and reused chunks read
//! through the read path of `GET` (this node's store, else a replica) a few chunks ahead, so
//! memory stays bounded by a few chunks. A mismatch is 400 `hash_mismatch` and commits nothing (chunks already
//! stored are orphans for the collector).
//!
//! Cost: deciding which chunks are reusable walks the namespace until every asked chunk is found
//! (worst case, a chunk no readable file references, the whole namespace); a commit reads every
//! reused chunk once (locally when this node holds a copy).
//!
//! [`reusable_chunks`]: dfs_core::meta::Namespace::reusable_chunks

use std::collections::{BTreeMap, BTreeSet};

use super::extract::{JsonBody, UrlPath};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use bytes::{Bytes, BytesMut};
use dfs_core::auth::Caller;
use dfs_core::command::ChunkRef;
use dfs_core::ids::{ChunkId, Hash, NodeId};
use dfs_core::write::UploadStart;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::auth::Authed;
use super::read::{fetch_chunk, CHUNKS_PREFETCH};
use super::write::{created, too_large, upload_error, write_head, WriteHead};
use super::{now_millis, ApiError, ApiState};
use crate::store::chunks::CHUNK_BYTES_MAX;
use crate::upload::Upload;

/// Chunk hashes one `POST /chunks/missing` may ask about.
pub const MISSING_ASK_MAX: usize = 10_000;
/// Longest manifest line of a `POST /commit` (about 180,000 chunks, a 350 GiB file).
pub const MANIFEST_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Missing chunks named in a `chunks_missing` refusal.
const NAMED_MISSING_MAX: usize = 100;

/// Body of `POST /chunks/missing`.
#[derive(Debug, Deserialize)]
pub struct MissingAsk {
    /// Chunk hashes (64 hex digits each).
    chunks: Vec<String>,
}

/// `POST /chunks/missing` `{"chunks": [hex, ...]}`: which of these chunks the caller could not
/// reuse (not held, or not readable by the caller: see the module docs), in the order asked:
/// `{"missing": [hex, ...]}`.
pub async fn missing(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    JsonBody(ask): JsonBody<MissingAsk>,
) -> Result<Json<Value>, ApiError> {
    if ask.chunks.len() > MISSING_ASK_MAX {
        return Err(bad_manifest(format!("ask about at most {MISSING_ASK_MAX} chunks at once")));
    }
    let ids = ask.chunks.iter().map(|hex| parse_chunk(hex)).collect::<Result<Vec<_>, _>>()?;
    let reusable = reusable(&state, &caller, ids.iter().copied().collect()).await?;
    let missing: Vec<String> =
        ids.iter().filter(|id| !reusable.contains_key(id)).map(|id| id.0.to_hex()).collect();
    Ok(Json(json!({ "missing": missing })))
}

/// The manifest line of `POST /commit`.
#[derive(Debug, Deserialize)]
pub struct Manifest {
    /// The file's length.
    size_bytes: u64,
    /// blake3 of the whole file (hex).
    hash: String,
    /// Every chunk in file order.
    chunks: Vec<ManifestChunk>,
}

/// One chunk of a manifest.
#[derive(Debug, Deserialize)]
pub struct ManifestChunk {
    /// blake3 of the chunk (hex).
    hash: String,
    /// Its length.
    len_bytes: u32,
    /// Whether its bytes follow the manifest in the body (else the cluster must hold it).
    #[serde(default)]
    sent: bool,
}

/// `POST /commit/{path}`: body = one JSON manifest line (`{"size_bytes", "hash", "chunks":
/// [{"hash", "len_bytes", "sent"}]}` + `\n`), then the bytes of every `sent` chunk in manifest
/// order. Headers as `PUT /files`: `If-Match`, `If-None-Match: *`, `Idempotency-Key`. 201 as
/// `PUT /files` plus `sent_chunks`, `sent_bytes`, `reused_chunks`; 409 `chunks_missing` (with
/// `missing`) when an unsent chunk may not be reused: ask again and send it; 400
/// `hash_mismatch` when a sent chunk or the whole file does not hash as the manifest says.
pub async fn commit(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    UrlPath(raw): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let WriteHead { path, precondition, idempotency_key } =
        write_head(&state, &caller, &raw, &headers).await?;
    let mut frames = body.into_data_stream();
    let mut buffer = BytesMut::new();
    let line = loop {
        if let Some(end) = buffer.iter().position(|&b| b == b'\n') {
            let line = buffer.split_to(end + 1);
            break line;
        }
        if buffer.len() > MANIFEST_BYTES_MAX {
            return Err(bad_manifest(format!(
                "no manifest line within {MANIFEST_BYTES_MAX} bytes"
            )));
        }
        match frames.next().await {
            Some(frame) => buffer.extend_from_slice(&frame.map_err(ApiError::body_error)?),
            None => return Err(bad_manifest("the body ended before the manifest line did")),
        }
    };
    let manifest: Manifest = serde_json::from_slice(&line)
        .map_err(|e| bad_manifest(format!("the manifest line is not a manifest: {e}")))?;
    let (chunks, hash) = check(&state, &manifest)?;
    let unsent: BTreeSet<ChunkId> =
        chunks.iter().filter(|(_, sent)| !sent).map(|(c, _)| c.id).collect();
    let reusable = reusable(&state, &caller, unsent.clone()).await?;
    let absent: Vec<ChunkId> =
        unsent.iter().filter(|id| !reusable.contains_key(id)).copied().collect();
    if !absent.is_empty() {
        return Err(chunks_missing(&absent));
    }
    let start = UploadStart { path, precondition, idempotency_key, author: caller.user.clone() };
    let mut upload = Upload::open(&state.driver, start).await.map_err(|_| ApiError::stopping())?;
    let reads: Vec<(ChunkId, Vec<NodeId>)> = chunks
        .iter()
        .filter(|(_, sent)| !sent)
        .map(|(c, _)| (c.id, reusable.get(&c.id).cloned().unwrap_or_default()))
        .collect();
    let mut reused_bytes = read_ahead(&state, reads);
    let mut whole = blake3::Hasher::new();
    let (mut sent_chunks, mut sent_bytes) = (0usize, 0u64);
    for (chunk, sent) in chunks {
        if !sent {
            let bytes = match reused_bytes.recv().await {
                Some(Ok(bytes)) => bytes,
                _ => return Err(chunks_missing(&[chunk.id])),
            };
            if bytes.len() != chunk.len_bytes as usize {
                return Err(bad_manifest(format!(
                    "chunk {} is {} bytes, the manifest says {}; nothing was committed",
                    chunk.id,
                    bytes.len(),
                    chunk.len_bytes
                )));
            }
            whole.update(&bytes);
            upload.reuse(chunk).await.map_err(upload_error)?;
            continue;
        }
        let len = chunk.len_bytes as usize;
        while buffer.len() < len {
            match frames.next().await {
                Some(frame) => buffer.extend_from_slice(&frame.map_err(ApiError::body_error)?),
                None => return Err(bad_manifest("the body ended inside a sent chunk")),
            }
        }
        let bytes = buffer.split_to(len).freeze();
        if Hash::of(&bytes) != chunk.id.0 {
            let message =
                format!("a sent chunk does not hash to {}; nothing was committed", chunk.id);
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "hash_mismatch", message));
        }
        whole.update(&bytes);
        sent_chunks += 1;
        sent_bytes += len as u64;
        upload.chunk(bytes).await.map_err(upload_error)?;
    }
    let trailing = !buffer.is_empty();
    while let Some(frame) = frames.next().await {
        if trailing || !frame.map_err(ApiError::body_error)?.is_empty() {
            return Err(bad_manifest("bytes after the last sent chunk; nothing was committed"));
        }
    }
    if trailing {
        return Err(bad_manifest("bytes after the last sent chunk; nothing was committed"));
    }
    let actual = Hash(*whole.finalize().as_bytes());
    if actual != hash && !crate::planted::active(crate::planted::Bug::TrustWholeFileHash) {
        let message = format!(
            "the chunks hash to {}, the manifest says {}; nothing was committed",
            actual.to_hex(),
            hash.to_hex()
        );
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "hash_mismatch", message));
    }
    let reused = manifest.chunks.len() - sent_chunks;
    let written =
        upload.seal(manifest.size_bytes, hash, now_millis()).await.map_err(upload_error)?;
    let (status, Json(mut reply)) =
        created(&state, written, manifest.size_bytes, hash, manifest.chunks.len());
    reply["sent_chunks"] = json!(sent_chunks);
    reply["sent_bytes"] = json!(sent_bytes);
    reply["reused_chunks"] = json!(reused);
    Ok((status, Json(reply)))
}

/// The manifest's chunks (with whether each was sent) and whole-file hash, if they are
/// well-formed: lengths within bounds and adding up to the size, the size within the body limit.
fn check(state: &ApiState, manifest: &Manifest) -> Result<(Vec<(ChunkRef, bool)>, Hash), ApiError> {
    let max = state.settings.body_bytes_max;
    if manifest.size_bytes > max {
        return Err(too_large(max));
    }
    let hash = parse_hash(&manifest.hash)?;
    let mut total = 0u64;
    let mut chunks = Vec::with_capacity(manifest.chunks.len());
    for chunk in &manifest.chunks {
        let len = chunk.len_bytes as usize;
        if len == 0 || len > CHUNK_BYTES_MAX {
            return Err(bad_manifest(format!("chunk lengths are 1 to {CHUNK_BYTES_MAX} bytes")));
        }
        total += u64::from(chunk.len_bytes);
        let id = parse_chunk(&chunk.hash)?;
        chunks.push((ChunkRef { id, len_bytes: chunk.len_bytes }, chunk.sent));
    }
    if total != manifest.size_bytes {
        return Err(bad_manifest(format!(
            "the chunks add up to {total} bytes, the manifest says {}",
            manifest.size_bytes
        )));
    }
    Ok((chunks, hash))
}

/// The chunks of `wanted` that `caller` may reuse without sending them, as core decides
/// ([`Node::reusable_chunks`](dfs_core::Node::reusable_chunks)), each with the nodes the index
/// lists copies on.
async fn reusable(
    state: &ApiState,
    caller: &Caller,
    wanted: BTreeSet<ChunkId>,
) -> Result<BTreeMap<ChunkId, Vec<NodeId>>, ApiError> {
    let mut caller = caller.clone();
    // The planted bug: every caller may reuse what an admin may.
    caller.admin |= crate::planted::active(crate::planted::Bug::ChunkHashReadsAnything);
    state
        .driver
        .query(move |node| node.reusable_chunks(&caller, wanted))
        .await
        .map_err(|_| ApiError::stopping())
}

/// Reads `chunks` (with where their copies are) in order through the read path of `GET`
/// ([`fetch_chunk`]), at most [`CHUNKS_PREFETCH`] ahead of the receiver, so reading reused chunks
/// overlaps streaming the sent ones in. Stops at the first failed read (its error is the last
/// item) or when the receiver is dropped.
fn read_ahead(
    state: &ApiState,
    chunks: Vec<(ChunkId, Vec<NodeId>)>,
) -> mpsc::Receiver<Result<Bytes, std::io::Error>> {
    let (sender, receiver) = mpsc::channel(CHUNKS_PREFETCH);
    let state = state.clone();
    tokio::spawn(async move {
        for (chunk, replicas) in chunks {
            let read = fetch_chunk(&state, chunk, &replicas).await;
            let failed = read.is_err();
            if sender.send(read).await.is_err() || failed {
                break;
            }
        }
    });
    receiver
}

/// 409 `chunks_missing` naming (the first [`NAMED_MISSING_MAX`] of) `absent`.
fn chunks_missing(absent: &[ChunkId]) -> ApiError {
    let mut error = ApiError::new(
        StatusCode::CONFLICT,
        "chunks_missing",
        format!("{} chunk(s) not sent are not held by the cluster; send them", absent.len()),
    );
    let named: Vec<String> =
        absent.iter().take(NAMED_MISSING_MAX).map(|id| id.0.to_hex()).collect();
    error.details.insert("missing".into(), json!(named));
    error
}

fn parse_hash(hex: &str) -> Result<Hash, ApiError> {
    blake3::Hash::from_hex(hex.trim())
        .map(|h| Hash(*h.as_bytes()))
        .map_err(|_| bad_manifest(format!("{hex:?} is not a blake3 hash (64 hex digits)")))
}

fn parse_chunk(hex: &str) -> Result<ChunkId, ApiError> {
    parse_hash(hex).map(ChunkId)
}

fn bad_manifest(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_manifest", message)
}
