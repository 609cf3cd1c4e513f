//! Any node serves S3 and a client carries on through another node when one dies; dfs
//! versions are S3 versions (`versions.py`), and `dfs history` shows versions written by S3.

use dfs_tests::s3::{admin_key, boto, endpoint};
use dfs_tests::{wait_for, ClusterSpec, TestCluster};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_client_carries_on_through_another_node_when_the_leader_dies() {
    let mut cluster = TestCluster::start(ClusterSpec::new(3)).await;
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

#[tokio::test(flavor = "multi_thread")]
async fn s3_version_ids_are_dfs_versions() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    cluster.wait_for_first_admin(1).await;
    let (key, secret) = admin_key(&cluster).await;
    let s3 = endpoint(&cluster, 1).await;
    let (ok, out, err) = boto("versions.py", &[&s3, &key, &secret]);
    assert!(ok, "{out}{err}");
    let (ok, history, err) = cluster.cli(&["--json", "history", "/docs/report.txt"]);
    assert!(ok, "{history}{err}");
    let value: serde_json::Value = serde_json::from_str(&history).expect("json");
    assert_eq!(value["versions"].as_array().map(Vec::len), Some(2), "{value}");
}
