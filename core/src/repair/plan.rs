//! The leader's repair planner: one pass derives the replication queue from committed state and
//! starts what it can; job reports turn into `UpdateReplicas` proposals. Rules:
//! - A live chunk with fewer than `replication_factor` counted copies (see [`super::assess`]),
//!   counting copies being made, gets one copy per missing replica: from an up holder (least used
//!   first) to an up, active non-holder chosen by placement (least used first).
//! - A copy starts only while fewer than `jobs_max` run and the bandwidth bucket holds its bytes.
//! - A failed copy is retried after `backoff(attempts)`.
//! - Once a chunk has enough counted copies, copies on draining nodes, non-members and nodes down
//!   past `reassign_after` leave the index (the node drops its file when it applies that). When all
//!   counted holders are up and there are more than needed, the fullest ones' copies leave too.
//! - With no repair work, one chunk at a time moves from the fullest up node to the emptiest
//!   while they differ by more than `rebalance_tolerance_pct` of the mean. Usage here is what the
//!   committed index lists on each node (live chunks), not reported disk usage, which lags behind
//!   moves and includes garbage.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;
use std::time::Duration;

use crate::command::{Command, DeclaredState};
use crate::health::{Detector, Health, HealthConfig};
use crate::ids::{ChunkId, JobId, NodeId, Term};
use crate::input::{JobFault, JobReport};
use crate::meta::Namespace;
use crate::placement::{self, Candidate};
use crate::time::Instant;

use super::{
    assess, backoff, live_chunks, Blocked, Bucket, DoneEntry, QueueEntry, QueueView, RepairConfig,
    TaskKind, TaskState, CHUNK_BYTES_MAX,
};

/// Shortest gap between two passes (a finished copy asks for a pass at once).
const PASS_GAP: Duration = Duration::from_millis(20);
/// How long a finished copy or a proposed removal waits to be seen committed before it is
/// planned again.
const COMMIT_WAIT: Duration = Duration::from_secs(10);
/// How long a failed copy counts in the queue's `failed_recent`.
pub const FAILURES_RECENT: Duration = Duration::from_secs(600);
/// Most failure times remembered for `failed_recent`.
const FAILURES_KEPT: usize = 10_000;
/// A copy with no report after this long is counted failed.
const JOB_TIMEOUT: Duration = Duration::from_secs(600);
/// Rebalance moves in flight at once.
const REBALANCE_JOBS_MAX: usize = 2;
/// Chunks a rebalance step looks at before giving up until the next pass.
const REBALANCE_SCAN_MAX: usize = 10_000;

/// What the planner wants done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlannerAction {
    /// Copy `chunk` from `from` to `to` (an `Output::StartJob` with this job number).
    Copy {
        /// The job number.
        job: JobId,
        /// The chunk.
        chunk: ChunkId,
        /// A node holding a good copy.
        from: NodeId,
        /// The node that should hold one.
        to: NodeId,
    },
    /// Propose this command through raft.
    Propose(Command),
}

#[derive(Clone, Debug)]
struct Copy {
    chunk: ChunkId,
    len: u32,
    kind: TaskKind,
    from: NodeId,
    to: NodeId,
    started: Instant,
}

#[derive(Clone, Debug)]
struct Retry {
    attempts: u32,
    last_error: String,
    not_before: Instant,
}

/// The leader's repair state. Built fresh when a node becomes leader.
#[derive(Debug)]
pub struct Planner {
    // The leader it plans for, and its term (a planner lives for one leadership): for logs.
    me: NodeId,
    term: Term,
    config: RepairConfig,
    bucket: Bucket,
    in_flight: BTreeMap<JobId, Copy>,
    retries: BTreeMap<ChunkId, Retry>,
    // Copies made (or removals proposed) and not yet seen in the committed index.
    awaiting: BTreeMap<(ChunkId, NodeId), Instant>,
    removing: BTreeMap<(ChunkId, NodeId), Instant>,
    done: VecDeque<DoneEntry>,
    done_total: u64,
    // When each chunk now queued was first seen needing a copy.
    queued_since: BTreeMap<ChunkId, Instant>,
    failed_total: u64,
    // When each recent failure happened, oldest first, at most FAILURES_KEPT and none older than
    // FAILURES_RECENT (so a node that was down and is back stops showing failures).
    failed_at: VecDeque<Instant>,
    view: QueueView,
    next_pass: Instant,
    last_pass: Option<Instant>,
    rebalance_cursor: Option<ChunkId>,
}

