//! The node (STYLE "Core API"): `handle(now, Input)`, then drain `poll_output`, then sleep until
//! `poll_timeout`. It owns the RNG, the consensus wrapper and the namespace, and dispatches; the
//! rules live in the modules it calls. Same config, seed and timed inputs give the same outputs.

mod apply;
mod client;
mod gc;
mod health;
mod read;
mod recover;
mod repair;
mod upload;

use std::collections::{BTreeMap, VecDeque};

use raft::eraftpb::Message as RaftMsg;
use rand::Rng;

use crate::config::Config;
use crate::consensus::Consensus;
use crate::error::ConfigError;
use crate::health::{ClusterView, Detector, Usage};
use crate::ids::{ChunkId, LogIndex, NodeId, ReadyNumber, RequestId, Term};
use crate::input::Input;
use crate::meta::Namespace;
use crate::output::{Event, Output, Role};
use crate::proposals::Pending;
use crate::reads::Reads;
use crate::repair::{Planner, Resync, Scrub};
use crate::rng::{node_rng, NodeRng};
use crate::time::Instant;
use crate::wire::{Message, RaftMessage};
use crate::write::upload::{Rules, Uploads};

pub use recover::Recovered;
pub use repair::RemovalShortfall;

/// Most raft `Ready` batches processed in one `handle`; the rest wait for the next tick.
pub const READY_ROUNDS_MAX: usize = 32;

/// One dfs cluster member, as a pure state machine.
pub struct Node {
    config: Config,
    rng: NodeRng,
    incarnation: u64,
    consensus: Consensus,
    namespace: Namespace,
    pending: Pending,
    // Linearizable reads waiting for a read index or for it to apply (node/read.rs).
    reads: Reads,
    // The index of a committed entry this node could not apply: it applies nothing from there
    // on and answers every command and read `Halted` (node/apply.rs).
    halted: Option<LogIndex>,
    outputs: VecDeque<Output>,
    // Messages raft may send only once their batch is durable, oldest batch first.
    held: VecDeque<(ReadyNumber, Vec<RaftMsg>)>,
    // A snapshot of our own state not yet handed to the driver to store.
    compacted: Option<raft::eraftpb::Snapshot>,
    // A leader's snapshot installed but not yet durable: raft may not count it applied before.
    snapshot_unpersisted: Option<ReadyNumber>,
    role_seen: (Term, Role, Option<NodeId>),
    now: Instant,
    // Heartbeats and failure detection (node/health.rs).
    pub(crate) usage: Usage,
    view: ClusterView,
    // The leader's commit index from its last view (none since this start).
    view_commit: Option<LogIndex>,
    next_heartbeat: Instant,
    // The leader the last heartbeat went to.
    heartbeat_to: Option<NodeId>,
    detector: Option<Detector>,
    // Repair (node/repair.rs): the leader's planner, this node's resync and scrub.
    planner: Option<Planner>,
    resync: Resync,
    resync_due: bool,
    recover_requests: Vec<RequestId>,
    scrub: Scrub,
    damaged: BTreeMap<ChunkId, Instant>,
    // Copies that left the index, by when: their files are deleted a little later.
    deletes: BTreeMap<(Instant, ChunkId), ()>,
    // Uploads received here (node/upload.rs).
    uploads: Uploads,
    // The collector (node/gc.rs): its inventory scan in flight, with the pass's clock and grace.
    gc_scan: Option<(crate::ids::JobId, crate::ids::UnixMillis, std::time::Duration)>,
    next_job: u64,
}

/// A read-only view of a node for the CLI, checkers and tests.
#[derive(Debug)]
pub struct Status<'a> {
    /// This node.
    pub id: NodeId,
    /// Its raft role.
    pub role: Role,
    /// Its current term.
    pub term: Term,
    /// The leader as known here.
    pub leader: Option<NodeId>,
    /// The highest committed index known here.
    pub commit: LogIndex,
    /// The last index applied to the namespace.
    pub applied: LogIndex,
    /// The oldest index still in the log (older ones are in the snapshot).
    pub first_index: LogIndex,
    /// The last index in the log.
    pub last_index: LogIndex,
    /// Voting members.
    pub voters: Vec<NodeId>,
    /// Non-voting members.
    pub learners: Vec<NodeId>,
    /// Client commands waiting for commit.
    pub pending_requests: usize,
    /// Linearizable reads waiting for their read index.
    pub pending_reads: usize,
    /// The committed entry this node could not decode, if it stopped applying there.
    pub halted: Option<LogIndex>,
    /// The namespace as applied here.
    pub namespace: &'a Namespace,
}

