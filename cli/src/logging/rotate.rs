//! A log file rotated by size: when a line would take the file past its limit, `PATH.(k-1)` becomes
//! `PATH.k` down to `PATH` becoming `PATH.1`, the oldest beyond `keep` is deleted, and a fresh
//! `PATH` is opened. Lines are never split across files. A failed rotation keeps writing to
//! the current file rather than losing lines.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use tracing_subscriber::fmt::MakeWriter;

/// A size-rotated log file, shared by every thread that logs.
#[derive(Clone)]
pub struct RotatingFile {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: File,
    len: u64,
}

impl RotatingFile {
    /// Opens (appending to) `path`, rotated past `max_bytes`, keeping `keep` older files.
    pub fn open(path: PathBuf, max_bytes: u64, keep: usize) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let len = file.metadata()?.len();
        let inner = Inner { path, max_bytes, keep, file, len };
        Ok(Self { inner: Arc::new(Mutex::new(inner)) })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while logging leaves the file usable: take it back.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn rotated(&self, k: usize) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{k}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.keep == 0 {
            self.file.set_len(0)?;
            self.len = 0;
            return Ok(());
        }
        let _ = std::fs::remove_file(self.rotated(self.keep));
        for k in (1..self.keep).rev() {
            let from = self.rotated(k);
            if from.exists() {
                std::fs::rename(&from, self.rotated(k + 1))?;
            }
        }
        std::fs::rename(&self.path, self.rotated(1))?;
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.len = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut inner = self.lock();
        if inner.len > 0 && inner.len + buf.len() as u64 > inner.max_bytes {
            // Keep logging to the current file if rotating fails (a full or read-only dir).
            let _ = inner.rotate();
        }
        let written = inner.file.write(buf)?;
        inner.len += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.lock().file.flush()
    }
}

impl<'a> MakeWriter<'a> for RotatingFile {
    type Writer = RotatingFile;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_rotate_at_the_limit_keep_whole_lines_and_at_most_keep_old_ones() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("node.log");
        let mut log = RotatingFile::open(path.clone(), 100, 2).expect("open");
        for i in 0..30 {
            log.write_all(format!("line {i:02} of the log, padded\n").as_bytes()).expect("write");
        }
        let names = |k: &str| dir.path().join(format!("node.log{k}"));
        for name in [names(""), names(".1"), names(".2")] {
            let text = std::fs::read_to_string(&name).expect("rotated file exists");
            assert!(text.len() <= 100, "{}: {} bytes", name.display(), text.len());
            assert!(text.ends_with('\n') && text.lines().all(|l| l.starts_with("line ")));
        }
        assert!(!names(".3").exists(), "only 2 old files are kept");
        let newest = std::fs::read_to_string(names("")).expect("current");
        assert!(newest.contains("line 29"), "{newest}");
        let older = std::fs::read_to_string(names(".1")).expect("previous");
        assert!(older < newest, "PATH.1 holds the lines before PATH's");
    }
}
