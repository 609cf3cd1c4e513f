//! Recovery sync of one node (DESIGN §2 "recovery sync"): after a restart, after coming back up,
//! on joining, or when an operator asks (`dfs recover NODE`), the node scans its chunk store and
//! compares it with the committed index:
//! - a live chunk the index lists here but the store lacks is pulled from an up holder; if no pull
//!   works, this node leaves the index for that chunk, so the leader's queue re-replicates it;
//! - a stored live chunk the index does not list here is dropped when `replication_factor` other
//!   up, active holders exist and the copy is older than `extra_copy_min_age`, and is claimed (added
//!   to the index) when fewer exist;
//! - chunks no live file references are GC's business.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::command::{Command, DeclaredState};
use crate::health::Health;
use crate::ids::{ChunkId, JobId, NodeId, RequestId};
use crate::input::{JobFault, JobReport};
use crate::meta::Namespace;
use crate::time::Instant;

use super::{live_chunks, Bucket, RepairConfig, CHUNK_BYTES_MAX};

/// What one recovery sync found and did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoverySummary {
    /// Chunks in the store when it was scanned.
    pub inventory: u64,
    /// Live chunks the index lists on this node.
    pub expected: u64,
    /// Of those, chunks the store lacked.
    pub missing: u64,
    /// Missing chunks pulled from another node.
    pub pulled: u64,
    /// Bytes pulled.
    pub bytes_pulled: u64,
    /// Missing chunks that could not be pulled (handed to the leader's queue).
    pub pull_failed: u64,
    /// Unlisted copies dropped because enough others exist.
    pub dropped: u64,
    /// Unlisted copies added to the index because too few others exist.
    pub claimed: u64,
}

/// What the resync wants done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResyncAction {
    /// Scan this node's store (an `Output::StartJob` of `JobSpec::ScanInventory`).
    Scan {
        /// The job number.
        job: JobId,
    },
    /// Copy `chunk` from `from` to this node.
    Pull {
        /// The job number.
        job: JobId,
        /// The chunk.
        chunk: ChunkId,
        /// An up node listed as holding it.
        from: NodeId,
    },
    /// Remove `chunk` from this node's store.
    Delete {
        /// The job number.
        job: JobId,
        /// The chunk.
        chunk: ChunkId,
    },
    /// Propose this command through raft.
    Propose(Command),
    /// Answer an operator's request with the summary.
    Reply {
        /// The request.
        request: RequestId,
        /// What the sync did.
        summary: RecoverySummary,
    },
}

#[derive(Clone, Debug)]
struct Missing {
    chunk: ChunkId,
    len: u32,
    sources: Vec<NodeId>,
}

#[derive(Debug)]
enum Phase {
    Idle,
    Scanning(JobId),
    Pulling,
}

/// One node's recovery sync.
#[derive(Debug)]
pub struct Resync {
    me: NodeId,
    config: RepairConfig,
    phase: Phase,
    bucket: Bucket,
    waiters: Vec<RequestId>,
    summary: RecoverySummary,
    queue: VecDeque<Missing>,
    pulls: BTreeMap<JobId, Missing>,
    // Another sync was asked for while one ran: run again after it.
    again: bool,
}

impl Resync {
    /// An idle resync for node `me`.
    pub fn new(me: NodeId, config: RepairConfig, now: Instant) -> Self {
        Self {
            me,
            config,
            phase: Phase::Idle,
            bucket: Bucket::new(config.bytes_per_sec, CHUNK_BYTES_MAX, now),
            waiters: Vec::new(),
            summary: RecoverySummary::default(),
            queue: VecDeque::new(),
            pulls: BTreeMap::new(),
            again: false,
        }
    }

    /// Whether a sync is running.
    pub fn is_running(&self) -> bool {
        !matches!(self.phase, Phase::Idle)
    }

    /// Whether `job` is this resync's.
    pub fn owns(&self, job: JobId) -> bool {
        matches!(self.phase, Phase::Scanning(scan) if scan == job) || self.pulls.contains_key(&job)
    }

    /// Starts a sync (or, if one runs, another right after it); `requests` are answered when
    /// it is done.
    pub fn start(&mut self, requests: Vec<RequestId>, next_job: &mut u64) -> Vec<ResyncAction> {
        self.waiters.extend(requests);
        if self.is_running() {
            self.again = true;
            return Vec::new();
        }
        let job = take_job(next_job);
        self.phase = Phase::Scanning(job);
        self.summary = RecoverySummary::default();
        tracing::info!(node = %self.me, "recovery sync: scanning the chunk store");
        vec![ResyncAction::Scan { job }]
    }