/// What a pass reads.
pub struct PassContext<'a> {
    /// The committed namespace.
    pub namespace: &'a Namespace,
    /// Copies wanted of every chunk.
    pub replication_factor: usize,
    /// Failure-detector timing.
    pub health: &'a HealthConfig,
}

impl Planner {
    /// A planner for a leader that took over at `now`.
    pub fn new(config: RepairConfig, now: Instant, me: NodeId, term: Term) -> Self {
        Self {
            me,
            term,
            config,
            bucket: Bucket::new(config.bytes_per_sec, CHUNK_BYTES_MAX, now),
            in_flight: BTreeMap::new(),
            retries: BTreeMap::new(),
            awaiting: BTreeMap::new(),
            removing: BTreeMap::new(),
            done: VecDeque::new(),
            done_total: 0,
            queued_since: BTreeMap::new(),
            failed_total: 0,
            failed_at: VecDeque::new(),
            view: QueueView { from_leader: true, ..QueueView::default() },
            next_pass: now,
            last_pass: None,
            rebalance_cursor: None,
        }
    }

    /// When the next pass is due.
    pub fn next_pass(&self) -> Instant {
        self.next_pass
    }

    /// Asks for a pass soon (at most one per `PASS_GAP`): something the queue depends on changed.
    pub fn wake(&mut self, now: Instant) {
        let soon = self.last_pass.map_or(now, |last| last.saturating_add(PASS_GAP)).max(now);
        self.next_pass = self.next_pass.min(soon);
    }

    /// The queue as of the last pass.
    pub fn view(&self) -> &QueueView {
        &self.view
    }

    /// Whether `job` is one of this planner's copies.
    pub fn owns(&self, job: JobId) -> bool {
        self.in_flight.contains_key(&job)
    }

    /// Runs a pass if one is due.
    pub fn maybe_pass(
        &mut self,
        now: Instant,
        ctx: &PassContext<'_>,
        detector: &mut Detector,
        next_job: &mut u64,
    ) -> Vec<PlannerAction> {
        if now < self.next_pass {
            return Vec::new();
        }
        self.last_pass = Some(now);
        self.next_pass = now.saturating_add(self.config.interval);
        self.pass(now, ctx, detector, next_job)
    }

    /// A copy finished: record it (through raft) or schedule its retry.
    pub fn job_done(
        &mut self,
        job: JobId,
        result: &Result<JobReport, JobFault>,
        now: Instant,
    ) -> Vec<PlannerAction> {
        let Some(copy) = self.in_flight.remove(&job) else { return Vec::new() };
        // A slot is free: plan again soon.
        self.wake(now);
        match result {
            Ok(JobReport::ChunkStored { chunk, on }) if *chunk == copy.chunk && *on == copy.to => {
                let attempts = self.retries.remove(&copy.chunk).map_or(0, |r| r.attempts) + 1;
                self.awaiting.insert((copy.chunk, copy.to), now);
                let mut remove = Vec::new();
                if copy.kind == TaskKind::Rebalance {
                    remove.push((copy.chunk, copy.from));
                    self.removing.insert((copy.chunk, copy.from), now);
                }
                self.done_total += 1;
                self.done.push_back(DoneEntry {
                    chunk: copy.chunk,
                    len_bytes: copy.len,
                    kind: copy.kind,
                    source: copy.from,
                    target: copy.to,
                    attempts,
                });
                while self.done.len() > QueueView::DONE_MAX {
                    self.done.pop_front();
                }
                tracing::info!(node = %self.me, term = %self.term, chunk = %copy.chunk, from = %copy.from, to = %copy.to, kind = ?copy.kind, "repair finished");
                vec![PlannerAction::Propose(Command::UpdateReplicas {
                    add: vec![(copy.chunk, copy.to)],
                    remove,
                })]
            }
            other => {
                let why = match other {
                    Err(fault) => describe(*fault, &copy),
                    Ok(report) => format!("unexpected report {report:?}"),
                };
                self.fail(&copy, why, now);
                Vec::new()
            }
        }
    }

    fn fail(&mut self, copy: &Copy, why: String, now: Instant) {
        self.failed_total += 1;
        if self.failed_at.len() == FAILURES_KEPT {
            self.failed_at.pop_front();
        }
        self.failed_at.push_back(now);
        let retry = self.retries.entry(copy.chunk).or_insert(Retry {
            attempts: 0,
            last_error: String::new(),
            not_before: now,
        });
        retry.attempts += 1;
        retry.not_before = now.saturating_add(backoff(&self.config, retry.attempts));
        tracing::warn!(node = %self.me, term = %self.term, chunk = %copy.chunk, from = %copy.from, to = %copy.to, attempts = retry.attempts, error = %why, "repair failed");
        retry.last_error = why;
    }

