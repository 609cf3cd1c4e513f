//! The simulated machine a node runs on (DESIGN §1 sim): turmoil's TCP for every socket, turmoil's
//! file system for the chunk store and the raft log (redb on a [`StorageBackend`] over a simulated
//! file), all calls inline on the host's thread. Crashes lose what was not fsynced, and nothing
//! a crashing node's destructors do reaches the disk ([`power_cut`]); the fault schedule can also
//! make the chunk store's disk fail or fill up ([`DiskFaults`]).

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dfs_runtime::blocking::Blocking;
use dfs_runtime::net::Net;
use dfs_runtime::server::{PeerCalls, Platform};
use dfs_runtime::store::chunks::disk::{io_error, Entry};
use dfs_runtime::store::chunks::{Disk, StoreError};
use dfs_runtime::store::raft_log::{RaftStore, RaftStoreError};
use redb::StorageBackend;
use turmoil::fs::shim::std::fs::{File, OpenOptions};

/// turmoil's simulated TCP.
#[derive(Clone, Copy, Debug, Default)]
pub struct TurmoilNet;

/// A listener and the address others reach it at (turmoil binds only the unspecified address).
pub struct SimListener {
    inner: turmoil::net::TcpListener,
    addr: SocketAddr,
}

impl Net for TurmoilNet {
    type Stream = turmoil::net::TcpStream;
    type Listener = SimListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        let any = SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), addr.port());
        let inner = turmoil::net::TcpListener::bind(any).await?;
        let port = inner.local_addr()?.port();
        Ok(SimListener { inner, addr: SocketAddr::new(addr.ip(), port) })
    }

    fn local_addr(&self, listener: &Self::Listener) -> io::Result<SocketAddr> {
        Ok(listener.addr)
    }

    fn peek<'a>(
        &self,
        stream: &'a mut Self::Stream,
        buf: &'a mut [u8],
    ) -> impl std::future::Future<Output = io::Result<usize>> + Send + 'a {
        stream.peek(buf)
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        turmoil::net::TcpStream::connect(addr).await
    }

    async fn accept(&self, listener: &Self::Listener) -> io::Result<(Self::Stream, SocketAddr)> {
        listener.inner.accept().await
    }
}

/// Simulated wall-clock time (for file ages).
fn sim_now() -> SystemTime {
    UNIX_EPOCH + turmoil::since_epoch().unwrap_or(Duration::ZERO)
}

thread_local! {
    /// Set while hosts crash: see [`power_cut`].
    static POWER_CUT: Cell<bool> = const { Cell::new(false) };
}

/// Runs `crash` (turmoil crashing hosts) with the power cut, so no disk operation succeeds
/// meanwhile. turmoil drops a crashed host's tasks before it discards the unsynced writes, so
/// their destructors still run; redb's, for one, writes and fsyncs a clean shutdown. A real crash
/// runs no destructors, so the simulation must not let them persist anything.
pub fn power_cut<T>(crash: impl FnOnce() -> T) -> T {
    POWER_CUT.with(|cut| cut.set(true));
    let result = crash();
    POWER_CUT.with(|cut| cut.set(false));
    result
}

/// Fails while the power is cut.
fn powered() -> io::Result<()> {
    if POWER_CUT.with(Cell::get) {
        return Err(io::Error::other("the power is cut"));
    }
    Ok(())
}

/// [`powered`] for the chunk store.
fn store_powered(op: &'static str, path: &Path) -> Result<(), StoreError> {
    powered().map_err(io_error(op, path))
}

/// turmoil's file system, through the same file operations production makes.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimFs;

dfs_runtime::impl_disk!(SimFs, turmoil::fs::shim::std::fs, sim_now, Blocking::Inline, |_| None);

/// Disk faults of one host's chunk store, switched by the fault schedule.
#[derive(Debug, Default)]
pub struct DiskFaults {
    /// Every chunk-store write fails with EIO.
    pub io_errors: AtomicBool,
    /// Every chunk-store write fails with ENOSPC.
    pub full: AtomicBool,
}

impl DiskFaults {
    /// The error a write gets now, if any.
    fn write_error(&self, op: &'static str, path: &Path) -> Result<(), StoreError> {
        if self.full.load(Ordering::Relaxed) {
            return Err(io_error(op, path)(io::Error::from(io::ErrorKind::StorageFull)));
        }
        if self.io_errors.load(Ordering::Relaxed) {
            return Err(io_error(op, path)(io::Error::other("simulated I/O error")));
        }
        Ok(())
    }
}

