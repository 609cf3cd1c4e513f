//! What `dfs bench heal` measures besides time: the CPU the machine and each node used, and
//! the chunk files on each node's disk.

use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};

use super::Cluster;

/// CPU time used while healing: the whole machine's (other users' work included) and each node's.
pub(super) struct CpuMeter {
    started: Instant,
    machine: (f64, f64, f64),
    nodes: Vec<(u64, f64)>,
}

impl CpuMeter {
    pub(super) fn start(cluster: &Cluster) -> Self {
        let nodes = cluster.nodes.iter().map(|n| (n.config.id, cpu_secs(n.child.id()))).collect();
        Self { started: Instant::now(), machine: machine_ticks(), nodes }
    }

    /// Busy and iowait percent of all CPUs, and each node's CPU seconds, since `start`.
    pub(super) fn finish(&self, cluster: &Cluster) -> Value {
        let (busy, iowait, total) = machine_ticks();
        let total = (total - self.machine.2).max(1.0);
        let mut nodes = serde_json::Map::new();
        for node in cluster.nodes.iter().filter(|n| n.child.id().is_some()) {
            let before = self.nodes.iter().find(|(id, _)| *id == node.config.id).map(|n| n.1);
            let used = cpu_secs(node.child.id()) - before.unwrap_or(0.0);
            nodes.insert(format!("n{}", node.config.id), json!(used));
        }
        json!({
            "seconds": self.started.elapsed().as_secs_f64(), "node_cpu_s": nodes,
            "machine_busy_pct": 100.0 * (busy - self.machine.0) / total,
            "machine_iowait_pct": 100.0 * (iowait - self.machine.1) / total,
        })
    }
}

/// User + system CPU seconds of process `pid` (`/proc/<pid>/stat` counts in USER_HZ, 100/s).
fn cpu_secs(pid: Option<u32>) -> f64 {
    let text = pid.and_then(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok());
    let text = text.unwrap_or_default();
    // Fields after the parenthesised command name start at field 3; utime and stime are 14, 15.
    let fields: Vec<&str> =
        text.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// `/proc/stat`'s all-CPU busy, iowait and total ticks.
fn machine_ticks() -> (f64, f64, f64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = text.lines().next().unwrap_or_default();
    let t: Vec<f64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let at = |i: usize| t.get(i).copied().unwrap_or(0.0);
    let total: f64 = t.iter().take(8).sum();
    (total - at(3) - at(4), at(4), total)
}

/// Chunk files and their bytes in one node's chunk store (temp files left out).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Usage {
    pub(super) chunks: u64,
    pub(super) bytes: u64,
}

/// Walks `<data_dir>/chunks/ab/cd/<id>`; a missing or unreadable dir counts as empty.
pub(super) fn disk_usage(chunk_dir: &Path) -> Usage {
    let mut usage = Usage::default();
    let Ok(top) = std::fs::read_dir(chunk_dir) else { return usage };
    for first in top.flatten().filter(|e| e.file_name() != "tmp") {
        let Ok(middle) = std::fs::read_dir(first.path()) else { continue };
        for second in middle.flatten() {
            let Ok(files) = std::fs::read_dir(second.path()) else { continue };
            for file in files.flatten() {
                // A chunk may be dropped between listing and stat; that is not an error.
                if let Ok(meta) = file.metadata() {
                    usage.chunks += 1;
                    usage.bytes += meta.len();
                }
            }
        }
    }
    usage
}
