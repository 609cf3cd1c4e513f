//! Checkers run at the end of every seed (DESIGN §1 sim). Raft safety, durability and convergence
//! are judged from what the probe gathered ([`crate::probe`]); linearizability here.

pub mod linear;
