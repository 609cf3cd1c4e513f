//! # dfs-sim: seeded fault runs with invariant checks
//!
//! A run has the VOPR shape (STYLE "Drivers"): seed → options drawn from it → a fault period in
//! which clients write while nodes crash and restart, links are cut and messages are lost or
//! duplicated, with safety checked after every step → heal → the cluster must converge within
//! [`SETTLE_MAX`], else the run fails with a reason and the command to replay it.
//!
//! Today the nodes are `dfs-core` nodes on the core's in-memory harness; the real runtime under
//! turmoil replaces the harness when the runtime exists. Checks: one leader per term, committed
//! entries never change, pending work bounded (every step); durability (every acknowledged
//! version reads back with its hash) and convergence (equal namespaces) at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use dfs_core::command::{ChunkRef, Command, Content, Precondition};
use dfs_core::ids::{ChunkId, Hash, NodeId, RequestId, UnixMillis, UserName, Version};
use dfs_core::testing::{Cluster, NetOptions};
use dfs_core::{Change, Config, Path, Reply};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Longest the cluster may take to converge once faults stop.
pub const SETTLE_MAX: Duration = Duration::from_secs(30);

/// What a seed decided about its run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Cluster size (3 or 5).
    pub nodes: u64,
    /// Length of the fault period.
    pub faults_for: Duration,
    /// Message loss, per thousand.
    pub drop_per_mille: u32,
    /// Message duplication, per thousand.
    pub duplicate_per_mille: u32,
    /// Longest one-way message delay.
    pub delay_max: Duration,
}

impl Options {
    /// The options seed `seed` runs with, for a fault period of `faults_for`.
    pub fn from_seed(seed: u64, faults_for: Duration) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Self {
            nodes: if rng.gen_bool(0.7) { 3 } else { 5 },
            faults_for,
            drop_per_mille: rng.gen_range(0..150),
            duplicate_per_mille: rng.gen_range(0..50),
            delay_max: Duration::from_millis(rng.gen_range(1..40)),
        }
    }
}

/// How a run went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// Its options.
    pub options: Options,
    /// blake3 of the whole trace: equal for equal seeds.
    pub trace_hash: Hash,
    /// Trace lines recorded.
    pub trace_lines: u64,
    /// Writes acknowledged to clients.
    pub acknowledged: usize,
    /// How often each fault fired.
    pub faults: BTreeMap<&'static str, u32>,
    /// Simulated time the run covered.
    pub simulated: Duration,
    /// `None` when every check passed, else the first failure.
    pub failure: Option<String>,
}

/// Runs one seed. `keep_trace` keeps the trace lines (returned as the second value).
pub fn run(seed: u64, faults_for: Duration, keep_trace: bool) -> (Outcome, Vec<String>) {
    let options = Options::from_seed(seed, faults_for);
    let voters: Vec<NodeId> = (1..=options.nodes).map(NodeId).collect();
    let configs = voters.iter().map(|&id| Config::new(id, voters.clone())).collect();
    let mut cluster = Cluster::with_configs(seed, configs, keep_trace);
    cluster.net.options = NetOptions {
        delay_max: options.delay_max,
        drop_per_mille: options.drop_per_mille,
        duplicate_per_mille: options.duplicate_per_mille,
        ..NetOptions::default()
    };
    let mut run = Run {
        rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0057_4f52_4b4c_4f41),
        cluster,
        sent: Vec::new(),
        faults: BTreeMap::new(),
    };
    let failure = run.fault_period(options.faults_for).err().or_else(|| run.settle().err());
    let acknowledged = run.acknowledged().len();
    let outcome = Outcome {
        seed,
        trace_hash: run.cluster.trace().hash(),
        trace_lines: run.cluster.trace().line_count(),
        acknowledged,
        faults: run.faults,
        simulated: Duration::from_micros(run.cluster.now().as_micros()),
        failure,
        options,
    };
    (outcome, run.cluster.trace().lines().to_vec())
}

struct Run {
    rng: ChaCha8Rng,
    cluster: Cluster,
    sent: Vec<(NodeId, RequestId)>,
    faults: BTreeMap<&'static str, u32>,
}

impl Run {
    fn fault_period(&mut self, length: Duration) -> Result<(), String> {
        let end = self.cluster.now().saturating_add(length);
        while self.cluster.now() < end {
            self.act();
            let pause = Duration::from_millis(self.rng.gen_range(5..300));
            self.cluster.run_for(pause);
            self.cluster.check_invariants()?;
        }
        Ok(())
    }

