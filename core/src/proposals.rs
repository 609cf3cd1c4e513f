//! Client commands on their way through raft (DESIGN §2 "write", "failover"). A command is
//! proposed as a [`Proposal`] naming the node that took it; when any replica applies the entry,
//! only that node (in the same incarnation) answers the client. A command not seen to apply
//! within `proposal_timeout` is answered `Timeout`, because raft may drop forwarded proposals
//! silently across a leader change; and when the term changes, commands proposed in an older term
//! are answered `Timeout` at once (their fate is unknown, and the client can retry idempotently
//! after the election rather than after the full timeout). The table is bounded by
//! `proposals_pending_max`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::command::Command;
use crate::ids::{NodeId, RequestId, Term};
use crate::time::Instant;

/// The payload of a normal raft entry (and the context of a membership change).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The node whose client asked.
    pub origin: NodeId,
    /// That node's incarnation (drawn at start), so a restarted node never answers for its
    /// previous life's request numbers.
    pub incarnation: u64,
    /// The request number on the origin node.
    pub request: RequestId,
    /// What was asked.
    pub command: Command,
}

impl Proposal {
    /// The bytes stored in the raft entry.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing owned, validated data into a Vec cannot fail.
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes an entry's bytes; `None` when they are not a proposal.
    pub fn decode(bytes: &[u8]) -> Option<Proposal> {
        postcard::from_bytes(bytes).ok()
    }
}

/// Requests this node proposed and has not answered yet.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    deadlines: BTreeMap<RequestId, (Instant, Term)>,
    // INVARIANT: holds exactly the (deadline, request) pairs of `deadlines`.
    by_deadline: BTreeSet<(Instant, RequestId)>,
    // INVARIANT: holds exactly the (term, request) pairs of `deadlines`, so stale terms are found
    // from the front on every input without scanning the table.
    by_term: BTreeSet<(Term, RequestId)>,
}

impl Pending {
    /// How many requests wait.
    pub(crate) fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// Starts waiting for `request` until `deadline`.
    pub(crate) fn insert(&mut self, request: RequestId, deadline: Instant, term: Term) {
        let previous = self.deadlines.insert(request, (deadline, term));
        assert!(previous.is_none(), "driver reused request number {request} while it was pending");
        self.by_deadline.insert((deadline, request));
        self.by_term.insert((term, request));
    }

    /// Stops waiting for `request`; whether it was waiting.
    pub(crate) fn remove(&mut self, request: RequestId) -> bool {
        match self.deadlines.remove(&request) {
            Some((deadline, term)) => {
                self.by_term.remove(&(term, request));
                self.by_deadline.remove(&(deadline, request))
            }
            None => false,
        }
    }

    /// Removes and returns every request proposed in a term before `term`.
    pub(crate) fn expire_before(&mut self, term: Term) -> Vec<RequestId> {
        let mut stale = Vec::new();
        while let Some(&(proposed, request)) = self.by_term.first() {
            if proposed >= term {
                break;
            }
            self.remove(request);
            stale.push(request);
        }
        stale
    }

    /// Removes and returns every request whose deadline is at or before `now`.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<RequestId> {
        let mut expired = Vec::new();
        while let Some(&(deadline, request)) = self.by_deadline.first() {
            if deadline > now {
                break;
            }
            self.remove(request);
            expired.push(request);
        }
        expired
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.first().map(|&(deadline, _)| deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_in_deadline_order_and_bounded_by_now() {
        let mut pending = Pending::default();
        pending.insert(RequestId(2), Instant::from_micros(20), Term(1));
        pending.insert(RequestId(1), Instant::from_micros(10), Term(1));
        pending.insert(RequestId(3), Instant::from_micros(30), Term(2));
        assert_eq!(pending.next_deadline(), Some(Instant::from_micros(10)));
        assert_eq!(pending.expire(Instant::from_micros(20)), vec![RequestId(1), RequestId(2)]);
        assert_eq!(pending.expire_before(Term(2)), Vec::<RequestId>::new());
        assert_eq!(pending.expire_before(Term(3)), vec![RequestId(3)]);
        assert!(!pending.remove(RequestId(3)));
        assert_eq!(pending.len(), 0);
        assert_eq!(pending.next_deadline(), None);
        assert!(pending.by_term.is_empty() && pending.by_deadline.is_empty(), "indexes agree");
    }
}
