//! Content-addressed chunk store on local disk (DESIGN.md §1 runtime, "Chunk store").
//!
//! Rules:
//! - **Layout.** A chunk lives at `<data_dir>/chunks/ab/cd/<64 hex blake3>`, where `ab` and `cd`
//!   are the first two bytes of its id in hex ([`chunk_path`]). Temp files live in
//!   `<data_dir>/chunks/tmp/`.
//! - **Content addressing.** [`ChunkStore::put`] hashes the bytes before anything touches the
//!   disk and refuses a mismatch; [`ChunkStore::get`] re-hashes what it reads and never hands out
//!   bytes that do not hash to their id ([`StoreError::Corrupt`]). A chunk is at most
//!   [`CHUNK_BYTES_MAX`], so it is handled whole, as one `Bytes`.
//! - **Durability.** A put writes a unique temp file, `sync_all`s it, renames it into place and
//!   fsyncs the destination directory; a new `ab` or `cd` directory is made durable by fsyncing
//!   its parent before the rename. `put` returns `Ok` only after every fsync, so an acknowledged
//!   chunk survives a crash. A put of a chunk already present and intact is idempotent
//!   ([`PutOutcome::AlreadyPresent`]) but still fsyncs its directory, because a concurrent put of
//!   the same chunk may not have finished its fsyncs; a corrupt copy is replaced.
//! - **Recovery.** [`ChunkStore::open`] deletes every leftover temp file (a put cut short by a
//!   crash never returned `Ok`), fsyncs the existing directories, scans the tree once to rebuild
//!   [`Usage`], and ignores, with a warning, any file that is not a well-named chunk in its own
//!   folder.
//! - **Threads.** All disk work runs where the [`Disk`] says ([`Disk::blocking`]): tokio's
//!   blocking pool for `std::fs`, inline for the simulation's file system. The `std::fs` calls
//!   live only in `chunks/disk.rs`.
//! - **Crash points.** `put` passes three [`crate::failpoint`]s (after the temp write, after the
//!   rename, after the directory fsync), where the kill test makes the node abort. Unit tests
//!   open a store whose every `put` fails after the temp write instead.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use dfs_core::ids::{ChunkId, Hash};
use tracing::{debug, warn};

use crate::failpoint::{self, CrashPoint};

/// Every `std::fs` call of the store (`chunks/disk.rs`).
pub mod disk;
mod recovery;

pub use disk::{Disk, StdDisk};

/// The largest chunk the store accepts or reads back; callers cut chunks of at most 4 MiB.
pub const CHUNK_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Name of the temp folder inside `<data_dir>/chunks/`.
const TMP_DIR: &str = "tmp";

/// What went wrong in the chunk store, and where.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The caller's bytes do not hash to the id it asked to store them under; nothing was written.
    #[error("chunk bytes hash to {actual}, not to the requested id {expected}; nothing written")]
    HashMismatch {
        /// The id the caller asked for.
        expected: ChunkId,
        /// The blake3 of the bytes it sent.
        actual: ChunkId,
    },
    /// The caller's chunk is longer than [`CHUNK_BYTES_MAX`]; nothing was written.
    #[error("chunk {id} is {len_bytes} bytes, over the {max_bytes}-byte limit; nothing written")]
    TooLarge {
        /// The chunk that was refused.
        id: ChunkId,
        /// Its length.
        len_bytes: u64,
        /// The limit, [`CHUNK_BYTES_MAX`].
        max_bytes: u64,
    },
    /// This node holds no copy of the chunk.
    #[error("chunk {id} is not in the store")]
    NotFound {
        /// The chunk asked for.
        id: ChunkId,
    },
    /// The stored copy no longer hashes to its id (or is too long to be a chunk); a fresh copy
    /// must come from another node.
    #[error("chunk {id} is corrupt on disk: its bytes no longer hash to its id")]
    Corrupt {
        /// The damaged chunk.
        id: ChunkId,
    },
    /// A file-system call failed.
    #[error("chunk store could not {op} {}", path.display())]
    Io {
        /// What the store was doing, e.g. "rename" or "fsync directory".
        op: &'static str,
        /// The file or directory it was working on.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The blocking task that did the disk work panicked or was cancelled.
    #[error("chunk store disk task panicked or was cancelled")]
    TaskFailed {
        /// Why the task ended.
        #[source]
        source: crate::blocking::TaskFailed,
    },
}

impl StoreError {
    /// Whether the disk ran out of space, so the caller can report "disk full" instead of a fault.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull)
    }
}

