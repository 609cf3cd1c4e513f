//! `PUT /files/{path}` (DESIGN §2 "write", "integrity"): the body streams through the chunker;
//! each chunk goes to its placement targets in parallel (at most [`CHUNKS_INFLIGHT_MAX`] chunks
//! in memory); once every chunk has `write_quorum` durable copies and the whole-file hash matches
//! what the client expected, the new version is committed through raft. Until that commit
//! nothing is visible; chunks of a refused write are orphans for GC.

use std::sync::Arc;

use super::extract::UrlPath;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use bytes::Bytes;
use dfs_core::auth::Need;
use dfs_core::command::{
    ChunkRef, Command, Content, DeclaredState, IdempotencyKey, Precondition, Reply,
};
use dfs_core::health::Health;
use dfs_core::ids::{ChunkId, Hash, NodeId, Version};
use dfs_core::placement::{self, Candidate};
use dfs_core::write::Tally;
use dfs_core::Change;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::auth::{check, Authed};
use super::{now_millis, parse_path, submit, ApiError, ApiState};
use crate::chunker::Chunker;
use crate::failpoint::{self, CrashPoint};

/// Chunks being replicated at once by one write.
pub const CHUNKS_INFLIGHT_MAX: usize = 4;
/// Header with the blake3 (hex) the client expects the whole file to have.
pub const EXPECTED_HASH_HEADER: &str = "x-dfs-blake3";

type Landed = (ChunkId, Vec<NodeId>);

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

/// Handles `PUT /files/{path}`.
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
    let mut upload = Upload::start(&state).await?;
    let mut chunker = Chunker::new();
    let mut hasher = blake3::Hasher::new();
    let mut size_bytes = 0u64;
    let mut frames = body.into_data_stream();
    while let Some(frame) = frames.next().await {
        let frame = frame.map_err(ApiError::body_error)?;
        size_bytes += frame.len() as u64;
        if size_bytes > max {
            return Err(too_large(max));
        }
        hasher.update(&frame);
        for chunk in chunker.push(&frame) {
            upload.dispatch(chunk).await;
        }
    }
    for chunk in chunker.finish() {
        upload.dispatch(chunk).await;
    }
    upload.drain().await;
    let hash = Hash(*hasher.finalize().as_bytes());
    if let Some(expected) = expected.filter(|e| *e != hash) {
        let message = format!(
            "body hashes to {}, client expected {}; nothing was committed",
            hash.to_hex(),
            expected.to_hex()
        );
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "hash_mismatch", message));
    }
    upload.commit(path, caller.user, precondition, size_bytes, hash, idempotency_key).await
}

/// The planted [`SkipRaftCommit`](crate::planted::Bug::SkipRaftCommit) bug: proposes the put in
/// the background and acknowledges at once with the version it would probably get.
async fn acknowledge_uncommitted(
    state: ApiState,
    command: Command,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Command::PutVersion { path, .. } = &command else {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "not a put"));
    };
    let lookup = path.clone();
    let latest = state
        .driver
        .query(move |node| node.status().namespace.latest(&lookup).map_or(0, |r| r.version.0))
        .await
        .map_err(|_| ApiError::stopping())?;
    let background = state.clone();
    tokio::spawn(async move {
        let _ = submit(&background, command).await;
    });
    Ok((StatusCode::CREATED, Json(json!({ "version": latest + 1 }))))
}

/// One write's chunks on their way to their placement targets, and the quorum tally that
/// decides whether the version may commit. Shared by `PUT /files` and `POST /commit`.
pub(super) struct Upload {
    state: ApiState,
    candidates: Arc<Vec<Candidate>>,
    tally: Tally,
    chunks: Vec<ChunkRef>,
    inflight: JoinSet<Landed>,
}

impl Upload {
    /// An upload placing chunks on the members that can receive them now.
    pub(super) async fn start(state: &ApiState) -> Result<Self, ApiError> {
        Ok(Self {
            state: state.clone(),
            candidates: candidates(state).await?,
            tally: Tally::new(),
            chunks: Vec::new(),
            inflight: JoinSet::new(),
        })
    }

    /// Starts replicating one chunk, first waiting for room if too many are in flight.
    pub(super) async fn dispatch(&mut self, bytes: Bytes) {
        let id = ChunkId(Hash::of(&bytes));
        let len_bytes = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.chunks.push(ChunkRef { id, len_bytes });
        let targets =
            placement::targets(id, &self.candidates, self.state.settings.replication_factor);
        self.tally.placed(id, &targets);
        while self.inflight.len() >= CHUNKS_INFLIGHT_MAX {
            self.collect_one().await;
        }
        self.inflight.spawn(replicate(self.state.clone(), id, bytes, targets));
    }

    /// Adds a chunk the cluster already holds at write quorum: referenced, not sent anywhere.
    pub(super) fn reuse(&mut self, chunk: ChunkRef) {
        self.chunks.push(chunk);
    }

