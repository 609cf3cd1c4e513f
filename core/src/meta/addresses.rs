//! Member addresses in the namespace (issue 23, [`crate::membership`]): where each node listens,
//! recorded through raft so every member dials a node that joined by address, or moved.

use std::collections::BTreeMap;

use super::Namespace;
use crate::command::Change;
use crate::error::CommandError;
use crate::ids::NodeId;
use crate::membership::{self, JoinRefused, MemberAddrs, ADDRESSES_MAX};

impl Namespace {
    /// `SetNodeAddrs`: records where `node` listens (checked by [`membership::check`]; at most
    /// [`ADDRESSES_MAX`] nodes). The node need not be a member yet: a joining node's addresses
    /// are recorded just before the membership change that adds it.
    pub(super) fn set_node_addrs(
        &mut self,
        node: NodeId,
        addrs: MemberAddrs,
    ) -> Result<Change, CommandError> {
        membership::check(node, &addrs).map_err(CommandError::BadNodeAddrs)?;
        if !self.addresses.contains_key(&node) && self.addresses.len() >= ADDRESSES_MAX {
            return Err(CommandError::BadNodeAddrs(JoinRefused::TooMany));
        }
        self.addresses.insert(node, addrs);
        Ok(Change::NodeAddrsSet { node, addrs })
    }

    /// Where each node listens, as recorded (members and nodes still joining).
    pub fn member_addrs(&self) -> &BTreeMap<NodeId, MemberAddrs> {
        &self.addresses
    }
}
