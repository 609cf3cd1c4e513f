//! Everything a [`crate::Node`] asks its driver to do (STYLE "Core API"), and the events it emits
//! for observability. Outputs may run concurrently, with one exception: `Persist` outputs must be
//! made durable in emission order (raft's log is append-only).

use raft::eraftpb::{Entry, HardState, Snapshot};

use crate::command::{Change, Reply};
use crate::error::CommandError;
use crate::ids::{ChunkId, JobId, LogIndex, NodeId, ReadyNumber, RequestId, Term};
use crate::repair::RecoverySummary;
use crate::wire::Message;
use crate::write::Written;

/// One effect for the driver to carry out.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send `message` to peer `to` (best effort: raft tolerates loss).
    Send {
        /// The peer.
        to: NodeId,
        /// The message.
        message: Message,
    },
    /// Make `write` durable (fsync), then report `Input::Persisted { ready }`.
    Persist {
        /// The batch number to report back.
        ready: ReadyNumber,
        /// What to store.
        write: RaftWrite,
    },
    /// Start a chunk transfer or disk job; report `Input::JobDone` when it ends.
    StartJob {
        /// The job's number.
        job: JobId,
        /// What to do.
        spec: JobSpec,
    },
    /// Answer a client request.
    Reply {
        /// The request, as numbered in `Input::Client`.
        request: RequestId,
        /// The outcome.
        result: Result<Reply, CommandError>,
    },
    /// Answer an upload (`Input::Upload`): committed with its per-node report, or refused.
    Uploaded {
        /// The upload.
        upload: RequestId,
        /// The outcome.
        result: Result<Written, CommandError>,
    },
    /// A read asked for by `Input::Read` may now be served from this node's replica (it has
    /// applied the read index), or cannot be served (no leader, timeout, halted, removed).
    Readable {
        /// The request, as numbered in `Input::Read`.
        request: RequestId,
        /// The read index applied here, or why the read cannot be served.
        result: Result<LogIndex, CommandError>,
    },
    /// A recovery sync asked for by `Input::Recover` finished.
    Recovered {
        /// The request.
        request: RequestId,
        /// What it found and did.
        summary: RecoverySummary,
    },
    /// Something happened that operators or the change feed may want; nothing depends on it.
    Event(Event),
}

/// What a `Persist` output stores, in this order: snapshot, entries, hard state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RaftWrite {
    /// A snapshot that replaces the whole log and state up to its index (sent by the leader, or
    /// the cluster's bootstrap state).
    pub snapshot: Option<Snapshot>,
    /// Log entries to append; an entry replaces any stored entry at the same or a later index.
    pub entries: Vec<Entry>,
    /// The new term, vote and commit index.
    pub hard_state: Option<HardState>,
    /// A snapshot of this node's own applied state: once it is stored, entries up to its index
    /// may be dropped from the stored log.
    pub compacted: Option<Snapshot>,
}

impl RaftWrite {
    /// Whether there is nothing to store.
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none()
            && self.entries.is_empty()
            && self.hard_state.is_none()
            && self.compacted.is_none()
    }
}

/// A disk or transfer job. Chunk bytes never pass through core: the driver moves them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobSpec {
    /// Copy `chunk` from `from` to `to`.
    CopyChunk {
        /// The chunk.
        chunk: ChunkId,
        /// A node holding a verified copy.
        from: NodeId,
        /// The node that should hold it.
        to: NodeId,
    },
    /// Store `chunk` of `upload` (bytes the driver holds for it) on `to` (this node or a peer).
    StoreChunk {
        /// The upload whose bytes to send.
        upload: RequestId,
        /// The chunk.
        chunk: ChunkId,
        /// The node that should hold it.
        to: NodeId,
    },
    /// Re-read `chunk` on this node and check its hash.
    VerifyChunk {
        /// The chunk.
        chunk: ChunkId,
    },
    /// Remove `chunk` from this node's store.
    DeleteChunk {
        /// The chunk.
        chunk: ChunkId,
    },
    /// List every chunk in this node's store with its age (`JobReport::Inventory`).
    ScanInventory,
}

/// An observable happening inside a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// This node's raft role, term or known leader changed.
    RoleChanged {
        /// The current term.
        term: Term,
        /// The role now held.
        role: Role,
        /// The leader as now known.
        leader: Option<NodeId>,
    },
    /// A committed command changed the namespace at `index`.
    Applied {
        /// Its log index.
        index: LogIndex,
        /// What changed.
        change: Change,
    },
    /// A committed command was refused by the state machine (the same on every replica).
    Rejected {
        /// Its log index.
        index: LogIndex,
        /// Why.
        error: CommandError,
    },
    /// The namespace was replaced by a snapshot from the leader.
    SnapshotRestored {
        /// The snapshot's last included index.
        index: LogIndex,
    },
    /// Every chunk of `upload` has its write quorum; its version is proposed next.
    WriteQuorumMet {
        /// The upload.
        upload: RequestId,
    },
    /// The collector found `chunks` on this node that nothing needs; delete jobs follow.
    GarbageFound {
        /// How many.
        chunks: usize,
    },
    /// A committed entry at `index` does not decode: this node stopped applying there.
    Halted {
        /// The entry's index.
        index: LogIndex,
    },
    /// The log up to `index` was folded into a local snapshot.
    LogCompacted {
        /// The snapshot's last included index.
        index: LogIndex,
    },
}

/// A node's raft role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asking peers whether an election could succeed (pre-vote).
    PreCandidate,
    /// Running an election.
    Candidate,
    /// Leads the cluster.
    Leader,
}

impl Role {
    /// The role as raft names it.
    pub(crate) fn from_raft(role: raft::StateRole) -> Self {
        match role {
            raft::StateRole::Follower => Role::Follower,
            raft::StateRole::PreCandidate => Role::PreCandidate,
            raft::StateRole::Candidate => Role::Candidate,
            raft::StateRole::Leader => Role::Leader,
        }
    }

    /// Lowercase name for traces and status.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::PreCandidate => "precandidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}