    fn act(&mut self) {
        let ids = self.cluster.ids();
        let node = ids[self.rng.gen_range(0..ids.len())];
        let down = ids.iter().filter(|&&id| self.cluster.node(id).is_none()).count();
        match self.rng.gen_range(0..100) {
            0..=69 if self.cluster.node(node).is_some() => {
                let command = self.command();
                let request = self.cluster.submit(node, command);
                self.sent.push((node, request));
            }
            70..=74 if down < ids.len() / 2 && self.cluster.node(node).is_some() => {
                self.fired("crash");
                self.cluster.crash(node);
            }
            75..=84 if self.cluster.node(node).is_none() => {
                self.fired("restart");
                self.cluster.restart(node);
            }
            85..=89 => {
                self.fired("isolate");
                self.cluster.isolate(node);
            }
            90..=93 => {
                self.fired("one-way cut");
                let other = ids[self.rng.gen_range(0..ids.len())];
                if other != node {
                    self.cluster.net.cut(node, other);
                }
            }
            94..=99 => self.cluster.heal(),
            _ => {}
        }
    }

    fn fired(&mut self, kind: &'static str) {
        *self.faults.entry(kind).or_default() += 1;
    }

    fn command(&mut self) -> Command {
        let path = Path::parse(&format!("/w/f{}", self.rng.gen_range(0..12))).expect("valid");
        let precondition = match self.rng.gen_range(0..10) {
            0..=5 => Precondition::None,
            6 | 7 => Precondition::Absent,
            _ => Precondition::Version(Version(self.rng.gen_range(1..6))),
        };
        if self.rng.gen_range(0..10) == 0 {
            return Command::Delete { path, precondition, deleted_at: UnixMillis(0) };
        }
        let body: [u8; 8] = self.rng.gen();
        let hash = Hash::of(&body);
        Command::PutVersion {
            path,
            precondition,
            content: Content {
                chunks: vec![ChunkRef { id: ChunkId(hash), len_bytes: 8 }],
                size_bytes: 8,
                hash,
            },
            author: UserName("sim".into()),
            created_at: UnixMillis(0),
            replicas: Default::default(),
            idempotency_key: None,
        }
    }

    /// Every (path, version, hash) a client was told is committed.
    fn acknowledged(&self) -> Vec<(Path, Version, Hash)> {
        self.sent
            .iter()
            .filter_map(|&(node, request)| match self.cluster.reply(node, request)? {
                Ok(Reply::Applied {
                    change: Change::FileWritten { path, version, hash, .. },
                    ..
                }) => Some((path.clone(), *version, *hash)),
                _ => None,
            })
            .collect()
    }

    fn settle(&mut self) -> Result<(), String> {
        self.cluster.heal();
        self.cluster.net.options = NetOptions::default();
        for id in self.cluster.ids() {
            if self.cluster.node(id).is_none() {
                self.cluster.restart(id);
            }
        }
        let converged = self.cluster.run_until(SETTLE_MAX, converged);
        self.cluster.check_invariants()?;
        if !converged {
            return Err(format!("not converged {} s after healing", SETTLE_MAX.as_secs()));
        }
        let leader = self.cluster.leader().ok_or("no leader after settling")?;
        let namespace = self.cluster.node(leader).ok_or("leader is down")?.status().namespace;
        for (path, version, hash) in self.acknowledged() {
            match namespace.version(&path, version) {
                Ok(record) if record.content.hash == hash => {}
                Ok(_) => {
                    return Err(format!("acknowledged {path} {version} reads back other bytes"))
                }
                Err(error) => return Err(format!("acknowledged {path} {version} lost: {error}")),
            }
        }
        Ok(())
    }
}

/// Every node up, one leader known to all, and equal namespaces at equal applied indexes.
fn converged(cluster: &Cluster) -> bool {
    let nodes: Vec<_> = cluster.ids().iter().filter_map(|&id| cluster.node(id)).collect();
    let Some(leader) = cluster.leader() else { return false };
    nodes.len() == cluster.ids().len()
        && nodes.iter().all(|n| n.status().leader == Some(leader))
        && nodes.windows(2).all(|w| {
            let (a, b) = (w[0].status(), w[1].status());
            a.applied == b.applied && a.namespace.digest() == b.namespace.digest()
        })
}

/// The command that replays `seed`.
pub fn replay_command(seed: u64) -> String {
    format!("cargo run -p dfs-sim --release -- --seed {seed}")
}
