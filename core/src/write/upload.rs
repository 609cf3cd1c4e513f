//! The upload machine (DESIGN §2 "write"): the driver opens an upload (path, precondition,
//! idempotency key, author) and reports each chunk as it is cut; this table places every chunk
//! with [`placement`], starts one store job per copy, counts the outcomes against
//! `write_quorum`, and decides: refused as soon as some chunk can no longer reach the quorum (or
//! there is nobody to store on), ready to commit once the body is sealed and every copy has
//! landed, failed or outlived `write_copy_timeout`. A ready upload proposes its `PutVersion`;
//! the node answers the client when that entry applies. Chunk bytes never pass through here:
//! the driver holds them (a bounded buffer per upload) and runs the store jobs.
//!
//! An S3 part is the same kind of upload sealed as a part ([`UploadStep::SealedPart`]): it
//! proposes a `PutPart` instead.
//!
//! An upload's chunks (sent or reused) stay referenced here until it is answered, so the
//! collector never deletes a chunk an upload in progress needs ([`Uploads::references`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::command::{ChunkRef, Command, Content, IdempotencyKey, Precondition};
use crate::config::WriteQuorum;
use crate::error::CommandError;
use crate::ids::{ChunkId, Hash, JobId, NodeId, RequestId, UnixMillis, UserName};
use crate::path::Path;
use crate::placement::{self, Candidate};
use crate::time::Instant;

use super::{ReplicaOutcome, Tally};

/// What the driver knows before the body: where and how the upload writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadStart {
    /// The file.
    pub path: Path,
    /// `If-Match` / `If-None-Match: *`.
    pub precondition: Precondition,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<IdempotencyKey>,
    /// Who writes.
    pub author: UserName,
}

/// One step of an upload, as the driver reports it (`Input::Upload`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadStep {
    /// A new upload; answered by `Output::Uploaded` (a refusal may come before the body ends).
    Start(UploadStart),
    /// The next chunk of the file, cut and held by the driver: store it.
    Chunk(ChunkRef),
    /// The next chunk of the file, already held by the cluster: referenced, not sent.
    Reused(ChunkRef),
    /// The body ended and its whole-file hash was checked.
    Sealed {
        /// The file's length.
        size_bytes: u64,
        /// Its blake3.
        hash: Hash,
        /// When the receiving node accepted the request (wall clock, for the version).
        created_at: UnixMillis,
        /// S3 object metadata to record with the version (an S3 PutObject proposes a
        /// `PutObject` wrapping the `PutVersion`); `None` for native writes.
        meta: Option<Box<crate::s3::ObjectMeta>>,
    },
    /// The body of an S3 part ended (its hashes computed): commit it as part `number` of a
    /// multipart upload (a `PutPart`) instead of a version.
    SealedPart(Box<PartSeal>),
    /// The client went away or the driver refused the body: forget the upload, answer nothing.
    Abort,
}

/// What a sealed S3 part records ([`UploadStep::SealedPart`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartSeal {
    /// The multipart upload.
    pub upload: crate::s3::multipart::UploadId,
    /// The part number.
    pub number: u32,
    /// The part's length.
    pub size_bytes: u64,
    /// Its blake3.
    pub hash: Hash,
    /// Its MD5 (the part's ETag).
    pub md5: [u8; 16],
    /// When the receiving node accepted the request.
    pub uploaded_at: UnixMillis,
}

/// What a committed upload reports (`Output::Uploaded`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The log index of the commit.
    pub index: crate::ids::LogIndex,
    /// What changed (for an idempotent retry, the first request's write).
    pub change: crate::command::Change,
    /// Per node sent anything: stored, queued or failed.
    pub replicas: BTreeMap<NodeId, ReplicaOutcome>,
}

/// What the table asks the node to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum UploadAction {
    /// Start a store job: copy `chunk` of `upload` (bytes held by the driver) to `to`.
    Store {
        /// The job.
        job: JobId,
        /// The upload holding the bytes.
        upload: RequestId,
        /// The chunk.
        chunk: ChunkId,
        /// The target.
        to: NodeId,
    },
    /// Every chunk has its quorum: the upload is about to propose.
    QuorumMet {
        /// The upload.
        upload: RequestId,
    },
    /// Answer the upload with a refusal; it is forgotten.
    Refuse {
        /// The upload.
        upload: RequestId,
        /// Why.
        error: CommandError,
    },
}

/// The limits the table applies (from the node's config).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    /// Copies kept of every chunk.
    pub replication_factor: usize,
    /// Copies needed before commit.
    pub quorum: WriteQuorum,
    /// How long one store job may run before it counts as failed.
    pub copy_timeout: Duration,
    /// How long a ready upload waits for a leader to propose to.
    pub propose_timeout: Duration,
    /// Uploads open at once.
    pub uploads_max: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Receiving,
    Ready { command: Command, by: Instant },
    Proposed,
}

