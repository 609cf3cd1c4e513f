//! End to end on real `dfs node` processes (issue: data path, point 9): a 3-node cluster stores a
//! 200 MiB file and 1,000 small files, serves each byte-exact through every node, keeps 3 copies
//! on 3 distinct nodes, stays readable with a follower killed by SIGKILL, and takes the follower
//! back. A node with the wrong cluster secret cannot join.

use std::collections::BTreeSet;
use std::time::Duration;

use dfs_tests::{random_bytes, wait_for, ClusterSpec, TestCluster};
use futures_util::{stream, StreamExt};
use serde_json::Value;

const SMALL_FILES: usize = 1000;

async fn get(cluster: &TestCluster, node: u64, path: &str) -> Option<Vec<u8>> {
    let url = format!("{}/files{path}", cluster.node(node).url());
    let response = cluster.http.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    Some(response.bytes().await.ok()?.to_vec())
}

fn small(i: usize) -> Vec<u8> {
    random_bytes(1 + i % 5000, i as u64)
}

/// Reads every small file through each of `nodes`, 32 at a time, and checks the bytes.
async fn check_small_files(cluster: &TestCluster, nodes: &[u64]) {
    for &node in nodes {
        let bad: Vec<usize> = stream::iter(0..SMALL_FILES)
            .map(|i| async move { (i, get(cluster, node, &format!("/small/f{i}")).await) })
            .buffer_unordered(32)
            .filter_map(|(i, body)| async move { (body != Some(small(i))).then_some(i) })
            .collect()
            .await;
        assert!(bad.is_empty(), "n{node} served {} small files wrong, e.g. f{}", bad.len(), bad[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_store_replicate_and_survive_a_killed_follower() {
    let mut cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let big = random_bytes(200 * 1024 * 1024, 7);
    let local = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(local.path(), &big).expect("write local file");
    let (ok, out, err) =
        cluster.cli(&["put", &local.path().display().to_string(), "/big/file.bin", "--json"]);
    assert!(ok, "dfs put failed: {err}");
    let put_reply: Value = serde_json::from_str(&out).expect("put prints json");
    assert_eq!(put_reply["size_bytes"], big.len() as u64);
    assert_eq!(put_reply["hash"], blake3::hash(&big).to_hex().as_str());
    // The body streamed: no node held the 200 MiB file, or half of it, in memory.
    for node in 1..=3 {
        let peak = cluster.node(node).peak_rss_bytes().expect("the node is running");
        assert!(peak < 100 * 1024 * 1024, "n{node} peaked at {} MiB", peak >> 20);
    }

    let answers: Vec<(usize, Value)> =
        stream::iter(0..SMALL_FILES)
            .map(|i| {
                let cluster = &cluster;
                async move {
                    (i, cluster.put((i % 3) as u64 + 1, &format!("/small/f{i}"), small(i)).await)
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
    // Each write made the first version of its own file, with its own content.
    for (i, answer) in &answers {
        let body = small(*i);
        assert_eq!(answer["version"], 1, "f{i}: {answer}");
        assert_eq!(answer["size_bytes"], body.len() as u64, "f{i}: {answer}");
        assert_eq!(answer["hash"], blake3::hash(&body).to_hex().as_str(), "f{i}: {answer}");
    }
    // And the namespace holds exactly those files: none lost, none doubled.
    let url = format!("{}/list/small?limit=10000", cluster.node(2).url());
    let listing = dfs_tests::get_json(&cluster.http, url).await;
    let listed: BTreeSet<String> = listing["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["path"].as_str().map(str::to_owned))
        .collect();
    let expected: BTreeSet<String> = (0..SMALL_FILES).map(|i| format!("/small/f{i}")).collect();
    assert_eq!(listed, expected, "the listing of /small");

    for node in 1..=3 {
        assert!(
            get(&cluster, node, "/big/file.bin").await == Some(big.clone()),
            "n{node} serves the big file"
        );
    }
    check_small_files(&cluster, &[1, 2, 3]).await;

    let (ok, out, _) = cluster.cli(&["stat", "/big/file.bin", "--json"]);
    assert!(ok);
    let stat: Value = serde_json::from_str(&out).expect("stat prints json");
    let chunks = stat["versions"][0]["chunks"].as_array().expect("chunks").clone();
    assert!(chunks.len() > 10, "a 200 MiB file has many chunks");
    for chunk in &chunks {
        let replicas: BTreeSet<u64> = chunk["replicas"]
            .as_array()
            .expect("replicas")
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        assert_eq!(replicas, BTreeSet::from([1, 2, 3]), "3 copies on 3 distinct nodes");
    }

    let leader = cluster.health(1).await.and_then(|h| h["leader"].as_u64()).expect("a leader");
    let follower = (1..=3).find(|&n| n != leader).expect("a follower");
    cluster.kill9(follower);
    let alive: Vec<u64> = (1..=3).filter(|&n| n != follower).collect();
    for &node in &alive {
        assert!(
            get(&cluster, node, "/big/file.bin").await == Some(big.clone()),
            "n{node} still serves the big file"
        );
    }
    check_small_files(&cluster, &alive).await;
    cluster.put(leader, "/after/kill", b"written with a follower down".to_vec()).await;

    cluster.restart(follower).await;
    let commit = cluster
        .health(leader)
        .await
        .and_then(|h| h["commit_index"].as_u64())
        .expect("commit index");
    cluster.wait_for_applied(follower, commit).await;
    assert_eq!(
        get(&cluster, follower, "/after/kill").await.as_deref(),
        Some(&b"written with a follower down"[..])
    );
    assert!(
        get(&cluster, follower, "/big/file.bin").await == Some(big),
        "the restarted node serves again"
    );
}

#[tokio::test]
async fn a_node_with_the_wrong_secret_cannot_join() {
    let spec = ClusterSpec { wrong_secret: Some(3), ..ClusterSpec::new(3) };
    let cluster = TestCluster::start(spec).await;
    cluster.put(1, "/members-only", b"secret".to_vec()).await;
    wait_for(Duration::from_secs(20), "a refused handshake in n1's or n2's log", || async {
        let logs =
            [1, 2].map(|n| std::fs::read_to_string(cluster.node(n).log()).unwrap_or_default());
        logs.iter().any(|log| log.contains("failed authentication")).then_some(())
    })
    .await;
    let outsider = cluster.health(3).await.expect("n3 answers http");
    assert_eq!(outsider["leader"], Value::Null, "n3 never learns the leader");
    assert_eq!(outsider["files"], 0, "n3 holds none of the cluster's files");
    assert!(get(&cluster, 3, "/members-only").await.is_none());
}
