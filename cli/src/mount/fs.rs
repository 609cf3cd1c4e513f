//! The `fuser::Filesystem` of the mount: each kernel request is answered from a task on the
//! tokio runtime (fuser calls us on one thread; the network never blocks it), with the errno
//! [`super::core::Core`] gives. Unsupported operations answer a clear errno, never a fake
//! success (docs/mount.md).

use std::ffi::OsStr;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use fuser::{
    FileType, Filesystem, KernelConfig, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow,
};
use nix::errno::Errno;

use super::core::{lock, Core, DirCursor, FileState, TTL};
use super::inodes::Meta;
use super::spool::{Base, Writer};

/// `O_ACCMODE`, `O_WRONLY`, `O_RDWR`, `O_TRUNC`, `O_APPEND`, `O_EXCL` (Linux values).
const O_ACCMODE: i32 = 0o3;
const O_TRUNC: i32 = 0o1000;
const O_APPEND: i32 = 0o2000;
const O_EXCL: i32 = 0o200;
/// The FUSE capability: the file system handles `O_TRUNC` at open (no separate setattr).
const FUSE_ATOMIC_O_TRUNC: u64 = 1 << 3;

/// The mount's file system.
pub struct DfsFs {
    core: Arc<Core>,
    runtime: tokio::runtime::Handle,
}

impl DfsFs {
    /// A file system over `core`, running its work on `runtime`.
    pub fn new(core: Arc<Core>, runtime: tokio::runtime::Handle) -> Self {
        Self { core, runtime }
    }

    fn spawn<F, Fut>(&self, work: F)
    where
        F: FnOnce(Arc<Core>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.runtime.spawn(work(self.core.clone()));
    }
}

fn code(errno: Errno) -> i32 {
    errno as i32
}

fn entry(core: &Core, path: &str, meta: &Meta, reply: ReplyEntry) {
    let ino = lock(&core.inodes).lookup(path);
    reply.entry(&TTL, &core.attr(ino, meta), 0);
}

