//! Everything a driver feeds into a [`crate::Node`] (STYLE "Core API"): timers, peer messages,
//! client commands, persistence and job completions.

use std::time::Duration;

use crate::command::Command;
use crate::health::Usage;
use crate::ids::{ChunkId, JobId, NodeId, ReadyNumber, RequestId, UnixMillis};
use crate::wire::Message;
use crate::write::UploadStep;

/// One event delivered to `Node::handle`.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The instant from `poll_timeout` has passed. Early or duplicate timeouts are no-ops.
    Timeout,
    /// A message from a peer, already authenticated and decoded by the driver.
    Peer {
        /// The sender.
        from: NodeId,
        /// What it sent.
        message: Message,
    },
    /// A client asks for a namespace or membership change.
    Client {
        /// The driver's number for this request; the reply carries it back.
        request: RequestId,
        /// What the client asks.
        command: Command,
    },
    /// A client asks to read linearizably: answered by `Output::Readable` once this node's
    /// replica reflects every write acknowledged before now, on any node (`reads`).
    Read {
        /// The driver's number for this request; the answer carries it back.
        request: RequestId,
    },
    /// Every `Output::Persist` up to and including `ready` is durable on disk.
    Persisted {
        /// The newest durable batch.
        ready: ReadyNumber,
    },
    /// This node's chunk store usage, reported by the driver about once per heartbeat.
    Usage(Usage),
    /// An operator asks for a recovery sync of this node; answered by `Output::Recovered`.
    Recover {
        /// The driver's number for this request.
        request: RequestId,
    },
    /// A read found this node's copy of `chunk` corrupt or missing (read repair).
    ChunkDamaged {
        /// The chunk.
        chunk: ChunkId,
    },
    /// One step of an upload (DESIGN §2 "write"): opened with `UploadStep::Start`, answered by
    /// `Output::Uploaded`. The driver numbers uploads from the same sequence as client requests.
    Upload {
        /// The upload.
        upload: RequestId,
        /// What happened.
        step: UploadStep,
    },
    /// Time for a collection pass (DESIGN §2 "delete"): scan this node's store and delete what
    /// nothing needs, neither the namespace (`grace` after a delete) nor an open upload.
    CollectGarbage {
        /// The wall clock now (tombstone ages are wall-clock times).
        now: UnixMillis,
        /// How long deleted files' chunks and unreferenced young chunks are kept.
        grace: Duration,
    },
    /// A job from `Output::StartJob` finished.
    JobDone {
        /// The job.
        job: JobId,
        /// What it achieved, or why it failed.
        result: Result<JobReport, JobFault>,
    },
}

/// What a finished job achieved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobReport {
    /// The chunk is durable on the target node.
    ChunkStored {
        /// The chunk.
        chunk: ChunkId,
        /// Where it is stored.
        on: NodeId,
    },
    /// The chunk was re-read and its hash checked.
    ChunkVerified {
        /// The chunk.
        chunk: ChunkId,
        /// Whether its bytes are there and still match its hash.
        intact: bool,
        /// Bytes read.
        bytes: u64,
    },
    /// The chunk store was scanned.
    Inventory {
        /// Every stored chunk with the age of its file.
        chunks: Vec<(ChunkId, Duration)>,
    },
    /// The chunk file was removed.
    ChunkDeleted {
        /// The chunk.
        chunk: ChunkId,
    },
}

/// Why a job failed; disk and network trouble reach core only in this form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobFault {
    /// No source holding the chunk answered.
    SourceUnavailable,
    /// The target could not be reached.
    TargetUnavailable,
    /// The bytes read did not match the chunk's hash.
    Corrupt,
    /// The disk has no room.
    DiskFull,
    /// Another disk error.
    Io,
}
