//! Running fsck from one node: take the census from this node's namespace replica (only while
//! it knows a leader, so a cut-off node does not judge from a stale namespace), ask every member
//! about every census chunk, tally, then name the paths of the problems shown.
//!
//! Every member is asked, not only the nodes the replica index lists, so a copy the index does
//! not record is found and counted too. Each member is asked in batches of [`FSCK_BATCH_CHUNKS`],
//! one batch at a time; at most [`FSCK_NODES_INFLIGHT_MAX`] members are asked at once. A member
//! that fails a batch is not asked again in this run: its remaining copies are `unreachable`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use dfs_core::ids::{ChunkId, NodeId};
use futures_util::StreamExt;

use super::census::{paths_of, Census};
use super::report::{tally, Answers, FsckReport, Judged, Run};
use super::verify::{verify_local, CopyState};
use super::FsckSlots;
use crate::driver::DriverHandle;
use crate::peers::Peers;
use crate::store::chunks::ChunkStore;

/// What a run reads and asks: this node's driver, peers, chunk store and fsck slots.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    /// The node's driver (for the census).
    pub driver: &'a DriverHandle,
    /// Its peers (to ask the members).
    pub peers: &'a Peers,
    /// Its own chunk store (it checks its copies directly).
    pub chunks: &'a ChunkStore,
    /// Its fsck slots.
    pub fsck: &'a FsckSlots,
    /// Copies every chunk should have.
    pub replication_factor: usize,
}

/// Chunks asked of one member per request.
pub const FSCK_BATCH_CHUNKS: usize = 256;

/// Members asked at once.
pub const FSCK_NODES_INFLIGHT_MAX: usize = 8;

/// Why fsck could not run.
#[derive(Debug, thiserror::Error)]
pub enum FsckError {
    /// This node knows no leader, so its namespace may be stale.
    #[error("this node knows no leader, so its namespace may be stale; ask another node")]
    NoLeader,
    /// The node is shutting down.
    #[error("the node is shutting down")]
    Stopping,
}

/// One member's answers: a state per census chunk, and why it stopped answering, if it did.
struct Asked {
    node: NodeId,
    states: Vec<CopyState>,
    error: Option<String>,
}

/// Checks every chunk of every live version; re-hashes each copy when `verify`.
pub async fn run(state: Node<'_>, verify: bool) -> Result<FsckReport, FsckError> {
    let census = state
        .driver
        .query(|node| {
            let status = node.status();
            status.leader.map(|_| Census::take(status.namespace))
        })
        .await
        .map_err(|_| FsckError::Stopping)?
        .ok_or(FsckError::NoLeader)?;
    let chunks: Arc<Vec<ChunkId>> = Arc::new(census.chunks.keys().copied().collect());
    let me = state.peers.me();
    tracing::info!(node = %me, chunks = chunks.len(), members = census.members.len(), verify, "fsck started");
    let asked: Vec<Asked> = futures_util::stream::iter(census.members.clone())
        .map(|node| ask(state, node, Arc::clone(&chunks), verify))
        .buffer_unordered(FSCK_NODES_INFLIGHT_MAX)
        .collect()
        .await;
    let mut answers = Answers::new();
    let mut unreachable = BTreeMap::new();
    for Asked { node, states, error } in asked {
        answers.insert(node, states);
        if let Some(error) = error {
            unreachable.insert(node.0, error);
        }
    }
    let run = Run { checked_by: me, verify, replication_factor: state.replication_factor };
    let Judged { mut report, shown } = tally(run, &census, &answers, unreachable);
    drop((answers, census));
    if !shown.is_empty() {
        let wanted: BTreeSet<ChunkId> = shown.iter().copied().collect();
        let paths = state
            .driver
            .query(move |node| paths_of(node.status().namespace, &wanted))
            .await
            .map_err(|_| FsckError::Stopping)?;
        for (problem, chunk) in report.problems.iter_mut().zip(&shown) {
            problem.paths = paths.get(chunk).cloned().unwrap_or_default();
        }
    }
    tracing::info!(
        node = %me,
        ok = report.ok,
        problems = report.problems_total,
        unreachable = report.nodes_unreachable.len(),
        "fsck finished"
    );
    Ok(report)
}

/// Asks `node` about every chunk, batch by batch (this node checks its own store directly).
async fn ask(state: Node<'_>, node: NodeId, chunks: Arc<Vec<ChunkId>>, verify: bool) -> Asked {
    let mut states = Vec::with_capacity(chunks.len());
    for batch in chunks.chunks(FSCK_BATCH_CHUNKS) {
        let answer = if node == state.peers.me() {
            Ok(verify_here(state, batch, verify).await)
        } else {
            state.peers.verify_chunks(node, batch, verify).await.map_err(|e| with_sources(&e))
        };
        let error = match answer {
            Ok(batch_states) if batch_states.len() == batch.len() => {
                states.extend(batch_states);
                continue;
            }
            Ok(batch_states) => {
                format!("answered {} states for {} chunks", batch_states.len(), batch.len())
            }
            Err(error) => error,
        };
        tracing::warn!(node = %state.peers.me(), peer = %node, %error, "fsck could not ask a member");
        states.resize(chunks.len(), CopyState::Unreachable);
        return Asked { node, states, error: Some(error) };
    }
    Asked { node, states, error: None }
}

/// Causes followed to explain an error (a transfer error wraps the client's, which wraps the
/// socket's).
const ERROR_SOURCES_MAX: usize = 8;

/// `error` and its causes, `: `-separated.
fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    for _ in 0..ERROR_SOURCES_MAX {
        let Some(cause) = source else { break };
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Checks this node's copies of `batch`, holding one of the node's verify slots meanwhile.
pub async fn verify_here(state: Node<'_>, batch: &[ChunkId], rehash: bool) -> Vec<CopyState> {
    // The semaphore is never closed, so acquiring only waits.
    let _slot = state.fsck.verifying.acquire().await;
    verify_local(state.chunks, batch, rehash).await
}
