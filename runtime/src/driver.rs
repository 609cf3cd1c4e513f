//! The driver (STYLE "Drivers"): the only place a core `Node` meets tokio. One task owns the node,
//! feeds it inputs from a bounded channel and carries out its outputs: sends go to the
//! transport, raft writes to the persister (which makes them durable in order and reports
//! `Persisted`), replies to the waiting client, events to subscribers.

use std::collections::BTreeMap;
use std::sync::Arc;

use dfs_core::command::{ChunkRef, Reply};
use dfs_core::ids::LogIndex;
use dfs_core::ids::{NodeId, ReadyNumber, RequestId};
use dfs_core::output::JobSpec;
use dfs_core::repair::RecoverySummary;
use dfs_core::write::{UploadStep, Written};
use dfs_core::{CommandError, Event, Input, Node, Output, RaftWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub mod handle;

pub use handle::{
    DriverChannels, DriverHandle, DriverInput, Query, Staged, Stopped, INPUT_QUEUE_MAX,
};

use crate::clock::Clock;
use crate::repair::JobRunner;
use crate::store::raft_log::RaftStore;
use crate::transport::Transport;

/// Raft writes waiting for the disk before the driver waits.
pub const PERSIST_QUEUE_MAX: usize = 1024;

/// An open upload's waiter, with what the planted `SkipRaftCommit` bug needs to answer early.
struct UploadWaiter {
    reply: oneshot::Sender<Result<Written, CommandError>>,
    path: dfs_core::Path,
}

/// Owns the node until shutdown; returns `Err` if the disk failed (the node must not go on).
pub async fn run(
    mut node: Node,
    clock: Clock,
    channels: DriverChannels,
    transport: Transport,
    jobs: JobRunner,
    store: Arc<RaftStore>,
    shutdown: CancellationToken,
) -> Result<(), crate::store::raft_log::RaftStoreError> {
    let DriverChannels { handle, mut inputs } = channels;
    let (persist_tx, persist_rx) = mpsc::channel(PERSIST_QUEUE_MAX);
    let id = node.config().id;
    let persister = tokio::spawn(persist_loop(id, store, persist_rx, handle.inputs.clone()));
    let mut pending: BTreeMap<RequestId, oneshot::Sender<Result<Reply, CommandError>>> =
        BTreeMap::new();
    let mut recovering: BTreeMap<RequestId, oneshot::Sender<RecoverySummary>> = BTreeMap::new();
    let mut uploads: BTreeMap<RequestId, UploadWaiter> = BTreeMap::new();
    // The chunk handed to core in the last input: its store jobs come out in this drain.
    let mut staged: Option<(RequestId, ChunkRef, Arc<Staged>)> = None;
    let mut reading: BTreeMap<RequestId, oneshot::Sender<Result<LogIndex, CommandError>>> =
        BTreeMap::new();
    let mut next_request = 1u64;
    let mut persister = std::pin::pin!(persister);
    let mut timer_served = false;
    loop {
        while let Some(output) = node.poll_output() {
            match output {
                Output::Send { to, message } => transport.send(to, message),
                Output::Persist { ready, write } => {
                    if persist_tx.send((ready, write)).await.is_err() {
                        break;
                    }
                }
                Output::Reply { request, result } => {
                    if let Some(waiter) = pending.remove(&request) {
                        let _ = waiter.send(result);
                    }
                }
                Output::StartJob { job, spec: JobSpec::StoreChunk { upload, chunk, to } } => {
                    let bytes = staged
                        .as_ref()
                        .filter(|(u, c, _)| *u == upload && c.id == chunk)
                        .map(|(_, _, bytes)| bytes.clone());
                    jobs.start_store(job, chunk, to, bytes);
                }
                Output::Readable { request, result } => {
                    if let Some(waiter) = reading.remove(&request) {
                        let _ = waiter.send(result);
                    }
                }
                Output::StartJob { job, spec } => {
                    handle.feed.record_job(&spec, crate::wall::now_millis().0);
                    jobs.start(job, spec);
                }
                Output::Uploaded { upload, result } => {
                    if let Some(waiter) = uploads.remove(&upload) {
                        let _ = waiter.reply.send(result);
                    }
                }
                Output::Event(Event::WriteQuorumMet { upload }) => {
                    crate::failpoint::hit(crate::failpoint::CrashPoint::WriteAfterQuorum);
                    if crate::planted::active(crate::planted::Bug::SkipRaftCommit) {
                        if let Some(waiter) = uploads.remove(&upload) {
                            let _ = waiter.reply.send(Ok(uncommitted(&node, waiter.path)));
                        }
                    }
                }
                Output::Recovered { request, summary } => {
                    if let Some(waiter) = recovering.remove(&request) {
                        let _ = waiter.send(summary);
                    }
                }
                Output::Event(event) => handle.feed.record(&event, crate::wall::now_millis().0),
            }
        }
        staged = None;
        // A due timer is served before waiting (once: its outputs go out on the next turn), so a
        // steady stream of inputs cannot starve the core's ticks; inputs come before the timer in
        // the select below, so a timer cannot starve them.
        if !timer_served && node.poll_timeout().is_some_and(|at| at <= clock.now()) {
            node.handle(clock.now(), Input::Timeout);
            timer_served = true;
            continue;
        }
        timer_served = false;
        let wake = node.poll_timeout().map(|at| clock.to_tokio(at));
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            failed = &mut persister => {
                shutdown.cancel();
                return match failed {
                    Ok(result) => result,
                    Err(_) => Ok(()),
                };
            }
            input = inputs.recv() => match input {
                Some(DriverInput::Core(input)) => {
                    if let Input::Upload { upload, step: UploadStep::Abort } = &input {
                        // An aborted upload is never answered: nobody waits any more.
                        uploads.remove(upload);
                    }
                    node.handle(clock.now(), input);
                }
                Some(DriverInput::Client { command, reply }) => {
                    let request = handle.next_request();
                    pending.insert(request, reply);
                    node.handle(clock.now(), Input::Client { request, command });
                }
                Some(DriverInput::Read { reply }) => {
                    let request = RequestId(next_request);
                    next_request += 1;
                    reading.insert(request, reply);
                    node.handle(clock.now(), Input::Read { request });
                }
                Some(DriverInput::Query(look)) => look(&node),
                Some(DriverInput::UploadStart { upload, start, reply }) => {
                    uploads.insert(upload, UploadWaiter { reply, path: start.path.clone() });
                    node.handle(clock.now(), Input::Upload { upload, step: UploadStep::Start(start) });
                }
                Some(DriverInput::UploadChunk { upload, chunk, staged: bytes }) => {
                    staged = Some((upload, chunk, bytes));
                    node.handle(clock.now(), Input::Upload { upload, step: UploadStep::Chunk(chunk) });
                }
                Some(DriverInput::Recover { reply }) => {
                    let request = handle.next_request();
                    recovering.insert(request, reply);
                    node.handle(clock.now(), Input::Recover { request });
                }
                None => return Ok(()),
            },
            () = sleep_until(wake) => node.handle(clock.now(), Input::Timeout),
        }
    }
}