impl Node {
    /// Starts a node from what its driver recovered from disk (empty on first start). A node in
    /// `config.initial_voters` with nothing recovered bootstraps the cluster: its first output
    /// persists the bootstrap snapshot (with `ready` 0). A restarted node has applied every entry
    /// its recovered log says is committed by the time it is returned.
    pub fn new(
        config: Config,
        recovered: Recovered,
        seed: u64,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut rng = node_rng(seed, config.id);
        let incarnation = rng.gen();
        let restored = recover::restore(&config, recovered)?;
        let consensus = Consensus::new(&config, restored.store, &mut rng, now)?;
        let resync = Resync::new(config.id, config.repair, now);
        let scrub = Scrub::new(config.id, &config.repair, now);
        let uploads = Uploads::new(Rules {
            replication_factor: config.replication_factor,
            quorum: config.write_quorum,
            copy_timeout: config.write_copy_timeout,
            propose_timeout: config.proposal_timeout,
            uploads_max: config.proposals_pending_max,
        });
        let mut node = Self {
            config,
            rng,
            incarnation,
            consensus,
            namespace: restored.namespace,
            pending: Pending::default(),
            reads: Reads::default(),
            halted: None,
            outputs: VecDeque::new(),
            held: VecDeque::new(),
            compacted: None,
            snapshot_unpersisted: None,
            role_seen: (Term(u64::MAX), Role::Follower, None),
            now,
            usage: Usage::default(),
            view: ClusterView::default(),
            view_commit: None,
            next_heartbeat: now,
            heartbeat_to: None,
            detector: None,
            planner: None,
            resync,
            resync_due: true,
            recover_requests: Vec::new(),
            scrub,
            damaged: BTreeMap::new(),
            deletes: BTreeMap::new(),
            uploads,
            gc_scan: None,
            next_job: 1,
        };
        if let Some(write) = restored.bootstrap {
            node.outputs.push_back(Output::Persist { ready: ReadyNumber(0), write });
        }
        node.note_role();
        // Re-apply the committed part of the recovered log now, not at the first input: a driver
        // may answer reads from `status()` before then, and a restarted node must not serve less
        // than it had applied before it stopped (DESIGN §2 "failover": no failed read).
        node.drain_ready();
        Ok(node)
    }

    /// Applies one input. Never blocks, never does I/O, never reads a clock.
    pub fn handle(&mut self, now: Instant, input: Input) {
        assert!(now >= self.now, "time went backwards: {now} after {}", self.now);
        self.now = now;
        if let Some(index) = self.halted {
            return self.refuse_halted(index, input);
        }
        match input {
            Input::Timeout => {}
            Input::Peer { from, message } => self.on_peer(from, message),
            Input::Client { request, command } => self.on_client(request, command),
            Input::Read { request } => self.on_read(request),
            Input::Persisted { ready } => self.on_persisted(ready),
            Input::JobDone { job, result } => self.on_job_done(job, result),
            Input::Usage(usage) => self.usage = usage,
            Input::Recover { request } => self.on_recover(request),
            Input::ChunkDamaged { chunk } => self.on_damaged(chunk),
            Input::Upload { upload, step } => self.on_upload(upload, step),
            Input::CollectGarbage { now, grace } => self.on_collect(now, grace),
        }
        self.consensus.tick(now, &mut self.rng);
        self.expire_requests();
        self.expire_reads();
        self.drain_ready();
        self.note_role();
        self.tick_health();
        self.tick_repair();
        self.tick_uploads();
        // Proposals made by the rules above go out now, not a tick later.
        self.drain_ready();
    }