    /// Failures within [`FAILURES_RECENT`] of `now` (older ones are forgotten).
    fn recent_failures(&mut self, now: Instant) -> u64 {
        while self.failed_at.front().is_some_and(|&at| at.saturating_add(FAILURES_RECENT) <= now) {
            self.failed_at.pop_front();
        }
        self.failed_at.len() as u64
    }

    fn pass(
        &mut self,
        now: Instant,
        ctx: &PassContext<'_>,
        detector: &mut Detector,
        next_job: &mut u64,
    ) -> Vec<PlannerAction> {
        let namespace = ctx.namespace;
        let rf = ctx.replication_factor;
        self.expire(now, namespace);
        let live = live_chunks(namespace);
        let members = namespace.members();
        let eligible: Vec<NodeId> = members
            .iter()
            .filter(|(_, m)| m.health == Health::Up && m.state == DeclaredState::Active)
            .map(|(node, _)| *node)
            .collect();
        let mut copying: BTreeMap<ChunkId, Vec<JobId>> = BTreeMap::new();
        for (job, copy) in &self.in_flight {
            copying.entry(copy.chunk).or_default().push(*job);
        }
        let mut actions = Vec::new();
        let mut entries = Vec::new();
        let mut bytes_pending = 0u64;
        let mut removes = Vec::new();
        let no_holders = BTreeSet::new();
        for (&chunk, &len) in &live {
            let holders = namespace.replicas(&chunk).unwrap_or(&no_holders);
            let a = assess(holders, members);
            let jobs = copying.get(&chunk).map(Vec::as_slice).unwrap_or_default();
            for job in jobs {
                if let Some(copy) = self.in_flight.get(job) {
                    entries.push(entry_for(copy, TaskState::InProgress, self.retries.get(&chunk)));
                    bytes_pending += u64::from(copy.len);
                }
            }
            let arriving: BTreeSet<NodeId> = self
                .awaiting
                .range((chunk, NodeId(0))..=(chunk, NodeId(u64::MAX)))
                .map(|((_, node), _)| *node)
                .filter(|node| !holders.contains(node))
                .chain(jobs.iter().filter_map(|job| {
                    self.in_flight.get(job).filter(|c| c.kind != TaskKind::Rebalance).map(|c| c.to)
                }))
                .collect();
            let have = a.counted.len() + arriving.len();
            if have < rf {
                let kind = if a.leaving.is_empty() { TaskKind::Repair } else { TaskKind::Drain };
                let candidates: Vec<Candidate> = eligible
                    .iter()
                    .filter(|node| !holders.contains(node) && !arriving.contains(node))
                    .map(|&node| Candidate { node, used_bytes: used(detector, node) })
                    .collect();
                let targets = placement::targets(chunk, &candidates, rf - have);
                // The least-used holder (in coarse buckets), ties spread by rendezvous hash so
                // copies of many chunks do not all read from one node.
                let holders: Vec<Candidate> = a
                    .sources
                    .iter()
                    .map(|&node| Candidate { node, used_bytes: used(detector, node) })
                    .collect();
                let source = placement::targets(chunk, &holders, 1).first().copied();
                for slot in 0..rf - have {
                    let target = targets.get(slot).copied();
                    let mut entry = QueueEntry {
                        chunk,
                        len_bytes: len,
                        kind,
                        source,
                        target,
                        state: TaskState::Pending,
                        attempts: 0,
                        last_error: None,
                        blocked: None,
                        waiting_ms: 0,
                    };
                    let retry = self.retries.get(&chunk);
                    if let Some(retry) = retry {
                        entry.attempts = retry.attempts;
                        entry.last_error = Some(retry.last_error.clone());
                    }
                    bytes_pending += u64::from(len);
                    match (source, target) {
                        (None, _) => entry.blocked = Some(Blocked::SourceDown),
                        (_, None) => entry.blocked = Some(Blocked::NoTarget),
                        (Some(_), Some(_)) if retry.is_some_and(|r| r.not_before > now) => {
                            entry.state = TaskState::Failed;
                            entry.blocked = Some(Blocked::RetryingAfterError);
                        }
                        (Some(from), Some(to)) => {
                            entry.blocked = Some(Blocked::Throttled);
                            if self.in_flight.len() < self.config.jobs_max
                                && self.bucket.take(u64::from(len), now)
                            {
                                entry.blocked = None;
                                let job = JobId(*next_job);
                                *next_job += 1;
                                let copy = Copy { chunk, len, kind, from, to, started: now };
                                tracing::info!(node = %self.me, term = %self.term, %chunk, %from, %to, ?kind, "repair started");
                                entry.state = TaskState::InProgress;
                                detector.charge(to, u64::from(len));
                                self.in_flight.insert(job, copy);
                                actions.push(PlannerAction::Copy { job, chunk, from, to });
                            }
                        }
                    }
                    entries.push(entry);
                }
            } else if jobs.is_empty() {
                self.drop_unneeded(chunk, &a, rf, detector, now, &mut removes);
            }
        }
        if entries.is_empty() {
            self.rebalance(now, ctx, &live, next_job, &mut actions);
            for copy in self.in_flight.values().filter(|c| c.kind == TaskKind::Rebalance) {
                entries.push(entry_for(copy, TaskState::InProgress, None));
                bytes_pending += u64::from(copy.len);
            }
        }
        if !removes.is_empty() {
            tracing::info!(node = %self.me, term = %self.term, copies = removes.len(), "dropping copies no longer needed");
            actions.push(PlannerAction::Propose(Command::UpdateReplicas {
                add: vec![],
                remove: removes,
            }));
        }
        let since = std::mem::take(&mut self.queued_since);
        for entry in &mut entries {
            let first = *self
                .queued_since
                .entry(entry.chunk)
                .or_insert_with(|| since.get(&entry.chunk).copied().unwrap_or(now));
            entry.waiting_ms = millis(now.saturating_duration_since(first));
        }
        let oldest_waiting_ms = entries.iter().map(|e| e.waiting_ms).max().unwrap_or(0);
        let total = entries.len();
        entries.truncate(QueueView::ENTRIES_MAX);
        self.view = QueueView {
            from_leader: true,
            entries,
            total,
            bytes_pending,
            done: self.done.iter().cloned().collect(),
            done_total: self.done_total,
            failed_total: self.failed_total,
            failed_recent: self.recent_failures(now),
            oldest_waiting_ms,
        };
        actions
    }

