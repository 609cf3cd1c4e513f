//! Checkers run at the end of every seed (DESIGN §1 sim). Raft safety, durability and convergence
//! are judged from what the probe gathered ([`crate::probe`]); linearizability here: per path
//! ([`linear`]) and of the folder tree as one object ([`tree`]), both through one search
//! ([`search`]).

pub mod linear;
pub mod search;
pub mod tree;
