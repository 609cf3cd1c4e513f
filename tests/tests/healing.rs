//! Self-healing on real processes (issue 4): failure detection visible in `/nodes` and
//! `dfs status`, re-replication of a dead node's chunks with `dfs queue`, recovery sync with
//! `dfs recover`, scrub and read repair of corrupt copies, and drain before removal.

use std::time::Duration;

use dfs_runtime::config::HealingConfig;
use dfs_tests::{
    chunk_file, chunk_ids, quick_healing, random_bytes, wait_for, ClusterSpec, TestCluster,
};
use serde_json::Value;

/// Fast timings so the tests settle in seconds: suspect after 1 s, down after 2 s, copies
/// reassigned after 4 s, scrub passes 1 s apart.
fn quick() -> HealingConfig {
    HealingConfig { scrub_rest_secs: 1, rebalance_tolerance_pct: 0, ..quick_healing() }
}

async fn nodes(cluster: &TestCluster, via: u64) -> Option<Value> {
    let url = format!("{}/nodes", cluster.node(via).url());
    cluster.http.get(url).send().await.ok()?.json().await.ok()
}

fn health_of(nodes: &Value, id: u64) -> Option<String> {
    nodes["nodes"].as_array()?.iter().find(|n| n["id"] == id)?["health"].as_str().map(Into::into)
}

/// Node ids holding a file for `chunk` that hashes right.
fn good_copies(cluster: &TestCluster, chunk: dfs_runtime::core::ids::ChunkId) -> Vec<u64> {
    (1..=cluster.nodes.len() as u64)
        .filter(|&n| {
            std::fs::read(chunk_file(cluster, n, chunk))
                .is_ok_and(|bytes| blake3::hash(&bytes).as_bytes() == &chunk.0 .0)
        })
        .collect()
}

#[tokio::test]
async fn a_dead_node_goes_suspect_then_down_and_its_chunks_are_copied_elsewhere() {
    let spec = ClusterSpec { healing: quick(), ..ClusterSpec::new(4) };
    let mut cluster = TestCluster::start(spec).await;
    wait_for(Duration::from_secs(10), "every member up with a recent heartbeat", || async {
        let view = nodes(&cluster, 1).await?;
        let recent = |id| {
            let node = view["nodes"].as_array()?.iter().find(|n| n["id"] == id)?;
            (node["last_heartbeat_ms"].as_u64()? < 1_000).then_some(())
        };
        (1..=4)
            .all(|id| health_of(&view, id).as_deref() == Some("up") && recent(id).is_some())
            .then_some(view)
    })
    .await;
    for i in 0..4 {
        cluster.put(1, &format!("/f{i}"), random_bytes(3 << 20, i)).await;
    }
    let mut chunks = Vec::new();
    for i in 0..4 {
        chunks.extend(chunk_ids(&cluster, &format!("/f{i}")).await);
    }
    // Kill a node that holds copies (node 4 is not the one we ask).
    let victim = (2..=4)
        .find(|&n| chunks.iter().any(|&c| good_copies(&cluster, c).contains(&n)))
        .expect("some node besides n1 holds copies");
    let observer = if victim == 2 { 3 } else { 2 };
    cluster.kill9(victim);
    wait_for(Duration::from_secs(5), "the dead node to be suspect", || async {
        let health = health_of(&nodes(&cluster, observer).await?, victim)?;
        (health != "up").then_some(())
    })
    .await;
    let (ok, status, _) = cluster.cli(&["status"]);
    assert!(ok);
    assert!(
        status.contains("suspect") || status.contains("down") || status.contains("lost"),
        "{status}"
    );
    let alive: Vec<u64> = (1..=4).filter(|&n| n != victim).collect();
    wait_for(
        Duration::from_secs(30),
        "every chunk back at 3 good copies on live nodes",
        || async {
            chunks
                .iter()
                .all(|&c| {
                    good_copies(&cluster, c).iter().filter(|n| alive.contains(n)).count() >= 3
                })
                .then_some(())
        },
    )
    .await;
    let health = health_of(&nodes(&cluster, observer).await.expect("nodes"), victim);
    assert_eq!(health.as_deref(), Some("lost"));
    wait_for(Duration::from_secs(10), "the queue to drain", || async {
        let (ok, out, _) = cluster.cli(&["--json", "queue"]);
        let queue: Value = serde_json::from_str(&out).ok()?;
        (ok && queue["total"] == 0 && queue["done_total"].as_u64()? > 0).then_some(())
    })
    .await;
    let (ok, out, err) = cluster.cli(&["queue"]);
    assert!(ok, "{err}");
    assert!(out.contains("0 chunk copies queued"), "{out}");
    // The returning node's copies are extra now: the cluster drops copies beyond 3 (the
    // returning node's own, or, if it came back before they left the index, the fullest node's).
    cluster.restart(victim).await;
    wait_for(Duration::from_secs(20), "copies beyond 3 to be dropped", || async {
        chunks.iter().all(|&c| good_copies(&cluster, c).len() == 3).then_some(())
    })
    .await;
    for i in 0..4 {
        let url = format!("{}/files/f{i}", cluster.node(victim).url());
        let body = cluster.http.get(url).send().await.expect("get").bytes().await.expect("body");
        assert_eq!(body.to_vec(), random_bytes(3 << 20, i));
    }
}

