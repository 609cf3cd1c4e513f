//! # dfs-runtime
//!
//! The tokio shell that drives one `dfs_core::Node` (DESIGN.md §1 "runtime"): the driver task
//! that owns the node ([`driver`]), the authenticated peer transport ([`transport`],
//! [`handshake`]), the redb raft store and the chunk store ([`store`]), the HTTP API
//! ([`http`]) and the cluster-wide copy check behind `dfs fsck` ([`fsck`]). [`server::start`] puts them together from a [`config::NodeConfig`].

pub mod admin_bootstrap;
pub mod blocking;
pub mod chunker;
pub mod clock;
pub mod config;
pub mod conns;
pub mod discovery;
pub mod driver;
pub mod failpoint;
pub mod feed;
pub mod fsck;
pub mod gc;
pub mod handshake;
pub mod http;
pub mod membership;
pub mod metrics;
pub mod net;
pub mod peers;
pub mod planted;
pub mod ports;
pub mod repair;
pub mod s3;
pub mod server;
pub mod sse;
pub mod store;
pub mod tap;
pub mod tls;
pub mod transport;
pub mod upload;
pub mod wall;

pub use dfs_core as core;
