//! s3cmd: put, ls and get of a file.

use dfs_tests::s3::{admin_key, endpoint, run};
use dfs_tests::{random_bytes, ClusterSpec};

#[tokio::test(flavor = "multi_thread")]
async fn s3cmd_puts_lists_and_gets() {
    let cluster = dfs_tests::s3::start(ClusterSpec::new(3)).await;
    cluster.wait_for_first_admin(1).await;
    let (key, secret) = admin_key(&cluster).await;
    let s3 = endpoint(&cluster, 3).await;
    let host = s3.trim_start_matches("http://").to_owned();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("s3cfg");
    let text = format!(
        "[default]\naccess_key = {key}\nsecret_key = {secret}\nhost_base = {host}\n\
         host_bucket = {host}\nuse_https = False\nbucket_location = dfs\nsignature_v2 = False\n"
    );
    std::fs::write(&config, text).expect("config");
    let config = config.to_str().expect("utf-8").to_owned();
    let s3cmd = |args: &[&str]| {
        let mut all = vec!["-c", config.as_str()];
        all.extend_from_slice(args);
        run("s3cmd", &all, &[])
    };
    let file = dir.path().join("data.bin");
    let body = random_bytes(300_000, 7);
    std::fs::write(&file, &body).expect("write");
    let file = file.to_str().expect("utf-8");
    let (ok, out, err) = s3cmd(&["mb", "s3://cmdbucket"]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = s3cmd(&["put", file, "s3://cmdbucket/dir/data.bin"]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = s3cmd(&["ls", "s3://cmdbucket/dir/"]);
    assert!(
        ok && out.contains("s3://cmdbucket/dir/data.bin") && out.contains("300000"),
        "{out}{err}"
    );
    let (ok, out, err) = s3cmd(&["ls"]);
    assert!(ok && out.contains("s3://cmdbucket"), "{out}{err}");
    let back = dir.path().join("back.bin");
    let back = back.to_str().expect("utf-8");
    let (ok, out, err) = s3cmd(&["get", "s3://cmdbucket/dir/data.bin", back]);
    assert!(ok, "{out}{err}");
    assert_eq!(std::fs::read(back).expect("got"), body);
}
