//! The probe: a simulated client host that watches the cluster during the run (leaders per term,
//! for raft safety and for the leader-crash fault) and, once faults stop, waits for convergence and
//! gathers what the end-of-run checkers need.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use axum::http::Method;
use bytes::Bytes;
use serde_json::Value;

use crate::check::garbage;
use crate::client::{self, Answer};
use crate::history::{Call, History, Op, Return, TreeCall};
use crate::trace::Trace;
use crate::workload;

/// How long one probe request may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the durability pass keeps retrying reads that found no node able to answer.
const DURABILITY_PATIENCE: Duration = Duration::from_secs(20);

/// What the probe saw.
#[derive(Debug, Default)]
pub struct Report {
    /// Leaders seen per term (more than one is a raft safety violation).
    pub leaders: BTreeMap<u64, Vec<u64>>,
    /// The node index that leads now, as last seen.
    pub leader: Option<usize>,
    /// How long after the faults the cluster converged; `None` if it did not within the settle
    /// time (the reason is in `unconverged`).
    pub converged: Option<Duration>,
    /// Why the cluster had not converged at the deadline.
    pub unconverged: Option<String>,
    /// Versions of never-deleted paths that did not read back byte-exact.
    pub lost: Vec<String>,
}

/// Shared between the probe and the driver.
pub type Shared = Rc<RefCell<Report>>;

/// Time between convergence checks.
const POLL: Duration = Duration::from_millis(500);
/// Time between convergence checks while only uncollected garbage is left.
const GARBAGE_POLL: Duration = Duration::from_secs(2);

/// Why the cluster has not converged yet.
struct Unsettled {
    why: String,
    /// Everything else holds; only garbage is left to collect.
    garbage: bool,
}

impl From<String> for Unsettled {
    fn from(why: String) -> Self {
        Self { why, garbage: false }
    }
}

/// What a settled cluster must look like.
#[derive(Clone)]
pub struct Target {
    /// Good copies every live chunk must have.
    pub replication_factor: usize,
    /// How long after its delete a file's chunks may stay (the collector's grace and interval).
    pub keep_deleted: Duration,
    /// The chunk ids each node stores now, read off the simulated disks.
    pub stored: Rc<dyn Fn() -> Vec<Vec<String>>>,
}

