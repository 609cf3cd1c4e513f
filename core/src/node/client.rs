//! Taking client commands (DESIGN §2 "write", "failover"): admission (bounded pending table),
//! proposing through raft (followers forward to the leader), membership pre-checks, and the
//! `Timeout` answer for commands not seen to commit in time.

use raft::eraftpb::{ConfChangeSingle, ConfChangeType, ConfChangeV2};

use crate::command::{Command, MemberRole};
use crate::error::CommandError;
use crate::ids::RequestId;
use crate::output::Role;
use crate::proposals::Proposal;

use super::{Node, RemovalShortfall};

impl Node {
    pub(super) fn on_client(&mut self, request: RequestId, command: Command) {
        if self.is_removed() {
            // Its proposals would commit unseen (nobody sends it the log any more): refuse.
            return self.reply_err(request, CommandError::Removed { node: self.config.id });
        }
        if self.pending.len() >= self.config.proposals_pending_max {
            let max = self.config.proposals_pending_max;
            return self.reply_err(request, CommandError::Overloaded { max });
        }
        let membership = self.conf_change_for(&command);
        let proposal =
            Proposal { origin: self.config.id, incarnation: self.incarnation, request, command };
        let proposed = match membership {
            None => self.consensus.propose(proposal.encode()).map_err(|_| self.not_leader()),
            Some(Ok(change)) => self
                .consensus
                .propose_conf_change(proposal.encode(), change)
                .map_err(|_| self.not_leader()),
            Some(Err(error)) => Err(error),
        };
        match proposed {
            Ok(()) => {
                let deadline = self.now.saturating_add(self.config.proposal_timeout);
                self.pending.insert(request, deadline, self.consensus.term());
            }
            Err(error) => self.reply_err(request, error),
        }
    }

    /// For a membership command: the raft change to propose, or why it is refused up front.
    fn conf_change_for(&mut self, command: &Command) -> Option<Result<ConfChangeV2, CommandError>> {
        let (node, change_type) = match *command {
            Command::AddNode { node, role: MemberRole::Voter } => (node, ConfChangeType::AddNode),
            Command::AddNode { node, role: MemberRole::Learner } => {
                (node, ConfChangeType::AddLearnerNode)
            }
            Command::RemoveNode { node } => (node, ConfChangeType::RemoveNode),
            _ => return None,
        };
        Some(self.check_membership(command).map(|()| {
            let mut single = ConfChangeSingle::default();
            single.set_change_type(change_type);
            single.node_id = node.0;
            let mut change = ConfChangeV2::default();
            change.set_changes(vec![single].into());
            change
        }))
    }

    fn check_membership(&mut self, command: &Command) -> Result<(), CommandError> {
        if self.consensus.role() != Role::Leader {
            return Err(self.not_leader());
        }
        if self.consensus.has_pending_conf_change() {
            return Err(CommandError::MembershipChangeInProgress);
        }
        let conf = self.consensus.store().conf_state();
        match *command {
            Command::AddNode { node, .. } if node.0 == 0 => Err(CommandError::UnknownNode { node }),
            Command::AddNode { node, role } => {
                let set = if role == MemberRole::Voter { &conf.voters } else { &conf.learners };
                if set.contains(&node.0) {
                    Err(CommandError::AlreadyMember { node })
                } else {
                    Ok(())
                }
            }
            Command::RemoveNode { node } if node == self.config.id => {
                // Leaders never propose their own removal: they hand over first.
                match self.hand_off() {
                    Some(target) => Err(CommandError::NotLeader { leader_hint: Some(target) }),
                    None => Err(CommandError::MembershipRefused),
                }
            }
            Command::RemoveNode { node } => {
                if conf.voters == [node.0] {
                    Err(CommandError::MembershipRefused)
                } else if !conf.voters.contains(&node.0) && !conf.learners.contains(&node.0) {
                    Err(CommandError::UnknownNode { node })
                } else if let short @ RemovalShortfall { chunks: 1.., .. } =
                    self.removal_shortfall(node)
                {
                    let replication_factor = self.config.replication_factor;
                    let (chunks, sole) = (short.chunks, short.sole);
                    Err(CommandError::NotDrained { node, chunks, sole, replication_factor })
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Asks another voter to take over leadership; returns it.
    pub(super) fn hand_off(&mut self) -> Option<crate::ids::NodeId> {
        let target = self.consensus.hand_off_leadership();
        if let Some(target) = target {
            tracing::info!(node = %self.config.id, %target, "handing leadership over");
        }
        target
    }

    /// Where a client should go instead of here.
    fn not_leader(&self) -> CommandError {
        match self.consensus.leader() {
            Some(leader) if leader != self.config.id => {
                CommandError::NotLeader { leader_hint: Some(leader) }
            }
            _ => CommandError::NoLeader,
        }
    }

    pub(super) fn expire_requests(&mut self) {
        let stale = self.pending.expire_before(self.consensus.term());
        for request in self.pending.expire(self.now).into_iter().chain(stale) {
            tracing::debug!(node = %self.config.id, %request, "request timed out waiting for commit");
            self.reply_err(request, CommandError::Timeout);
        }
    }

    fn reply_err(&mut self, request: RequestId, error: CommandError) {
        self.answer(request, Err(error));
    }
}
