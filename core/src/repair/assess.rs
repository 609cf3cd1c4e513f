//! Which copies of a chunk count toward its replication factor, which may serve as a copy
//! source, and which are on their way out.

use std::collections::{BTreeMap, BTreeSet};

use crate::command::DeclaredState;
use crate::health::Health;
use crate::ids::{ChunkId, NodeId};
use crate::meta::{EntryKind, Member, Namespace};

/// Every chunk of every version of every live (not deleted) file, and of every part of an S3
/// multipart upload in progress, with its length. Chunks of deleted files are left to GC, never
/// repaired.
pub fn live_chunks(namespace: &Namespace) -> BTreeMap<ChunkId, u32> {
    let mut live = BTreeMap::new();
    for (_, entry) in namespace.entries() {
        let EntryKind::File(file) = &entry.kind else { continue };
        if file.is_deleted() {
            continue;
        }
        for version in &file.versions {
            for chunk in &version.content.chunks {
                live.insert(chunk.id, chunk.len_bytes);
            }
        }
    }
    for (_, _, upload) in namespace.multipart_uploads() {
        for chunk in upload.parts.values().flat_map(|part| part.content.chunks.iter()) {
            live.insert(chunk.id, chunk.len_bytes);
        }
    }
    live
}

/// The copies of one chunk, sorted by what they are worth.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assessment {
    /// Copies that count toward the replication factor: active members not written off.
    pub counted: Vec<NodeId>,
    /// Copies on draining members: they may serve as sources but do not count.
    pub leaving: Vec<NodeId>,
    /// Copies on non-members or on lost members (down past `reassign_after`): to be dropped from
    /// the index once enough others exist.
    pub stale: Vec<NodeId>,
    /// Copies on up members that may serve as a copy source (counted or leaving).
    pub sources: Vec<NodeId>,
}

/// Sorts `holders` of a chunk by the members' committed state and health.
pub fn assess(holders: &BTreeSet<NodeId>, members: &BTreeMap<NodeId, Member>) -> Assessment {
    let mut out = Assessment::default();
    for &node in holders {
        let Some(member) = members.get(&node) else {
            out.stale.push(node);
            continue;
        };
        if member.health == Health::Lost {
            out.stale.push(node);
            continue;
        }
        if member.state == DeclaredState::Draining {
            out.leaving.push(node);
        } else {
            out.counted.push(node);
        }
        if member.health == Health::Up {
            out.sources.push(node);
        }
    }
    out
}
