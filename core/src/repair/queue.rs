//! The replication queue as operators see it (`dfs queue`, `GET /replication-queue`).

use serde::{Deserialize, Serialize};

use crate::ids::{ChunkId, NodeId};

/// Where a queued copy stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for a slot, bandwidth, a source or a target.
    Pending,
    /// Being copied.
    InProgress,
    /// Copied and recorded.
    Done,
    /// The last attempt failed; retried after a backoff.
    Failed,
}

/// Why a copy is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Fewer than `replication_factor` counted copies.
    Repair,
    /// A copy on a draining node must move off it.
    Drain,
    /// Moving a copy from the fullest node to the emptiest.
    Rebalance,
}

/// Why a pending copy has not started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Blocked {
    /// No up node holds a copy to read from.
    SourceDown,
    /// No up, active node without a copy has room for one.
    NoTarget,
    /// Waiting for a copy slot (`repair_jobs_max`) or bandwidth (`repair_bytes_per_sec`).
    Throttled,
    /// The last attempt failed; the next waits out its backoff.
    RetryingAfterError,
}

impl Blocked {
    /// A sentence for operators.
    pub fn describe(self) -> &'static str {
        match self {
            Blocked::SourceDown => "no up node holds a copy to copy from",
            Blocked::NoTarget => "no up, active node without a copy is available to take one",
            Blocked::Throttled => "waiting for a copy slot or bandwidth (repair limits)",
            Blocked::RetryingAfterError => "the last attempt failed; retrying after a backoff",
        }
    }
}

/// One chunk that needs a copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// The chunk.
    pub chunk: ChunkId,
    /// Its length.
    pub len_bytes: u32,
    /// Why.
    pub kind: TaskKind,
    /// A node to copy from, if any is up.
    pub source: Option<NodeId>,
    /// The node to copy to, if any is eligible.
    pub target: Option<NodeId>,
    /// Where it stands.
    pub state: TaskState,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Why the last attempt failed, or why it cannot start.
    pub last_error: Option<String>,
    /// What keeps a pending or failed copy from starting.
    pub blocked: Option<Blocked>,
    /// How long the chunk has been in the queue, in milliseconds.
    pub waiting_ms: u64,
}

/// A copy that finished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoneEntry {
    /// The chunk.
    pub chunk: ChunkId,
    /// Its length.
    pub len_bytes: u32,
    /// Why it was copied.
    pub kind: TaskKind,
    /// Where from.
    pub source: NodeId,
    /// Where to.
    pub target: NodeId,
    /// Attempts it took (1 if the first worked).
    pub attempts: u32,
}

/// The queue as of the leader's last pass.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueView {
    /// Whether this came from the leader (a follower has no queue of its own).
    pub from_leader: bool,
    /// Under-replicated or moving chunks, at most [`QueueView::ENTRIES_MAX`].
    pub entries: Vec<QueueEntry>,
    /// How many entries there are in all.
    pub total: usize,
    /// Bytes still to copy.
    pub bytes_pending: u64,
    /// The most recent finished copies, newest last.
    pub done: Vec<DoneEntry>,
    /// Copies finished since this node became leader.
    pub done_total: u64,
    /// Copies failed since this node became leader (a counter: it never goes down).
    pub failed_total: u64,
    /// Copies failed in the last [`FAILURES_RECENT`](super::FAILURES_RECENT), what an
    /// operator should look at: a node that was down and is back stops showing its failures.
    #[serde(default)]
    pub failed_recent: u64,
    /// How long the longest-waiting chunk has been in the queue, in milliseconds.
    pub oldest_waiting_ms: u64,
}

impl QueueView {
    /// Most entries listed.
    pub const ENTRIES_MAX: usize = 10_000;
    /// Most recent finished copies kept.
    pub const DONE_MAX: usize = 256;
}
