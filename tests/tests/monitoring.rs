//! Operating the cluster on real processes (issue 6): health probes, the paged file listing,
//! the change feed with resume, Prometheus metrics, `dfs explain` and `dfs status`.

use std::process::Stdio;
use std::time::Duration;

use dfs_tests::sse::SseStream;
use dfs_tests::{dfs_bin, quick_healing, random_bytes, wait_for, ClusterSpec, TestCluster};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

async fn get_json(cluster: &TestCluster, via: u64, route: &str) -> (u16, Value) {
    let url = format!("{}{route}", cluster.node(via).url());
    let response = cluster.http.get(url).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn health_says_ready_and_live_and_why_not() {
    let mut cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let leader = cluster.wait_for_leader(1).await;
    wait_for(Duration::from_secs(10), "every node ready", || async {
        for id in 1..=3 {
            let (status, body) = get_json(&cluster, id, "/health/ready").await;
            (status == 200 && body["ready"] == true).then_some(())?;
        }
        Some(())
    })
    .await;
    let (_, health) = get_json(&cluster, 1, "/health").await;
    assert_eq!(
        (health["live"].clone(), health["ready"].clone()),
        (Value::Bool(true), Value::Bool(true))
    );
    assert!(health["reason"].is_null(), "{health}");
    // With two of three nodes gone, the survivor is live but not ready, and says why.
    let survivor = if leader == 1 { 2 } else { 1 };
    for id in (1..=3).filter(|&id| id != survivor) {
        cluster.kill9(id);
    }
    let reason = wait_for(Duration::from_secs(15), "the survivor to report not ready", || async {
        let (status, body) = get_json(&cluster, survivor, "/health/ready").await;
        (status == 503).then(|| body["error"]["message"].as_str().unwrap_or_default().to_owned())
    })
    .await;
    assert!(reason.contains("no leader"), "{reason}");
    let (status, live) = get_json(&cluster, survivor, "/health/live").await;
    assert_eq!((status, live["live"].clone()), (200, Value::Bool(true)));
    let (_, health) = get_json(&cluster, survivor, "/health").await;
    assert_eq!(health["ready"], false);
    assert!(health["reason"].as_str().is_some_and(|r| r.contains("no leader")), "{health}");
}

#[tokio::test]
async fn files_are_listed_in_pages_with_versions_and_replicas() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    cluster.wait_for_leader(1).await;
    for name in ["a", "b", "c", "d", "e"] {
        cluster.put(1, &format!("/m/{name}"), random_bytes(3000, name.len() as u64)).await;
    }
    cluster.put(1, "/m/b", b"second version".to_vec()).await;
    cluster.put(1, "/m b", b"a sibling that sorts inside /m's range".to_vec()).await;
    cluster.put(1, "/other", b"outside".to_vec()).await;
    let deleted = cluster.http.delete(format!("{}/files/m/e", cluster.node(1).url()));
    let deleted: Value = deleted.send().await.expect("delete").json().await.expect("json");
    let index = deleted["index"].as_u64().expect("the delete's raft index");
    // Node 2 lists what it has applied.
    cluster.wait_for_applied(2, index).await;
    cluster.wait_for_applied(3, index).await;

    let mut paths = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let route = match &after {
            Some(after) => format!("/files?prefix=/m&limit=2&after={after}"),
            None => "/files?prefix=/m&limit=2".to_owned(),
        };
        let (status, page) = get_json(&cluster, 2, &route).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for file in page["files"].as_array().expect("files") {
            paths.push(file["path"].as_str().expect("path").to_owned());
            if file["path"] == "/m/b" {
                let versions = file["versions"].as_array().expect("versions");
                assert_eq!(versions.len(), 2, "both versions are listed: {file}");
                assert_eq!(file["latest_version"], 2);
                let latest = &versions[1];
                assert_eq!(latest["size_bytes"], 14);
                assert_eq!(latest["hash"], blake3::hash(b"second version").to_hex().to_string());
                let replicas = latest["chunks"][0]["replicas"].as_array().expect("replicas");
                assert_eq!(replicas.len(), 3, "every chunk's copies are located: {latest}");
            }
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paths, ["/m/a", "/m/b", "/m/c", "/m/d"], "under /m only, deleted files left out");
    assert_eq!(pages, 2, "two full pages, the second saying there is no more");
    let (_, with_deleted) = get_json(&cluster, 3, "/files?prefix=/m/e&deleted=true").await;
    assert_eq!(with_deleted["files"][0]["deleted"], true, "{with_deleted}");
    let (status, bad) = get_json(&cluster, 1, "/files?prefix=/a/../b").await;
    assert_eq!((status, bad["error"]["code"].as_str()), (400, Some("invalid_path")));
}

