//! Scrub (DESIGN §2 "scrub"): each node re-hashes the copies the index lists on it, one at a
//! time, walking chunk ids in order at most `scrub_bytes_per_sec`, and rests `scrub_rest`
//! between passes. A copy
//! that fails (corrupt or gone) is reported damaged; the node then drops it from the index and its
//! store, and the leader's queue copies a good one back.

use std::time::Duration;

use crate::ids::{ChunkId, JobId, NodeId};
use crate::input::{JobFault, JobReport};
use crate::meta::Namespace;
use crate::time::Instant;

use super::{Bucket, RepairConfig, CHUNK_BYTES_MAX};

/// Index entries a step looks through for the next chunk of this node.
const SCAN_MAX: usize = 10_000;

/// How far scrub has got, for metrics and status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScrubProgress {
    /// Passes over this node's copies finished since start.
    pub passes: u64,
    /// Copies verified in the pass under way.
    pub pass_chunks: u64,
    /// Copies verified since start.
    pub chunks_verified: u64,
    /// Bytes re-hashed since start.
    pub bytes_verified: u64,
    /// Copies found corrupt or missing since start.
    pub corrupt_found: u64,
}

/// One node's scrub cursor and pace.
#[derive(Debug)]
pub struct Scrub {
    me: NodeId,
    enabled: bool,
    bucket: Bucket,
    cursor: Option<ChunkId>,
    in_flight: Option<(JobId, ChunkId)>,
    rest: Duration,
    // A pass ended (or found nothing): start the next at this instant.
    idle_until: Instant,
    progress: ScrubProgress,
}

impl Scrub {
    /// A scrub for node `me`, starting at the first chunk.
    pub fn new(me: NodeId, config: &RepairConfig, now: Instant) -> Self {
        let rate = config.scrub_bytes_per_sec;
        Self {
            me,
            enabled: rate > 0,
            // Scrub reads whole chunks and pays afterwards; the bucket only needs one chunk.
            bucket: Bucket::new(rate, CHUNK_BYTES_MAX.min(rate.max(1)), now),
            cursor: None,
            in_flight: None,
            rest: config.scrub_rest,
            idle_until: now,
            progress: ScrubProgress::default(),
        }
    }

    /// Whether `job` is this scrub's.
    pub fn owns(&self, job: JobId) -> bool {
        self.in_flight.is_some_and(|(j, _)| j == job)
    }

    /// The next chunk to verify, if it is time: `(job, chunk)`.
    pub fn step(
        &mut self,
        now: Instant,
        namespace: &Namespace,
        next_job: &mut u64,
    ) -> Option<(JobId, ChunkId)> {
        if !self.enabled
            || self.in_flight.is_some()
            || now < self.idle_until
            || !self.bucket.has_tokens(now)
        {
            return None;
        }
        let Some(chunk) = self.next_chunk(namespace) else {
            if self.cursor.is_none() && self.progress.pass_chunks > 0 {
                self.progress.passes += 1;
                self.progress.pass_chunks = 0;
            }
            if self.cursor.is_none() {
                self.idle_until = now.saturating_add(self.rest);
            }
            return None;
        };
        let job = JobId(*next_job);
        *next_job += 1;
        self.in_flight = Some((job, chunk));
        self.cursor = Some(chunk);
        Some((job, chunk))
    }

    /// When the next verify may start, if scrub waits for bandwidth.
    pub fn next_wake(&self) -> Option<Instant> {
        (self.enabled && self.in_flight.is_none())
            .then(|| self.bucket.ready_at(1).max(self.idle_until))
    }

    /// A verify finished: the chunk if its copy here is damaged.
    pub fn job_done(
        &mut self,
        job: JobId,
        result: &Result<JobReport, JobFault>,
        now: Instant,
    ) -> Option<ChunkId> {
        let (_, chunk) = self.in_flight.take_if(|(j, _)| *j == job)?;
        let damaged = match result {
            Ok(JobReport::ChunkVerified { intact, bytes, .. }) => {
                self.bucket.charge(*bytes, now);
                self.progress.bytes_verified += bytes;
                !intact
            }
            // A disk error reading it: the copy cannot be trusted either.
            Err(JobFault::Corrupt) | Err(JobFault::Io) => true,
            _ => false,
        };
        self.progress.pass_chunks += 1;
        self.progress.chunks_verified += 1;
        if damaged {
            tracing::warn!(node = %self.me, %chunk, "scrub: copy is corrupt or missing");
            self.progress.corrupt_found += 1;
        }
        damaged.then_some(chunk)
    }

    /// How far scrub has got.
    pub fn progress(&self) -> ScrubProgress {
        self.progress
    }

    fn next_chunk(&mut self, namespace: &Namespace) -> Option<ChunkId> {
        let mut scanned = 0;
        let mut last = None;
        for (chunk, nodes) in namespace.replicas_after(self.cursor).take(SCAN_MAX) {
            if nodes.contains(&self.me) {
                return Some(*chunk);
            }
            scanned += 1;
            last = Some(*chunk);
        }
        // Went through the rest of the index: wrap around; else go on from here next time.
        self.cursor = if scanned == SCAN_MAX { last } else { None };
        None
    }
}
