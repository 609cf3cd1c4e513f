//! The raft wrapper (DESIGN §1 core `consensus`): tikv's `RawNode` driven by time passed in, with
//! its election timeout re-drawn from the node's seeded RNG, and its `Ready` turned into plain
//! data ([`ReadyBatch`]) that the node maps onto Outputs. We do not write our own raft.
//!
//! Rules:
//! - Ticks are derived from `now`: one per `tick_interval`, at most [`TICKS_CATCH_UP_MAX`] per
//!   call; a driver that fell further behind skips the missed ticks rather than spinning.
//! - raft-rs draws election timeouts from `thread_rng` whenever it resets its term state. After
//!   every call that can do so, if the (term, role, leader) triple or the timeout itself changed,
//!   the timeout is replaced with one drawn from the node's RNG, so a run replays from its seed.
//! - Async persistence: a Ready's entries go to the in-memory [`LogStore`] at once, the batch is
//!   handed out for the driver to persist, and `on_persisted` tells raft it is durable.

mod log;

use std::time::Duration;

use raft::eraftpb::{ConfChangeV2, ConfState, Entry, Message as RaftMsg, Snapshot};
use raft::{RawNode, StateRole};
use rand::Rng;
use slog::Drain;

use crate::config::Config;
use crate::error::ConfigError;
use crate::ids::{LogIndex, NodeId, ReadyNumber, Term};
use crate::output::{RaftWrite, Role};
use crate::rng::NodeRng;
use crate::time::Instant;

pub(crate) use log::LogStore;

/// Most ticks replayed in one call when the driver was late.
pub const TICKS_CATCH_UP_MAX: u32 = 64;

/// One raft `Ready`, as data.
#[derive(Debug)]
pub(crate) struct ReadyBatch {
    /// The batch number to report back once `write` is durable.
    pub(crate) number: ReadyNumber,
    /// Messages that may go out at once (the leader's appends).
    pub(crate) send_now: Vec<RaftMsg>,
    /// Messages that may go out only once `write` is durable (votes, append responses).
    pub(crate) send_after_persist: Vec<RaftMsg>,
    /// What must be made durable.
    pub(crate) write: RaftWrite,
    /// Entries now committed (and persisted locally), in order, to apply.
    pub(crate) committed: Vec<Entry>,
    /// Answers to `read_index` calls: (context, read index).
    pub(crate) read_states: Vec<(Vec<u8>, LogIndex)>,
}

/// The consensus half of a node.
pub(crate) struct Consensus {
    raw: RawNode<LogStore>,
    tick_interval: Duration,
    next_tick: Instant,
    election_ticks: (usize, usize),
    // The (term, role, leader) and election timeout as of our last override.
    shape: (u64, StateRole, u64),
    timeout_set: usize,
}

impl Consensus {
    /// Starts raft over `store`, whose snapshot (if any) is already applied to the namespace.
    pub(crate) fn new(
        config: &Config,
        store: LogStore,
        rng: &mut NodeRng,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        let raft_config = raft::Config {
            id: config.id.0,
            election_tick: config.election_ticks_min,
            min_election_tick: config.election_ticks_min,
            max_election_tick: config.election_ticks_max,
            heartbeat_tick: config.heartbeat_ticks,
            applied: store.snapshot_index(),
            max_size_per_msg: config.append_bytes_max,
            max_inflight_msgs: config.append_inflight_max,
            check_quorum: true,
            pre_vote: true,
            // Not LeaseBased: a lease trusts that a paused or slow leader notices it lost the
            // lead before serving, which a stopped process or a stalled clock breaks
            // (docs/consistency.md "Why no leader lease").
            read_only_option: raft::ReadOnlyOption::Safe,
            ..Default::default()
        };
        raft_config.validate().map_err(|_| ConfigError::OutOfRange {
            field: "election_ticks_min",
            requirement: "accepted by raft (election > heartbeat ticks)",
        })?;
        let logger =
            slog::Logger::root(slog_stdlog::StdLog.fuse(), slog::o!("node" => config.id.0));
        let raw = RawNode::new(&raft_config, store, &logger)
            .map_err(|_| ConfigError::Recovered("raft refused the recovered log"))?;
        let mut consensus = Self {
            raw,
            tick_interval: config.tick_interval,
            next_tick: now.saturating_add(config.tick_interval),
            election_ticks: (config.election_ticks_min, config.election_ticks_max),
            shape: (u64::MAX, StateRole::Follower, 0),
            timeout_set: 0,
        };
        consensus.rerandomize(rng);
        Ok(consensus)
    }

