//! Which held chunks a caller may reuse by naming their hash without sending the bytes (DESIGN §2
//! "live directory sync", "access control"). A chunk hash is a read capability: whoever can make
//! a version reference a chunk can then read its bytes. So a chunk may be reused without being
//! sent only when **both**:
//! - it is *held*: the chunk index lists at least the write quorum's number of copies, and a kept
//!   version of a live file references it (the collector, which only deletes unreferenced chunks,
//!   cannot take it);
//! - the caller may **read** (the rules of [`super::access`]) at least one such live file: it could
//!   fetch the bytes anyway.
//!
//! Anything else is answered exactly like a chunk the cluster does not hold, so a caller learns
//! nothing about chunks it cannot read; sending the bytes proves possession instead. Every path
//! that reuses chunks by hash (`POST /chunks/missing` and `POST /commit`, later S3 CopyObject and
//! the mount) asks [`Namespace::reusable_chunks`].
//!
//! Cost: one walk of the entries in path order until every asked chunk is found (worst case, a
//! chunk no readable file references, the whole namespace), as without the read rule; the access
//! level is computed at most once per file that references a chunk still looked for
//! (O(depth · log n) each).

use std::collections::BTreeSet;

use super::{EntryKind, Level, Namespace};
use crate::auth::Caller;
use crate::ids::ChunkId;

impl Namespace {
    /// The chunks of `wanted` that `caller` may reuse without sending them: held with at least
    /// `copies_needed` copies in the index and referenced by a kept version of a live file that
    /// `caller` may read (see the module docs).
    pub fn reusable_chunks(
        &self,
        caller: &Caller,
        wanted: impl IntoIterator<Item = ChunkId>,
        copies_needed: usize,
    ) -> BTreeSet<ChunkId> {
        let mut looking: BTreeSet<ChunkId> = wanted
            .into_iter()
            .filter(|id| self.replicas(id).is_some_and(|nodes| nodes.len() >= copies_needed))
            .collect();
        let mut found = BTreeSet::new();
        for (path, entry) in &self.entries {
            if looking.is_empty() {
                break;
            }
            let EntryKind::File(file) = &entry.kind else { continue };
            if file.deleted.is_some() {
                continue;
            }
            // Computed only when this file references a chunk still looked for.
            let mut readable = None;
            for chunk in file.versions.iter().flat_map(|v| v.content.chunks.iter()) {
                if !looking.contains(&chunk.id) {
                    continue;
                }
                if !*readable.get_or_insert_with(|| self.level(caller, path) >= Level::Read) {
                    break;
                }
                looking.remove(&chunk.id);
                found.insert(chunk.id);
            }
        }
        found
    }
}
