//! The leader's failure detector: when it last heard from each member, and what that silence
//! means. A new leader has heard from nobody yet, so every member's silence counts from the
//! moment it took over: a leader change never marks a live node down. Nor does it mark a dead
//! one up: a member this leader has not heard from keeps its committed health if that is worse.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::ids::{LogIndex, NodeId};
use crate::time::Instant;

use super::{ClusterView, Health, HealthConfig, NodeReport, Usage};

/// Last reports per member, kept by the leader.
#[derive(Clone, Debug)]
pub struct Detector {
    since: Instant,
    heard: BTreeMap<NodeId, (Instant, Usage)>,
    // Health changes proposed and not yet seen committed, with when they were proposed.
    proposed: BTreeMap<NodeId, (Health, Instant)>,
}

impl Detector {
    /// A detector for a leader that took over at `now`.
    pub fn new(now: Instant) -> Self {
        Self { since: now, heard: BTreeMap::new(), proposed: BTreeMap::new() }
    }

    /// Records a report from `node`.
    pub fn heard(&mut self, node: NodeId, usage: Usage, now: Instant) {
        self.heard.insert(node, (now, usage));
    }

    /// How long `node` has been silent (counted from the takeover if never heard).
    pub fn silence(&self, node: NodeId, now: Instant) -> Duration {
        let last = self.heard.get(&node).map_or(self.since, |(at, _)| *at);
        now.saturating_duration_since(last)
    }

    /// The health `node`'s silence means.
    pub fn judge(&self, node: NodeId, now: Instant, config: &HealthConfig) -> Health {
        let silence = self.silence(node, now);
        if silence >= config.reassign_after {
            Health::Lost
        } else if silence >= config.down_after {
            Health::Down
        } else if silence >= config.suspect_after {
            Health::Suspect
        } else {
            Health::Up
        }
    }

    /// The changes to propose: members whose judged health differs from the committed one and
    /// that are not already proposed (a proposal not seen committed within `retry` is re-sent).
    pub fn changes(
        &mut self,
        committed: impl Iterator<Item = (NodeId, Health)>,
        now: Instant,
        config: &HealthConfig,
        retry: Duration,
    ) -> Vec<(NodeId, Health)> {
        let mut out = Vec::new();
        for (node, health) in committed {
            let mut judged = self.judge(node, now, config);
            if !self.heard.contains_key(&node) {
                judged = judged.max(health);
            }
            if judged == health {
                self.proposed.remove(&node);
                continue;
            }
            let fresh = self.proposed.get(&node).is_some_and(|(proposed, at)| {
                *proposed == judged && now.saturating_duration_since(*at) < retry
            });
            if !fresh {
                self.proposed.insert(node, (judged, now));
                out.push((node, judged));
            }
        }
        out
    }

    /// The last usage `node` reported, if any.
    pub fn usage(&self, node: NodeId) -> Option<Usage> {
        self.heard.get(&node).map(|(_, usage)| *usage)
    }

    /// Adds `bytes` to the usage estimate of `node` (a copy was just scheduled onto it), so the
    /// next placement decision before its next report sees it fuller.
    pub fn charge(&mut self, node: NodeId, bytes: u64) {
        if let Some((_, usage)) = self.heard.get_mut(&node) {
            usage.used_bytes = usage.used_bytes.saturating_add(bytes);
        }
    }

    /// The view sent to every member: each of `members` with its usage and silence, and the
    /// leader's `commit` index.
    pub fn view(
        &self,
        members: impl Iterator<Item = NodeId>,
        commit: LogIndex,
        now: Instant,
    ) -> ClusterView {
        let nodes = members
            .map(|node| {
                let heard = self.heard.get(&node);
                NodeReport {
                    node,
                    usage: heard.map(|(_, usage)| *usage).unwrap_or_default(),
                    last_heard_ms: heard.map(|(at, _)| {
                        u64::try_from(now.saturating_duration_since(*at).as_millis())
                            .unwrap_or(u64::MAX)
                    }),
                }
            })
            .collect();
        ClusterView { nodes, commit }
    }

    /// Forgets members no longer in the cluster.
    pub fn retain(&mut self, is_member: impl Fn(NodeId) -> bool) {
        self.heard.retain(|node, _| is_member(*node));
        self.proposed.retain(|node, _| is_member(*node));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_micros(ms * 1_000)
    }

    #[test]
    fn silence_ranks_up_suspect_down_and_counts_from_takeover() {
        let config = HealthConfig::default();
        let mut detector = Detector::new(at(1_000));
        let n = NodeId(2);
        assert_eq!(detector.judge(n, at(1_000 + 1_999), &config), Health::Up);
        assert_eq!(detector.judge(n, at(1_000 + 2_000), &config), Health::Suspect);
        assert_eq!(detector.judge(n, at(1_000 + 10_000), &config), Health::Down);
        detector.heard(n, Usage::default(), at(20_000));
        assert_eq!(detector.judge(n, at(20_500), &config), Health::Up);
        assert_eq!(detector.judge(n, at(20_000 + 29_999), &config), Health::Down);
        assert_eq!(detector.judge(n, at(20_000 + 30_000), &config), Health::Lost);
    }

    #[test]
    fn changes_are_proposed_once_until_retry() {
        let config = HealthConfig::default();
        let retry = Duration::from_secs(1);
        let mut detector = Detector::new(at(0));
        let committed = || [(NodeId(1), Health::Up), (NodeId(2), Health::Up)].into_iter();
        detector.heard(NodeId(1), Usage::default(), at(2_500));
        let first = detector.changes(committed(), at(2_500), &config, retry);
        assert_eq!(first, vec![(NodeId(2), Health::Suspect)]);
        assert!(detector.changes(committed(), at(2_600), &config, retry).is_empty());
        let again = detector.changes(committed(), at(3_600), &config, retry);
        assert_eq!(again, vec![(NodeId(2), Health::Suspect)], "re-proposed after retry");
        let now_committed = [(NodeId(1), Health::Up), (NodeId(2), Health::Suspect)];
        assert!(detector.changes(now_committed.into_iter(), at(3_700), &config, retry).is_empty());
    }

    #[test]
    fn a_new_leader_keeps_worse_committed_health_until_it_hears_from_the_node() {
        let config = HealthConfig::default();
        let retry = Duration::from_secs(1);
        let mut detector = Detector::new(at(0));
        let committed = || [(NodeId(2), Health::Lost), (NodeId(3), Health::Suspect)].into_iter();
        assert!(detector.changes(committed(), at(100), &config, retry).is_empty());
        detector.heard(NodeId(2), Usage::default(), at(200));
        detector.heard(NodeId(3), Usage::default(), at(200));
        let changes = detector.changes(committed(), at(300), &config, retry);
        assert_eq!(changes, vec![(NodeId(2), Health::Up), (NodeId(3), Health::Up)]);
    }

    #[test]
    fn view_reports_usage_and_silence() {
        let mut detector = Detector::new(at(0));
        let usage = Usage { used_bytes: 10, chunk_count: 1, free_bytes: 5, capacity_bytes: 20 };
        detector.heard(NodeId(1), usage, at(100));
        detector.charge(NodeId(1), 5);
        let view = detector.view([NodeId(1), NodeId(2)].into_iter(), LogIndex(7), at(400));
        assert_eq!(view.commit, LogIndex(7));
        assert_eq!(
            view.get(NodeId(1)).map(|r| (r.usage.used_bytes, r.last_heard_ms)),
            Some((15, Some(300)))
        );
        assert_eq!(view.get(NodeId(2)).map(|r| r.last_heard_ms), Some(None));
    }
}
