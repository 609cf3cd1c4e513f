//! `dfs mount` under failure (issue 19 point 6): kill -9 of the node the mount talks to during a
//! large sequential read and during a `cp -r` into the mount loses nothing and returns no error;
//! the mount's memory stays bounded while a large file is copied in and out. Sizes are CI-sized
//! by default; `DFS_MOUNT_BIG_MIB` and `DFS_MOUNT_LARGE_MIB` raise them (256 and 2048 for the
//! issue's sizes).

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use dfs_tests::mount::Mount;
use dfs_tests::{random_bytes, wait_for, ClusterSpec, TestCluster};

const WAIT: Duration = Duration::from_secs(120);
const MIB: usize = 1024 * 1024;

fn env_mib(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Writes `mib` MiB of seeded random bytes to `path`, a MiB at a time; returns their blake3.
fn write_random(path: &Path, mib: usize) -> blake3::Hash {
    let mut file = std::fs::File::create(path).expect("local file");
    let mut hasher = blake3::Hasher::new();
    for i in 0..mib {
        let piece = random_bytes(MIB, i as u64 + 1000);
        hasher.update(&piece);
        file.write_all(&piece).expect("write");
    }
    hasher.finalize()
}

/// blake3 and length of a file read 1 MiB at a time, calling `at_mib` after each MiB.
fn hash_reading(path: &Path, mut at_mib: impl FnMut(usize)) -> (blake3::Hash, u64) {
    let mut file = std::fs::File::open(path).expect("open");
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; MIB];
    let (mut total, mut mib) = (0u64, 0usize);
    loop {
        let n = file.read(&mut buffer).unwrap_or_else(|e| panic!("read error at {total}: {e}"));
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        total += n as u64;
        if total as usize / MIB > mib {
            mib = total as usize / MIB;
            at_mib(mib);
        }
    }
    (hasher.finalize(), total)
}

#[tokio::test(flavor = "multi_thread")]
async fn kill9_of_the_node_a_mount_reads_from_mid_read_is_invisible() {
    let mut cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let mib = env_mib("DFS_MOUNT_BIG_MIB", 64);
    let temp = tempfile::tempdir().expect("temp dir");
    let local = temp.path().join("big.bin");
    let expected = write_random(&local, mib);
    let (ok, _, err) = cluster.cli(&["put", &local.display().to_string(), "/big.bin"]);
    assert!(ok, "{err}");
    // The mount lists node 1 first: it is the node the mount talks to.
    let mount = Mount::admin(&cluster, &[]);
    let mut killed = false;
    let (hash, len) = hash_reading(&mount.path("big.bin"), |at| {
        if at == mib / 4 && !killed {
            cluster.kill9(1);
            killed = true;
        }
    });
    assert!(killed, "node 1 was killed during the read");
    assert_eq!(len, (mib * MIB) as u64, "nothing lost\n{}", mount.output());
    assert_eq!(hash, expected, "byte-exact");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill9_of_the_node_a_mount_writes_through_during_cp_r_loses_nothing() {
    let mut cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let mount = Mount::admin(&cluster, &[]);
    let source = tempfile::tempdir().expect("temp dir");
    let src = source.path().join("tree");
    for i in 0..150usize {
        let folder = src.join(format!("d{}", i % 5));
        std::fs::create_dir_all(&folder).expect("folder");
        let size = if i % 10 == 0 { MIB + 3 * i } else { 2_000 * i };
        std::fs::write(folder.join(format!("f{i}")), random_bytes(size, i as u64)).expect("file");
    }
    let target = mount.path("tree");
    let mut cp = Command::new("cp").arg("-r").arg(&src).arg(&target).spawn().expect("cp -r");
    let counted = target.clone();
    wait_for(WAIT, "cp -r is part way", || {
        let counted = counted.clone();
        async move {
            let files: usize = (0..5)
                .filter_map(|d| std::fs::read_dir(counted.join(format!("d{d}"))).ok())
                .map(|entries| entries.count())
                .sum();
            (files >= 20).then_some(())
        }
    })
    .await;
    let running = cp.try_wait().expect("cp state").is_none();
    cluster.kill9(1);
    assert!(running, "node 1 died while cp -r was running");
    let status = cp.wait().expect("cp ends");
    assert!(status.success(), "cp -r returned no error\n{}", mount.output());
    let diff = Command::new("diff").arg("-r").arg(&src).arg(&target).output().expect("diff");
    assert!(
        diff.status.success(),
        "nothing lost: {}\n{}",
        String::from_utf8_lossy(&diff.stdout),
        mount.output()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mounts_memory_stays_bounded_while_a_large_file_is_copied() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let mount = Mount::admin(&cluster, &["--cache-mib", "64"]);
    let mib = env_mib("DFS_MOUNT_LARGE_MIB", 256);
    let temp = tempfile::tempdir().expect("temp dir");
    let local = temp.path().join("large.bin");
    let expected = write_random(&local, mib);
    let status = Command::new("cp").arg(&local).arg(mount.path("large.bin")).status().expect("cp");
    assert!(status.success(), "cp into the mount\n{}", mount.output());
    std::fs::remove_file(&local).expect("free the disk");
    let (hash, len) = hash_reading(&mount.path("large.bin"), |_| {});
    assert_eq!((hash, len), (expected, (mib * MIB) as u64), "read back byte-exact");
    let peak = mount.peak_rss_bytes().expect("VmHWM of the mount");
    eprintln!("mount peak RSS {} MiB for {mib} MiB", peak / MIB as u64);
    let bound = 160 * MIB as u64;
    assert!(peak < bound, "the mount peaked at {} MiB copying {mib} MiB", peak / MIB as u64);
}
