//! Heartbeats (DESIGN §2 "heartbeats & failure detection"): every node reports its usage to the
//! leader each `heartbeat_interval`; the leader answers with its view and proposes the health
//! changes its detector sees.

use crate::command::Command;
use crate::health::{ClusterView, Detector, Health, Usage};
use crate::ids::NodeId;
use crate::output::{Output, Role};
use crate::wire::Message;

use super::Node;

impl Node {
    /// Sends this node's heartbeat when due (at once when a new leader becomes known); on the
    /// leader, also judges every member.
    pub(super) fn tick_health(&mut self) {
        let leading = self.consensus.role() == Role::Leader;
        if leading != self.detector.is_some() {
            self.detector = leading.then(|| Detector::new(self.now));
            let (me, term) = (self.config.id, self.consensus.term());
            self.planner = leading
                .then(|| crate::repair::Planner::new(self.config.repair, self.now, me, term));
        }
        let leader = self.consensus.leader();
        if leader != self.heartbeat_to {
            // A new leader hears from us at once: a returning node is seen up without waiting.
            self.heartbeat_to = leader;
            self.next_heartbeat = self.now;
        }
        if self.now < self.next_heartbeat {
            return;
        }
        self.next_heartbeat = self.now.saturating_add(self.config.health.heartbeat_interval);
        match (leader, self.detector.as_mut()) {
            (_, Some(detector)) => {
                detector.heard(self.config.id, self.usage, self.now);
                let members = self.namespace.members();
                detector.retain(|node| members.contains_key(&node));
                let commit = self.consensus.commit();
                self.view = detector.view(members.keys().copied(), commit, self.now);
                self.judge_members();
            }
            (Some(leader), None) if leader != self.config.id => {
                let message = Message::Heartbeat(self.usage);
                self.outputs.push_back(Output::Send { to: leader, message });
            }
            _ => {}
        }
    }

    /// On the leader: proposes every health change the detector sees.
    fn judge_members(&mut self) {
        let Some(detector) = self.detector.as_mut() else { return };
        let members = self.namespace.members();
        let committed = members.iter().map(|(node, member)| (*node, member.health));
        let retry = self.config.health.heartbeat_interval * 2;
        let changes = detector.changes(committed, self.now, &self.config.health, retry);
        for (node, health) in changes {
            tracing::info!(node = %self.config.id, term = %self.consensus.term(), member = %node, health = health.as_str(), "failure detector: member health changed");
            self.propose_internal(Command::SetHealth { node, health });
        }
    }

    /// A member's report (on the leader): record it, answer with the view.
    pub(super) fn on_heartbeat(&mut self, from: NodeId, usage: Usage) {
        let Some(detector) = self.detector.as_mut() else { return };
        if !self.namespace.members().contains_key(&from) {
            return;
        }
        detector.heard(from, usage, self.now);
        let commit = self.consensus.commit();
        let view = detector.view(self.namespace.members().keys().copied(), commit, self.now);
        self.outputs.push_back(Output::Send { to: from, message: Message::View(view) });
        if self.health_of(from) != Health::Up {
            // A returning member: mark it up now, not at the next tick.
            self.judge_members();
        }
    }

    /// The leader's view (on a follower): keep it for placement and status.
    pub(super) fn on_view(&mut self, from: NodeId, view: ClusterView) {
        if self.consensus.leader() == Some(from) {
            self.view_commit = Some(view.commit);
            self.view = view;
        }
    }

    /// The latest view of every member's usage and silence (the leader's own, or as the leader
    /// last sent it).
    pub fn cluster_view(&self) -> &ClusterView {
        &self.view
    }

    /// The committed health of `node` (`Down` for non-members).
    pub fn health_of(&self, node: NodeId) -> Health {
        self.namespace.members().get(&node).map_or(Health::Down, |m| m.health)
    }
}
