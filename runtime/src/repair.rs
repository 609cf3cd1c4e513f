//! Carrying out the repair jobs core starts (DESIGN §2 "re-replication", "recovery sync",
//! "scrub"): copies between nodes, verifies, deletes and inventory scans, each reported back as
//! `Input::JobDone`. Chunk bytes move here, never through core.

use std::sync::Arc;

use dfs_core::ids::{ChunkId, JobId, NodeId};
use dfs_core::input::{JobFault, JobReport};
use dfs_core::output::JobSpec;
use dfs_core::Input;
use tokio::sync::{mpsc, Semaphore};

use crate::driver::handle::{DriverHandle, DriverInput, Staged};
use crate::metrics::Metrics;
use crate::peers::{Peers, TransferError};
use crate::store::chunks::{ChunkStore, StoreError};

/// Jobs running at once on this node (core bounds copies and scrub itself; deletes after a
/// drain can come in bursts).
pub const JOBS_RUNNING_MAX: usize = 32;

/// Runs jobs for one node.
#[derive(Clone)]
pub struct JobRunner {
    me: NodeId,
    peers: Arc<Peers>,
    chunks: ChunkStore,
    inputs: mpsc::Sender<DriverInput>,
    permits: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl JobRunner {
    /// A runner reporting to the driver behind `inputs`.
    pub fn new(
        peers: Arc<Peers>,
        chunks: ChunkStore,
        inputs: mpsc::Sender<DriverInput>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let me = peers.me();
        let permits = Arc::new(Semaphore::new(JOBS_RUNNING_MAX));
        Self { me, peers, chunks, inputs, permits, metrics }
    }

    /// Starts `spec` in the background; its outcome reaches core as `Input::JobDone`.
    pub fn start(&self, job: JobId, spec: JobSpec) {
        let runner = self.clone();
        tokio::spawn(async move {
            let Ok(_permit) = runner.permits.clone().acquire_owned().await else { return };
            let result = runner.run(&spec).await;
            if let Err(fault) = &result {
                tracing::warn!(node = %runner.me, %job, ?spec, ?fault, "job failed");
            }
            let _ = runner.inputs.send(DriverInput::Core(Input::JobDone { job, result })).await;
        });
    }

    /// Starts a store job of an upload: `bytes` (held for the upload by the driver) go to `to`,
    /// this node's store or a peer's. Not bounded by the job permits: each upload bounds its
    /// own chunks in flight ([`crate::upload::CHUNKS_INFLIGHT_MAX`]).
    pub fn start_store(&self, job: JobId, chunk: ChunkId, to: NodeId, bytes: Option<Arc<Staged>>) {
        let runner = self.clone();
        tokio::spawn(async move {
            let result = match bytes {
                Some(staged) => runner.store(chunk, to, staged.bytes()).await,
                None => Err(JobFault::SourceUnavailable),
            };
            if let Err(fault) = &result {
                let me = runner.me;
                tracing::warn!(node = %me, target = %to, chunk = %chunk, ?fault, "chunk copy failed");
            }
            let _ = runner.inputs.send(DriverInput::Core(Input::JobDone { job, result })).await;
        });
    }

    async fn store(
        &self,
        chunk: ChunkId,
        to: NodeId,
        bytes: bytes::Bytes,
    ) -> Result<JobReport, JobFault> {
        if to == self.me {
            self.chunks.put(chunk, bytes).await.map_err(|e| store_fault(&e))?;
        } else {
            self.peers.put_chunk(to, chunk, bytes).await.map_err(remote_fault)?;
        }
        Ok(JobReport::ChunkStored { chunk, on: to })
    }

    async fn run(&self, spec: &JobSpec) -> Result<JobReport, JobFault> {
        match *spec {
            JobSpec::CopyChunk { .. }
                if crate::planted::active(crate::planted::Bug::NoReReplication) =>
            {
                Err(JobFault::TargetUnavailable)
            }
            JobSpec::CopyChunk { chunk, from, to } if to == self.me => {
                pull(&self.peers, &self.chunks, &self.metrics, chunk, from).await?;
                Ok(JobReport::ChunkStored { chunk, on: to })
            }
            JobSpec::CopyChunk { chunk, from, to } => {
                self.peers.replicate_chunk(to, chunk, from).await.map_err(remote_fault)?;
                Ok(JobReport::ChunkStored { chunk, on: to })
            }
            JobSpec::VerifyChunk { chunk } => match self.chunks.verify_len(chunk).await {
                Ok(len) => Ok(JobReport::ChunkVerified {
                    chunk,
                    intact: len.is_some(),
                    bytes: len.unwrap_or(0),
                }),
                Err(StoreError::NotFound { .. }) => {
                    Ok(JobReport::ChunkVerified { chunk, intact: false, bytes: 0 })
                }
                Err(error) => Err(store_fault(&error)),
            },
            JobSpec::DeleteChunk { chunk } => {
                self.chunks.delete(chunk).await.map_err(|e| store_fault(&e))?;
                Ok(JobReport::ChunkDeleted { chunk })
            }
            // Store jobs carry bytes and start through `start_store`.
            JobSpec::StoreChunk { .. } => Err(JobFault::SourceUnavailable),
            JobSpec::ScanInventory => {
                let chunks =
                    self.chunks.inventory_with_ages().await.map_err(|e| store_fault(&e))?;
                Ok(JobReport::Inventory { chunks })
            }
        }
    }
}

/// Copies `chunk` from node `from` into this node's store, unless a good copy is already here.
pub async fn pull(
    peers: &Peers,
    chunks: &ChunkStore,
    metrics: &Metrics,
    chunk: ChunkId,
    from: NodeId,
) -> Result<(), JobFault> {
    if matches!(chunks.verify(chunk).await, Ok(true)) {
        return Ok(());
    }
    let bytes = peers.get_chunk(from, chunk).await.map_err(|e| source_fault(&e))?;
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    chunks.put(chunk, bytes).await.map_err(|e| store_fault(&e))?;
    metrics.repaired(len);
    Ok(())
}

/// Tells core that this node's copy of `chunk` is bad (read repair); never blocks a reader.
pub fn report_damaged(driver: &DriverHandle, chunk: ChunkId) {
    let _ = driver.clone_inputs().try_send(DriverInput::Core(Input::ChunkDamaged { chunk }));
}

fn store_fault(error: &StoreError) -> JobFault {
    match error {
        e if e.is_disk_full() => JobFault::DiskFull,
        StoreError::Corrupt { .. } | StoreError::HashMismatch { .. } => JobFault::Corrupt,
        _ => JobFault::Io,
    }
}

/// Maps a failed replicate request to the fault the target reported.
fn remote_fault(error: TransferError) -> JobFault {
    match error {
        TransferError::Refused { status: 502, .. } => JobFault::SourceUnavailable,
        TransferError::Refused { status: 422, .. } => JobFault::Corrupt,
        TransferError::Refused { status: 507, .. } => JobFault::DiskFull,
        TransferError::Refused { status: 500, .. } => JobFault::Io,
        _ => JobFault::TargetUnavailable,
    }
}

/// Maps a failed transfer from a source node to a job fault.
pub fn source_fault(error: &TransferError) -> JobFault {
    match error {
        TransferError::Corrupt { .. } => JobFault::Corrupt,
        _ => JobFault::SourceUnavailable,
    }
}
