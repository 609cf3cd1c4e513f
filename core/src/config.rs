//! Node configuration (DESIGN §2 "cluster of N nodes"): every duration and limit explicit, with a
//! default an operator can run with, and [`Config::validate`] naming the field that is wrong.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::health::HealthConfig;
use crate::ids::NodeId;
use crate::repair::RepairConfig;

/// How many durable copies a write needs before it is acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteQuorum {
    /// One durable copy.
    One,
    /// A majority of `replication_factor` copies.
    #[default]
    Majority,
    /// Every one of `replication_factor` copies.
    All,
}

impl WriteQuorum {
    /// Durable copies needed for `replication_factor` replicas.
    pub fn copies_needed(self, replication_factor: usize) -> usize {
        match self {
            WriteQuorum::One => 1,
            WriteQuorum::Majority => replication_factor / 2 + 1,
            WriteQuorum::All => replication_factor,
        }
    }
}

/// Everything a [`crate::Node`] needs to know about itself and its cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// This node. Never 0.
    pub id: NodeId,
    /// The voters a brand-new cluster starts with. A node listed here bootstraps the cluster on
    /// first start; a node not listed joins an existing cluster once a member adds it.
    pub initial_voters: Vec<NodeId>,
    /// One raft tick. Heartbeat and election timeouts are counted in ticks.
    pub tick_interval: Duration,
    /// Ticks between leader heartbeats.
    pub heartbeat_ticks: usize,
    /// Smallest election timeout, in ticks (inclusive).
    pub election_ticks_min: usize,
    /// Largest election timeout, in ticks (exclusive).
    pub election_ticks_max: usize,
    /// Largest batch of entries in one append message.
    pub append_bytes_max: u64,
    /// Append messages in flight to one follower.
    pub append_inflight_max: usize,
    /// Applied entries kept in the log before it is compacted into a snapshot.
    pub log_entries_max: u64,
    /// Client commands this node holds while they wait for commit; more are refused.
    pub proposals_pending_max: usize,
    /// How long a client command may wait for commit before it is answered `Timeout`.
    pub proposal_timeout: Duration,
    /// Copies kept of every chunk.
    pub replication_factor: usize,
    /// Durable copies required before a write is acknowledged.
    pub write_quorum: WriteQuorum,
    /// How long one copy of an upload's chunk may take before it counts as failed.
    #[serde(default = "default_write_copy_timeout")]
    pub write_copy_timeout: Duration,
    /// Heartbeat and failure-detector timing.
    pub health: HealthConfig,
    /// Repair, recovery sync, scrub and rebalance pacing.
    pub repair: RepairConfig,
}

/// The default `write_copy_timeout`: longer than the runtime's own chunk transfer timeout (30 s),
/// so a copy normally fails there first, with its reason.
fn default_write_copy_timeout() -> Duration {
    Duration::from_secs(45)
}

impl Config {
    /// The defaults for node `id` in a cluster that starts with `initial_voters`.
    pub fn new(id: NodeId, initial_voters: Vec<NodeId>) -> Self {
        Self {
            id,
            initial_voters,
            tick_interval: Duration::from_millis(10),
            heartbeat_ticks: 5,
            election_ticks_min: 15,
            election_ticks_max: 30,
            append_bytes_max: 1024 * 1024,
            append_inflight_max: 256,
            log_entries_max: 10_000,
            proposals_pending_max: 4096,
            proposal_timeout: Duration::from_secs(5),
            replication_factor: 3,
            write_quorum: WriteQuorum::Majority,
            write_copy_timeout: default_write_copy_timeout(),
            health: HealthConfig::default(),
            repair: RepairConfig::default(),
        }
    }

    /// Checks every field; the error names the first one out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let check = |ok: bool, field, requirement| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::OutOfRange { field, requirement })
            }
        };
        if self.id.0 == 0 {
            return Err(ConfigError::ZeroNodeId);
        }
        check(self.initial_voters.iter().all(|v| v.0 != 0), "initial_voters", "free of node id 0")?;
        let tick_ok = self.tick_interval >= Duration::from_millis(1)
            && self.tick_interval <= Duration::from_secs(10);
        check(tick_ok, "tick_interval", "between 1 ms and 10 s")?;
        check(self.heartbeat_ticks >= 1, "heartbeat_ticks", "at least 1")?;
        check(
            self.election_ticks_min > self.heartbeat_ticks,
            "election_ticks_min",
            "greater than heartbeat_ticks",
        )?;
        check(
            self.election_ticks_max > self.election_ticks_min,
            "election_ticks_max",
            "greater than election_ticks_min",
        )?;
        check(self.append_bytes_max >= 1024, "append_bytes_max", "at least 1024")?;
        check(self.append_inflight_max >= 1, "append_inflight_max", "at least 1")?;
        check(self.log_entries_max >= 16, "log_entries_max", "at least 16")?;
        check(self.proposals_pending_max >= 1, "proposals_pending_max", "at least 1")?;
        check(
            self.proposal_timeout >= self.tick_interval,
            "proposal_timeout",
            "at least one tick_interval",
        )?;
        check(
            self.write_copy_timeout >= self.tick_interval,
            "write_copy_timeout",
            "at least one tick_interval",
        )?;
        check(self.replication_factor >= 1, "replication_factor", "at least 1")?;
        let h = &self.health;
        check(
            h.heartbeat_interval >= self.tick_interval,
            "heartbeat_interval",
            "at least one tick_interval",
        )?;
        check(
            h.suspect_after > h.heartbeat_interval,
            "suspect_after",
            "longer than heartbeat_interval",
        )?;
        check(h.down_after > h.suspect_after, "down_after", "longer than suspect_after")?;
        check(h.reassign_after >= h.down_after, "reassign_after", "at least down_after")?;
        let r = &self.repair;
        check(r.interval >= self.tick_interval, "repair_interval", "at least one tick_interval")?;
        check(r.bytes_per_sec >= 1, "repair_bytes_per_sec", "at least 1")?;
        check(r.jobs_max >= 1, "repair_jobs_max", "at least 1")?;
        check(r.backoff_max >= r.backoff_base, "repair_backoff_max", "at least backoff_base")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Config::new(NodeId(1), vec![NodeId(1)]).validate(), Ok(()));
    }

    #[test]
    fn each_bad_field_is_named() {
        let base = Config::new(NodeId(1), vec![NodeId(1)]);
        let mut zero = base.clone();
        zero.id = NodeId(0);
        assert_eq!(zero.validate(), Err(ConfigError::ZeroNodeId));
        let mut election = base.clone();
        election.election_ticks_max = election.election_ticks_min;
        assert!(matches!(
            election.validate(),
            Err(ConfigError::OutOfRange { field: "election_ticks_max", .. })
        ));
        let mut heartbeat = base.clone();
        heartbeat.election_ticks_min = heartbeat.heartbeat_ticks;
        assert!(matches!(
            heartbeat.validate(),
            Err(ConfigError::OutOfRange { field: "election_ticks_min", .. })
        ));
        let mut rf = base;
        rf.replication_factor = 0;
        assert!(matches!(
            rf.validate(),
            Err(ConfigError::OutOfRange { field: "replication_factor", .. })
        ));
    }

    #[test]
    fn quorum_counts() {
        assert_eq!(WriteQuorum::One.copies_needed(3), 1);
        assert_eq!(WriteQuorum::Majority.copies_needed(3), 2);
        assert_eq!(WriteQuorum::Majority.copies_needed(4), 3);
        assert_eq!(WriteQuorum::All.copies_needed(3), 3);
    }
}
