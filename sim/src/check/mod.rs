//! Checkers run at the end of every seed (DESIGN §1 sim). Durability and convergence are judged
//! from what the probe gathered ([`crate::probe`]), leaders per term there too; linearizability,
//! committed raft log entries and the rule for orphaned chunks here.

pub mod garbage;
pub mod linear;
pub mod raft_log;