/// Runs the probe: watch until `faults_end`, then settle for at most `settle_max`, then check.
pub async fn run(
    nodes: Vec<SocketAddr>,
    faults_end: Duration,
    settle_max: Duration,
    target: Target,
    history: Rc<RefCell<History>>,
    report: Shared,
    trace: Trace,
) {
    while crate::now() < faults_end {
        watch(&nodes, &report, &trace).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = faults_end + settle_max;
    let converged = loop {
        watch(&nodes, &report, &trace).await;
        let unsettled = match converged(&nodes, &target).await {
            Ok(()) => break Ok(crate::now() - faults_end),
            Err(unsettled) => unsettled,
        };
        if crate::now() >= deadline {
            break Err(unsettled.why);
        }
        // The collector takes seconds: while only garbage is left, look less often (each look
        // walks every node's disk).
        let pause = if unsettled.garbage { GARBAGE_POLL } else { POLL };
        tokio::time::sleep(pause).await;
    };
    match &converged {
        Ok(after) => trace.line(format!("converged {} ms after faults", after.as_millis())),
        Err(why) => trace.line(format!("not converged: {why}")),
    }
    {
        let mut shared = report.borrow_mut();
        (shared.converged, shared.unconverged) = match converged {
            Ok(after) => (Some(after), None),
            Err(why) => (None, Some(why)),
        };
    }
    final_reads(&nodes, &history, &trace).await;
    final_listings(&nodes, &history, &trace).await;
    let ops = history.borrow().ops.clone();
    let lost = durability(&nodes, &ops).await;
    report.borrow_mut().lost = lost;
}

async fn get(node: SocketAddr, path: &str) -> Result<Answer, String> {
    client::call(node, Method::GET, path, &[], Bytes::new(), PROBE_TIMEOUT).await
}

/// Asks every node for its raft view; records leaders per term.
async fn watch(nodes: &[SocketAddr], report: &Shared, trace: &Trace) {
    for (i, node) in nodes.iter().enumerate() {
        let Ok(answer) = get(*node, "/health").await else { continue };
        let health = answer.json();
        if health["role"].as_str() != Some("leader") {
            continue;
        }
        let (Some(term), Some(id)) = (health["term"].as_u64(), health["node"].as_u64()) else {
            continue;
        };
        let mut report = report.borrow_mut();
        let leaders = report.leaders.entry(term).or_default();
        if !leaders.contains(&id) {
            leaders.push(id);
            trace.line(format!("n{id} leads term {term}"));
        }
        report.leader = Some(i);
    }
}

/// `Ok` once every node is ready at the same applied index, the repair queue is empty, every
/// node lists the same files, every live version's chunks have `replication_factor` copies on
/// distinct members, no node keeps a chunk nothing needs, and fsck finds every copy good (last:
/// it re-reads every copy).
async fn converged(nodes: &[SocketAddr], target: &Target) -> Result<(), Unsettled> {
    let files = settled(nodes, target.replication_factor).await?;
    let now_ms = dfs_runtime::wall::now_millis().0;
    let needed = garbage::needed(&files, now_ms, target.keep_deleted);
    let garbage = garbage::garbage(&needed, &(target.stored)());
    if let Some((node, chunk)) = garbage.first() {
        let why = format!(
            "{} chunks not collected, first n{} {}",
            garbage.len(),
            node + 1,
            chunk.get(..12).unwrap_or(chunk)
        );
        return Err(Unsettled { why, garbage: true });
    }
    fsck_clean(nodes).await?;
    Ok(())
}

/// `Ok` once every node is ready at the same applied index, the repair queue is empty, every
/// node lists the same files and every live version's chunks have `replication_factor` copies on
/// distinct members; the listing.
async fn settled(nodes: &[SocketAddr], replication_factor: usize) -> Result<Value, String> {
    let mut applied = Vec::new();
    for node in nodes {
        let health = get(*node, "/health").await?.json();
        if health["ready"] != Value::Bool(true) {
            return Err(format!(
                "{node} not ready ({}, term {}, leader {}, commit {}, applied {}): {}",
                health["role"],
                health["term"],
                health["leader"],
                health["commit_index"],
                health["applied_index"],
                health["reason"]
            ));
        }
        applied.push(health["applied_index"].as_u64());
    }
    if applied.windows(2).any(|w| w[0] != w[1]) {
        return Err(format!("applied indexes differ: {applied:?}"));
    }
    let queue = get(nodes[0], "/replication-queue").await?.json();
    if queue["total"].as_u64() != Some(0) {
        let first = queue["entries"].get(0).or_else(|| queue["blocked"].get(0));
        return Err(format!("repair queue holds {}: {}", queue["total"], first.unwrap_or(&queue)));
    }
    let mut listings = Vec::new();
    for node in nodes {
        let answer = get(*node, "/files?deleted=true&limit=1000").await?;
        listings.push(answer.body);
    }
    if listings.windows(2).any(|w| w[0] != w[1]) {
        return Err("nodes list different files".to_owned());
    }
    let files: Value = serde_json::from_slice(&listings[0]).unwrap_or(Value::Null);
    for file in files["files"].as_array().into_iter().flatten() {
        if file["deleted"] == Value::Bool(true) {
            continue;
        }
        for version in file["versions"].as_array().into_iter().flatten() {
            for chunk in version["chunks"].as_array().into_iter().flatten() {
                let copies = chunk["replicas"].as_array().map_or(0, Vec::len);
                if copies < replication_factor {
                    return Err(format!(
                        "{} v{} chunk {} has {copies} copies",
                        file["path"], version["version"], chunk["hash"]
                    ));
                }
            }
        }
    }
    Ok(files)
}

/// `Ok` when fsck finds every copy of every chunk good and every node answering.
async fn fsck_clean(nodes: &[SocketAddr]) -> Result<(), String> {
    let fsck = get(nodes[0], "/fsck").await?.json();
    if fsck["problems_total"].as_u64() != Some(0)
        || fsck["nodes_unreachable"].as_object().is_some_and(|m| !m.is_empty())
    {
        return Err(format!("fsck: {} problems", fsck["problems_total"]));
    }
    Ok(())
}

/// One consistent read of every path per node, added to the history (so the linearizability
/// checker also covers the final state).
async fn final_reads(nodes: &[SocketAddr], history: &Rc<RefCell<History>>, trace: &Trace) {
    for path in workload::all_paths() {
        for node in nodes {
            let invoked = crate::now();
            let ret = workload::perform(*node, &path, &Call::Read, Bytes::new()).await;
            let completed = (ret != Return::Unknown).then(crate::now);
            trace.line(format!("final read {path} -> {}", workload::ret_text(&ret)));
            let op =
                Op { client: 0, path: path.clone(), call: Call::Read, invoked, completed, ret };
            history.borrow_mut().ops.push(op);
        }
    }
}

/// One consistent listing of every folder of the tree per node, added to the tree history (the
/// tree is only two levels deep, so these show its whole final state to the checker).
async fn final_listings(nodes: &[SocketAddr], history: &Rc<RefCell<History>>, trace: &Trace) {
    for path in workload::tree::folders() {
        for node in nodes {
            let call = TreeCall::List { path: path.clone() };
            let done = workload::tree::perform_and_record(0, *node, call, Bytes::new(), history);
            let done = done.await;
            trace.line(format!("final {done}"));
        }
    }
}

/// Reads back every acknowledged version of the never-deleted paths; the ones that do not match.
/// A node that cannot answer now (no leader, a link being re-established) is not a lost write:
/// the read moves on to the next node, and keeps trying until [`DURABILITY_PATIENCE`] after the
/// pass began. Only a wrong body, a definite "no such version" or a pass out of patience counts.
async fn durability(nodes: &[SocketAddr], history: &[Op]) -> Vec<String> {
    let give_up = crate::now() + DURABILITY_PATIENCE;
    let mut lost = Vec::new();
    for (n, op) in history.iter().enumerate() {
        let (Return::Written(version), Some(hash)) = (&op.ret, written_hash(&op.call)) else {
            continue;
        };
        let never_deleted = op.path.starts_with("/sim/k")
            || op.path.starts_with(&format!("/{}/", workload::s3::PLAIN));
        if !never_deleted {
            continue;
        }
        let url = format!("/files{}?version={version}&consistent=true", op.path);
        let mut attempt = 0;
        let failure = loop {
            let node = nodes[(n + attempt) % nodes.len()];
            let got = client::call(node, Method::GET, &url, &[], Bytes::new(), PROBE_TIMEOUT * 5);
            let failure = match got.await {
                Ok(answer) if answer.status == 200 => {
                    let have = blake3::hash(&answer.body).to_hex().to_string();
                    break (have != *hash).then(|| format!("read back {have}, wrote {hash}"));
                }
                Ok(answer) if answer.status == 404 || answer.status == 410 => {
                    break Some(format!("answered {}", answer.status));
                }
                Ok(answer) => format!("answered {}", answer.status),
                Err(error) => error.to_string(),
            };
            attempt += 1;
            if attempt >= nodes.len() && crate::now() >= give_up {
                break Some(failure);
            }
            if attempt % nodes.len() == 0 {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        };
        if let Some(failure) = failure {
            lost.push(format!("{} v{version}: {failure}", op.path));
        }
    }
    lost
}

fn written_hash(call: &Call) -> Option<&String> {
    match call {
        Call::Put { hash, .. }
        | Call::PutIfAbsent { hash, .. }
        | Call::PutIfVersion { hash, .. } => Some(hash),
        Call::Delete | Call::Remove | Call::Read => None,
    }
}