/// How much the store holds: reported to placement and monitoring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Number of chunk files.
    pub chunks: u64,
    /// Sum of their lengths.
    pub bytes: u64,
}

/// What a successful [`ChunkStore::put`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// The chunk was written (new, or replacing a corrupt copy) and is durable.
    Stored,
    /// An intact copy was already stored; it is durable and nothing was written.
    AlreadyPresent,
}

/// Where the chunk `id` lives under a node's data directory: `<data_dir>/chunks/ab/cd/<hex>`.
pub fn chunk_path(data_dir: &Path, id: ChunkId) -> PathBuf {
    let hex = id.0.to_hex();
    data_dir.join("chunks").join(&hex[0..2]).join(&hex[2..4]).join(&hex)
}

/// Parses a chunk file name: exactly 64 lowercase hex digits (as written by [`chunk_path`]).
pub(crate) fn parse_chunk_id(hex: &str) -> Option<ChunkId> {
    if hex.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        *byte = parse_hex_byte(pair)?;
    }
    Some(ChunkId(Hash(bytes)))
}

/// Parses two lowercase hex digits (a folder name such as `3f`).
fn parse_hex_byte(pair: &[u8]) -> Option<u8> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    match pair {
        [high, low] => Some(digit(*high)? << 4 | digit(*low)?),
        _ => None,
    }
}

/// Whether this store's puts fail on purpose after the temp write (unit tests only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failpoint {
    Off,
    AfterTempWrite,
}

/// The on-disk chunk store of one node. Cheap to clone: clones share one store.
#[derive(Clone, Debug)]
pub struct ChunkStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    disk: Arc<dyn Disk>,
    data_dir: PathBuf,
    /// `<data_dir>/chunks`.
    root: PathBuf,
    /// `<data_dir>/chunks/tmp`.
    tmp: PathBuf,
    failpoint: Failpoint,
    state: Mutex<State>,
    /// Makes temp file names unique.
    temp_counter: AtomicU64,
}

/// Counters and directory bookkeeping, updated together under one lock.
#[derive(Debug)]
struct State {
    // INVARIANT: `usage` is the count and total length of the chunk files in the tree: every
    // rename into place and every removal updates it under this lock, in the same critical section.
    usage: Usage,
    /// `ab` folders whose entry in `chunks/` is known durable, indexed by the first id byte.
    ab_durable: Vec<bool>,
    /// `ab/cd` folders whose entry in `ab/` is known durable, indexed by the first two id bytes.
    // INVARIANT: a flag is set only after the parent directory was fsynced with the entry in it.
    cd_durable: Vec<bool>,
}

impl State {
    fn new() -> Self {
        Self {
            usage: Usage::default(),
            ab_durable: vec![false; 256],
            cd_durable: vec![false; 256 * 256],
        }
    }
}

