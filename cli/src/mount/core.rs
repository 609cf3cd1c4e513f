//! The mount's state and its operations as async functions of mount-relative paths, each
//! returning an errno on failure; [`super::fs`] turns kernel requests into calls of these.
//! Locks: the std mutexes guard only in-memory tables and are never held across an await; a
//! handle's own async mutex may be held across its commit (only that handle waits).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fuser::{FileAttr, FileType};
use nix::errno::Errno;

use super::cache::{BlockCache, Key, ReadAhead, BLOCK_BYTES};
use super::errno::errno_of;
use super::inodes::{AttrCache, Inodes, Meta};
use super::remote::{self, Remote};
use super::spool::{Base, Writer};
use crate::client::Client;

/// How long the kernel and the mount trust an entry's attributes without asking again.
pub const TTL: Duration = Duration::from_secs(1);
/// Blocks kept in memory (each [`BLOCK_BYTES`]).
const HOT_BLOCKS: usize = 4;
/// Listing rows fetched per request while reading a folder.
const LIST_PAGE: usize = 1000;

/// Locks a std mutex, surviving a panic elsewhere.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An operation's result: an errno on failure.
pub type Res<T> = Result<T, Errno>;

/// Logs a failed cluster call and gives its errno.
pub fn fail(what: &str, path: &str, error: &anyhow::Error) -> Errno {
    let errno = errno_of(error);
    tracing::warn!(path, ?errno, error = format!("{error:#}"), "{what} failed");
    errno
}

/// What an open file reads from.
pub enum FileState {
    /// The version opened (close-to-open: the latest when it was opened).
    Reading {
        /// That version.
        meta: Meta,
        /// Sequential read-ahead.
        ahead: ReadAhead,
    },
    /// A local spool, committed on close or fsync.
    Writing(Writer),
}

/// One open file handle.
pub struct OpenFile {
    /// Its inode.
    pub ino: u64,
    /// The spool's length while writing (read without taking `state`).
    pub size: AtomicU64,
    /// Open for writing.
    pub writing: bool,
    /// The state.
    pub state: tokio::sync::Mutex<FileState>,
}

/// A folder being listed: rows of the current page not yet given to the kernel.
#[derive(Default)]
pub struct DirCursor {
    /// The name to list after for the next page.
    pub after: Option<String>,
    /// Rows (offset, inode, folder?, name) fetched and not yet consumed.
    pub rows: VecDeque<(i64, u64, bool, String)>,
    /// The offset the next fetched row gets.
    pub next_offset: i64,
    /// No more pages.
    pub done: bool,
}

/// The mount.
pub struct Core {
    /// The failover client.
    pub client: Client,
    /// Mount paths → cluster paths.
    pub remote: Remote,
    /// Inode numbers.
    pub inodes: Mutex<Inodes>,
    /// Recently seen attributes.
    pub attrs: Mutex<AttrCache>,
    /// Open files by handle.
    pub files: Mutex<HashMap<u64, Arc<OpenFile>>>,
    /// The writer open on an inode, if any (lookups and getattr see its size).
    pub writers: Mutex<HashMap<u64, Arc<OpenFile>>>,
    /// Open folder listings by handle.
    pub dirs: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<DirCursor>>>>,
    next_fh: AtomicU64,
    /// The block cache.
    pub cache: BlockCache,
    inflight: Mutex<HashMap<Key, tokio::sync::watch::Receiver<()>>>,
    /// The last few blocks read, verified, in memory (a block serves many kernel reads).
    hot: Mutex<VecDeque<(Key, Arc<Vec<u8>>)>>,
    /// Where spools go.
    pub spool_dir: PathBuf,
    /// The user the token proves (for conflict names).
    pub user: String,
    /// `--read-only`.
    pub read_only: bool,
    /// Owner shown for every entry.
    pub uid: u32,
    /// Group shown for every entry.
    pub gid: u32,
    /// When the mount started (the time of folders).
    pub started: SystemTime,
}

