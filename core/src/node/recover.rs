//! Starting from disk (DESIGN §3 "nothing acknowledged is ever lost"): rebuilding the raft log and
//! the namespace from what the driver recovered, or bootstrapping a brand-new cluster. Anything
//! inconsistent is refused with `ConfigError::Recovered`, never patched over.

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};

use crate::config::Config;
use crate::consensus::LogStore;
use crate::error::ConfigError;
use crate::meta::Namespace;
use crate::output::RaftWrite;

/// What a driver read back from its durable store at start: everything it was asked to persist.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recovered {
    /// The newest stored snapshot (bootstrap, leader's, or compaction), if any.
    pub snapshot: Option<Snapshot>,
    /// The stored entries after the snapshot, contiguous.
    pub entries: Vec<Entry>,
    /// The stored term, vote and commit index.
    pub hard_state: HardState,
}

impl Recovered {
    /// Whether nothing was ever stored (a new data directory).
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none()
            && self.entries.is_empty()
            && self.hard_state == HardState::default()
    }
}

/// The log and namespace a node starts from, and the bootstrap write when it founds a cluster.
pub(super) struct Restored {
    pub(super) store: LogStore,
    pub(super) namespace: Namespace,
    pub(super) bootstrap: Option<RaftWrite>,
}

/// Index and term of the bootstrap snapshot every founding voter starts from.
const BOOTSTRAP_INDEX: u64 = 1;
const BOOTSTRAP_TERM: u64 = 1;

pub(super) fn restore(config: &Config, recovered: Recovered) -> Result<Restored, ConfigError> {
    let mut store = LogStore::default();
    if recovered.is_empty() && config.initial_voters.contains(&config.id) {
        let mut voters = config.initial_voters.clone();
        voters.sort_unstable();
        voters.dedup();
        let namespace = Namespace::bootstrap(&voters);
        let mut snapshot = Snapshot::default();
        snapshot.set_data(namespace.snapshot().into());
        let meta = snapshot.mut_metadata();
        meta.index = BOOTSTRAP_INDEX;
        meta.term = BOOTSTRAP_TERM;
        meta.set_conf_state(ConfState::from((
            voters.iter().map(|v| v.0).collect::<Vec<_>>(),
            vec![],
        )));
        store.install_snapshot(snapshot.clone());
        let hard_state = Some(store.hard_state().clone());
        let bootstrap = RaftWrite { snapshot: Some(snapshot), hard_state, ..RaftWrite::default() };
        return Ok(Restored { store, namespace, bootstrap: Some(bootstrap) });
    }
    let namespace = match &recovered.snapshot {
        Some(snapshot) => Namespace::restore(snapshot.get_data())
            .map_err(|_| ConfigError::Recovered("stored snapshot does not decode"))?,
        None => Namespace::new(),
    };
    if let Some(snapshot) = recovered.snapshot {
        store.install_snapshot(snapshot);
    }
    if !store.append(&recovered.entries) {
        return Err(ConfigError::Recovered("stored entries do not follow the snapshot"));
    }
    let mut hard_state = recovered.hard_state;
    hard_state.term = hard_state.term.max(store.hard_state().term);
    hard_state.commit = hard_state.commit.max(store.snapshot_index());
    let last = raft::Storage::last_index(&store).unwrap_or(0);
    if hard_state.commit > last {
        return Err(ConfigError::Recovered("commit index is beyond the stored log"));
    }
    store.set_hard_state(hard_state);
    Ok(Restored { store, namespace, bootstrap: None })
}
