//! `dfs dev-cluster` serves S3 on every node and prints each endpoint and a working key pair.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dfs_tests::dfs_bin;
use dfs_tests::s3::boto;
use serde_json::Value;

#[test]
fn dev_cluster_prints_s3_endpoints_and_a_key_that_works_on_every_node() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _slot = runtime.block_on(dfs_tests::s3::slot());
    let dir = tempfile::tempdir().expect("temp dir");
    let mut dev = Command::new(dfs_bin())
        .args(["dev-cluster", "--nodes", "3", "--json", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dev-cluster");
    let stdout = dev.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut nodes: Vec<Value> = Vec::new();
    while nodes.len() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("a line per node within 60 s");
        nodes.push(serde_json::from_str(&line).expect("one object per node"));
    }
    let text = |node: &Value, field: &str| node[field].as_str().unwrap_or_default().to_owned();
    let (key, secret) =
        (text(&nodes[0], "s3_access_key_id"), text(&nodes[0], "s3_secret_access_key"));
    let endpoints: Vec<String> = nodes.iter().map(|n| text(n, "s3")).collect();
    assert!(endpoints.iter().all(|e| e.starts_with("http://127.0.0.1:")), "{nodes:?}");
    assert!(key.starts_with("DFS") && secret.len() >= 16, "{nodes:?}");
    let mut args = vec![key.as_str(), secret.as_str()];
    args.extend(endpoints.iter().map(String::as_str));
    let (ok, out, err) = boto("smoke.py", &args);
    let pid = nix::unistd::Pid::from_raw(i32::try_from(dev.id()).expect("pid fits"));
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGTERM);
    let _ = dev.wait();
    assert!(ok, "{out}{err}");
}

/// The node's TLS settings apply to its S3 listener: HTTPS only, with the node's certificate.
#[tokio::test(flavor = "multi_thread")]
async fn the_s3_listener_speaks_tls_when_the_node_does() {
    use dfs_tests::s3::{admin_key, boto_trusting, endpoint};
    use dfs_tests::ClusterSpec;
    let cluster = dfs_tests::s3::start(ClusterSpec { tls: true, ..ClusterSpec::new(3) }).await;
    cluster.wait_for_first_admin(1).await;
    let (key, secret) = admin_key(&cluster).await;
    let (first, third) = (endpoint(&cluster, 1).await, endpoint(&cluster, 3).await);
    assert!(first.starts_with("https://"), "{first}");
    let ca = cluster.ca_cert.clone();
    let (ok, out, err) = boto_trusting(ca.as_deref(), "smoke.py", &[&key, &secret, &first, &third]);
    assert!(ok, "{out}{err}");
    let plain = first.replace("https://", "http://");
    let (ok, out, _) = boto_trusting(None, "smoke.py", &[&key, &secret, &plain]);
    assert!(!ok, "plain HTTP was served on the TLS listener: {out}");
}
