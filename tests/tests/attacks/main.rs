//! The hostile trial of issue 22, end to end on real `dfs node` processes: every attack that once
//! worked against a dev cluster, replayed as a test that must now be refused (or answered
//! honestly). One module per hole.

mod chunks;
mod errors;
mod idempotency;
mod ownership;
mod paths;
