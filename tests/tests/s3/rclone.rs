//! rclone: `sync` of a tree of mixed sizes up and back down, `check` clean (it compares
//! sizes and the MD5 ETags), and files written through the native API seen by rclone.

use std::path::Path;

use dfs_tests::s3::{admin_key, endpoint, run};
use dfs_tests::{random_bytes, ClusterSpec};

/// A tree of files from empty to a few MiB, some nested.
fn make_tree(root: &Path) {
    let sizes = [0usize, 1, 100, 4096, 70_000, 1 << 20, 3 << 20];
    for (i, size) in sizes.iter().enumerate() {
        let dir = root.join(format!("d{}", i % 3)).join(if i % 2 == 0 { "deep" } else { "" });
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join(format!("f{i}.bin")), random_bytes(*size, i as u64))
            .expect("write");
    }
    std::fs::write(root.join("top level.txt"), b"spaces and all").expect("write");
}

#[tokio::test(flavor = "multi_thread")]
async fn rclone_syncs_a_tree_up_and_down_and_sees_native_writes() {
    let cluster = dfs_tests::s3::start(ClusterSpec::new(3)).await;
    cluster.wait_for_first_admin(1).await;
    let (key, secret) = admin_key(&cluster).await;
    let s3 = endpoint(&cluster, 1).await;
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
    make_tree(&up);
    let rclone = |args: &[&str]| run("rclone", args, &envs);
    let (ok, out, err) = rclone(&["mkdir", "dfs:backup"]);
    assert!(ok, "{out}{err}");
    let up_str = up.to_str().expect("utf-8");
    let (ok, out, err) = rclone(&["sync", up_str, "dfs:backup/tree"]);
    assert!(ok, "sync up: {out}{err}");
    let (ok, out, err) = rclone(&["check", up_str, "dfs:backup/tree"]);
    assert!(ok, "check after sync up: {out}{err}");
    assert!(err.contains("0 differences found"), "{err}");
    assert!(!err.contains("hashes could not be checked"), "md5 ETags compared: {err}");
    // A native write is an object too.
    cluster.put(2, "/backup/tree/native.txt", "written natively").await;
    let down_str = down.to_str().expect("utf-8");
    let (ok, out, err) = rclone(&["sync", "dfs:backup/tree", down_str]);
    assert!(ok, "sync down: {out}{err}");
    let native = std::fs::read(down.join("native.txt")).expect("native file came down");
    assert_eq!(native, b"written natively");
    std::fs::remove_file(down.join("native.txt")).expect("remove");
    let (ok, out, err) = rclone(&["check", up_str, down_str]);
    assert!(ok, "the tree came back byte for byte: {out}{err}");
    // Deleting locally and syncing deletes remotely.
    std::fs::remove_file(up.join("top level.txt")).expect("remove");
    let (ok, out, err) = rclone(&["sync", up_str, "dfs:backup/tree"]);
    assert!(ok, "{out}{err}");
    let (ok, listing, err) = rclone(&["lsf", "-R", "dfs:backup/tree"]);
    assert!(
        ok && !listing.contains("top level.txt") && listing.contains("d0/deep/f0.bin"),
        "{listing}{err}"
    );
}