#[derive(Clone, Debug)]
struct Upload {
    start: UploadStart,
    candidates: Vec<Candidate>,
    chunks: Vec<ChunkRef>,
    tally: Tally,
    // Store jobs still running, with their deadlines.
    running: BTreeMap<JobId, (ChunkId, NodeId, Instant)>,
    sealed: Option<(u64, Hash, UnixMillis)>,
    meta: Option<Box<crate::s3::ObjectMeta>>,
    part: Option<Box<PartSeal>>,
    phase: Phase,
}

/// Every open upload on this node.
#[derive(Debug)]
pub(crate) struct Uploads {
    rules: Rules,
    uploads: BTreeMap<RequestId, Upload>,
    // INVARIANT: holds exactly the running jobs of `uploads`, each naming its upload.
    jobs: BTreeMap<JobId, RequestId>,
}

impl Uploads {
    /// An empty table.
    pub(crate) fn new(rules: Rules) -> Self {
        Self { rules, uploads: BTreeMap::new(), jobs: BTreeMap::new() }
    }

    /// Opens `upload`, placing its chunks on `candidates` (fixed for the upload).
    pub(crate) fn start(
        &mut self,
        upload: RequestId,
        start: UploadStart,
        candidates: Vec<Candidate>,
    ) -> Vec<UploadAction> {
        let refuse = |error| vec![UploadAction::Refuse { upload, error }];
        if self.uploads.contains_key(&upload) {
            return vec![];
        }
        if self.uploads.len() >= self.rules.uploads_max {
            return refuse(CommandError::Overloaded { max: self.rules.uploads_max });
        }
        if candidates.is_empty() {
            return refuse(CommandError::NoStorageNodes);
        }
        let open = Upload {
            start,
            candidates,
            chunks: Vec::new(),
            tally: Tally::new(),
            running: BTreeMap::new(),
            sealed: None,
            meta: None,
            part: None,
            phase: Phase::Receiving,
        };
        self.uploads.insert(upload, open);
        vec![]
    }

    /// Applies one later step of `upload`; unknown or answered uploads ignore it.
    pub(crate) fn step(
        &mut self,
        upload: RequestId,
        step: UploadStep,
        now: Instant,
        next_job: &mut u64,
    ) -> Vec<UploadAction> {
        let rules = self.rules;
        let Some(open) = self.uploads.get_mut(&upload) else { return vec![] };
        if open.phase != Phase::Receiving || open.sealed.is_some() {
            if step == UploadStep::Abort && open.phase != Phase::Proposed {
                self.forget(upload);
            }
            return vec![];
        }
        let mut actions = Vec::new();
        match step {
            UploadStep::Start(_) => {}
            UploadStep::Chunk(chunk) => {
                open.chunks.push(chunk);
                if !open.tally.has(chunk.id) {
                    let targets =
                        placement::targets(chunk.id, &open.candidates, rules.replication_factor);
                    open.tally.placed(chunk.id, &targets);
                    let deadline = now.saturating_add(rules.copy_timeout);
                    for to in targets {
                        let job = JobId(*next_job);
                        *next_job += 1;
                        open.running.insert(job, (chunk.id, to, deadline));
                        self.jobs.insert(job, upload);
                        actions.push(UploadAction::Store { job, upload, chunk: chunk.id, to });
                    }
                }
            }
            UploadStep::Reused(chunk) => open.chunks.push(chunk),
            UploadStep::Sealed { size_bytes, hash, created_at, meta } => {
                open.sealed = Some((size_bytes, hash, created_at));
                open.meta = meta;
            }
            UploadStep::SealedPart(part) => {
                open.sealed = Some((part.size_bytes, part.hash, part.uploaded_at));
                open.part = Some(part);
            }
            UploadStep::Abort => {
                self.forget(upload);
                return vec![];
            }
        }
        actions.extend(self.decide(upload, now));
        actions
    }

    /// Whether `job` is one of this table's store jobs.
    pub(crate) fn owns(&self, job: JobId) -> bool {
        self.jobs.contains_key(&job)
    }

    /// A store job ended: `stored` says whether the copy is durable.
    pub(crate) fn job_done(&mut self, job: JobId, stored: bool, now: Instant) -> Vec<UploadAction> {
        let Some(upload) = self.jobs.remove(&job) else { return vec![] };
        let Some(open) = self.uploads.get_mut(&upload) else { return vec![] };
        if let Some((chunk, node, _)) = open.running.remove(&job) {
            if stored {
                open.tally.stored(chunk, node);
            } else {
                open.tally.failed(chunk, node);
            }
        }
        self.decide(upload, now)
    }

