//! The in-memory raft log that core hands to `RawNode` (DESIGN §1 core `consensus`). It mirrors
//! what the driver has stored on disk: the latest snapshot (with the namespace inside, unlike
//! raft's `MemStorage`, whose snapshots carry no data), the entries after it, the hard state and
//! the membership. Durability is the driver's job (`Output::Persist`).

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

/// Raft's view of the log, owned by the consensus wrapper.
#[derive(Debug, Default)]
pub(crate) struct LogStore {
    hard_state: HardState,
    conf_state: ConfState,
    snapshot: Snapshot,
    // INVARIANT: contiguous, and the first entry (if any) is at snapshot index + 1.
    entries: Vec<Entry>,
    // Raft asked for a snapshot for a peer the stored one does not include (a node that joined
    // after it was taken, with an empty log): the node compacts at once so the next request
    // gets one that does (raft refuses to restore a snapshot whose membership lacks it).
    fresh_snapshot_wanted: std::sync::atomic::AtomicBool,
}

impl LogStore {
    /// Index of the last entry folded into the snapshot (0 when there is none).
    pub(crate) fn snapshot_index(&self) -> u64 {
        self.snapshot.get_metadata().index
    }

    /// The membership as last applied.
    pub(crate) fn conf_state(&self) -> &ConfState {
        &self.conf_state
    }

    /// The durable term, vote and commit index.
    pub(crate) fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    fn first(&self) -> u64 {
        self.snapshot_index() + 1
    }

    fn last(&self) -> u64 {
        self.entries.last().map_or(self.snapshot_index(), |e| e.index)
    }

    /// Records a new term, vote or commit index.
    pub(crate) fn set_hard_state(&mut self, hard_state: HardState) {
        self.hard_state = hard_state;
    }

    /// Records the membership produced by an applied conf change.
    pub(crate) fn set_conf_state(&mut self, conf_state: ConfState) {
        self.conf_state = conf_state;
    }

    /// Appends entries; an entry at an index already held replaces it and everything after it.
    /// Returns `false` (changing nothing) if the entries would leave a gap or rewrite the
    /// snapshot.
    pub(crate) fn append(&mut self, entries: &[Entry]) -> bool {
        let Some(first_new) = entries.first().map(|e| e.index) else {
            return true;
        };
        if first_new < self.first() || first_new > self.last() + 1 {
            return false;
        }
        let keep = usize::try_from(first_new - self.first()).unwrap_or(usize::MAX);
        self.entries.truncate(keep);
        self.entries.extend_from_slice(entries);
        true
    }

    /// Replaces the whole log with a snapshot received from the leader (or the bootstrap state).
    pub(crate) fn install_snapshot(&mut self, snapshot: Snapshot) {
        let meta = snapshot.get_metadata();
        self.hard_state.term = self.hard_state.term.max(meta.term);
        self.hard_state.commit = self.hard_state.commit.max(meta.index);
        self.conf_state = meta.get_conf_state().clone();
        self.entries.clear();
        self.snapshot = snapshot;
    }

    /// Whether raft asked for a snapshot the stored one cannot serve (see `snapshot`); clears
    /// the request.
    pub(crate) fn take_fresh_snapshot_wanted(&self) -> bool {
        self.fresh_snapshot_wanted.swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    /// Folds the entries up to the snapshot's index into it (a snapshot of our own state).
    pub(crate) fn compact(&mut self, snapshot: Snapshot) {
        let index = snapshot.get_metadata().index;
        assert!(
            index >= self.snapshot_index() && index <= self.last(),
            "compaction index {index} outside the log [{}, {}]",
            self.snapshot_index(),
            self.last()
        );
        let drop = usize::try_from(index - self.snapshot_index()).unwrap_or(usize::MAX);
        self.entries.drain(..drop.min(self.entries.len()));
        self.snapshot = snapshot;
    }
}

impl Storage for LogStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(self.hard_state.clone(), self.conf_state.clone()))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low < self.first() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last() + 1 || low > high {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let lo = usize::try_from(low - self.first()).unwrap_or(usize::MAX);
        let hi = usize::try_from(high - self.first()).unwrap_or(usize::MAX);
        let mut entries = self.entries[lo..hi].to_vec();
        raft::util::limit_size(&mut entries, max_size.into());
        Ok(entries)
    }

    fn term(&self, index: u64) -> raft::Result<u64> {
        if index == self.snapshot_index() {
            return Ok(self.snapshot.get_metadata().term);
        }
        if index < self.first() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if index > self.last() {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let at = usize::try_from(index - self.first()).unwrap_or(usize::MAX);
        Ok(self.entries[at].term)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.first())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        if self.snapshot_index() < request_index {
            return Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable));
        }
        let members = self.snapshot.get_metadata().get_conf_state();
        let lists = [&members.voters, &members.learners, &members.voters_outgoing];
        if !lists.iter().any(|ids| ids.contains(&to)) && !members.learners_next.contains(&to) {
            self.fresh_snapshot_wanted.store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable));
        }
        Ok(self.snapshot.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        Entry { index, term, ..Default::default() }
    }

    #[test]
    fn append_replaces_conflicting_suffix_and_refuses_gaps() {
        let mut log = LogStore::default();
        assert!(log.append(&[entry(1, 1), entry(2, 1), entry(3, 1)]));
        assert!(log.append(&[entry(2, 2)]));
        assert_eq!(log.last(), 2);
        assert_eq!(log.term(2), Ok(2));
        assert!(!log.append(&[entry(9, 2)]), "a gap is refused");
        assert_eq!(log.last(), 2, "and changes nothing");
    }

    #[test]
    fn compaction_keeps_terms_at_the_boundary() {
        let mut log = LogStore::default();
        assert!(log.append(&[entry(1, 1), entry(2, 1), entry(3, 2)]));
        let mut snap = Snapshot::default();
        snap.mut_metadata().index = 2;
        snap.mut_metadata().term = 1;
        log.compact(snap);
        assert_eq!(log.first_index(), Ok(3));
        assert_eq!(log.term(2), Ok(1));
        assert_eq!(log.term(1), Err(raft::Error::Store(StorageError::Compacted)));
        assert_eq!(
            log.entries(1, 3, None, GetEntriesContext::empty(false)),
            Err(raft::Error::Store(StorageError::Compacted))
        );
        assert_eq!(
            log.entries(3, 4, None, GetEntriesContext::empty(false)).map(|e| e.len()),
            Ok(1)
        );
    }
}
