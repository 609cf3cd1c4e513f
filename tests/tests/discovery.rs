//! Peer discovery (issue 7 point 6) on loopback: four `dfs node --discover` processes with no
//! static peers, founding voters 1–4, announcing on a multicast group through 127.0.0.1. The
//! three with the cluster secret find each other, elect a leader and take a write that every one
//! of them serves; the fourth, with a wrong secret, has its announcements refused, never
//! connects and never learns a leader.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dfs_tests::{dfs_bin, random_bytes, wait_for};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);
const SECRET: &str = "the discovery test's cluster secret";

struct Node {
    child: Child,
    http: SocketAddr,
    log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A UDP port free now (the nodes bind it with SO_REUSEADDR).
fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a udp port");
    socket.local_addr().expect("local addr").port()
}

fn start(dir: &Path, id: u64, secret: &str, port: u16, addrs: (SocketAddr, SocketAddr)) -> Node {
    let data = dir.join(format!("n{id}"));
    let log = dir.join(format!("n{id}.log"));
    let file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(dfs_bin())
        .args(["node", "--id", &id.to_string()])
        .args(["--data-dir", &data.display().to_string()])
        .args(["--cluster-secret", secret])
        .args(["--peer-listen", &addrs.0.to_string(), "--http-listen", &addrs.1.to_string()])
        .args(["--initial-voters", "1,2,3,4", "--discover"])
        .args(["--discover-port", &port.to_string(), "--discover-interface", "127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log"))
        .stderr(file)
        .spawn()
        .expect("start dfs node");
    Node { child, http: addrs.1, log }
}

async fn health(http: &reqwest::Client, node: &Node) -> Option<Value> {
    http.get(format!("{}/health", node.url())).send().await.ok()?.json().await.ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_with_the_secret_find_each_other_by_multicast_and_a_wrong_secret_does_not_join() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_udp_port();
    let addrs = dfs_runtime::ports::free_loopback_addrs(8).expect("free ports");
    let nodes: Vec<Node> = (1..=4u64)
        .map(|id| {
            let secret = if id == 4 { "not the cluster's secret at all" } else { SECRET };
            let i = (id as usize - 1) * 2;
            start(dir.path(), id, secret, port, (addrs[i], addrs[i + 1]))
        })
        .collect();
    let token = dfs_runtime::config::derived_admin_token(SECRET).expose();
    let http = dfs_tests::client_builder_with_token(&token).build().expect("http client");
    for node in &nodes[..3] {
        wait_for(
            WAIT,
            &format!("{} to know a leader; log:\n{}", node.url(), node.log_text()),
            || async { health(&http, node).await.and_then(|h| h["leader"].as_u64()) },
        )
        .await;
    }

    let body = random_bytes(300_000, 5);
    let put = http
        .put(format!("{}/files/found/by-multicast.bin", nodes[0].url()))
        .body(body.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 201, "a write on the discovered cluster");
    let reply: Value = put.json().await.expect("json");
    let stored = reply["replicas"]
        .as_object()
        .map_or(0, |r| r.values().filter(|s| s.as_str() == Some("stored")).count());
    assert!(stored >= 2, "chunks reached discovered nodes: {reply}");
    for node in &nodes[..3] {
        wait_for(WAIT, &format!("{} to serve the file", node.url()), || async {
            let url = format!("{}/files/found/by-multicast.bin", node.url());
            let got = http.get(url).send().await.ok()?.bytes().await.ok()?;
            (got.as_ref() == body.as_slice()).then_some(())
        })
        .await;
    }

    let first = &nodes[0];
    wait_for(WAIT, "n1 to refuse the wrong secret's announcement", || async {
        first.log_text().contains("discovery announcement refused").then_some(())
    })
    .await;
    let wrong = health(&http, &nodes[3]).await.expect("n4 answers");
    assert!(wrong["leader"].is_null(), "the wrong secret learned a leader: {wrong}");
    assert!(!nodes[3].log_text().contains("peer connected"), "n4 connected to someone");
    let metrics = http.get(format!("{}/metrics", first.url())).send().await.expect("metrics");
    let text = metrics.text().await.expect("text");
    assert!(text.contains("dfs_peer_connected{peer=\"4\"} 0"), "n1 is not linked to n4: {text}");
}