impl Filesystem for DfsFs {
    fn init(&mut self, _req: &Request<'_>, config: &mut KernelConfig) -> Result<(), i32> {
        let _ = config.add_capabilities(FUSE_ATOMIC_O_TRUNC);
        let _ = config.set_max_write(1024 * 1024);
        let _ = config.set_max_readahead(1024 * 1024);
        Ok(())
    }

    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let name = name.to_owned();
        self.spawn(|core| async move {
            let path = match core.child_path(parent, &name) {
                Ok(path) => path,
                Err(e) => return reply.error(code(e)),
            };
            match core.meta(&path, false).await {
                Ok(Some(meta)) => entry(&core, &path, &meta, reply),
                Ok(None) => reply.error(code(Errno::ENOENT)),
                Err(e) => reply.error(code(e)),
            }
        });
    }

    fn forget(&mut self, _req: &Request<'_>, ino: u64, nlookup: u64) {
        lock(&self.core.inodes).forget(ino, nlookup);
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        self.spawn(|core| async move {
            let path = match core.path(ino) {
                Ok(path) => path,
                Err(e) => return reply.error(code(e)),
            };
            match core.meta(&path, false).await {
                Ok(Some(meta)) => reply.attr(&TTL, &core.attr(ino, &meta)),
                Ok(None) => reply.error(code(Errno::ENOENT)),
                Err(e) => reply.error(code(e)),
            }
        });
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        fh: Option<u64>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        // Ownership is the cluster's (users and grants), not uid/gid: a chown to anyone else
        // is refused. Mode bits and times are not stored (docs/mount.md): they are ignored.
        if uid.is_some_and(|u| u != self.core.uid) || gid.is_some_and(|g| g != self.core.gid) {
            return reply.error(code(Errno::EPERM));
        }
        self.spawn(|core| async move {
            let path = match core.path(ino) {
                Ok(path) => path,
                Err(e) => return reply.error(code(e)),
            };
            if let Some(size) = size {
                if let Err(e) = core.truncate(ino, &path, fh, size).await {
                    return reply.error(code(e));
                }
            }
            match core.meta(&path, false).await {
                Ok(Some(meta)) => reply.attr(&TTL, &core.attr(ino, &meta)),
                Ok(None) => reply.error(code(Errno::ENOENT)),
                Err(e) => reply.error(code(e)),
            }
        });
    }

    fn readlink(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyData) {
        reply.error(code(Errno::EINVAL));
    }

    fn mknod(
        &mut self,
        _req: &Request<'_>,
        _parent: u64,
        _name: &OsStr,
        mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        // Regular files come through create; devices, fifos and sockets are not stored.
        let _ = mode;
        reply.error(code(Errno::EPERM));
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let name = name.to_owned();
        self.spawn(|core| async move {
            let path = match core.child_path(parent, &name) {
                Ok(path) => path,
                Err(e) => return reply.error(code(e)),
            };
            match core.mkdir(&path).await {
                Ok(meta) => entry(&core, &path, &meta, reply),
                Err(e) => reply.error(code(e)),
            }
        });
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, false, reply);
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, true, reply);
    }

    fn symlink(
        &mut self,
        _req: &Request<'_>,
        _parent: u64,
        _link_name: &OsStr,
        _target: &std::path::Path,
        reply: ReplyEntry,
    ) {
        reply.error(code(Errno::ENOTSUP));
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        let (name, newname) = (name.to_owned(), newname.to_owned());
        self.spawn(|core| async move {
            let paths = core
                .child_path(parent, &name)
                .and_then(|from| core.child_path(newparent, &newname).map(|to| (from, to)));
            let done = match paths {
                Ok((from, to)) => core.rename(&from, &to, flags).await,
                Err(e) => Err(e),
            };
            match done {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(code(e)),
            }
        });
    }

    fn link(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _newparent: u64,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(code(Errno::EPERM));
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        let write = flags & O_ACCMODE != 0;
        let (truncate, append) = (flags & O_TRUNC != 0, flags & O_APPEND != 0);
        self.spawn(|core| async move {
            let path = match core.path(ino) {
                Ok(path) => path,
                Err(e) => return reply.error(code(e)),
            };
            // No FOPEN_KEEP_CACHE: the kernel drops its page cache at every open, so an open
            // after another client's close reads the new version (close-to-open).
            match core.open(ino, &path, write, truncate, append).await {
                Ok(fh) => reply.opened(fh, 0),
                Err(e) => reply.error(code(e)),
            }
        });
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let offset = offset.max(0) as u64;
        self.spawn(|core| async move {
            match core.read(fh, offset, size).await {
                Ok(bytes) => reply.data(&bytes),
                Err(e) => reply.error(code(e)),
            }
        });
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let data = data.to_vec();
        let offset = offset.max(0) as u64;
        self.spawn(|core| async move {
            let file = match core.file(fh) {
                Ok(file) => file,
                Err(e) => return reply.error(code(e)),
            };
            let mut state = file.state.lock().await;
            let FileState::Writing(writer) = &mut *state else {
                return reply.error(code(Errno::EBADF));
            };
            match writer.write(offset, &data) {
                Ok(n) => {
                    file.size.store(writer.len().unwrap_or(0), Ordering::Relaxed);
                    reply.written(n)
                }
                Err(e) => reply.error(e.raw_os_error().unwrap_or(code(Errno::EIO))),
            }
        });
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, fh: u64, _lock: u64, reply: ReplyEmpty) {
        self.spawn(|core| async move {
            match core.commit(fh).await {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(code(e)),
            }
        });
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.spawn(|core| async move {
            core.release(fh).await;
            reply.ok();
        });
    }

    fn fsync(&mut self, _req: &Request<'_>, _ino: u64, fh: u64, _data: bool, reply: ReplyEmpty) {
        self.flush(_req, _ino, fh, 0, reply);
    }

    fn opendir(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        let fh = self.core.fh();
        lock(&self.core.dirs).insert(fh, Arc::new(tokio::sync::Mutex::new(DirCursor::default())));
        let _ = ino;
        reply.opened(fh, 0);
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        self.spawn(|core| async move {
            let Some(cursor) = lock(&core.dirs).get(&fh).cloned() else {
                return reply.error(code(Errno::EBADF));
            };
            let path = match core.path(ino) {
                Ok(path) => path,
                Err(e) => return reply.error(code(e)),
            };
            let mut cursor = cursor.lock().await;
            loop {
                while cursor.rows.front().is_some_and(|r| r.0 <= offset) {
                    cursor.rows.pop_front();
                }
                let first = cursor.rows.front().map_or(cursor.next_offset, |r| r.0);
                if offset == 0 || first > offset + 1 {
                    // The start, or a seek back before what is buffered: list again.
                    *cursor = DirCursor { next_offset: 3, ..DirCursor::default() };
                    cursor.rows.push_back((1, ino, true, ".".into()));
                    cursor.rows.push_back((2, ino, true, "..".into()));
                    if offset >= 1 {
                        continue;
                    }
                }
                if cursor.rows.is_empty() && !cursor.done {
                    if let Err(e) = core.next_page(&path, &mut cursor).await {
                        return reply.error(code(e));
                    }
                    continue;
                }
                break;
            }
            for (off, row_ino, folder, name) in cursor.rows.iter() {
                let kind = if *folder { FileType::Directory } else { FileType::RegularFile };
                if reply.add(*row_ino, *off, kind, name) {
                    break;
                }
            }
            reply.ok();
        });
    }

    fn releasedir(&mut self, _req: &Request<'_>, _ino: u64, fh: u64, _f: i32, reply: ReplyEmpty) {
        lock(&self.core.dirs).remove(&fh);
        reply.ok();
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        self.spawn(|core| async move {
            match super::remote::usage(&core.client).await {
                Ok((capacity, free)) => {
                    let block = 4096u64;
                    let (blocks, free) = (capacity / block, free / block);
                    reply.statfs(blocks, free, free, 0, 0, block as u32, 255, block as u32);
                }
                Err(e) => reply.error(code(super::core::fail("statfs", "/", &e))),
            }
        });
    }

    fn getxattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        name: &OsStr,
        size: u32,
        reply: ReplyXattr,
    ) {
        let name = name.to_owned();
        self.spawn(|core| async move {
            match core.xattr(ino, &name).await {
                Ok(value) if size == 0 => reply.size(value.len() as u32),
                Ok(value) if value.len() > size as usize => reply.error(code(Errno::ERANGE)),
                Ok(value) => reply.data(&value),
                Err(e) => reply.error(code(e)),
            }
        });
    }

    fn listxattr(&mut self, _req: &Request<'_>, ino: u64, size: u32, reply: ReplyXattr) {
        self.spawn(|core| async move {
            let names = match core.xattr_names(ino).await {
                Ok(names) => names,
                Err(e) => return reply.error(code(e)),
            };
            if size == 0 {
                reply.size(names.len() as u32)
            } else if names.len() > size as usize {
                reply.error(code(Errno::ERANGE))
            } else {
                reply.data(&names)
            }
        });
    }

    fn setxattr(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(code(Errno::ENOTSUP));
    }

    fn removexattr(&mut self, _req: &Request<'_>, _ino: u64, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(code(Errno::ENOTSUP));
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let name = name.to_owned();
        self.spawn(|core| async move {
            match create(&core, parent, &name, flags).await {
                Ok((ino, fh, meta)) => reply.created(&TTL, &core.attr(ino, &meta), 0, fh, 0),
                Err(e) => reply.error(code(e)),
            }
        });
    }

    fn fallocate(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _fh: u64,
        _offset: i64,
        _length: i64,
        _mode: i32,
        reply: ReplyEmpty,
    ) {
        reply.error(code(Errno::ENOTSUP));
    }
}

