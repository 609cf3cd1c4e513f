//! Chunk placement (DESIGN §2 "write": placement on the least-used up nodes). A pure function:
//! candidates are ranked by how full they are (in coarse buckets, so small differences do not
//! pile every chunk onto one node) and then by rendezvous hash of (chunk, node), which spreads
//! chunks evenly and keeps a chunk's targets stable while membership is stable.

use crate::ids::{ChunkId, NodeId};

/// Usage differences below this many bytes count as equal.
pub const USAGE_BUCKET_BYTES: u64 = 1 << 30;

/// A node that may receive chunks, with how much it stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The node.
    pub node: NodeId,
    /// Bytes of chunks it holds.
    pub used_bytes: u64,
}

/// The ordered targets for `chunk`: at most `replication_factor` distinct nodes, best first.
pub fn targets(chunk: ChunkId, candidates: &[Candidate], replication_factor: usize) -> Vec<NodeId> {
    let mut ranked: Vec<(u64, [u8; 32], NodeId)> = candidates
        .iter()
        .map(|c| (c.used_bytes / USAGE_BUCKET_BYTES, rendezvous(chunk, c.node), c.node))
        .collect();
    ranked.sort_unstable();
    ranked.dedup_by_key(|r| r.2);
    ranked.into_iter().take(replication_factor).map(|(_, _, node)| node).collect()
}

fn rendezvous(chunk: ChunkId, node: NodeId) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&chunk.0 .0);
    hasher.update(&node.0.to_be_bytes());
    *hasher.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Hash;

    fn nodes(n: u64) -> Vec<Candidate> {
        (1..=n).map(|id| Candidate { node: NodeId(id), used_bytes: 0 }).collect()
    }

    fn chunk(i: u32) -> ChunkId {
        ChunkId(Hash::of(&i.to_be_bytes()))
    }

    #[test]
    fn targets_are_distinct_stable_and_capped() {
        let c = chunk(1);
        let t = targets(c, &nodes(5), 3);
        assert_eq!(t.len(), 3);
        let mut sorted = t.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 3, "distinct");
        assert_eq!(t, targets(c, &nodes(5), 3), "deterministic");
        assert_eq!(targets(c, &nodes(2), 3).len(), 2, "never more than the candidates");
        assert!(targets(c, &[], 3).is_empty());
    }

    #[test]
    fn chunks_spread_evenly_over_equal_nodes() {
        let mut counts = [0u32; 5];
        for i in 0..3000 {
            for node in targets(chunk(i), &nodes(5), 3) {
                counts[(node.0 - 1) as usize] += 1;
            }
        }
        // 3000 chunks x 3 copies / 5 nodes = 1800 each; allow 10%.
        assert!(counts.iter().all(|&c| (1620..=1980).contains(&c)), "{counts:?}");
    }

    #[test]
    fn much_fuller_nodes_are_avoided() {
        let mut candidates = nodes(4);
        candidates[0].used_bytes = 10 * USAGE_BUCKET_BYTES;
        for i in 0..100 {
            assert!(!targets(chunk(i), &candidates, 3).contains(&NodeId(1)));
        }
        // A small difference does not matter.
        candidates[0].used_bytes = USAGE_BUCKET_BYTES / 2;
        assert!((0..100).any(|i| targets(chunk(i), &candidates, 3).contains(&NodeId(1))));
    }
}
