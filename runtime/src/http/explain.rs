//! `GET /explain/file/{path}` and `GET /explain/node/{id}` (DESIGN §2 "monitoring"): why a file or
//! a node is not converged: which copies are missing or stale, what the replication queue is
//! doing about each, and what blocks it. Answered by the leader, which holds the queue; another
//! node forwards, and explains without the queue if the leader cannot be reached.

use super::extract::UrlPath;
use axum::extract::State;
use axum::http::Method;
use axum::Json;
use dfs_core::ids::{ChunkId, NodeId};
use dfs_core::repair::explain::{explain_chunks, explain_node, ChunkExplanation};
use dfs_core::Node;
use serde_json::{json, Value};

use super::auth::{check, require_admin, Authed, BearerToken};
use super::cluster::{forward, queue_entry};
use super::{parse_path, ApiError, ApiState};
use dfs_core::auth::Need;

/// Unconverged chunks explained in full for a node (the rest are counted).
const NODE_CHUNKS_MAX: usize = 100;

/// `GET /explain/file/{path}`: every chunk of every kept version of the file.
pub async fn file(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    token: BearerToken,
    UrlPath(raw): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let path = parse_path(&raw)?;
    check(&state, &caller, &path, Need::Read).await?;
    let url = format!("/explain/file/{}", super::url_path(&path));
    let rf = state.settings.replication_factor;
    let local = state
        .driver
        .query(move |node| {
            let has_queue = node.replication_queue().is_some();
            (has_queue, node.status().leader, explain_file(node, &path, rf, has_queue))
        })
        .await
        .map_err(|_| ApiError::stopping())?;
    answer(&state, &token, local, &url, move |node| {
        let path = parse_path(&raw)?;
        explain_file(node, &path, rf, false)
    })
    .await
}

/// `GET /explain/node/{id}`: the node's health and each of its chunks that is not converged.
pub async fn node(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    token: BearerToken,
    UrlPath(id): UrlPath<u64>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&caller, "explaining a node")?;
    let rf = state.settings.replication_factor;
    let local = state
        .driver
        .query(move |node| {
            let has_queue = node.replication_queue().is_some();
            (has_queue, node.status().leader, explain_member(node, NodeId(id), rf, has_queue))
        })
        .await
        .map_err(|_| ApiError::stopping())?;
    answer(&state, &token, local, &format!("/explain/node/{id}"), move |node| {
        explain_member(node, NodeId(id), rf, false)
    })
    .await
}

/// The local answer if this node leads; else the leader's, or the local one without the queue.
async fn answer(
    state: &ApiState,
    token: &BearerToken,
    (has_queue, leader, local): (bool, Option<NodeId>, Result<Value, ApiError>),
    path: &str,
    without_queue: impl FnOnce(&Node) -> Result<Value, ApiError> + Send + 'static,
) -> Result<Json<Value>, ApiError> {
    if has_queue {
        return local.map(Json);
    }
    let reason = match forward(state, token, leader, Method::GET, path).await {
        Ok(answer) => return Ok(Json(answer)),
        Err(error) if error.status.is_client_error() => return Err(error),
        Err(error) => error.message,
    };
    let mut value = state.driver.query(without_queue).await.map_err(|_| ApiError::stopping())??;
    value["note"] = json!(format!(
        "explained without the replication queue (the leader could not answer: {reason})"
    ));
    Ok(Json(value))
}

fn explain_file(
    node: &Node,
    path: &dfs_core::Path,
    rf: usize,
    with_queue: bool,
) -> Result<Value, ApiError> {
    let namespace = node.status().namespace;
    let versions = namespace.history(path).map_err(ApiError::from)?;
    let mut chunks: Vec<ChunkId> = Vec::new();
    for version in versions.iter().rev() {
        for chunk in &version.content.chunks {
            if !chunks.contains(&chunk.id) {
                chunks.push(chunk.id);
            }
        }
    }
    let queue = with_queue.then(|| node.replication_queue()).flatten();
    let explained = explain_chunks(namespace, chunks, rf, queue);
    let short: Vec<&ChunkExplanation> = explained.iter().filter(|c| !c.converged).collect();
    let summary = match short.first() {
        None => format!("converged: all {} chunks have {rf} readable copies", explained.len()),
        Some(first) => format!(
            "{} of {} chunks are not converged; first: {}",
            short.len(),
            explained.len(),
            first.summary
        ),
    };
    Ok(json!({
        "target": path.as_str(),
        "kind": "file",
        "versions": versions.len(),
        "converged": short.is_empty(),
        "summary": summary,
        "chunks": explained.iter().map(chunk_json).collect::<Vec<_>>(),
    }))
}

/// A member's explanation; `404 unknown_node` for a node that is not a member and has no copies
/// listed on it (a removed node with copies still listed is explained).
fn explain_member(node: &Node, id: NodeId, rf: usize, with_queue: bool) -> Result<Value, ApiError> {
    let queue = with_queue.then(|| node.replication_queue()).flatten();
    let namespace = node.status().namespace;
    let explained = explain_node(namespace, id, rf, queue, NODE_CHUNKS_MAX);
    if !namespace.members().contains_key(&id) && explained.copies_indexed == 0 {
        return Err(ApiError::from(dfs_core::CommandError::UnknownNode { node: id }));
    }
    Ok(json!({
        "target": id.0,
        "kind": "node",
        "health": explained.health,
        "state": explained.state,
        "copies_indexed": explained.copies_indexed,
        "converged": explained.chunks.is_empty(),
        "summary": explained.summary,
        "chunks": explained.chunks.iter().map(chunk_json).collect::<Vec<_>>(),
        "queue": explained.queue.iter().map(queue_entry).collect::<Vec<_>>(),
    }))
}

fn chunk_json(c: &ChunkExplanation) -> Value {
    json!({
        "chunk": c.chunk.0.to_hex(),
        "wanted": c.wanted,
        "counted": c.counted,
        "readable": c.readable,
        "converged": c.converged,
        "copies": c.copies.iter().map(|copy| json!({
            "node": copy.node.0, "standing": copy.standing, "health": copy.health,
        })).collect::<Vec<_>>(),
        "queue": c.queue.iter().map(queue_entry).collect::<Vec<_>>(),
        "summary": c.summary,
    })
}
