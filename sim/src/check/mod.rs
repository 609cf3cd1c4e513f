//! Checkers run at the end of every seed (DESIGN §1 sim). Durability and convergence are judged
//! from what the probe gathered ([`crate::probe`]), leaders per term there too; here:
//! linearizability per path ([`linear`]) and of the folder tree as one object ([`tree`]), both
//! through one search ([`search`]), committed raft log entries ([`raft_log`]), the rule for
//! orphaned chunks ([`garbage`]), the answers to replayed idempotency keys ([`replay`]) and to
//! the chunk thief ([`thief`]), and, as writes are acknowledged, the write quorum ([`quorum`]).

pub mod garbage;
pub mod linear;
pub mod quorum;
pub mod raft_log;
pub mod replay;
pub mod search;
pub mod thief;
pub mod tree;
