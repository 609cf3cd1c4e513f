//! # dfs-sim: seeded fault runs with invariant checks
//!
//! A run has the VOPR shape (STYLE "Drivers"): seed → options drawn from it → a fault period in
//! which clients write while nodes crash and restart, links are cut and messages are lost or
//! duplicated, with safety checked after every step → heal → the cluster must converge within
//! [`SETTLE_MAX`], else the run fails with a reason and the command to replay it.
//!
//! Today the nodes are `dfs-core` nodes on the core's in-memory harness (with its model of chunk
//! stores and repair jobs); the real runtime under turmoil replaces the harness later. Faults also
//! hit chunk stores: silent corruption of one copy, and lost chunk files. Checks: one leader per
//! term, committed entries never change, pending work bounded (every step); durability (every
//! acknowledged version reads back with its hash), convergence (equal namespaces) and
//! replication (every live chunk has `replication_factor` intact, indexed copies on members) at
//! the end.

use std::collections::BTreeMap;
use std::time::Duration;

use dfs_core::command::{Command, Precondition};
use dfs_core::ids::{ChunkId, Hash, NodeId, RequestId, UnixMillis, Version};
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
    let configs = voters
        .iter()
        .map(|&id| {
            let mut config = Config::new(id, voters.clone());
            // Fast scrub passes a few seconds apart, so a planted fault is found while settling
            // (at the default 16 MiB/s one pass over these stores takes about half a minute).
            config.repair.scrub_rest = Duration::from_secs(3);
            config.repair.scrub_bytes_per_sec = 256 << 20;
            config
        })
        .collect();
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
            0..=59 if self.cluster.node(node).is_some() => {
                let request = self.write(node);
                self.sent.push((node, request));
            }
            60..=64 if self.cluster.node(node).is_some() => {
                let path = self.path();
                let command = Command::Delete {
                    path,
                    precondition: Precondition::None,
                    deleted_at: UnixMillis(0),
                };
                let request = self.cluster.submit(node, command);
                self.sent.push((node, request));
            }
            65..=67 => self.corrupt_one_copy(),
            68..=69 => self.lose_one_copy(),
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

    fn path(&mut self) -> Path {
        Path::parse(&format!("/w/f{}", self.rng.gen_range(0..12))).expect("valid")
    }

    /// Writes a new version of a random path: one or two chunks through `node`'s upload machine,
    /// which places the copies, counts them against the write quorum and commits (or refuses).
    fn write(&mut self, node: NodeId) -> RequestId {
        let path = self.path();
        let chunks: Vec<(ChunkId, u32)> = (0..self.rng.gen_range(1..=2))
            .map(|_| {
                let body: [u8; 8] = self.rng.gen();
                (ChunkId(Hash::of(&body)), self.rng.gen_range(1..=4) << 20)
            })
            .collect();
        self.cluster.upload(node, path.as_str(), &chunks)
    }

    /// Silently corrupts one stored copy, only where two other intact copies exist (one rotten
    /// disk sector, not a loss the replication factor cannot cover).
    fn corrupt_one_copy(&mut self) {
        if let Some((host, chunk)) = self.pick_copy() {
            self.fired("corrupt copy");
            self.cluster.store_mut(host).corrupt(chunk);
        }
    }

    /// Deletes one stored chunk file, under the same condition.
    fn lose_one_copy(&mut self) {
        if let Some((host, chunk)) = self.pick_copy() {
            self.fired("lost copy");
            self.cluster.store_mut(host).remove(chunk);
        }
    }

    fn pick_copy(&mut self) -> Option<(NodeId, ChunkId)> {
        let ids = self.cluster.ids();
        let host = ids[self.rng.gen_range(0..ids.len())];
        let stored: Vec<ChunkId> = self.cluster.store(host)?.ids().collect();
        if stored.is_empty() {
            return None;
        }
        let chunk = stored[self.rng.gen_range(0..stored.len())];
        (self.cluster.intact_holders(chunk).len() >= 3).then_some((host, chunk))
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
        // The checks read every namespace and store, so look every 200 ms, not every step.
        let mut converged_now = false;
        let deadline = self.cluster.now().saturating_add(SETTLE_MAX);
        while self.cluster.now() < deadline {
            self.cluster.run_for(Duration::from_millis(200));
            if converged(&self.cluster) && replicated(&self.cluster).is_ok() {
                converged_now = true;
                break;
            }
        }
        let converged = converged_now;
        self.cluster.check_invariants()?;
        if !converged {
            replicated(&self.cluster)?;
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

/// Every chunk of every live file has `min(replication_factor, members)` intact copies on members,
/// and the leader's index lists exactly good copies.
fn replicated(cluster: &Cluster) -> Result<(), String> {
    let leader = cluster.leader().and_then(|l| cluster.node(l)).ok_or("no leader")?;
    let namespace = leader.status().namespace;
    let members = namespace.members();
    let rf = leader.config().replication_factor.min(members.len());
    for chunk in dfs_core::repair::live_chunks(namespace).keys() {
        let intact: Vec<NodeId> = cluster
            .intact_holders(*chunk)
            .into_iter()
            .filter(|n| members.contains_key(n))
            .collect();
        let listed: Vec<NodeId> =
            namespace.replicas(chunk).map(|s| s.iter().copied().collect()).unwrap_or_default();
        if intact.len() < rf {
            let health: Vec<String> =
                members.iter().map(|(n, m)| format!("{n}:{}", m.health.as_str())).collect();
            return Err(format!(
                "{chunk} has {} intact copies ({intact:?}), wants {rf}; indexed on {listed:?}; members {}",
                intact.len(),
                health.join(",")
            ));
        }
        if let Some(bad) = listed.iter().find(|n| !intact.contains(n)) {
            return Err(format!("{chunk} is indexed on {bad}, which has no intact copy"));
        }
        if listed.len() < rf {
            return Err(format!("{chunk} is indexed on only {listed:?}"));
        }
    }
    Ok(())
}

/// The command that replays `seed`.
pub fn replay_command(seed: u64) -> String {
    format!("cargo run -p dfs-sim --release -- --model --seed {seed}")
}
