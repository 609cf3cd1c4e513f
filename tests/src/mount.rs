//! A `dfs mount` process for the mount tests: started on a temp folder, waited for until the
//! kernel lists the mount, and always unmounted (`fusermount3 -u`) and stopped when dropped,
//! even when the test fails. FUSE missing is a loud failure, never a skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{dfs_bin, TestCluster};

/// How long a mount may take to appear.
pub const MOUNT_WAIT: Duration = Duration::from_secs(30);

/// A running `dfs mount`.
pub struct Mount {
    child: Child,
    /// The mount point.
    pub dir: PathBuf,
    /// Its log.
    pub log: PathBuf,
    /// Its `--cache-dir`.
    pub cache: PathBuf,
    _temp: tempfile::TempDir,
}

/// Whether `dir` is a mount point now (from /proc/self/mountinfo).
pub fn is_mounted(dir: &Path) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else { return false };
    let wanted = dir.display().to_string();
    table.lines().any(|line| line.split(' ').nth(4) == Some(wanted.as_str()))
}

impl Mount {
    /// Mounts the cluster through `nodes` (base URLs) as `token`, with `extra` arguments.
    pub fn start(nodes: &[String], token: &str, extra: &[&str]) -> Self {
        assert!(
            Path::new("/dev/fuse").exists(),
            "/dev/fuse is missing: the mount tests need FUSE (apt-get install fuse3)"
        );
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().join("mnt");
        let cache = temp.path().join("cache");
        std::fs::create_dir_all(&dir).expect("mount point");
        let dir = std::fs::canonicalize(&dir).expect("canonical mount point");
        let log = temp.path().join("mount.log");
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(dfs_bin())
            .arg("mount")
            .arg(&dir)
            .arg("--cache-dir")
            .arg(&cache)
            .args(extra)
            .env("DFS_NODES", nodes.join(","))
            .env("DFS_TOKEN", token)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("start dfs mount");
        let mut mount = Self { child, dir, log, cache, _temp: temp };
        let deadline = Instant::now() + MOUNT_WAIT;
        while !is_mounted(&mount.dir) {
            if let Ok(Some(status)) = mount.child.try_wait() {
                panic!("dfs mount exited ({status}) before mounting:\n{}", mount.output());
            }
            assert!(
                Instant::now() < deadline,
                "no mount after {MOUNT_WAIT:?}:\n{}",
                mount.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        mount
    }

    /// Mounts `cluster` through every node as the admin.
    pub fn admin(cluster: &TestCluster, extra: &[&str]) -> Self {
        Self::start(&cluster.urls(), &crate::admin_token(), extra)
    }

    /// `rel` inside the mount.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// The mount's log so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The mount process's peak resident memory (VmHWM), if readable.
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if is_mounted(&self.dir) {
            let _ = Command::new("fusermount3").arg("-u").arg("-z").arg(&self.dir).status();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
