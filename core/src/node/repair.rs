//! Wiring the repair rules (DESIGN §2 "replication queue" to "rebalance") into the node: the
//! leader's planner, this node's recovery sync and scrub, read repair, and the jobs they start.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::command::{Command, DeclaredState};
use crate::health::Health;
use crate::ids::{ChunkId, JobId, NodeId, RequestId};
use crate::input::{JobFault, JobReport};
use crate::output::{JobSpec, Output, Role};
use crate::proposals::Proposal;
use crate::repair::{PassContext, PlannerAction, QueueView, ResyncAction};

use super::Node;

/// How often a damaged copy still listed on this node is proposed for removal again.
const DAMAGE_RETRY: Duration = Duration::from_secs(2);
/// How long a copy that left the index waits before its file is deleted: a new copy of the same
/// chunk that lands meanwhile (a repair right after a scrub removal) is listed again by then, and
/// the delete is skipped.
const DELETE_DELAY: Duration = Duration::from_secs(5);

/// What removing a member would leave below the replication factor
/// ([`Node::removal_shortfall`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemovalShortfall {
    /// Live chunks it holds that would have too few copies on the other active members.
    pub chunks: usize,
    /// Of those, chunks with no copy on another active member.
    pub sole: usize,
}

impl Node {
    /// Runs whatever repair work is due: the leader's pass, resync pulls, scrub, damage reports.
    pub(super) fn tick_repair(&mut self) {
        if let (Some(planner), Some(detector)) = (self.planner.as_mut(), self.detector.as_mut()) {
            let ctx = PassContext {
                namespace: &self.namespace,
                replication_factor: self.config.replication_factor,
                health: &self.config.health,
            };
            let actions = planner.maybe_pass(self.now, &ctx, detector, &mut self.next_job);
            self.planner_actions(actions);
        }
        if self.resync_due && self.caught_up() {
            self.resync_due = false;
            let requests = std::mem::take(&mut self.recover_requests);
            let actions = self.resync.start(requests, &mut self.next_job);
            self.resync_actions(actions);
        }
        let actions = self.resync.step(self.now, &mut self.next_job);
        self.resync_actions(actions);
        if self.caught_up() {
            if let Some((job, chunk)) =
                self.scrub.step(self.now, &self.namespace, &mut self.next_job)
            {
                self.start_job(job, JobSpec::VerifyChunk { chunk });
            }
        }
        self.retry_damaged();
        self.delete_unlisted();
    }

    /// Deletes files of copies that left the index at least `DELETE_DELAY` ago and are still not
    /// listed here.
    fn delete_unlisted(&mut self) {
        let me = self.config.id;
        while let Some((&(at, chunk), ())) = self.deletes.first_key_value() {
            if self.now.saturating_duration_since(at) < DELETE_DELAY {
                break;
            }
            self.deletes.remove(&(at, chunk));
            let listed = self.namespace.replicas(&chunk).is_some_and(|n| n.contains(&me));
            // A copy an upload here is storing again is not the copy that left.
            if !listed && !self.uploads.references(chunk) {
                let job = self.take_job();
                self.start_job(job, JobSpec::DeleteChunk { chunk });
            }
        }
    }

    /// Earliest instant repair work may be due.
    pub(super) fn repair_timeout(&self) -> Option<crate::time::Instant> {
        let planner = self.planner.as_ref().map(|p| p.next_pass());
        let scrub = self.scrub.next_wake().filter(|_| self.caught_up());
        let delete = self.deletes.keys().next().map(|(at, _)| at.saturating_add(DELETE_DELAY));
        [planner, self.resync.next_wake(), scrub, delete, Some(self.next_heartbeat)]
            .into_iter()
            .flatten()
            .min()
    }

