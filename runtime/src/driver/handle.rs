//! How other tasks talk to the driver ([`super`]): the bounded input channel and what travels on
//! it, the handle every task clones, and the bytes an upload hands over with a chunk. The driver
//! loop, the transport, the job runner and the upload path all depend on this and not on one
//! another.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use dfs_core::command::{ChunkRef, Command, Reply};
use dfs_core::ids::{LogIndex, RequestId};
use dfs_core::repair::RecoverySummary;
use dfs_core::write::{UploadStart, Written};
use dfs_core::{CommandError, Input, Node};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};

use crate::feed::Feed;

/// Inputs waiting for the driver before senders wait.
pub const INPUT_QUEUE_MAX: usize = 8192;

/// A query run on the driver task against the node.
pub type Query = Box<dyn FnOnce(&Node) + Send>;

/// Something for the driver to do.
pub enum DriverInput {
    /// An input for the core node.
    Core(Input),
    /// A client command; the outcome goes back on `reply`.
    Client {
        /// What the client asks.
        command: Command,
        /// Where the outcome goes.
        reply: oneshot::Sender<Result<Reply, CommandError>>,
    },
    /// A linearizable read: answered once the node may serve it from its replica (`reads`).
    Read {
        /// Where the read index (or why the read cannot be served) goes.
        reply: oneshot::Sender<Result<LogIndex, CommandError>>,
    },
    /// A read-only look at the node.
    Query(Query),
    /// A recovery sync of this node; the summary goes back on `reply`.
    Recover {
        /// Where the summary goes.
        reply: oneshot::Sender<RecoverySummary>,
    },
    /// Opens an upload numbered by [`DriverHandle::next_request`]; core's answer goes back on
    /// `reply`.
    UploadStart {
        /// The upload.
        upload: RequestId,
        /// Where and how it writes.
        start: UploadStart,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<Written, CommandError>>,
    },
    /// The next chunk of an upload, with its bytes for the store jobs core starts for it.
    UploadChunk {
        /// The upload.
        upload: RequestId,
        /// The chunk.
        chunk: ChunkRef,
        /// Its bytes.
        staged: Arc<Staged>,
    },
}

/// The node has stopped (shut down or failed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the node is shutting down")]
pub struct Stopped;

/// How other tasks talk to the driver; cheap to clone.
#[derive(Clone)]
pub struct DriverHandle {
    pub(super) inputs: mpsc::Sender<DriverInput>,
    pub(super) feed: Arc<Feed>,
    // Client requests and uploads share one numbering (core matches replies by it).
    next_request: Arc<AtomicU64>,
}

impl DriverHandle {
    /// Proposes `command` and waits for its outcome.
    pub async fn submit(&self, command: Command) -> Result<Result<Reply, CommandError>, Stopped> {
        let (reply, outcome) = oneshot::channel();
        self.inputs.send(DriverInput::Client { command, reply }).await.map_err(|_| Stopped)?;
        outcome.await.map_err(|_| Stopped)
    }

    /// Waits until this node's replica reflects every write acknowledged before the call, on any
    /// node (a raft ReadIndex round, shared with every read waiting here); returns the read index.
    /// A query made after it returns sees at least that state.
    pub async fn read(&self) -> Result<Result<LogIndex, CommandError>, Stopped> {
        let (reply, outcome) = oneshot::channel();
        self.inputs.send(DriverInput::Read { reply }).await.map_err(|_| Stopped)?;
        outcome.await.map_err(|_| Stopped)
    }

    /// Runs `look` against the node on the driver task and returns its result.
    pub async fn query<T: Send + 'static>(
        &self,
        look: impl FnOnce(&Node) -> T + Send + 'static,
    ) -> Result<T, Stopped> {
        let (tx, rx) = oneshot::channel();
        let query: Query = Box::new(move |node| {
            let _ = tx.send(look(node));
        });
        self.inputs.send(DriverInput::Query(query)).await.map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    /// Runs a recovery sync of this node and waits for its summary.
    pub async fn recover(&self) -> Result<RecoverySummary, Stopped> {
        let (reply, outcome) = oneshot::channel();
        self.inputs.send(DriverInput::Recover { reply }).await.map_err(|_| Stopped)?;
        outcome.await.map_err(|_| Stopped)
    }

    /// A fresh request number (for an upload).
    pub fn next_request(&self) -> RequestId {
        RequestId(self.next_request.fetch_add(1, Ordering::Relaxed))
    }

    /// Sends `input` to the driver, waiting for room.
    pub async fn send(&self, input: DriverInput) -> Result<(), Stopped> {
        self.inputs.send(input).await.map_err(|_| Stopped)
    }

    /// A sender for raw inputs (the transport's inbound messages).
    pub fn clone_inputs(&self) -> mpsc::Sender<DriverInput> {
        self.inputs.clone()
    }

    /// The node's change feed.
    pub fn feed(&self) -> &Arc<Feed> {
        &self.feed
    }
}

/// The channels a driver is built from, made before the tasks that use them.
pub struct DriverChannels {
    /// Its handle.
    pub handle: DriverHandle,
    /// The receiving end of its inputs.
    pub inputs: mpsc::Receiver<DriverInput>,
}

impl DriverChannels {
    /// New channels for a node that recovered its state up to `applied`.
    pub fn new(applied: LogIndex) -> Self {
        let (tx, inputs) = mpsc::channel(INPUT_QUEUE_MAX);
        let feed = Arc::new(Feed::new(applied));
        let next_request = Arc::new(AtomicU64::new(1));
        Self { handle: DriverHandle { inputs: tx, feed, next_request }, inputs }
    }
}

/// The bytes of one chunk an upload sent in, shared by its store jobs; the upload gets its room
/// back when the last job lets go.
#[derive(Debug)]
pub struct Staged {
    bytes: Bytes,
    _room: OwnedSemaphorePermit,
}

impl Staged {
    /// Holds `bytes` with one of the upload's permits, given back when this is dropped.
    pub fn new(bytes: Bytes, room: OwnedSemaphorePermit) -> Self {
        Self { bytes, _room: room }
    }

    /// The chunk's bytes.
    pub fn bytes(&self) -> Bytes {
        self.bytes.clone()
    }
}
