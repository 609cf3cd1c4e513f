//! Cluster endpoints (DESIGN §2 "heartbeats", "replication queue", "recovery sync", "cluster
//! of N nodes"): `GET /nodes`, `GET /replication-queue`, `POST /nodes/{id}/recover`,
//! `POST /nodes/{id}/drain` and `DELETE /nodes/{id}`. Any node answers; what only the leader (the
//! queue, removals) or one node (its recovery sync) knows is fetched from it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::extract::{Query, UrlPath};
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use dfs_core::command::{Command, DeclaredState, MemberRole, Reply};
use dfs_core::ids::{ChunkId, NodeId};
use dfs_core::meta::EntryKind;
use dfs_core::repair::{QueueEntry, QueueView};
use dfs_core::Node;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{require_admin, Authed, BearerToken};
use super::{submit, ApiError, ApiState};
use crate::peers::{Forward, TransferError};

/// How long a forwarded request may take (a recovery sync of a big node takes a while).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(3600);

/// `GET /nodes`: every member with its role, declared state, committed health, last heartbeat
/// (as the leader saw it), usage, disk capacity and free space (`null` until reported) and chunk
/// counts, and the cluster's totals (over the members that reported them).
pub async fn nodes(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let view = state.driver.query(describe_nodes).await.map_err(|_| ApiError::stopping())?;
    Ok(Json(view))
}

fn describe_nodes(node: &Node) -> Value {
    let status = node.status();
    let namespace = status.namespace;
    let view = node.cluster_view();
    let mut indexed: BTreeMap<NodeId, u64> = BTreeMap::new();
    for (_, holders) in namespace.replicas_after(None) {
        for holder in holders {
            *indexed.entry(*holder).or_default() += 1;
        }
    }
    let nodes: Vec<Value> = namespace
        .members()
        .iter()
        .map(|(id, member)| {
            let report = view.get(*id);
            // A disk of size 0 is one the node could not measure.
            let space = report.map(|r| r.usage).filter(|u| u.capacity_bytes > 0);
            json!({
                "id": id.0,
                "role": match member.role { MemberRole::Voter => "voter", MemberRole::Learner => "learner" },
                "leader": status.leader == Some(*id),
                "state": match member.state { DeclaredState::Active => "active", DeclaredState::Draining => "draining" },
                "health": member.health.as_str(),
                "last_heartbeat_ms": report.and_then(|r| r.last_heard_ms),
                "used_bytes": report.map(|r| r.usage.used_bytes),
                "chunk_count": report.map(|r| r.usage.chunk_count),
                "capacity_bytes": space.map(|u| u.capacity_bytes),
                "free_bytes": space.map(|u| u.free_bytes),
                "chunks_indexed": indexed.get(id).copied().unwrap_or(0),
            })
        })
        .collect();
    let total = |field: &str| -> u64 { nodes.iter().filter_map(|n| n[field].as_u64()).sum() };
    let cluster = json!({
        "used_bytes": total("used_bytes"),
        "capacity_bytes": total("capacity_bytes"),
        "free_bytes": total("free_bytes"),
    });
    json!({
        "node": status.id.0,
        "leader": status.leader.map(|l| l.0),
        "term": status.term.0,
        "nodes": nodes,
        "cluster": cluster,
    })
}

/// Query of `GET /replication-queue`.
#[derive(Debug, Deserialize)]
pub struct QueueQuery {
    /// Most entries listed (default 100, at most 10,000).
    limit: Option<usize>,
}

/// `GET /replication-queue`: the leader's queue, each entry with the files its chunk belongs to.
pub async fn replication_queue(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    token: BearerToken,
    Query(query): Query<QueueQuery>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&caller, "the replication queue")?;
    let limit = query.limit.unwrap_or(100).min(QueueView::ENTRIES_MAX);
    let local = state
        .driver
        .query(move |node| {
            let leader = node.status().leader;
            node.replication_queue().map(|queue| with_paths(node, queue, limit)).ok_or(leader)
        })
        .await
        .map_err(|_| ApiError::stopping())?;
    match local {
        Ok(view) => Ok(Json(view)),
        Err(leader) => {
            let path = format!("/replication-queue?limit={limit}");
            forward(&state, &token, leader, Method::GET, &path).await.map(Json)
        }
    }
}

