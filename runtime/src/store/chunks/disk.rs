//! The chunk store's file system (DESIGN.md §1 runtime): the [`Disk`] trait is every file
//! operation the store makes, so the simulation can run the same store on turmoil's file system;
//! [`StdDisk`] is `std::fs`. Each error carries the operation and the path.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::StoreError;

/// Wraps an `io::Error` with what was being done and to which path.
fn io_error(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { op, path, source }
}

/// What a directory entry is (symlinks are not followed and count as `Other`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File {
        /// Its length.
        len_bytes: u64,
    },
    /// A directory.
    Dir,
    /// Anything else.
    Other,
}

/// One directory entry; `name` is `None` when it is not UTF-8.
#[derive(Debug)]
pub struct Entry {
    /// Its full path.
    pub path: PathBuf,
    /// Its name, when UTF-8.
    pub name: Option<String>,
    /// What it is.
    pub kind: Kind,
}

/// Every file operation the chunk store makes. Implementations must give `write_synced` and
/// `sync_dir` fsync semantics: once they return, the data (or the directory entry) survives a
/// crash.
pub trait Disk: Send + Sync + std::fmt::Debug + 'static {
    /// Reads at most `limit_bytes` of the file; `None` if it does not exist.
    fn read_bounded(&self, path: &Path, limit_bytes: u64) -> Result<Option<Vec<u8>>, StoreError>;
    /// Creates `path` (which must not exist), writes `bytes` and syncs data and metadata.
    fn write_synced(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError>;
    /// Atomically replaces `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> Result<(), StoreError>;
    /// Removes one file.
    fn remove_file(&self, path: &Path) -> Result<(), StoreError>;
    /// The length of the regular file at `path`; `None` if nothing is there.
    fn file_len(&self, path: &Path) -> Result<Option<u64>, StoreError>;
    /// How long ago the file at `path` was last written; `None` if absent.
    fn age(&self, path: &Path) -> Option<std::time::Duration>;
    /// Creates one directory; an existing one is fine.
    fn create_dir(&self, path: &Path) -> Result<(), StoreError>;
    /// Creates a directory and its missing parents.
    fn create_dir_all(&self, path: &Path) -> Result<(), StoreError>;
    /// Makes the entries of directory `path` durable.
    fn sync_dir(&self, path: &Path) -> Result<(), StoreError>;
    /// The entries of a directory, in no particular order.
    fn list_dir(&self, path: &Path) -> Result<Vec<Entry>, StoreError>;
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdDisk;

impl Disk for StdDisk {
    fn read_bounded(&self, path: &Path, limit_bytes: u64) -> Result<Option<Vec<u8>>, StoreError> {
        read_bounded(path, limit_bytes)
    }
    fn write_synced(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        write_synced(path, bytes)
    }
    fn rename(&self, from: &Path, to: &Path) -> Result<(), StoreError> {
        rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> Result<(), StoreError> {
        remove_file(path)
    }
    fn file_len(&self, path: &Path) -> Result<Option<u64>, StoreError> {
        file_len(path)
    }
    fn age(&self, path: &Path) -> Option<std::time::Duration> {
        age(path)
    }
    fn create_dir(&self, path: &Path) -> Result<(), StoreError> {
        create_dir(path)
    }
    fn create_dir_all(&self, path: &Path) -> Result<(), StoreError> {
        create_dir_all(path)
    }
    fn sync_dir(&self, path: &Path) -> Result<(), StoreError> {
        sync_dir(path)
    }
    fn list_dir(&self, path: &Path) -> Result<Vec<Entry>, StoreError> {
        list_dir(path)
    }
}

/// Reads at most `limit_bytes` of the file; `None` if it does not exist.
fn read_bounded(path: &Path, limit_bytes: u64) -> Result<Option<Vec<u8>>, StoreError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error("open", path)(error)),
    };
    let len_bytes = file.metadata().map_err(io_error("stat", path))?.len();
    let capacity = usize::try_from(len_bytes.min(limit_bytes)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    file.take(limit_bytes).read_to_end(&mut bytes).map_err(io_error("read", path))?;
    Ok(Some(bytes))
}

/// Creates `path` (which must not exist), writes `bytes` and syncs data and metadata.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_error("create", path))?;
    file.write_all(bytes).map_err(io_error("write", path))?;
    file.sync_all().map_err(io_error("sync", path))
}

/// Atomically replaces `to` with `from` (same file system).
fn rename(from: &Path, to: &Path) -> Result<(), StoreError> {
    fs::rename(from, to).map_err(io_error("rename a temp file to", to))
}

/// Removes one file.
fn remove_file(path: &Path) -> Result<(), StoreError> {
    fs::remove_file(path).map_err(io_error("remove", path))
}

/// Best-effort cleanup of a temp file after a failed put; `open` removes what this misses.
pub(super) fn remove_quietly(disk: &dyn Disk, path: &Path) {
    if let Err(error) = disk.remove_file(path) {
        tracing::debug!(path = %path.display(), error = %error, "temp chunk file not removed");
    }
}

/// The length of the regular file at `path`; `None` if nothing is there.
fn file_len(path: &Path) -> Result<Option<u64>, StoreError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
        Ok(_) => Ok(None),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(io_error("stat", path)(error)),
    }
}

fn age(path: &Path) -> Option<std::time::Duration> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(modified.elapsed().unwrap_or_default())
}

fn create_dir(path: &Path) -> Result<(), StoreError> {
    match fs::create_dir(path) {
        Err(error) if error.kind() != io::ErrorKind::AlreadyExists => {
            Err(io_error("create directory", path)(error))
        }
        _ => Ok(()),
    }
}

/// Creates a directory and its missing parents.
fn create_dir_all(path: &Path) -> Result<(), StoreError> {
    fs::create_dir_all(path).map_err(io_error("create directory", path))
}

/// Makes the entries of directory `path` durable.
fn sync_dir(path: &Path) -> Result<(), StoreError> {
    File::open(path).and_then(|dir| dir.sync_all()).map_err(io_error("fsync directory", path))
}

/// The entries of a directory, in no particular order.
fn list_dir(path: &Path) -> Result<Vec<Entry>, StoreError> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(path).map_err(io_error("list", path))? {
        let entry = entry.map_err(io_error("list", path))?;
        let entry_path = entry.path();
        let file_type = entry.file_type().map_err(io_error("stat", &entry_path))?;
        let kind = if file_type.is_file() {
            let meta = entry.metadata().map_err(io_error("stat", &entry_path))?;
            Kind::File { len_bytes: meta.len() }
        } else if file_type.is_dir() {
            Kind::Dir
        } else {
            Kind::Other
        };
        let name = entry.file_name().into_string().ok();
        entries.push(Entry { path: entry_path, name, kind });
    }
    Ok(entries)
}
