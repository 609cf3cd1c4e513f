//! Any node serves S3 and a client carries on through another node when one dies; dfs
//! versions are S3 versions (`versions.py`), and `dfs history` shows versions written by S3.

use dfs_tests::s3::{admin_key, boto, endpoint};
use dfs_tests::{wait_for, ClusterSpec, TestCluster};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_client_carries_on_through_another_node_when_the_leader_dies() {
    let mut cluster = dfs_tests::s3::start(ClusterSpec::new(3)).await;
    cluster.wait_for_first_admin(1).await;
    let (key, secret) = admin_key(&cluster).await;
    let leader = cluster.wait_for_leader(1).await;
    let other = if leader == 1 { 2 } else { 1 };
    let (on_leader, on_other) = (endpoint(&cluster, leader).await, endpoint(&cluster, other).await);
    let (ok, out, err) = boto("failover.py", &["before", &on_leader, &key, &secret]);
    assert!(ok, "{out}{err}");
    cluster.kill9(leader);
    wait_for(Duration::from_secs(30), "a new leader", || async {
        let leader_now = cluster.health(other).await?["leader"].as_u64()?;
        (leader_now != leader).then_some(())
    })
    .await;
    let (ok, out, err) = boto("failover.py", &["after", &on_other, &key, &secret]);
    assert!(ok, "{out}{err}");
}

/// The version numbers `dfs history` lists, oldest first, and whether the file is deleted.
fn history(cluster: &TestCluster, path: &str) -> (Vec<u64>, bool) {
    let (ok, out, err) = cluster.cli(&["--json", "history", path]);
    assert!(ok, "{out}{err}");
    let value: serde_json::Value = serde_json::from_str(&out).expect("json");
    let versions = value["versions"].as_array().expect("versions");
    let numbers = versions.iter().filter_map(|v| v["version"].as_u64()).collect();
    (numbers, value["deleted"].as_bool().expect("deleted"))
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_version_ids_are_dfs_versions() {
    let cluster = dfs_tests::s3::start(ClusterSpec::new(3)).await;
    cluster.wait_for_first_admin(1).await;
    let (key, secret) = admin_key(&cluster).await;
    let s3 = endpoint(&cluster, 1).await;
    let (ok, out, err) = boto("versions.py", &["s3", &s3, &key, &secret]);
    assert!(ok, "versions.py s3 failed after:\n{out}\n{err}");
    for step in ["versioning", "get-by-version", "delete-markers", "delete-version", "paging"] {
        assert!(out.contains(&format!("ok {step}\n")), "{step} missing:\n{out}");
    }
    // What S3 wrote and removed is the file's dfs history: version 1 was removed through S3,
    // the delete marker too, so version 2 is live.
    assert_eq!(history(&cluster, "/docs/report.txt"), (vec![2], false));
    assert_eq!(history(&cluster, "/docs/paged/k1"), (vec![1, 2], true));
    // Written and deleted natively, seen by S3 (on another node).
    cluster.put(2, "/docs/report.txt", "written natively").await;
    cluster.put(2, "/docs/native.txt", "soon gone").await;
    let (ok, out, err) = cluster.cli(&["rm", "/docs/native.txt"]);
    assert!(ok, "{out}{err}");
    let other = endpoint(&cluster, 3).await;
    let (ok, out, err) = boto("versions.py", &["native", &other, &key, &secret]);
    assert!(ok && out.contains("ok native\n"), "versions.py native failed:\n{out}\n{err}");
}
