//! One seeded run of the real runtime under turmoil (DESIGN §1 sim): build the simulated hosts,
//! drive the fault schedule while the workload runs, heal, let the probe wait for convergence,
//! then judge: no host failure or panic, one leader per term, committed raft entries the same on
//! every node, linearizable namespace operations (per path, and on the folder tree as a whole),
//! replayed idempotency keys never answered with another request's result, no chunk reused by
//! a caller who may not read it and no false whole-file hash accepted, every acknowledged
//! version durable, convergence within the settle time.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use dfs_core::WriteQuorum;
use dfs_runtime::config::{HealingConfig, NodeConfig, PeerConfig, S3Config};
use dfs_runtime::planted::Bug;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use turmoil::fs::FsHandle;

use crate::check::raft_log::LogWatch;
use crate::check::{linear, replay, thief, tree};
use crate::disk;
use crate::faults::{self, FireCounts};
use crate::history::{History, Return};
use crate::platform::{self, DiskFaults};
use crate::probe::{self, Report};
use crate::trace::Trace;
use crate::workload;
use driver::Driver;

/// Port of every node's peer listener.
const PEER_PORT: u16 = 7000;
/// Port of every node's HTTP listener.
const HTTP_PORT: u16 = 8000;
/// Time the cluster gets to elect a leader before clients and faults start.
const WARMUP: Duration = Duration::from_secs(3);
/// Copies every chunk must reach.
pub const REPLICATION_FACTOR: usize = 3;
/// Time between the chunk collector's passes.
const GC_INTERVAL: Duration = Duration::from_secs(5);
/// How long the collector keeps deleted files' and uncommitted chunks: longer than any write
/// takes (a client gives up after [`workload::CALL_TIMEOUT`]), short enough that a settled
/// cluster shows its orphans collected.
const GC_GRACE: Duration = Duration::from_secs(15);
/// How long an upload nobody completed or aborted is kept.
const MULTIPART_EXPIRE: Duration = Duration::from_secs(20);
/// A simulation step.
const TICK: Duration = Duration::from_millis(10);
/// The message delay outside latency faults.
const LATENCY_MAX: Duration = Duration::from_millis(20);

/// How a run is shaped.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Length of the fault period (the workload runs during it).
    pub faults_for: Duration,
    /// Longest the cluster may take to converge after faults stop.
    pub settle_max: Duration,
    /// Workload clients.
    pub clients: u32,
    /// A bug planted in the nodes (to show the checkers catch it).
    pub plant: Option<Bug>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            faults_for: Duration::from_secs(20),
            settle_max: Duration::from_secs(40),
            clients: 2,
            plant: None,
        }
    }
}

/// How a run went.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// Cluster size.
    pub nodes: usize,
    /// blake3 of the trace.
    pub trace_hash: String,
    /// Lines in the trace.
    pub trace_lines: usize,
    /// Client operations recorded.
    pub ops: usize,
    /// Writes acknowledged.
    pub acknowledged: usize,
    /// How often each fault kind fired.
    pub faults: FireCounts,
    /// Simulated time covered.
    pub simulated: Duration,
    /// Paths (and the tree) whose linearizability search ran out.
    pub inconclusive: usize,
    /// `None` when every check passed, else the first failure.
    pub failure: Option<String>,
}

