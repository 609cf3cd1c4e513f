//! `dfs fsck` on the node side (issue 4, point 8; DESIGN §2 "integrity", §1 sim checker 2
//! "convergence"): does every chunk of every live version have `replication_factor` verified
//! copies, and does no member hold a bad one?
//!
//! - [`census`]: what must be stored, from the namespace (live files only; every kept version).
//! - [`verify`]: one node checking its own copies; the bounded `POST /internal/verify` request.
//! - [`check`]: the node running fsck asks every member, in batches, with bounded concurrency.
//! - [`report`]: the verdict, `GET /fsck`'s JSON.
//!
//! Memory grows with the number of distinct chunks (ids, index entries and one state byte per
//! member per chunk), never with file sizes: each copy is re-hashed on the node that holds it,
//! one chunk at a time per request.

pub mod census;
pub mod check;
pub mod report;
pub mod verify;

use tokio::sync::Semaphore;

/// fsck runs one node coordinates at once; another is refused while one runs.
pub const FSCK_RUNS_MAX: usize = 1;

/// Verify batches (from any node, this one included) one node works on at once.
pub const VERIFY_REQUESTS_MAX: usize = 2;

/// The limits one node keeps on fsck work.
#[derive(Debug)]
pub struct FsckSlots {
    /// Held while this node coordinates a run.
    pub running: Semaphore,
    /// Held while this node checks a batch of its copies.
    pub verifying: Semaphore,
}

impl FsckSlots {
    /// Slots for [`FSCK_RUNS_MAX`] runs and [`VERIFY_REQUESTS_MAX`] verify batches.
    pub fn new() -> Self {
        Self {
            running: Semaphore::new(FSCK_RUNS_MAX),
            verifying: Semaphore::new(VERIFY_REQUESTS_MAX),
        }
    }
}

impl Default for FsckSlots {
    fn default() -> Self {
        Self::new()
    }
}
