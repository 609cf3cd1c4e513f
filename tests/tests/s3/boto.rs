//! boto3: buckets, objects, conditions, ranges, deletes and listings (`objects.py`), and the
//! same objects seen through the native API.

use dfs_tests::s3::{admin_key, boto, endpoint};
use dfs_tests::{get_json, ClusterSpec, TestCluster};

#[tokio::test(flavor = "multi_thread")]
async fn boto3_drives_buckets_objects_and_listings_on_any_node() {
    let cluster = dfs_tests::s3::start(ClusterSpec::new(3)).await;
    cluster.wait_for_first_admin(1).await;
    let (key, secret) = admin_key(&cluster).await;
    let (first, other) = (endpoint(&cluster, 1).await, endpoint(&cluster, 3).await);
    let (ok, out, err) = boto("objects.py", &[&first, &other, &key, &secret]);
    assert!(ok, "objects.py failed after:\n{out}\n{err}");
    for step in ["buckets", "put-get", "ranges-conditions", "conditional-put", "bad-keys"] {
        assert!(out.contains(&format!("ok {step}\n")), "{step} missing:\n{out}");
    }
    assert!(out.contains("ok listings\n") && out.contains("ok deletes\n"), "{out}");
    // The object is a file of the namespace: the native API and the CLI see it.
    let stat =
        get_json(&cluster.http, format!("{}/stat/photos/2026/cat.jpg", cluster.urls()[1])).await;
    assert_eq!(stat["kind"], "file", "{stat}");
    assert_eq!(stat["versions"][0]["size_bytes"], 256 * 4096 + 4, "{stat}");
    let (ok, listing, err) = cluster.cli(&["ls", "/photos/2026"]);
    assert!(ok && listing.contains("cat.jpg"), "{listing}{err}");
}

/// The chunk hashes of `path`'s latest version, from `/stat`.
async fn chunks(cluster: &TestCluster, path: &str) -> Vec<serde_json::Value> {
    let stat = get_json(&cluster.http, format!("{}/stat{path}", cluster.urls()[0])).await;
    let versions = stat["versions"].as_array().expect("versions").clone();
    let latest = versions.last().expect("a version");
    latest["chunks"].as_array().expect("chunks").iter().map(|c| c["hash"].clone()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_object_references_the_same_chunks_and_presigned_urls_work() {
    let cluster = dfs_tests::s3::start(ClusterSpec::new(3)).await;
    cluster.wait_for_first_admin(1).await;
    let (key, secret) = admin_key(&cluster).await;
    let s3 = endpoint(&cluster, 2).await;
    let (ok, out, err) = boto("copy_object.py", &[&s3, &key, &secret]);
    assert!(ok, "copy_object.py failed after:\n{out}\n{err}");
    assert!(out.contains("ok copy\n") && out.contains("ok presigned\n"), "{out}");
    let (source, copy) =
        (chunks(&cluster, "/copies/src.bin").await, chunks(&cluster, "/copies/dst.bin").await);
    assert!(source.len() > 1, "a multi-chunk source: {source:?}");
    assert_eq!(source, copy, "the copy references the source's chunks");
}