/// Runs seed `seed`; the outcome and the trace.
pub fn run(seed: u64, settings: &Settings) -> (Outcome, Trace) {
    // Versions and events are stamped with simulated wall-clock time.
    dfs_runtime::wall::install(turmoil::since_epoch);
    dfs_runtime::planted::plant(settings.plant);
    crate::durable::reset();
    let log_watch: Rc<RefCell<LogWatch>> = Rc::default();
    {
        let log_watch = log_watch.clone();
        dfs_runtime::tap::watch(Some(Rc::new(move |node, writes| {
            log_watch.borrow_mut().persisted(node.0, writes)
        })));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nodes = if rng.gen_bool(0.7) { 3 } else { 5 };
    let trace = Trace::default();
    let faults_end = WARMUP + settings.faults_for;
    let schedule = faults::schedule(seed, nodes, WARMUP, faults_end);
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        // A fixed epoch: simulated wall-clock time must not depend on when the run happens.
        .epoch(std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
        .tick_duration(TICK)
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(LATENCY_MAX)
        .simulation_duration(faults_end + settings.settle_max + Duration::from_secs(120))
        .build();
    let disk_faults: Vec<Arc<DiskFaults>> = (0..nodes).map(|_| Arc::default()).collect();
    let fs_handles: Rc<RefCell<BTreeMap<usize, FsHandle>>> = Rc::default();
    for (i, faults) in disk_faults.iter().enumerate() {
        let (faults, handles) = (faults.clone(), fs_handles.clone());
        let node_seed = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(i as u64 + 1);
        // Each start draws a new seed, as a real node does (from the OS): a restarted node with
        // its previous life's incarnation would take that life's committed proposals for its
        // own requests and answer them to whoever holds the same request number now.
        let starts = Rc::new(std::cell::Cell::new(0u64));
        sim.host(node_name(i), move || {
            let (faults, handles) = (faults.clone(), handles.clone());
            let start = starts.get();
            starts.set(start + 1);
            let node_seed = node_seed ^ start.wrapping_mul(0xd6e8_feb8_6659_fd93);
            async move {
                handles.borrow_mut().insert(i, FsHandle::current());
                let config = node_config(i, nodes);
                let handle =
                    dfs_runtime::server::start_on(config, platform::platform(i, node_seed, faults))
                        .await
                        .map_err(|e| format!("n{} did not start: {}", i + 1, chain(&e)))?;
                handle.wait().await.map_err(|e| format!("n{} stopped: {}", i + 1, chain(&e)))?;
                Ok(())
            }
        });
    }
    let history: Rc<RefCell<History>> = Rc::default();
    let report: probe::Shared = Rc::default();
    let addrs = |sim: &turmoil::Sim| -> Vec<SocketAddr> {
        (0..nodes).map(|i| SocketAddr::new(sim.lookup(node_name(i)), HTTP_PORT)).collect()
    };
    let node_addrs = addrs(&sim);
    for c in 1..=settings.clients {
        let (nodes, history, trace) = (node_addrs.clone(), history.clone(), trace.clone());
        sim.client(format!("c{c}"), async move {
            tokio::time::sleep(WARMUP).await;
            workload::client(seed, c, nodes, faults_end, history, trace).await;
            Ok(())
        });
    }
    {
        let (nodes, history, trace) = (node_addrs.clone(), history.clone(), trace.clone());
        sim.client("replay", async move {
            tokio::time::sleep(WARMUP).await;
            workload::replay::client(seed, nodes, faults_end, history, trace).await;
            Ok(())
        });
    }
    {
        let (nodes, history, trace) = (node_addrs.clone(), history.clone(), trace.clone());
        sim.client("thief", async move {
            tokio::time::sleep(WARMUP).await;
            workload::thief::client(seed, nodes, faults_end, history, trace).await;
            Ok(())
        });
    }
    {
        let (nodes, history, trace) = (node_addrs.clone(), history.clone(), trace.clone());
        sim.client("s3", async move {
            tokio::time::sleep(WARMUP).await;
            workload::s3::client(seed, nodes, faults_end, history, trace).await;
            Ok(())
        });
    }
    let rot: workload::rot::Shared = Rc::default();
    {
        let (nodes, history, trace, rot) =
            (node_addrs.clone(), history.clone(), trace.clone(), rot.clone());
        sim.client("rot", async move {
            tokio::time::sleep(WARMUP).await;
            workload::rot::client(seed, nodes, faults_end, rot, history, trace).await;
            Ok(())
        });
    }
    {
        let (nodes, history, report, trace) =
            (node_addrs.clone(), history.clone(), report.clone(), trace.clone());
        let settle = settings.settle_max;
        let (handles, count) = (fs_handles.clone(), node_addrs.len());
        let stored = move || {
            let handles = handles.borrow();
            (0..count).map(|i| handles.get(&i).map(disk::chunk_ids).unwrap_or_default()).collect()
        };
        let target = probe::Target {
            replication_factor: REPLICATION_FACTOR,
            keep_deleted: GC_GRACE + 2 * GC_INTERVAL,
            stored: Rc::new(stored),
        };
        sim.client("probe", async move {
            tokio::time::sleep(WARMUP / 2).await;
            probe::run(nodes, faults_end, settle, target, history, report, trace).await;
            Ok(())
        });
    }
    let mut driver = Driver {
        nodes,
        pending: schedule.into_iter().rev().collect(),
        active: Vec::new(),
        fired: FireCounts::new(),
        disk_faults,
        fs_handles,
        report: report.clone(),
        trace: trace.clone(),
        rot,
        rng: ChaCha8Rng::seed_from_u64(seed ^ 0x00c0_ffee),
    };
    trace.line_at(Duration::ZERO, format!("seed {seed}: {nodes} nodes"));
    let mut failure = None;
    loop {
        driver.tick(&mut sim, faults_end);
        match sim.step() {
            Ok(true) => break,
            Ok(false) => {}
            Err(error) => {
                failure = Some(format!("a host failed: {error}"));
                break;
            }
        }
    }
    let simulated = sim.elapsed();
    // Stop every node inside the simulation: their stores close on the simulated file system.
    for i in 0..nodes {
        sim.crash(node_name(i));
    }
    dfs_runtime::tap::watch(None);
    let log_watch = log_watch.borrow();
    trace.line_at(
        simulated,
        format!(
            "raft logs: {} entries committed, {} confirmed by another node",
            log_watch.committed(),
            log_watch.confirmed
        ),
    );
    let history = history.borrow().clone();
    let report = report.borrow();
    let verdict = linear::check(&history.ops);
    let tree_verdict = tree::check(workload::tree::ROOT, &history.tree);
    let tree_found = match (&tree_verdict.violation, tree_verdict.inconclusive) {
        (Some(_), _) => "violation",
        (None, true) => "inconclusive",
        (None, false) => "linearizable",
    };
    trace.line_at(
        simulated,
        format!(
            "tree check: {} ops, {} states searched: {tree_found}",
            tree_verdict.ops, tree_verdict.states
        ),
    );
    let replay_verdict = replay::check(&history.keyed);
    trace.line_at(
        simulated,
        format!(
            "idempotency check: {} keyed puts, {} written, {} refused as reused: {}",
            replay_verdict.ops,
            replay_verdict.written,
            replay_verdict.reused,
            if replay_verdict.violations.is_empty() { "ok" } else { "violation" }
        ),
    );
    let theft_verdict = thief::check(&history.thefts);
    trace.line_at(
        simulated,
        format!(
            "theft check: {} rounds, {} with an acknowledged secret, {} thefts refused: {}",
            theft_verdict.rounds,
            theft_verdict.secrets,
            theft_verdict.refused,
            if theft_verdict.violations.is_empty() { "ok" } else { "violation" }
        ),
    );
    trace.line_at(
        simulated,
        format!(
            "quorum check: {} acknowledged writes, {} short of {} durable copies",
            history.acks_judged,
            history.short_acks.len(),
            crate::check::quorum::needed()
        ),
    );
    let failure = failure
        .or_else(|| split_brain(&report))
        .or_else(|| log_watch.violations.first().map(|v| format!("raft logs disagree: {v}")))
        .or_else(|| verdict.violations.first().map(|v| format!("not linearizable: {v}")))
        .or_else(|| tree_verdict.violation.as_ref().map(|v| format!("not linearizable: {v}")))
        .or_else(|| replay_verdict.violations.first().map(|v| format!("idempotency: {v}")))
        .or_else(|| theft_verdict.violations.first().map(|v| format!("chunk theft: {v}")))
        .or_else(|| history.short_acks.first().map(|v| format!("short of the write quorum: {v}")))
        // Read-backs on a cluster that never settled say little: convergence is judged first.
        .or_else(|| match (&report.converged, &report.unconverged) {
            (Some(_), _) => None,
            (None, Some(why)) => Some(format!("did not converge: {why}")),
            (None, None) => Some("the probe did not finish".to_owned()),
        })
        .or_else(|| report.lost.first().map(|l| format!("acknowledged write lost: {l}")));
    trace.line_at(
        simulated,
        match &failure {
            None => "verdict: pass".to_owned(),
            Some(why) => format!("verdict: FAIL {why}"),
        },
    );
    let acknowledged = history.ops.iter().filter(|op| matches!(op.ret, Return::Written(_))).count();
    let outcome = Outcome {
        seed,
        nodes,
        trace_hash: trace.hash().to_hex().to_string(),
        trace_lines: trace.lines().len(),
        ops: history.len(),
        acknowledged,
        faults: driver.fired,
        simulated,
        inconclusive: verdict.inconclusive.len() + usize::from(tree_verdict.inconclusive),
        failure,
    };
    (outcome, trace)
}

/// Every bug the simulator can plant.
pub const BUGS: [Bug; 9] = [
    Bug::AckBeforeFsync,
    Bug::SkipRaftCommit,
    Bug::NoReReplication,
    Bug::StaleRead,
    Bug::ChunkHashReadsAnything,
    Bug::TrustWholeFileHash,
    Bug::SkipChunkVerify,
    Bug::QuorumOfOne,
    Bug::S3IgnoresDeleteMarker,
];

/// The bug a command-line name plants.
pub fn bug_named(name: &str) -> Option<Bug> {
    BUGS.into_iter().find(|&bug| bug_name(bug) == name)
}

/// The command-line name of `bug`.
pub fn bug_name(bug: Bug) -> &'static str {
    match bug {
        Bug::AckBeforeFsync => "ack-before-fsync",
        Bug::SkipRaftCommit => "skip-raft-commit",
        Bug::NoReReplication => "no-re-replication",
        Bug::StaleRead => "stale-read",
        Bug::ChunkHashReadsAnything => "chunk-hash-reads-anything",
        Bug::TrustWholeFileHash => "trust-whole-file-hash",
        Bug::SkipChunkVerify => "skip-chunk-verify",
        Bug::QuorumOfOne => "quorum-of-one",
        Bug::S3IgnoresDeleteMarker => "s3-ignores-delete-marker",
    }
}

/// Two leaders in one term, if the probe saw any.
fn split_brain(report: &Report) -> Option<String> {
    report
        .leaders
        .iter()
        .find(|(_, leaders)| leaders.len() > 1)
        .map(|(term, leaders)| format!("term {term} had leaders {leaders:?}"))
}

/// An error with its sources.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn node_name(i: usize) -> String {
    format!("n{}", i + 1)
}