    pub(super) fn on_job_done(&mut self, job: JobId, result: Result<JobReport, JobFault>) {
        if let Some(planner) = self.planner.as_mut().filter(|p| p.owns(job)) {
            let actions = planner.job_done(job, &result, self.now);
            return self.planner_actions(actions);
        }
        if self.resync.owns(job) {
            let rf = self.config.replication_factor;
            let actions = self.resync.job_done(
                job,
                result,
                &self.namespace,
                rf,
                self.now,
                &mut self.next_job,
            );
            return self.resync_actions(actions);
        }
        if self.uploads.owns(job) {
            let stored = matches!(result, Ok(JobReport::ChunkStored { .. }));
            return self.upload_job_done(job, stored);
        }
        if self.gc_owns(job) {
            return self.gc_job_done(job, result);
        }
        if self.scrub.owns(job) {
            if let Some(chunk) = self.scrub.job_done(job, &result, self.now) {
                self.on_damaged(chunk);
            }
            return;
        }
        tracing::debug!(node = %self.config.id, %job, ?result, "job finished with no owner");
    }

    /// An operator asked for a recovery sync of this node: it runs once this node has caught
    /// up with the committed index.
    pub(super) fn on_recover(&mut self, request: RequestId) {
        self.recover_requests.push(request);
        self.resync_due = true;
    }

    /// This node's copy of `chunk` is bad (scrub or a read found it): drop it from the index and
    /// the store, so the leader copies a good one here or elsewhere.
    pub(super) fn on_damaged(&mut self, chunk: ChunkId) {
        let listed =
            self.namespace.replicas(&chunk).is_some_and(|nodes| nodes.contains(&self.config.id));
        if !listed || self.damaged.contains_key(&chunk) {
            return;
        }
        tracing::warn!(node = %self.config.id, %chunk, "copy is damaged: dropping it so it is re-replicated");
        self.damaged.insert(chunk, self.now);
        self.propose_remove_mine(chunk);
    }

    fn retry_damaged(&mut self) {
        let me = self.config.id;
        let namespace = &self.namespace;
        self.damaged.retain(|chunk, _| namespace.replicas(chunk).is_some_and(|n| n.contains(&me)));
        let due: Vec<ChunkId> = self
            .damaged
            .iter()
            .filter(|(_, at)| self.now.saturating_duration_since(**at) >= DAMAGE_RETRY)
            .map(|(chunk, _)| *chunk)
            .collect();
        for chunk in due {
            self.damaged.insert(chunk, self.now);
            self.propose_remove_mine(chunk);
        }
    }

    fn propose_remove_mine(&mut self, chunk: ChunkId) {
        self.propose_internal(Command::UpdateReplicas {
            add: vec![],
            remove: vec![(chunk, self.config.id)],
        });
    }

    /// After a command applied: copies the index no longer lists here are deleted (after
    /// `DELETE_DELAY`), and a node seen back up re-syncs.
    pub(super) fn after_apply(&mut self, command: &Command) {
        let me = self.config.id;
        match command {
            Command::UpdateReplicas { remove, .. } => {
                let gone: BTreeSet<ChunkId> = remove
                    .iter()
                    .filter(|(chunk, node)| {
                        *node == me
                            && !self.namespace.replicas(chunk).is_some_and(|n| n.contains(&me))
                    })
                    .map(|(chunk, _)| *chunk)
                    .collect();
                for chunk in gone {
                    self.deletes.insert((self.now, chunk), ());
                }
            }
            Command::SetHealth { node, health: Health::Up } if *node == me => {
                // Back from suspect, down or lost: whatever happened meanwhile, look.
                self.resync_due = true;
                self.wake_planner();
            }
            Command::SetHealth { .. } | Command::SetNodeState { .. } | Command::AddNode { .. } => {
                self.wake_planner();
            }
            _ => {}
        }
    }

    /// A change that alters what the queue holds: plan again now, not at the next pass.
    fn wake_planner(&mut self) {
        if let Some(planner) = self.planner.as_mut() {
            planner.wake(self.now);
        }
    }

    /// Proposes a command the node itself decided on; nobody waits for its reply (every rule
    /// that proposes re-derives its state, so a lost proposal is proposed again).
    pub(super) fn propose_internal(&mut self, command: Command) {
        let proposal = Proposal {
            origin: self.config.id,
            incarnation: self.incarnation,
            request: RequestId(0),
            command,
        };
        if let Err(error) = self.consensus.propose(proposal.encode()) {
            tracing::debug!(node = %self.config.id, ?error, "internal proposal not accepted");
        }
    }

    /// The replication queue, if this node leads (only the leader runs copies).
    pub fn replication_queue(&self) -> Option<&QueueView> {
        self.planner.as_ref().map(|planner| planner.view())
    }

