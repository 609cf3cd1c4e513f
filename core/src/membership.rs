//! Membership by address (issue 23): every member's addresses live in the replicated namespace,
//! so a node that knows one member (a *seed*) and the cluster secret can join without any other
//! member's config changing, and a member that restarts on new ports is found again.
//!
//! Two pure rules, one for each side of a join request:
//! - [`next_request`]: what a node asks the leader for, given what its replica says about it
//!   (register or correct its addresses; join as a learner; become a voter once caught up);
//! - [`answer`]: the commands the leader proposes for a request, in order (addresses first, so
//!   every member can dial the node by the time the membership change commits).
//!
//! The runtime carries requests and proposes the commands; the decisions are here.

use core::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::command::{Command, MemberRole};
use crate::ids::NodeId;

/// Most member addresses the namespace records (a node id with addresses but no membership,
/// left by a join that did not finish, counts too).
pub const ADDRESSES_MAX: usize = 1024;

/// Where a member listens: raft traffic and the HTTP API (chunk transfer, forwarding).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MemberAddrs {
    /// The peer (raft) listener.
    pub peer: SocketAddr,
    /// The HTTP listener.
    pub http: SocketAddr,
}

impl MemberAddrs {
    /// Whether both addresses can be dialed (a specified IP and a port other than 0).
    pub fn is_dialable(&self) -> bool {
        [self.peer, self.http].iter().all(|a| !a.ip().is_unspecified() && a.port() != 0)
    }
}

/// A node's request to the leader: record these addresses for it, and (when `role` is given)
/// make it a member with that role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The node asking.
    pub node: NodeId,
    /// Where it listens.
    pub addrs: MemberAddrs,
    /// The membership it asks for; `None` only updates its addresses.
    pub role: Option<MemberRole>,
}

/// What a node's own replica says about it, for [`next_request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelfView {
    /// The node.
    pub me: NodeId,
    /// The addresses it listens on now.
    pub addrs: MemberAddrs,
    /// The addresses the namespace records for it.
    pub recorded: Option<MemberAddrs>,
    /// Its membership as applied here (`None`: not a member, as far as this replica knows).
    pub role: Option<MemberRole>,
    /// The role it was started to join as (`None`: it joins only when an operator adds it).
    pub joining_as: Option<MemberRole>,
    /// Whether it has applied everything it knows to be committed.
    pub caught_up: bool,
}

/// The request a node sends now, if any: a node that is not a member and was started to join
/// asks to join as a learner (the log reaches it before it can vote); a member whose recorded
/// addresses differ from its own asks to correct them; a learner that joined to be a voter
/// asks for that once it has caught up. A node with nothing to ask sends nothing, and so does
/// one whose own addresses no other member could dial.
pub fn next_request(view: SelfView) -> Option<JoinRequest> {
    if !view.addrs.is_dialable() {
        // Listening on 0.0.0.0 or port 0: nothing another member could dial to record.
        return None;
    }
    let request = |role| JoinRequest { node: view.me, addrs: view.addrs, role };
    match view.role {
        None => view.joining_as.map(|_| request(Some(MemberRole::Learner))),
        Some(_) if view.recorded != Some(view.addrs) => Some(request(None)),
        Some(MemberRole::Learner)
            if view.joining_as == Some(MemberRole::Voter) && view.caught_up =>
        {
            Some(request(Some(MemberRole::Voter)))
        }
        Some(_) => None,
    }
}

/// Why a join request (or a [`Command::SetNodeAddrs`]) is refused; nothing changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum JoinRefused {
    /// Node id 0 is never a member.
    #[error("node id 0 is not a valid member id")]
    ZeroId,
    /// An address is unspecified (`0.0.0.0`) or has port 0: no member could dial it.
    #[error("the addresses {0:?} cannot be dialed (an unspecified IP or port 0)")]
    NotDialable(MemberAddrs),
    /// The namespace records [`ADDRESSES_MAX`] nodes' addresses already.
    #[error("addresses of {ADDRESSES_MAX} nodes are recorded already")]
    TooMany,
}

/// The commands the leader proposes for `request`, in order, given what the namespace records
/// for the node: its addresses when they differ, then the membership change when the request
/// asks for more than the node has (a node that is not a member becomes a learner first, even
/// when it asks to vote). An empty list: nothing to change.
pub fn answer(
    request: &JoinRequest,
    recorded: Option<MemberAddrs>,
    role: Option<MemberRole>,
) -> Result<Vec<Command>, JoinRefused> {
    check(request.node, &request.addrs)?;
    let mut commands = Vec::new();
    if recorded != Some(request.addrs) {
        commands.push(Command::SetNodeAddrs { node: request.node, addrs: request.addrs });
    }
    let node = request.node;
    match (role, request.role) {
        (None, Some(_)) => commands.push(Command::AddNode { node, role: MemberRole::Learner }),
        (Some(MemberRole::Learner), Some(MemberRole::Voter)) => {
            commands.push(Command::AddNode { node, role: MemberRole::Voter });
        }
        _ => {}
    }
    Ok(commands)
}

/// The checks every replica makes before recording `addrs` for `node`.
pub fn check(node: NodeId, addrs: &MemberAddrs) -> Result<(), JoinRefused> {
    if node.0 == 0 {
        return Err(JoinRefused::ZeroId);
    }
    if !addrs.is_dialable() {
        return Err(JoinRefused::NotDialable(*addrs));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
