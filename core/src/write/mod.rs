//! Writes (DESIGN §2 "write"): the upload machine ([`upload`]) that places every chunk, counts
//! its copies against `write_quorum` and decides whether the version may commit, and the
//! per-upload [`Tally`] of those copies. The driver moves the bytes; every rule is here.

mod tally;
pub mod upload;

pub use tally::{ReplicaOutcome, Tally};
pub use upload::{PartSeal, UploadStart, UploadStep, Written};

#[cfg(test)]
mod tests;
