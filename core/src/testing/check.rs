//! Safety checks the harness runs after every step (DESIGN §1 sim checkers 4 and 5): one leader
//! per term, committed entries never change, pending work stays bounded.

use std::collections::BTreeMap;
use std::fmt;

use crate::ids::{Hash, LogIndex, NodeId, Term};
use crate::node::Node;
use crate::output::{Event, Output, Role};

/// A broken safety property, with what is needed to find it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Two nodes led the same term.
    TwoLeaders {
        /// The term.
        term: Term,
        /// The first leader seen.
        first: NodeId,
        /// The second.
        second: NodeId,
    },
    /// A node applied an entry that differs from one applied elsewhere at the same index.
    CommittedEntryChanged {
        /// The index.
        index: LogIndex,
        /// The node that disagrees.
        node: NodeId,
    },
    /// A node holds more pending requests than its limit.
    PendingUnbounded {
        /// The node.
        node: NodeId,
        /// How many it holds.
        pending: usize,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::TwoLeaders { term, first, second } => {
                write!(f, "two leaders in {term}: {first} and {second}")
            }
            Violation::CommittedEntryChanged { index, node } => {
                write!(f, "{node} applied a different entry at {index}")
            }
            Violation::PendingUnbounded { node, pending } => {
                write!(f, "{node} holds {pending} pending requests, over its limit")
            }
        }
    }
}

/// What the checker has seen so far across the run.
#[derive(Debug, Default)]
pub struct Checker {
    leaders: BTreeMap<Term, NodeId>,
    applied: BTreeMap<LogIndex, (Term, Hash)>,
    checked_to: BTreeMap<NodeId, LogIndex>,
    violations: Vec<Violation>,
}

impl Checker {
    /// Notes a leader from a node's `RoleChanged` output.
    pub fn observe(&mut self, node: NodeId, output: &Output) {
        if let Output::Event(Event::RoleChanged { term, role: Role::Leader, .. }) = output {
            let first = *self.leaders.entry(*term).or_insert(node);
            if first != node {
                self.violations.push(Violation::TwoLeaders { term: *term, first, second: node });
            }
        }
    }

    /// Compares the entries `node` applied since the last check with what others applied.
    pub fn check_node(&mut self, node: &Node) {
        let status = node.status();
        let from = self.checked_to.get(&status.id).copied().unwrap_or(LogIndex(0));
        for index in (from.0 + 1)..=status.applied.0 {
            let Some(digest) = node.entry_digest(LogIndex(index)) else { continue };
            let seen = *self.applied.entry(LogIndex(index)).or_insert(digest);
            if seen != digest {
                let violation =
                    Violation::CommittedEntryChanged { index: LogIndex(index), node: status.id };
                self.violations.push(violation);
            }
        }
        self.checked_to.insert(status.id, status.applied.max(from));
        if status.pending_requests > node.config().proposals_pending_max {
            let pending = status.pending_requests;
            self.violations.push(Violation::PendingUnbounded { node: status.id, pending });
        }
    }

    /// Forgets how far `node` was checked (it restarted and re-applies from its snapshot).
    pub fn restarted(&mut self, node: NodeId) {
        self.checked_to.remove(&node);
    }

    /// Every violation seen, oldest first.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// The leader of each term seen.
    pub fn leaders(&self) -> &BTreeMap<Term, NodeId> {
        &self.leaders
    }
}