/// The config of node index `i` of `nodes` (run inside a simulated host: it looks up addresses).
fn node_config(i: usize, nodes: usize) -> NodeConfig {
    let ip = |j: usize| -> IpAddr { turmoil::lookup(node_name(j)) };
    let peer = |j: usize| PeerConfig {
        id: j as u64 + 1,
        peer_addr: SocketAddr::new(ip(j), PEER_PORT),
        http_addr: SocketAddr::new(ip(j), HTTP_PORT),
    };
    NodeConfig {
        id: i as u64 + 1,
        peer_listen: SocketAddr::new(ip(i), PEER_PORT),
        http_listen: SocketAddr::new(ip(i), HTTP_PORT),
        data_dir: PathBuf::from(disk::DATA_DIR),
        cluster_secret: "simulated cluster secret".to_owned(),
        peers: (0..nodes).filter(|&j| j != i).map(peer).collect(),
        initial_voters: (1..=nodes as u64).collect(),
        replication_factor: REPLICATION_FACTOR,
        write_quorum: WriteQuorum::Majority,
        body_bytes_max: 64 * 1024 * 1024,
        gc_interval_secs: GC_INTERVAL.as_secs(),
        gc_grace_secs: GC_GRACE.as_secs(),
        healing: HealingConfig {
            heartbeat_interval_ms: 250,
            suspect_after_ms: 1_000,
            down_after_secs: 3,
            reassign_after_secs: 8,
            scrub_rest_secs: 5,
            scrub_bytes_per_sec: 64 * 1024 * 1024,
            ..HealingConfig::default()
        },
        tls_cert: None,
        tls_key: None,
        tls_ca: None,
        limits: Default::default(),
        admin_token: Some(crate::client::ADMIN_TOKEN.to_owned()),
        discovery: None,
        seeds: Vec::new(),
        s3: Some(S3Config {
            listen: SocketAddr::new(ip(i), workload::s3::S3_PORT),
            region: "dfs".to_owned(),
            domain: None,
            // Uploads a client abandoned are collected within the settle time.
            multipart_expire_secs: MULTIPART_EXPIRE.as_secs(),
        }),
    }
}

mod driver;

#[cfg(test)]
mod tests;