#[tokio::test]
async fn the_event_stream_reports_changes_and_resumes_on_another_node() {
    let spec = ClusterSpec { healing: quick_healing(), ..ClusterSpec::new(3) };
    let mut cluster = TestCluster::start(spec).await;
    let leader = cluster.wait_for_leader(1).await;
    let watcher = (1..=3).find(|&id| id != leader).expect("a follower");
    let urls: Vec<String> =
        (1..=3).map(|id| format!("{}/events", cluster.node(id).url())).collect();
    let url = |id: u64| urls[(id - 1) as usize].clone();
    let mut events = SseStream::open(&cluster.http, &url(watcher), None).await;
    cluster.put(leader, "/feed/x", b"one".to_vec()).await;
    cluster.put(leader, "/feed/x", b"two".to_vec()).await;
    let del = cluster.http.delete(format!("{}/files/feed/x", cluster.node(leader).url()));
    assert_eq!(del.send().await.expect("delete").status(), 200);
    let seen = events.until(Duration::from_secs(10), |e| e.data["kind"] == "file_removed").await;
    let files: Vec<(String, String)> = seen
        .iter()
        .filter(|e| e.data["path"] == "/feed/x")
        .map(|e| {
            (e.data["kind"].as_str().unwrap_or("?").to_owned(), e.id.clone().unwrap_or_default())
        })
        .collect();
    let kinds: Vec<&str> = files.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["file_added", "file_changed", "file_removed"]);
    let added = seen.iter().find(|e| e.data["kind"] == "file_added").expect("file_added");
    assert_eq!(added.data["size_bytes"], 3);
    let first_id = added.id.clone().expect("committed events carry an id");
    assert_eq!(first_id, added.data["index"].to_string(), "the id is the raft index");

    // Resuming from the first event on another node replays exactly what followed it.
    let other = (1..=3).find(|&id| id != watcher).expect("another node");
    let mut resumed = SseStream::open(&cluster.http, &url(other), Some(&first_id)).await;
    let replay = resumed.until(Duration::from_secs(5), |e| e.data["kind"] == "file_removed").await;
    let kinds: Vec<&Value> = replay.iter().map(|e| &e.data["kind"]).collect();
    assert_eq!(kinds, ["file_changed", "file_removed"], "nothing missed, nothing repeated");

    // Node health changes arrive as they are committed.
    let victim = (1..=3).find(|&id| id != watcher && id != leader).expect("a third node");
    cluster.kill9(victim);
    events
        .until(Duration::from_secs(10), |e| {
            e.data["kind"] == "node_down" && e.data["node"] == victim
        })
        .await;

    let bad = cluster.http.get(url(watcher)).header("Last-Event-ID", "yesterday");
    let response = bad.send().await.expect("request");
    assert_eq!(response.status(), 400, "an unreadable Last-Event-ID is refused");
}