    /// Copies of a fully replicated chunk that the index should stop listing.
    fn drop_unneeded(
        &mut self,
        chunk: ChunkId,
        a: &super::Assessment,
        rf: usize,
        detector: &Detector,
        now: Instant,
        removes: &mut Vec<(ChunkId, NodeId)>,
    ) {
        if a.counted.len() < rf {
            return;
        }
        let mut drop: Vec<NodeId> = a.stale.iter().chain(&a.leaving).copied().collect();
        let all_up = a.counted.iter().all(|n| a.sources.contains(n));
        if all_up && a.counted.len() > rf {
            let mut fullest = a.counted.clone();
            fullest.sort_by_key(|&n| (std::cmp::Reverse(used(detector, n)), n));
            drop.extend(fullest.into_iter().take(a.counted.len() - rf));
        }
        for node in drop {
            if let std::collections::btree_map::Entry::Vacant(slot) =
                self.removing.entry((chunk, node))
            {
                slot.insert(now);
                removes.push((chunk, node));
            }
        }
    }

    fn rebalance(
        &mut self,
        now: Instant,
        ctx: &PassContext<'_>,
        live: &BTreeMap<ChunkId, u32>,
        next_job: &mut u64,
        actions: &mut Vec<PlannerAction>,
    ) {
        let tolerance = self.config.rebalance_tolerance_pct;
        let moving = self.in_flight.values().filter(|c| c.kind == TaskKind::Rebalance).count();
        if tolerance == 0 || moving >= REBALANCE_JOBS_MAX || !self.removing.is_empty() {
            return;
        }
        // Usage as the committed index has it (live chunks only), with moves in flight counted
        // as done: reported disk usage lags behind moves and includes garbage.
        let mut indexed: BTreeMap<NodeId, u64> = ctx
            .namespace
            .members()
            .iter()
            .filter(|(_, m)| m.state == DeclaredState::Active && m.health == Health::Up)
            .map(|(node, _)| (*node, 0))
            .collect();
        if indexed.len() < 2 {
            return;
        }
        for (chunk, &len) in live {
            for node in ctx.namespace.replicas(chunk).into_iter().flatten() {
                if let Some(used) = indexed.get_mut(node) {
                    *used += u64::from(len);
                }
            }
        }
        for copy in self.in_flight.values().filter(|c| c.kind == TaskKind::Rebalance) {
            if let Some(used) = indexed.get_mut(&copy.to) {
                *used += u64::from(copy.len);
            }
            if let Some(used) = indexed.get_mut(&copy.from) {
                *used = used.saturating_sub(u64::from(copy.len));
            }
        }
        let mut usage: Vec<(u64, NodeId)> = indexed.into_iter().map(|(n, u)| (u, n)).collect();
        usage.sort_unstable();
        let (min_used, emptiest) = usage[0];
        let (max_used, fullest) = usage[usage.len() - 1];
        let total: u128 = usage.iter().map(|(u, _)| u128::from(*u)).sum();
        let mean = total / usage.len() as u128;
        let spread = max_used - min_used;
        if u128::from(spread) * 100 <= mean * u128::from(tolerance) {
            return;
        }
        let start = self.rebalance_cursor;
        let from = start.map_or(Bound::Unbounded, Bound::Excluded);
        let after = live.range((from, Bound::Unbounded));
        let before = start.into_iter().flat_map(|s| live.range(..=s));
        let busy: BTreeSet<ChunkId> = self.in_flight.values().map(|c| c.chunk).collect();
        for (&chunk, &len) in after.chain(before).take(REBALANCE_SCAN_MAX) {
            let Some(holders) = ctx.namespace.replicas(&chunk) else { continue };
            if !holders.contains(&fullest) || holders.contains(&emptiest) || busy.contains(&chunk) {
                continue;
            }
            if u64::from(len) * 2 > spread || holders.len() < ctx.replication_factor {
                continue;
            }
            if !self.bucket.take(u64::from(len), now) {
                return;
            }
            let job = JobId(*next_job);
            *next_job += 1;
            let copy = Copy {
                chunk,
                len,
                kind: TaskKind::Rebalance,
                from: fullest,
                to: emptiest,
                started: now,
            };
            self.in_flight.insert(job, copy);
            self.rebalance_cursor = Some(chunk);
            tracing::info!(node = %self.me, term = %self.term, %chunk, from = %fullest, to = %emptiest, "rebalancing a chunk");
            actions.push(PlannerAction::Copy { job, chunk, from: fullest, to: emptiest });
            return;
        }
        self.rebalance_cursor = None;
    }

