//! One upload as the runtime sees it (DESIGN §2 "write"): the request handler streams chunks in
//! and relays the answer; every rule (placement, store jobs, the write quorum, the commit) is in
//! core's upload machine ([`dfs_core::write::upload`]). The runtime keeps the bytes: each chunk
//! sent in is held, with one of [`CHUNKS_INFLIGHT_MAX`] permits, until its store jobs are done,
//! so a fast client waits on its body (backpressure) instead of filling memory.

use std::sync::Arc;

use bytes::Bytes;
use dfs_core::command::ChunkRef;
use dfs_core::ids::{ChunkId, Hash, RequestId, UnixMillis};
use dfs_core::write::{UploadStart, UploadStep, Written};
use dfs_core::{CommandError, Input};
use tokio::sync::{oneshot, Semaphore};

use crate::driver::handle::{DriverHandle, DriverInput, Staged, Stopped};

/// Chunks of one upload held in memory at once (being stored).
pub const CHUNKS_INFLIGHT_MAX: usize = 4;

/// How an upload ended without a commit.
#[derive(Debug)]
pub enum UploadError {
    /// Core refused it (quorum unreachable, no storage nodes, version conflict, timeout...).
    Refused(CommandError),
    /// The node is stopping.
    Stopped,
}

impl From<Stopped> for UploadError {
    fn from(_: Stopped) -> Self {
        UploadError::Stopped
    }
}

/// An open upload. Dropped before it is answered (a refused or broken body, or a client that
/// went away while it waited), it is aborted: core forgets it unless its version is already
/// proposed, so an abandoned upload does not commit long after its copies were written.
pub struct Upload {
    driver: DriverHandle,
    id: RequestId,
    room: Arc<Semaphore>,
    answer: oneshot::Receiver<Result<Written, CommandError>>,
    answered: bool,
}

impl Upload {
    /// Opens an upload on this node's core.
    pub async fn open(driver: &DriverHandle, start: UploadStart) -> Result<Self, Stopped> {
        let (reply, answer) = oneshot::channel();
        let id = driver.next_request();
        driver.send(DriverInput::UploadStart { upload: id, start, reply }).await?;
        let room = Arc::new(Semaphore::new(CHUNKS_INFLIGHT_MAX));
        Ok(Self { driver: driver.clone(), id, room, answer, answered: false })
    }

    /// Sends the next chunk in (waiting for room first); core places and stores it. Refused
    /// when core already refused the upload (a chunk short of the quorum: stop reading).
    pub async fn chunk(&mut self, bytes: Bytes) -> Result<ChunkRef, UploadError> {
        self.refused()?;
        let room = self.room.clone().acquire_owned().await.map_err(|_| UploadError::Stopped)?;
        let id = ChunkId(Hash::of(&bytes));
        let len_bytes = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        let chunk = ChunkRef { id, len_bytes };
        let staged = Arc::new(Staged::new(bytes, room));
        self.driver.send(DriverInput::UploadChunk { upload: self.id, chunk, staged }).await?;
        Ok(chunk)
    }

    /// References a chunk the cluster already holds (checked by the caller): not sent anywhere.
    pub async fn reuse(&mut self, chunk: ChunkRef) -> Result<(), UploadError> {
        self.refused()?;
        self.step(UploadStep::Reused(chunk)).await?;
        Ok(())
    }

    /// Ends the body (its hash checked) and waits for core's answer: committed with the
    /// per-node report, or refused.
    pub async fn seal(
        self,
        size_bytes: u64,
        hash: Hash,
        created_at: UnixMillis,
    ) -> Result<Written, UploadError> {
        self.seal_with(size_bytes, hash, created_at, None).await
    }

    /// [`Upload::seal`], recording S3 object metadata with the version (`meta`'s hash must be
    /// `hash`: core keeps metadata only while it describes the version's content).
    pub async fn seal_with(
        mut self,
        size_bytes: u64,
        hash: Hash,
        created_at: UnixMillis,
        meta: Option<dfs_core::s3::ObjectMeta>,
    ) -> Result<Written, UploadError> {
        let meta = meta.map(Box::new);
        self.step(UploadStep::Sealed { size_bytes, hash, created_at, meta }).await?;
        let answer = (&mut self.answer).await;
        self.answered = true;
        match answer {
            Ok(result) => result.map_err(UploadError::Refused),
            Err(_) => Err(UploadError::Stopped),
        }
    }

    /// Ends the body of an S3 part and waits for core's answer: the part recorded in its
    /// multipart upload (a `PutPart` entry), or refused (`NoSuchUpload`, quorum unreachable...).
    pub async fn seal_part(
        mut self,
        part: dfs_core::write::PartSeal,
    ) -> Result<Written, UploadError> {
        self.step(UploadStep::SealedPart(Box::new(part))).await?;
        let answer = (&mut self.answer).await;
        self.answered = true;
        match answer {
            Ok(result) => result.map_err(UploadError::Refused),
            Err(_) => Err(UploadError::Stopped),
        }
    }

    fn refused(&mut self) -> Result<(), UploadError> {
        match self.answer.try_recv() {
            Ok(Err(error)) => {
                self.answered = true;
                Err(UploadError::Refused(error))
            }
            Ok(Ok(_)) | Err(oneshot::error::TryRecvError::Empty) => Ok(()),
            Err(oneshot::error::TryRecvError::Closed) => Err(UploadError::Stopped),
        }
    }

    async fn step(&self, step: UploadStep) -> Result<(), Stopped> {
        self.driver.send(DriverInput::Core(Input::Upload { upload: self.id, step })).await
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.answered {
            let abort =
                DriverInput::Core(Input::Upload { upload: self.id, step: UploadStep::Abort });
            let inputs = self.driver.clone_inputs();
            if let Err(tokio::sync::mpsc::error::TrySendError::Full(abort)) = inputs.try_send(abort)
            {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move {
                        let _ = inputs.send(abort).await;
                    });
                }
            }
        }
    }
}
