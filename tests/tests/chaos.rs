//! Chaos on real processes (issue 4, point 10): a 5-node cluster (replication factor 3, majority
//! write quorum) under a seeded schedule of `kill -9`s, restarts and silent corruption of stored
//! chunk files, while writers put files (1 KiB – ~3 MiB) with idempotency keys and readers read
//! acknowledged versions back, all failing over across every node. Then every node is restarted
//! and the run must converge: `dfs fsck` clean within a bounded settle time, and every
//! acknowledged write read back byte-exact, the latest acknowledged version of each path included.
//!
//! The schedule keeps at most [`DOWN_MAX`] nodes down, so raft keeps a majority, and corrupts at
//! most one copy of any chunk, so an acknowledged chunk (at least 2 durable copies) always keeps
//! a good one: losing an acknowledged write is always a bug. fsck is clean after the settle only
//! if the cluster repairs itself (re-replication of chunks that missed a node, scrub of corrupt
//! copies).
//!
//! Knobs (environment): `DFS_CHAOS_SEED` (default [`SEED_DEFAULT`]), `DFS_CHAOS_SECS` (fault
//! phase, default 60), `DFS_CHAOS_SETTLE_SECS` (default 90), `DFS_CHAOS_CORRUPTIONS` (default
//! 3), `DFS_CHAOS_KILLS` (`0` to run without kills and restarts). A failure prints the seed and
//! the command that replays it.

use std::collections::BTreeSet;
use std::time::Duration;

use dfs_tests::workload::{latest_acked, lock, Read, Workload};
use dfs_tests::{flip_byte, stored_chunk_files, ClusterSpec, TestCluster};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

/// The seed when `DFS_CHAOS_SEED` is not set.
const SEED_DEFAULT: u64 = 20_261_104;
const NODES: u64 = 5;
/// Nodes down at once, at most: 2 of 5 leaves raft its majority.
const DOWN_MAX: usize = 2;
const WRITERS: u64 = 2;
const READERS: u64 = 2;
/// Paths each writer spreads its writes over (so paths get several versions).
const PATHS_PER_WRITER: u64 = 12;
/// Time between two kill/restart steps, in milliseconds.
const STEP_GAP_MS: std::ops::Range<u64> = 2_000..6_000;
/// How long the writers get to finish their retries once every node is back.
const WRITERS_DRAIN: Duration = Duration::from_secs(90);
/// Rounds over every node when reading back at the end.
const READBACK_ROUNDS: usize = 3;

#[derive(Clone, Copy, Debug)]
struct Options {
    seed: u64,
    secs: u64,
    settle_secs: u64,
    corruptions: u64,
    kills: bool,
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| panic!("{name}={text} is not a number")),
        Err(_) => default,
    }
}

impl Options {
    fn from_env() -> Self {
        Self {
            seed: env_u64("DFS_CHAOS_SEED", SEED_DEFAULT),
            secs: env_u64("DFS_CHAOS_SECS", 60),
            settle_secs: env_u64("DFS_CHAOS_SETTLE_SECS", 90),
            corruptions: env_u64("DFS_CHAOS_CORRUPTIONS", 3),
            kills: env_u64("DFS_CHAOS_KILLS", 1) != 0,
        }
    }

    fn replay(&self) -> String {
        format!(
            "replay: DFS_CHAOS_SEED={} DFS_CHAOS_SECS={} DFS_CHAOS_CORRUPTIONS={} DFS_CHAOS_KILLS={} cargo test -p dfs-tests --test chaos -- --nocapture",
            self.seed,
            self.secs,
            self.corruptions,
            u8::from(self.kills)
        )
    }
}

/// One fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// `kill -9` of a node.
    Kill(u64),
    /// Start a killed node again.
    Restart(u64),
    /// Flip a byte of a stored chunk file: the `pick`-th (modulo) of the node's files, at
    /// `offset` (modulo).
    Corrupt { node: u64, pick: u64, offset: u64 },
}

/// The fault schedule drawn from the seed: (milliseconds from the start, fault), in time order.
fn schedule(options: &Options) -> Vec<(u64, Fault)> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let end_ms = options.secs * 1000;
    let mut steps = if options.kills { kills(&mut rng, end_ms) } else { Vec::new() };
    for _ in 0..options.corruptions {
        let at = rng.gen_range(end_ms / 10..end_ms * 9 / 10 + 1);
        let fault =
            Fault::Corrupt { node: rng.gen_range(1..=NODES), pick: rng.gen(), offset: rng.gen() };
        steps.push((at, fault));
    }
    steps.sort_by_key(|&(at, _)| at);
    steps
}