    /// Forgets waits that are settled (seen committed) or too old, and fails silent copies.
    fn expire(&mut self, now: Instant, namespace: &Namespace) {
        let listed = |(chunk, node): &(ChunkId, NodeId)| {
            namespace.replicas(chunk).is_some_and(|nodes| nodes.contains(node))
        };
        self.awaiting
            .retain(|key, at| !listed(key) && now.saturating_duration_since(*at) < COMMIT_WAIT);
        self.removing
            .retain(|key, at| listed(key) && now.saturating_duration_since(*at) < COMMIT_WAIT);
        let silent: Vec<JobId> = self
            .in_flight
            .iter()
            .filter(|(_, c)| now.saturating_duration_since(c.started) >= JOB_TIMEOUT)
            .map(|(job, _)| *job)
            .collect();
        for job in silent {
            if let Some(copy) = self.in_flight.remove(&job) {
                self.fail(&copy, "no report within 10 minutes".into(), now);
            }
        }
    }
}

fn used(detector: &Detector, node: NodeId) -> u64 {
    detector.usage(node).map_or(0, |u| u.used_bytes)
}

fn entry_for(copy: &Copy, state: TaskState, retry: Option<&Retry>) -> QueueEntry {
    QueueEntry {
        chunk: copy.chunk,
        len_bytes: copy.len,
        kind: copy.kind,
        source: Some(copy.from),
        target: Some(copy.to),
        state,
        attempts: retry.map_or(0, |r| r.attempts),
        last_error: retry.map(|r| r.last_error.clone()),
        blocked: None,
        waiting_ms: 0,
    }
}

fn millis(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

fn describe(fault: JobFault, copy: &Copy) -> String {
    match fault {
        JobFault::SourceUnavailable => format!("source node {} did not serve the chunk", copy.from),
        JobFault::TargetUnavailable => format!("target node {} could not be reached", copy.to),
        JobFault::Corrupt => format!("the copy from node {} was corrupt", copy.from),
        JobFault::DiskFull => format!("target node {} has no room", copy.to),
        JobFault::Io => format!("disk error on node {}", copy.to),
    }
}
