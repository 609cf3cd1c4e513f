//! The durable raft store of one node on redb: its log, hard state and newest snapshot (DESIGN.md
//! §1 "runtime": "Metadata store: redb (raft log, hard state, snapshots)"; §3 "nothing
//! acknowledged is ever lost").
//!
//! Rules:
//! - One `Output::Persist` is one redb write transaction, committed with
//!   [`Durability::Immediate`] (fsync) before [`RaftStore::persist`] returns, so a driver that
//!   reports `Input::Persisted` after it never acknowledges anything a crash can take back. An
//!   empty [`RaftWrite`] touches nothing and does not sync.
//! - Inside the transaction the write applies in the driver contract's order (snapshot, entries,
//!   hard state, compacted) with exactly the semantics of `dfs_core::testing::Disk::apply`, the
//!   model the in-memory harness runs on (a test checks the two agree over random writes):
//!   - a leader's or bootstrap `snapshot` at least as new as the stored one replaces it, and every
//!     stored entry is dropped;
//!   - `entries` replace the stored suffix from the first new index, then are appended;
//!   - a `hard_state` replaces the stored one;
//!   - a `compacted` snapshot at least as new as the stored one replaces it, and stored entries up
//!     to its index are dropped (later ones are kept).
//! - What is read back is checked, never patched over, and never a panic: a value that does not
//!   decode, an entry stored under another index, or entries that do not follow the snapshot
//!   contiguously are [`RaftStoreError::Corrupt`]; a file of another format version is
//!   [`RaftStoreError::UnsupportedFormat`]. Every open verifies redb's page checksums, so a file
//!   damaged outside redb is a typed error too.
//!
//! Layout (format version [`FORMAT_VERSION`]): table `raft_entries` maps a log index (u64) to the
//! protobuf bytes of its raft `Entry`; table `raft_meta` maps a key to bytes: `format_version`
//! (u64, little endian), `hard_state` (protobuf `HardState`), `snapshot` (protobuf `Snapshot`) and
//! `snapshot_index` (u64, little endian: the stored snapshot's index, kept beside it so a write can
//! compare against it without decoding the snapshot's data).

use std::path::{Path, PathBuf};

use dfs_core::{RaftWrite, Recovered};
use protobuf::Message;
use raft::eraftpb::{Entry, HardState, Snapshot};
use redb::{
    Builder, Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    StorageBackend, Table, TableDefinition, WriteTransaction,
};
use tracing::{debug, info};

use crate::blocking::Blocking;
use crate::failpoint::{self, CrashPoint};

#[cfg(test)]
mod tests;

/// The on-disk format this build writes and reads; bumped on any incompatible layout change.
pub const FORMAT_VERSION: u64 = 1;

/// Log index -> protobuf `Entry`.
const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_entries");
/// Key -> value, for the keys below.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");

const KEY_FORMAT_VERSION: &str = "format_version";
const KEY_HARD_STATE: &str = "hard_state";
const KEY_SNAPSHOT: &str = "snapshot";
const KEY_SNAPSHOT_INDEX: &str = "snapshot_index";

/// Upper bound of redb's page cache (its default is 1 GiB); the log is compacted, so the hot part
/// is small.
const CACHE_BYTES_MAX: usize = 64 * 1024 * 1024;

type EntryTable<'txn> = Table<'txn, u64, &'static [u8]>;
type MetaTable<'txn> = Table<'txn, &'static str, &'static [u8]>;