    /// Waits for every copy, checks the write quorum, commits the version through raft and
    /// builds the `201 Created` answer (DESIGN §2 "write": quorum, then commit, then ack).
    pub(super) async fn commit(
        mut self,
        path: dfs_core::Path,
        author: dfs_core::ids::UserName,
        precondition: Precondition,
        size_bytes: u64,
        hash: Hash,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<(StatusCode, Json<Value>), ApiError> {
        self.drain().await;
        let state = self.state;
        let (rf, quorum) = (state.settings.replication_factor, state.settings.write_quorum);
        let short = self.tally.short(quorum, rf);
        if !short.is_empty() {
            let quorum = quorum.copies_needed(rf);
            let message = format!("{} chunk(s) short of the write quorum of {quorum} durable copies (e.g. {} has {}); nothing was committed", short.len(), short[0].0, short[0].1);
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "insufficient_replicas",
                message,
            ));
        }
        failpoint::hit(CrashPoint::WriteAfterQuorum);
        let report = self.tally.report();
        let content = Content { chunks: self.chunks, size_bytes, hash };
        let chunk_count = content.chunks.len();
        let command = Command::PutVersion {
            path,
            precondition,
            content,
            author,
            created_at: now_millis(),
            replicas: self.tally.replicas(),
            idempotency_key,
        };
        if crate::planted::active(crate::planted::Bug::SkipRaftCommit) {
            return acknowledge_uncommitted(state, command).await;
        }
        let Reply::Applied { index, change } = submit(&state, command).await?;
        // The answer describes the committed version (for an idempotent retry, the first
        // request's, which has this request's content: core refuses a key reused otherwise).
        let Change::FileWritten { path, version, size_bytes, hash, .. } = change else {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "a put committed as something else",
            ));
        };
        failpoint::hit(CrashPoint::WriteBeforeReply);
        let replicas: Value = Value::Object(
            report.iter().map(|(node, outcome)| (node.to_string(), json!(outcome))).collect(),
        );
        tracing::info!(
            node = %state.peers.me(), index = %index, path = %path, version = %version,
            size_bytes, chunks = chunk_count, placed = %replicas, "file written"
        );
        Ok((
            StatusCode::CREATED,
            Json(json!({
                "path": path.as_str(), "version": version.0, "size_bytes": size_bytes,
                "hash": hash.to_hex(), "chunks": chunk_count, "index": index.0, "replicas": replicas,
            })),
        ))
    }

    async fn collect_one(&mut self) {
        if let Some(Ok((chunk, stored))) = self.inflight.join_next().await {
            for node in stored {
                self.tally.stored(chunk, node);
            }
        }
    }

    async fn drain(&mut self) {
        while !self.inflight.is_empty() {
            self.collect_one().await;
        }
    }
}

/// Sends one chunk to every target at once; returns the targets that made it durable.
async fn replicate(state: ApiState, chunk: ChunkId, bytes: Bytes, targets: Vec<NodeId>) -> Landed {
    let me = state.peers.me();
    let sends = targets.into_iter().map(|node| {
        let (state, bytes) = (state.clone(), bytes.clone());
        async move {
            let result = if node == me {
                state.chunks.put(chunk, bytes).await.map(|_| ()).map_err(|e| e.to_string())
            } else {
                state.peers.put_chunk(node, chunk, bytes).await.map_err(|e| e.to_string())
            };
            if let Err(error) = &result {
                tracing::warn!(node = %me, target = %node, chunk = %chunk, %error, "chunk copy failed");
            }
            result.ok().map(|()| node)
        }
    });
    let stored = futures_util::future::join_all(sends).await.into_iter().flatten().collect();
    (chunk, stored)
}

/// The members that may receive chunks: active, up (as last committed), with a known address,
/// and with their usage as the leader last reported it.
async fn candidates(state: &ApiState) -> Result<Arc<Vec<Candidate>>, ApiError> {
    let members = state
        .driver
        .query(|node| {
            let view = node.cluster_view();
            node.status()
                .namespace
                .members()
                .iter()
                .filter(|(_, m)| m.state == DeclaredState::Active && m.health == Health::Up)
                .map(|(id, _)| (*id, view.get(*id).map_or(0, |r| r.usage.used_bytes)))
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|_| ApiError::stopping())?;
    let me = state.peers.me();
    let candidates: Vec<Candidate> = members
        .into_iter()
        .filter(|&(node, _)| node == me || state.peers.knows(node))
        .map(|(node, reported)| Candidate {
            node,
            used_bytes: if node == me { state.chunks.usage().bytes } else { reported },
        })
        .collect();
    if candidates.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_storage_nodes",
            "no member can receive chunks yet",
        ));
    }
    Ok(Arc::new(candidates))
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

pub(super) fn too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("bodies are limited to {max} bytes on this node"),
    )
}
