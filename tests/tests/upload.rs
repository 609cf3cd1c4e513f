//! The write path through core's upload machine (issue 16 points 1 and 2), end to end: a write
//! short of its quorum is refused and commits nothing (a node down, or every chunk store but one
//! failing while raft runs on), and the collector never deletes a chunk of an upload still
//! streaming in.

use std::time::Duration;

use dfs_runtime::chunker::Chunker;
use dfs_runtime::core::ids::{ChunkId, Hash};
use dfs_runtime::core::WriteQuorum;
use dfs_tests::{admin_token, chunk_file, random_bytes, wait_for, ClusterSpec, TestCluster};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn a_write_short_of_its_quorum_is_refused_and_commits_nothing() {
    let spec = ClusterSpec { write_quorum: WriteQuorum::All, ..ClusterSpec::new(3) };
    let mut cluster = TestCluster::start(spec).await;
    cluster.put(1, "/before", random_bytes(1 << 20, 1)).await;
    // Raft keeps a majority without node 3, but no chunk can have all three copies.
    cluster.kill9(3);
    let url = format!("{}/files/short", cluster.node(1).url());
    let response = cluster.http.put(&url).body(random_bytes(1 << 20, 2)).send().await.expect("put");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_replicas", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("short of the write quorum of 3"), "{message}");
    let missing = cluster.http.get(&url).send().await.expect("get");
    assert_eq!(missing.status(), 404, "nothing was committed");
}

/// The default majority quorum with every node up and in raft, but the chunk stores of nodes 2
/// and 3 failing every write (their temp folder replaced by a file, which stops root too): one
/// durable copy is not a majority, so the write is refused with the quorum error and nothing is
/// committed; once the stores work again the same write succeeds.
#[tokio::test]
async fn a_write_with_all_chunk_stores_but_one_failing_is_refused_and_commits_nothing() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    cluster.put(1, "/before", random_bytes(4096, 3)).await;
    let temp = |node: u64| cluster.node(node).config.data_dir.join("chunks").join("tmp");
    for node in [2, 3] {
        std::fs::remove_dir_all(temp(node)).expect("remove the temp folder");
        std::fs::write(temp(node), b"not a folder").expect("block the temp folder");
    }
    let body = random_bytes(300 * 1024, 4);
    let url = format!("{}/files/refused", cluster.node(1).url());
    let response = cluster.http.put(&url).body(body.clone()).send().await.expect("put");
    let status = response.status();
    let answer: Value = response.json().await.expect("json");
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"]["code"], "insufficient_replicas", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("short of the write quorum of 2"), "{message}");
    for node in 1..=3 {
        let url = format!("{}/files/refused", cluster.node(node).url());
        let got = cluster.http.get(&url).send().await.expect("get");
        assert_eq!(got.status(), 404, "n{node} shows a refused write");
    }
    for node in [2, 3] {
        std::fs::remove_file(temp(node)).expect("unblock");
        std::fs::create_dir(temp(node)).expect("recreate the temp folder");
    }
    let written = cluster.put(1, "/refused", body.clone()).await;
    assert!(written["version"].as_u64().is_some(), "{written}");
    let got = cluster.http.get(&url).send().await.expect("get");
    assert_eq!(got.bytes().await.expect("body").as_ref(), body.as_slice());
}

#[tokio::test]
async fn the_collector_keeps_the_chunks_of_an_upload_in_progress() {
    let spec = ClusterSpec { gc_interval_secs: 1, gc_grace_secs: 1, ..ClusterSpec::new(1) };
    let cluster = TestCluster::start(spec).await;
    let node = cluster.node(1);
    // A 24 MiB upload whose first 20 MiB arrive, then the client pauses (well within the body
    // read timeout): the chunks cut so far are stored, the version is not committed.
    let file = random_bytes(24 << 20, 7);
    let sent = &file[..20 << 20];
    let cut: Vec<ChunkId> =
        Chunker::new().push(sent).iter().map(|c| ChunkId(Hash::of(c))).collect();
    assert!(!cut.is_empty(), "20 MiB cut at least one chunk");
    let mut stream =
        tokio::net::TcpStream::connect(node.config.http_listen).await.expect("connect");
    let head = format!(
        "PUT /files/big HTTP/1.1\r\nHost: dfs\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
        admin_token(),
        file.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(sent).await.expect("first part");
    wait_for(Duration::from_secs(20), "the first chunks stored", || async {
        cut.iter().all(|&c| chunk_file(&cluster, 1, c).exists()).then_some(())
    })
    .await;
    // An orphan younger than the upload's chunks: once the collector has taken it, a pass
    // has seen the upload's chunks past the grace period too.
    let orphan_body = random_bytes(1 << 20, 8);
    let url = format!("{}/files/orphan", node.url());
    let refused = cluster
        .http
        .put(&url)
        .header("x-dfs-blake3", Hash::of(b"something else").to_hex())
        .body(orphan_body.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(refused.status(), 400, "a hash mismatch stores the chunk but commits nothing");
    let orphan = ChunkId(Hash::of(&orphan_body));
    wait_for(Duration::from_secs(20), "the orphan stored", || async {
        chunk_file(&cluster, 1, orphan).exists().then_some(())
    })
    .await;
    wait_for(Duration::from_secs(30), "the collector takes the orphan", || async {
        (!chunk_file(&cluster, 1, orphan).exists()).then_some(())
    })
    .await;
    for chunk in &cut {
        assert!(chunk_file(&cluster, 1, *chunk).exists(), "chunk {chunk} of the open upload kept");
    }
    // The rest of the body arrives: the upload commits and reads back whole.
    stream.write_all(&file[20 << 20..]).await.expect("rest");
    let read_back = wait_for(Duration::from_secs(20), "the upload committed", || async {
        let response = cluster.http.get(format!("{}/files/big", node.url())).send().await.ok()?;
        if response.status() != 200 {
            return None;
        }
        response.bytes().await.ok()
    })
    .await;
    assert!(read_back[..] == file[..], "the file reads back whole");
}