    /// Replays the ticks due by `now` (bounded), re-drawing the election timeout as needed.
    pub(crate) fn tick(&mut self, now: Instant, rng: &mut NodeRng) {
        let mut ticks = 0;
        while self.next_tick <= now && ticks < TICKS_CATCH_UP_MAX {
            self.raw.tick();
            self.rerandomize(rng);
            self.next_tick = self.next_tick.saturating_add(self.tick_interval);
            ticks += 1;
        }
        if self.next_tick <= now {
            // Far behind (a paused process): skip the missed ticks instead of spinning.
            self.next_tick = now.saturating_add(self.tick_interval);
        }
    }

    /// When the next tick is due.
    pub(crate) fn next_tick(&self) -> Instant {
        self.next_tick
    }

    /// Feeds a peer's message to raft. Messages raft cannot use are dropped with a debug log.
    pub(crate) fn step(&mut self, message: RaftMsg, rng: &mut NodeRng) {
        let kind = message.get_msg_type();
        if raft::raw_node::is_local_msg(kind) {
            tracing::debug!(?kind, "dropped local-only raft message from a peer");
            return;
        }
        if let Err(error) = self.raw.step(message) {
            tracing::debug!(%error, "raft refused a peer message");
        }
        self.rerandomize(rng);
    }

    /// Proposes a normal entry.
    pub(crate) fn propose(&mut self, data: Vec<u8>) -> Result<(), raft::Error> {
        self.raw.propose(Vec::new(), data)
    }

    /// Asks raft for a read index under `context` (Safe mode: the leader confirms its lead with a
    /// quorum first; a follower forwards to the leader; with no leader raft drops the ask). The
    /// answer comes back in a later batch's `read_states`.
    pub(crate) fn read_index(&mut self, context: Vec<u8>) {
        self.raw.read_index(context);
    }

    /// Proposes a membership change; `context` travels with it to every replica.
    pub(crate) fn propose_conf_change(
        &mut self,
        context: Vec<u8>,
        change: ConfChangeV2,
    ) -> Result<(), raft::Error> {
        self.raw.propose_conf_change(context, change)
    }

    /// Applies a committed membership change; returns the new membership.
    pub(crate) fn apply_conf_change(
        &mut self,
        change: &ConfChangeV2,
    ) -> Result<ConfState, raft::Error> {
        let conf_state = self.raw.apply_conf_change(change)?;
        self.raw.mut_store().set_conf_state(conf_state.clone());
        Ok(conf_state)
    }

    /// If this node leads, asks the most caught-up other voter to take over; returns it.
    /// raft-rs leaves a leader that removed itself in charge, so removal goes through this.
    pub(crate) fn hand_off_leadership(&mut self) -> Option<NodeId> {
        if self.raw.raft.state != StateRole::Leader {
            return None;
        }
        let me = self.raw.raft.id;
        let voters = &self.raw.store().conf_state().voters;
        let target = self
            .raw
            .raft
            .prs()
            .iter()
            .filter(|(id, _)| **id != me && voters.contains(id))
            .max_by_key(|(id, progress)| (progress.matched, std::cmp::Reverse(**id)))
            .map(|(id, _)| *id)?;
        self.raw.transfer_leader(target);
        Some(NodeId(target))
    }

    /// Whether this node is a voter in the membership it has applied.
    pub(crate) fn is_voter(&self) -> bool {
        self.raw.store().conf_state().voters.contains(&self.raw.raft.id)
    }

    /// Whether this node has applied a membership that lists it neither as a voter nor as a
    /// learner (a node that has not joined yet knows no membership: not removed).
    pub(crate) fn is_removed(&self) -> bool {
        let conf = self.raw.store().conf_state();
        let me = self.raw.raft.id;
        let known = !conf.voters.is_empty() || !conf.learners.is_empty();
        known && !conf.voters.contains(&me) && !conf.learners.contains(&me)
    }

    /// Whether a membership change is proposed but not yet applied.
    pub(crate) fn has_pending_conf_change(&self) -> bool {
        self.raw.raft.has_pending_conf()
    }

