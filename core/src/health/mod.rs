//! Heartbeats and failure detection (DESIGN §2 "heartbeats & failure detection"). Every node
//! reports its usage to the leader each `heartbeat_interval`; the leader's [`Detector`] ranks each
//! member up → suspect → down → lost by the age of its last report and proposes every change of state
//! through raft, so all nodes report the same committed [`Health`]. The leader answers each report
//! with its whole [`ClusterView`], so every node also knows everyone's usage (for placement and
//! `GET /nodes`).

mod detector;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ids::{LogIndex, NodeId};

pub use detector::Detector;

/// A member's committed liveness, as decided by the leader's failure detector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Health {
    /// Reporting on time.
    #[default]
    Up,
    /// Missed reports for longer than `suspect_after`: still counted as a holder, but no new
    /// chunks are placed on it.
    Suspect,
    /// Silent for longer than `down_after`: reads skip it; its copies still count.
    Down,
    /// Silent for longer than `reassign_after`: its copies no longer count and are copied
    /// elsewhere (it drops them if it comes back).
    Lost,
}

impl Health {
    /// Lowercase name for status output.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Suspect => "suspect",
            Health::Down => "down",
            Health::Lost => "lost",
        }
    }
}

/// What a node reports about itself in each heartbeat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Usage {
    /// Bytes of chunks stored.
    pub used_bytes: u64,
    /// Chunks stored.
    pub chunk_count: u64,
    /// Free bytes on the chunk store's disk (0 when the driver does not know).
    pub free_bytes: u64,
    /// Size of the chunk store's disk (0 when the driver does not know).
    pub capacity_bytes: u64,
}

/// One node's entry in the leader's view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct NodeReport {
    /// The node.
    pub node: NodeId,
    /// What it last reported (zero if never).
    pub usage: Usage,
    /// Milliseconds since the leader last heard from it; `None` if never since it became leader.
    pub last_heard_ms: Option<u64>,
}

/// The leader's view of every member, sent back on each heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ClusterView {
    /// Members in id order.
    pub nodes: Vec<NodeReport>,
    /// The leader's commit index when it sent this: a node that has applied this far knows
    /// everything committed before its report was answered.
    pub commit: LogIndex,
}

impl ClusterView {
    /// The report for `node`, if present.
    pub fn get(&self, node: NodeId) -> Option<&NodeReport> {
        self.nodes.iter().find(|report| report.node == node)
    }
}

/// The failure detector's timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// How often each node reports to the leader.
    pub heartbeat_interval: Duration,
    /// Silence after which a node is suspect.
    pub suspect_after: Duration,
    /// Silence after which a node is down.
    pub down_after: Duration,
    /// Silence after which a down node's chunks are copied elsewhere.
    pub reassign_after: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_millis(500),
            suspect_after: Duration::from_secs(2),
            down_after: Duration::from_secs(10),
            reassign_after: Duration::from_secs(30),
        }
    }
}
