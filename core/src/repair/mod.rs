//! Keeping every live chunk at `replication_factor` copies (DESIGN §2 "replication queue",
//! "re-replication", "recovery sync", "scrub", "rebalance"). Three rule sets, all pure:
//! - [`Planner`] (leader only): derives the replication queue from the committed namespace (the
//!   chunk replica index and member health/state) and the failure detector, starts node-to-node
//!   copies within a bandwidth limit, retries failures with exponential backoff, drops copies that
//!   are no longer needed, drains leaving nodes and rebalances usage. Because the queue is derived
//!   from committed state, a new leader rebuilds it as it was.
//! - [`Resync`] (every node): compares this node's inventory with what the index says it holds,
//!   pulls what it lacks, drops copies nobody needs and claims useful ones the index forgot.
//! - [`Scrub`] (every node): re-hashes this node's copies at a bounded rate; a bad copy leaves the
//!   index, so the planner replaces it from a good one.

mod assess;
mod bucket;
pub mod explain;
mod plan;
mod queue;
mod resync;
mod scrub;
#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use assess::{assess, live_chunks, Assessment};
pub use bucket::Bucket;
pub use plan::{PassContext, Planner, PlannerAction, FAILURES_RECENT};
pub use queue::{Blocked, DoneEntry, QueueEntry, QueueView, TaskKind, TaskState};
pub use resync::{RecoverySummary, Resync, ResyncAction};
pub use scrub::{Scrub, ScrubProgress};

/// Largest chunk the chunker makes; buckets always hold at least this much.
pub const CHUNK_BYTES_MAX: u64 = 8 << 20;

/// Repair pacing and limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairConfig {
    /// How often the leader re-derives the queue.
    pub interval: Duration,
    /// Bandwidth limit of repair and rebalance copies started by the leader, and of recovery
    /// pulls on each node, in bytes per second.
    pub bytes_per_sec: u64,
    /// Copies in flight at once (leader), and pulls in flight at once (each node).
    pub jobs_max: usize,
    /// First retry delay after a failed copy; doubles per attempt.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Scrub's read rate on each node, in bytes per second; 0 turns scrub off.
    pub scrub_bytes_per_sec: u64,
    /// Rest between two scrub passes over a node's copies.
    pub scrub_rest: Duration,
    /// Rebalance starts when the fullest and emptiest up nodes differ by more than this percent
    /// of the mean usage; 0 turns rebalance off.
    pub rebalance_tolerance_pct: u64,
    /// A copy the index does not list is dropped only once older than this (a copy that just
    /// arrived may not be recorded yet).
    pub extra_copy_min_age: Duration,
}

impl Default for RepairConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(500),
            bytes_per_sec: 1 << 30,
            jobs_max: 16,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            scrub_bytes_per_sec: 16 << 20,
            scrub_rest: Duration::from_secs(600),
            rebalance_tolerance_pct: 10,
            extra_copy_min_age: Duration::from_secs(300),
        }
    }
}

/// The retry delay after `attempts` failures.
pub fn backoff(config: &RepairConfig, attempts: u32) -> Duration {
    let factor = 1u32.checked_shl(attempts.saturating_sub(1).min(20)).unwrap_or(u32::MAX);
    config.backoff_base.saturating_mul(factor).min(config.backoff_max)
}