impl ChunkStore {
    /// Opens (creating if needed) the store under `data_dir`: removes leftover temp files and
    /// rebuilds the usage counters from what is on disk.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_on(Arc::new(StdDisk), data_dir).await
    }

    /// Opens the store at `data_dir` on another file system (the simulation's).
    pub async fn open_on(disk: Arc<dyn Disk>, data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(disk, data_dir, Failpoint::Off).await
    }

    async fn open_with(
        disk: Arc<dyn Disk>,
        data_dir: &Path,
        failpoint: Failpoint,
    ) -> Result<Self, StoreError> {
        let root = data_dir.join("chunks");
        let inner = Arc::new(Inner {
            disk,
            data_dir: data_dir.to_path_buf(),
            tmp: root.join(TMP_DIR),
            root,
            failpoint,
            temp_counter: AtomicU64::new(0),
            state: Mutex::new(State::new()),
        });
        let store = Self { inner };
        store.run(|inner| inner.recover()).await?;
        Ok(store)
    }

    /// Stores `bytes` under `id` durably; `id` must be the blake3 of `bytes`.
    pub async fn put(&self, id: ChunkId, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        self.run(move |inner| inner.put(id, &bytes)).await
    }

    /// Reads chunk `id` whole, verified against its id.
    pub async fn get(&self, id: ChunkId) -> Result<Bytes, StoreError> {
        self.run(move |inner| inner.get(id)).await
    }

    /// Re-hashes the stored copy of `id` (for scrub): `false` if it is corrupt, `NotFound` if
    /// absent.
    pub async fn verify(&self, id: ChunkId) -> Result<bool, StoreError> {
        self.run(move |inner| match inner.read(id)? {
            None => Err(StoreError::NotFound { id }),
            Some(bytes) => Ok(is_intact(id, &bytes)),
        })
        .await
    }

    /// Re-hashes the stored copy of `id` (for scrub): its length if intact, `None` if corrupt,
    /// `NotFound` if absent.
    pub async fn verify_len(&self, id: ChunkId) -> Result<Option<u64>, StoreError> {
        self.run(move |inner| match inner.read(id)? {
            None => Err(StoreError::NotFound { id }),
            Some(bytes) => Ok(is_intact(id, &bytes).then_some(bytes.len() as u64)),
        })
        .await
    }

    /// Whether a file for `id` exists (without reading it); an unreadable tree counts as absent.
    pub async fn contains(&self, id: ChunkId) -> bool {
        let found =
            self.run(move |inner| inner.disk.file_len(&chunk_path(&inner.data_dir, id))).await;
        match found {
            Ok(len) => len.is_some(),
            Err(error) => {
                debug!(chunk = %id, error = %error, "chunk lookup failed");
                false
            }
        }
    }

    /// Removes chunk `id` durably; `false` if it was not stored.
    pub async fn delete(&self, id: ChunkId) -> Result<bool, StoreError> {
        self.run(move |inner| inner.delete(id)).await
    }

    /// Current chunk count and bytes stored.
    pub fn usage(&self) -> Usage {
        self.inner.lock().usage
    }

    /// The size of the disk the store is on and its free room; `None` when the disk cannot tell.
    pub async fn space(&self) -> Option<disk::Space> {
        self.run(|inner| Ok(inner.disk.space(&inner.data_dir))).await.ok().flatten()
    }

    /// Every stored chunk with how long ago it was written (for GC); scans the disk.
    pub async fn inventory_with_ages(
        &self,
    ) -> Result<Vec<(ChunkId, std::time::Duration)>, StoreError> {
        let ids = self.inventory().await?;
        self.run(move |inner| {
            let root = &inner.data_dir;
            Ok(ids
                .into_iter()
                .filter_map(|id| inner.disk.age(&chunk_path(root, id)).map(|age| (id, age)))
                .collect())
        })
        .await
    }

    /// Every stored chunk id, sorted (for recovery sync); scans the disk.
    pub async fn inventory(&self) -> Result<Vec<ChunkId>, StoreError> {
        self.run(|inner| {
            let mut ids = Vec::new();
            inner.scan(&mut |id, _len| ids.push(id))?;
            ids.sort_unstable();
            Ok(ids)
        })
        .await
    }

    /// The data directory this store lives in.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Runs `work` where the disk wants it: tokio's blocking pool, or inline for a simulated disk.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let blocking = inner.disk.blocking();
        blocking
            .run(move || work(&inner))
            .await
            .map_err(|source| StoreError::TaskFailed { source })?
    }
}

/// The planted bug that serves chunks unchecked.
const SKIP_VERIFY: crate::planted::Bug = crate::planted::Bug::SkipChunkVerify;

/// Whether `bytes` are a valid copy of chunk `id`.
fn is_intact(id: ChunkId, bytes: &[u8]) -> bool {
    bytes.len() <= CHUNK_BYTES_MAX && Hash::of(bytes) == id.0
}

/// Two-digit lowercase hex of a folder byte.
fn hex_byte(byte: u8) -> String {
    format!("{byte:02x}")
}

