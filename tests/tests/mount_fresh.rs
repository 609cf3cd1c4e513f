//! `dfs mount` freshness (issue 19 point 5): two mounts on different nodes see each other's
//! writes (new files and overwrites) within 1 s, from the change feed; the `user.dfs.*`
//! extended attributes show the version, hash and replicas, read-only.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use dfs_tests::mount::Mount;
use dfs_tests::{admin_token, wait_for, ClusterSpec, TestCluster};

const WAIT: Duration = Duration::from_secs(10);
const FRESH: Duration = Duration::from_secs(1);

/// Writes `body` at `writer` and returns how long until `reader` reads exactly it.
async fn propagation(writer: &Path, reader: &Path, body: &[u8]) -> Duration {
    std::fs::write(writer, body).expect("write through one mount");
    let start = Instant::now();
    let reader = reader.to_path_buf();
    let body = body.to_vec();
    wait_for(WAIT, "the other mount reads the write", || {
        let (reader, body) = (reader.clone(), body.clone());
        async move { (std::fs::read(&reader).ok()? == body).then_some(()) }
    })
    .await;
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_mounts_on_different_nodes_see_each_others_writes_within_a_second() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let a = Mount::start(&[cluster.node(1).url()], &admin_token(), &[]);
    let b = Mount::start(&[cluster.node(2).url()], &admin_token(), &[]);
    // Each side looks first, so a cached "absent" or old content must be invalidated.
    assert!(std::fs::read(b.path("shared.txt")).is_err());
    let took = propagation(&a.path("shared.txt"), &b.path("shared.txt"), b"from a").await;
    assert!(took < FRESH, "a new file reached the other mount in {took:?}");
    let took =
        propagation(&b.path("shared.txt"), &a.path("shared.txt"), b"b rewrote it, longer").await;
    assert!(took < FRESH, "an overwrite reached the other mount in {took:?}");
    let took = propagation(&a.path("shared.txt"), &b.path("shared.txt"), b"short").await;
    assert!(took < FRESH, "a shorter overwrite reached the other mount in {took:?}");
    std::fs::create_dir(a.path("folder")).expect("mkdir");
    let seen = b.path("folder");
    let start = Instant::now();
    wait_for(WAIT, "the folder shows", || {
        let seen = seen.clone();
        async move { seen.is_dir().then_some(()) }
    })
    .await;
    assert!(start.elapsed() < FRESH);
    std::fs::remove_file(b.path("shared.txt")).expect("unlink");
    let gone = a.path("shared.txt");
    let start = Instant::now();
    wait_for(WAIT, "the unlink shows", || {
        let gone = gone.clone();
        async move { (!gone.exists()).then_some(()) }
    })
    .await;
    assert!(start.elapsed() < FRESH);
}

#[tokio::test(flavor = "multi_thread")]
async fn extended_attributes_show_dfs_metadata_read_only() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let mount = Mount::admin(&cluster, &[]);
    std::fs::write(mount.path("x.txt"), b"one").expect("write");
    std::fs::write(mount.path("x.txt"), b"two").expect("rewrite");
    let getfattr = |name: &str| {
        let output = Command::new("python3")
            .args([
                "-c",
                "import os,sys; sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2]).decode())",
            ])
            .arg(mount.path("x.txt"))
            .arg(name)
            .output()
            .expect("python3 os.getxattr");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert_eq!(getfattr("user.dfs.version"), "2");
    assert_eq!(getfattr("user.dfs.blake3"), blake3::hash(b"two").to_hex().as_str());
    assert_eq!(getfattr("user.dfs.replicas"), "1,2,3");
    let set = Command::new("python3")
        .args(["-c", "import os,sys; os.setxattr(sys.argv[1], 'user.dfs.version', b'9')"])
        .arg(mount.path("x.txt"))
        .output()
        .expect("python3 os.setxattr");
    assert!(!set.status.success(), "read-only");
}