    /// Next effect in emission order; drain until `None` after every `handle`.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Latest instant at which the driver must deliver `Input::Timeout`.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let tick = self.consensus.next_tick();
        let repair = self.repair_timeout().unwrap_or(tick);
        if self.halted.is_some() {
            return None;
        }
        let uploads = self.uploads.next_deadline().unwrap_or(tick);
        let reads = self.reads.next_deadline().unwrap_or(tick);
        let pending = self.pending.next_deadline().map_or(tick, |deadline| deadline.min(tick));
        Some(pending.min(repair).min(uploads).min(reads))
    }

    /// A read-only view of this node.
    pub fn status(&self) -> Status<'_> {
        let conf = self.consensus.store().conf_state();
        let sorted = |ids: &[u64]| {
            let mut ids: Vec<NodeId> = ids.iter().map(|&id| NodeId(id)).collect();
            ids.sort_unstable();
            ids
        };
        Status {
            id: self.config.id,
            role: self.consensus.role(),
            term: self.consensus.term(),
            leader: self.consensus.leader(),
            commit: self.consensus.commit(),
            applied: self.namespace.applied_index(),
            first_index: self.consensus.first_index(),
            last_index: self.consensus.last_index(),
            voters: sorted(&conf.voters),
            learners: sorted(&conf.learners),
            pending_requests: self.pending.len(),
            pending_reads: self.reads.len(),
            halted: self.halted,
            namespace: &self.namespace,
        }
    }

    /// The chunks of `wanted` that `caller` may reuse in an upload without sending them, at this
    /// node's write quorum ([`Namespace::reusable_chunks`](crate::meta::Namespace::reusable_chunks)),
    /// each with the nodes the index lists copies on.
    pub fn reusable_chunks(
        &self,
        caller: &crate::auth::Caller,
        wanted: std::collections::BTreeSet<crate::ids::ChunkId>,
    ) -> std::collections::BTreeMap<crate::ids::ChunkId, Vec<NodeId>> {
        let needed = self.config.write_quorum.copies_needed(self.config.replication_factor);
        let namespace = &self.namespace;
        let reusable = namespace.reusable_chunks(caller, wanted, needed).into_iter();
        reusable
            .map(|id| {
                let nodes = namespace.replicas(&id).map(|s| s.iter().copied().collect());
                (id, nodes.unwrap_or_default())
            })
            .collect()
    }

    /// The node's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current raft election timeout in ticks, as drawn from the node's seeded RNG.
    pub fn election_timeout_ticks(&self) -> usize {
        self.consensus.election_timeout_ticks()
    }

    /// Proposes raw entry bytes, bypassing the command encoding (tests of undecodable entries).
    #[cfg(feature = "testing")]
    pub fn propose_raw(&mut self, data: Vec<u8>) {
        let _ = self.consensus.propose(data);
        self.drain_ready();
    }

    /// Term and hash of the log entry at `index`, if still held (for invariant checkers).
    #[cfg(feature = "testing")]
    pub fn entry_digest(&self, index: LogIndex) -> Option<(Term, crate::ids::Hash)> {
        self.consensus.entry_digest(index)
    }

    fn on_peer(&mut self, from: NodeId, message: Message) {
        let raft_message = match message {
            Message::Raft(RaftMessage(raft_message)) => raft_message,
            Message::Heartbeat(usage) => return self.on_heartbeat(from, usage),
            Message::View(view) => return self.on_view(from, view),
        };
        if raft_message.from != from.0 || raft_message.to != self.config.id.0 {
            tracing::debug!(node = %self.config.id, peer = %from, "dropped raft message with wrong addressing");
            return;
        }
        if raft_message.get_msg_type() == raft::eraftpb::MessageType::MsgSnapshot
            && Namespace::restore(raft_message.get_snapshot().get_data()).is_err()
        {
            tracing::debug!(node = %self.config.id, peer = %from, "dropped snapshot that does not decode");
            return;
        }
        self.consensus.step(raft_message, &mut self.rng);
    }

    fn on_persisted(&mut self, ready: ReadyNumber) {
        self.consensus.on_persisted(ready);
        if self.snapshot_unpersisted.is_some_and(|number| number <= ready) {
            self.snapshot_unpersisted = None;
            self.consensus.advance_apply();
        }
        while self.held.front().is_some_and(|(number, _)| *number <= ready) {
            if let Some((_, messages)) = self.held.pop_front() {
                self.send_all(messages);
            }
        }
    }

    fn drain_ready(&mut self) {
        for _ in 0..READY_ROUNDS_MAX {
            if self.halted.is_some() {
                // Applying stopped (node/apply.rs): raft is not driven any further.
                return;
            }
            self.start_read_round();
            let Some(batch) = self.consensus.take_ready() else { return };
            self.send_all(batch.send_now);
            if let Some(snapshot) = &batch.write.snapshot {
                self.restore_snapshot(snapshot);
                self.snapshot_unpersisted = Some(batch.number);
            }
            let mut write = batch.write;
            write.compacted = self.compacted.take();
            if write.is_empty() && self.held.is_empty() {
                // Nothing to store, and every earlier batch is durable: what raft holds for
                // persistence may go now (a follower's forwarded read index, say) instead of
                // waiting one trip through the persister for an empty write.
                self.send_all(batch.send_after_persist);
            } else if !write.is_empty() || !batch.send_after_persist.is_empty() {
                self.outputs.push_back(Output::Persist { ready: batch.number, write });
                self.held.push_back((batch.number, batch.send_after_persist));
            }
            self.on_read_states(batch.read_states);
            self.apply_committed(batch.committed);
            if self.halted.is_some() {
                return;
            }
            // INVARIANT: raft counts nothing applied beyond what is persisted locally; committed
            // entries already are, an installed snapshot is once its batch is durable.
            if self.snapshot_unpersisted.is_none() {
                self.consensus.advance_apply();
                self.maybe_compact();
            }
            self.release_reads();
        }
    }

    fn send_all(&mut self, messages: Vec<RaftMsg>) {
        for message in messages {
            let to = NodeId(message.to);
            self.outputs
                .push_back(Output::Send { to, message: Message::Raft(RaftMessage(message)) });
        }
    }

    fn note_role(&mut self) {
        let now = (self.consensus.term(), self.consensus.role(), self.consensus.leader());
        if now != self.role_seen {
            let (term, role, leader) = now;
            let known = leader.map_or_else(|| "none".to_owned(), |l| l.to_string());
            tracing::info!(node = %self.config.id, %term, role = role.as_str(), leader = %known, "role changed");
            self.role_seen = now;
            self.reask_reads();
            self.outputs.push_back(Output::Event(Event::RoleChanged { term, role, leader }));
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod read_tests;

#[cfg(test)]
mod multipart_tests;
