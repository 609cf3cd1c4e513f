//! # dfs-sim: the real runtime under seeded faults
//!
//! Each run ([`run::run`]) starts N simulated hosts in turmoil, each running the real dfs runtime
//! ([`dfs_runtime::server::start_on`]) over turmoil's TCP and file system ([`platform`]).
//! Workload clients on their own hosts use the HTTP API and record a history ([`workload`],
//! [`history`]); a fault schedule drawn from the seed partitions, holds and slows links, crashes
//! and restarts nodes (the leader included) and breaks chunk disks ([`faults`]); then faults stop
//! and the probe ([`probe`]) waits for the cluster to settle. The checkers judge the run: no
//! host failure or panic, one leader per term, committed raft entries the same on every node
//! ([`check::raft_log`]), linearizable operations per path ([`check::linear`]) and on a small
//! folder tree taken as one object ([`check::tree`]), every acknowledged version read back
//! byte-exact, convergence with orphaned chunks collected ([`check::garbage`]). The trace
//! ([`trace`]) of a seed is the same on every replay.
//!
//! [`model`] is the older, faster sweep of core nodes on the core's in-memory harness.

pub mod check;
pub mod client;
pub mod disk;
pub mod durable;
pub mod faults;
pub mod history;
pub mod model;
pub mod platform;
pub mod probe;
pub mod run;
pub mod sweep;
pub mod trace;
pub mod workload;

/// Simulated time since the run began (inside a simulated host).
pub fn now() -> std::time::Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}