#[tokio::test]
async fn metrics_name_everything_and_counters_move() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let leader = cluster.wait_for_leader(1).await;
    let scrape = || async {
        let url = format!("{}/metrics", cluster.node(leader).url());
        let response = cluster.http.get(url).send().await.expect("scrape");
        assert_eq!(response.status(), 200);
        let kind = response.headers()["content-type"].to_str().unwrap_or_default().to_owned();
        assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
        response.text().await.expect("body")
    };
    let before = scrape().await;
    for name in [
        "dfs_http_requests_total",
        "dfs_http_request_duration_seconds",
        "dfs_http_request_bytes_total",
        "dfs_http_response_bytes_total",
        "dfs_chunk_store_bytes",
        "dfs_replication_queue_depth",
        "dfs_replication_queue_oldest_seconds",
        "dfs_repair_bytes_total",
        "dfs_raft_term",
        "dfs_raft_commit_index",
        "dfs_raft_leader_id",
        "dfs_peer_connected",
        "dfs_scrub_chunks_verified_total",
        "dfs_scrub_corruptions_total",
        "dfs_member_health",
    ] {
        assert!(before.contains(&format!("# TYPE {name} ")), "{name} missing from\n{before}");
    }
    let body = random_bytes(50_000, 7);
    cluster.put(leader, "/metrics/a", body.clone()).await;
    let read = cluster.http.get(format!("{}/files/metrics/a", cluster.node(leader).url()));
    assert_eq!(read.send().await.expect("get").bytes().await.expect("body"), body);
    let after = scrape().await;
    let route = "route=\"/files/{*path}\"";
    let put_count = format!("dfs_http_requests_total{{{route},method=\"PUT\",status=\"201\"}}");
    assert_eq!(sample(&before, &put_count), None);
    assert_eq!(sample(&after, &put_count), Some(1.0), "{after}");
    let bytes_in = format!("dfs_http_request_bytes_total{{{route},method=\"PUT\"}}");
    assert_eq!(sample(&after, &bytes_in), Some(50_000.0));
    let bytes_out = format!("dfs_http_response_bytes_total{{{route},method=\"GET\"}}");
    assert_eq!(sample(&after, &bytes_out), Some(50_000.0));
    let count = format!("dfs_http_request_duration_seconds_count{{{route},method=\"PUT\"}}");
    assert_eq!(sample(&after, &count), Some(1.0));
    assert!(sample(&after, "dfs_chunk_store_bytes").is_some_and(|b| b >= 50_000.0), "{after}");
    assert!(sample(&after, "dfs_raft_commit_index") > sample(&before, "dfs_raft_commit_index"));
    assert_eq!(sample(&after, "dfs_raft_is_leader"), Some(1.0));
    assert_eq!(sample(&after, "dfs_raft_leader_id"), Some(leader as f64));
    let peers: usize = (1..=3u64)
        .filter(|&p| p != leader)
        .filter(|p| sample(&after, &format!("dfs_peer_connected{{peer=\"{p}\"}}")) == Some(1.0))
        .count();
    assert_eq!(peers, 2, "both peers connected:\n{after}");
}

/// The value of the sample named exactly `name` (with its labels).
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn explain_says_what_blocks_a_lost_nodes_copies_and_status_watches() {
    let spec = ClusterSpec { healing: quick_healing(), ..ClusterSpec::new(3) };
    let mut cluster = TestCluster::start(spec).await;
    let leader = cluster.wait_for_leader(1).await;
    cluster.put(leader, "/ex/f", random_bytes(10_000, 3)).await;
    let (ok, out, err) = cluster.cli(&["explain", "/ex/f"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("/ex/f: converged"), "{out}");
    // With three nodes and three copies wanted, a lost node's copies have nowhere to go.
    let victim = (1..=3).find(|&id| id != leader).expect("a follower");
    cluster.kill9(victim);
    let explained =
        wait_for(Duration::from_secs(15), "explain to say the copy is blocked", || async {
            let (_, body) = get_json(&cluster, leader, "/explain/file/ex/f").await;
            let blocked = body["chunks"][0]["queue"][0]["blocked"].as_str() == Some("no_target");
            blocked.then_some(body)
        })
        .await;
    assert_eq!(explained["converged"], false);
    let summary = explained["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("2 of 3 copies count"), "{summary}");
    assert!(summary.contains("blocked: no up, active node"), "{summary}");
    let (ok, out, err) = cluster.cli(&["explain", &n(victim)]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("n{victim} is lost")), "{out}");
    assert!(out.contains("not converged"), "{out}");
    // A follower forwards to the leader, whose queue it needs.
    let follower = (1..=3).find(|&id| id != leader && id != victim).expect("the other follower");
    let (_, via_follower) = get_json(&cluster, follower, "/explain/file/ex/f").await;
    assert_eq!(via_follower["chunks"][0]["queue"][0]["blocked"], "no_target", "{via_follower}");

    let (ok, out, err) = cluster.cli(&["status"]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("leader n{leader}")) && out.contains("queue: "), "{out}");
    let mut watch = tokio::process::Command::new(dfs_bin())
        .args(["--node", &cluster.node(leader).url(), "--json", "status", "--watch", "0.2"])
        .env("DFS_TOKEN", dfs_tests::admin_token())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("dfs status --watch");
    let mut lines = tokio::io::BufReader::new(watch.stdout.take().expect("stdout")).lines();
    for refresh in 0..2 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("refresh {refresh} did not come"))
            .expect("read")
            .expect("a line");
        let view: Value = serde_json::from_str(&line).expect("one JSON view per refresh");
        assert!(view["queue"]["total"].as_u64().is_some_and(|t| t > 0), "{view}");
    }
    watch.kill().await.expect("stop the watcher");
}

