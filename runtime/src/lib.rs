//! # dfs-runtime
//!
//! The tokio shell that drives one `dfs_core::Node` (DESIGN.md §1 "runtime"): TCP peer transport,
//! the redb raft store, the chunk store and the HTTP API. It lands with the data-path issue; this
//! crate holds the workspace slot so the dependency graph (`cli -> runtime -> core`) is fixed now.

pub use dfs_core as core;