/// Why the raft store could not open, store or read back.
#[derive(Debug, thiserror::Error)]
pub enum RaftStoreError {
    /// The database file could not be created or opened (missing directory, locked by another
    /// process, not a redb file, failed its integrity check).
    #[error("cannot open the raft store at {}", path.display())]
    Open {
        /// The file asked for.
        path: PathBuf,
        /// What redb reported.
        #[source]
        source: redb::DatabaseError,
    },
    /// The database could not be opened on the given storage backend.
    #[error("cannot open the raft store on its storage backend")]
    OpenBackend {
        /// What redb reported.
        #[source]
        source: redb::DatabaseError,
    },
    /// A redb operation failed (I/O error, disk full, damaged page).
    #[error("raft store operation failed: {op}")]
    Storage {
        /// The operation, e.g. "commit".
        op: &'static str,
        /// What redb reported.
        #[source]
        source: redb::Error,
    },
    /// A raft message could not be encoded (a bug: raft's messages have no required fields).
    #[error("cannot encode the raft {what}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// What protobuf reported.
        #[source]
        source: protobuf::ProtobufError,
    },
    /// A stored value does not decode, or the stored log is not shaped as raft left it.
    #[error("the stored raft {what} is corrupt")]
    Corrupt {
        /// The value or property that is wrong, e.g. "hard state" or "log sequence".
        what: &'static str,
    },
    /// The file was written in a format version this build does not read.
    #[error("the raft store has format version {found}, this build reads version {supported}")]
    UnsupportedFormat {
        /// The version in the file.
        found: u64,
        /// [`FORMAT_VERSION`].
        supported: u64,
    },
}

/// Wraps a redb error with the operation that failed.
fn storage<E: Into<redb::Error>>(op: &'static str) -> impl FnOnce(E) -> RaftStoreError {
    move |source| RaftStoreError::Storage { op, source: source.into() }
}

/// The redb-backed raft log, hard state and snapshot of one node.
///
/// Blocking: call it where [`RaftStore::blocking`] says. Shareable across threads; redb
/// serializes writes, and the driver keeps `persist` calls in emission order.
#[derive(Debug)]
pub struct RaftStore {
    db: Database,
    blocking: Blocking,
}

impl RaftStore {
    /// Creates the store file at `path` (e.g. `<data>/raft.redb`), or opens and checks an
    /// existing one.
    pub fn open(path: &Path) -> Result<Self, RaftStoreError> {
        let db = builder()
            .create(path)
            .map_err(|source| RaftStoreError::Open { path: path.to_path_buf(), source })?;
        let created = init(&db)?;
        info!(path = %path.display(), created, "raft store opened");
        Ok(Self { db, blocking: Blocking::Pool })
    }

    /// Creates or opens the store on a redb storage backend (the simulator's filesystem, or
    /// memory in tests); its calls then run inline.
    pub fn open_backend(backend: impl StorageBackend) -> Result<Self, RaftStoreError> {
        let db = builder()
            .create_with_backend(backend)
            .map_err(|source| RaftStoreError::OpenBackend { source })?;
        let created = init(&db)?;
        info!(created, "raft store opened on backend");
        Ok(Self { db, blocking: Blocking::Inline })
    }

    /// Where this store's blocking calls must run.
    pub fn blocking(&self) -> Blocking {
        self.blocking
    }

