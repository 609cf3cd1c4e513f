//! Raft safety, entry by entry (DESIGN §1 sim, checker 4): from every node's durable raft writes
//! (the runtime's [`tap`](dfs_runtime::tap)), the entries each node knows committed. Committed
//! prefixes agree when every index is committed with the same entry on every node that commits
//! it, and no node ever replaces an entry it had committed.

use std::collections::btree_map::Entry as Slot;
use std::collections::BTreeMap;

use dfs_core::RaftWrite;
use raft::eraftpb::Entry;

/// An entry as compared: its term and a digest of its type, data and context.
type Seen = (u64, blake3::Hash);

/// One node's durable log, as far as the checker tracks it.
#[derive(Debug, Default)]
struct NodeLog {
    /// Entries after the newest snapshot.
    entries: BTreeMap<u64, Seen>,
    /// The newest commit index it stored.
    commit: u64,
}

/// What every node committed, and the disagreements found.
#[derive(Debug, Default)]
pub struct LogWatch {
    nodes: BTreeMap<u64, NodeLog>,
    /// Each committed index: the entry, and the node that first committed it.
    committed: BTreeMap<u64, (Seen, u64)>,
    /// Committed entries another node also committed (and agreed on).
    pub confirmed: usize,
    /// Every disagreement, in the order found.
    pub violations: Vec<String>,
}

impl LogWatch {
    /// Takes in a batch of writes `node` made durable.
    pub fn persisted(&mut self, node: u64, writes: &[RaftWrite]) {
        for write in writes {
            self.apply(node, write);
        }
    }

    /// Committed indexes seen.
    pub fn committed(&self) -> usize {
        self.committed.len()
    }

    fn apply(&mut self, node: u64, write: &RaftWrite) {
        let mut log = self.nodes.remove(&node).unwrap_or_default();
        if let Some(snapshot) = &write.snapshot {
            let meta = snapshot.get_metadata();
            log.entries.clear();
            log.commit = log.commit.max(meta.index);
            self.check_term(node, meta.index, meta.term);
        }
        if let Some(first) = write.entries.first() {
            let replaced = log.entries.split_off(&first.index);
            for entry in &write.entries {
                let new = seen(entry);
                let had = replaced.get(&entry.index);
                if entry.index <= log.commit && had.is_some_and(|have| *have != new) {
                    let index = entry.index;
                    self.violations.push(format!("n{node} replaced its committed entry {index}"));
                }
                log.entries.insert(entry.index, new);
            }
        }
        let mut newly_committed = Vec::new();
        if let Some(state) = write.hard_state.as_ref().filter(|s| s.commit > log.commit) {
            let range = log.entries.range(log.commit + 1..=state.commit);
            newly_committed.extend(range.map(|(i, e)| (*i, *e)));
            log.commit = state.commit;
        }
        if let Some(compacted) = &write.compacted {
            let index = compacted.get_metadata().index;
            log.entries = log.entries.split_off(&(index + 1));
        }
        self.nodes.insert(node, log);
        for (index, entry) in newly_committed {
            self.record(node, index, entry);
        }
    }

    /// Records that `node` committed `entry` at `index`.
    fn record(&mut self, node: u64, index: u64, entry: Seen) {
        match self.committed.entry(index) {
            Slot::Vacant(slot) => {
                slot.insert((entry, node));
            }
            Slot::Occupied(slot) => {
                let (have, by) = slot.get();
                if *have == entry {
                    self.confirmed += 1;
                } else {
                    self.violations.push(format!(
                        "index {index} committed in term {} on n{by} and in term {} on n{node}{}",
                        have.0,
                        entry.0,
                        if have.0 == entry.0 { " with other contents" } else { "" }
                    ));
                }
            }
        }
    }

    /// A snapshot at `index` must carry the term the entry committed there had.
    fn check_term(&mut self, node: u64, index: u64, term: u64) {
        if let Some(((have, _), by)) = self.committed.get(&index) {
            if *have != term {
                self.violations.push(format!(
                    "n{node} installed a snapshot at {index} of term {term}; n{by} committed term \
                     {have} there"
                ));
            }
        }
    }
}

fn seen(entry: &Entry) -> Seen {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[entry.get_entry_type() as u8]);
    hasher.update(&(entry.data.len() as u64).to_le_bytes());
    hasher.update(&entry.data);
    hasher.update(&entry.context);
    (entry.term, hasher.finalize())
}

#[cfg(test)]
mod tests;
