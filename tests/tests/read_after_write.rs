//! Read-after-write on every node (issue 17): a write acknowledged through one node is seen by a
//! read that begins afterwards through any other node, by default. Repeated with overwrites and
//! fresh paths, while a follower is frozen (SIGSTOP) and resumed, and while one is killed and
//! restarted: a read may wait or fail with a clear error, never answer stale or missing.

use dfs_tests::{ClusterSpec, TestCluster};
use serde_json::Value;

/// What a GET answered: 200 with its body, or the status and JSON error code.
#[derive(Debug)]
enum Got {
    Body(String),
    Error(u16, String),
}

async fn get(cluster: &TestCluster, via: u64, path: &str) -> Got {
    let url = format!("{}/files{path}", cluster.node(via).url());
    let response = cluster.http.get(&url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    if status == 200 {
        return Got::Body(text);
    }
    let code = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().or(v["code"].as_str()).map(str::to_owned))
        .unwrap_or(text);
    Got::Error(status, code)
}

/// The number a body written as `{tag}{n}` carries.
fn number(body: &str, tag: &str) -> Option<u64> {
    body.strip_prefix(tag)?.parse().ok()
}

async fn find_leader(cluster: &TestCluster) -> u64 {
    cluster.wait_for_leader(1).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_writes_are_each_read_at_once_through_another_node() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let mut wrong = Vec::new();
    for i in 0..1000u64 {
        let writer = i % 3 + 1;
        let reader = writer % 3 + 1;
        // Odd rounds overwrite one path; even rounds create a fresh one (a stale read is a 404).
        let path = if i % 2 == 1 { "/raw/over".to_owned() } else { format!("/raw/fresh{i}") };
        let body = format!("w{i}");
        cluster.put(writer, &path, body.clone()).await;
        match get(&cluster, reader, &path).await {
            Got::Body(got) if got == body => {}
            other => {
                wrong.push(format!("{i}: put {path} via n{writer}, read via n{reader}: {other:?}"))
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} stale or missing reads of 1000:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_through_a_frozen_follower_wait_or_fail_and_are_never_stale() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let leader = find_leader(&cluster).await;
    let follower = (1..=3).find(|&n| n != leader).expect("a follower");
    cluster.put(leader, "/frozen/f", "p0").await;
    cluster.pause(follower);
    // Writes acknowledged while the follower is frozen, each followed by a read through it that
    // hangs until it resumes: it must then see that write or a later one.
    let mut reads = Vec::new();
    for k in 1..=30u64 {
        cluster.put(leader, "/frozen/f", format!("p{k}")).await;
        let url = format!("{}/files/frozen/f", cluster.node(follower).url());
        let http = cluster.http.clone();
        reads.push((k, tokio::spawn(async move { http.get(url).send().await })));
    }
    cluster.resume(follower);
    let mut answered = 0;
    for (k, read) in reads {
        let response =
            read.await.expect("read task").expect("the frozen node answers once resumed");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        match status {
            200 => {
                let seen = number(&body, "p").unwrap_or_else(|| panic!("read {k}: body {body:?}"));
                assert!(seen >= k, "read {k} through the resumed follower saw p{seen}: stale");
                answered += 1;
            }
            503 | 504 => {
                assert!(body.contains("no_leader") || body.contains("read_timeout"), "{body}")
            }
            _ => panic!("read {k}: {status} {body}"),
        }
    }
    assert!(answered > 0, "no read through the resumed follower was served at all");
    // And right after it resumed, with its replica catching up: write, then read through it.
    for k in 31..=230u64 {
        cluster.put(leader, "/frozen/f", format!("p{k}")).await;
        match get(&cluster, follower, "/frozen/f").await {
            Got::Body(body) => assert_eq!(number(&body, "p"), Some(k), "stale read after resume"),
            Got::Error(status, code) => {
                assert!(matches!(code.as_str(), "no_leader" | "read_timeout"), "{status} {code}")
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_follower_serves_no_read_older_than_the_writes_it_missed() {
    let mut cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let leader = find_leader(&cluster).await;
    let follower = (1..=3).find(|&n| n != leader).expect("a follower");
    cluster.put(leader, "/restart/f", "r0").await;
    cluster.kill9(follower);
    for k in 1..=100u64 {
        cluster.put(leader, "/restart/f", format!("r{k}")).await;
        cluster.put(leader, &format!("/restart/new{k}"), format!("n{k}")).await;
    }
    cluster.restart(follower).await;
    // At once, while it may still be catching up: every missed write is there.
    match get(&cluster, follower, "/restart/f").await {
        Got::Body(body) => assert_eq!(body, "r100", "stale read right after restart"),
        other => panic!("read after restart: {other:?}"),
    }
    for k in (1..=100u64).rev() {
        match get(&cluster, follower, &format!("/restart/new{k}")).await {
            Got::Body(body) => assert_eq!(body, format!("n{k}")),
            other => panic!("/restart/new{k} through the restarted follower: {other:?}"),
        }
    }
    for k in 101..=300u64 {
        cluster.put(leader, "/restart/f", format!("r{k}")).await;
        match get(&cluster, follower, "/restart/f").await {
            Got::Body(body) => assert_eq!(number(&body, "r"), Some(k), "stale read"),
            other => panic!("read {k}: {other:?}"),
        }
    }
}
