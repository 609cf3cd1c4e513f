//! Multipart uploads (docs/s3.md): boto3 drives every operation and its errors
//! (`multipart.py`), an upload outlives the node it started on and the leader
//! (`multipart_failover.py`), an abandoned upload expires with its chunks
//! (`multipart_expire.py`), and rclone uploads a file above its multipart cutoff.

use std::path::Path;
use std::time::Duration;

use dfs_tests::s3::{admin_key, boto, endpoint, run};
use dfs_tests::{get_json, random_bytes, wait_for, ClusterSpec, TestCluster};

/// The chunk hashes and the whole-file blake3 of `path`'s latest version, from `/stat`.
async fn stat(cluster: &TestCluster, path: &str) -> (Vec<String>, String) {
    let stat = get_json(&cluster.http, format!("{}/stat{path}", cluster.urls()[0])).await;
    let versions = stat["versions"].as_array().expect("versions").clone();
    let latest = versions.last().expect("a version");
    let chunks = latest["chunks"].as_array().expect("chunks");
    let hashes = chunks.iter().map(|c| c["hash"].as_str().unwrap_or("").to_owned()).collect();
    (hashes, latest["hash"].as_str().unwrap_or("").to_owned())
}

/// The bytes of `path` through the native API.
async fn native_bytes(cluster: &TestCluster, path: &str) -> Vec<u8> {
    let url = format!("{}/files{path}", cluster.urls()[1]);
    let response = cluster.http.get(url).send().await.expect("native get");
    assert_eq!(response.status(), 200, "{path}");
    response.bytes().await.expect("body").to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_drives_every_multipart_operation_and_its_errors() {
    let cluster = dfs_tests::s3::start(ClusterSpec::new(3)).await;
    cluster.wait_for_first_admin(1).await;
    let (key, secret) = admin_key(&cluster).await;
    let (first, other) = (endpoint(&cluster, 1).await, endpoint(&cluster, 2).await);
    let (ok, out, err) = boto("multipart.py", &[&first, &other, &key, &secret]);
    assert!(ok, "multipart.py failed after:\n{out}\n{err}");
    for step in [
        "upload-parts",
        "list-parts",
        "errors",
        "complete",
        "too-small",
        "upload-part-copy",
        "list-abort",
        "managed-transfer",
    ] {
        assert!(out.contains(&format!("ok {step}\n")), "{step} missing:\n{out}");
    }
    // The completed object is a dfs file whose whole-file blake3 is that of its bytes.
    for path in ["/mpu/big/video.bin", "/mpu/managed.bin", "/mpu/copied.bin"] {
        let (_, hash) = stat(&cluster, path).await;
        let bytes = native_bytes(&cluster, path).await;
        assert_eq!(blake3::hash(&bytes).to_hex().as_str(), hash, "{path}");
    }
    // UploadPartCopy of a whole object referenced its chunks: no byte copied.
    let (source, _) = stat(&cluster, "/mpu/source.bin").await;
    let (copied, _) = stat(&cluster, "/mpu/copied.bin").await;
    assert!(source.len() > 1, "a multi-chunk source: {source:?}");
    assert_eq!(copied[..source.len()], source[..], "the copied part references the chunks");
}

/// Runs `multipart_failover.py` `start` through `from`, kills `victim`, waits until `to`
/// knows a leader other than a dead one, then `finish` through `to`.
async fn upload_across_a_death(cluster: &mut TestCluster, from: u64, victim: u64, to: u64) {
    let (key, secret) = admin_key(cluster).await;
    let state = tempfile::NamedTempFile::new().expect("temp file");
    let state = state.path().to_str().expect("utf-8").to_owned();
    let on_from = endpoint(cluster, from).await;
    let on_to = endpoint(cluster, to).await;
    let (ok, out, err) = boto("multipart_failover.py", &["start", &on_from, &key, &secret, &state]);
    assert!(ok, "start: {out}{err}");
    cluster.kill9(victim);
    wait_for(Duration::from_secs(30), "a live leader", || async {
        let leader = cluster.health(to).await?["leader"].as_u64()?;
        (leader != victim).then_some(())
    })
    .await;
    let (ok, out, err) = boto("multipart_failover.py", &["finish", &on_to, &key, &secret, &state]);
    assert!(ok, "finish: {out}{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multipart_upload_outlives_the_node_it_started_on() {
    let mut cluster = dfs_tests::s3::start(ClusterSpec::new(3)).await;
    cluster.wait_for_first_admin(1).await;
    let leader = cluster.wait_for_leader(1).await;
    let used = (1..=3).find(|&n| n != leader).expect("a follower");
    let other = (1..=3).find(|&n| n != leader && n != used).expect("another follower");
    upload_across_a_death(&mut cluster, used, used, other).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multipart_upload_outlives_the_leader() {
    let mut cluster = dfs_tests::s3::start(ClusterSpec::new(3)).await;
    cluster.wait_for_first_admin(1).await;
    let leader = cluster.wait_for_leader(1).await;
    let other = (1..=3).find(|&n| n != leader).expect("a follower");
    upload_across_a_death(&mut cluster, leader, leader, other).await;
}

/// Chunk files in node `id`'s store.
fn stored_chunks(cluster: &TestCluster, id: u64) -> usize {
    fn count(dir: &Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
        entries.flatten().map(|e| if e.path().is_dir() { count(&e.path()) } else { 1 }).sum()
    }
    count(&cluster.node(id).config.data_dir.join("chunks"))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_abandoned_upload_expires_and_its_chunks_are_collected() {
    let spec = ClusterSpec {
        multipart_expire_secs: 2,
        gc_interval_secs: 1,
        gc_grace_secs: 1,
        ..ClusterSpec::new(3)
    };
    let cluster = dfs_tests::s3::start(spec).await;
    cluster.wait_for_first_admin(1).await;
    let (key, secret) = admin_key(&cluster).await;
    let s3 = endpoint(&cluster, 1).await;
    let before: Vec<usize> = (1..=3).map(|id| stored_chunks(&cluster, id)).collect();
    let state = tempfile::NamedTempFile::new().expect("temp file");
    let state = state.path().to_str().expect("utf-8").to_owned();
    let (ok, out, err) = boto("multipart_expire.py", &["start", &s3, &key, &secret, &state]);
    assert!(ok, "start: {out}{err}");
    wait_for(Duration::from_secs(60), "the upload to expire", || async {
        boto("multipart_expire.py", &["gone", &s3, &key, &secret, &state]).0.then_some(())
    })
    .await;
    wait_for(Duration::from_secs(60), "the part's chunks to be collected", || async {
        let now: Vec<usize> = (1..=3).map(|id| stored_chunks(&cluster, id)).collect();
        (now == before).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rclone_uploads_a_file_above_its_cutoff_in_parts_and_checks_clean() {
    let cluster = dfs_tests::s3::start(ClusterSpec::new(3)).await;
    cluster.wait_for_first_admin(1).await;
    let (key, secret) = admin_key(&cluster).await;
    let s3 = endpoint(&cluster, 2).await;
    let envs = [
        ("RCLONE_CONFIG_DFS_TYPE", "s3"),
        ("RCLONE_CONFIG_DFS_PROVIDER", "Other"),
        ("RCLONE_CONFIG_DFS_ENDPOINT", s3.as_str()),
        ("RCLONE_CONFIG_DFS_ACCESS_KEY_ID", key.as_str()),
        ("RCLONE_CONFIG_DFS_SECRET_ACCESS_KEY", secret.as_str()),
        ("RCLONE_CONFIG_DFS_REGION", "dfs"),
        ("RCLONE_CONFIG_DFS_FORCE_PATH_STYLE", "true"),
        ("RCLONE_CONFIG", "/dev/null"),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let (up, down) = (dir.path().join("up"), dir.path().join("down"));
    std::fs::create_dir_all(&up).expect("dir");
    let big = random_bytes(12 * 1024 * 1024 + 5, 18);
    std::fs::write(up.join("big.bin"), &big).expect("write");
    std::fs::write(up.join("small.txt"), b"below the cutoff").expect("write");
    let rclone = |args: &[&str]| {
        let mut all = vec!["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"];
        all.extend_from_slice(args);
        run("rclone", &all, &envs)
    };
    let (ok, out, err) = rclone(&["mkdir", "dfs:parts"]);
    assert!(ok, "{out}{err}");
    let up_str = up.to_str().expect("utf-8");
    let (ok, out, err) = rclone(&["copy", up_str, "dfs:parts"]);
    assert!(ok, "copy up: {out}{err}");
    let (ok, out, err) = rclone(&["check", up_str, "dfs:parts"]);
    assert!(ok, "check: {out}{err}");
    assert!(err.contains("0 differences found"), "{err}");
    // It went up in three parts (a multipart ETag), and rclone still knows its MD5 (from the
    // user metadata it recorded, which dfs keeps with the version).
    let (ok, etag, err) = boto("etag.py", &[&s3, &key, &secret, "parts", "big.bin"]);
    assert!(ok && etag.trim().ends_with("-3\""), "{etag}{err}");
    let (ok, sums, err) = rclone(&["md5sum", "dfs:parts/big.bin"]);
    let local = up.join("big.bin");
    let (_, local_sum, _) = run("md5sum", &[local.to_str().expect("utf-8")], &[]);
    let md5 = local_sum.split_whitespace().next().unwrap_or("none").to_owned();
    assert!(ok && sums.starts_with(&md5), "{sums}{err} (want {md5})");
    let (chunks, hash) = stat(&cluster, "/parts/big.bin").await;
    assert!(chunks.len() > 1, "{chunks:?}");
    assert_eq!(hash, blake3::hash(&big).to_hex().as_str());
    let down_str = down.to_str().expect("utf-8");
    let (ok, out, err) = rclone(&["copy", "dfs:parts", down_str]);
    assert!(ok, "copy down: {out}{err}");
    assert_eq!(std::fs::read(down.join("big.bin")).expect("came down"), big);
}
