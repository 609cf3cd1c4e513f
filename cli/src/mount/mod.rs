//! `dfs mount MOUNTPOINT`: the cluster (or one folder of it) as a local file system over FUSE,
//! with close-to-open consistency (docs/mount.md), through the same failover client as every
//! client command. Runs in the foreground until Ctrl-C, SIGTERM or `dfs umount MOUNTPOINT`.
//!
//! - [`fs`]: the `fuser::Filesystem`, answering each kernel request from a tokio task;
//! - [`core`]: state and the read/write/open operations; [`ns`]: namespace operations;
//! - [`inodes`]: inode numbers ⇄ paths and the attribute cache;
//! - [`cache`]: the blake3-verified block cache and read-ahead;
//! - [`spool`]: files open for writing and their conditional commit (conflicts kept aside);
//! - [`events`]: the change feed invalidating caches;
//! - [`remote`]: the HTTP calls; [`errno`]: API errors → errno; [`xattr`]: `user.dfs.*`.

pub mod cache;
pub mod core;
pub mod errno;
pub mod events;
pub mod fs;
pub mod inodes;
pub mod ns;
pub mod remote;
pub mod spool;
pub mod xattr;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use fuser::MountOption;

use crate::client::Client;

/// `dfs mount` arguments.
#[derive(Debug, clap::Args)]
pub struct MountArgs {
    /// The (empty) local folder to mount on.
    pub mountpoint: PathBuf,
    /// The cluster folder shown at the mount point.
    #[arg(long, default_value = "/")]
    pub remote: String,
    /// Refuse every change (EROFS).
    #[arg(long)]
    pub read_only: bool,
    /// Where cached blocks and write spools go (default: a temporary folder removed at unmount).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Most MiB of cached file blocks kept in the cache folder.
    #[arg(long, default_value_t = 1024)]
    pub cache_mib: u64,
    /// Detach: run the mount as its own session (logs to --log-file, else nowhere) and return
    /// once it is mounted.
    #[arg(long)]
    pub daemon: bool,
}

/// How long `--daemon` waits for the detached mount to appear.
const DAEMON_WAIT: Duration = Duration::from_secs(30);

/// Whether `dir` is a mount point now.
fn is_mounted(dir: &Path) -> bool {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let wanted = dir.display().to_string();
    table.lines().any(|line| line.split(' ').nth(4) == Some(wanted.as_str()))
}

/// `--daemon`: starts this same command without `--daemon` in a new session (`setsid`), with
/// no terminal, and waits until the mount appears or the child fails.
pub async fn daemonize(mountpoint: &Path) -> anyhow::Result<()> {
    let mountpoint = std::fs::canonicalize(mountpoint)
        .with_context(|| format!("{} is not a folder I can mount on", mountpoint.display()))?;
    let exe = std::env::current_exe().context("locating the dfs binary")?;
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--daemon").collect();
    let mut child = std::process::Command::new("setsid")
        .arg(exe)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting the detached mount (setsid)")?;
    let deadline = tokio::time::Instant::now() + DAEMON_WAIT;
    while !is_mounted(&mountpoint) {
        if let Some(status) = child.try_wait()? {
            bail!("the detached mount exited ({status}) before mounting; see its --log-file");
        }
        if tokio::time::Instant::now() > deadline {
            bail!("no mount on {} after {DAEMON_WAIT:?}", mountpoint.display());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!(pid = child.id(), mountpoint = %mountpoint.display(), "mounted in the background");
    eprintln!(
        "dfs: mounted {} (pid {}); `dfs umount {0}` ends it",
        mountpoint.display(),
        child.id()
    );
    Ok(())
}

/// Runs the mount until it is unmounted or the process is told to stop.
pub async fn run(client: Client, args: MountArgs) -> anyhow::Result<()> {
    if args.daemon {
        return daemonize(&args.mountpoint).await;
    }
    let mountpoint = std::fs::canonicalize(&args.mountpoint)
        .with_context(|| format!("{} is not a folder I can mount on", args.mountpoint.display()))?;
    let owner = std::fs::metadata(&mountpoint)?;
    if !owner.is_dir() {
        bail!("{} is not a folder", mountpoint.display());
    }
    let user = remote::whoami(&client).await.context("asking the cluster who the token is")?;
    let remote = remote::Remote::new(&args.remote);
    match remote::stat(&client, &remote.of("/")).await? {
        Some(meta) if meta.folder => {}
        Some(_) => bail!("{} is a file, not a folder", args.remote),
        None => bail!("{} does not exist in the cluster (dfs mkdir it first)", args.remote),
    }
    let (cache_dir, temporary) = match &args.cache_dir {
        Some(dir) => (dir.clone(), false),
        None => (std::env::temp_dir().join(format!("dfs-mount-{}", std::process::id())), true),
    };
    let spool_dir = cache_dir.join("spool");
    let _ = std::fs::remove_dir_all(&spool_dir);
    std::fs::create_dir_all(&spool_dir)
        .with_context(|| format!("creating {}", spool_dir.display()))?;
    let blocks = cache::BlockCache::new(cache_dir.join("blocks"), args.cache_mib * 1024 * 1024)
        .with_context(|| format!("creating the cache in {}", cache_dir.display()))?;
    let core = Arc::new(core::Core::new(
        client,
        remote,
        blocks,
        spool_dir,
        user.clone(),
        args.read_only,
        owner.uid(),
        owner.gid(),
    ));
    let mut options = vec![
        MountOption::FSName("dfs".into()),
        MountOption::Subtype("dfs".into()),
        MountOption::NoDev,
        MountOption::NoSuid,
    ];
    if args.read_only {
        options.push(MountOption::RO);
    }
    let filesystem = fs::DfsFs::new(core.clone(), tokio::runtime::Handle::current());
    let session = fuser::spawn_mount2(filesystem, &mountpoint, &options)
        .with_context(|| format!("mounting on {} (is fuse3 installed?)", mountpoint.display()))?;
    let follower = tokio::spawn(events::follow(core, session.notifier()));
    tracing::info!(
        mountpoint = %mountpoint.display(),
        remote = args.remote,
        user,
        "mounted; Ctrl-C or `dfs umount` ends it"
    );
    let ended = wait_for_end(&session).await;
    follower.abort();
    drop(session);
    if temporary {
        let _ = std::fs::remove_dir_all(&cache_dir);
    }
    tracing::info!(mountpoint = %mountpoint.display(), why = ended, "unmounted");
    Ok(())
}

/// Waits for Ctrl-C, SIGTERM, or the kernel ending the session (an `umount`).
async fn wait_for_end(session: &fuser::BackgroundSession) -> &'static str {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return "interrupted",
            Some(()) = async { match term.as_mut() { Some(t) => t.recv().await, None => None } } => {
                return "terminated"
            }
            _ = tick.tick() => {
                if session.guard.is_finished() {
                    return "unmounted from outside";
                }
            }
        }
    }
}

/// `dfs umount MOUNTPOINT`.
pub fn umount(mountpoint: &Path) -> anyhow::Result<()> {
    let attempts: [(&str, &[&str]); 2] = [("fusermount3", &["-u"]), ("umount", &[])];
    let mut last = String::new();
    for (program, flags) in attempts {
        match std::process::Command::new(program).args(flags).arg(mountpoint).output() {
            Ok(output) if output.status.success() => return Ok(()),
            Ok(output) => last = String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            Err(error) => last = format!("{program}: {error}"),
        }
    }
    bail!("cannot unmount {}: {last}", mountpoint.display())
}
