//! Capacity you can see (issue 23 point 2): every node reports the size and free space of the disk
//! holding its data dir; `GET /nodes` carries them per member and summed for the cluster, the
//! metrics carry them, and `dfs status` prints used / free / capacity and how full each disk is.

use std::process::Command;
use std::time::Duration;

use dfs_tests::{get_json, wait_for, ClusterSpec, TestCluster};
use serde_json::Value;

/// `df`'s size and available bytes of the file system holding `dir`.
fn df(dir: &std::path::Path) -> (u64, u64) {
    let out =
        Command::new("df").args(["-B1", "--output=size,avail"]).arg(dir).output().expect("df");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let numbers: Vec<u64> = text
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    assert_eq!(numbers.len(), 2, "df printed {text}");
    (numbers[0], numbers[1])
}

#[tokio::test]
async fn nodes_report_disk_capacity_and_free_space_everywhere_an_operator_looks() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    cluster.wait_for_leader(1).await;
    let url = format!("{}/nodes", cluster.node(1).url());
    let view = wait_for(Duration::from_secs(30), "every member's disk space", || {
        let (http, url) = (cluster.http.clone(), url.clone());
        async move {
            let view = get_json(&http, url).await;
            let nodes = view["nodes"].as_array()?;
            (nodes.len() == 3 && nodes.iter().all(|n| n["capacity_bytes"].as_u64() > Some(0)))
                .then_some(view)
        }
    })
    .await;
    let (size, avail) = df(&cluster.node(1).config.data_dir);
    let mut sums = (0, 0);
    for n in view["nodes"].as_array().expect("nodes") {
        let (capacity, free) = (n["capacity_bytes"].as_u64(), n["free_bytes"].as_u64());
        let (capacity, free) = (capacity.expect("capacity"), free.expect("free"));
        // Every test node's data dir is on the same file system as node 1's.
        assert_eq!(capacity, size, "{n}");
        let drift = free.abs_diff(avail);
        assert!(drift < size / 20, "free {free} is far from df's {avail}: {n}");
        sums = (sums.0 + capacity, sums.1 + free);
    }
    let cluster_total = &view["cluster"];
    assert_eq!(cluster_total["capacity_bytes"].as_u64(), Some(sums.0), "{cluster_total}");
    assert_eq!(cluster_total["free_bytes"].as_u64(), Some(sums.1), "{cluster_total}");

    let metrics = cluster
        .http
        .get(format!("{}/metrics", cluster.node(2).url()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let value = |name: &str| -> Option<u64> {
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name} ")))?;
        line.split_whitespace().nth(1)?.parse::<f64>().ok().map(|v| v as u64)
    };
    assert_eq!(value("dfs_node_capacity_bytes"), Some(size), "{metrics:.2000}");
    assert!(value("dfs_node_free_bytes").is_some_and(|f| f.abs_diff(avail) < size / 20));

    let (ok, out, err) = cluster.cli(&["status"]);
    assert!(ok, "dfs status: {err}");
    assert!(out.contains("free") && out.contains("capacity") && out.contains("full"), "{out}");
    let line = out.lines().find(|l| l.starts_with("cluster:")).expect("a cluster line");
    assert!(line.contains('%') && !line.contains('?'), "{line}");
    let (ok, out, _) = cluster.cli(&["status", "--json"]);
    assert!(ok);
    let json: Value = serde_json::from_str(&out).expect("status --json");
    assert!(json.to_string().contains("capacity_bytes"), "{out:.500}");
}