    /// A job of this resync finished.
    pub fn job_done(
        &mut self,
        job: JobId,
        result: Result<JobReport, JobFault>,
        namespace: &Namespace,
        replication_factor: usize,
        now: Instant,
        next_job: &mut u64,
    ) -> Vec<ResyncAction> {
        if matches!(self.phase, Phase::Scanning(scan) if scan == job) {
            return match result {
                Ok(JobReport::Inventory { chunks }) => {
                    let mut actions =
                        self.compare(&chunks, namespace, replication_factor, next_job);
                    actions.extend(self.step(now, next_job));
                    actions
                }
                other => {
                    tracing::warn!(node = %self.me, result = ?other, "recovery sync: scan failed");
                    self.finish(next_job)
                }
            };
        }
        let Some(missing) = self.pulls.remove(&job) else { return Vec::new() };
        let mut actions = Vec::new();
        match result {
            Ok(JobReport::ChunkStored { chunk, on }) if chunk == missing.chunk && on == self.me => {
                self.summary.pulled += 1;
                self.summary.bytes_pulled += u64::from(missing.len);
            }
            other => {
                tracing::warn!(node = %self.me, chunk = %missing.chunk, result = ?other, "recovery sync: pull failed; leaving it to the repair queue");
                self.summary.pull_failed += 1;
                actions.push(ResyncAction::Propose(Command::UpdateReplicas {
                    add: vec![],
                    remove: vec![(missing.chunk, self.me)],
                }));
            }
        }
        actions.extend(self.step(now, next_job));
        actions
    }

    /// Starts pulls while slots and bandwidth allow; finishes when nothing is left.
    pub fn step(&mut self, now: Instant, next_job: &mut u64) -> Vec<ResyncAction> {
        if !matches!(self.phase, Phase::Pulling) {
            return Vec::new();
        }
        let mut actions = Vec::new();
        while self.pulls.len() < self.config.jobs_max {
            let Some(next) = self.queue.front() else { break };
            if !self.bucket.take(u64::from(next.len), now) {
                break;
            }
            let Some(missing) = self.queue.pop_front() else { break };
            let job = take_job(next_job);
            // Spread pulls over the holders.
            let from = missing.sources[job.0 as usize % missing.sources.len()];
            actions.push(ResyncAction::Pull { job, chunk: missing.chunk, from });
            self.pulls.insert(job, missing);
        }
        if self.queue.is_empty() && self.pulls.is_empty() {
            actions.extend(self.finish(next_job));
        }
        actions
    }

    /// When the next pull may start (bandwidth), if pulls wait.
    pub fn next_wake(&self) -> Option<Instant> {
        let next = self.queue.front()?;
        (self.pulls.len() < self.config.jobs_max).then(|| self.bucket.ready_at(u64::from(next.len)))
    }

    fn compare(
        &mut self,
        inventory: &[(ChunkId, Duration)],
        namespace: &Namespace,
        replication_factor: usize,
        next_job: &mut u64,
    ) -> Vec<ResyncAction> {
        let stored: BTreeMap<ChunkId, Duration> = inventory.iter().copied().collect();
        let members = namespace.members();
        let good = |node: &NodeId| {
            members
                .get(node)
                .is_some_and(|m| m.health <= Health::Suspect && m.state == DeclaredState::Active)
        };
        let up = |node: &NodeId| members.get(node).is_some_and(|m| m.health == Health::Up);
        let mut actions = Vec::new();
        let mut claims = Vec::new();
        let no_holders = BTreeSet::new();
        self.summary.inventory = stored.len() as u64;
        for (chunk, len) in live_chunks(namespace) {
            let holders = namespace.replicas(&chunk).unwrap_or(&no_holders);
            let listed = holders.contains(&self.me);
            match (listed, stored.get(&chunk)) {
                (true, Some(_)) => self.summary.expected += 1,
                (true, None) => {
                    self.summary.expected += 1;
                    self.summary.missing += 1;
                    let sources: Vec<NodeId> =
                        holders.iter().filter(|n| **n != self.me && up(n)).copied().collect();
                    if sources.is_empty() {
                        self.summary.pull_failed += 1;
                        actions.push(ResyncAction::Propose(Command::UpdateReplicas {
                            add: vec![],
                            remove: vec![(chunk, self.me)],
                        }));
                    } else {
                        self.queue.push_back(Missing { chunk, len, sources });
                    }
                }
                (false, Some(age)) => {
                    let others = holders.iter().filter(|n| **n != self.me && good(n)).count();
                    if others < replication_factor {
                        self.summary.claimed += 1;
                        claims.push((chunk, self.me));
                    } else if *age >= self.config.extra_copy_min_age {
                        self.summary.dropped += 1;
                        actions.push(ResyncAction::Delete { job: take_job(next_job), chunk });
                    }
                }
                (false, None) => {}
            }
        }
        if !claims.is_empty() {
            actions.push(ResyncAction::Propose(Command::UpdateReplicas {
                add: claims,
                remove: vec![],
            }));
        }
        tracing::info!(node = %self.me, summary = ?self.summary, to_pull = self.queue.len(), "recovery sync: compared inventory with the index");
        self.phase = Phase::Pulling;
        actions
    }

    fn finish(&mut self, next_job: &mut u64) -> Vec<ResyncAction> {
        self.phase = Phase::Idle;
        self.queue.clear();
        self.pulls.clear();
        let summary = self.summary;
        tracing::info!(node = %self.me, ?summary, "recovery sync finished");
        let mut actions: Vec<ResyncAction> = self
            .waiters
            .drain(..)
            .map(|request| ResyncAction::Reply { request, summary })
            .collect();
        if std::mem::take(&mut self.again) {
            actions.extend(self.start(Vec::new(), next_job));
        }
        actions
    }
}

fn take_job(next_job: &mut u64) -> JobId {
    let job = JobId(*next_job);
    *next_job += 1;
    job
}