/// [`SimFs`] whose writes fail while the schedule says so.
#[derive(Debug)]
pub struct FaultyDisk {
    /// The node (index) whose disk this is, for the simulator's count of durable copies.
    node: usize,
    fs: SimFs,
    faults: Arc<DiskFaults>,
    /// Folders files were renamed out of (the store's temp folder), synced after every folder
    /// sync: see [`Disk::sync_dir`] below.
    renamed_from: std::sync::Mutex<std::collections::BTreeSet<PathBuf>>,
}

impl Disk for FaultyDisk {
    fn blocking(&self) -> Blocking {
        Blocking::Inline
    }
    fn read_bounded(&self, path: &Path, limit_bytes: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.fs.read_bounded(path, limit_bytes)
    }
    fn write_synced(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        store_powered("write", path)?;
        self.faults.write_error("write", path)?;
        self.fs.write_synced(path, bytes)
    }
    fn rename(&self, from: &Path, to: &Path) -> Result<(), StoreError> {
        store_powered("rename", from)?;
        self.fs.rename(from, to)?;
        crate::durable::renamed(self.node, to);
        if let (Some(dir), Ok(mut renamed_from)) = (from.parent(), self.renamed_from.lock()) {
            renamed_from.insert(dir.to_path_buf());
        }
        Ok(())
    }
    fn remove_file(&self, path: &Path) -> Result<(), StoreError> {
        store_powered("remove", path)?;
        self.fs.remove_file(path)?;
        crate::durable::removed(self.node, path);
        Ok(())
    }
    fn file_len(&self, path: &Path) -> Result<Option<u64>, StoreError> {
        self.fs.file_len(path)
    }
    fn age(&self, path: &Path) -> Option<Duration> {
        self.fs.age(path)
    }
    fn create_dir(&self, path: &Path) -> Result<(), StoreError> {
        store_powered("create directory", path)?;
        self.faults.write_error("create directory", path)?;
        self.fs.create_dir(path)
    }
    fn create_dir_all(&self, path: &Path) -> Result<(), StoreError> {
        store_powered("create directory", path)?;
        self.fs.create_dir_all(path)
    }
    fn sync_dir(&self, path: &Path) -> Result<(), StoreError> {
        // turmoil opens no directories as files: it has its own call for a directory fsync.
        let sync = |dir: &Path| {
            turmoil::fs::shim::std::fs::sync_dir(dir).map_err(io_error("fsync directory", dir))
        };
        store_powered("fsync directory", path)?;
        sync(path)?;
        crate::durable::synced(self.node, path);
        // turmoil keeps every unsynced folder operation in one list that each file system call
        // walks. A temp file's creation in the temp folder would stay there for good (the store
        // syncs only the destination folder, which makes the rename durable) and slow the run
        // down more and more. So the temp folder is synced too, after the destination: syncing
        // it first would take the rename away before the destination's sync could record it.
        // The cost is a stray temp file a real crash could leave, which the store deletes at
        // start anyway.
        let renamed_from = self.renamed_from.lock().map(|dirs| dirs.clone()).unwrap_or_default();
        for dir in renamed_from.iter().filter(|dir| dir.as_path() != path) {
            let _ = sync(dir);
        }
        Ok(())
    }
    fn list_dir(&self, path: &Path) -> Result<Vec<Entry>, StoreError> {
        let mut entries = self.fs.list_dir(path)?;
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }
    fn space(&self, path: &Path) -> Option<dfs_runtime::store::chunks::disk::Space> {
        self.fs.space(path)
    }
}

/// redb's storage on one simulated file.
#[derive(Debug)]
struct SimFile(File);

impl StorageBackend for SimFile {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.0.metadata()?.len())
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.0.read_exact_at(out, offset)
    }
    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        powered()?;
        self.0.set_len(len)
    }
    fn sync_data(&self) -> Result<(), io::Error> {
        powered()?;
        self.0.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        powered()?;
        self.0.write_all_at(data, offset)
    }
}

/// Opens the raft store at `path` on the simulated file system.
fn open_raft(path: &Path) -> Result<RaftStore, RaftStoreError> {
    let file = OpenOptions::new().read(true).write(true).create(true).open(path).map_err(|e| {
        RaftStoreError::OpenBackend {
            source: redb::DatabaseError::Storage(redb::StorageError::Io(e)),
        }
    })?;
    RaftStore::open_backend(SimFile(file))
}

/// The platform of node index `node`: seeded, with its chunk store's faults in `faults`.
pub fn platform(node: usize, seed: u64, faults: Arc<DiskFaults>) -> Platform<TurmoilNet> {
    Platform {
        net: Arc::new(TurmoilNet),
        disk: Arc::new(FaultyDisk { node, fs: SimFs, faults, renamed_from: Default::default() }),
        open_raft,
        blocking: Blocking::Inline,
        peer_calls: PeerCalls::OverNet,
        seed: Some(seed),
    }
}