    /// The next `Ready`, if raft has one, with its entries already in the in-memory log.
    pub(crate) fn take_ready(&mut self) -> Option<ReadyBatch> {
        if !self.raw.has_ready() {
            return None;
        }
        let mut ready = self.raw.ready();
        let number = ReadyNumber(ready.number());
        let snapshot = (!ready.snapshot().is_empty()).then(|| ready.snapshot().clone());
        let store = self.raw.mut_store();
        if let Some(snapshot) = &snapshot {
            store.install_snapshot(snapshot.clone());
        }
        let entries = ready.take_entries();
        assert!(store.append(&entries), "raft handed out entries that leave a gap in the log");
        let hard_state = ready.hs().cloned();
        if let Some(hard_state) = &hard_state {
            store.set_hard_state(hard_state.clone());
        }
        let batch = ReadyBatch {
            number,
            send_now: ready.take_messages(),
            send_after_persist: ready.take_persisted_messages(),
            write: RaftWrite { snapshot, entries, hard_state, compacted: None },
            committed: ready.take_committed_entries(),
            read_states: ready
                .take_read_states()
                .into_iter()
                .map(|state| (state.request_ctx, LogIndex(state.index)))
                .collect(),
        };
        self.raw.advance_append_async(ready);
        Some(batch)
    }

    /// Marks every batch up to `number` durable.
    pub(crate) fn on_persisted(&mut self, number: ReadyNumber) {
        self.raw.on_persist_ready(number.0);
    }

    /// Tells raft every committed entry handed out so far has been applied.
    pub(crate) fn advance_apply(&mut self) {
        self.raw.advance_apply();
    }

    /// Folds the log up to `index` into a snapshot holding `data`; returns that snapshot.
    pub(crate) fn compact(&mut self, index: LogIndex, data: Vec<u8>) -> Option<Snapshot> {
        let term = raft::Storage::term(self.raw.store(), index.0).ok()?;
        let mut snapshot = Snapshot::default();
        snapshot.set_data(data.into());
        let meta = snapshot.mut_metadata();
        meta.index = index.0;
        meta.term = term;
        meta.set_conf_state(self.raw.store().conf_state().clone());
        self.raw.mut_store().compact(snapshot.clone());
        Some(snapshot)
    }

    /// Whether raft wanted a snapshot for a peer the stored one leaves out (a node that joined
    /// with an empty log); clears the request.
    pub(crate) fn take_fresh_snapshot_wanted(&self) -> bool {
        self.raw.store().take_fresh_snapshot_wanted()
    }

    /// Index of the oldest entry still held (snapshot index + 1).
    pub(crate) fn first_index(&self) -> LogIndex {
        LogIndex(self.raw.store().snapshot_index() + 1)
    }

    /// The node's current raft role.
    pub(crate) fn role(&self) -> Role {
        Role::from_raft(self.raw.raft.state)
    }

    /// The current term.
    pub(crate) fn term(&self) -> Term {
        Term(self.raw.raft.term)
    }

    /// The leader as this node knows it.
    pub(crate) fn leader(&self) -> Option<NodeId> {
        let id = self.raw.raft.leader_id;
        (id != raft::INVALID_ID).then_some(NodeId(id))
    }

    /// The highest committed index known here.
    pub(crate) fn commit(&self) -> LogIndex {
        LogIndex(self.raw.raft.raft_log.committed)
    }

    /// The last index in the log.
    pub(crate) fn last_index(&self) -> LogIndex {
        LogIndex(self.raw.raft.raft_log.last_index())
    }

    /// The durable-state view: term, vote, commit, membership, snapshot.
    pub(crate) fn store(&self) -> &LogStore {
        self.raw.store()
    }

    /// The current election timeout in ticks (for tests of the seeded override).
    pub(crate) fn election_timeout_ticks(&self) -> usize {
        self.raw.raft.randomized_election_timeout()
    }

    fn rerandomize(&mut self, rng: &mut NodeRng) {
        let raft = &mut self.raw.raft;
        let shape = (raft.term, raft.state, raft.leader_id);
        if shape != self.shape || raft.randomized_election_timeout() != self.timeout_set {
            let (min, max) = self.election_ticks;
            let timeout = rng.gen_range(min..max);
            raft.set_randomized_election_timeout(timeout);
            self.shape = shape;
            self.timeout_set = timeout;
        }
    }
}

#[cfg(feature = "testing")]
impl Consensus {
    /// Term and blake3 of the whole entry at `index`, if still in the log (for invariant checks).
    pub(crate) fn entry_digest(&self, index: LogIndex) -> Option<(Term, crate::ids::Hash)> {
        let context = raft::GetEntriesContext::empty(false);
        let entries =
            raft::Storage::entries(self.raw.store(), index.0, index.0 + 1, None, context).ok()?;
        let entry = entries.first()?;
        let bytes = protobuf::Message::write_to_bytes(entry).ok()?;
        Some((Term(entry.term), crate::ids::Hash::of(&bytes)))
    }
}
