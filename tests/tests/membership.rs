//! Membership by address (issue 23 point 1): nodes that know only a seed's address and the
//! cluster secret join a running cluster, and leave again, while writes run, without any
//! existing member's config changing or any member restarting; nothing acknowledged is lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dfs_tests::{quick_healing, random_bytes, wait_for, ClusterSpec, TestCluster};
use serde_json::Value;

/// The members node `via` reports, as (id, role).
async fn members(cluster: &TestCluster, via: u64) -> Option<Vec<(u64, String)>> {
    let url = format!("{}/nodes", cluster.node(via).url());
    let view: Value = cluster.http.get(url).send().await.ok()?.json().await.ok()?;
    let nodes = view["nodes"].as_array()?;
    nodes.iter().map(|n| Some((n["id"].as_u64()?, n["role"].as_str()?.to_owned()))).collect()
}

/// Writes files through nodes 1 to 3 in turn until `stop`; the acknowledged ones.
async fn write_until(
    http: reqwest::Client,
    urls: Vec<String>,
    stop: Arc<AtomicBool>,
) -> Vec<(String, Vec<u8>)> {
    let mut written = Vec::new();
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let path = format!("/running/w{i}");
        let body = random_bytes(2048 + (i as usize % 7) * 1000, 900 + i);
        let url = format!("{}/files{path}", urls[i as usize % urls.len()]);
        // A write may fail during a membership change (no leader for a moment); only
        // acknowledged ones must survive.
        if let Ok(response) = http.put(url).body(body.clone()).send().await {
            if response.status() == 201 {
                written.push((path, body));
            }
        }
        i += 1;
    }
    written
}