/// The planted [`SkipRaftCommit`](crate::planted::Bug::SkipRaftCommit) bug: an upload whose
/// quorum is met is acknowledged at once with the version it would probably get; its proposal
/// goes on in the background.
fn uncommitted(node: &Node, path: dfs_core::Path) -> Written {
    let latest = node.status().namespace.latest(&path).map_or(0, |r| r.version.0);
    let change = dfs_core::Change::FileWritten {
        path,
        version: dfs_core::Version(latest + 1),
        size_bytes: 0,
        hash: dfs_core::Hash([0; 32]),
        created: latest == 0,
    };
    Written { index: LogIndex(0), change, replicas: BTreeMap::new() }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Makes raft writes durable in order, then reports the newest one as `Persisted`.
async fn persist_loop(
    id: NodeId,
    store: Arc<RaftStore>,
    mut writes: mpsc::Receiver<(ReadyNumber, RaftWrite)>,
    inputs: mpsc::Sender<DriverInput>,
) -> Result<(), crate::store::raft_log::RaftStoreError> {
    while let Some(first) = writes.recv().await {
        let mut batch = vec![first];
        while batch.len() < 256 {
            match writes.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let last = batch.last().map(|(ready, _)| *ready).unwrap_or(ReadyNumber(0));
        let (store, blocking) = (store.clone(), store.blocking());
        let writes: Vec<RaftWrite> = batch.into_iter().map(|(_, write)| write).collect();
        let result = blocking
            .run(move || {
                let result = store.persist_batch(&writes);
                (result, writes)
            })
            .await;
        match result {
            Ok((Ok(()), writes)) => crate::tap::persisted(id, &writes),
            Ok((Err(error), _)) => {
                tracing::error!(%error, "raft log write failed; stopping the node");
                return Err(error);
            }
            Err(_) => return Ok(()),
        }
        if inputs.send(DriverInput::Core(Input::Persisted { ready: last })).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}
