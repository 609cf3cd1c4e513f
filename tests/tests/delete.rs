//! Delete (issue: data path, point 5): a tombstone hides the file at once, and after the grace
//! period every node's GC removes the chunk files only the deleted file used.

use std::time::Duration;

use dfs_tests::{chunk_file, chunk_ids, random_bytes, wait_for, ClusterSpec, TestCluster};

#[tokio::test]
async fn deleted_files_disappear_and_their_chunks_are_collected() {
    // The grace covers the moment between a copy landing on a node and that node applying the
    // commit that references it (a node does not know uploads open on other nodes); with 0 the
    // collector could take a copy of /keep in that moment.
    let spec = ClusterSpec { gc_interval_secs: 1, gc_grace_secs: 2, ..ClusterSpec::new(3) };
    let cluster = TestCluster::start(spec).await;
    let url = cluster.node(1).url();
    for (path, seed) in [("/keep", 1), ("/drop", 2)] {
        let response = cluster
            .http
            .put(format!("{url}/files{path}"))
            .body(random_bytes(3 << 20, seed))
            .send()
            .await
            .expect("put");
        assert_eq!(response.status(), 201);
    }
    let (keep, drop) = (chunk_ids(&cluster, "/keep").await, chunk_ids(&cluster, "/drop").await);
    for node in 1..=3 {
        assert!(
            drop.iter().all(|&id| chunk_file(&cluster, node, id).exists()),
            "n{node} holds /drop's chunks"
        );
    }
    let deleted = cluster.http.delete(format!("{url}/files/drop")).send().await.expect("delete");
    assert_eq!(deleted.status(), 200);
    let gone = cluster.http.get(format!("{url}/files/drop")).send().await.expect("get");
    assert_eq!(gone.status(), 404, "a deleted file is not served");
    wait_for(Duration::from_secs(20), "GC to remove /drop's chunk files on every node", || async {
        let all_gone =
            (1..=3).all(|node| drop.iter().all(|&id| !chunk_file(&cluster, node, id).exists()));
        all_gone.then_some(())
    })
    .await;
    for node in 1..=3 {
        assert!(
            keep.iter().all(|&id| chunk_file(&cluster, node, id).exists()),
            "n{node} keeps /keep's chunks"
        );
    }
    let kept = cluster.http.get(format!("{url}/files/keep")).send().await.expect("get");
    assert_eq!(kept.bytes().await.expect("body").to_vec(), random_bytes(3 << 20, 1));
}

#[tokio::test]
async fn a_corrupt_local_copy_is_skipped_and_the_read_is_served_from_another_replica() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let body = random_bytes(5 << 20, 9);
    let url = cluster.node(1).url();
    let response = cluster
        .http
        .put(format!("{url}/files/fragile"))
        .body(body.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(response.status(), 201);
    let chunks = chunk_ids(&cluster, "/fragile").await;
    // Silent corruption of n2's copy of the first chunk: one flipped byte.
    let path = chunk_file(&cluster, 2, chunks[0]);
    let mut bytes = std::fs::read(&path).expect("n2 holds the chunk");
    bytes[100] ^= 0x01;
    std::fs::write(&path, bytes).expect("corrupt it");
    let read = cluster
        .http
        .get(format!("{}/files/fragile", cluster.node(2).url()))
        .send()
        .await
        .expect("get");
    assert_eq!(read.status(), 200);
    assert!(
        read.bytes().await.expect("body").to_vec() == body,
        "n2 serves the right bytes from a good replica"
    );
    let log = std::fs::read_to_string(cluster.node(2).log()).expect("log");
    assert!(log.contains("local replica unreadable"), "the bad copy is reported");
}