/// Kills and restarts every [`STEP_GAP_MS`], never more than [`DOWN_MAX`] nodes down at once.
fn kills(rng: &mut ChaCha8Rng, end_ms: u64) -> Vec<(u64, Fault)> {
    let mut steps = Vec::new();
    let mut down: BTreeSet<u64> = BTreeSet::new();
    let mut at = rng.gen_range(STEP_GAP_MS);
    while at + STEP_GAP_MS.start < end_ms {
        let kill = down.is_empty() || (down.len() < DOWN_MAX && rng.gen_bool(0.5));
        let fault = if kill {
            let up: Vec<u64> = (1..=NODES).filter(|n| !down.contains(n)).collect();
            let node = up[rng.gen_range(0..up.len())];
            down.insert(node);
            Fault::Kill(node)
        } else {
            let node = *down.iter().nth(rng.gen_range(0..down.len())).expect("a node is down");
            down.remove(&node);
            Fault::Restart(node)
        };
        steps.push((at, fault));
        at += rng.gen_range(STEP_GAP_MS);
    }
    steps
}

/// Applies one fault; returns what happened, for the log.
async fn apply(
    cluster: &mut TestCluster,
    fault: Fault,
    corrupted: &mut BTreeSet<String>,
) -> String {
    match fault {
        Fault::Kill(node) => {
            cluster.kill9(node);
            format!("kill -9 n{node}")
        }
        Fault::Restart(node) => {
            cluster.restart(node).await;
            format!("restarted n{node}")
        }
        Fault::Corrupt { node, pick, offset } => {
            // At most one bad copy per chunk: never a second copy of a chunk already hit.
            let files: Vec<_> = stored_chunk_files(cluster, node)
                .into_iter()
                .filter(|f| !corrupted.contains(&file_name(f)))
                .collect();
            if files.is_empty() {
                return format!("n{node} holds no chunk to corrupt yet");
            }
            let file = &files[(pick % files.len() as u64) as usize];
            if !flip_byte(file, offset) {
                return format!("could not corrupt {} on n{node}", file.display());
            }
            corrupted.insert(file_name(file));
            format!("flipped a byte of n{node}'s copy of chunk {}", file_name(file))
        }
    }
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Runs the fault phase: the schedule, while the workload runs.
async fn fault_phase(cluster: &mut TestCluster, options: &Options) -> Vec<String> {
    let start = tokio::time::Instant::now();
    let mut corrupted = BTreeSet::new();
    let mut log = Vec::new();
    for (at_ms, fault) in schedule(options) {
        tokio::time::sleep_until(start + Duration::from_millis(at_ms)).await;
        let what = apply(cluster, fault, &mut corrupted).await;
        let line = format!("t={:>6.1}s {what}", start.elapsed().as_secs_f64());
        eprintln!("chaos: {line}");
        log.push(line);
    }
    tokio::time::sleep_until(start + Duration::from_secs(options.secs)).await;
    log
}

/// `dfs fsck --json` once: (clean, report).
async fn fsck(cluster: &TestCluster) -> (bool, Value) {
    let (code, out, err) = tokio::task::block_in_place(|| cluster.cli_code(&["fsck", "--json"]));
    let report = serde_json::from_str(&out).unwrap_or(Value::String(err));
    (code == Some(0), report)
}

/// Polls fsck until it is clean or `limit` passes; the last report either way.
async fn settle(cluster: &TestCluster, limit: Duration) -> Result<Duration, Value> {
    let start = tokio::time::Instant::now();
    let mut last = Value::Null;
    // fsck re-hashes every copy: look at most once a second.
    let mut polls = tokio::time::interval(Duration::from_secs(1));
    while start.elapsed() < limit {
        polls.tick().await;
        let (clean, report) = fsck(cluster).await;
        if clean {
            return Ok(start.elapsed());
        }
        eprintln!(
            "chaos: t+{:.0}s fsck: {} problem chunk(s), unreachable {}",
            start.elapsed().as_secs_f64(),
            report["problems_total"],
            report["nodes_unreachable"]
        );
        last = report;
    }
    Err(last)
}

/// Reads back every acknowledged version and the latest version of every path; what was lost.
async fn read_back(workload: &Workload) -> Vec<String> {
    let (acked, unknown) = {
        let ledger = lock(&workload.ledger);
        (ledger.acked.clone(), ledger.unknown.clone())
    };
    let mut lost = Vec::new();
    for (i, write) in acked.iter().enumerate() {
        match workload.read_version(write, i, READBACK_ROUNDS).await {
            Read::Exact => {}
            Read::Unavailable(why) => {
                lost.push(format!("{} v{}: unreadable: {why}", write.path, write.version))
            }
            Read::Wrong(why) => lost.push(why),
        }
    }
    for (i, (path, write)) in latest_acked(&acked).into_iter().enumerate() {
        match workload.read_latest(path, i, READBACK_ROUNDS).await {
            Ok((version, hash)) if version == write.version && hash == write.hash => {}
            // A later write whose reply was lost may have committed after the last acked one.
            Ok((version, hash))
                if version > write.version
                    && unknown.iter().any(|u| u.0 == path && u.1 == hash) => {}
            Ok((version, hash)) => lost.push(format!(
                "{path}: latest is v{version} ({hash}), the last acknowledged is v{} ({})",
                write.version, write.hash
            )),
            Err(why) => lost.push(format!("{path}: latest unreadable: {why}")),
        }
    }
    lost
}

/// Stops the workload, brings every killed node back, lets the writers finish their retries and
/// waits until every node has applied everything the leader committed.
async fn heal(
    cluster: &mut TestCluster,
    workload: &Workload,
    mut tasks: tokio::task::JoinSet<()>,
    options: &Options,
) {
    workload.stop();
    for node in 1..=NODES {
        if !cluster.is_running(node) {
            cluster.restart(node).await;
        }
    }
    let drained = tokio::time::timeout(WRITERS_DRAIN, async {
        while let Some(done) = tasks.join_next().await {
            done.expect("a workload task panicked");
        }
    })
    .await;
    assert!(
        drained.is_ok(),
        "writers still retrying {WRITERS_DRAIN:?} after every node came back\n{}",
        options.replay()
    );
    let leader = cluster.wait_for_leader(1).await;
    let commit = cluster.health(leader).await.and_then(|h| h["commit_index"].as_u64()).unwrap_or(0);
    for node in 1..=NODES {
        cluster.wait_for_applied(node, commit).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_loses_no_acknowledged_write_and_converges() {
    let options = Options::from_env();
    eprintln!("chaos: DFS_CHAOS_SEED={} {options:?}", options.seed);
    eprintln!("chaos: {}", options.replay());
    // Scrub passes a few seconds apart (the default rests 10 minutes between passes), so a copy
    // corrupted after a node's last pass is found within the settle time.
    let healing = dfs_runtime::config::HealingConfig {
        scrub_rest_secs: 2,
        scrub_bytes_per_sec: 256 << 20,
        ..Default::default()
    };
    let mut cluster = TestCluster::start(ClusterSpec { healing, ..ClusterSpec::new(NODES) }).await;
    let workload = Workload::new(cluster.urls(), options.seed);
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..WRITERS {
        tasks.spawn(workload.clone().writer(id, PATHS_PER_WRITER));
    }
    for id in 0..READERS {
        tasks.spawn(workload.clone().reader(id));
    }

    let faults = fault_phase(&mut cluster, &options).await;
    heal(&mut cluster, &workload, tasks, &options).await;
    let settled = settle(&cluster, Duration::from_secs(options.settle_secs)).await;
    let lost = read_back(&workload).await;
    let ledger = lock(&workload.ledger);
    eprintln!(
        "chaos: seed {}: {} faults, {:?}, {} writes unknown, {} violations, {} lost",
        options.seed,
        faults.len(),
        ledger.stats,
        ledger.unknown.len(),
        ledger.violations.len(),
        lost.len()
    );
    assert!(ledger.stats.writes_acked > 0, "no write was acknowledged\n{}", options.replay());
    assert!(
        ledger.violations.is_empty() && lost.is_empty(),
        "seed {}: {} violation(s) and {} acknowledged write(s) lost:\n{}\n{}\nfaults:\n{}\n{}",
        options.seed,
        ledger.violations.len(),
        lost.len(),
        ledger.violations.join("\n"),
        lost.join("\n"),
        faults.join("\n"),
        options.replay()
    );
    match settled {
        Ok(took) => eprintln!("chaos: fsck clean {:.1}s after the settle began", took.as_secs_f64()),
        Err(report) => panic!(
            "seed {}: fsck not clean {}s after every node came back: {} problem chunk(s); first: {}\nfaults:\n{}\n{}",
            options.seed,
            options.settle_secs,
            report["problems_total"],
            report["problems"].get(0).unwrap_or(&Value::Null),
            faults.join("\n"),
            options.replay()
        ),
    }
}