fn with_paths(node: &Node, queue: &QueueView, limit: usize) -> Value {
    let shown = &queue.entries[..queue.entries.len().min(limit)];
    let wanted: BTreeSet<ChunkId> = shown.iter().map(|e| e.chunk).collect();
    let mut paths: BTreeMap<ChunkId, Vec<String>> = BTreeMap::new();
    for (path, entry) in node.status().namespace.entries() {
        let EntryKind::File(file) = &entry.kind else { continue };
        for version in &file.versions {
            for chunk in version.content.chunks.iter().filter(|c| wanted.contains(&c.id)) {
                let list = paths.entry(chunk.id).or_default();
                if list.len() < 8 && !list.iter().any(|p| p == path.as_str()) {
                    list.push(path.as_str().to_owned());
                }
            }
        }
    }
    let entries: Vec<Value> = shown
        .iter()
        .map(|e| {
            let mut entry = queue_entry(e);
            entry["paths"] = json!(paths.get(&e.chunk).cloned().unwrap_or_default());
            entry
        })
        .collect();
    let done: Vec<Value> = queue
        .done
        .iter()
        .rev()
        .take(limit)
        .map(|d| {
            json!({
                "chunk": d.chunk.0.to_hex(), "len_bytes": d.len_bytes, "kind": d.kind,
                "source": d.source.0, "target": d.target.0, "state": "done", "attempts": d.attempts,
            })
        })
        .collect();
    json!({
        "leader": node.status().id.0,
        "total": queue.total,
        "bytes_pending": queue.bytes_pending,
        "entries": entries,
        "recent_done": done,
        "done_total": queue.done_total,
        "failed_total": queue.failed_total,
        "failed_recent": queue.failed_recent,
        "oldest_waiting_ms": queue.oldest_waiting_ms,
    })
}

/// One queue entry as JSON.
pub(super) fn queue_entry(e: &QueueEntry) -> Value {
    json!({
        "chunk": e.chunk.0.to_hex(),
        "len_bytes": e.len_bytes,
        "kind": e.kind,
        "source": e.source.map(|n| n.0),
        "target": e.target.map(|n| n.0),
        "state": e.state,
        "attempts": e.attempts,
        "last_error": e.last_error,
        "blocked": e.blocked,
        "blocked_reason": e.blocked.map(|b| b.describe()),
        "waiting_ms": e.waiting_ms,
    })
}

/// `POST /nodes/{id}/recover`: runs a recovery sync on that node and returns its summary.
pub async fn recover(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    token: BearerToken,
    UrlPath(id): UrlPath<u64>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&caller, "a recovery sync")?;
    let node = NodeId(id);
    let member = state
        .driver
        .query(move |n| n.status().namespace.members().contains_key(&node))
        .await
        .map_err(|_| ApiError::stopping())?;
    if !member {
        return Err(ApiError::from(dfs_core::CommandError::UnknownNode { node }));
    }
    if node != state.peers.me() {
        return forward(&state, &token, Some(node), Method::POST, &format!("/nodes/{id}/recover"))
            .await
            .map(Json);
    }
    let summary = state.driver.recover().await.map_err(|_| ApiError::stopping())?;
    Ok(Json(json!({ "node": id, "summary": summary })))
}

/// `POST /nodes/{id}/drain`: marks the node draining; the leader moves its copies off.
pub async fn drain(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    UrlPath(id): UrlPath<u64>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&caller, "draining a node")?;
    let command = Command::SetNodeState { node: NodeId(id), state: DeclaredState::Draining };
    let Reply::Applied { index, .. } = submit(&state, command).await?;
    Ok(Json(json!({ "node": id, "state": "draining", "index": index.0 })))
}

/// Query of `POST /nodes/{id}`.
#[derive(Debug, Deserialize)]
pub struct AddQuery {
    /// `voter` (default) or `learner`.
    role: Option<String>,
    /// The node's peer (raft) address, recorded through raft with `http`.
    peer: Option<std::net::SocketAddr>,
    /// The node's HTTP address.
    http: Option<std::net::SocketAddr>,
}