impl DfsFs {
    fn remove(&mut self, parent: u64, name: &OsStr, folder: bool, reply: ReplyEmpty) {
        let name = name.to_owned();
        self.spawn(|core| async move {
            let done = match core.child_path(parent, &name) {
                Ok(path) => core.remove(&path, folder).await,
                Err(e) => Err(e),
            };
            match done {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(code(e)),
            }
        });
    }
}

/// `open(O_CREAT)`: a new spool for `name` in `parent` (an existing file is opened as `open`
/// would, or refused with `O_EXCL`).
async fn create(
    core: &Arc<Core>,
    parent: u64,
    name: &OsStr,
    flags: i32,
) -> Result<(u64, u64, Meta), Errno> {
    if core.read_only {
        return Err(Errno::EROFS);
    }
    let path = core.child_path(parent, name)?;
    let existing = core.meta(&path, true).await?;
    let ino = lock(&core.inodes).lookup(&path);
    let opened = match existing {
        Some(_) if flags & O_EXCL != 0 => Err(Errno::EEXIST),
        Some(_) => core.open(ino, &path, true, flags & O_TRUNC != 0, flags & O_APPEND != 0).await,
        None => {
            let fh = core.fh();
            let spool = core.spool_dir.join(fh.to_string());
            match Writer::empty(spool, Base::Absent, flags & O_APPEND != 0) {
                Ok(writer) => {
                    core.register(fh, ino, true, FileState::Writing(writer));
                    Ok(fh)
                }
                Err(_) => Err(Errno::EIO),
            }
        }
    };
    let fh = match opened {
        Ok(fh) => fh,
        Err(e) => {
            lock(&core.inodes).forget(ino, 1);
            return Err(e);
        }
    };
    let file = core.file(fh)?;
    let meta = Meta {
        folder: false,
        size: file.size.load(Ordering::Relaxed),
        version: None,
        hash: None,
        mtime_ms: super::core::now_ms(),
    };
    Ok((ino, fh, meta))
}
