//! Crash safety (issue 8, point 4; `docs/durability.md`): a node is made to abort at each
//! crash point of the write path (`DFS_FAILPOINT`: chunk store temp write, rename, directory
//! fsync; raft log before and after its commit; write path after the quorum and before the
//! reply) while it takes writes. After a plain restart it must hold no temp file and no chunk
//! file whose bytes do not match its name, every acknowledged write must read back byte-exact,
//! and `dfs fsck` must be clean.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use dfs_runtime::failpoint::{CrashPoint, FAILPOINT_ENV, FAILPOINT_SKIP_ENV};
use dfs_tests::{random_bytes, stored_chunk_files, wait_for, ClusterSpec, TestCluster};

/// The node that is made to crash (it takes the writes, so it runs every point).
const ARMED: u64 = 3;
/// Longest the armed node may take to reach its crash point.
const CRASH_WITHIN: Duration = Duration::from_secs(20);

/// Passes let through before the crash: past the first write or so, so the node dies with
/// acknowledged data behind it, not at its first step.
fn skip(point: CrashPoint) -> u64 {
    match point {
        CrashPoint::RaftBeforeCommit | CrashPoint::RaftAfterCommit => 4,
        _ => 2,
    }
}

/// Puts files through the armed node until it dies; returns how many were acknowledged.
async fn write_until_dead(
    cluster: &mut TestCluster,
    point: CrashPoint,
    acked: &mut BTreeMap<String, Vec<u8>>,
) -> usize {
    let url = cluster.node(ARMED).url();
    let deadline = tokio::time::Instant::now() + CRASH_WITHIN;
    let mut count = 0;
    for n in 0u64.. {
        if cluster.exited(ARMED) {
            return count;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "crash point {} never fired within {CRASH_WITHIN:?}",
            point.name()
        );
        // 1 KiB to ~1.5 MiB: one chunk each (chunks are cut at 512 KiB at the least).
        let len = 1024 + (n as usize * 397_123) % (1536 * 1024);
        let bytes = random_bytes(len, n ^ (point as u64) << 32);
        let path = format!("/crash/{}/{n}", point.name());
        let put = cluster.http.put(format!("{url}/files{path}")).body(bytes.clone()).send().await;
        if put.is_ok_and(|r| r.status() == 201) {
            acked.insert(path, bytes);
            count += 1;
        }
    }
    count
}

/// Every chunk file of `node` hashes to its name, and its temp folder is empty.
fn no_partial_chunks(cluster: &TestCluster, node: u64) -> Result<usize, String> {
    let tmp = cluster.node(node).config.data_dir.join("chunks/tmp");
    let leftover = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    if leftover > 0 {
        return Err(format!("{leftover} temp file(s) left in {}", tmp.display()));
    }
    let files = stored_chunk_files(cluster, node);
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        if blake3::hash(&bytes).to_hex().as_str() != name {
            return Err(format!("{} does not hash to its name", file.display()));
        }
    }
    Ok(files.len())
}

fn crashed_at(log: &Path, point: CrashPoint) -> bool {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.contains(&format!("failpoint {}: aborting", point.name()))
}

/// Every acknowledged write reads back byte-exact from `node`.
async fn acked_read_back(cluster: &TestCluster, node: u64, acked: &BTreeMap<String, Vec<u8>>) {
    let url = cluster.node(node).url();
    for (path, bytes) in acked {
        let what = format!("n{node} to serve {path} byte-exact");
        wait_for(Duration::from_secs(15), &what, || async {
            let response = cluster.http.get(format!("{url}/files{path}")).send().await.ok()?;
            let body = response.bytes().await.ok()?;
            (body.as_ref() == bytes.as_slice()).then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn a_crash_at_any_write_point_leaves_no_partial_chunk_and_loses_no_acknowledged_write() {
    let mut cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let mut acked = BTreeMap::new();
    for point in CrashPoint::ALL {
        let started = tokio::time::Instant::now();
        cluster.kill9(ARMED);
        let skip = skip(point).to_string();
        let env = [(FAILPOINT_ENV, point.name()), (FAILPOINT_SKIP_ENV, skip.as_str())];
        assert!(cluster.restart_with_env(ARMED, &env).await, "n{ARMED} did not come up armed");
        // Writes refused for want of a leader would spend the crash point's passes unacknowledged.
        cluster.wait_for_leader(ARMED).await;
        let written = write_until_dead(&mut cluster, point, &mut acked).await;
        assert!(crashed_at(&cluster.node(ARMED).log(), point), "n{ARMED} died elsewhere");
        // A crash before any acknowledged write would check nothing against the crash.
        assert!(
            written > 0,
            "{}: n{ARMED} crashed before acknowledging any write; raise its skip",
            point.name()
        );
        cluster.restart(ARMED).await;
        let chunks = no_partial_chunks(&cluster, ARMED).unwrap_or_else(|e| panic!("{e}"));
        acked_read_back(&cluster, ARMED, &acked).await;
        wait_for(Duration::from_secs(30), "dfs fsck to be clean", || async {
            cluster.cli(&["fsck"]).0.then_some(())
        })
        .await;
        eprintln!(
            "{}: {written} write(s) acknowledged before the crash; {chunks} intact chunk file(s) \
             after restart; {} acknowledged in all read back; {:?}",
            point.name(),
            acked.len(),
            started.elapsed()
        );
    }
    for node in 1..=3 {
        no_partial_chunks(&cluster, node).unwrap_or_else(|e| panic!("n{node}: {e}"));
    }
}