/// `POST /nodes/{id}[?role=learner][&peer=ADDR&http=ADDR]`: adds a member (a raft membership
/// change). With `peer` and `http` its addresses are recorded through raft first, so every
/// member dials it; without, they must be known already (recorded when the node asked to
/// join, or in every member's peer list). Once it is up, rebalance fills it.
pub async fn add(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    token: BearerToken,
    UrlPath(id): UrlPath<u64>,
    Query(query): Query<AddQuery>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&caller, "adding a node")?;
    let role = match query.role.as_deref() {
        None | Some("voter") => MemberRole::Voter,
        Some("learner") => MemberRole::Learner,
        Some(other) => {
            let message = format!("role must be voter or learner, not `{other}`");
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_query", message));
        }
    };
    let addrs = match (query.peer, query.http) {
        (Some(peer), Some(http)) => Some(dfs_core::membership::MemberAddrs { peer, http }),
        (None, None) => None,
        _ => {
            let message = "give both peer and http addresses, or neither";
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_query", message));
        }
    };
    let node = NodeId(id);
    let recorded = state
        .driver
        .query(move |n| n.status().namespace.member_addrs().contains_key(&node))
        .await
        .map_err(|_| ApiError::stopping())?;
    if addrs.is_none() && node != state.peers.me() && !recorded && !state.peers.knows(node) {
        let message = format!(
            "no address is known for node {id}: give it with --addr PEER,HTTP, or start the \
             node with --seed to let it join by itself"
        );
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "unknown_address", message));
    }
    // The same request, for the leader when this node is not it.
    let role_name = if role == MemberRole::Learner { "learner" } else { "voter" };
    let mut path = format!("/nodes/{id}?role={role_name}");
    if let Some(addrs) = addrs {
        path.push_str(&format!("&peer={}&http={}", addrs.peer, addrs.http));
    }
    let (state, token, path) = (&state, &token, &path);
    let to_leader = |error: ApiError| async move {
        if error.code != "not_leader" {
            return Err(error);
        }
        let leader = leader_of(state).await?;
        forward(state, token, leader, Method::POST, path).await.map(Json)
    };
    if let Some(addrs) = addrs {
        if let Err(error) = submit(state, Command::SetNodeAddrs { node, addrs }).await {
            return to_leader(error).await;
        }
    }
    match submit(state, Command::AddNode { node, role }).await {
        Ok(Reply::Applied { index, .. }) => Ok(Json(json!({ "added": id, "index": index.0 }))),
        Err(error) => to_leader(error).await,
    }
}

/// `DELETE /nodes/{id}`: removes the member, refused while it holds copies others lack.
pub async fn remove(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    token: BearerToken,
    UrlPath(id): UrlPath<u64>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&caller, "removing a node")?;
    let command = Command::RemoveNode { node: NodeId(id) };
    match submit(&state, command).await {
        Ok(Reply::Applied { index, .. }) => Ok(Json(json!({ "removed": id, "index": index.0 }))),
        Err(error) if error.code == "not_leader" => {
            let leader = leader_of(&state).await?;
            forward(&state, &token, leader, Method::DELETE, &format!("/nodes/{id}")).await.map(Json)
        }
        Err(error) => Err(error),
    }
}

async fn leader_of(state: &ApiState) -> Result<Option<NodeId>, ApiError> {
    state.driver.query(|node| node.status().leader).await.map_err(|_| ApiError::stopping())
}

/// Sends the same request to `node`'s client API, with the client's own bearer token (so `node`
/// authorizes the same user), and returns its JSON answer (or its error).
pub(super) async fn forward(
    state: &ApiState,
    token: &BearerToken,
    node: Option<NodeId>,
    method: Method,
    path: &str,
) -> Result<Value, ApiError> {
    let unavailable = ApiError::unavailable;
    let node = node.ok_or_else(|| unavailable("no leader is known yet".into()))?;
    let forward = Forward {
        method,
        path: path.to_owned(),
        timeout: FORWARD_TIMEOUT,
        token: Some(token.0.clone()),
    };
    let relayed = state.peers.forward(node, forward).await.map_err(|e| match e {
        TransferError::UnknownNode(_) => unavailable(format!("no address is known for {node}")),
        e => unavailable(format!("{node} did not answer: {e}")),
    })?;
    let status = StatusCode::from_u16(relayed.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let body: Value = serde_json::from_slice(&relayed.body)
        .map_err(|e| unavailable(format!("{node} sent a bad answer: {e}")))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(ApiError::relayed(status, body))
    }
}
