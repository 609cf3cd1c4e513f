//! # dfs-core: every rule of dfs as pure transitions
//!
//! The contract (DESIGN.md §1 "core"):
//! - **No I/O.** No sockets, files, threads or tokio. Effects leave as [`Output`]s; their results
//!   come back as [`Input`]s.
//! - **Time is an input.** Every call takes `now` as an [`Instant`]; nothing reads a clock.
//! - **Randomness is owned.** Each [`Node`] owns a ChaCha8 RNG seeded by its caller
//!   ([`rng::node_rng`]); raft's election timeouts are drawn from it.
//! - **Deterministic.** The same config, seed and timed inputs give the same outputs, byte for
//!   byte. Only `BTreeMap`/`BTreeSet` are iterated.
//!
//! A driver runs: `handle(now, input)`, then `poll_output()` until `None`, then waits until
//! `poll_timeout()` or the next input. Outputs may run concurrently, except that `Persist`
//! outputs are made durable in emission order.
//!
//! Where things live: [`node`] dispatches; `consensus` wraps tikv's raft; [`meta`] is the
//! replicated namespace; [`proposals`] tracks client commands through raft; [`wire`] is the peer
//! protocol; [`command`] and [`error`] are what clients see.

pub mod auth;
pub mod command;
pub mod config;
pub(crate) mod consensus;
pub mod error;
pub mod gc;
pub mod health;
pub mod ids;
pub mod input;
pub mod membership;
pub mod meta;
pub mod node;
pub mod output;
pub mod path;
pub mod placement;
pub mod proposals;
pub(crate) mod reads;
pub mod repair;
pub mod rng;
pub mod s3;
pub mod time;
pub mod wire;
pub mod write;

#[cfg(feature = "testing")]
pub mod testing;

pub use command::{Change, Command, Reply};
pub use config::{Config, WriteQuorum};
pub use error::{CommandError, ConfigError, WireError};
pub use ids::{ChunkId, Hash, JobId, LogIndex, NodeId, ReadyNumber, RequestId, Term, Version};
pub use input::Input;
pub use node::{Node, Recovered, Status};
pub use output::{Event, Output, RaftWrite, Role};
pub use path::Path;
pub use time::Instant;