#[tokio::test]
async fn recover_pulls_lost_chunks_back_and_reports_it() {
    // Scrub off, so only the recovery sync notices the lost file.
    let healing = HealingConfig { scrub_bytes_per_sec: 0, ..quick() };
    let cluster = TestCluster::start(ClusterSpec { healing, ..ClusterSpec::new(3) }).await;
    cluster.put(1, "/data", random_bytes(6 << 20, 7)).await;
    let chunks = chunk_ids(&cluster, "/data").await;
    assert!(chunks.len() >= 2, "a multi-chunk file");
    std::fs::remove_file(chunk_file(&cluster, 2, chunks[0])).expect("remove");
    let (ok, out, err) = cluster.cli(&["--json", "recover", "2"]);
    assert!(ok, "{err}");
    let summary: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(summary["summary"]["missing"], 1, "{summary}");
    assert_eq!(summary["summary"]["pulled"], 1, "{summary}");
    assert_eq!(good_copies(&cluster, chunks[0]), vec![1, 2, 3]);
    let (ok, human, _) = cluster.cli(&["recover", "2"]);
    assert!(ok && human.contains("0 missing"), "{human}");
}

#[tokio::test]
async fn scrub_replaces_a_silently_corrupted_copy() {
    let cluster = TestCluster::start(ClusterSpec { healing: quick(), ..ClusterSpec::new(3) }).await;
    cluster.put(1, "/data", random_bytes(6 << 20, 7)).await;
    let chunks = chunk_ids(&cluster, "/data").await;
    let path = chunk_file(&cluster, 3, chunks[1]);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[100] ^= 0xff;
    std::fs::write(&path, &bytes).expect("corrupt");
    wait_for(Duration::from_secs(20), "scrub to replace the corrupt copy", || async {
        (good_copies(&cluster, chunks[1]) == vec![1, 2, 3]).then_some(())
    })
    .await;
    let url = format!("{}/files/data", cluster.node(3).url());
    let body = cluster.http.get(url).send().await.expect("get").bytes().await.expect("body");
    assert_eq!(body.to_vec(), random_bytes(6 << 20, 7));
}

#[tokio::test]
async fn a_read_that_meets_a_corrupt_copy_gets_it_repaired() {
    let healing = HealingConfig { scrub_bytes_per_sec: 0, ..quick() };
    let cluster = TestCluster::start(ClusterSpec { healing, ..ClusterSpec::new(3) }).await;
    cluster.put(1, "/r", random_bytes(2 << 20, 3)).await;
    let chunk = chunk_ids(&cluster, "/r").await[0];
    let path = chunk_file(&cluster, 2, chunk);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[0] ^= 0x01;
    std::fs::write(&path, &bytes).expect("corrupt");
    let url = format!("{}/files/r", cluster.node(2).url());
    let body = cluster.http.get(url).send().await.expect("get").bytes().await.expect("body");
    assert_eq!(body.to_vec(), random_bytes(2 << 20, 3), "served from a good replica");
    wait_for(Duration::from_secs(15), "the corrupt copy to be replaced (scrub is off)", || async {
        (good_copies(&cluster, chunk) == vec![1, 2, 3]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn removal_waits_for_drain() {
    let spec = ClusterSpec { healing: quick(), ..ClusterSpec::new(4) };
    let cluster = TestCluster::start(spec).await;
    for i in 0..3 {
        cluster.put(1, &format!("/d{i}"), random_bytes(2 << 20, 20 + i)).await;
    }
    let mut chunks = Vec::new();
    for i in 0..3 {
        chunks.extend(chunk_ids(&cluster, &format!("/d{i}")).await);
    }
    let holder = (1..=4)
        .rev()
        .find(|&n| chunks.iter().any(|&c| good_copies(&cluster, c).contains(&n)))
        .expect("a holder");
    let (ok, _, err) = cluster.cli(&["node", "remove", &holder.to_string()]);
    assert!(!ok, "removal of an undrained node is refused");
    assert!(err.contains("drain"), "{err}");
    let (ok, out, err) = cluster.cli(&["node", "drain", &holder.to_string(), "--wait"]);
    assert!(ok, "{err}");
    assert!(out.contains("drained"), "{out}");
    let others: Vec<u64> = (1..=4).filter(|&n| n != holder).collect();
    for &c in &chunks {
        let copies = good_copies(&cluster, c);
        assert!(copies.iter().filter(|n| others.contains(n)).count() >= 3, "{copies:?}");
    }
    let (ok, out, err) = cluster.cli(&["node", "remove", &holder.to_string()]);
    assert!(ok, "{out}{err}");
}

#[tokio::test]
async fn a_node_that_joins_is_filled_by_rebalance() {
    let healing = HealingConfig { rebalance_tolerance_pct: 10, ..quick() };
    let spec = ClusterSpec { healing, joiners: 1, ..ClusterSpec::new(4) };
    let cluster = TestCluster::start(spec).await;
    for i in 0..12 {
        cluster.put(1, &format!("/j{i}"), random_bytes(2 << 20, 40 + i)).await;
    }
    let (ok, out, err) = cluster.cli(&["node", "add", "4"]);
    assert!(ok, "{out}{err}");
    // 12 x 2 MiB x 3 copies over 4 nodes is 18 MiB each; rebalance stops within 10 % of the
    // mean (plus one chunk, the smallest step it can take).
    let used = wait_for(Duration::from_secs(60), "usage to even out", || async {
        let view = nodes(&cluster, 1).await?;
        let used: Vec<u64> = (1..=4)
            .map(|id| {
                let node = view["nodes"].as_array()?.iter().find(|n| n["id"] == id)?;
                node["used_bytes"].as_u64()
            })
            .collect::<Option<_>>()?;
        let (min, max) = (*used.iter().min()?, *used.iter().max()?);
        (min > 0 && max - min <= 2 * (4 << 20)).then_some(used)
    })
    .await;
    assert!(used[3] >= 12 << 20, "the new node holds its share: {used:?}");
    let (ok, out, _) = cluster.cli(&["fsck"]);
    assert!(ok, "no chunk below its replication factor after the moves: {out}");
}
