//! The in-memory cluster harness (STYLE "Drivers": the second driver, with no tokio). It holds N
//! nodes, a seeded network and a disk model per node, and jumps time to the next event, as in
//! quinn's `Pair::drive`: no threads, no sleeps. Every step is checked (see [`check`]) and
//! recorded in a [`Trace`].

pub mod check;
pub mod chunks;
pub mod disk;
pub mod fuzz;
pub mod net;
pub mod trace;
mod upload;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::command::{Command, Reply};
use crate::config::Config;
use crate::error::CommandError;
use crate::ids::{ChunkId, LogIndex, NodeId, ReadyNumber, RequestId};
use crate::input::Input;
use crate::node::Node;
use crate::output::{JobSpec, Output, RaftWrite, Role};
use crate::repair::RecoverySummary;
use crate::time::Instant;
use crate::write::Written;

pub use check::{Checker, Violation};
pub use chunks::{ChunkStore, PendingJob};
pub use disk::Disk;
pub use net::{Envelope, NetOptions, Network};
pub use trace::Trace;

/// Simulated time for one fsync.
pub const PERSIST_LATENCY: Duration = Duration::from_micros(500);
/// Most steps `run_until` takes before giving up, whatever the deadline.
pub const STEPS_MAX: u64 = 5_000_000;

/// One simulated machine: its config, its node while up, its durable store.
pub struct Host {
    config: Config,
    node: Option<Node>,
    disk: Disk,
    // Persists issued but not yet durable; lost on crash.
    syncing: VecDeque<(Instant, ReadyNumber, RaftWrite)>,
    starts: u64,
}

/// N nodes on a seeded network, driven by jumping time to the next event.
pub struct Cluster {
    seed: u64,
    now: Instant,
    hosts: BTreeMap<NodeId, Host>,
    /// The network between hosts.
    pub net: Network,
    trace: Trace,
    checker: Checker,
    replies: BTreeMap<(NodeId, RequestId), Result<Reply, CommandError>>,
    recovered: BTreeMap<(NodeId, RequestId), RecoverySummary>,
    // Answers to reads, with what the node had applied when it answered.
    readable: BTreeMap<(NodeId, RequestId), (Result<LogIndex, CommandError>, LogIndex)>,
    next_request: u64,
    stores: BTreeMap<NodeId, ChunkStore>,
    // Jobs in flight, by (due, sequence).
    jobs: BTreeMap<(Instant, u64), PendingJob>,
    next_job_seq: u64,
    // Uploads (testing/upload.rs): their answers, chunk lengths, and who accepts their copies.
    uploaded: BTreeMap<(NodeId, RequestId), Result<Written, CommandError>>,
    chunk_lens: BTreeMap<ChunkId, u32>,
    accepting: BTreeMap<(NodeId, RequestId), BTreeSet<NodeId>>,
}

impl Cluster {
    /// A cluster of nodes `n1..=n{size}`, all founding voters, with default config.
    pub fn new(seed: u64, size: u64) -> Self {
        let voters: Vec<NodeId> = (1..=size).map(NodeId).collect();
        let configs = voters.iter().map(|&id| Config::new(id, voters.clone())).collect();
        Self::with_configs(seed, configs, false)
    }

    /// A cluster of the given nodes; `keep_trace` keeps trace lines (for snapshots).
    pub fn with_configs(seed: u64, configs: Vec<Config>, keep_trace: bool) -> Self {
        let mut cluster = Self {
            seed,
            now: Instant::ZERO,
            hosts: BTreeMap::new(),
            net: Network::new(ChaCha8Rng::seed_from_u64(seed ^ 0x006e_6574_776f_726b)),
            trace: Trace::new(keep_trace),
            checker: Checker::default(),
            replies: BTreeMap::new(),
            recovered: BTreeMap::new(),
            readable: BTreeMap::new(),
            next_request: 1,
            stores: BTreeMap::new(),
            jobs: BTreeMap::new(),
            next_job_seq: 0,
            uploaded: BTreeMap::new(),
            chunk_lens: BTreeMap::new(),
            accepting: BTreeMap::new(),
        };
        for config in configs {
            cluster.add_host(config);
        }
        cluster
    }