    /// How far this node's scrub has got.
    pub fn scrub_progress(&self) -> crate::repair::ScrubProgress {
        self.scrub.progress()
    }

    /// What removing `node` would leave short: the live chunks it holds that would have fewer
    /// than `replication_factor` copies on the other active members, and how many of those have
    /// no such copy at all (0 and 0: removal loses nothing).
    pub fn removal_shortfall(&self, node: NodeId) -> RemovalShortfall {
        let members = self.namespace.members();
        let counts = |n: &NodeId| {
            *n != node && members.get(n).is_some_and(|m| m.state == DeclaredState::Active)
        };
        let live = crate::repair::live_chunks(&self.namespace);
        let mut shortfall = RemovalShortfall::default();
        let held = live
            .keys()
            .filter_map(|chunk| self.namespace.replicas(chunk))
            .filter(|holders| holders.contains(&node));
        for holders in held {
            let elsewhere = holders.iter().filter(|n| counts(n)).count();
            if elsewhere < self.config.replication_factor {
                shortfall.chunks += 1;
                shortfall.sole += usize::from(elsewhere == 0);
            }
        }
        shortfall
    }

    /// Whether this node was removed from the cluster: it has applied a membership that does not
    /// list it (a node that has not joined yet knows no membership at all).
    pub fn is_removed(&self) -> bool {
        self.consensus.is_removed()
    }

    /// Why this node cannot serve clients yet, for readiness probes; `None` when it can.
    pub fn not_ready(&self) -> Option<String> {
        let applied = self.namespace.applied_index();
        if let Some(index) = self.halted {
            return Some(format!(
                "halted: the committed log entry at index {index} does not decode, so this node \
                 stopped applying there (its state would diverge from its peers'); it needs repair"
            ));
        }
        if self.is_removed() {
            return Some(format!(
                "{} was removed from the cluster; use another node",
                self.config.id
            ));
        }
        if self.consensus.leader().is_none() {
            return Some(
                "no leader is known: an election is under way or a majority is unreachable".into(),
            );
        }
        if !self.caught_up() {
            let behind =
                self.view_commit.map_or(String::new(), |c| format!(" (applied {applied} of {c})"));
            return Some(format!("catching up with the leader's log{behind}"));
        }
        None
    }

    /// Whether this node has applied everything committed before the leader last answered it
    /// (a restarted follower's own commit index may lag the leader's).
    pub(super) fn caught_up(&self) -> bool {
        let applied = self.namespace.applied_index();
        match self.consensus.role() {
            Role::Leader => applied >= self.consensus.commit(),
            _ => {
                self.consensus.leader().is_some() && self.view_commit.is_some_and(|c| applied >= c)
            }
        }
    }

    pub(super) fn take_job(&mut self) -> JobId {
        let job = JobId(self.next_job);
        self.next_job += 1;
        job
    }

    pub(super) fn start_job(&mut self, job: JobId, spec: JobSpec) {
        self.outputs.push_back(Output::StartJob { job, spec });
    }

    fn planner_actions(&mut self, actions: Vec<PlannerAction>) {
        for action in actions {
            match action {
                PlannerAction::Copy { job, chunk, from, to } => {
                    self.start_job(job, JobSpec::CopyChunk { chunk, from, to });
                }
                PlannerAction::Propose(command) => self.propose_internal(command),
            }
        }
    }

    fn resync_actions(&mut self, actions: Vec<ResyncAction>) {
        let me = self.config.id;
        for action in actions {
            match action {
                ResyncAction::Scan { job } => self.start_job(job, JobSpec::ScanInventory),
                ResyncAction::Pull { job, chunk, from } => {
                    self.start_job(job, JobSpec::CopyChunk { chunk, from, to: me });
                }
                ResyncAction::Delete { job, chunk } => {
                    self.start_job(job, JobSpec::DeleteChunk { chunk })
                }
                ResyncAction::Propose(command) => self.propose_internal(command),
                ResyncAction::Reply { request, summary } => {
                    self.outputs.push_back(Output::Recovered { request, summary });
                }
            }
        }
    }

    /// Whether this node leads (for status).
    pub fn is_leader(&self) -> bool {
        self.consensus.role() == Role::Leader
    }
}
