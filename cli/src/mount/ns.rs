//! Namespace operations through the cluster (each one raft command, visible on every node at
//! once): mkdir, unlink, rmdir, rename (replacing a target as POSIX rename does), truncate of a
//! file not open here.

use std::sync::atomic::Ordering;
use std::time::Instant;

use nix::errno::Errno;

use super::core::{fail, lock, Core, FileState, Res};
use super::inodes::{child, Meta};
use super::remote;
use super::spool::{Base, Writer};

/// `rename(2)` flags.
const RENAME_NOREPLACE: u32 = 1;
const RENAME_EXCHANGE: u32 = 2;

impl Core {
    fn writable(&self) -> Res<()> {
        if self.read_only {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    /// `mkdir`: the new folder's metadata.
    pub async fn mkdir(&self, path: &str) -> Res<Meta> {
        self.writable()?;
        if self.meta(path, true).await?.is_some() {
            return Err(Errno::EEXIST);
        }
        let remote = self.remote.of(path);
        remote::mkdir(&self.client, &remote).await.map_err(|e| fail("mkdir", &remote, &e))?;
        let meta = Meta { folder: true, size: 0, version: None, hash: None, mtime_ms: 0 };
        lock(&self.attrs).put(path, Some(meta.clone()), Instant::now());
        Ok(meta)
    }

    /// `unlink` (`folder` false) or `rmdir` (true).
    pub async fn remove(&self, path: &str, folder: bool) -> Res<()> {
        self.writable()?;
        let meta = self.meta(path, true).await?.ok_or(Errno::ENOENT)?;
        match (meta.folder, folder) {
            (true, false) => return Err(Errno::EISDIR),
            (false, true) => return Err(Errno::ENOTDIR),
            _ => {}
        }
        let remote = self.remote.of(path);
        let done = remote::delete(&self.client, &remote).await;
        self.invalidate(path);
        done.map_err(|e| fail(if folder { "rmdir" } else { "unlink" }, &remote, &e))?;
        lock(&self.inodes).detach(path);
        Ok(())
    }

    /// `rename(from, to)`; an existing `to` is replaced (a file by a file, an empty folder by
    /// a folder) unless `flags` has `RENAME_NOREPLACE`.
    pub async fn rename(&self, from: &str, to: &str, flags: u32) -> Res<()> {
        self.writable()?;
        if flags & RENAME_EXCHANGE != 0 {
            return Err(Errno::EINVAL);
        }
        let source = self.meta(from, true).await?.ok_or(Errno::ENOENT)?;
        if from == to {
            return Ok(());
        }
        if to.starts_with(&format!("{from}/")) {
            return Err(Errno::EINVAL);
        }
        let (rfrom, rto) = (self.remote.of(from), self.remote.of(to));
        if let Some(target) = self.meta(to, true).await? {
            if flags & RENAME_NOREPLACE != 0 {
                return Err(Errno::EEXIST);
            }
            match (source.folder, target.folder) {
                (false, true) => return Err(Errno::EISDIR),
                (true, false) => return Err(Errno::ENOTDIR),
                _ => {}
            }
            // The namespace's move wants a free target: remove it first (an old file version
            // stays in its history; a folder must be empty, else ENOTEMPTY).
            remote::delete(&self.client, &rto).await.map_err(|e| fail("rename", &rto, &e))?;
        }
        let moved = remote::rename(&self.client, &rfrom, &rto).await;
        self.invalidate(from);
        self.invalidate(to);
        moved.map_err(|e| fail("rename", &rfrom, &e))?;
        lock(&self.inodes).rename(from, to);
        Ok(())
    }

    /// `truncate` to `size`: of the open spool `fh` if given, else a commit of its own.
    pub async fn truncate(&self, ino: u64, path: &str, fh: Option<u64>, size: u64) -> Res<()> {
        self.writable()?;
        if let Some(file) = fh.and_then(|fh| self.file(fh).ok()).filter(|f| f.writing) {
            let mut state = file.state.lock().await;
            if let FileState::Writing(writer) = &mut *state {
                writer.set_len(size).map_err(|_| Errno::EIO)?;
                file.size.store(size, Ordering::Relaxed);
            }
            return Ok(());
        }
        // Not open for writing here: a version of its own, conditional like any other.
        let meta = self.meta(path, true).await?.ok_or(Errno::ENOENT)?;
        if meta.folder {
            return Err(Errno::EISDIR);
        }
        if meta.size == size {
            return Ok(());
        }
        let fh = self.fh();
        let spool = self.spool_dir.join(fh.to_string());
        let remote = self.remote.of(path);
        let mut writer = match meta.version {
            Some(v) if size > 0 && meta.size > 0 => {
                Writer::existing(&self.client, spool, &remote, v, false)
                    .await
                    .map_err(|e| fail("truncate", &remote, &e))?
            }
            v => Writer::empty(spool, v.map_or(Base::Absent, Base::Version), false)
                .map_err(|_| Errno::EIO)?,
        };
        writer.set_len(size).map_err(|_| Errno::EIO)?;
        self.register(fh, ino, true, FileState::Writing(writer));
        let committed = self.commit(fh).await;
        self.release(fh).await;
        committed
    }

    /// The path of `name` in folder `parent`, checked.
    pub fn child_path(&self, parent: u64, name: &std::ffi::OsStr) -> Res<String> {
        let name = name.to_str().ok_or(Errno::EINVAL)?;
        super::errno::check_name(name)?;
        Ok(child(&self.path(parent)?, name))
    }
}
