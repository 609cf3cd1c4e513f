//! The copies of one upload's chunks (DESIGN §2 "write"): every outcome of a store job is
//! recorded here; a write may commit once every chunk has `write_quorum` durable copies. The
//! reply says, per node, whether it holds all its chunks (stored), missed some that repair will
//! bring (queued), or took none (failed).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::config::WriteQuorum;
use crate::ids::{ChunkId, NodeId};

/// What a node ended up with after a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplicaOutcome {
    /// Every chunk placed on it is durable there.
    Stored,
    /// Some chunks placed on it did not arrive; the replication queue will bring them.
    Queued,
    /// None of the chunks placed on it arrived.
    Failed,
}

/// The durable copies of one write's chunks, as they are confirmed.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    placed: BTreeMap<ChunkId, BTreeSet<NodeId>>,
    stored: BTreeMap<ChunkId, BTreeSet<NodeId>>,
    failed: BTreeMap<ChunkId, BTreeSet<NodeId>>,
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `chunk` was sent to `targets`.
    pub fn placed(&mut self, chunk: ChunkId, targets: &[NodeId]) {
        self.placed.entry(chunk).or_default().extend(targets.iter().copied());
        self.stored.entry(chunk).or_default();
    }

    /// Records that `node` made `chunk` durable.
    pub fn stored(&mut self, chunk: ChunkId, node: NodeId) {
        self.stored.entry(chunk).or_default().insert(node);
    }

    /// Whether every chunk has the copies `quorum` asks of `replication_factor`.
    pub fn quorum_met(&self, quorum: WriteQuorum, replication_factor: usize) -> bool {
        let needed = quorum.copies_needed(replication_factor);
        self.stored.values().all(|nodes| nodes.len() >= needed)
    }

    /// Records that `node` will not make `chunk` durable (its store job failed or timed out).
    pub fn failed(&mut self, chunk: ChunkId, node: NodeId) {
        self.failed.entry(chunk).or_default().insert(node);
    }

    /// Chunks that can no longer reach the quorum even if every copy still running lands,
    /// with their durable copy counts.
    pub fn unreachable(
        &self,
        quorum: WriteQuorum,
        replication_factor: usize,
    ) -> Vec<(ChunkId, usize)> {
        let needed = quorum.copies_needed(replication_factor);
        let doomed = |(chunk, targets): (&ChunkId, &BTreeSet<NodeId>)| {
            let failed = self.failed.get(chunk).map_or(0, BTreeSet::len);
            let stored = self.stored.get(chunk).map_or(0, BTreeSet::len);
            (targets.len().saturating_sub(failed) < needed).then_some((*chunk, stored))
        };
        self.placed.iter().filter_map(doomed).collect()
    }

    /// Every chunk placed so far.
    pub fn chunks(&self) -> impl Iterator<Item = ChunkId> + '_ {
        self.placed.keys().copied()
    }

    /// Whether `chunk` was placed already (a chunk repeated in one file is sent once).
    pub fn has(&self, chunk: ChunkId) -> bool {
        self.placed.contains_key(&chunk)
    }

    /// Chunks short of the quorum, with their durable copy count.
    pub fn short(&self, quorum: WriteQuorum, replication_factor: usize) -> Vec<(ChunkId, usize)> {
        let needed = quorum.copies_needed(replication_factor);
        self.stored.iter().filter(|(_, n)| n.len() < needed).map(|(c, n)| (*c, n.len())).collect()
    }

    /// Where each chunk is durable: what the committed version records.
    pub fn replicas(&self) -> BTreeMap<ChunkId, BTreeSet<NodeId>> {
        self.stored.clone()
    }

    /// Per node that was sent anything: stored, queued or failed.
    pub fn report(&self) -> BTreeMap<NodeId, ReplicaOutcome> {
        let mut sent: BTreeMap<NodeId, (usize, usize)> = BTreeMap::new();
        for (chunk, targets) in &self.placed {
            let stored = self.stored.get(chunk);
            for node in targets {
                let entry = sent.entry(*node).or_default();
                entry.0 += 1;
                if stored.is_some_and(|s| s.contains(node)) {
                    entry.1 += 1;
                }
            }
        }
        sent.into_iter()
            .map(|(node, (placed, stored))| {
                let outcome = match stored {
                    s if s == placed => ReplicaOutcome::Stored,
                    0 => ReplicaOutcome::Failed,
                    _ => ReplicaOutcome::Queued,
                };
                (node, outcome)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Hash;

    const N1: NodeId = NodeId(1);
    const N2: NodeId = NodeId(2);
    const N3: NodeId = NodeId(3);

    fn chunk(i: u8) -> ChunkId {
        ChunkId(Hash::of(&[i]))
    }

    #[test]
    fn majority_needs_two_of_three_for_every_chunk() {
        let mut tally = Tally::new();
        tally.placed(chunk(1), &[N1, N2, N3]);
        tally.placed(chunk(2), &[N1, N2, N3]);
        tally.stored(chunk(1), N1);
        tally.stored(chunk(1), N2);
        tally.stored(chunk(2), N1);
        assert!(!tally.quorum_met(WriteQuorum::Majority, 3));
        assert_eq!(tally.short(WriteQuorum::Majority, 3), vec![(chunk(2), 1)]);
        assert!(tally.quorum_met(WriteQuorum::One, 3));
        tally.stored(chunk(2), N3);
        assert!(tally.quorum_met(WriteQuorum::Majority, 3));
        assert!(!tally.quorum_met(WriteQuorum::All, 3));
    }

    #[test]
    fn a_chunk_with_too_many_failed_copies_is_unreachable() {
        let mut tally = Tally::new();
        tally.placed(chunk(1), &[N1, N2, N3]);
        tally.stored(chunk(1), N1);
        tally.failed(chunk(1), N2);
        assert_eq!(tally.unreachable(WriteQuorum::Majority, 3), vec![], "n3 may still land");
        assert_eq!(tally.unreachable(WriteQuorum::All, 3), vec![(chunk(1), 1)]);
        tally.failed(chunk(1), N3);
        assert_eq!(tally.unreachable(WriteQuorum::Majority, 3), vec![(chunk(1), 1)]);
    }

    #[test]
    fn report_says_stored_queued_or_failed_per_node() {
        let mut tally = Tally::new();
        tally.placed(chunk(1), &[N1, N2, N3]);
        tally.placed(chunk(2), &[N1, N2, N3]);
        tally.stored(chunk(1), N1);
        tally.stored(chunk(2), N1);
        tally.stored(chunk(1), N2);
        let report = tally.report();
        assert_eq!(report[&N1], ReplicaOutcome::Stored);
        assert_eq!(report[&N2], ReplicaOutcome::Queued);
        assert_eq!(report[&N3], ReplicaOutcome::Failed);
    }

    #[test]
    fn an_empty_file_meets_any_quorum() {
        assert!(Tally::new().quorum_met(WriteQuorum::All, 3));
        assert!(Tally::new().report().is_empty());
    }
}