/// Every line of node `id`'s log, parsed; fails on a line that is not one JSON object.
fn json_log(cluster: &TestCluster, id: u64) -> Vec<Value> {
    let text = std::fs::read_to_string(cluster.node(id).log()).expect("log");
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("n{id} logged a line that is not JSON ({e}): {line}"));
            assert!(value.is_object() && value["level"].is_string(), "{line}");
            value
        })
        .collect()
}

/// A node id as logs write it.
fn n(id: u64) -> String {
    format!("n{id}")
}

fn logged<'a>(lines: &'a [Value], message: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["message"] == message).collect()
}

#[tokio::test]
async fn decisions_are_logged_as_json_with_node_term_path_and_chunk() {
    let spec = ClusterSpec { healing: quick_healing(), ..ClusterSpec::new(4) };
    let mut cluster = TestCluster::start(spec).await;
    let leader = cluster.wait_for_leader(1).await;
    cluster.put(leader, "/logs/f", random_bytes(20_000, 9)).await;
    let (_, listed) = get_json(&cluster, leader, "/files?prefix=/logs/f").await;
    let holders = listed["files"][0]["versions"][0]["chunks"][0]["replicas"].clone();
    let holds = |id: u64| holders.as_array().is_some_and(|h| h.contains(&Value::from(id)));
    let victim = (1..=4).find(|&id| id != leader && holds(id)).expect("a follower with a copy");
    cluster.kill9(victim);
    wait_for(Duration::from_secs(20), "the lost node's copies repaired", || async {
        let lines = json_log(&cluster, leader);
        (!logged(&lines, "repair finished").is_empty()).then_some(())
    })
    .await;
    let lines = json_log(&cluster, leader);
    let role = logged(&lines, "role changed");
    assert!(
        role.iter().any(|l| l["role"] == "leader"
            && l["node"] == n(leader)
            && l["leader"] == n(leader)
            && l["term"].is_string()),
        "the leader logged taking over, with its term: {role:?}"
    );
    let written = logged(&lines, "file written");
    assert!(
        written.iter().any(|l| l["path"] == "/logs/f" && l["placed"].is_string()),
        "{written:?}"
    );
    let judged = logged(&lines, "failure detector: member health changed");
    assert!(
        judged
            .iter()
            .any(|l| l["member"] == n(victim) && l["health"] == "lost" && l["term"].is_string()),
        "{judged:?}"
    );
    for message in ["repair started", "repair finished"] {
        let repairs = logged(&lines, message);
        assert!(
            repairs.iter().any(|l| l["chunk"].is_string()
                && l["from"].is_string()
                && l["to"].is_string()
                && l["node"] == n(leader)),
            "{message}: {repairs:?}"
        );
    }
}
