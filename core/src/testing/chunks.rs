//! The harness's model of each host's chunk store and of the jobs nodes start (STYLE "Drivers":
//! what the runtime's job runner does, with no bytes): copies, verifies, deletes and scans take
//! simulated time, survive crashes (chunks are durable once stored) and fail the way the real
//! ones do when a source or target is down or a copy is corrupt.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::health::Usage;
use crate::ids::{ChunkId, JobId, NodeId};
use crate::input::{JobFault, JobReport};
use crate::output::JobSpec;
use crate::time::Instant;

/// Simulated time for one job (plus transfer time for copies).
pub const JOB_LATENCY: Duration = Duration::from_millis(2);
/// Simulated copy throughput, bytes per second.
pub const COPY_BYTES_PER_SEC: u64 = 200 << 20;

/// One stored copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    /// Its length.
    pub len: u32,
    /// When it was stored.
    pub at: Instant,
    /// Whether its bytes no longer match its hash.
    pub corrupt: bool,
}

/// One host's chunk store.
#[derive(Clone, Debug, Default)]
pub struct ChunkStore {
    chunks: BTreeMap<ChunkId, Stored>,
}

impl ChunkStore {
    /// Stores a copy (a write or a copy job); an existing good copy stays as it is.
    pub fn store(&mut self, chunk: ChunkId, len: u32, now: Instant) {
        let slot = self.chunks.entry(chunk).or_insert(Stored { len, at: now, corrupt: false });
        if slot.corrupt {
            *slot = Stored { len, at: now, corrupt: false };
        }
    }

    /// The copy of `chunk`, if stored.
    pub fn get(&self, chunk: ChunkId) -> Option<Stored> {
        self.chunks.get(&chunk).copied()
    }

    /// Whether a good copy of `chunk` is stored.
    pub fn has_intact(&self, chunk: ChunkId) -> bool {
        self.chunks.get(&chunk).is_some_and(|s| !s.corrupt)
    }

    /// Flips bits of the stored copy (silent corruption).
    pub fn corrupt(&mut self, chunk: ChunkId) {
        if let Some(stored) = self.chunks.get_mut(&chunk) {
            stored.corrupt = true;
        }
    }

    /// Removes the copy (lost file, or a delete job).
    pub fn remove(&mut self, chunk: ChunkId) -> bool {
        self.chunks.remove(&chunk).is_some()
    }

    /// Every stored chunk id.
    pub fn ids(&self) -> impl Iterator<Item = ChunkId> + '_ {
        self.chunks.keys().copied()
    }

    /// What the driver reports as usage.
    pub fn usage(&self) -> Usage {
        Usage {
            used_bytes: self.chunks.values().map(|s| u64::from(s.len)).sum(),
            chunk_count: self.chunks.len() as u64,
            free_bytes: 1 << 40,
            capacity_bytes: 1 << 41,
        }
    }
}

/// A job started by `owner`, due at an instant.
#[derive(Clone, Debug)]
pub struct PendingJob {
    /// When it completes.
    pub due: Instant,
    /// The node that started it.
    pub owner: NodeId,
    /// Its number on that node.
    pub job: JobId,
    /// What it does.
    pub spec: JobSpec,
}

/// How long `spec` takes given the stores.
pub fn duration(spec: &JobSpec, stores: &BTreeMap<NodeId, ChunkStore>) -> Duration {
    match spec {
        JobSpec::CopyChunk { chunk, from, .. } => {
            let len = stores.get(from).and_then(|s| s.get(*chunk)).map_or(0, |s| s.len);
            JOB_LATENCY + Duration::from_micros(u64::from(len) * 1_000_000 / COPY_BYTES_PER_SEC)
        }
        _ => JOB_LATENCY,
    }
}

/// Carries out a due job against the stores; `up` says which hosts run a node.
pub fn run(
    job: &PendingJob,
    stores: &mut BTreeMap<NodeId, ChunkStore>,
    up: impl Fn(NodeId) -> bool,
    now: Instant,
) -> Result<JobReport, JobFault> {
    let here = job.owner;
    match job.spec {
        JobSpec::CopyChunk { chunk, from, to } => {
            if !up(from) {
                return Err(JobFault::SourceUnavailable);
            }
            let source = stores.get(&from).and_then(|s| s.get(chunk));
            let Some(source) = source else { return Err(JobFault::SourceUnavailable) };
            if source.corrupt {
                return Err(JobFault::Corrupt);
            }
            if !up(to) {
                return Err(JobFault::TargetUnavailable);
            }
            stores.entry(to).or_default().store(chunk, source.len, now);
            Ok(JobReport::ChunkStored { chunk, on: to })
        }
        JobSpec::VerifyChunk { chunk } => {
            let stored = stores.get(&here).and_then(|s| s.get(chunk));
            Ok(JobReport::ChunkVerified {
                chunk,
                intact: stored.is_some_and(|s| !s.corrupt),
                bytes: stored.map_or(0, |s| u64::from(s.len)),
            })
        }
        JobSpec::DeleteChunk { chunk } => {
            stores.entry(here).or_default().remove(chunk);
            Ok(JobReport::ChunkDeleted { chunk })
        }
        // The harness runs store jobs itself (it knows each upload's lengths and targets).
        JobSpec::StoreChunk { .. } => Err(JobFault::TargetUnavailable),
        JobSpec::ScanInventory => {
            let store = stores.entry(here).or_default();
            let chunks = store
                .chunks
                .iter()
                .map(|(id, s)| (*id, now.saturating_duration_since(s.at)))
                .collect();
            Ok(JobReport::Inventory { chunks })
        }
    }
}