#[tokio::test]
async fn nodes_join_by_address_and_leave_while_writes_run() {
    let spec = ClusterSpec { healing: quick_healing(), ..ClusterSpec::new(3) };
    let mut cluster = TestCluster::start(spec).await;
    let configs: Vec<String> = (1..=3)
        .map(|id| std::fs::read_to_string(cluster.node(id).config.data_dir.join("node.toml")))
        .collect::<Result<_, _>>()
        .expect("configs");
    let pids: Vec<Option<u32>> = (1..=3).map(|id| cluster.node(id).pid()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(write_until(cluster.http.clone(), cluster.urls(), stop.clone()));

    // One node that knows two seeds (none of the members lists it), one an operator adds by
    // its address.
    let n4 = cluster.start_joiner(&[2, 3]).await;
    let n5 = cluster.start_joiner(&[]).await;
    let n5_addr = {
        let config = &cluster.node(n5).config;
        format!("{},{}", config.peer_listen, config.http_listen)
    };
    let (ok, out, err) = cluster.cli(&["node", "add", &n5.to_string(), "--addr", &n5_addr]);
    assert!(ok, "add n{n5} --addr: {out}{err}");
    let grown = wait_for(Duration::from_secs(60), "five voters", || async {
        let members = members(&cluster, 1).await?;
        let voters = members.iter().filter(|(_, role)| role == "voter").count();
        (voters == 5).then_some(members)
    })
    .await;
    assert_eq!(grown.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [1, 2, 3, n4, n5]);
    // The new members take part: a write through one is read through another and the reverse.
    // A node added a moment ago may answer 503 (retry) until it has applied the members'
    // addresses; it must then take writes.
    let body = random_bytes(300_000, 5);
    wait_for(Duration::from_secs(10), "a write through the new node", || async {
        let url = format!("{}/files/joined/from-n5", cluster.node(n5).url());
        let response = cluster.http.put(url).body(body.clone()).send().await.ok()?;
        (response.status() == 201).then_some(())
    })
    .await;
    let url = format!("{}/files/joined/from-n5", cluster.node(1).url());
    let read = cluster.http.get(url).send().await.expect("get").bytes().await.expect("body");
    assert_eq!(read.as_ref(), body.as_slice());
    cluster.put(1, "/joined/from-n1", body.clone()).await;
    let url = format!("{}/files/joined/from-n1", cluster.node(n4).url());
    let read = cluster.http.get(url).send().await.expect("get").bytes().await.expect("body");
    assert_eq!(read.as_ref(), body.as_slice());

    // Shrink back to the founding three, writes still running.
    for node in [n5, n4] {
        let (ok, out, err) = cluster.cli(&["node", "drain", &node.to_string(), "--wait"]);
        assert!(ok, "drain n{node}: {out}{err}");
        let (ok, out, err) = cluster.cli(&["node", "remove", &node.to_string()]);
        assert!(ok, "remove n{node}: {out}{err}");
    }
    let shrunk = wait_for(Duration::from_secs(30), "three members", || async {
        let members = members(&cluster, 1).await?;
        (members.len() == 3).then_some(members)
    })
    .await;
    assert_eq!(shrunk.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [1, 2, 3]);
    stop.store(true, Ordering::Relaxed);
    let written = writer.await.expect("writer");
    assert!(written.len() >= 20, "writes ran throughout: {}", written.len());
    for (i, (path, body)) in written.iter().enumerate() {
        let via = 1 + (i as u64 % 3);
        let url = format!("{}/files{path}", cluster.node(via).url());
        let response = cluster.http.get(url).send().await.expect("get");
        assert_eq!(response.status(), 200, "{path} via n{via}");
        assert_eq!(response.bytes().await.expect("body").as_ref(), body.as_slice(), "{path}");
    }
    let (ok, out, _) = cluster.cli(&["fsck"]);
    assert!(ok, "every chunk at its replication factor on the three: {out}");
    for id in 1..=3u64 {
        let now = std::fs::read_to_string(cluster.node(id).config.data_dir.join("node.toml"));
        assert_eq!(now.expect("config"), configs[id as usize - 1], "n{id}'s config is untouched");
        assert_eq!(cluster.node(id).pid(), pids[id as usize - 1], "n{id} was never restarted");
    }
}

#[tokio::test]
async fn a_member_restarted_on_new_ports_is_found_there() {
    let spec = ClusterSpec { healing: quick_healing(), ..ClusterSpec::new(3) };
    let mut cluster = TestCluster::start(spec).await;
    cluster.kill9(3);
    let addrs = dfs_runtime::ports::free_loopback_addrs(2).expect("ports");
    let node = &mut cluster.nodes[2];
    (node.config.peer_listen, node.config.http_listen) = (addrs[0], addrs[1]);
    let toml = node.config.to_toml();
    std::fs::write(node.config.data_dir.join("node.toml"), toml).expect("config");
    cluster.restart(3).await;
    // n3 rejoins raft at its new peer port and takes chunk copies at its new HTTP port: a
    // write through n1 reaches all three copies, and n1 forwards n3's recovery to it.
    let body = random_bytes(1 << 20, 33);
    let written = wait_for(Duration::from_secs(30), "a write stored on all three", || async {
        let url = format!("{}/files/moved/f", cluster.node(1).url());
        let response = cluster.http.put(url).body(body.clone()).send().await.ok()?;
        let answer: Value = response.json().await.ok()?;
        let replicas = answer["replicas"].as_object()?;
        let stored = replicas.values().filter(|s| s.as_str() == Some("stored")).count();
        (stored == 3 && replicas.contains_key("n3")).then_some(answer)
    })
    .await;
    assert_eq!(written["path"], "/moved/f", "{written}");
    let url = format!("{}/files/moved/f", cluster.node(3).url());
    let read = cluster.http.get(url).send().await.expect("get").bytes().await.expect("body");
    assert_eq!(read.as_ref(), body.as_slice());
    let (ok, out, err) = cluster.cli(&["recover", "3"]);
    assert!(ok, "a request n1 forwards to n3 reaches its new port: {out}{err}");
}