    /// Adds a machine and starts its node (a joining node when not a founding voter).
    pub fn add_host(&mut self, config: Config) {
        let id = config.id;
        let host =
            Host { config, node: None, disk: Disk::default(), syncing: VecDeque::new(), starts: 0 };
        self.hosts.insert(id, host);
        self.start(id);
    }

    /// Current simulated time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The node on `id`, if it is up.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.hosts.get(&id)?.node.as_ref()
    }

    /// Ids of every host, up or down.
    pub fn ids(&self) -> Vec<NodeId> {
        self.hosts.keys().copied().collect()
    }

    /// The durable store of `id`.
    pub fn disk(&self, id: NodeId) -> Option<&Disk> {
        self.hosts.get(&id).map(|h| &h.disk)
    }

    /// The up node that leads the highest term, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.hosts
            .values()
            .filter_map(|h| h.node.as_ref())
            .filter(|n| n.status().role == Role::Leader)
            .max_by_key(|n| n.status().term)
            .map(|n| n.status().id)
    }

    /// The trace so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The safety checker's record.
    pub fn checker(&self) -> &Checker {
        &self.checker
    }

    /// `Ok` unless a safety property broke; the error names the first and how to replay.
    pub fn check_invariants(&self) -> Result<(), String> {
        match self.checker.violations().first() {
            None => Ok(()),
            Some(v) => Err(format!("{v} (seed {}, at {})", self.seed, self.now)),
        }
    }

    /// Hands `command` to node `id` as a client request; returns the request's number.
    pub fn submit(&mut self, id: NodeId, command: Command) -> RequestId {
        let request = RequestId(self.next_request);
        self.next_request += 1;
        let line = format!("<- client {request} {}", trace::describe_command(&command));
        self.trace.record(self.now, id, &line);
        self.deliver(id, Input::Client { request, command });
        request
    }

    /// Proposes raw entry bytes on node `id` (a leader), bypassing the command encoding.
    pub fn propose_raw(&mut self, id: NodeId, data: Vec<u8>) {
        let Some(node) = self.hosts.get_mut(&id).and_then(|h| h.node.as_mut()) else { return };
        node.propose_raw(data);
        self.drain(id);
    }

    /// Asks node `id` for a linearizable read; the answer appears in [`Cluster::readable`].
    pub fn read(&mut self, id: NodeId) -> RequestId {
        let request = RequestId(self.next_request);
        self.next_request += 1;
        self.trace.record(self.now, id, &format!("<- client {request} read"));
        self.deliver(id, Input::Read { request });
        request
    }

    /// The answer to read `request` on node `id`, once there is one, with the index the node
    /// had applied when it answered.
    pub fn readable(
        &self,
        id: NodeId,
        request: RequestId,
    ) -> Option<&(Result<LogIndex, CommandError>, LogIndex)> {
        self.readable.get(&(id, request))
    }

    /// The reply to `request` on node `id`, once there is one.
    pub fn reply(&self, id: NodeId, request: RequestId) -> Option<&Result<Reply, CommandError>> {
        self.replies.get(&(id, request))
    }

    /// Processes the next event (a disk sync, a message, or a timer); `false` when idle.
    pub fn step(&mut self) -> bool {
        let Some(at) = self.next_event() else { return false };
        self.now = self.now.max(at);
        if let Some(id) = self.due_sync() {
            let host = self.hosts.get_mut(&id).expect("due_sync names a host");
            if let Some((_, ready, write)) = host.syncing.pop_front() {
                host.disk.apply(&write);
                self.deliver(id, Input::Persisted { ready });
            }
        } else if let Some(key) =
            self.jobs.keys().next().copied().filter(|(due, _)| *due <= self.now)
        {
            if let Some(job) = self.jobs.remove(&key) {
                self.finish_job(&job);
            }
        } else if let Some(envelope) = self.net.take_due(self.now) {
            let input = Input::Peer { from: envelope.from, message: envelope.message };
            self.deliver(envelope.to, input);
        } else if let Some(id) = self.due_timer() {
            self.deliver(id, Input::Timeout);
        }
        true
    }

    /// Steps until `done` holds or `limit` of simulated time passes; whether `done` held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Cluster) -> bool) -> bool {
        let deadline = self.now.saturating_add(limit);
        for _ in 0..STEPS_MAX {
            if done(self) {
                return true;
            }
            if self.next_event().is_none_or(|at| at > deadline) {
                self.now = self.now.max(deadline);
                return done(self);
            }
            self.step();
        }
        false
    }

    /// Steps for `duration` of simulated time.
    pub fn run_for(&mut self, duration: Duration) {
        self.run_until(duration, |_| false);
    }

    /// Cuts every link to and from `id`.
    pub fn isolate(&mut self, id: NodeId) {
        self.trace.record(self.now, id, "** isolated");
        for other in self.ids() {
            if other != id {
                self.net.cut(id, other);
                self.net.cut(other, id);
            }
        }
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        for id in self.ids() {
            self.trace.record(self.now, id, "** healed");
        }
        self.net.heal();
    }

    /// Kills the node on `id`: its unsynced writes are lost, its messages in flight still arrive.
    pub fn crash(&mut self, id: NodeId) {
        if let Some(host) = self.hosts.get_mut(&id) {
            host.node = None;
            host.syncing.clear();
            self.jobs.retain(|_, job| job.owner != id);
            self.trace.record(self.now, id, "** crashed");
        }
    }

    /// Starts the node on `id` again from its durable store.
    pub fn restart(&mut self, id: NodeId) {
        self.trace.record(self.now, id, "** restarted");
        self.checker.restarted(id);
        self.start(id);
    }

    fn start(&mut self, id: NodeId) {
        let Some(host) = self.hosts.get_mut(&id) else { return };
        host.starts += 1;
        let seed = self.seed.wrapping_add(host.starts.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let node = Node::new(host.config.clone(), host.disk.recovered(), seed, self.now)
            .expect("harness configs are valid and its disks consistent");
        host.node = Some(node);
        self.drain(id);
        self.report_usage(id);
    }

    fn report_usage(&mut self, id: NodeId) {
        let usage = self.stores.get(&id).map(ChunkStore::usage).unwrap_or_default();
        self.deliver(id, Input::Usage(usage));
    }

    fn finish_job(&mut self, job: &PendingJob) {
        let up = |id: NodeId| self.hosts.get(&id).is_some_and(|h| h.node.is_some());
        let up: BTreeSet<NodeId> = self.ids().into_iter().filter(|id| up(*id)).collect();
        let result = match job.spec {
            JobSpec::StoreChunk { upload, chunk, to } => {
                self.run_store(job.owner, upload, chunk, to)
            }
            _ => chunks::run(job, &mut self.stores, |id| up.contains(&id), self.now),
        };
        let line = match (&job.spec, &result) {
            (JobSpec::StoreChunk { upload, chunk, to }, Ok(_)) => {
                format!("<- job {} {upload} stored {chunk} on {to}", job.job)
            }
            (JobSpec::StoreChunk { upload, chunk, to }, Err(fault)) => {
                format!("<- job {} {upload} store {chunk} on {to} failed: {fault:?}", job.job)
            }
            _ => format!("<- job {} {:?}", job.job, result),
        };
        self.trace.record(self.now, job.owner, &line);
        self.deliver(job.owner, Input::JobDone { job: job.job, result });
        let mut touched = vec![job.owner];
        if let JobSpec::CopyChunk { to, .. } | JobSpec::StoreChunk { to, .. } = job.spec {
            touched.push(to);
        }
        for id in touched {
            if up.contains(&id) {
                self.report_usage(id);
            }
        }
    }

    /// The chunk store of `id`.
    pub fn store(&self, id: NodeId) -> Option<&ChunkStore> {
        self.stores.get(&id)
    }

    /// The chunk store of `id`, to plant faults in.
    pub fn store_mut(&mut self, id: NodeId) -> &mut ChunkStore {
        self.stores.entry(id).or_default()
    }

    /// Asks node `id` for a recovery sync; the summary appears in [`Cluster::recovered`].
    pub fn recover(&mut self, id: NodeId) -> RequestId {
        let request = RequestId(self.next_request);
        self.next_request += 1;
        self.trace.record(self.now, id, &format!("<- client {request} recover"));
        self.deliver(id, Input::Recover { request });
        request
    }

    /// The summary answering a recovery request, once there is one.
    pub fn recovered(&self, id: NodeId, request: RequestId) -> Option<&RecoverySummary> {
        self.recovered.get(&(id, request))
    }

    /// Delivers `input` to node `id` now (for inputs the harness does not make itself).
    pub fn input(&mut self, id: NodeId, input: Input) {
        self.deliver(id, input);
    }

    /// Hosts (up or down) holding an intact copy of `chunk`.
    pub fn intact_holders(&self, chunk: ChunkId) -> Vec<NodeId> {
        self.stores.iter().filter(|(_, s)| s.has_intact(chunk)).map(|(id, _)| *id).collect()
    }

    fn deliver(&mut self, id: NodeId, input: Input) {
        let Some(node) = self.hosts.get_mut(&id).and_then(|h| h.node.as_mut()) else { return };
        node.handle(self.now, input);
        self.drain(id);
    }

    fn drain(&mut self, id: NodeId) {
        let now = self.now;
        let Some(host) = self.hosts.get_mut(&id) else { return };
        let Some(node) = host.node.as_mut() else { return };
        while let Some(output) = node.poll_output() {
            self.trace.record(now, id, &trace::describe_output(&output));
            self.checker.observe(id, &output);
            match output {
                Output::Send { to, message } => {
                    self.net.send(now, Envelope { from: id, to, message })
                }
                Output::Persist { ready, write } => {
                    host.syncing.push_back((now.saturating_add(PERSIST_LATENCY), ready, write));
                }
                Output::Reply { request, result } => {
                    self.replies.insert((id, request), result);
                }
                Output::StartJob { job, spec } => {
                    let due = now.saturating_add(chunks::duration(&spec, &self.stores));
                    let seq = self.next_job_seq;
                    self.next_job_seq += 1;
                    self.jobs.insert((due, seq), PendingJob { due, owner: id, job, spec });
                }
                Output::Recovered { request, summary } => {
                    self.recovered.insert((id, request), summary);
                }
                Output::Uploaded { upload, result } => {
                    let reply =
                        result.clone().map(|w| Reply::Applied { index: w.index, change: w.change });
                    self.replies.insert((id, upload), reply);
                    self.uploaded.insert((id, upload), result);
                }
                Output::Readable { request, result } => {
                    let applied = node.status().applied;
                    self.readable.insert((id, request), (result, applied));
                }
                Output::Event(_) => {}
            }
        }
        self.checker.check_node(node);
    }

    fn next_event(&self) -> Option<Instant> {
        let syncs = self.hosts.values().filter_map(|h| h.syncing.front().map(|s| s.0));
        let timers = self.hosts.values().filter_map(|h| h.node.as_ref()?.poll_timeout());
        let jobs = self.jobs.keys().next().map(|(due, _)| *due);
        syncs.chain(timers).chain(self.net.next_arrival()).chain(jobs).min()
    }

    fn due_sync(&self) -> Option<NodeId> {
        let due = |h: &Host| h.syncing.front().is_some_and(|s| s.0 <= self.now);
        self.hosts.iter().find(|(_, h)| due(h)).map(|(&id, _)| id)
    }

    fn due_timer(&self) -> Option<NodeId> {
        let due =
            |h: &Host| h.node.as_ref().and_then(Node::poll_timeout).is_some_and(|t| t <= self.now);
        self.hosts.iter().find(|(_, h)| due(h)).map(|(&id, _)| id)
    }

    /// The final state table: one line per node (STYLE "Trace snapshots").
    pub fn state_table(&self) -> String {
        let mut out = String::from("== final ==\n");
        for (id, host) in &self.hosts {
            let Some(node) = &host.node else {
                out += &format!("{id} down\n");
                continue;
            };
            let s = node.status();
            out += &format!(
                "{id} {:<9} {} commit={} applied={} files={} leader={}\n",
                s.role.as_str(),
                s.term,
                s.commit.0,
                s.applied.0,
                s.namespace.file_count(),
                s.leader.map_or("none".to_owned(), |l| l.to_string()),
            );
        }
        out
    }
}