    /// Counts store jobs past their deadline as failed, and refuses ready uploads that found no
    /// leader in time.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<UploadAction> {
        let overdue: Vec<JobId> = self
            .uploads
            .values()
            .flat_map(|u| u.running.iter().filter(|(_, (_, _, at))| *at <= now).map(|(j, _)| *j))
            .collect();
        let mut actions = Vec::new();
        for job in overdue {
            actions.extend(self.job_done(job, false, now));
        }
        let stale: Vec<RequestId> = self
            .uploads
            .iter()
            .filter(|(_, u)| matches!(u.phase, Phase::Ready { by, .. } if by <= now))
            .map(|(id, _)| *id)
            .collect();
        for upload in stale {
            self.forget(upload);
            actions.push(UploadAction::Refuse { upload, error: CommandError::NoLeader });
        }
        actions
    }

    /// Uploads ready to propose, with their commands.
    pub(crate) fn ready(&self) -> Vec<(RequestId, Command)> {
        let ready = |(id, u): (&RequestId, &Upload)| match &u.phase {
            Phase::Ready { command, .. } => Some((*id, command.clone())),
            _ => None,
        };
        self.uploads.iter().filter_map(ready).collect()
    }

    /// `upload`'s command was handed to raft: it waits in the node's pending table now.
    pub(crate) fn proposed(&mut self, upload: RequestId) {
        if let Some(open) = self.uploads.get_mut(&upload) {
            open.phase = Phase::Proposed;
        }
    }

    /// The answer to `request` has come (committed, refused by the state machine, or timed
    /// out): if it is an upload's, forgets it and returns its per-node report.
    pub(crate) fn answered(
        &mut self,
        request: RequestId,
    ) -> Option<BTreeMap<NodeId, ReplicaOutcome>> {
        if self.uploads.get(&request)?.phase != Phase::Proposed {
            return None;
        }
        let open = self.uploads.remove(&request)?;
        Some(open.tally.report())
    }

    /// Whether an open upload references `chunk` (sent or reused).
    pub(crate) fn references(&self, chunk: ChunkId) -> bool {
        self.uploads.values().any(|u| u.chunks.iter().any(|c| c.id == chunk))
    }

    /// Every chunk an open upload references.
    pub(crate) fn referenced(&self) -> BTreeSet<ChunkId> {
        self.uploads.values().flat_map(|u| u.chunks.iter().map(|c| c.id)).collect()
    }

    /// Earliest store-job or propose deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let jobs = self.uploads.values().flat_map(|u| u.running.values().map(|(_, _, at)| *at));
        let ready = self.uploads.values().filter_map(|u| match u.phase {
            Phase::Ready { by, .. } => Some(by),
            _ => None,
        });
        jobs.chain(ready).min()
    }

    fn forget(&mut self, upload: RequestId) {
        if let Some(open) = self.uploads.remove(&upload) {
            for job in open.running.keys() {
                self.jobs.remove(job);
            }
        }
    }

    /// Refuses `upload` if a chunk can no longer reach the quorum; makes it ready once sealed
    /// with every copy settled.
    fn decide(&mut self, upload: RequestId, now: Instant) -> Vec<UploadAction> {
        let Rules { quorum, replication_factor: rf, .. } = self.rules;
        let Some(open) = self.uploads.get_mut(&upload) else { return vec![] };
        if open.phase != Phase::Receiving {
            return vec![];
        }
        let doomed = open.tally.unreachable(quorum, rf);
        if let Some(&(example, copies)) = doomed.first() {
            let chunks = doomed.len();
            self.forget(upload);
            let needed = quorum.copies_needed(rf);
            let error = CommandError::InsufficientReplicas { chunks, needed, example, copies };
            return vec![UploadAction::Refuse { upload, error }];
        }
        let Some((size_bytes, hash, created_at)) = open.sealed else { return vec![] };
        if !open.running.is_empty() {
            return vec![];
        }
        let content = Content { chunks: open.chunks.clone(), size_bytes, hash };
        if let Some(part) = open.part.take() {
            let record = crate::s3::multipart::PartRecord {
                content,
                md5: part.md5,
                uploaded_at: part.uploaded_at,
            };
            let command = Command::PutPart {
                path: open.start.path.clone(),
                upload: part.upload,
                number: part.number,
                part: record,
                replicas: open.tally.replicas(),
            };
            let by = now.saturating_add(self.rules.propose_timeout);
            open.phase = Phase::Ready { command, by };
            return vec![UploadAction::QuorumMet { upload }];
        }
        let command = Command::PutVersion {
            path: open.start.path.clone(),
            precondition: open.start.precondition,
            content,
            author: open.start.author.clone(),
            created_at,
            replicas: open.tally.replicas(),
            idempotency_key: open.start.idempotency_key.clone(),
        };
        let command = match open.meta.take() {
            Some(meta) => Command::PutObject { put: Box::new(command), meta: *meta },
            None => command,
        };
        open.phase = Phase::Ready { command, by: now.saturating_add(self.rules.propose_timeout) };
        vec![UploadAction::QuorumMet { upload }]
    }
}

#[cfg(test)]
#[path = "upload_tests.rs"]
mod tests;
