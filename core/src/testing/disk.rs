//! The harness's model of one node's durable store: exactly what `Output::Persist` asked for,
//! applied when the simulated fsync completes. Writes still in flight at a crash are lost.

use raft::eraftpb::{Entry, HardState, Snapshot};

use crate::node::Recovered;
use crate::output::RaftWrite;

/// What one node has made durable.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    snapshot: Option<Snapshot>,
    entries: Vec<Entry>,
    hard_state: HardState,
}

impl Disk {
    /// Makes `write` durable, in the order the driver contract gives.
    pub fn apply(&mut self, write: &RaftWrite) {
        if let Some(snapshot) = &write.snapshot {
            self.replace_snapshot(snapshot, true);
        }
        if let Some(first) = write.entries.first() {
            self.entries.retain(|e| e.index < first.index);
            self.entries.extend_from_slice(&write.entries);
        }
        if let Some(hard_state) = &write.hard_state {
            self.hard_state = hard_state.clone();
        }
        if let Some(compacted) = &write.compacted {
            self.replace_snapshot(compacted, false);
        }
    }

    fn replace_snapshot(&mut self, snapshot: &Snapshot, drop_log: bool) {
        let index = snapshot.get_metadata().index;
        let stored = self.snapshot.as_ref().map_or(0, |s| s.get_metadata().index);
        if index < stored {
            return;
        }
        if drop_log {
            self.entries.clear();
        } else {
            self.entries.retain(|e| e.index > index);
        }
        self.snapshot = Some(snapshot.clone());
    }

    /// What a restarting driver reads back.
    pub fn recovered(&self) -> Recovered {
        Recovered {
            snapshot: self.snapshot.clone(),
            entries: self.entries.clone(),
            hard_state: self.hard_state.clone(),
        }
    }

    /// Entries stored (after the snapshot).
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }
}
