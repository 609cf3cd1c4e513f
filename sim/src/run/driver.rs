//! The fault driver of a run: starts and ends the scheduled faults on the simulation (partitions,
//! held and slow links, crashes and power loss, disk errors, full disks, rotted chunks).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use turmoil::fs::FsHandle;

use super::{node_name, LATENCY_MAX};
use crate::disk;
use crate::faults::{Fault, FireCounts, Scheduled};
use crate::platform::{self, DiskFaults};
use crate::probe;
use crate::trace::Trace;
use crate::workload;

/// Applies the fault schedule to the simulation.
pub(super) struct Driver {
    pub(super) nodes: usize,
    /// Faults not started yet, the next last.
    pub(super) pending: Vec<Scheduled>,
    /// Faults started and not ended, with the nodes each took down.
    pub(super) active: Vec<(Duration, Fault, Vec<usize>)>,
    pub(super) fired: FireCounts,
    pub(super) disk_faults: Vec<Arc<DiskFaults>>,
    pub(super) fs_handles: Rc<RefCell<BTreeMap<usize, FsHandle>>>,
    pub(super) report: probe::Shared,
    pub(super) trace: Trace,
    /// The live chunks to rot, and the reads through rot to make.
    pub(super) rot: workload::rot::Shared,
    pub(super) rng: ChaCha8Rng,
}

impl Driver {
    /// Starts and ends the faults due now; heals everything at `faults_end`.
    pub(super) fn tick(&mut self, sim: &mut turmoil::Sim, faults_end: Duration) {
        let now = sim.elapsed();
        while self.pending.last().is_some_and(|s| s.at <= now) {
            let Some(next) = self.pending.pop() else { break };
            if let Some(down) = self.start(sim, &next.fault, now) {
                self.active.push((next.until, next.fault, down));
            }
        }
        let (ended, active): (Vec<_>, Vec<_>) =
            self.active.drain(..).partition(|(until, _, _)| *until <= now || now >= faults_end);
        self.active = active;
        for (_, fault, down) in ended {
            self.end(sim, &fault, &down, now);
        }
    }

    /// Nodes a crash or power loss holds down now.
    fn down(&self) -> Vec<usize> {
        self.active.iter().flat_map(|(_, _, down)| down.iter().copied()).collect()
    }

    /// Starts `fault`; the nodes it took down, or `None` if it did not fire.
    fn start(
        &mut self,
        sim: &mut turmoil::Sim,
        fault: &Fault,
        now: Duration,
    ) -> Option<Vec<usize>> {
        let name = node_name;
        let mut down = Vec::new();
        match fault {
            Fault::Partition { side } => {
                for &a in side {
                    for b in (0..self.nodes).filter(|b| !side.contains(b)) {
                        sim.partition(name(a), name(b));
                    }
                }
            }
            Fault::OneWay { from, to } => sim.partition_oneway(name(*from), name(*to)),
            Fault::Hold { a, b } => sim.hold(name(*a), name(*b)),
            Fault::Latency { max } => sim.set_max_message_latency(*max),
            Fault::Crash { node } => {
                let node = node.or(self.report.borrow().leader)?;
                if self.down().contains(&node) {
                    return None;
                }
                platform::power_cut(|| sim.crash(name(node)));
                crate::durable::crashed(node);
                down.push(node);
            }
            Fault::PowerLoss => {
                let already = self.down();
                down = (0..self.nodes).filter(|n| !already.contains(n)).collect();
                for &node in &down {
                    platform::power_cut(|| sim.crash(name(node)));
                    crate::durable::crashed(node);
                }
            }
            Fault::DiskErrors { node } => {
                self.disk_faults[*node].io_errors.store(true, Ordering::Relaxed)
            }
            Fault::DiskFull { node } => self.disk_faults[*node].full.store(true, Ordering::Relaxed),
            Fault::Corrupt { node } => {
                let handles = self.fs_handles.borrow();
                let mut rot = self.rot.borrow_mut();
                let (chunk, path) = corrupt_one(handles.get(node)?, &rot.live, &mut self.rng)?;
                let used_by = path.as_deref().map(|p| format!(" of {p}")).unwrap_or_default();
                self.trace.line_at(now, format!("corrupt n{} chunk {chunk}{used_by}", node + 1));
                rot.reads.extend(path.map(|path| (*node, path)));
            }
        }
        *self.fired.entry(fault.kind()).or_default() += 1;
        let target = match (fault, down.as_slice()) {
            (Fault::Crash { .. }, [node]) => format!(" (n{})", node + 1),
            _ => String::new(),
        };
        self.trace.line_at(now, format!("fault {fault:?}{target}"));
        Some(down)
    }

    /// Ends `fault`, restarting the nodes it took down.
    fn end(&mut self, sim: &mut turmoil::Sim, fault: &Fault, down: &[usize], now: Duration) {
        let name = node_name;
        match fault {
            Fault::Partition { side } => {
                for &a in side {
                    for b in (0..self.nodes).filter(|b| !side.contains(b)) {
                        sim.repair(name(a), name(b));
                    }
                }
            }
            Fault::OneWay { from, to } => sim.repair_oneway(name(*from), name(*to)),
            Fault::Hold { a, b } => sim.release(name(*a), name(*b)),
            Fault::Latency { .. } => sim.set_max_message_latency(LATENCY_MAX),
            Fault::Crash { .. } | Fault::PowerLoss => {
                for &node in down {
                    sim.bounce(name(node));
                }
            }
            Fault::DiskErrors { node } => {
                self.disk_faults[*node].io_errors.store(false, Ordering::Relaxed)
            }
            Fault::DiskFull { node } => {
                self.disk_faults[*node].full.store(false, Ordering::Relaxed)
            }
            Fault::Corrupt { .. } => return,
        }
        self.trace.line_at(now, format!("heal {fault:?}"));
    }
}

/// Flips one byte of one stored chunk on a host's file system, one a live file uses (`live`:
/// chunk → path) when the host holds any; the chunk's short name and that file's path, or
/// `None` if the host stores no chunk.
fn corrupt_one(
    handle: &FsHandle,
    live: &BTreeMap<String, String>,
    rng: &mut ChaCha8Rng,
) -> Option<(String, Option<String>)> {
    use std::os::unix::fs::FileExt;
    use turmoil::fs::shim::std::fs;
    let files = disk::chunk_files(handle);
    let used_by = |path: &PathBuf| {
        let name = path.file_name()?.to_string_lossy().into_owned();
        live.get(&name).cloned()
    };
    let wanted: Vec<&PathBuf> = files.iter().filter(|f| used_by(f).is_some()).collect();
    let path = match (wanted.is_empty(), files.is_empty()) {
        (false, _) => wanted[rng.gen_range(0..wanted.len())],
        (true, false) => &files[rng.gen_range(0..files.len())],
        (true, true) => return None,
    };
    let _inside = handle.enter();
    let file = fs::OpenOptions::new().read(true).write(true).open(path).ok()?;
    let len = file.metadata().ok()?.len();
    if len == 0 {
        return None;
    }
    let at = rng.gen_range(0..len);
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, at).ok()?;
    file.write_all_at(&[byte[0] ^ 0x5a], at).ok()?;
    file.sync_all().ok()?;
    let name = path.file_name().map(|n| n.to_string_lossy()[..12].to_owned())?;
    Some((name, used_by(path)))
}