/// Blocking operations; each runs on the blocking pool.
impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the counters half-updated (plain stores).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn put(&self, id: ChunkId, bytes: &[u8]) -> Result<PutOutcome, StoreError> {
        if bytes.len() > CHUNK_BYTES_MAX {
            return Err(StoreError::TooLarge {
                id,
                len_bytes: bytes.len() as u64,
                max_bytes: CHUNK_BYTES_MAX as u64,
            });
        }
        let actual = ChunkId(Hash::of(bytes));
        if actual != id {
            return Err(StoreError::HashMismatch { expected: id, actual });
        }
        let path = chunk_path(&self.data_dir, id);
        match self.read(id)? {
            Some(existing) if is_intact(id, &existing) => {
                // A concurrent put may have renamed it without its fsyncs done yet: redo them.
                let dir = self.ensure_dirs(id)?;
                self.disk.sync_dir(&dir)?;
                return Ok(PutOutcome::AlreadyPresent);
            }
            Some(_) => warn!(chunk = %id, path = %path.display(), "replacing corrupt chunk"),
            None => {}
        }
        let tmp = self.temp_path(id);
        if let Err(error) = self.disk.write_synced(&tmp, bytes) {
            disk::remove_quietly(&*self.disk, &tmp);
            return Err(error);
        }
        failpoint::hit(CrashPoint::ChunkAfterTempWrite);
        if self.failpoint == Failpoint::AfterTempWrite {
            return Err(StoreError::Io {
                op: "rename (failpoint chunk-after-temp-write)",
                path: tmp,
                source: std::io::Error::other("failpoint chunk-after-temp-write"),
            });
        }
        let dir = match self.ensure_dirs(id) {
            Ok(dir) => dir,
            Err(error) => {
                disk::remove_quietly(&*self.disk, &tmp);
                return Err(error);
            }
        };
        if let Err(error) = self.install(&tmp, &path, bytes.len() as u64) {
            disk::remove_quietly(&*self.disk, &tmp);
            return Err(error);
        }
        failpoint::hit(CrashPoint::ChunkAfterRename);
        self.disk.sync_dir(&dir)?;
        failpoint::hit(CrashPoint::ChunkAfterDirSync);
        debug!(chunk = %id, len_bytes = bytes.len(), "chunk stored");
        Ok(PutOutcome::Stored)
    }

    /// Renames the synced temp file into place and updates the counters in one critical section.
    fn install(&self, tmp: &Path, path: &Path, len_bytes: u64) -> Result<(), StoreError> {
        let mut state = self.lock();
        let replaced = self.disk.file_len(path)?;
        self.disk.rename(tmp, path)?;
        match replaced {
            Some(old_bytes) => {
                state.usage.bytes = state.usage.bytes.saturating_sub(old_bytes) + len_bytes;
            }
            None => {
                state.usage.chunks += 1;
                state.usage.bytes += len_bytes;
            }
        }
        Ok(())
    }

    fn get(&self, id: ChunkId) -> Result<Bytes, StoreError> {
        match self.read(id)? {
            None => Err(StoreError::NotFound { id }),
            Some(bytes) if is_intact(id, &bytes) || crate::planted::active(SKIP_VERIFY) => {
                Ok(Bytes::from(bytes))
            }
            Some(_) => {
                let path = chunk_path(&self.data_dir, id);
                warn!(chunk = %id, path = %path.display(), "corrupt chunk on disk");
                Err(StoreError::Corrupt { id })
            }
        }
    }

    /// The stored bytes of `id` (unverified; one byte over the limit at most), `None` if absent.
    fn read(&self, id: ChunkId) -> Result<Option<Vec<u8>>, StoreError> {
        self.disk.read_bounded(&chunk_path(&self.data_dir, id), CHUNK_BYTES_MAX as u64 + 1)
    }

    fn delete(&self, id: ChunkId) -> Result<bool, StoreError> {
        let path = chunk_path(&self.data_dir, id);
        {
            let mut state = self.lock();
            let Some(len_bytes) = self.disk.file_len(&path)? else {
                return Ok(false);
            };
            self.disk.remove_file(&path)?;
            // Saturating: a file dropped into the tree by hand after `open` was never counted.
            state.usage.chunks = state.usage.chunks.saturating_sub(1);
            state.usage.bytes = state.usage.bytes.saturating_sub(len_bytes);
        }
        if let Some(dir) = path.parent() {
            self.disk.sync_dir(dir)?;
        }
        debug!(chunk = %id, "chunk deleted");
        Ok(true)
    }

    /// A fresh temp file name: the chunk's hex plus the store's counter (one store per data dir
    /// per process, so names never collide; per store, so simulated runs name files alike).
    fn temp_path(&self, id: ChunkId) -> PathBuf {
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        self.tmp.join(format!("{}.{n}.tmp", id.0.to_hex()))
    }

    /// Creates the `ab/cd` folders of `id` if needed, with durable entries; returns `ab/cd`.
    fn ensure_dirs(&self, id: ChunkId) -> Result<PathBuf, StoreError> {
        let [a, c] = [id.0 .0[0], id.0 .0[1]];
        let cd_index = usize::from(a) << 8 | usize::from(c);
        let ab = self.root.join(hex_byte(a));
        let cd = ab.join(hex_byte(c));
        let (ab_known, cd_known) = {
            let state = self.lock();
            (state.ab_durable[usize::from(a)], state.cd_durable[cd_index])
        };
        if !ab_known {
            self.disk.create_dir(&ab)?;
            self.disk.sync_dir(&self.root)?;
            self.lock().ab_durable[usize::from(a)] = true;
        }
        if !cd_known {
            self.disk.create_dir(&cd)?;
            self.disk.sync_dir(&ab)?;
            self.lock().cd_durable[cd_index] = true;
        }
        Ok(cd)
    }
}

#[cfg(test)]
mod tests;
