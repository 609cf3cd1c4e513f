//! Durable state: the raft log, hard state and snapshots in redb ([`raft_log`]), and chunk
//! files ([`chunks`]).

pub mod chunks;
pub mod raft_log;
