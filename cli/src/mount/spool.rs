//! Files open for writing (close-to-open, docs/mount.md): writes go to a local spool file; a
//! close or fsync commits the spool as a new version with the chunk-level upload of `dfs watch`
//! (only chunks the cluster lacks are sent), conditional on the version that was opened. When
//! someone else wrote the file meanwhile, the spool is kept next to it as
//! `NAME.conflict-<user>-<time>` and the close fails: nothing is silently clobbered.

use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use nix::errno::Errno;

use super::errno::{errno_of, is_conflict};
use crate::client::Client;
use crate::sync::upload::{push, Condition, Pushed};
use crate::transfer::{fetch, Which};

/// What the commit of a spool is conditional on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// Nothing was at the path when it was opened.
    Absent,
    /// This version was the latest when it was opened (or last committed here).
    Version(u64),
}

/// One file open for writing.
pub struct Writer {
    spool: PathBuf,
    file: std::fs::File,
    base: Base,
    dirty: bool,
    append: bool,
}

impl Writer {
    /// An empty spool at `spool` (a new file, or an existing one opened with `O_TRUNC`), to be
    /// committed on close even if nothing is written.
    pub fn empty(spool: PathBuf, base: Base, append: bool) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&spool)?;
        Ok(Self { spool, file, base, dirty: true, append })
    }

    /// A spool holding `version` of `remote` (downloaded and verified), committed on close only
    /// if changed.
    pub async fn existing(
        client: &Client,
        spool: PathBuf,
        remote: &str,
        version: u64,
        append: bool,
    ) -> anyhow::Result<Self> {
        fetch(client, remote, &spool, &Which::Version(version)).await?;
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&spool)?;
        Ok(Self { spool, file, base: Base::Version(version), dirty: false, append })
    }

    /// Marks the spool as holding what is committed already (nothing to commit yet).
    pub fn mark_clean(&mut self) {
        self.dirty = false;
    }

    /// Writes `data` at `offset` (at the end with `O_APPEND`); the bytes written.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> std::io::Result<u32> {
        let at = if self.append { self.len()? } else { offset };
        self.file.write_all_at(data, at)?;
        self.dirty = true;
        Ok(data.len() as u32)
    }

    /// Up to `size` bytes at `offset`.
    pub fn read(&self, offset: u64, size: u32) -> std::io::Result<Vec<u8>> {
        let len = self.len()?;
        let end = len.min(offset.saturating_add(u64::from(size)));
        let mut buffer = vec![0u8; end.saturating_sub(offset) as usize];
        self.file.read_exact_at(&mut buffer, offset)?;
        Ok(buffer)
    }

    /// Truncates or extends to `len`.
    pub fn set_len(&mut self, len: u64) -> std::io::Result<()> {
        self.file.set_len(len)?;
        self.dirty = true;
        Ok(())
    }

    /// The spool's length.
    pub fn len(&self) -> std::io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// Whether there is something to commit.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Commits the spool to `remote` if it changed: `Ok(None)` when there was nothing to do.
    /// A conflict keeps the spool as `NAME.conflict-<user>-<time>` and fails with EIO; any
    /// other failure leaves it uncommitted (a later fsync or close tries again).
    pub async fn commit(
        &mut self,
        client: &Client,
        remote: &str,
        user: &str,
    ) -> Result<Option<Pushed>, Errno> {
        if !self.dirty {
            return Ok(None);
        }
        let condition = match self.base {
            Base::Absent => Condition::Absent,
            Base::Version(v) => Condition::Version(v),
        };
        let pushed = push(client, &self.spool, remote, condition).await;
        tracing::debug!(remote, ?condition, ok = pushed.is_ok(), "commit");
        match pushed {
            Ok(pushed) => {
                self.base = Base::Version(pushed.version);
                self.dirty = false;
                Ok(Some(pushed))
            }
            Err(error) if is_conflict(&error) => {
                self.dirty = false;
                let kept = conflict_path(remote, user, now_secs());
                match push(client, &self.spool, &kept, Condition::Absent).await {
                    Ok(_) => tracing::warn!(
                        path = remote,
                        kept,
                        "someone else wrote the file since it was opened; this content is kept aside"
                    ),
                    Err(error) => tracing::error!(
                        path = remote,
                        kept,
                        error = format!("{error:#}"),
                        "conflict, and keeping this content aside failed too"
                    ),
                }
                Err(Errno::EIO)
            }
            Err(error) => {
                let errno = errno_of(&error);
                tracing::error!(
                    path = remote,
                    ?errno,
                    error = format!("{error:#}"),
                    "commit failed"
                );
                Err(errno)
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.spool);
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Where a conflicting write is kept: `NAME.conflict-<user>-<UTC time>` next to `path`.
pub fn conflict_path(path: &str, user: &str, epoch_secs: u64) -> String {
    let user: String = user
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    format!("{path}.conflict-{user}-{}", utc_stamp(epoch_secs))
}

/// `YYYYMMDDTHHMMSSZ` for seconds since the epoch.
pub fn utc_stamp(epoch_secs: u64) -> String {
    let days = (epoch_secs / 86_400) as i64;
    let secs = epoch_secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_copies_are_named_by_user_and_time() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(1_796_318_701), "20261203T172501Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z", "a leap day");
        assert_eq!(
            conflict_path("/d/notes.txt", "ann/x", 0),
            "/d/notes.txt.conflict-ann_x-19700101T000000Z"
        );
    }

    #[test]
    fn the_spool_reads_writes_appends_and_truncates() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut w = Writer::empty(dir.path().join("s"), Base::Absent, false).expect("spool");
        assert!(w.is_dirty(), "a new file is committed even when empty");
        assert_eq!(w.write(0, b"hello").expect("write"), 5);
        assert_eq!(w.write(3, b"p!").expect("write"), 2);
        assert_eq!(w.read(0, 100).expect("read"), b"help!");
        w.set_len(2).expect("truncate");
        assert_eq!(w.read(0, 100).expect("read"), b"he");
        assert_eq!(w.read(10, 5).expect("read past the end"), b"");
        let mut a = Writer::empty(dir.path().join("a"), Base::Absent, true).expect("spool");
        a.write(0, b"ab").expect("write");
        a.write(0, b"cd").expect("append ignores the offset");
        assert_eq!(a.read(0, 10).expect("read"), b"abcd");
        let path = dir.path().join("a");
        drop(a);
        assert!(!path.exists(), "the spool goes with the handle");
    }
}
