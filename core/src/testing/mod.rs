//! The in-memory cluster harness (STYLE "Drivers": the second driver, with no tokio). It holds N
//! nodes, a seeded network and a disk model per node, and jumps time to the next event, as in
//! quinn's `Pair::drive`: no threads, no sleeps. Every step is checked (see [`check`]) and
//! recorded in a [`Trace`].

pub mod check;
pub mod disk;
pub mod fuzz;
pub mod net;
pub mod trace;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::command::{Command, Reply};
use crate::config::Config;
use crate::error::CommandError;
use crate::ids::{NodeId, ReadyNumber, RequestId};
use crate::input::Input;
use crate::node::Node;
use crate::output::{Output, RaftWrite, Role};
use crate::time::Instant;

pub use check::{Checker, Violation};
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
    next_request: u64,
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
            next_request: 1,
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
                Output::StartJob { .. } | Output::Event(_) => {}
            }
        }
        self.checker.check_node(node);
    }

    fn next_event(&self) -> Option<Instant> {
        let syncs = self.hosts.values().filter_map(|h| h.syncing.front().map(|s| s.0));
        let timers = self.hosts.values().filter_map(|h| h.node.as_ref()?.poll_timeout());
        syncs.chain(timers).chain(self.net.next_arrival()).min()
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