impl Core {
    /// The mount's state.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Client,
        remote: Remote,
        cache: BlockCache,
        spool_dir: PathBuf,
        user: String,
        read_only: bool,
        uid: u32,
        gid: u32,
    ) -> Self {
        Self {
            client,
            remote,
            inodes: Mutex::new(Inodes::new()),
            attrs: Mutex::new(AttrCache::new(TTL)),
            files: Mutex::new(HashMap::new()),
            writers: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            cache,
            inflight: Mutex::new(HashMap::new()),
            hot: Mutex::new(VecDeque::new()),
            spool_dir,
            user,
            read_only,
            uid,
            gid,
            started: SystemTime::now(),
        }
    }

    /// A fresh handle number.
    pub fn fh(&self) -> u64 {
        self.next_fh.fetch_add(1, Ordering::Relaxed)
    }

    /// The path of `ino`, or ENOENT.
    pub fn path(&self, ino: u64) -> Res<String> {
        lock(&self.inodes).path(ino).ok_or(Errno::ENOENT)
    }

    /// The kernel's view of an entry.
    pub fn attr(&self, ino: u64, meta: &Meta) -> FileAttr {
        let time = if meta.mtime_ms == 0 {
            self.started
        } else {
            UNIX_EPOCH + Duration::from_millis(meta.mtime_ms)
        };
        let write_bits = if self.read_only { 0 } else { 0o200 };
        FileAttr {
            ino,
            size: meta.size,
            blocks: meta.size.div_ceil(512),
            atime: time,
            mtime: time,
            ctime: time,
            crtime: time,
            kind: if meta.folder { FileType::Directory } else { FileType::RegularFile },
            perm: if meta.folder { 0o555 | write_bits } else { 0o444 | write_bits },
            nlink: if meta.folder { 2 } else { 1 },
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 128 * 1024,
            flags: 0,
        }
    }

    /// The metadata of an open writer on `ino`, if any.
    fn writer_meta(&self, ino: u64) -> Option<Meta> {
        let writer = lock(&self.writers).get(&ino).cloned()?;
        Some(Meta {
            folder: false,
            size: writer.size.load(Ordering::Relaxed),
            version: None,
            hash: None,
            mtime_ms: now_ms(),
        })
    }

    /// What is at `path`: an open writer's view, a fresh cached answer, or the cluster's.
    /// `fresh` asks the cluster (linearizable), skipping writers and the cache: what opens use.
    pub async fn meta(&self, path: &str, fresh: bool) -> Res<Option<Meta>> {
        if !fresh {
            let ino = lock(&self.inodes).ino_of(path);
            if let Some(meta) = ino.and_then(|i| self.writer_meta(i)) {
                return Ok(Some(meta));
            }
            if let Some(known) = lock(&self.attrs).get(path, Instant::now()) {
                return Ok(known);
            }
        }
        let remote = self.remote.of(path);
        let meta =
            remote::stat(&self.client, &remote).await.map_err(|e| fail("stat", &remote, &e))?;
        lock(&self.attrs).put(path, meta.clone(), Instant::now());
        Ok(meta)
    }

    /// Forgets what is cached about `path` (and under it).
    pub fn invalidate(&self, path: &str) {
        lock(&self.attrs).invalidate(path);
    }

    /// Opens `ino` at `path`: for writing (a spool; `truncate` starts it empty) or reading the
    /// latest version. Returns the handle.
    pub async fn open(
        &self,
        ino: u64,
        path: &str,
        write: bool,
        truncate: bool,
        append: bool,
    ) -> Res<u64> {
        let meta = self.meta(path, true).await?;
        if meta.as_ref().is_some_and(|m| m.folder) {
            return Err(Errno::EISDIR);
        }
        let fh = self.fh();
        let state = if write {
            if self.read_only {
                return Err(Errno::EROFS);
            }
            let spool = self.spool_dir.join(fh.to_string());
            let base = meta.as_ref().and_then(|m| m.version).map_or(Base::Absent, Base::Version);
            let writer = match (&meta, base) {
                (Some(m), Base::Version(v)) if !truncate && m.size > 0 => {
                    let remote = self.remote.of(path);
                    Writer::existing(&self.client, spool, &remote, v, append)
                        .await
                        .map_err(|e| fail("open for writing", &remote, &e))?
                }
                _ => {
                    let mut w = Writer::empty(spool, base, append).map_err(|_| Errno::EIO)?;
                    if !truncate && meta.is_some() {
                        // An empty file opened without O_TRUNC: committed only if written.
                        w.mark_clean();
                    }
                    w
                }
            };
            FileState::Writing(writer)
        } else {
            let meta = meta.ok_or(Errno::ENOENT)?;
            FileState::Reading { meta, ahead: ReadAhead::default() }
        };
        self.register(fh, ino, write, state);
        Ok(fh)
    }

    /// Registers an open handle.
    pub fn register(&self, fh: u64, ino: u64, write: bool, state: FileState) {
        let size = match &state {
            FileState::Writing(w) => w.len().unwrap_or(0),
            FileState::Reading { meta, .. } => meta.size,
        };
        let file = Arc::new(OpenFile {
            ino,
            size: AtomicU64::new(size),
            writing: write,
            state: tokio::sync::Mutex::new(state),
        });
        if write {
            lock(&self.writers).insert(ino, file.clone());
        }
        lock(&self.files).insert(fh, file);
    }

    /// The open file `fh`, or EBADF.
    pub fn file(&self, fh: u64) -> Res<Arc<OpenFile>> {
        lock(&self.files).get(&fh).cloned().ok_or(Errno::EBADF)
    }

    /// Commits `fh` if it was written (close, fsync).
    pub async fn commit(&self, fh: u64) -> Res<()> {
        let file = self.file(fh)?;
        if !file.writing {
            return Ok(());
        }
        let mut state = file.state.lock().await;
        let FileState::Writing(writer) = &mut *state else { return Ok(()) };
        if !writer.is_dirty() {
            return Ok(());
        }
        let Ok(path) = self.path(file.ino) else {
            tracing::info!(ino = file.ino, "an unlinked file was closed; nothing to commit");
            return Ok(());
        };
        let remote = self.remote.of(&path);
        let pushed = writer.commit(&self.client, &remote, &self.user).await?;
        if let Some(pushed) = pushed {
            let meta = Meta {
                folder: false,
                size: pushed.size_bytes,
                version: Some(pushed.version),
                hash: Some(pushed.hash),
                mtime_ms: now_ms(),
            };
            lock(&self.attrs).put(&path, Some(meta), Instant::now());
        }
        Ok(())
    }

    /// Closes `fh`: commits what is left (errors were already returned by flush) and drops it.
    pub async fn release(&self, fh: u64) {
        if let Err(errno) = self.commit(fh).await {
            tracing::warn!(fh, ?errno, "the last commit at release failed");
        }
        let Some(file) = lock(&self.files).remove(&fh) else { return };
        if file.writing {
            let mut writers = lock(&self.writers);
            if writers.get(&file.ino).is_some_and(|w| Arc::ptr_eq(w, &file)) {
                writers.remove(&file.ino);
            }
        }
    }

    /// Reads `size` bytes at `offset` from `fh`.
    pub async fn read(self: &Arc<Self>, fh: u64, offset: u64, size: u32) -> Res<Vec<u8>> {
        let file = self.file(fh)?;
        let (meta, ahead) = {
            let mut state = file.state.lock().await;
            match &mut *state {
                FileState::Writing(w) => return w.read(offset, size).map_err(|_| Errno::EIO),
                FileState::Reading { meta, ahead } => {
                    let range = ahead.on_read(offset, u64::from(size), meta.size);
                    (meta.clone(), range)
                }
            }
        };
        let end = meta.size.min(offset.saturating_add(u64::from(size)));
        if offset >= end {
            return Ok(Vec::new());
        }
        let path = self.path(file.ino)?;
        let (Some(version), Some(hash)) = (meta.version, meta.hash.clone()) else {
            return Err(Errno::EIO);
        };
        let remote = self.remote.of(&path);
        for block in ahead {
            let (core, remote, hash) = (self.clone(), remote.clone(), hash.clone());
            tokio::spawn(async move {
                let _ = core.block(&remote, version, &hash, meta.size, block).await;
            });
        }
        let mut out = Vec::with_capacity((end - offset) as usize);
        let mut at = offset;
        while at < end {
            let block = at / BLOCK_BYTES;
            let bytes = self.block(&remote, version, &hash, meta.size, block).await?;
            let from = (at - block * BLOCK_BYTES) as usize;
            let to = ((end - block * BLOCK_BYTES) as usize).min(bytes.len());
            if from >= to {
                return Err(Errno::EIO);
            }
            out.extend_from_slice(&bytes[from..to]);
            at += (to - from) as u64;
        }
        Ok(out)
    }

    /// Block `block` of a version: from memory, the cache, a fetch already under way, or
    /// fetched.
    async fn block(
        &self,
        remote: &str,
        version: u64,
        hash: &str,
        size: u64,
        block: u64,
    ) -> Res<Arc<Vec<u8>>> {
        let key: Key = (hash.to_owned(), block);
        if let Some(bytes) = self.cached(&key) {
            return Ok(bytes);
        }
        let waiting = lock(&self.inflight).get(&key).cloned();
        if let Some(mut waiting) = waiting {
            // Ends when the fetcher drops its sender (done or failed); then look again.
            let _ = waiting.changed().await;
            if let Some(bytes) = self.cached(&key) {
                return Ok(bytes);
            }
        }
        let (tx, rx) = tokio::sync::watch::channel(());
        lock(&self.inflight).insert(key.clone(), rx);
        let start = block * BLOCK_BYTES;
        let end = size.min(start + BLOCK_BYTES);
        let fetched = remote::read_range(&self.client, remote, version, hash, start, end).await;
        let fetched = fetched.map(|bytes| {
            self.cache.put(&key, &bytes);
            let bytes = Arc::new(bytes);
            self.remember(&key, &bytes);
            bytes
        });
        lock(&self.inflight).remove(&key);
        drop(tx);
        fetched.map_err(|e| fail("read", remote, &e))
    }

    /// A block from memory or (verified) from the disk cache.
    fn cached(&self, key: &Key) -> Option<Arc<Vec<u8>>> {
        if let Some((_, bytes)) = lock(&self.hot).iter().find(|(k, _)| k == key) {
            return Some(bytes.clone());
        }
        let bytes = Arc::new(self.cache.get(key)?);
        self.remember(key, &bytes);
        Some(bytes)
    }

    fn remember(&self, key: &Key, bytes: &Arc<Vec<u8>>) {
        let mut hot = lock(&self.hot);
        hot.retain(|(k, _)| k != key);
        hot.push_back((key.clone(), bytes.clone()));
        while hot.len() > HOT_BLOCKS {
            hot.pop_front();
        }
    }

    /// Fills `cursor` with the next page of `path`'s children.
    pub async fn next_page(&self, path: &str, cursor: &mut DirCursor) -> Res<()> {
        let remote = self.remote.of(path);
        let (rows, next) =
            remote::list_page(&self.client, &remote, cursor.after.as_deref(), LIST_PAGE)
                .await
                .map_err(|e| fail("list", &remote, &e))?;
        let now = Instant::now();
        let mut attrs = lock(&self.attrs);
        let inodes = lock(&self.inodes);
        for (name, meta) in rows {
            let child = super::inodes::child(path, &name);
            attrs.put(&child, Some(meta.clone()), now);
            cursor.rows.push_back((cursor.next_offset, inodes.row_ino(&child), meta.folder, name));
            cursor.next_offset += 1;
        }
        cursor.done = next.is_none();
        cursor.after = next;
        Ok(())
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
