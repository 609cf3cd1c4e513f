//! The chunk store's file system (DESIGN.md §1 runtime): the [`Disk`] trait is every file
//! operation the store makes, so the simulation can run the same store on turmoil's file system;
//! [`StdDisk`] is `std::fs`. Each error carries the operation and the path.

use std::io;
use std::path::{Path, PathBuf};

use super::StoreError;

/// Wraps an `io::Error` with what was being done and to which path.
pub fn io_error(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
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
    /// Where calls to this disk must run: tokio's blocking pool unless the file system only
    /// exists on the caller's thread (the simulation's).
    fn blocking(&self) -> crate::blocking::Blocking {
        crate::blocking::Blocking::Pool
    }
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
    /// The size of the file system holding `path` and the bytes free on it for this process;
    /// `None` when it cannot tell.
    fn space(&self, path: &Path) -> Option<Space>;
}

/// A file system's size and free room.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Space {
    /// Its size.
    pub capacity_bytes: u64,
    /// What an unprivileged writer may still use of it.
    pub free_bytes: u64,
}

/// [`Disk::space`] of the real file system (`statvfs`).
// The field types are u64 on Linux but narrower on other platforms.
#[allow(clippy::useless_conversion)]
pub fn statvfs_space(path: &Path) -> Option<Space> {
    let stat = nix::sys::statvfs::statvfs(path).ok()?;
    let unit = u64::from(stat.fragment_size());
    Some(Space {
        capacity_bytes: u64::from(stat.blocks()).saturating_mul(unit),
        free_bytes: u64::from(stat.blocks_available()).saturating_mul(unit),
    })
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdDisk;

crate::impl_disk!(
    StdDisk,
    std::fs,
    std::time::SystemTime::now,
    crate::blocking::Blocking::Pool,
    crate::store::chunks::disk::statvfs_space
);

/// Implements [`Disk`] for `$disk` with the functions of a `std::fs`-like module (`std::fs`, or
/// the simulator's shim of it), whose clock `$now` gives file ages, running calls as `$blocking`
/// says, its room told by `$space` (a `fn(&Path) -> Option<Space>`). One body for both, so the simulation runs the very file operations production runs.
#[macro_export]
macro_rules! impl_disk {
    ($disk:ty, $($fs:ident)::+, $now:path, $blocking:expr, $space:expr) => {
        impl $crate::store::chunks::Disk for $disk {
            fn blocking(&self) -> $crate::blocking::Blocking {
                $blocking
            }

            fn space(
                &self,
                path: &::std::path::Path,
            ) -> Option<$crate::store::chunks::disk::Space> {
                ($space)(path)
            }

            fn read_bounded(
                &self,
                path: &::std::path::Path,
                limit_bytes: u64,
            ) -> Result<Option<Vec<u8>>, $crate::store::chunks::StoreError> {
                use ::std::io::Read;
                let err = $crate::store::chunks::disk::io_error;
                let file = match $($fs)::+::File::open(path) {
                    Ok(file) => file,
                    Err(error) if error.kind() == ::std::io::ErrorKind::NotFound => return Ok(None),
                    Err(error) => return Err(err("open", path)(error)),
                };
                let len_bytes = file.metadata().map_err(err("stat", path))?.len();
                let capacity = usize::try_from(len_bytes.min(limit_bytes)).unwrap_or(0);
                let mut bytes = Vec::with_capacity(capacity);
                file.take(limit_bytes).read_to_end(&mut bytes).map_err(err("read", path))?;
                Ok(Some(bytes))
            }

            fn write_synced(
                &self,
                path: &::std::path::Path,
                bytes: &[u8],
            ) -> Result<(), $crate::store::chunks::StoreError> {
                use ::std::io::Write;
                let err = $crate::store::chunks::disk::io_error;
                let mut file = $($fs)::+::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(path)
                    .map_err(err("create", path))?;
                file.write_all(bytes).map_err(err("write", path))?;
                file.sync_all().map_err(err("sync", path))
            }

            fn rename(
                &self,
                from: &::std::path::Path,
                to: &::std::path::Path,
            ) -> Result<(), $crate::store::chunks::StoreError> {
                let err = $crate::store::chunks::disk::io_error;
                $($fs)::+::rename(from, to).map_err(err("rename a temp file to", to))
            }

            fn remove_file(
                &self,
                path: &::std::path::Path,
            ) -> Result<(), $crate::store::chunks::StoreError> {
                let err = $crate::store::chunks::disk::io_error;
                $($fs)::+::remove_file(path).map_err(err("remove", path))
            }

            fn file_len(
                &self,
                path: &::std::path::Path,
            ) -> Result<Option<u64>, $crate::store::chunks::StoreError> {
                let err = $crate::store::chunks::disk::io_error;
                match $($fs)::+::symlink_metadata(path) {
                    Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
                    Ok(_) => Ok(None),
                    Err(error) if error.kind() == ::std::io::ErrorKind::NotFound => Ok(None),
                    Err(error) => Err(err("stat", path)(error)),
                }
            }

            fn age(&self, path: &::std::path::Path) -> Option<::std::time::Duration> {
                let modified = $($fs)::+::metadata(path).ok()?.modified().ok()?;
                Some($now().duration_since(modified).unwrap_or_default())
            }

            fn create_dir(
                &self,
                path: &::std::path::Path,
            ) -> Result<(), $crate::store::chunks::StoreError> {
                let err = $crate::store::chunks::disk::io_error;
                match $($fs)::+::create_dir(path) {
                    Err(error) if error.kind() != ::std::io::ErrorKind::AlreadyExists => {
                        Err(err("create directory", path)(error))
                    }
                    _ => Ok(()),
                }
            }

            fn create_dir_all(
                &self,
                path: &::std::path::Path,
            ) -> Result<(), $crate::store::chunks::StoreError> {
                let err = $crate::store::chunks::disk::io_error;
                $($fs)::+::create_dir_all(path).map_err(err("create directory", path))
            }

            fn sync_dir(
                &self,
                path: &::std::path::Path,
            ) -> Result<(), $crate::store::chunks::StoreError> {
                let err = $crate::store::chunks::disk::io_error;
                $($fs)::+::File::open(path)
                    .and_then(|dir| dir.sync_all())
                    .map_err(err("fsync directory", path))
            }

            fn list_dir(
                &self,
                path: &::std::path::Path,
            ) -> Result<Vec<$crate::store::chunks::disk::Entry>, $crate::store::chunks::StoreError>
            {
                use $crate::store::chunks::disk::{Entry, Kind};
                let err = $crate::store::chunks::disk::io_error;
                let mut entries = Vec::new();
                for entry in $($fs)::+::read_dir(path).map_err(err("list", path))? {
                    let entry = entry.map_err(err("list", path))?;
                    let entry_path = entry.path();
                    let file_type = entry.file_type().map_err(err("stat", &entry_path))?;
                    let kind = if file_type.is_file() {
                        let meta = entry.metadata().map_err(err("stat", &entry_path))?;
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
        }
    };
}

/// Best-effort cleanup of a temp file after a failed put; `open` removes what this misses.
pub(super) fn remove_quietly(disk: &dyn Disk, path: &Path) {
    if let Err(error) = disk.remove_file(path) {
        tracing::debug!(path = %path.display(), error = %error, "temp chunk file not removed");
    }
}