    /// Makes several writes durable, in order, with one transaction and one fsync (group commit):
    /// the same end state as persisting them one by one.
    pub fn persist_batch(&self, writes: &[RaftWrite]) -> Result<(), RaftStoreError> {
        if writes.iter().all(RaftWrite::is_empty) {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(storage("begin write"))?;
        for write in writes.iter().filter(|w| !w.is_empty()) {
            apply(&txn, write)?;
        }
        failpoint::hit(CrashPoint::RaftBeforeCommit);
        commit_durably(txn)?;
        failpoint::hit(CrashPoint::RaftAfterCommit);
        debug!(
            writes = writes.len(),
            last_index = writes.iter().rev().find_map(|w| w.entries.last()).map(|e| e.index),
            "raft writes persisted"
        );
        Ok(())
    }

    /// Makes `write` durable: applies it in one transaction and fsyncs before returning. Only
    /// then may the driver report `Input::Persisted`.
    pub fn persist(&self, write: &RaftWrite) -> Result<(), RaftStoreError> {
        self.persist_batch(std::slice::from_ref(write))
    }

    /// Reads back everything stored, for `Node::new`: the snapshot, the entries after it (checked
    /// to be contiguous, in order) and the hard state (the default if none was ever stored).
    pub fn recover(&self) -> Result<Recovered, RaftStoreError> {
        let txn = self.db.begin_read().map_err(storage("begin read"))?;
        let meta = txn.open_table(META).map_err(storage("open table"))?;
        let log = txn.open_table(ENTRIES).map_err(storage("open table"))?;
        let snapshot = read_snapshot(&meta)?;
        let hard_state = match meta.get(KEY_HARD_STATE).map_err(storage("read"))? {
            Some(bytes) => decode::<HardState>(bytes.value(), "hard state")?,
            None => HardState::default(),
        };
        let snapshot_index = snapshot.as_ref().map_or(0, |s| s.get_metadata().index);
        let entries = read_entries(&log, snapshot_index)?;
        info!(
            snapshot_index,
            entries = entries.len(),
            last_index = entries.last().map_or(snapshot_index, |e| e.index),
            term = hard_state.term,
            commit = hard_state.commit,
            "raft store recovered"
        );
        Ok(Recovered { snapshot, entries, hard_state })
    }

    /// How many log entries are stored (after the snapshot), for status and compaction decisions.
    pub fn entry_count(&self) -> Result<u64, RaftStoreError> {
        let txn = self.db.begin_read().map_err(storage("begin read"))?;
        let log = txn.open_table(ENTRIES).map_err(storage("open table"))?;
        log.len().map_err(storage("count entries"))
    }
}

/// redb settings shared by both ways of opening.
fn builder() -> Builder {
    let mut builder = Builder::new();
    builder.set_cache_size(CACHE_BYTES_MAX);
    // Verifies every page checksum on open (what redb does after a crash anyway), so a file
    // damaged outside redb is a typed error rather than a panic.
    builder.set_check_integrity_on_open(true);
    builder
}

/// Creates both tables and stamps the format version into a new store, or checks the version of
/// an existing one. Returns whether the store was new.
fn init(db: &Database) -> Result<bool, RaftStoreError> {
    let txn = db.begin_write().map_err(storage("begin write"))?;
    let created = {
        let log = txn.open_table(ENTRIES).map_err(storage("open table"))?;
        let mut meta = txn.open_table(META).map_err(storage("open table"))?;
        match read_u64(&meta, KEY_FORMAT_VERSION, "format version")? {
            Some(FORMAT_VERSION) => false,
            Some(found) => {
                return Err(RaftStoreError::UnsupportedFormat { found, supported: FORMAT_VERSION })
            }
            None => {
                let empty = log.is_empty().map_err(storage("read"))?
                    && meta.is_empty().map_err(storage("read"))?;
                if !empty {
                    // Data without a version stamp: not a file this store wrote.
                    return Err(RaftStoreError::Corrupt { what: "format version" });
                }
                let version = FORMAT_VERSION.to_le_bytes();
                meta.insert(KEY_FORMAT_VERSION, version.as_slice()).map_err(storage("write"))?;
                true
            }
        }
    };
    if created {
        commit_durably(txn)?;
    } else {
        txn.abort().map_err(storage("abort"))?;
    }
    Ok(created)
}

/// Commits `txn` with an fsync before returning.
fn commit_durably(mut txn: WriteTransaction) -> Result<(), RaftStoreError> {
    let durability = if crate::planted::active(crate::planted::Bug::AckBeforeFsync) {
        Durability::None
    } else {
        Durability::Immediate
    };
    txn.set_durability(durability).map_err(storage("set durability"))?;
    txn.commit().map_err(storage("commit"))
}

/// Applies `write` inside `txn`, in the contract's order: snapshot, entries, hard state,
/// compacted.
fn apply(txn: &WriteTransaction, write: &RaftWrite) -> Result<(), RaftStoreError> {
    let mut log = txn.open_table(ENTRIES).map_err(storage("open table"))?;
    let mut meta = txn.open_table(META).map_err(storage("open table"))?;
    if let Some(snapshot) = &write.snapshot {
        replace_snapshot(&mut meta, &mut log, snapshot, LogCut::All)?;
    }
    if let Some(first) = write.entries.first() {
        log.retain_in(first.index.., |_, _| false).map_err(storage("truncate log"))?;
        for entry in &write.entries {
            let bytes = encode(entry, "log entry")?;
            log.insert(entry.index, bytes.as_slice()).map_err(storage("write entry"))?;
        }
    }
    if let Some(hard_state) = &write.hard_state {
        let bytes = encode(hard_state, "hard state")?;
        meta.insert(KEY_HARD_STATE, bytes.as_slice()).map_err(storage("write hard state"))?;
    }
    if let Some(compacted) = &write.compacted {
        replace_snapshot(&mut meta, &mut log, compacted, LogCut::UpToSnapshot)?;
    }
    Ok(())
}

/// Which stored entries a newly stored snapshot drops.
#[derive(Clone, Copy, Debug)]
enum LogCut {
    /// All of them: the leader's snapshot replaces the whole log.
    All,
    /// Those the snapshot covers (index <= its index): our own compaction.
    UpToSnapshot,
}

/// Stores `snapshot` unless the stored one is newer, and drops the entries `cut` says.
fn replace_snapshot(
    meta: &mut MetaTable<'_>,
    log: &mut EntryTable<'_>,
    snapshot: &Snapshot,
    cut: LogCut,
) -> Result<(), RaftStoreError> {
    let index = snapshot.get_metadata().index;
    let stored = read_u64(meta, KEY_SNAPSHOT_INDEX, "snapshot index")?.unwrap_or(0);
    if index < stored {
        debug!(index, stored, "older snapshot not stored");
        return Ok(());
    }
    match cut {
        LogCut::All => log.retain(|_, _| false),
        LogCut::UpToSnapshot => log.retain_in(..=index, |_, _| false),
    }
    .map_err(storage("drop entries"))?;
    let bytes = encode(snapshot, "snapshot")?;
    meta.insert(KEY_SNAPSHOT, bytes.as_slice()).map_err(storage("write snapshot"))?;
    let index_bytes = index.to_le_bytes();
    meta.insert(KEY_SNAPSHOT_INDEX, index_bytes.as_slice()).map_err(storage("write snapshot"))?;
    debug!(index, ?cut, "snapshot stored");
    Ok(())
}

/// The stored snapshot, checked against the separately stored index.
fn read_snapshot(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Option<Snapshot>, RaftStoreError> {
    let snapshot = match meta.get(KEY_SNAPSHOT).map_err(storage("read"))? {
        Some(bytes) => Some(decode::<Snapshot>(bytes.value(), "snapshot")?),
        None => None,
    };
    let index = read_u64(meta, KEY_SNAPSHOT_INDEX, "snapshot index")?;
    match (&snapshot, index) {
        (None, None) => Ok(None),
        (Some(s), Some(index)) if s.get_metadata().index == index => Ok(snapshot),
        _ => Err(RaftStoreError::Corrupt { what: "snapshot index" }),
    }
}

/// All stored entries, checked to run contiguously from `snapshot_index + 1`.
fn read_entries(
    log: &impl ReadableTable<u64, &'static [u8]>,
    snapshot_index: u64,
) -> Result<Vec<Entry>, RaftStoreError> {
    let count = log.len().map_err(storage("count entries"))?;
    let mut entries = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    // None once the expected index would overflow: no entry can follow then.
    let mut next = snapshot_index.checked_add(1);
    for item in log.iter().map_err(storage("read entries"))? {
        let (key, bytes) = item.map_err(storage("read entries"))?;
        let entry = decode::<Entry>(bytes.value(), "log entry")?;
        if entry.index != key.value() {
            return Err(RaftStoreError::Corrupt { what: "log entry index" });
        }
        if next != Some(entry.index) {
            return Err(RaftStoreError::Corrupt { what: "log sequence" });
        }
        next = entry.index.checked_add(1);
        entries.push(entry);
    }
    Ok(entries)
}

/// A u64 stored as 8 little-endian bytes under `key`, if present.
fn read_u64(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
    what: &'static str,
) -> Result<Option<u64>, RaftStoreError> {
    let Some(bytes) = meta.get(key).map_err(storage("read"))? else {
        return Ok(None);
    };
    let array: [u8; 8] = bytes.value().try_into().map_err(|_| RaftStoreError::Corrupt { what })?;
    Ok(Some(u64::from_le_bytes(array)))
}

/// Protobuf bytes of `message`.
fn encode(message: &impl Message, what: &'static str) -> Result<Vec<u8>, RaftStoreError> {
    message.write_to_bytes().map_err(|source| RaftStoreError::Encode { what, source })
}

/// Decodes a stored protobuf value; anything that does not parse is corrupt.
fn decode<M: Message>(bytes: &[u8], what: &'static str) -> Result<M, RaftStoreError> {
    M::parse_from_bytes(bytes).map_err(|_| RaftStoreError::Corrupt { what })
}
