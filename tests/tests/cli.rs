//! The `dfs` binary as operators use it (issue: data path, points 1 and 7): `dev-cluster` runs
//! separate node processes with their own dirs and ports, keeps serving when one dies, restarts
//! it on `dfs dev-cluster restart N` (issue 16 point 8) and stops them all on SIGTERM; client
//! commands fail over past a dead node.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dfs_tests::{dfs_bin, wait_for, ClusterSpec, TestCluster};
use serde_json::Value;

fn is_running(pid: u64) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Field 3 is the state; a zombie has exited.
    !stat.is_empty() && stat.split(' ').nth(2) != Some("Z")
}

#[tokio::test]
async fn dev_cluster_runs_separate_processes_survives_a_dead_node_and_stops_them_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut dev = Command::new(dfs_bin())
        .args(["dev-cluster", "--nodes", "3", "--json", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dev-cluster");
    let stdout = dev.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let stderr = dev.stderr.take().expect("piped stderr");
    let (err_tx, err_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = err_tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut nodes: Vec<Value> = Vec::new();
    while nodes.len() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("dev-cluster prints a line per node within 60 s");
        nodes.push(serde_json::from_str(&line).expect("--json prints one object per node"));
    }
    let http = dfs_runtime::tls::client_builder().build().expect("client");
    let mut pids = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(node["id"], i as u64 + 1);
        let pid = node["pid"].as_u64().expect("pid");
        assert_ne!(pid, u64::from(dev.id()), "each node is its own process");
        pids.push(pid);
        let data_dir = std::path::PathBuf::from(node["data_dir"].as_str().expect("data dir"));
        assert!(data_dir.join("node.toml").exists(), "the node's config is in its data dir");
        let url = node["http"].as_str().expect("http").to_owned();
        wait_for(Duration::from_secs(20), "a leader", || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let health: Value =
                    http.get(format!("{url}/health")).send().await.ok()?.json().await.ok()?;
                health["leader"].as_u64()
            }
        })
        .await;
    }
    // Logs written to a file (each node's node.log) carry no terminal colour codes.
    let log_path =
        std::path::Path::new(nodes[0]["data_dir"].as_str().expect("dir")).join("node.log");
    let log = std::fs::read_to_string(&log_path).expect("node.log");
    assert!(!log.is_empty() && !log.contains('\x1b'), "node.log has ANSI codes: {log:.300}");
    let mut unique = pids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 3);

    // Node 2 dies: the dev cluster says so and keeps serving through the other two.
    let victim = nix::unistd::Pid::from_raw(i32::try_from(pids[1]).expect("pid fits"));
    nix::sys::signal::kill(victim, nix::sys::signal::SIGKILL).expect("SIGKILL node 2");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = err_rx.recv_timeout(left).expect("dev-cluster reports node 2's exit");
        if line.starts_with("node 2 exited") {
            assert!(line.contains("dfs dev-cluster restart 2"), "says how to restart it: {line}");
            break;
        }
    }
    assert!(dev.try_wait().expect("wait").is_none(), "dev-cluster keeps running");
    assert!(is_running(pids[0]) && is_running(pids[2]), "the other nodes keep running");
    let first = nodes[0]["http"].as_str().expect("http").to_owned();
    let token = nodes[0]["token"].as_str().expect("token").to_owned();
    let written = wait_for(Duration::from_secs(30), "a write through node 1", || {
        let (http, url, token) = (http.clone(), first.clone(), token.clone());
        async move {
            let response = http
                .put(format!("{url}/files/after-the-death.txt"))
                .bearer_auth(token)
                .body("still serving")
                .send()
                .await
                .ok()?;
            (response.status() == 201).then_some(())
        }
    });
    written.await;

    // `dfs dev-cluster restart 2` starts it again under the same dev cluster.
    let restart = Command::new(dfs_bin())
        .args(["dev-cluster", "restart", "2", "--json", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run dev-cluster restart");
    let out = String::from_utf8_lossy(&restart.stdout);
    assert!(
        restart.status.success(),
        "restart: {out} {}",
        String::from_utf8_lossy(&restart.stderr)
    );
    let answer: Value = serde_json::from_str(out.trim()).expect("restart --json prints an object");
    assert_eq!(answer["id"], 2);
    let new_pid = answer["pid"].as_u64().expect("pid");
    assert!(new_pid != pids[1] && is_running(new_pid), "node 2 runs again as {new_pid}");
    let second = nodes[1]["http"].as_str().expect("http").to_owned();
    let health: Value = http
        .get(format!("{second}/health"))
        .send()
        .await
        .expect("node 2 answers after restart")
        .json()
        .await
        .expect("json");
    assert_eq!(health["node"], 2, "{health}");
    pids.push(new_pid);
    let unknown = Command::new(dfs_bin())
        .args(["dev-cluster", "restart", "9", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run dev-cluster restart 9");
    assert!(!unknown.status.success(), "restarting a node the cluster lacks fails");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no node 9"));

    let dev_pid = nix::unistd::Pid::from_raw(i32::try_from(dev.id()).expect("pid fits"));
    nix::sys::signal::kill(dev_pid, nix::sys::signal::SIGTERM).expect("SIGTERM");
    let status = wait_for(Duration::from_secs(30), "dev-cluster to exit", || {
        let status = dev.try_wait().ok().flatten();
        async move { status }
    })
    .await;
    assert!(status.success(), "dev-cluster exits cleanly: {status}");
    assert!(pids.iter().all(|&pid| !is_running(pid)), "every node stopped with it");
}

#[tokio::test]
async fn client_commands_fail_over_past_a_dead_node() {
    let mut cluster = TestCluster::start(ClusterSpec::new(3)).await;
    cluster.kill9(1);
    // The harness lists n1 first in DFS_NODES: every command must move on to n2 or n3.
    let local = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(local.path(), b"survives a dead first node").expect("write");
    let (ok, _, err) = cluster.cli(&["put", &local.path().display().to_string(), "/failover.txt"]);
    assert!(ok, "put fails over: {err}");
    let (ok, out, err) = cluster.cli(&["get", "/failover.txt", "-"]);
    assert!(ok, "get fails over: {err}");
    assert_eq!(out, "survives a dead first node");
    let (ok, out, _) = cluster.cli(&["ls", "/", "--json"]);
    assert!(ok);
    let listing: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(listing["entries"].as_array().map(Vec::len), Some(1));
    let (ok, _, err) = cluster.cli(&["get", "/missing", "-"]);
    assert!(!ok, "a missing file is an error");
    assert!(err.contains("not_found"), "the error names its code: {err}");
}
